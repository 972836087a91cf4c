"""benchmarks/table2_cpu.sh: every command of its lanes parses, the cells it
names are the missing Table 2 cells (the committed ones skipped), two lanes
never run one step, and an unknown command is refused."""
import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'table2_cpu.sh')
pytestmark = pytest.mark.skipif(shutil.which('bash') is None,
                                reason='bash not found')

# Stands in for python: records its arguments; the script's own helpers
# (python - ..., their program on stdin) run with the real Python.
STUB = '''import subprocess, sys
if sys.argv[1:2] == ['-']:
    sys.exit(subprocess.run([{python!r}] + sys.argv[1:]).returncode)
with open(sys.argv[0] + '.calls', 'a') as f:
    f.write(' '.join(sys.argv[1:]) + '\\n')
'''
VARIANTS = ('base', 'transition', 'reweight')


def sweep_cells(folder, scores):
    # adar_sweep.py result files of the SASRec λ sweep, as written today
    # (settings nested by section) and by older versions (a flat 'args').
    folder.mkdir(parents=True, exist_ok=True)
    for k, (lam, score) in enumerate(scores.items()):
        cell = {'val': {'recall@20': score}}
        if k % 2:
            cell['args'] = {'adar_weight': lam}
        else:
            cell['settings'] = {'adar': {'weight': lam}}
        (folder / f'sasrec_lambda_{lam}.json').write_text(json.dumps(
            {'cells': {f'sasrec/reweight/lambda={lam}/seed0': cell}}))


def run_script(command, folder):
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / 'python_stub.py'
    stub.write_text(STUB.format(python=sys.executable))
    wrapper = folder / 'python'
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {stub} "$@"\n')
    wrapper.chmod(0o755)
    proc = subprocess.run(['bash', SCRIPT, command], capture_output=True,
                          text=True, timeout=120, cwd=folder,
                          env={**os.environ, 'PYTHON': str(wrapper)})
    calls = (folder / 'python_stub.py.calls').read_text().splitlines() \
        if (folder / 'python_stub.py.calls').exists() else []
    return proc, [shlex.split(c) for c in calls]


def table_cells(calls):
    table2 = load_script('benchmarks/table2.py')
    cells, outs = set(), set()
    for argv in calls:
        if argv[0] == 'benchmarks/table2.py':
            args = table2.parse_args(argv[1:])
            assert args.cfg.run.threads == 1
            outs.add(args.out)
            cells |= {(d, m, v, s) for d in args.datasets
                      for m in args.models for v in args.variants
                      for s in args.seeds}
    return cells, outs


def test_lane_runs_the_missing_cells(tmp_path):
    # λ 0.7 validates best in the SASRec sweep:
    sweep_cells(tmp_path / 'runs' / 't2',
                {0.3: 0.05, 0.5: 0.06, 0.7: 0.08, 1.0: 0.07})
    # Committed: LightGCN Yelp seeds 0-3, and the base of GRU4Rec's seed 1.
    results = tmp_path / 'benchmarks' / 'results'
    results.mkdir(parents=True)
    done = {f'yelp/lightgcn/{v}/seed{s}': {} for v in VARIANTS
            for s in range(4)}
    (results / 'table2_cf.json').write_text(json.dumps({'cells': done}))
    (results / 'table2_sr.json').write_text(json.dumps(
        {'cells': {'yelp/gru4rec/base/seed1': {}}}))
    proc, calls = run_script('lane', tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'control λ (Beauty validation R@20, seed 0): 0.7' in proc.stdout
    cells, outs = table_cells(calls)
    want = {('yelp', 'lightgcn', v, 4) for v in VARIANTS}
    want |= {('yelp', 'gru4rec', v, s) for v in VARIANTS for s in range(5)}
    want.remove(('yelp', 'gru4rec', 'base', 1))
    want |= {(d, m, v, s) for d in ('toys', 'sports', 'yelp')
             for m in ('ngcf', 'sasrec') for v in VARIANTS for s in range(3)}
    want |= {('beauty', 'sasrec', v, s) for v in VARIANTS[1:]
             for s in range(3)}
    assert cells == want
    # one step per command, each to its own file:
    assert len(outs) == len([a for a in calls
                             if a[0] == 'benchmarks/table2.py'])
    sasrec = [a for a in calls if 'sasrec' in a and
              a[0] == 'benchmarks/table2.py']
    assert sasrec and all(a[a.index('--control-weight') + 1] == '0.7'
                          for a in sasrec)
    # the sweep's files exist: it is not run again
    assert not any(a[0] == 'benchmarks/adar_sweep.py' for a in calls)

    # `merge` folds every step's result file in, per task:
    for out in outs:
        (tmp_path / f'{out}.json').write_text('{}')
    proc, calls = run_script('merge', tmp_path)
    assert proc.returncode == 0, proc.stderr
    merged = {f for argv in calls if '--merge' in argv
              for f in argv[argv.index('--merge') + 1:argv.index('--out')]}
    assert merged == {f'{out}.json' for out in outs}


def test_claims(tmp_path):
    # A step claimed by a live process (this test) is left to it; the claim
    # of a process that died is taken over.
    claims = tmp_path / 'runs' / 't2' / 'claims'
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    for step, pid in (('cf_yelp_lightgcn_0', os.getpid()),
                      ('cf_yelp_lightgcn_1', dead.pid)):
        (claims / step).mkdir(parents=True)
        (claims / step / 'pid').write_text(str(pid))
    proc, calls = run_script('lane', tmp_path)
    cells, _ = table_cells(calls)
    lightgcn = {s for d, m, v, s in cells if m == 'lightgcn'}
    assert lightgcn == {1, 2, 3, 4}
    # every step run is claimed by the lane
    assert (claims / 'cf_yelp_lightgcn_2' / 'pid').exists()


def test_a_finished_sweep_step_of_a_live_lane_is_not_waited_for(tmp_path):
    # Two lanes that each ran a sweep step, then waited for the other's
    # (both alive, each holding its claim) waited forever.
    sweep_cells(tmp_path / 'runs' / 't2',
                {0.3: 0.05, 0.5: 0.09, 0.7: 0.08, 1.0: 0.07})
    claims = tmp_path / 'runs' / 't2' / 'claims'
    for lam in (0.3, 0.5, 0.7, 1.0):
        (claims / f'sasrec_lambda_{lam}').mkdir(parents=True)
        (claims / f'sasrec_lambda_{lam}' / 'pid').write_text(
            str(os.getpid()))  # (a live process: this test)
    proc, calls = run_script('lane', tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'SASRec control λ (Beauty validation R@20, seed 0): 0.5' in \
        proc.stdout
    cells, _ = table_cells(calls)
    assert ('toys', 'sasrec', 'reweight', 2) in cells


def test_lane_stops_without_a_sweep(tmp_path):
    proc, calls = run_script('lane', tmp_path)
    assert proc.returncode == 1
    assert 'no SASRec λ sweep cell' in proc.stderr
    sweeps = [a for a in calls if a[0] == 'benchmarks/adar_sweep.py']
    assert [a[a.index('--values') + 1] for a in sweeps] == \
        ['0.3', '0.5', '0.7', '1.0']
    assert not any('sasrec' in a and a[0] == 'benchmarks/table2.py'
                   for a in calls)


def test_merge_skips_missing_lanes(tmp_path):
    proc, calls = run_script('merge', tmp_path)
    assert proc.returncode == 0, proc.stderr
    # No lane output exists in tmp_path: only the summary is rebuilt.
    assert calls == [['benchmarks/table2_summary.py']]


def test_unknown_command():
    proc = subprocess.run(['bash', SCRIPT, 'gpu'], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert 'usage' in proc.stderr


def committed_sweep(folder):
    # The committed merge of the SASRec λ sweep (best λ 0.7), no runs/t2.
    results = folder / 'benchmarks' / 'results'
    sweep_cells(results, {0.3: 0.05, 0.5: 0.06, 0.7: 0.08, 1.0: 0.07})
    cells = {}
    for lam in (0.3, 0.5, 0.7, 1.0):
        cells.update(json.loads((results / f'sasrec_lambda_{lam}.json')
                                .read_text())['cells'])
        (results / f'sasrec_lambda_{lam}.json').unlink()
    (results / 'table2_sasrec_lambda.json').write_text(
        json.dumps({'cells': cells}))
    return results


def test_a_machine_without_runs_uses_what_git_holds(tmp_path):
    # The committed merge of the SASRec sweep stands in for runs/t2's files
    # (not trained again), and each comparison is put back from its carried
    # journals before it continues; `carry` saves the comparisons there are.
    committed_sweep(tmp_path)
    proc, calls = run_script('lane', tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'control λ (Beauty validation R@20, seed 0): 0.7' in proc.stdout
    assert not any(a[0] == 'benchmarks/adar_sweep.py' for a in calls)
    steps = [a for a in calls if a[0] in ('benchmarks/compare_carry.py',
                                          '-m')]
    names = ('gru4rec', 'mixgcf', 'ngcf')
    assert [a[:2] for a in steps] == [
        x for n in names for x in (
            ['benchmarks/compare_carry.py', 'restore'], ['-m', 'adar_pyg'])]
    for n, (restore, compare) in zip(names, zip(steps[::2], steps[1::2])):
        folder = f'runs/compare/{n}_beauty'
        assert restore[2:] == [folder, f'benchmarks/results/compare/carry/'
                               f'{n}_beauty']
        assert compare[compare.index('--out') + 1] == folder
    (tmp_path / 'runs' / 'compare' / 'ngcf_beauty').mkdir(parents=True)
    proc, calls = run_script('carry', tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert calls[-1] == ['benchmarks/compare_carry.py', 'save',
                         'runs/compare/ngcf_beauty',
                         'benchmarks/results/compare/carry/ngcf_beauty']


def test_a_comparison_with_its_report_committed_is_done(tmp_path):
    # MixGCF's report is committed: the lane runs GRU4Rec's and NGCF's
    # comparisons only, and `carry` saves no journal for MixGCF's folder.
    results = committed_sweep(tmp_path)
    report = results / 'compare' / 'mixgcf_beauty' / 'compare.md'
    report.parent.mkdir(parents=True)
    report.write_text('# 3 arms at equal budget\n')
    proc, calls = run_script('lane', tmp_path)
    assert proc.returncode == 0, proc.stderr
    outs = [a[a.index('--out') + 1] for a in calls if a[:2] == ['-m',
                                                               'adar_pyg']]
    assert outs == ['runs/compare/gru4rec_beauty', 'runs/compare/ngcf_beauty']
    for name in ('mixgcf', 'ngcf'):
        (tmp_path / 'runs' / 'compare' / f'{name}_beauty').mkdir(
            parents=True, exist_ok=True)
    proc, calls = run_script('carry', tmp_path)
    assert proc.returncode == 0, proc.stderr
    saved = [a[2] for a in calls if a[:2] == ['benchmarks/compare_carry.py',
                                              'save']]
    assert saved == ['runs/compare/ngcf_beauty']
