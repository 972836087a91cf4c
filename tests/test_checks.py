import math
import re

import numpy as np
import pytest
import torch

from adar_pyg.augment import (CausalNegativeAugmenter, FiLMDenoiser,
                              MLPDenoiser, NegativeAugmenter)
from adar_pyg.checks import check_fraction, check_int, check_number, \
    check_real

# Neither a number nor a 0-d real value: refused by every check below,
# never converted (float('1') would read a string).
NOT_NUMBERS = ['1', 'x', b'1', None, True, False, np.bool_(True), [1.0],
               torch.tensor([1.0]), torch.tensor(True), torch.tensor(1j),
               np.array([1.0]), 1j]


@pytest.mark.parametrize('value', NOT_NUMBERS)
def test_number_checks_refuse_what_is_not_a_number(value):
    got = re.escape(f' (got {value!r})')
    for check in (check_number, check_real):
        with pytest.raises(ValueError, match=f"^'lr' must be a .*number{got}"):
            check('lr', value)
    with pytest.raises(ValueError, match=r"^'p' must lie in \[0, 1\)" + got):
        check_fraction('p', value, closed=False)


@pytest.mark.parametrize('value', [0.5, 1, np.float32(0.5), np.int64(1),
                                   torch.tensor(0.5), torch.tensor(1),
                                   np.array(0.5)])
def test_number_checks_accept_real_numbers_and_0d_values(value):
    check_number('lr', value)
    check_number('lr', value, positive=False)
    assert check_real('lr', value) == float(value)
    assert type(check_real('lr', value)) is float
    check_fraction('p', value)


@pytest.mark.parametrize('value,positive,ok', [
    (0.0, True, False), (0.0, False, True), (-1.0, False, False),
    (-1.0, None, True), (math.nan, None, False), (math.inf, False, False),
])
def test_number_checks_bounds(value, positive, ok):
    checks = [lambda: check_real('x', value, positive)]
    if positive is not None:
        checks.append(lambda: check_number('x', value, positive))
    for check in checks:
        if ok:
            check()
        else:
            with pytest.raises(ValueError, match="'x' must be a"):
                check()


def test_check_int_unchanged():
    assert check_int('n', np.int64(3)) == 3
    for value in (2.5, '3', True, None, 0, torch.tensor(3)):
        with pytest.raises(ValueError, match="'n' must be a positive"):
            check_int('n', value)


@pytest.mark.parametrize('kwargs,match', [
    (dict(lr='x'), r"'lr' must be a positive number \(got 'x'\)"),
    (dict(omega='1'), r"'omega' must be a positive number \(got '1'\)"),
    (dict(k=None), r"'k' must be a positive number \(got None\)"),
    (dict(omega=True), r"'omega' must be a positive number \(got True\)"),
    (dict(hidden_channels=2.5),
     r"'hidden_channels' must be an integer of at least 1 \(got 2.5\)"),
    (dict(hidden_channels='128'),
     r"'hidden_channels' must be an integer of at least 1 \(got '128'\)"),
    (dict(time_dim=4.0), "'time_dim' must be an integer of at least 1"),
])
def test_negative_augmenter_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NegativeAugmenter(8, **kwargs)


@pytest.mark.parametrize('kwargs,match', [
    (dict(weight='0.5'), r"'weight' must lie in \[0, 1\] \(got '0.5'\)"),
    (dict(clip_x0='5'), r"'clip_x0' must be a positive number or None \(got '5'\)"),
])
def test_negative_augmenter_weight_and_clip_x0(kwargs, match):
    # (checked in negative_augmenter.py itself, not by adar_pyg.checks)
    with pytest.raises(ValueError, match=match):
        NegativeAugmenter(8, **kwargs)


@pytest.mark.parametrize('kwargs,match', [
    (dict(lr='x'), r"'lr' must be a positive number \(got 'x'\)"),
    (dict(cl_weight='0.3'), "'cl_weight' must be a non-negative number"),
    (dict(cl_temperature=None), "'cl_temperature' must be a positive"),
    (dict(dropout='0.1'), r"'dropout' must be in \[0, 1\) \(got '0.1'\)"),
])
def test_causal_negative_augmenter_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CausalNegativeAugmenter(8, **kwargs)


@pytest.mark.parametrize('kwargs,match', [
    (dict(embedding_dim=8.0), "'embedding_dim' must be an integer of at"),
    (dict(hidden_channels=2.5), "'hidden_channels' must be an integer of"),
    (dict(hidden_channels='128'), "'hidden_channels' must be an integer"),
    (dict(cond_dim=True), "'cond_dim' must be an integer of at least 1"),
    (dict(time_dim=0), r"'time_dim' must be at least 1 \(got 0\)"),
])
def test_film_denoiser_names_the_argument(kwargs, match):
    kwargs = {'embedding_dim': 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        FiLMDenoiser(**kwargs)


def test_film_denoiser_integers_and_defaults():
    d = FiLMDenoiser(np.int64(8), hidden_channels=16, time_dim=None)
    assert (d.time_dim, d.cond_dim) == (8, 8)


@pytest.mark.parametrize('value', ['0.5', None, True])
def test_mlp_denoiser_dropout(value):
    with pytest.raises(ValueError, match=r"'dropout' must be in \[0, 1\) "
                       r"\(got "):
        MLPDenoiser(8, dropout=value)
