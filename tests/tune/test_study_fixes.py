r"""A study continued after an interruption draws what the uninterrupted one
draws (grid and TPE), and what a study cannot run or continue is refused
before any trial, writing nothing: a missing device, a bad storage, a
pruner changed between sessions, settings no trial reads. A study folder
or data file moved or renamed continues; a trial that fails by design says
why, without a traceback."""
import json
import os

import pytest
import torch

from adar_pyg import run
from adar_pyg.cli import main
from adar_pyg.config import Config, ConfigError
from adar_pyg.errors import DivergedError, UsageError
from adar_pyg.tune import compare, compare_status, parse_arms, parse_space, \
    tune
from adar_pyg.tune.study import check

from scripts import snapshot
from test_study import QUIET, SPACE, config, stopped_at_trial_1, write_csv

optuna = pytest.importorskip('optuna')

GRID = {'train.lr': {'choices': [0.001, 0.003]},
        'train.l2': {'choices': [0.0, 0.001]}}


@pytest.fixture(scope='module')
def csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp('data') / 'ratings.csv')


def ran(study):
    r"""The values of the trials that count, in their order."""
    return [t.params for t in study.trials if t.state.name == 'COMPLETE']


@pytest.mark.parametrize('space', [GRID, {
    'train.lr': {'log_uniform': [1e-3, 5e-2]}}], ids=['grid', 'tpe'])
def test_a_study_stopped_and_continued_runs_the_uninterrupted_trials(
        csv, tmp_path, monkeypatch, space):
    cfg = config(csv, epochs=3)
    ref = tune(cfg, space, 3, tmp_path / 'ref', **QUIET)
    train = run.train

    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(run, 'train', stopped_at_trial_1(ctrl_c))
    with pytest.raises(KeyboardInterrupt):
        tune(cfg, space, 3, tmp_path / 'int', **QUIET)
    monkeypatch.setattr(run, 'train', train)
    study = tune(cfg, space, 3, tmp_path / 'int', **QUIET)
    assert study.trials[1].user_attrs['killed']
    assert ran(study) == ran(ref)
    assert [t.value for t in study.trials if t.state.name == 'COMPLETE'] \
        == [t.value for t in ref.trials]
    # Continued with a larger budget: as if run at once with it.
    if space is not GRID:
        more = tune(cfg, space, 4, tmp_path / 'int', **QUIET)
        at_once = tune(cfg, space, 4, tmp_path / 'once', **QUIET)
        assert ran(more) == ran(at_once)


def test_a_missing_device_is_refused_before_any_trial(csv, tmp_path,
                                                      monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.build(config(csv).to_dict(), {'run': {'device': 'cuda'}})
    for fn in (check, tune):
        with pytest.raises(UsageError, match='CUDA is not available'):
            fn(cfg, SPACE, 2, tmp_path / 'study',
               **({} if fn is check else QUIET))
    assert not (tmp_path / 'study').exists()


@pytest.mark.parametrize('pair', [False, True])
def test_a_trial_that_fails_by_design_says_why_without_a_traceback(
        csv, tmp_path, monkeypatch, capfd, caplog, pair):
    train = run.train

    def failing(cfg, folder, **kwargs):
        # Diverges with a learning rate of 0.003; with train.sampled, not
        # run (its result made up):
        if cfg.train.lr == 0.003:
            raise DivergedError('the loss is nan at epoch 1')
        if cfg.train.sampled:
            return {'best_epoch': 1, 'epochs_run': 1,
                    'val': {'recall@10': 0.1}}
        return train(cfg, folder, **kwargs)

    monkeypatch.setattr(run, 'train', failing)
    space = {'train.lr': {'choices': [0.001, 0.003]}}
    if pair:  # (and a pair refused together: train.sparse_grad alone)
        space.update({'train.sampled': {'choices': [False, True]},
                      'train.sparse_grad': {'choices': [False, True]}})
    rows = []
    study = tune(config(csv, epochs=1), space, 8, tmp_path / 'study',
                 **{**QUIET, 'on_trial': rows.append})
    # No warning of Optuna's that the trial failed, no traceback:
    logged = [r for r in caplog.records if r.name.startswith('optuna')]
    assert not [r for r in logged if r.exc_info or 'failed' in
                r.getMessage()], [r.getMessage() for r in logged]
    assert 'Traceback' not in capfd.readouterr().err
    info = json.loads((tmp_path / 'study' / 'tune.json').read_text())
    errors = {r['number']: r['error'] for r in info['trials']
              if r['state'] == 'fail'}
    # The pair refused together (with each lr), the other lr 0.003 ones:
    assert len(errors) == (5 if pair else 1)
    assert sum('needs train.sampled' in e for e in errors.values()) == (
        2 if pair else 0)
    assert sum(e == 'the loss is nan at epoch 1' for e in errors.values()) \
        == (3 if pair else 1)
    # Every finished trial has its seconds, a refused pair's too (so that
    # the budget of a comparison knows its CPU time):
    assert all(r['cpu_seconds'] is not None and r['seconds'] is not None
               for r in info['trials'])
    md = (tmp_path / 'study' / 'tune.md').read_text()
    for number, error in errors.items():
        assert f'- trial {number}: {error}' in md
        assert study.trials[number].user_attrs['error'] == error
    from adar_pyg.tune.study import trial_line
    line = trial_line(next(r for r in rows if r['number'] == min(errors)),
                      'recall@10')
    assert line.endswith('; ' + errors[min(errors)])


@pytest.mark.parametrize('space, key', [
    ({'model.heads': {'choices': [1, 2]}}, 'model.heads'),
    ({'model.dropout': {'uniform': [0.1, 0.5]}}, 'model.dropout'),
    ({'adar.weight': {'choices': [0.5, 1.0]}}, 'adar.weight'),
    ({'model.ngcf_node_dropout': {'uniform': [0.0, 0.5]}},
     'model.ngcf_node_dropout'),
    ({'sampler.num_candidates': {'int': [2, 8]}}, 'sampler.num_candidates'),
    ({'train.lr': {'log_uniform': [1e-3, 1e-2]},
      'train.lr_scaling': {'choices': ['none', 'linear']}},
     'train.lr_scaling'),
])
def test_a_setting_no_trial_reads_is_refused(csv, space, key):
    with pytest.raises(ConfigError, match=f"'{key}' is not read by any "
                       'trial'):
        parse_space(space, config(csv))


def test_a_setting_some_trial_reads_is_tuned(csv):
    cfg = config(csv)
    parse_space({'train.augmenter': {'choices': ['none', 'adar']},
                 'adar.weight': {'choices': [0.5, 1.0]}}, cfg)
    parse_space({'sampler.sampler': {'choices': ['uniform', 'dns']},
                 'sampler.num_candidates': {'int': [2, 8]}}, cfg)
    parse_space({'model.ngcf_node_dropout': {'uniform': [0.0, 0.5]}},
                Config.build(cfg.to_dict(), {'model': {'model': 'ngcf'}}))


def test_an_arm_that_sets_what_its_trials_do_not_read_is_refused(csv):
    lr = {'train.lr': {'log_uniform': [1e-3, 1e-2]}}
    with pytest.raises(ConfigError, match=r"arms.x.set: 'adar.weight' is "
                       'not read by any trial'):
        parse_arms({'arms': {'base': {'space': lr},
                             'x': {'set': {'adar.weight': 0.5},
                                   'space': lr}}}, config(csv))
    parse_arms({'arms': {'base': {'space': lr}, 'x': {'set': {
        'adar.weight': 0.5, 'train.augmenter': 'reweight'}, 'space': lr}}},
        config(csv))


def test_a_pair_refused_together_is_tuned_its_trials_failing(csv):
    r"""docs/tune.md: a pair refused together (train.sparse_grad without
    train.sampled) fails its trial only; a value that no other choice
    makes valid is refused."""
    cfg = config(csv)
    parse_space({'train.sampled': {'choices': [False, True]},
                 'train.sparse_grad': {'choices': [False, True]}}, cfg)
    with pytest.raises(ConfigError, match='the choice True is refused'):
        parse_space({'train.sparse_grad': {'choices': [False, True]},
                     'train.lr': {'choices': [0.01, 0.1]}}, cfg)


@pytest.mark.parametrize('url', ['foo://bar',
                                 'sqlite:////nonexistent/dir/x.db'])
def test_a_bad_storage_is_one_error_line(csv, tmp_path, capsys, url):
    out = tmp_path / 'study'
    with pytest.raises(UsageError, match='cannot open the storage'):
        tune(config(csv), SPACE, 2, out, storage=url, **QUIET)
    space = tmp_path / 'space.yaml'
    space.write_text('train.lr: {log_uniform: [1.0e-3, 5.0e-2]}\n')
    with pytest.raises(SystemExit) as e:
        main(['tune', '--space', str(space), '--trials', '1', '--data',
              str(csv), '--storage', url, '--out', str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('adar-pyg: error: cannot open the storage')
    assert 'Traceback' not in err
    assert not out.exists()


def test_a_renamed_study_folder_continues(csv, tmp_path):
    cfg = config(csv, epochs=1)
    tune(cfg, SPACE, 1, tmp_path / 'first', **QUIET)
    os.rename(tmp_path / 'first', tmp_path / 'second')
    out = tmp_path / 'second'
    # A refused continuation (another config) writes nothing, no study:
    before = snapshot(out)
    with pytest.raises(UsageError, match='another config'):
        tune(config(csv, epochs=2), SPACE, 2, out, **QUIET)
    assert snapshot(out) == before
    assert optuna.get_all_study_names(f'sqlite:///{out}/study.db') == [
        'first']
    study = tune(cfg, SPACE, 2, out, **QUIET)
    assert [t.state.name for t in study.trials] == ['COMPLETE'] * 2
    assert sorted(os.listdir(out)) == ['study.db', 'trial-0', 'trial-1',
                                       'tune.json', 'tune.md']


def test_a_data_file_renamed_continues(tmp_path):
    first = write_csv(tmp_path / 'ratings.csv')
    out = tmp_path / 'study'
    tune(config(first, epochs=1), SPACE, 1, out, **QUIET)
    data = tmp_path / 'renamed.csv'
    first.rename(data)
    assert len(tune(config(data, epochs=1), SPACE, 2, out,
                    **QUIET).trials) == 2
    data.write_text(data.read_text() + 'u00,i31,999\n')
    with pytest.raises(UsageError, match='started on other data: '
                       'renamed.csv changed'):
        tune(config(data, epochs=1), SPACE, 3, out, **QUIET)


def test_the_pruner_of_a_study_cannot_change(csv, tmp_path, capsys):
    out = tmp_path / 'study'
    tune(config(csv, epochs=1), SPACE, 1, out, prune=False, **QUIET)
    before = snapshot(out)
    for prune in ('halving', True):
        with pytest.raises(UsageError, match="started with the pruner "
                           "'none'"):
            tune(config(csv, epochs=1), SPACE, 2, out, prune=prune, **QUIET)
    assert snapshot(out) == before
    assert len(tune(config(csv, epochs=1), SPACE, 2, out, prune=False,
                    **QUIET).trials) == 2
    space = tmp_path / 'space.yaml'
    space.write_text('train.lr: {log_uniform: [1.0e-3, 5.0e-2]}\n')
    with pytest.raises(SystemExit) as e:
        main(['tune', '--space', str(space), '--trials', '1', '--data',
              str(csv), '--pruner', 'halving', '--no-prune', '--out',
              str(tmp_path / 'new')])
    assert e.value.code == 2
    assert 'contradict' in capsys.readouterr().err
    assert not (tmp_path / 'new').exists()


def test_a_pruner_is_recorded_with_its_settings(csv, tmp_path):
    r"""Two pruners of one class with other settings judge differently:
    a study continues only with the same settings, however given."""
    out = tmp_path / 'study'
    tune(config(csv, epochs=1), SPACE, 1, out, **QUIET)  # (median)
    same = tune(config(csv, epochs=1), SPACE, 2, out,
                prune=optuna.pruners.MedianPruner(), **QUIET)
    assert len(same.trials) == 2
    other = optuna.pruners.MedianPruner(n_startup_trials=2)
    with pytest.raises(UsageError, match=r"pruner 'median' \(now "
                       r"'MedianPruner\(.*n_startup_trials=2"):
        tune(config(csv, epochs=1), SPACE, 3, out, prune=other, **QUIET)


def test_a_grid_arm_reports_its_own_budget(csv, tmp_path):
    lr = {'train.lr': {'log_uniform': [1e-3, 5e-2]}}
    arms = {'arms': {'base': {'space': {'train.lr': {
        'choices': [0.01, 0.05]}}}, 'x': {'space': lr}}}
    out = tmp_path / 'cmp'
    compare(config(csv, epochs=1), arms, trials=3, seeds=1, out=out,
            plot=False)
    status = compare_status(config(csv, epochs=1), arms, trials=3, seeds=1,
                            out=out)
    assert status.loc['base', ['trials', 'budget']].tolist() == [2, 2]
    assert status.loc['x', ['trials', 'budget']].tolist() == [3, 3]
    assert status['cpu_seconds_left'].tolist() == [0, 0]
    result = json.loads((out / 'compare.json').read_text())
    assert 'each arm tuned with 3 trials (a grid runs each point once: ' \
        'base 2)' in result['protocol']
    assert result['arms']['base']['trials_budget'] == 2


def test_control_messages(csv):
    lr = {'train.lr': {'log_uniform': [1e-3, 1e-2]}}
    with pytest.raises(ConfigError) as e:
        parse_arms({'arms': {'base': {'space': lr}, 're.weight': {
            'space': lr}}, 'controls': ['reweight']}, config(csv),
            where='a.yaml', controls=['nope'])
    errors = e.value.errors
    assert "--controls: control 'nope' is not an arm" in ' '.join(errors)
    assert not any('a.yaml: control \'nope\'' in x for x in errors)
    assert not any("did you mean 're.weight'" in x for x in errors), errors


def test_a_surplus_trial_takes_no_rank():
    r"""A trial started beyond the budget drew values but is not run: the
    trials after it have the ranks of an uninterrupted study (whose
    surplus trials depend on timing)."""
    from types import SimpleNamespace

    from adar_pyg.tune.study import SURPLUS, _rank

    def trial(number, user_attrs=None, system_attrs=None):
        return SimpleNamespace(number=number, user_attrs=user_attrs or {},
                               system_attrs=system_attrs or {})

    trials = [trial(0), trial(1, {SURPLUS: True}),
              trial(2, system_attrs={'fixed_params': {'x': 1}}), trial(3)]
    storage = SimpleNamespace(
        get_all_trials=lambda study_id, deepcopy=False: trials)
    study = SimpleNamespace(_storage=storage, _study_id=0)
    assert [_rank(study, n) for n in (0, 1, 2, 3, 4)] == [0, 1, 1, 1, 2]
