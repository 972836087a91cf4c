"""adar_pyg.tune.compare (adar-pyg compare) on a tiny CSV: two arms tuned
with the same trials on validation, the best of each trained over seeds and
tested once, paired t-tests equal to scipy's on the seed runs' results,
everything reused when run again, and a bad arms file refused before any
training."""
import json
import math
import os
import shutil
import time

import pytest
import yaml
from scipy import stats

from adar_pyg import run
from adar_pyg.cli import main
from adar_pyg.config import Config, ConfigError
from adar_pyg.errors import RunDirError, UsageError
from adar_pyg.tune import compare, compare_status, parse_arms
from adar_pyg.tune import comparison
from adar_pyg.tune.comparison import foreign_files

from scripts import snapshot
from test_study import config, write_csv

pytest.importorskip('optuna')

QUIET = dict(plot=False, log=lambda line: None)
LR = {'train.lr': {'log_uniform': [1e-3, 5e-2]}}
ARMS = {'arms': {
    'base': {'space': LR},
    'reweight': {'set': {'train.augmenter': 'reweight'},
                 'space': {**LR, 'adar.weight': {'choices': [0.5, 1.0]}}}}}
METRICS = ('recall@10', 'recall@20', 'ndcg@10', 'ndcg@20')


def tiny(csv):
    return config(csv, epochs=1)  # Trainings of one epoch: 8 in all.


@pytest.fixture(scope='module')
def csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp('data') / 'ratings.csv')


@pytest.fixture(scope='module')
def done(csv, tmp_path_factory):
    r"""One comparison: 2 arms, 2 trials each, 2 seeds (8 trainings)."""
    out = tmp_path_factory.mktemp('cmp') / 'cmp'
    lines = []
    table = compare(tiny(csv), ARMS, trials=2, seeds=2, out=out,
                    log=lines.append, plot=False)
    return out, table, lines


def read(path):
    return json.loads(path.read_text())


def test_folder_table_and_tests(done):
    out, table, lines = done
    for name in ('compare.md', 'compare.json', 'compare.png',
                 'tuning-base.png',
                 'tuning-reweight.png', 'base/study/study.db',
                 'reweight/seeds.json'):
        assert (out / name).exists(), name
    # One line per finished trial and per seed run:
    assert sum(': trial ' in line for line in lines) == 4
    assert sum(' seed ' in line and 'trained' in line
               for line in lines) == 4
    assert list(table.index) == ['base', 'reweight']
    assert table.loc['base', 'seeds'] == 2 == table.loc['reweight', 'seeds']
    info = read(out / 'compare.json')
    assert info['seeds'] == [0, 1] and info['base'] == 'base'
    for arm in ('base', 'reweight'):
        test = {s: read(out / arm / f'seed-{s}' / 'result.json')['test']
                for s in (0, 1)}
        for m in METRICS:
            vals = [test[s][m] for s in (0, 1)]
            assert table.loc[arm, m] == pytest.approx(sum(vals) / 2)
            assert table.loc[arm, f'{m}_std'] == pytest.approx(
                stats.tstd(vals))
        # The seed runs are the best trial's config, with their own seed:
        best = info['arms'][arm]['best']
        trial = Config.load(str(out / arm / 'study' /
                                f"trial-{best['number']}" / 'config.yaml'))
        for s in (0, 1):
            cfg = Config.load(str(out / arm / f'seed-{s}' / 'config.yaml'))
            assert cfg.run.seed == s and cfg.split.split_seed == 0
            assert cfg.train.lr == trial.train.lr == best['params'][
                'train.lr']
            assert cfg.train.augmenter == trial.train.augmenter
        budget = info['arms'][arm]['budget']
        assert budget['trials'] == 2 and budget['seed_epochs'] == sum(
            read(out / arm / f'seed-{s}' / 'result.json')['epochs_run']
            for s in (0, 1))
        assert budget['cpu_seconds'] > 0
    # The p-value is scipy's paired t-test on the seed runs' numbers:
    for m in METRICS:
        a, b = ([read(out / arm / f'seed-{s}' / 'result.json')['test'][m]
                 for s in (0, 1)] for arm in ('base', 'reweight'))
        p = stats.ttest_rel(b, a).pvalue
        got = table.loc['reweight', f'{m}_p_vs_base']
        assert got == pytest.approx(p, nan_ok=True) or (
            math.isnan(p) and got == 1.0)  # Equal numbers: no difference.
        # One comparison: Holm changes nothing.
        assert table.loc['reweight', f'{m}_holm_vs_base'] == \
            pytest.approx(got, nan_ok=True)
    md = (out / 'compare.md').read_text()
    for part in ('## Test metrics', '## Paired t-tests', '## Budget',
                 '![base](tuning-base.png)', '(compare.png)',
                 'optuna-dashboard'):
        assert part in md


def test_trials_never_hold_test_metrics(done):
    out = done[0]
    for arm in ('base', 'reweight'):
        for n in (0, 1):
            folder = out / arm / 'study' / f'trial-{n}'
            records = [json.loads(line) for line in
                       (folder / 'metrics.jsonl').read_text().splitlines()]
            result = read(folder / 'result.json')
            assert 'test' not in result
            for record in [result['val'], *records]:
                assert not any(k.startswith('test') for k in record)
        for s in (0, 1):
            assert set(METRICS) <= set(read(
                out / arm / f'seed-{s}' / 'result.json')['test'])


def test_again_reuses_every_trial_and_seed_run(done, csv, monkeypatch,
                                               capsys):
    out = done[0]
    results = sorted(out.glob('*/seed-*/result.json')) + sorted(
        out.glob('*/study/trial-*/result.json'))
    assert len(results) == 8
    mtimes = [os.stat(p).st_mtime_ns for p in results]
    trained = []
    monkeypatch.setattr(run, 'train', lambda *a, **k: trained.append(a))
    table = compare(tiny(csv), ARMS, trials=2, seeds=2, out=out, **QUIET)
    assert trained == [] and [os.stat(p).st_mtime_ns for p in results] == \
        mtimes
    assert table.equals(done[1])
    # The command, with the same settings as flags, reuses them too:
    arms = out.parent / 'arms.yaml'
    arms.write_text(yaml.safe_dump(ARMS))
    main(['compare', '--arms', str(arms), '--trials', '2', '--seeds', '2',
          '--data', str(csv), '--device', 'cpu', '--threads', '1', '--dim',
          '8', '--layers', '1', '--epochs', '1', '--batch-size', '64',
          '--monitor', 'recall@10', '--out', str(out)])
    printed = capsys.readouterr().out
    assert trained == [] and printed.count('reused') == 4
    assert 'reweight: test recall@10' in printed and 'vs base p' in printed
    # Each call is recorded, the command with its paths relative:
    sessions = read(out / 'compare.json')['sessions']
    assert [s['command'] for s in sessions] == ['python', 'python', (
        f'adar-pyg compare --arms {os.path.relpath(arms)} --trials 2 --seeds '
        f'2 --data {os.path.relpath(csv)} --device cpu --threads 1 --dim 8 '
        f'--layers 1 --epochs 1 --batch-size 64 --monitor recall@10 --out '
        f'{os.path.relpath(out)}')]
    assert all(s['wall_seconds'] >= 0 and s['cpu_seconds'] >= 0 and
               s['started'].endswith('+00:00') for s in sessions)
    md = (out / 'compare.md').read_text()
    assert f"| `{sessions[2]['command']}` | {sessions[2]['started']} | 0:00:" \
        in md
    # An arm whose space changed is refused before any arm trains:
    changed = {'arms': {**ARMS['arms'], 'reweight': {
        **ARMS['arms']['reweight'], 'space': LR}}}
    with pytest.raises(UsageError, match="'.*reweight.study' was started "
                       'with another space'):
        compare(tiny(csv), changed, trials=3, seeds=2, out=out, **QUIET)
    assert trained == []


def test_every_worker_says_its_trials(csv, tmp_path, capfd, monkeypatch):
    r"""With --workers, the trials run by the workers are said too (each
    arm's line per trial), not only those of the calling process."""
    from adar_pyg.tune import study as tune_study
    optimize = tune_study._optimize

    def late(*args, **kwargs):  # The calling process's trials start once
        time.sleep(20)  # the worker ran them all (it is spawned: its
        return optimize(*args, **kwargs)  # _optimize is not this one).

    monkeypatch.setattr(tune_study, '_optimize', late)
    arms = tmp_path / 'arms.yaml'
    arms.write_text(yaml.safe_dump(ARMS))
    main(['compare', '--arms', str(arms), '--trials', '3', '--seeds', '1',
          '--data', str(csv), '--device', 'cpu', '--threads', '1', '--dim',
          '8', '--layers', '1', '--epochs', '1', '--batch-size', '64',
          '--monitor', 'recall@10', '--workers', '2', '--out',
          str(tmp_path / 'cmp')])
    printed = capfd.readouterr().out.splitlines()
    for arm in ARMS['arms']:
        said = sorted(int(line.split()[2].rstrip(':')) for line in printed
                      if line.startswith(f'{arm}: trial '))
        assert said == [0, 1, 2]


def test_status_reads_where_it_stands(done, csv, capsys):
    out = done[0]
    before = snapshot(out)
    status = compare_status(tiny(csv), ARMS, trials=2, seeds=2, out=out)
    result = read(out / 'compare.json')
    for arm in ('base', 'reweight'):
        row, budget = status.loc[arm], result['arms'][arm]['budget']
        assert (row['trials'], row['seeds_done'], row['cpu_seconds_left']) \
            == (2, 2, 0)
        assert row['cpu_seconds'] == pytest.approx(budget['cpu_seconds'])
        assert row['best_trial'] == result['arms'][arm]['best']['number']
    # With a larger budget: the mean trial and seed run of each arm, times
    # the trials and seed runs left:
    more = compare_status(tiny(csv), ARMS, trials=3, seeds=3, out=out)
    for arm in ('base', 'reweight'):
        trials = read(out / arm / 'study' / 'tune.json')['trials']
        seeds = read(out / arm / 'seeds.json')
        left = (sum(t['cpu_seconds'] for t in trials) / len(trials) +
                sum(s['cpu_seconds'] for s in seeds.values()) / len(seeds))
        assert more.loc[arm, 'cpu_seconds_left'] == pytest.approx(left)
        assert more.loc[arm, 'seeds_done'] == 2  # (seed 2 is not run yet)
    arms = out.parent / 'arms-status.yaml'
    arms.write_text(yaml.safe_dump(ARMS))
    main(['compare', '--arms', str(arms), '--trials', '2', '--seeds', '2',
          '--data', str(csv), '--device', 'cpu', '--threads', '1', '--dim',
          '8', '--layers', '1', '--epochs', '1', '--batch-size', '64',
          '--monitor', 'recall@10', '--out', str(out), '--status'])
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[:2] == ['base', '2/2'] and \
        printed[-1].endswith('killed trials are run again)')
    assert snapshot(out) == before
    with pytest.raises(UsageError, match='no comparison folder'):
        compare_status(tiny(csv), ARMS, 2, 2, out.parent / 'none')


def test_status_and_compare_refuse_what_they_cannot_trust(done, csv,
                                                         tmp_path):
    r"""--status makes compare's checks: another config is refused, and so
    is a folder that holds no comparison (a run directory, a file, an
    empty folder), before anything is read or written."""
    out = done[0]
    before = snapshot(out)
    with pytest.raises(UsageError, match='another config'):
        compare_status(config(csv, epochs=2), ARMS, 2, 2, out)
    other = {'arms': {**ARMS['arms'], 'base': {'space': {
        'train.lr': {'log_uniform': [1e-3, 1e-2]}}}}}
    with pytest.raises(UsageError, match='another space'):
        compare_status(tiny(csv), other, 2, 2, out)
    assert snapshot(out) == before
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UsageError, match='holds no study of the arms'):
        compare_status(tiny(csv), ARMS, 2, 2, tmp_path / 'empty')
    shutil.copytree(out / 'base' / 'seed-0', tmp_path / 'run')
    (tmp_path / 'file').write_text('x')
    for folder, match in (('run', "not a comparison's \\(checkpoints/"),
                          ('file', 'is a file')):
        for fn, kw in ((compare_status, {}), (compare, QUIET)):
            with pytest.raises(RunDirError, match=match) as e:
                fn(tiny(csv), ARMS, 2, 2, tmp_path / folder, **kw)
            # (--status reads: it never says it refuses to write)
            assert ('refusing to write' in str(e.value)) is (
                fn is compare and folder == 'run')
    assert sorted(os.listdir(tmp_path / 'run')) == sorted(
        os.listdir(out / 'base' / 'seed-0'))
    # What a comparison killed while writing leaves is its own:
    (tmp_path / 'cmp').mkdir()
    (tmp_path / 'cmp' / '.tuning-base.png.12345-0123abcd.part').write_text(
        '')
    assert foreign_files(str(tmp_path / 'cmp')) == []


def test_fewer_trials_than_a_study_holds_are_refused(done, csv,
                                                     monkeypatch):
    r"""A smaller --trials than an arm's study holds would choose that
    arm's best among more trials than the others': compare and --status
    refuse it before anything trains or is written."""
    out = done[0]
    before = snapshot(out)
    trained = []
    monkeypatch.setattr(run, 'train', lambda *a, **k: trained.append(a))
    for fn, kw in ((compare, QUIET), (compare_status, {})):
        with pytest.raises(UsageError, match="arm 'base' holds 2 finished "
                           'trials, more than its budget of 1 '
                           '\\(--trials 1\\)') as e:
            fn(tiny(csv), ARMS, 1, 2, out, **kw)
        assert '--trials 2 or more' in e.value.hint
    assert trained == [] and snapshot(out) == before


def test_a_trial_still_running_is_not_taken_for_the_best(done, csv,
                                                         tmp_path,
                                                         monkeypatch):
    r"""A trial that is running (in another process, or killed in the
    minute before its run directory or result is written, not yet known to
    be dead) holds its place in the budget: the arm's best is not known, so
    compare stops with a clear error instead of testing the best of the
    others and writing a report."""
    import optuna

    from adar_pyg.tune import study as tune_study
    out = tmp_path / 'cmp'
    shutil.copytree(done[0], out)
    for name in ('compare.json', 'compare.md'):
        (out / name).unlink()
    folder = str(out / 'base' / 'study')
    tune_study.load_existing(optuna, folder).ask()  # trial 2, running
    trained = []
    monkeypatch.setattr(run, 'train', lambda *a, **k: trained.append(a))
    with pytest.raises(UsageError, match="arm 'base': trial 2 is still "
                       'running') as e:
        compare(tiny(csv), ARMS, 3, 2, out, **QUIET)
    assert 'run the command again' in e.value.hint
    assert trained == [] and not (out / 'compare.json').exists()
    assert compare_status(tiny(csv), ARMS, 3, 2, out).loc[
        'base', 'running'] == 1


def test_status_of_a_comparison_without_the_median_pruner(csv, tmp_path,
                                                          capsys):
    out, arms = tmp_path / 'cmp', tmp_path / 'arms.yaml'
    arms.write_text(yaml.safe_dump(ARMS))
    flags = ['compare', '--arms', str(arms), '--trials', '1', '--seeds',
             '1', '--data', str(csv), '--device', 'cpu', '--threads', '1',
             '--dim', '8', '--layers', '1', '--epochs', '1',
             '--batch-size', '64', '--monitor', 'recall@10', '--out',
             str(out), '--no-progress']
    main([*flags, '--no-prune'])
    capsys.readouterr()
    main([*flags, '--no-prune', '--status'])
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == [
        'base', '1/1']
    assert compare_status(tiny(csv), ARMS, 1, 1, out, prune=False).loc[
        'reweight', 'trials'] == 1
    with pytest.raises(UsageError, match='started with the pruner'):
        compare_status(tiny(csv), ARMS, 1, 1, out)


class Stop(Exception):
    r"""A seed run stopped in its second evaluation (as if killed)."""


def test_a_killed_seed_run_continues(csv, tmp_path, monkeypatch):
    out, cfg, train = tmp_path / 'cmp', config(csv, epochs=2), run.train

    def stopped(c, folder, **kwargs):
        def on_evaluate(record):
            if record['epoch'] == 2:
                raise Stop
        if folder.endswith(os.path.join('base', 'seed-1')):
            kwargs['on_evaluate'] = on_evaluate
        return train(c, folder, **kwargs)

    monkeypatch.setattr(run, 'train', stopped)
    lines = []
    with pytest.raises(Stop):
        compare(cfg, ARMS, trials=1, seeds=2, out=out, plot=False,
                log=lines.append)
    folder = out / 'base' / 'seed-1'
    assert not (folder / 'result.json').exists()
    before = (folder / 'metrics.jsonl').read_text().splitlines()
    # Seed 0 was told as it finished, and the stopped call is in the ledger
    # up to it (written after seed 0's entry in seeds.json):
    assert lines[-1].startswith('base: seed 0 (trial 0): trained; test '), \
        lines
    stopped_call, = read(out / 'sessions.json')
    assert not stopped_call['finished'] and stopped_call['cpu_seconds'] > 0
    assert (out / 'sessions.json').stat().st_mtime_ns >= \
        (out / 'base' / 'seeds.json').stat().st_mtime_ns
    assert not (out / 'compare.json').exists()
    monkeypatch.setattr(run, 'train', train)
    lines = []
    compare(cfg, ARMS, trials=1, seeds=2, out=out, log=lines.append,
            plot=False)
    assert any(line.startswith('base: seed 1 (trial 0): continued from its '
                               'last evaluation') for line in lines), lines
    after = (folder / 'metrics.jsonl').read_text().splitlines()
    assert after[0] == before[0] and len(after) == 2  # Epoch 1 kept.
    sessions = read(out / 'compare.json')['sessions']
    assert sessions[0] == stopped_call and sessions[1]['finished']
    assert read(out / 'sessions.json') == sessions
    stopped_row = (f"| `python` | {stopped_call['started']} | "
                   f"{comparison._hms(stopped_call['wall_seconds'])} "
                   f"*stopped* |")
    assert stopped_row in (out / 'compare.md').read_text()
    # The result of an uninterrupted run:
    ref = train(Config.load(str(folder / 'config.yaml')),
                str(tmp_path / 'ref'), progress=False, **QUIET)
    assert read(folder / 'result.json')['test'] == ref['test']


def test_the_budget_of_killed_trials():
    from adar_pyg.tune.comparison import _budget
    done = dict(state='complete', epochs_run=3, epochs=3, cpu_seconds=2.0)
    killed = dict(state='killed', epochs_run=None, cpu_seconds=None)
    summary = {'counts': {'complete': 3, 'pruned': 0, 'fail': 0,
                          'killed': 2}, 'trials': [
        done, {**killed, 'epochs': 2, 'moved_to': 'trial-2'},
        {**done, 'cpu_seconds': 1.0},  # (continues trial 1: 1 more epoch)
        {**killed, 'epochs': 1},  # trained again from scratch by trial 4:
        {**done, 'cpu_seconds': 2.5}]}
    budget = _budget(summary, {'epochs': {'0': 3},
                               'cpu_seconds': {'0': 1.5}})
    assert budget['trials'] == 3 and budget['killed'] == 2
    assert budget['tuning_epochs'] == 3 + 3 + 1 + 3  # Trial 1's in trial 2.
    assert budget['tuning_cpu_seconds'] == 5.5  # Unknown: the killed ones'.
    assert budget['cpu_seconds'] == 7.0 and budget['epochs'] == 13
    # A trial stopped by Ctrl-C recorded its CPU seconds: they count.
    summary['trials'][3]['cpu_seconds'] = 0.75
    assert _budget(summary, {'epochs': {'0': 3}, 'cpu_seconds': {'0': 1.5}}
                   )['tuning_cpu_seconds'] == 6.25


def test_a_stopped_trials_cpu_counts_in_the_budget_and_the_status(
        csv, tmp_path, monkeypatch):
    r"""A trial stopped by Ctrl-C recorded its CPU seconds before it
    stopped: the report's budget and --status count them (a trial killed by
    a signal recorded none: those are left out)."""
    from test_study import stopped_at_trial_1
    cfg, out, train = config(csv, epochs=3), tmp_path / 'cmp', run.train

    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(run, 'train', stopped_at_trial_1(ctrl_c))
    with pytest.raises(KeyboardInterrupt):
        compare(cfg, ARMS, trials=2, seeds=1, out=out, **QUIET)
    monkeypatch.setattr(run, 'train', train)
    compare(cfg, ARMS, trials=2, seeds=1, out=out, **QUIET)
    budget = read(out / 'compare.json')['arms']['base']['budget']
    trials = read(out / 'base' / 'study' / 'tune.json')['trials']
    killed, = [t for t in trials if t['state'] == 'killed']
    assert killed['cpu_seconds'] > 0 and budget['killed'] == 1
    assert budget['tuning_cpu_seconds'] == pytest.approx(
        sum(t['cpu_seconds'] for t in trials))
    status = compare_status(cfg, ARMS, 2, 1, out)
    assert status.loc['base', 'cpu_seconds'] == pytest.approx(
        budget['cpu_seconds'])


@pytest.mark.parametrize('arms, match', [
    ({'arms': {'adar': {'space': LR}, 'reweight': {'space': LR}}},
     "no arm 'base'"),
    ({'arms': {'base': {'space': LR}, 'x': {'spaec': LR}}},
     "unknown key 'spaec' \\(did you mean 'space'\\?\\)"),
    ({'arm': {'base': {'space': LR}}}, "an arms file is a mapping"),
    ({'arms': {'base': {'space': LR}, 'x': {'space': LR}}, 'contrls': []},
     "unknown key 'contrls'"),
    ({'arms': {'base': {'space': LR}, 'x': {'space': LR}},
      'controls': ['y']}, "control 'y' is not an arm"),
    ({'arms': {'base': {'space': LR},
               'x': {'space': {'train.lr': {'uniform': [0.2, 0.1]}}}}},
     'arms.x.space: .train.lr.: uniform needs low < high'),
    ({'arms': {'base': {'space': LR},
               'x': {'set': {'train.augmentr': 'adar'}, 'space': LR}}},
     "arms.x.set: .*unknown setting 'train.augmentr'"),
    ({'arms': {'base': {'space': LR},
               'x': {'set': {'adar.augmenter': 'adar'}, 'space': LR}}},
     "'adar.augmenter'.* \\(it belongs to section 'train'\\)"),
    ({'arms': {'base': {'space': LR},
               'x': {'set': {'train.augmenter': 'magic'}, 'space': LR}}},
     'arms.x.set: .*magic'),
    ({'arms': {'base': {'space': LR},
               'x': {'set': {'data.k_core': 2}, 'space': LR}}},
     'cannot differ between arms'),
    ({'arms': {'base': {'space': LR}, 'x': {'set': {'train.lr': 0.01},
                                            'space': LR}}},
     "'train.lr' is both set and tuned"),
    ({'arms': {'base': {'space': LR}, 'a/b': {'space': LR}}},
     "folder's name"),
    ({'arms': {'base': {'space': LR}, 'compare.md': {'space': LR}}},
     "folder's name"),
    ({'arms': {'base': {'space': LR}, 'x': {'space': LR},
               'X': {'space': LR}}}, 'differ only in case'),
    ({'arms': {'base': {'space': LR}, 'x': {'space': LR}},
      'controls': [['x']]}, 'controls: a list of arm names'),
    ({'arms': {'base': {'space': LR}, 'x': {'set': [], 'space': LR}}},
     "arms.x.set: a mapping"),
])
def test_bad_arms_refused_before_any_training(csv, tmp_path, monkeypatch,
                                              arms, match):
    trained = []
    monkeypatch.setattr(run, 'train', lambda *a, **k: trained.append(a))
    out = tmp_path / 'cmp'
    with pytest.raises(ConfigError, match=match):
        compare(tiny(csv), arms, trials=2, seeds=2, out=out, **QUIET)
    assert trained == [] and not out.exists()


def test_set_reads_an_exponent_as_a_number(csv):
    arms = parse_arms(yaml.safe_load(
        'arms: {base: {space: {train.lr: {uniform: [1.0e-3, 1.0e-2]}}}, '
        'x: {set: {train.l2: 1e-4}, space: {train.lr: {uniform: [1.0e-3, '
        '1.0e-2]}}}}'), tiny(csv))  # (YAML reads 1e-4 as text)
    assert arms['x'].config.train.l2 == 1e-4


def test_bad_arms_file_on_the_command_line(csv, tmp_path, capsys):
    arms = tmp_path / 'arms.yaml'
    arms.write_text('arms:\n  adar: {space: {train.lr: {uniform: [0.1, '
                    '0.2]}}}\n  reweight: {space: {train.lr: {uniform: '
                    '[0.1, 0.2]}}}\n')
    with pytest.raises(SystemExit) as e:
        main(['compare', '--arms', str(arms), '--trials', '1', '--data',
              str(csv), '--out', str(tmp_path / 'cmp')])
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('adar-pyg: error: ') and "no arm 'base'" in \
        err[0]
    assert not (tmp_path / 'cmp').exists()


def test_one_seed_on_the_command_line_claims_no_spread(csv, tmp_path,
                                                       capsys):
    arms = tmp_path / 'arms.yaml'
    arms.write_text(yaml.safe_dump(ARMS))
    main(['compare', '--arms', str(arms), '--trials', '1', '--seeds', '1',
          '--data', str(csv), '--device', 'cpu', '--threads', '1', '--dim',
          '8', '--layers', '1', '--epochs', '1', '--batch-size', '64',
          '--monitor', 'recall@10', '--out', str(tmp_path / 'cmp')])
    lines = [line for line in capsys.readouterr().out.splitlines()
             if ': test ' in line]
    assert [line.split(':')[0] for line in lines] == ['base', 'reweight']
    assert all(line.endswith('over 1 seed (no spread, no test)')
               for line in lines), lines


def test_comparisons_with_a_control():
    arms = parse_arms({'controls': ['reweight'], 'arms': {
        'adar': {'set': {'train.augmenter': 'adar'}, 'space': LR},
        'reweight': {'set': {'train.augmenter': 'reweight'}, 'space': LR},
        'base': {'space': LR}}}, Config.build())
    assert arms.names == ['base', 'adar', 'reweight']  # The base first.
    assert arms.comparisons() == [('adar', 'base'), ('reweight', 'base'),
                                  ('adar', 'reweight')]
    # --controls adds to the file's:
    assert parse_arms(arms.to_dict(), Config.build(), controls=['adar']
                      ).controls == ('reweight', 'adar')
    with pytest.raises(UsageError, match='is the base arm'):
        parse_arms(arms.to_dict(), Config.build(), controls=['base'])


def test_holm_over_the_comparisons_of_each_metric():
    # Three arms, made-up test numbers of three seeds: the table's p-values
    # are scipy's, Holm-corrected over the three comparisons.
    from adar_pyg.report import holm
    from adar_pyg.tune.comparison import _result, table
    arms = parse_arms({'controls': ['reweight'], 'arms': {
        'base': {'space': LR},
        'adar': {'set': {'train.augmenter': 'adar'}, 'space': LR},
        'reweight': {'set': {'train.augmenter': 'reweight'}, 'space': LR}}},
        Config.build())
    numbers = {'base': [0.10, 0.12, 0.11], 'adar': [0.13, 0.16, 0.14],
               'reweight': [0.11, 0.125, 0.118]}
    info = {name: {'test': {str(s): {m: v + 0.01 * i
                                     for i, m in enumerate(METRICS)}
                            for s, v in enumerate(vals)},
                   'best': {'number': 0, 'value': 0.5},
                   'budget': {'trials': 2, 'epochs': 4, 'cpu_seconds': 1.0}}
            for name, vals in numbers.items()}
    result = _result(Config.build(), arms, 2, [0, 1, 2], info)
    rows = {r['arm']: r for r in table(result)}
    pairs = [('adar', 'base'), ('reweight', 'base'), ('adar', 'reweight')]
    p = [stats.ttest_rel(numbers[a], numbers[b]).pvalue for a, b in pairs]
    for (a, b), raw, q in zip(pairs, p, holm(p)):
        assert rows[a][f'recall@10_p_vs_{b}'] == pytest.approx(raw)
        assert rows[a][f'recall@10_holm_vs_{b}'] == pytest.approx(q)
    assert math.isnan(rows['base']['recall@10_p_vs_base'])
    assert math.isnan(rows['reweight']['recall@10_p_vs_reweight'])


def test_seed_runs_in_two_processes_equal_those_in_one(csv, tmp_path):
    """With workers, an arm's seed runs train in spawned processes (each
    loading the data), with the results of the runs in this process, each
    told once as it finishes."""
    from adar_pyg.tune import comparison
    cfg = comparison.pinned_split(tiny(csv))
    runs, lines = {}, {1: [], 2: []}
    for workers in (1, 2):
        out = str(tmp_path / f'w{workers}')
        runs[workers] = comparison._seed_runs(
            'base', cfg, 0, [0, 1], out, {}, False, False,
            lines[workers].append, workers=workers)
        ledger = read(tmp_path / f'w{workers}' / 'base' / 'seeds.json')
        assert set(ledger) == {'0', '1'}
        assert all(v['cpu_seconds'] > 0 for v in ledger.values())
    assert runs[2]['test'] == runs[1]['test']
    assert runs[2]['epochs'] == runs[1]['epochs']
    assert runs[2]['test']['0'] != runs[2]['test']['1']  # two seeds
    assert len(lines[2]) == 2 and sorted(lines[2]) == lines[1]


def test_seed_runs_that_finish_after_a_failure_count(csv, tmp_path):
    """A failure in this process while spawned seed runs train (a full disk
    when it tells one) stops the comparison; the seed runs not started are
    dropped, and each that finishes is in the ledger, as before it."""
    from adar_pyg.tune import comparison
    cfg = comparison.pinned_split(tiny(csv))
    told = []

    def say(line):
        told.append(line)
        if len(told) == 1:
            raise OSError(28, 'No space left on device')

    with pytest.raises(OSError, match='No space left'):
        comparison._seed_runs('base', cfg, 0, [0, 1, 2], str(tmp_path), {},
                              False, False, say, workers=2)
    finished = {str(s) for s in range(3)
                if (tmp_path / 'base' / f'seed-{s}' / 'result.json').exists()}
    assert len(finished) >= 2  # (the two running when it failed)
    assert set(read(tmp_path / 'base' / 'seeds.json')) == finished
    assert len(told) == len(finished)


def test_carried_studies_continue_on_an_empty_machine(done, csv, tmp_path,
                                                      monkeypatch):
    """benchmarks/compare_carry.py: the arms' studies saved as journals (and
    the ledger and the finished seed runs' records), the folder lost, put
    back: compare reuses every finished trial and seed run (none trained
    again) to the same table, and trains a seed run that was not carried
    again; restore leaves an existing folder alone."""
    import optuna

    from scripts import load_script
    carry_script = load_script('benchmarks/compare_carry.py')
    out, table, _ = done
    carry = tmp_path / 'carry'
    assert carry_script.save(str(out), str(carry)) == ['base', 'reweight']
    assert sorted(os.listdir(carry)) == ['base', 'base.journal', 'reweight',
                                         'reweight.journal', 'sessions.json']
    assert sorted(os.listdir(carry / 'base')) == ['seed-0', 'seed-1',
                                                  'seeds.json']
    assert sorted(os.listdir(carry / 'base' / 'seed-0')) == sorted(
        carry_script.SEED_FILES)  # (no checkpoint)
    shutil.rmtree(carry / 'reweight' / 'seed-1')  # (as if it was running)
    # An arm killed as it created its study (a storage without one) is not
    # carried, and does not stop the others:
    mixed = tmp_path / 'mixed'
    shutil.copytree(out, mixed)
    (mixed / 'new' / 'study').mkdir(parents=True)
    optuna.storages.RDBStorage('sqlite:///' + str(mixed / 'new' / 'study' /
                                                  'study.db'))
    assert carry_script.save(str(mixed), str(tmp_path / 'c2')) == [
        'base', 'reweight']
    moved = tmp_path / 'runs' / 'cmp'  # (runs/ itself is gone too)
    assert carry_script.restore(str(out), str(carry)) == []  # (it exists)
    assert carry_script.restore(str(moved), str(carry)) == ['base',
                                                            'reweight']
    assert sorted(os.listdir(moved)) == ['base', 'reweight', 'sessions.json']
    trained, train = [], run.train

    def counted(c, folder, **kwargs):
        trained.append(os.path.relpath(folder, moved))
        return train(c, folder, **kwargs)

    monkeypatch.setattr(run, 'train', counted)
    again = compare(tiny(csv), ARMS, trials=2, seeds=2, out=moved, **QUIET)
    assert trained == [os.path.join('reweight', 'seed-1')]
    assert again.drop(columns='cpu_seconds').equals(
        table.drop(columns='cpu_seconds'))
    sessions = read(moved / 'compare.json')['sessions']
    assert sessions[:-1] == read(carry / 'sessions.json')


def test_two_calls_of_one_process_in_one_second(tmp_path):
    # (They share the command, the start second and the process id.)
    first = comparison.Sessions(str(tmp_path), 'adar-pyg compare')
    second = comparison.Sessions(str(tmp_path), 'adar-pyg compare')
    first.update(finished=True)
    ledger = second.update()
    assert len(ledger) == 2 == len(comparison.read_sessions(str(tmp_path)))
    assert sorted(s['finished'] for s in ledger) == [False, True]


@pytest.mark.parametrize('ledger', ['sessions.json', 'base/seeds.json'])
@pytest.mark.parametrize('damage', ['{"half', '{"a": 1}', '[1, 2]'])
def test_a_damaged_ledger_is_refused_not_written_again(done, csv, tmp_path,
                                                       ledger, damage):
    r"""A ledger (of the calls, of an arm's seed runs) that cannot be read,
    or holds another type, stops compare and --status with its name before
    anything is trained or written: written again, it would lose what it
    recorded without a word."""
    out = tmp_path / 'cmp'
    shutil.copytree(done[0], out)
    if (ledger == 'sessions.json') == damage.startswith('['):
        damage = '{"half'  # (a list is the type of the calls' ledger)
    (out / ledger).write_text(damage)
    before = snapshot(out)
    for fn, kw in ((compare_status, {}), (compare, QUIET)):
        with pytest.raises(RunDirError, match=r"cannot read the ledger "
                           rf"'.*{ledger}' \(") as e:
            fn(tiny(csv), ARMS, 2, 2, out, **kw)
        assert 'delete it to go on without' in e.value.hint
    assert snapshot(out) == before


def test_calls_update_the_ledger_one_at_a_time(tmp_path):
    import threading
    session = comparison.Sessions(str(tmp_path), 'adar-pyg compare')
    with comparison.ledger_lock(str(tmp_path)):
        other = threading.Thread(target=session.update, args=(True,))
        other.start()
        other.join(0.5)
        assert other.is_alive()  # Waits for the lock.
        assert not read(tmp_path / 'sessions.json')[0]['finished']
    other.join(10)
    assert read(tmp_path / 'sessions.json')[0]['finished']
