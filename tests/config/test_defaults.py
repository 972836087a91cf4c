r"""One default per setting: for every model, sampler, augmenter, task and
the trainer, what :mod:`adar_pyg.pipeline` passes to the constructor from a
default config equals the default the constructor declares (issue 26,
item 1). The constructors are replaced by stand-ins that record the
arguments they are called with."""
import inspect

import pytest
import torch
from tiny_data import chain_graph

from adar_pyg import pipeline
from adar_pyg.config import Config, ConfigError
from adar_pyg.registry import AUGMENTER_NAMES, MODEL_NAMES
from adar_pyg.sampling import SAMPLERS
from adar_pyg.sequential import LeaveOneOutSplit

PLAIN = (bool, int, float, str, list, tuple)


class Called(Exception):
    r"""Raised by a stand-in once it has recorded its arguments."""


def stand_in(cls, seen):
    r"""A subclass of :obj:`cls` (its declared contracts, *e.g.* a
    sampler's :obj:`requires_layers`, as the settings read them) with its
    signature, whose construction records the arguments in :obj:`seen` (by
    parameter name) and raises :class:`Called`."""
    signature = inspect.signature(cls)

    class StandIn(cls):
        __signature__ = signature

        def __new__(klass, *args, **kwargs):
            seen.update(signature.bind(*args, **kwargs).arguments)
            raise Called

    StandIn.__name__ = cls.__name__
    return StandIn


def differences(cls, seen):
    r"""The settings passed to :obj:`cls` that differ from its declared
    defaults, and the names compared (arguments without a default, or not
    plain values such as tensors and devices, are not settings)."""
    params = inspect.signature(cls).parameters
    wrong, compared = [], []
    for name, value in seen.items():
        default = params[name].default
        if default is inspect.Parameter.empty or value is None and \
                default is None:
            continue
        if not isinstance(value, PLAIN) and value is not None:
            continue
        if isinstance(value, (list, tuple)):
            value, default = list(value), list(default or ())
        compared.append(name)
        if value != default:
            wrong.append(f'{cls.__name__}({name}): the config passes '
                         f'{value!r}, the constructor declares {default!r}')
    return wrong, compared


def config(task='cf', **sections):
    return Config.build({'run': {'task': task, 'device': 'cpu'},
                         **sections})


@pytest.mark.parametrize('name', list(MODEL_NAMES))
def test_model_settings_default_to_the_constructors(name, monkeypatch):
    cls, seen = pipeline.MODELS[name], {}
    monkeypatch.setitem(pipeline.MODELS._entries, name, stand_in(cls, seen))
    cfg = config(MODEL_NAMES[name].task, model={'model': name})
    with pytest.raises(Called):
        pipeline.build_model(cfg, 5, 7)
    wrong, compared = differences(cls, seen)
    assert not wrong, wrong
    assert {'embedding_dim', 'num_layers'} <= set(compared)


@pytest.mark.parametrize('name', list(SAMPLERS))
def test_sampler_settings_default_to_the_constructors(name, monkeypatch,
                                                      tiny_run_data):
    cls, seen = SAMPLERS[name], {}
    monkeypatch.setitem(SAMPLERS._entries, name, stand_in(cls, seen))
    data = tiny_run_data()
    with pytest.raises(Called):
        pipeline.build_sampler(config(sampler={'sampler': name}),
                               data.train, 24, 30)
    wrong, _ = differences(cls, seen)
    assert not wrong, wrong


@pytest.mark.parametrize('name', [n for n in AUGMENTER_NAMES
                                  if n != 'none'])
def test_augmenter_settings_default_to_the_constructors(name, monkeypatch):
    cls, seen = pipeline.AUGMENTERS[name], {}
    monkeypatch.setitem(pipeline.AUGMENTERS._entries, name,
                        stand_in(cls, seen))
    with pytest.raises(Called):
        pipeline.build_augmenter(config(train={'augmenter': name}), 16)
    wrong, compared = differences(cls, seen)
    assert not wrong, wrong
    assert 'weight' in compared or name == 'cnsdiff'


def test_cf_task_and_trainer_settings_default_to_the_constructors(
        monkeypatch, tiny_run_data):
    cfg, seen = config(), {}
    cls = pipeline.CFTask
    monkeypatch.setattr(pipeline, 'CFTask', stand_in(cls, seen))
    with pytest.raises(Called):
        pipeline.build_task(cfg, tiny_run_data(), torch.device('cpu'))
    wrong, compared = differences(cls, seen)
    assert not wrong, wrong
    assert {'batch_size', 'eval_batch_size', 'ks'} <= set(compared)

    seen = {}
    cls = pipeline.Trainer
    monkeypatch.setattr(pipeline, 'Trainer', stand_in(cls, seen))
    with pytest.raises(Called):
        pipeline.build_trainer(cfg, None, None)
    wrong, compared = differences(cls, seen)
    assert not wrong, wrong
    assert {'lr', 'l2', 'patience', 'eval_every'} <= set(compared)


def test_sr_task_settings_default_to_the_constructor(monkeypatch):
    import adar_pyg.train
    cfg, seen = config('sr', model={'model': 'gru4rec'}), {}
    cls = adar_pyg.train.SRTask
    monkeypatch.setattr(adar_pyg.train, 'SRTask', stand_in(cls, seen))
    split = LeaveOneOutSplit(max_len=cfg.split.max_len)(chain_graph())
    data = pipeline.RunData(split, statistics={
        'users': split.num_users, 'items': split.num_items})
    with pytest.raises(Called):
        pipeline.build_task(cfg, data, torch.device('cpu'))
    wrong, compared = differences(cls, seen)
    assert not wrong, wrong
    assert {'batch_size', 'eval_batch_size', 'mask_history'} <= \
        set(compared)


def test_a_differing_default_is_reported():
    class Model:
        def __init__(self, dim: int = 64, dropout: float = 0.5):
            pass

    wrong, compared = differences(Model, {'dim': 64, 'dropout': 0.3})
    assert compared == ['dim', 'dropout']
    assert wrong == ["Model(dropout): the config passes 0.3, the "
                     "constructor declares 0.5"]


def test_fanout_per_layer_is_the_one_rule():
    r"""train.fanout defaults to None: the library's fan-out
    (:obj:`adar_pyg.checks.DEFAULT_FANOUT`, stated in the help) cut or
    extended to the layers; one number is one for all; the config, the
    task and the scripts refuse what :func:`fanout_per_layer` refuses."""
    import dataclasses

    from adar_pyg.checks import DEFAULT_FANOUT, fanout_per_layer
    from adar_pyg.config.sections import TrainConfig
    field = next(f for f in dataclasses.fields(TrainConfig)
                 if f.name == 'fanout')
    assert field.default is None
    assert f"(default: {' '.join(map(str, DEFAULT_FANOUT))}," in \
        field.metadata['help']
    assert fanout_per_layer(None, 3) == DEFAULT_FANOUT == [10, 5, 2]
    assert fanout_per_layer(None, 1) == [10]
    assert fanout_per_layer(None, 5) == [10, 5, 2, 2, 2]
    assert fanout_per_layer(4, 2) == fanout_per_layer([4], 2) == [4, 4]
    assert fanout_per_layer([-1, 3], 2) == [-1, 3]
    for fanout, layers, match in [([5, 5], 3, 'one fan-out per layer'),
                                  (None, 0, 'at least one'),
                                  ([5, 0, 5], 3, 'positive or -1'),
                                  (-2, 2, 'at least -1'),
                                  ('5', 3, 'an integer or a sequence'),
                                  (True, 2, 'at least -1 \\(got True'),
                                  ([2.7], 2, 'at least -1 \\(got 2.7')]:
        with pytest.raises(ValueError, match=match):
            fanout_per_layer(fanout, layers)
    for fanout, match in [([5, 5], 'one fan-out per layer'),
                          ([5, 0, 5], 'fan-outs must be positive or -1')]:
        with pytest.raises(ConfigError, match=r'train.fanout \(--fanout\): '
                           + match):
            Config.build({'train': {'sampled': True, 'fanout': fanout}})
