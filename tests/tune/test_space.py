r"""A search space is parsed and checked before any trial: every
distribution suggests what it declares, and an unknown key, an unknown
distribution, a bad range or a value the setting refuses is a
:class:`~adar_pyg.errors.UsageError` naming the key."""
import math

import pytest

from adar_pyg.config import Config
from adar_pyg.errors import UsageError
from adar_pyg.tune import SearchSpace, load_space, parse_space

optuna = pytest.importorskip('optuna')

SPACE = {
    'train.lr': {'log_uniform': [1e-4, 1e-2]},
    'train.l2': {'uniform': [0.0, 1e-3]},
    'model.dim': {'int': [32, 128, 32]},
    'model.layers': {'int': [1, 3]},
    'adar.weight': {'choices': [0.3, 0.5, 0.7, 1.0]},
    'train.augmenter': {'choices': ['none', 'adar']},
}


def suggest_many(space, n=30):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return out


def test_every_distribution():
    space = parse_space(SPACE)
    assert [p.key for p in space.params] == list(SPACE)
    assert [p.kind for p in space.params] == [
        'log_uniform', 'uniform', 'int', 'int', 'choices', 'choices']
    assert not space.is_grid
    values = suggest_many(space)
    for v in values:
        assert 1e-4 <= v['train.lr'] <= 1e-2
        assert 0.0 <= v['train.l2'] <= 1e-3
        assert v['model.dim'] in (32, 64, 96, 128)
        assert v['model.layers'] in (1, 2, 3)
        assert v['adar.weight'] in (0.3, 0.5, 0.7, 1.0)
        assert v['train.augmenter'] in ('none', 'adar')
        # Each trial's values make a valid config:
        cfg = Config.build(SearchSpace.layer(v))
        assert cfg.model.dim == v['model.dim']
        assert cfg.train.lr == v['train.lr']
    # log_uniform spreads over the decades, uniform over the range:
    logs = [math.log10(v['train.lr']) for v in values]
    assert min(logs) < -3.3 and max(logs) > -2.7
    assert {v['model.dim'] for v in values} == {32, 64, 96, 128}
    # The space round-trips (as recorded in the study and tune.json):
    assert parse_space(space.to_dict()).to_dict() == space.to_dict()


def test_grid():
    space = parse_space({'adar.weight': {'choices': [0.5, 1.0]},
                         'model.dim': {'choices': [8, 16, 32]}})
    assert space.is_grid and space.grid_size() == 6
    assert space.grid() == {'adar.weight': [0.5, 1.0],
                            'model.dim': [8, 16, 32]}


def test_yaml_file(tmp_path):
    path = tmp_path / 'space.yaml'
    path.write_text('train.lr: {log_uniform: [1.0e-4, 1.0e-2]}\n'
                    'model.dim: {int: [32, 128, 32]}\n')
    assert load_space(path).to_dict() == {
        'train.lr': {'log_uniform': [1e-4, 1e-2]},
        'model.dim': {'int': [32, 128, 32]}}
    # YAML reads 1e-4 (no dot) as text; the space reads it as a number:
    path.write_text('train.lr: {log_uniform: [1e-4, 1.0e-2]}\n'
                    'train.l2: {choices: [0, 1e-5, 1E-4]}\n')
    assert load_space(path).to_dict() == {
        'train.lr': {'log_uniform': [1e-4, 1e-2]},
        'train.l2': {'choices': [0, 1e-5, 1e-4]}}
    path.write_text('train.lr: {log_uniform: [1e-4, 1e-2]\n')
    with pytest.raises(UsageError, match='not valid YAML'):
        load_space(path)
    with pytest.raises(UsageError, match='does not exist'):
        load_space(tmp_path / 'nope.yaml')
    with pytest.raises(UsageError, match='is a folder, not a file'):
        load_space(tmp_path)
    (tmp_path / 'study.db').write_bytes(b'SQLite format 3\x00\xff\xfe')
    with pytest.raises(UsageError, match='not a text file'):
        load_space(tmp_path / 'study.db')


@pytest.mark.parametrize('space, match', [
    # Unknown keys, with the nearest name:
    ({'trian.lr': {'uniform': [0.1, 0.2]}},
     r"'trian.lr'.*unknown section 'trian'.*did you mean 'train'"),
    ({'train.lrr': {'uniform': [0.1, 0.2]}},
     r"'train.lrr'.*unknown setting 'train.lrr'.*did you mean 'lr'"),
    ({'train.weight': {'uniform': [0.1, 0.2]}},
     r"'train.weight'.*belongs to section 'adar'"),
    ({'lr': {'uniform': [0.1, 0.2]}}, r"'lr'.*'section.setting'"),
    # Settings a study must not vary:
    ({'split.val_ratio': {'uniform': [0.1, 0.2]}},
     r"'split.val_ratio' cannot be tuned.*validation split"),
    ({'run.seed': {'int': [0, 9]}}, r"'run.seed' cannot be tuned"),
    ({'train.monitor': {'choices': ['ndcg@20']}},
     r"'train.monitor' cannot be tuned"),
    # Unknown or malformed distributions:
    ({'train.lr': {'loguniform': [1e-4, 1e-2]}},
     r"'train.lr': unknown distribution 'loguniform'.*did you mean "
     r"'log_uniform'"),
    ({'train.lr': [1e-4, 1e-2]}, r"'train.lr' needs one distribution"),
    ({'train.lr': {'uniform': [0.1, 0.2], 'int': [1, 2]}},
     r"'train.lr' needs one distribution"),
    # Bad ranges:
    ({'train.lr': {'uniform': [0.2, 0.1]}}, r"'train.lr'.*low < high"),
    ({'train.lr': {'uniform': [0.1]}}, r"'train.lr': uniform takes"),
    ({'train.lr': {'uniform': [0.1, 'x']}}, r"'train.lr': uniform takes"),
    ({'train.lr': {'uniform': [0.1, float('inf')]}},
     r"'train.lr': uniform takes"),
    ({'train.lr': {'log_uniform': [0.0, 0.1]}},
     r"'train.lr': log_uniform needs low > 0"),
    ({'model.dim': {'int': [32, 128, 30]}}, r"'model.dim'.*multiple of its "
     r"step"),
    ({'model.dim': {'int': [32, 128, 0]}}, r"'model.dim'.*step.*at least 1"),
    ({'model.dim': {'int': [32.0, 128]}}, r"'model.dim': int takes"),
    ({'model.dim': {'int': [64, 64]}}, r"'model.dim'.*low < high"),
    ({'adar.weight': {'choices': []}}, r"'adar.weight': choices takes"),
    ({'adar.weight': {'choices': [0.5, 0.5]}}, r"'adar.weight'.*repeat"),
    ({'adar.weight': {'choices': [[0.5]]}}, r"'adar.weight': a choice must"),
    # Values the setting itself refuses:
    ({'train.lr': {'uniform': [0.0, 0.1]}},
     r"'train.lr': the bound 0.0 is refused: train.lr must be greater "
     r"than 0"),
    ({'adar.weight': {'choices': [0.5, 2.0]}},
     r"'adar.weight': the choice 2.0 is refused: adar.weight must be"),
    ({'model.dim': {'uniform': [8, 64]}},
     r"'model.dim' is an integer setting: tune it with \{int"),
    ({'train.mask_history': {'choices': [True, False]}},
     r"'train.mask_history' cannot be tuned"),
    ({'train.l2': {'choices': [1, 1.0]}}, r"'train.l2'.*repeat"),
    ({'train.lr': {'uniform': [0.1, 10**400]}}, r"'train.lr': uniform takes"),
    ({'train.augmenter': {'choices': ['adar', 'adr']}},
     r"'train.augmenter': the choice 'adr' is refused: .*did you mean "
     r"'adar'"),
    ({'model.model': {'choices': ['lightgcn', 'sasrec']}},
     r"'model.model': the choice 'sasrec' is refused: .*not a CF model"),
])
def test_refused(space, match):
    with pytest.raises(UsageError, match=match):
        parse_space(space)


def test_every_error_at_once_naming_the_file():
    with pytest.raises(UsageError) as e:
        parse_space({'train.lrr': {'uniform': [0.1, 0.2]},
                     'model.dim': {'int': [64, 32]},
                     'train.l2': {'uniform': [0.0, 1e-3]}},
                    where='space.yaml')
    assert len(e.value.errors) == 2
    assert all(m.startswith('space.yaml: ') for m in e.value.errors)
    assert str(e.value).startswith('2 errors in the search space')


def test_checked_in_the_tuned_config():
    # A value valid alone but not in this config (SR models need run.task
    # sr; CNSDiff's start steps must fit its number of steps):
    sr = Config.build({'run': {'task': 'sr'}})
    assert parse_space({'model.model': {'choices': ['sasrec', 'gru4rec']}},
                       sr).params[0].choices == ('sasrec', 'gru4rec')
    with pytest.raises(UsageError, match="'model.model'.*'lightgcn'"):
        parse_space({'model.model': {'choices': ['sasrec', 'lightgcn']}}, sr)
    with pytest.raises(UsageError, match=r"'cnsdiff.num_steps': the bound "
                       r"12 is refused.*start_steps"):
        parse_space({'cnsdiff.num_steps': {'int': [12, 40]}}, Config.build())


def test_empty_or_not_a_mapping():
    for spec in ({}, None, [1, 2], 'train.lr'):
        with pytest.raises(UsageError, match='non-empty mapping'):
            parse_space(spec)
