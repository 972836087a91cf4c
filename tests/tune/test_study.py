r"""A study on a tiny CSV, end to end: its trials are run directories scored
on validation (the test split is never read), it continues where it
stopped, its pruner stops a planted bad trial, and everything that can be
checked is checked before the first trial."""
import functools
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from adar_pyg import run
from adar_pyg.cli import main
from adar_pyg.config import Config
from adar_pyg.errors import DataError, RunDirError, UsageError
from adar_pyg.train.cf_task import CFTask
from adar_pyg.tune import compare_status, tune
from adar_pyg.tune.comparison import pinned_split
from adar_pyg.tune.study import check, import_optuna, print_trial

from scripts import snapshot

optuna = pytest.importorskip('optuna')

QUIET = dict(progress=False, plot=False, log=lambda line: None)
SPACE = {'train.lr': {'log_uniform': [1e-3, 5e-2]},
         'model.dim': {'int': [4, 12, 4]}}


def write_csv(path):
    r"""40 users in two taste groups, 10 of 16 items each (400 rows)."""
    g = torch.Generator().manual_seed(0)
    lines = ['user,item,timestamp']
    for u in range(40):
        items = torch.randperm(16, generator=g)[:10] + 16 * (u % 2)
        lines += [f'u{u:02d},i{i},{100 + t}'
                  for t, i in enumerate(items.tolist())]
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.fixture(scope='module')
def csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp('data') / 'ratings.csv')


def config(csv, **train):
    return Config.build({
        'run': {'device': 'cpu', 'threads': 1},
        'data': {'data': str(csv)},
        'model': {'dim': 8, 'layers': 1},
        'train': {'epochs': 2, 'batch_size': 64, 'monitor': 'recall@10',
                  **train}})




@pytest.fixture
def test_reads(monkeypatch):
    r"""The splits every evaluation asks for."""
    splits = []
    evaluate = CFTask.evaluate

    def spy(self, split):
        splits.append(split)
        return evaluate(self, split)

    monkeypatch.setattr(CFTask, 'evaluate', spy)
    return splits


def test_study_end_to_end_and_resume(csv, tmp_path, test_reads):
    out = tmp_path / 'study'
    study = tune(config(csv), SPACE, 3, out, **QUIET)
    assert [t.state.name for t in study.trials] == ['COMPLETE'] * 3
    # The test split is never read, and no record holds a test metric:
    assert test_reads and set(test_reads) == {'val'}
    for n in range(3):
        folder = out / f'trial-{n}'
        result = json.loads((folder / 'result.json').read_text())
        assert 'test' not in result and 'test not read' in result['protocol']
        records = [json.loads(line) for line in
                   (folder / 'metrics.jsonl').read_text().splitlines()]
        assert len(records) == 2
        for record in [result['val'], *records]:
            assert not any(k.startswith('test') for k in record)
        # The objective is the trial's best validation value:
        assert study.trials[n].value == result['val']['recall@10'] == max(
            r['val_recall@10'] for r in records)
        # An ordinary run directory, with the trial's values:
        cfg = Config.load(str(folder / 'config.yaml'))
        params = study.trials[n].params
        assert cfg.train.lr == params['train.lr']
        assert cfg.model.dim == params['model.dim']
        assert (folder / 'checkpoints' / 'best.pt').exists()
    info = json.loads((out / 'tune.json').read_text())
    best = max(study.trials, key=lambda t: t.value)
    assert info['best'] == {'number': best.number, 'value': best.value,
                            'params': best.params,
                            'run_dir': f'trial-{best.number}'}
    assert info['counts']['complete'] == 3 and len(info['trials']) == 3
    assert info['space'] == SPACE and info['sampler'] == 'TPESampler'
    md = (out / 'tune.md').read_text()
    assert f'## Best: trial {best.number}, val recall@10' in md
    assert md.count('| complete |') == 3
    assert (out / 'study.db').exists()
    # A trial's config.yaml reproduces it (the trials share the data loaded
    # once; training alone, with the test split read, gives the same):
    cfg = Config.load(str(out / 'trial-2' / 'config.yaml'))
    again = run.train(cfg, str(tmp_path / 'again'), **QUIET)
    assert again['val'] == json.loads(
        (out / 'trial-2' / 'result.json').read_text())['val']
    assert 'test' in again and test_reads.count('test') == 1
    test_reads.clear()

    # Continued: up to 5 trials, the first 3 untouched, new values drawn:
    before = {n: snapshot(out / f'trial-{n}') for n in range(3)}
    values = [(t.params, t.value) for t in study.trials]
    study = tune(config(csv), SPACE, 5, out, **QUIET)
    assert len(study.trials) == 5
    assert [(t.params, t.value) for t in study.trials[:3]] == values
    assert {n: snapshot(out / f'trial-{n}') for n in range(3)} == before
    assert (out / 'trial-4' / 'result.json').exists()
    assert all(t.params != study.trials[n].params
               for n in (3, 4) for t in study.trials[:3])
    assert set(test_reads) == {'val'}
    assert json.loads((out / 'tune.json').read_text())['counts'][
        'complete'] == 5
    # A study that holds its trials runs none:
    assert len(tune(config(csv), SPACE, 5, out, **QUIET).trials) == 5

    # It continues only with the same space and config:
    with pytest.raises(UsageError, match='another space'):
        tune(config(csv), {'train.lr': SPACE['train.lr']}, 6, out, **QUIET)
    with pytest.raises(UsageError, match=r'another config.*train.epochs: '
                       r'2 -> 3'):
        tune(config(csv, epochs=3), SPACE, 6, out, **QUIET)
    assert len(os.listdir(out)) == 5 + 3


def test_pruner_stops_a_planted_bad_trial(csv, tmp_path):
    out = tmp_path / 'study'
    os.makedirs(out)
    # Two good learning rates, then one too small to learn anything:
    queued = optuna.create_study(storage=f'sqlite:///{out}/study.db',
                                 study_name='study', direction='maximize')
    for lr in (0.05, 0.03, 1e-6):
        queued.enqueue_trial({'train.lr': lr})
    space = {'train.lr': {'log_uniform': [1e-6, 1e-1]}}
    study = tune(config(csv, epochs=3), space, 3, out, **QUIET,
                 prune=optuna.pruners.MedianPruner(n_startup_trials=2))
    states = [t.state.name for t in study.trials]
    assert states == ['COMPLETE', 'COMPLETE', 'PRUNED']
    bad = study.trials[2]
    assert list(bad.intermediate_values) == [1]  # Stopped at epoch 1.
    assert len((out / 'trial-2' / 'metrics.jsonl').read_text().splitlines()
               ) == 1
    assert not (out / 'trial-2' / 'result.json').exists()
    assert json.loads((out / 'tune.json').read_text())['counts'] == {
        'complete': 2, 'pruned': 1, 'fail': 0, 'killed': 0, 'surplus': 0,
        'running': 0, 'queued': 0}

    # With pruning off, the same trial runs to its end:
    out = tmp_path / 'unpruned'
    os.makedirs(out)
    queued = optuna.create_study(storage=f'sqlite:///{out}/study.db',
                                 study_name='unpruned', direction='maximize')
    for lr in (0.05, 0.03, 1e-6):
        queued.enqueue_trial({'train.lr': lr})
    study = tune(config(csv, epochs=3), space, 3, out, **QUIET, prune=False)
    assert [t.state.name for t in study.trials] == ['COMPLETE'] * 3
    assert study.trials[2].value < min(t.value for t in study.trials[:2])


def stopped_at_trial_1(stop):
    r""":func:`adar_pyg.run.train` calling :obj:`stop` in trial 1's
    evaluation of epoch 2 (after epoch 1's checkpoint, before epoch 2's)."""
    train = run.train

    def stopped(cfg, folder, **kwargs):
        report = kwargs['on_evaluate']

        def on_evaluate(record):
            report(record)
            if folder.endswith('trial-1') and record['epoch'] == 2:
                stop()
        return train(cfg, folder, **{**kwargs, 'on_evaluate': on_evaluate})
    return stopped


KILL = r"""
import os, signal, sys
sys.path[:0] = [os.path.join('tests', 'tune'), 'tests']
from adar_pyg import run
from adar_pyg.config import Config
from adar_pyg.tune import tune
from test_study import stopped_at_trial_1
run.train = stopped_at_trial_1(lambda: os.kill(os.getpid(), signal.SIGKILL))
cfg = Config.load(sys.argv[1])
tune(cfg, {'train.lr': {'log_uniform': [1e-3, 5e-2]}}, 3, sys.argv[2],
     plot=False, log=lambda line: None)
"""


def test_a_killed_trial_is_run_again(csv, tmp_path):
    out = tmp_path / 'cmp' / 'base' / 'study'  # (an arm of a comparison,
    cfg = pinned_split(config(csv, epochs=3))  # whose split is pinned)
    cfg.save(str(tmp_path / 'base.yaml'))
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run([sys.executable, '-c', KILL, str(tmp_path /
                           'base.yaml'), str(out)], cwd=root, timeout=300,
                          env={**os.environ, 'PYTHONPATH': root},
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (out / 'trial-0' / 'result.json').exists()
    assert not (out / 'trial-1' / 'result.json').exists()
    epoch_1 = (out / 'trial-1' / 'metrics.jsonl').read_text().splitlines()[0]
    before = snapshot(out / 'trial-0')
    space = {'train.lr': {'log_uniform': [1e-3, 5e-2]}}
    # --status tells the dead trial from a running one, and writes nothing:
    folder = snapshot(tmp_path / 'cmp')
    status = compare_status(cfg, {'arms': {'base': {'space': space},
                                           'x': {'space': space}}},
                            trials=3, seeds=2, out=tmp_path / 'cmp')
    assert status.loc['base', ['trials', 'complete', 'killed', 'running',
                               'best_trial']].tolist() == [1, 1, 1, 0, 0]
    assert status.loc['x', 'trials'] == 0 and snapshot(tmp_path / 'cmp') == \
        folder
    notes = []
    study = tune(cfg, space, 3, out, notes=notes.append, **QUIET)
    assert notes == ['trial 1 was killed while running: queued again with '
                     'the same values']
    assert [t.state.name for t in study.trials] == [
        'COMPLETE', 'FAIL', 'COMPLETE', 'COMPLETE']
    killed, retry = study.trials[1], study.trials[2]
    assert killed.user_attrs['killed'] and retry.params == killed.params
    assert retry.user_attrs['retry_of'] == 1
    assert snapshot(out / 'trial-0') == before
    info = json.loads((out / 'tune.json').read_text())
    assert info['counts']['complete'] == 3 and info['counts']['killed'] == 1
    # The retry continued the killed trial's run from its epoch-1 checkpoint
    # (that evaluation's record, its seconds too, kept; not trained again):
    assert retry.user_attrs['continues'] == 'trial-1'
    assert not (out / 'trial-1').exists()
    assert info['trials'][1]['moved_to'] == 'trial-2'
    assert 'moved to `trial-2`' in (out / 'tune.md').read_text()
    records = (out / 'trial-2' / 'metrics.jsonl').read_text().splitlines()
    assert records[0] == epoch_1 and len(records) == 3
    assert sorted(retry.intermediate_values) == [1, 2, 3]  # (1: replayed)
    # ... to the result of an uninterrupted trial with its values:
    ref = run.train(Config.build(cfg.to_dict(), {'train': {
        'lr': retry.params['train.lr']}}), str(tmp_path / 'ref'),
        test=False, **QUIET)
    assert retry.value == ref['val']['recall@10']
    assert [{k: v for k, v in json.loads(line).items() if k != 'seconds'}
            for line in records] == [
        {k: v for k, v in json.loads(line).items() if k != 'seconds'} for
        line in (tmp_path / 'ref' / 'metrics.jsonl').read_text().splitlines()]


class PruneAll(optuna.pruners.BasePruner):
    r"""Stops every trial at every evaluation it judges."""

    def prune(self, study, trial):
        return True


def test_a_retry_judges_only_what_the_killed_trial_had_not_passed(
        tmp_path):
    r"""The retry of a trial killed at epoch 2 (checkpoint at epoch 1):
    the pruner does not judge epochs 1 and 2 again, only epoch 3; and a run
    that can no longer be continued (its data changed) trains afresh."""
    data = write_csv(tmp_path / 'ratings.csv')
    cfg = config(data, epochs=3)
    cfg.save(str(tmp_path / 'base.yaml'))
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    out = tmp_path / 'a' / 'study'
    proc = subprocess.run([sys.executable, '-c', KILL, str(tmp_path /
                           'base.yaml'), str(out)], cwd=root, timeout=300,
                          env={**os.environ, 'PYTHONPATH': root},
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    shutil.copytree(out, tmp_path / 'b' / 'study')  # The same killed study.
    # (as if started with PruneAll: a study continues with its pruner)
    optuna.load_study(study_name='study', storage=f'sqlite:///{out}/study.db'
                      ).set_user_attr('pruner', 'PruneAll')
    space = {'train.lr': {'log_uniform': [1e-3, 5e-2]}}
    study = tune(cfg, space, 2, out, **{**QUIET, 'prune': PruneAll()})
    retry = study.trials[2]
    assert retry.user_attrs['continues'] == 'trial-1'
    assert retry.state.name == 'PRUNED'
    assert sorted(retry.intermediate_values) == [1, 2, 3]
    # The killed trial's checkpoint was damaged since: the retry cannot
    # continue, and says why.
    last = tmp_path / 'b' / 'study' / 'trial-1' / 'checkpoints' / 'last.pt'
    last.write_bytes(last.read_bytes()[:100])
    lines = []
    study = tune(cfg, space, 2, tmp_path / 'b' / 'study',
                 **{**QUIET, 'log': lines.append})
    retry = study.trials[2]
    assert retry.state.name == 'COMPLETE'
    assert retry.user_attrs['continues'] is None
    assert retry.user_attrs['afresh'].startswith('trial-1: ')
    assert any('trained afresh' in line for line in lines), lines
    records = (tmp_path / 'b' / 'study' / 'trial-2' /
               'metrics.jsonl').read_text().splitlines()
    assert len(records) == 3


@pytest.mark.parametrize('space, trials', [
    ({'train.lr': {'log_uniform': [1e-3, 5e-2]}}, 3),
    ({'train.lr': {'choices': [0.01, 0.05]}}, 2),  # A grid.
])
@pytest.mark.parametrize('error', [
    KeyboardInterrupt, OSError(28, 'No space left on device')])
def test_ctrl_c_stops_a_trial_that_the_next_call_continues(
        csv, tmp_path, monkeypatch, capfd, space, trials, error):
    r"""A trial stopped by Ctrl-C, or by an error not of its values (a
    full disk), counts as killed, not against the budget, and Optuna's
    warnings that it failed are not shown: the next call runs the budget's
    trials, the retry continuing the stopped trial's run (also in a grid,
    which counts the stopped trial's point as visited)."""
    cfg, out = config(csv, epochs=3), tmp_path / 'study'
    train = run.train

    def stop():
        raise error

    monkeypatch.setattr(run, 'train', stopped_at_trial_1(stop))
    with pytest.raises(type(error) if isinstance(error, OSError) else error):
        tune(cfg, space, trials, out, **QUIET)
    assert 'failed' not in capfd.readouterr().err
    if error is not KeyboardInterrupt:  # Its reason, in the report:
        assert '- trial 1: stopped: [Errno 28] No space left on device' in (
            out / 'tune.md').read_text()
    # The report says so (not 'running'), and what runs next:
    rows = json.loads((out / 'tune.json').read_text())['trials']
    assert [r['state'] for r in rows] == ['complete', 'killed', 'queued']
    assert rows[1]['cpu_seconds'] is not None  # (counted in a budget)
    assert rows[2]['params'] == rows[1]['params']
    assert '| 2 | queued |' in (out / 'tune.md').read_text()
    assert '(retries trial 1)' in (out / 'tune.md').read_text()
    monkeypatch.setattr(run, 'train', train)
    study = tune(cfg, space, trials, out, **QUIET)
    assert [t.state.name for t in study.trials] == [
        'COMPLETE', 'FAIL'] + ['COMPLETE'] * (trials - 1)
    stopped, retry = study.trials[1], study.trials[2]
    assert stopped.user_attrs['killed'] and retry.params == stopped.params
    assert retry.user_attrs['continues'] == 'trial-1'
    assert sorted(retry.intermediate_values) == [1, 2, 3]
    if trials == 2:  # Every point of the grid:
        assert sorted(t.params['train.lr'] for t in study.trials
                      if t.state.name == 'COMPLETE') == [0.01, 0.05]


def test_data_that_cannot_be_trained_on_fail_no_trial(tmp_path):
    r"""A split without validation items is refused before the first
    trial: no trial fails, none counts against the budget."""
    data = tmp_path / 'two.csv'
    data.write_text('user,item\n' + ''.join(
        f'u{u},i{(u + j) % 30}\n' for u in range(60) for j in range(2)))
    out = tmp_path / 'study'
    with pytest.raises(DataError, match='holds no validation interactions'):
        tune(config(data), SPACE, 2, out, **QUIET)
    study = optuna.load_study(study_name='study',
                              storage=f'sqlite:///{out}/study.db')
    assert study.trials == []


def test_a_sqlite_storage_of_its_own_in_the_folder(csv, tmp_path):
    out = tmp_path / 'study'
    storage = f'sqlite:///{out}/optuna.db'
    tune(config(csv, epochs=1), SPACE, 1, out, storage=storage, **QUIET)
    study = tune(config(csv, epochs=1), SPACE, 2, out, storage=storage,
                 **QUIET)  # Continued: its own file is the study's.
    assert len(study.trials) == 2


def test_a_study_continues_only_on_its_data(tmp_path):
    r"""A study continues on its data moved elsewhere (and with other
    threads); one whose data file changed is refused (by :func:`tune` and
    :func:`check`), before anything is written."""
    first = write_csv(tmp_path / 'ratings.csv')
    out = tmp_path / 'study'
    tune(config(first, epochs=1), SPACE, 1, out, **QUIET)
    (tmp_path / 'moved').mkdir()
    data = tmp_path / 'moved' / 'ratings.csv'
    first.rename(data)
    cfg = Config.build(config(data, epochs=1).to_dict(),
                       {'run': {'threads': 2}})
    assert len(tune(cfg, SPACE, 2, out, **QUIET).trials) == 2
    before = snapshot(out)
    data.write_text(data.read_text() + 'u00,i31,999\n')
    for fn in (check, tune):
        with pytest.raises(UsageError, match='started on other data: '
                           'ratings.csv changed'):
            fn(cfg, SPACE, 3, out, **({} if fn is check else QUIET))
    assert snapshot(out) == before


def test_out_must_be_a_study_folder(csv, tmp_path):
    r"""A run directory, a file, or a folder of other files is refused as a
    study folder, as :obj:`train` refuses them as a run directory."""
    run.train(config(csv, epochs=1), str(tmp_path / 'run'), test=False,
              **QUIET)
    (tmp_path / 'file').write_text('x')
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'notes.txt').write_text('x')
    for out, match in (('run', "not a study's \\(checkpoints/, config.yaml"),
                       ('file', 'is a file'),
                       ('notes', "not a study's \\(notes.txt\\)")):
        before = snapshot(tmp_path / out) if out != 'file' else None
        for fn in (check, tune):
            with pytest.raises(RunDirError, match=match):
                fn(config(csv), SPACE, 2, tmp_path / out,
                   **({} if fn is check else QUIET))
        if before is not None:
            assert snapshot(tmp_path / out) == before


def test_grid_when_every_parameter_is_a_choice(csv, tmp_path):
    space = {'train.lr': {'choices': [0.01, 0.05]}}
    # More trials than the grid holds: the grid is run once.
    study = tune(config(csv, epochs=1), space, 3, tmp_path / 'grid',
                 **QUIET)
    assert isinstance(study.sampler, optuna.samplers.GridSampler)
    assert sorted(t.params['train.lr'] for t in study.trials) == [0.01, 0.05]
    # Continued (a sampler seeded in another process), each point once:
    space = {'train.lr': {'choices': [0.01, 0.02, 0.03, 0.04, 0.05]}}
    out = tmp_path / 'grid5'
    tune(config(csv, epochs=1), space, 2, out, **QUIET)
    study = tune(config(csv, epochs=1), space, 9, out, **QUIET)
    assert sorted(t.params['train.lr'] for t in study.trials) == [
        0.01, 0.02, 0.03, 0.04, 0.05]


@pytest.mark.parametrize('change, match', [
    (dict(space={'train.lrr': {'uniform': [0.1, 0.2]}}),
     "unknown setting 'train.lrr'"),
    (dict(space={'train.lr': {'uniform': [0.2, 0.1]}}), 'low < high'),
    (dict(cfg={'select_on': 'test'}), 'selects on the validation split'),
    (dict(trials=0), 'trials must be a positive integer'),
    (dict(prune='sometimes'), 'unknown pruner'),
    (dict(csv='missing.csv'), 'missing.csv'),
])
def test_refused_before_any_trial(csv, tmp_path, change, match):
    out = tmp_path / 'study'
    cfg = config(csv if 'csv' not in change else tmp_path / change['csv'],
                 **change.get('cfg', {}))
    with pytest.raises(UsageError, match=match):
        tune(cfg, change.get('space', SPACE), change.get('trials', 2), out,
             prune=change.get('prune', True), **QUIET)
    assert not out.exists()


def test_no_validation_split_is_refused(csv, tmp_path):
    cfg = Config.build(config(csv).to_dict(), {'split': {'val_ratio': 0.0}})
    with pytest.raises(UsageError, match='needs a validation split'):
        tune(cfg, SPACE, 2, tmp_path / 'study', **QUIET)


def test_trial_folders_without_their_study_are_refused(csv, tmp_path):
    out = tmp_path / 'study'
    os.makedirs(out / 'trial-0')
    with pytest.raises(UsageError, match='holds trial folders'):
        tune(config(csv), SPACE, 2, out, **QUIET)


def test_missing_optuna_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'optuna', None)
    with pytest.raises(UsageError) as e:
        import_optuna()
    assert e.value.hint == "pip install -e '.[tune]' (from the checkout)"


def test_cli(csv, tmp_path, capsys):
    space = tmp_path / 'space.yaml'
    space.write_text('train.lr: {log_uniform: [1.0e-3, 5.0e-2]}\n')
    out = tmp_path / 'study'
    main(['tune', '--space', str(space), '--trials', '2', '--data', str(csv),
          '--device', 'cpu', '--dim', '8', '--layers', '1', '--epochs', '1',
          '--batch-size', '64', '--seed', '3', '--no-prune', '--out',
          str(out)])
    printed = capsys.readouterr().out
    assert 'best: trial' in printed and 'optuna-dashboard sqlite:///' in \
        printed
    # One line per trial, not its epochs:
    lines = printed.splitlines()
    assert [line.split(':')[0] for line in lines][:3] == [
        'trial 0', 'trial 1', 'best']
    info = json.loads((out / 'tune.json').read_text())
    assert info['counts']['complete'] == 2 and info['pruner'] == 'NopPruner'
    assert info['config']['run']['seed'] == 3
    with pytest.raises(SystemExit) as e:
        main(['tune', '--space', str(space), '--trials', '0', '--out',
              str(out)])
    assert e.value.code == 2


def test_run_train_hook_and_no_test(csv, test_reads):
    # The two options of run.train a study relies on, without a folder:
    records = []
    result = run.train(config(csv, epochs=2), None, on_evaluate=records.append,
                       test=False, **QUIET)
    assert [r['epoch'] for r in records] == [1, 2]
    assert 'test' not in result and set(test_reads) == {'val'}
    # Selecting on test cannot go without reading it:
    with pytest.raises(UsageError, match='validation split'):
        run.train(config(csv, select_on='test'), None, test=False, **QUIET)


def test_workers_share_the_trials(csv, tmp_path, capfd):
    out = tmp_path / 'study'
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = tune(config(csv, epochs=1), SPACE, 4, out, workers=2,
                     **{**QUIET, 'on_trial': functools.partial(
                         print_trial, monitor='recall@10')})
    finally:
        optuna.logging.set_verbosity(verbosity)
    # The spawned worker logs at this process's verbosity: no trial lines;
    # a picklable on_trial sees the trials of both processes:
    printed = capfd.readouterr()
    assert 'Trial' not in printed.err
    assert sorted(line.split(':')[0] for line in printed.out.splitlines()
                  if line.startswith('trial ')) == [
        'trial 0', 'trial 1', 'trial 2', 'trial 3']
    trials = study.trials
    # Four trials, each run once, by whichever process was free:
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert [t.state.name for t in trials] == ['COMPLETE'] * 4
    assert {t.user_attrs['worker'] for t in trials} <= {0, 1}
    assert sorted(os.listdir(out)) == ['study.db', 'trial-0', 'trial-1',
                                       'trial-2', 'trial-3', 'tune.json',
                                       'tune.md']
    for t in trials:
        cfg = Config.load(str(out / f'trial-{t.number}' / 'config.yaml'))
        assert cfg.train.lr == t.params['train.lr']
        assert (out / f'trial-{t.number}' / 'result.json').exists()
    assert len({t.params['train.lr'] for t in trials}) == 4
    info = json.loads((out / 'tune.json').read_text())
    assert info['counts']['complete'] == 4
    # Held trials are not run again, whatever the workers:
    assert len(tune(config(csv, epochs=1), SPACE, 4, out, workers=3,
                    **QUIET).trials) == 4
    with pytest.raises(UsageError, match='workers must be a positive'):
        tune(config(csv), SPACE, 4, out, workers=0, **QUIET)


def test_a_failing_call_stops_its_workers(csv, tmp_path, monkeypatch):
    r"""An error not of a trial's values (a full disk) in the calling
    process stops the study: its workers finish the trial they run and
    start no other, rather than spending the budget while it waits."""
    import errno

    def full(*args, **kwargs):  # (this process only: the worker is spawned)
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(run, 'train', full)
    out = tmp_path / 'study'
    with pytest.raises(OSError, match='No space left'):
        tune(config(csv, epochs=1), SPACE, 8, out, workers=2, **QUIET)
    rows = json.loads((out / 'tune.json').read_text())['trials']
    assert [r['state'] for r in rows].count('complete') <= 1, rows


def test_a_trial_let_go_and_not_yet_recorded_is_not_taken_for_killed(
        csv, tmp_path, monkeypatch):
    """Between a trial's run directory and its lock (a claim), and between
    a pruned trial letting its lock go and Optuna recording it, no process
    holds the lock and none is named in it: such a trial is killed only
    once that lasts (another call starting then must not queue it again);
    a lock file naming a dead process is a kill at once."""
    from adar_pyg.rundir import LOCK
    from adar_pyg.tune import study as tune_study
    out = tmp_path / 'study'
    study = tune(config(csv, epochs=1), SPACE, 1, out, **QUIET)
    running = study.ask()
    folder = out / f'trial-{running.number}'
    folder.mkdir()
    (folder / LOCK).write_text('')  # (its writer cleared it: let go)
    trial = study.trials[-1]
    assert not tune_study.is_dead(trial, str(out))
    monkeypatch.setattr(tune_study, 'STALE_SECONDS', 0.0)
    assert tune_study.is_dead(trial, str(out))
    monkeypatch.setattr(tune_study, 'STALE_SECONDS', 60.0)
    dead = subprocess.run([sys.executable, '-c', 'import os; '
                           'print(os.getpid())'], capture_output=True,
                          text=True, check=True).stdout.strip()
    (folder / LOCK).write_text(f'{dead}\n')  # (a writer killed with -9)
    assert tune_study.is_dead(trial, str(out))


def test_a_free_worker_starts_a_trial_only_within_the_budget(csv, tmp_path):
    """The trials are not dealt out in advance: a process starts one while
    the study holds fewer finished or running trials than the budget, and of
    two started at once for the last place the later is surplus (not
    counted, queued again if it was a retry)."""
    from adar_pyg.tune import study as tune_study
    out = tmp_path / 'study'
    cfg = config(csv, epochs=1)
    study = tune(cfg, SPACE, 2, out, **QUIET)
    assert tune_study._claimed(optuna, study) == 2
    # Another process runs trial 2 (no folder yet): the budget of 3 is
    # taken, so this process starts nothing.
    running = study.ask()
    study = tune(cfg, SPACE, 3, out, **QUIET)
    assert len(study.trials) == 3
    assert study.trials[2].state.name == 'RUNNING'
    # Two trials started for the last place: the earlier one runs, the
    # later one is surplus.
    late = study.ask()
    assert not tune_study._surplus(optuna, study, running, 3)
    assert tune_study._surplus(optuna, study, late, 3)
    study.tell(late, state=optuna.trial.TrialState.FAIL)
    study.tell(running, 0.5)
    assert tune_study._finished(optuna, study) == 3
    # A surplus retry of a killed trial is queued again with its values:
    study.enqueue_trial({'train.lr': 0.01, 'model.dim': 8},
                        user_attrs={'retry_of': 1}, skip_if_exists=False)
    retry = study.ask()
    tune_study.parse_space(SPACE, cfg).suggest(retry)
    assert tune_study._surplus(optuna, study, retry, 3)
    study.tell(retry, state=optuna.trial.TrialState.FAIL)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs == {'retry_of': 1}
    assert tune_study._finished(optuna, study) == 3
    info = tune_study.summary(study)
    assert info['counts']['surplus'] == 2 and info['counts']['fail'] == 0


def test_a_trial_killed_before_its_folder_is_run_again(csv, tmp_path,
                                                       monkeypatch):
    """A running trial with no run directory takes a place of the budget
    while its process may still write it; once that is stale (its process
    died between Optuna's ask and the folder) it is run again, so the
    study still reaches its budget."""
    from adar_pyg.tune import study as tune_study
    out = tmp_path / 'study'
    cfg = config(csv, epochs=1)
    study = tune(cfg, SPACE, 2, out, **QUIET)
    study.ask()  # trial 2, whose process dies before writing trial-2/
    assert len(tune(cfg, SPACE, 3, out, **QUIET).trials) == 3  # fresh
    monkeypatch.setattr(tune_study, 'STALE_SECONDS', 0.0)
    study = tune(cfg, SPACE, 3, out, **QUIET)
    assert [t.state.name for t in study.trials] == [
        'COMPLETE', 'COMPLETE', 'FAIL', 'COMPLETE']
    assert study.trials[2].user_attrs['killed']
    # (killed before its values were drawn: a trial drawn anew, no retry)
    assert 'retry_of' not in study.trials[3].user_attrs
    assert tune_study._finished(optuna, study) == 3
