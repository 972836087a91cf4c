import dataclasses

import pytest

from adar_pyg.config import Config, ModelConfig, SamplerConfig, TrainConfig
from adar_pyg.pipeline import (AUGMENTERS, DATASETS, MODELS, build_augmenter,
                               build_model, sampler_kwargs)
from adar_pyg.registry import (AUGMENTER_NAMES, CF_MODEL_NAMES, MODEL_NAMES,
                               SR_MODEL_NAMES, UnknownNameError)
from adar_pyg.sampling import SAMPLERS, AHNSSampler, UniformSampler


def choices(section, name):
    return {f.name: f for f in dataclasses.fields(section)}[name] \
        .metadata['choices']


def test_every_declared_name_has_an_entry():
    assert MODELS.names() == tuple(MODEL_NAMES) and MODELS.missing() == ()
    assert AUGMENTERS.names() == AUGMENTER_NAMES
    assert AUGMENTERS.missing() == ()


def test_the_settings_accept_the_registered_names():
    assert choices(ModelConfig, 'model') == CF_MODEL_NAMES + SR_MODEL_NAMES
    assert choices(TrainConfig, 'augmenter') == AUGMENTERS.names()
    assert choices(SamplerConfig, 'sampler') == SAMPLERS.names()


@pytest.mark.parametrize('name', list(MODEL_NAMES))
def test_build_model_by_name(name):
    cfg = Config.build({'run': {'task': MODEL_NAMES[name].task},
                        'model': {'model': name, 'dim': 8}})
    model = build_model(cfg, 5, 7)
    assert type(model) is MODELS[name]
    assert model.num_layers == MODEL_NAMES[name].layers


@pytest.mark.parametrize('name', AUGMENTER_NAMES)
def test_build_augmenter_by_name(name):
    cfg = Config.build({'train': {'augmenter': name}})
    augmenter = build_augmenter(cfg, 8)
    assert (augmenter is None) if name == 'none' else \
        (type(augmenter) is AUGMENTERS[name])


def test_sampler_kwargs():
    cfg = Config.build({'sampler': {'sampler': 'ahns', 'num_candidates': 4,
                                    'ahns_alpha': 2.0}})
    assert sampler_kwargs(cfg, AHNSSampler) == {
        'num_candidates': 4, 'alpha': 2.0, 'beta': 0.1, 'p': -2.0}
    cfg = Config.build({'sampler': {'num_candidates': 4}})
    assert sampler_kwargs(cfg, UniformSampler) == {}


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="unknown dataset 'beuaty' "
                       r"\(did you mean 'beauty'\?\); known: beauty, toys"):
        DATASETS['beuaty']
    with pytest.raises(UnknownNameError, match='known: lightgcn, ngcf'):
        MODELS['mf']


def test_train_args_is_deprecated(tmp_path):
    # The result records the settings itself ('settings'); the old argument
    # warns (here before the missing file stops the run, nothing loaded).
    from adar_pyg import run
    from adar_pyg.config import ConfigError
    cfg = Config.build({'data': {'data': str(tmp_path / 'missing.csv')}})
    with pytest.warns(DeprecationWarning, match='train\\(args=...\\)'):
        with pytest.raises(ConfigError, match='no file'):
            run.train(cfg, args={'lr': 1.0})


def test_a_user_who_saw_every_item_is_named_by_its_id(tmp_path):
    r"""Own data: the user whose training sequence holds every item is
    named by its id, before any training."""
    import torch

    from adar_pyg.pipeline import build_task, load_data
    from adar_pyg.sampling import NoNegativeError
    rows = [f'u{u},i{(u + j) % 25},{j}' for u in range(40) for j in range(6)]
    rows += [f'solo,i{i},{100 * r + i}' for r in range(2) for i in range(25)]
    path = tmp_path / 'r.csv'
    path.write_text('user,item,timestamp\n' + '\n'.join(rows) + '\n')
    cfg = Config.build({'run': {'task': 'sr', 'device': 'cpu'},
                        'data': {'data': str(path)},
                        'model': {'model': 'gru4rec'}}).resolved()
    with pytest.raises(NoNegativeError, match="user 'solo' interacted with "
                       "every item"):
        build_task(cfg, load_data(cfg), torch.device('cpu'))


def test_sr_statistics_say_how_own_data_were_ordered(tmp_path):
    from adar_pyg.pipeline import load_data
    rows = [f'u{u},i{(u + j) % 25},{j}' for u in range(40) for j in range(6)]
    path = tmp_path / 'r.csv'
    for header, order in (('timestamp', None), ('when', 'file order (the '
                                                        'file has no time '
                                                        'column)')):
        path.write_text(f'user,item,{header}\n' + '\n'.join(
            rows + rows[:3]) + '\n')
        cfg = Config.build({'run': {'task': 'sr', 'device': 'cpu'},
                            'data': {'data': str(path)},
                            'model': {'model': 'gru4rec'}}).resolved()
        stats = load_data(cfg).statistics
        assert stats.get('order') == order
        assert stats.get('repeated_rows') == (3 if order is None else None)


def test_a_model_that_does_not_fit_the_task_is_a_usage_error(tmp_path):
    r"""A backbone without hops (layers 0: matrix factorisation) cannot
    be trained --sampled: one line naming the model, no traceback."""
    import torch

    from adar_pyg.errors import UsageError
    from adar_pyg.nn import LightGCN
    from adar_pyg.pipeline import build_task, load_data
    rows = [f'u{u},i{(u + j) % 25},{j}' for u in range(40) for j in range(6)]
    path = tmp_path / 'r.csv'
    path.write_text('user,item,timestamp\n' + '\n'.join(rows) + '\n')
    cfg = Config.build({'run': {'device': 'cpu'}, 'data': {'data': str(path)},
                        'train': {'sampled': True}}).resolved()

    def mf(cfg, num_users, num_items):
        return LightGCN(num_users, num_items, embedding_dim=8, num_layers=0)

    with pytest.raises(UsageError, match=r"model.model 'lightgcn' cannot be "
                       r"trained with these settings: 'SampledCFTask' "
                       r"samples one hop per propagation layer, and "
                       r"'LightGCN' has none"):
        build_task(cfg, load_data(cfg), torch.device('cpu'), mf)
