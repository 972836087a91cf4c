"""benchmarks/table2_cpu.sh: every command of its lanes parses, the cells it
names are the missing Table 2 cells, and a lane without a name is refused."""
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

# Stands in for python: records its arguments; the λ picker (python -,
# its program on stdin) runs with the real Python.
STUB = '''import subprocess, sys
with open(sys.argv[0] + '.calls', 'a') as f:
    f.write(' '.join(sys.argv[1:]) + '\\n')
if sys.argv[1:] == ['-']:
    sys.exit(subprocess.run([{python!r}, '-']).returncode)
'''


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


def lane_calls(lane, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    stub = tmp_path / 'python_stub.py'
    stub.write_text(STUB.format(python=sys.executable))
    wrapper = tmp_path / 'python'
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {stub} "$@"\n')
    wrapper.chmod(0o755)
    proc = subprocess.run(['bash', SCRIPT, lane], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, 'PYTHON': str(wrapper)})
    calls = (tmp_path / 'python_stub.py.calls').read_text().splitlines() \
        if (tmp_path / 'python_stub.py.calls').exists() else []
    return proc, [shlex.split(c) for c in calls]


def test_lanes_parse(tmp_path):
    table2 = load_script('benchmarks/table2.py')
    cells, outs = set(), set()
    for lane in ('cf', 'sr'):
        if lane == 'sr':  # the sweep's cells; λ 0.7 validates best
            sweep_cells(tmp_path / lane / 'runs' / 't2a',
                        {0.3: 0.05, 0.5: 0.06, 0.7: 0.08, 1.0: 0.07})
        proc, calls = lane_calls(lane, tmp_path / lane)
        assert proc.returncode == 0, proc.stderr
        for argv in calls:
            if argv[0] == 'benchmarks/table2.py':
                args = table2.parse_args(argv[1:])
                assert args.cfg.run.threads == 1
                outs.add(args.out)
                for d in args.datasets:
                    for m in args.models:
                        for v in args.variants:
                            for s in args.seeds:
                                cells.add((lane, d, m, v, s))
        if lane == 'sr':
            assert 'control λ (Beauty validation R@20, seed 0): 0.7' in \
                proc.stdout
            sweeps = [a for a in calls if a[0] == 'benchmarks/adar_sweep.py']
            assert [a[a.index('--values') + 1] for a in sweeps] == \
                ['0.3', '0.5', '0.7', '1.0']
            sasrec = [a for a in calls if 'sasrec' in a and
                      a[0] == 'benchmarks/table2.py']
            assert sasrec and all(
                a[a.index('--control-weight') + 1] == '0.7' for a in sasrec)
    # The missing cells, three variants each (SASRec's Beauty base
    # is committed), one seed per command:
    variants = ('base', 'transition', 'reweight')
    want = {('cf', 'yelp', 'lightgcn', v, s) for v in variants
            for s in range(5)}
    want |= {('cf', d, 'ngcf', v, s) for d in ('toys', 'sports', 'yelp')
             for v in variants for s in range(3)}
    want |= {('sr', 'yelp', 'gru4rec', v, s) for v in variants
             for s in range(5)}
    want |= {('sr', d, 'sasrec', v, s) for d in ('toys', 'sports', 'yelp')
             for v in variants for s in range(3)}
    want |= {('sr', 'beauty', 'sasrec', v, s) for v in variants[1:]
             for s in range(3)}
    assert cells == want
    # `merge` folds every lane's result file in:
    for out in outs:
        path = tmp_path / 'merge' / f'{out}.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{}')
    proc, calls = lane_calls('merge', tmp_path / 'merge')
    assert proc.returncode == 0, proc.stderr
    merged = {f for argv in calls if '--merge' in argv
              for f in argv[argv.index('--merge') + 1:argv.index('--out')]}
    assert merged == {f'{out}.json' for out in outs}


def test_sr_lane_stops_without_a_sweep(tmp_path):
    proc, calls = lane_calls('sr', tmp_path)
    assert proc.returncode == 1
    assert 'no SASRec λ sweep cell' in proc.stderr
    assert not any('sasrec' in a and a[0] == 'benchmarks/table2.py'
                   for a in calls)


def test_merge_skips_missing_lanes(tmp_path):
    proc, calls = lane_calls('merge', tmp_path)
    assert proc.returncode == 0, proc.stderr
    # No lane output exists in tmp_path: only the summary is rebuilt.
    assert calls == [['benchmarks/table2_summary.py']]


def test_unknown_lane():
    proc = subprocess.run(['bash', SCRIPT, 'gpu'], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert 'usage' in proc.stderr
