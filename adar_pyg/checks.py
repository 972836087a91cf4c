r"""The argument checks of the library's constructors: each raises a
:class:`ValueError` that names the argument and the value it got (the
typed config checks its values before anything is built, see
:mod:`adar_pyg.config`; these guard the Python API).

A *real number* here is a Python or NumPy number (not a bool) or a 0-d
real tensor or array (as :obj:`float` reads it); a string, a bool or
:obj:`None` is refused, never converted."""
import math
import numbers
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch


def _real(value: Any) -> Optional[float]:
    r"""The :obj:`float` of :obj:`value` if it is a real number (see the
    module's docstring), else :obj:`None`."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, torch.Tensor):
        ok = (value.dim() == 0 and value.dtype != torch.bool
              and not value.dtype.is_complex)
        return float(value) if ok else None
    if isinstance(value, np.ndarray):
        return float(value) if value.ndim == 0 and value.dtype.kind in 'iuf' \
            else None
    return None


def check_int(name: str, value: Any, minimum: Optional[int] = 1,
              optional: bool = False) -> Optional[int]:
    r"""Returns :obj:`value` as an :obj:`int`, or raises a
    :class:`ValueError` naming :obj:`name` unless it is an integer (not a
    bool) of at least :obj:`minimum` (any integer if :obj:`None`; or
    :obj:`None`, if :obj:`optional`)."""
    if optional and value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)):
        what = ('an integer' if minimum is None else 'a positive integer'
                if minimum == 1 else f'an integer of at least {minimum}')
        raise ValueError(f"'{name}' must be {what}"
                         f"{' or None' if optional else ''} (got {value!r})")
    return int(value)


def check_real(name: str, value: Any,
               positive: Optional[bool] = True) -> float:
    r"""Returns :obj:`value` as a :obj:`float`, or raises a
    :class:`ValueError` naming :obj:`name` unless it is a finite real
    number and positive (or, with :obj:`positive=False`, non-negative;
    with :obj:`positive=None`, of any sign)."""
    x = _finite(value, positive)
    if x is None:
        what = ('' if positive is None else
                'positive ' if positive else 'non-negative ')
        raise ValueError(f"'{name}' must be a finite {what}number "
                         f"(got {value!r})")
    return x


def _finite(value: Any, positive: Optional[bool]) -> Optional[float]:
    r"""The :obj:`float` of :obj:`value` if it is a finite real number,
    positive (:obj:`positive=True`), non-negative (:obj:`False`) or of any
    sign (:obj:`None`); else :obj:`None`."""
    x = _real(value)
    if x is None or not math.isfinite(x) or not (
            positive is None or (x > 0 if positive else x >= 0)):
        return None
    return x


def check_number(name: str, value: Any, positive: bool = True,
                 optional: bool = False) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name` unless :obj:`value`
    is a real number, finite and positive (or, with :obj:`positive=False`,
    non-negative; or :obj:`None`, if :obj:`optional`). The same test as
    :func:`check_real`, with the message of the augmenters' arguments, and
    nothing returned: the callers keep their own conversion."""
    if optional and value is None:
        return
    if _finite(value, positive) is None:
        what = 'positive' if positive else 'non-negative'
        raise ValueError(f"'{name}' must be a {what} number"
                         f"{' or None' if optional else ''} (got {value!r})")


def check_fraction(name: str, value: Any, closed: bool = True) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name` unless :obj:`value`
    is a real number in :math:`[0, 1]` (or, with :obj:`closed=False`,
    :math:`[0, 1)`: a dropout probability)."""
    x = _real(value)
    if x is None or not (0.0 <= x <= 1.0 if closed else 0.0 <= x < 1.0):
        raise ValueError(f"'{name}' must lie in [0, 1{']' if closed else ')'}"
                         f" (got {value!r})")


#: The fan-outs of the sampled path's layers (:obj:`--fanout`) unless given:
#: cut, or extended with its last number, to the model's layers.
DEFAULT_FANOUT = [10, 5, 2]


def fanout_per_layer(fanout: Optional[Union[int, Sequence[int]]],
                     num_layers: int) -> List[int]:
    r"""The neighbours sampled at each of :obj:`num_layers` layers:
    :obj:`fanout` one integer per layer, or one for all (an integer or a
    one-element sequence), each positive or -1 (all); :obj:`None` gives
    :obj:`DEFAULT_FANOUT` cut or extended with its last number. Raises a
    :class:`ValueError` otherwise (a string, a bool or a float included)."""
    if fanout is None and num_layers >= 1:
        extra = max(num_layers - len(DEFAULT_FANOUT), 0)
        return DEFAULT_FANOUT[:num_layers] + DEFAULT_FANOUT[-1:] * extra
    if fanout is None or isinstance(fanout, numbers.Integral):
        items: List[Any] = [] if fanout is None else [fanout]
    elif isinstance(fanout, (str, bytes)) or not isinstance(
            fanout, (Sequence, np.ndarray, torch.Tensor)):
        raise ValueError(f"fan-outs must be an integer or a sequence of "
                         f"integers (got {fanout!r})")
    else:
        items = (fanout.reshape(-1).tolist() if isinstance(
            fanout, (np.ndarray, torch.Tensor)) else list(fanout))
    out = [check_int('fan-out', k, minimum=-1) for k in items]
    if len(out) == 1:
        out = out * num_layers
    if num_layers < 1 or len(out) != num_layers:
        raise ValueError(f"one fan-out per layer of the model "
                         f"({num_layers}, at least one) or one for all "
                         f"(got {fanout!r})")
    if 0 in out:
        raise ValueError(f"fan-outs must be positive or -1 (all "
                         f"neighbours) (got {fanout!r})")
    return out
