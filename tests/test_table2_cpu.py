"""benchmarks/table2_cpu.sh: every command of its lanes parses, the cells it
names are the missing Table 2 cells, and a lane without a name is refused."""
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

# Stands in for python: records its arguments; as the λ picker (python -,
# reading the program from stdin) it answers 0.5.
STUB = '''import sys
with open(sys.argv[0] + '.calls', 'a') as f:
    f.write(' '.join(sys.argv[1:]) + '\\n')
if sys.argv[1:] == ['-']:
    print('0.5')
'''


def lane_calls(lane, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    stub = tmp_path / 'python_stub.py'
    stub.write_text(STUB)
    wrapper = tmp_path / 'python'
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {stub} "$@"\n')
    wrapper.chmod(0o755)
    proc = subprocess.run(['bash', SCRIPT, lane], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, 'PYTHON': str(wrapper)})
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / 'python_stub.py.calls').read_text().splitlines()
    return [shlex.split(c) for c in calls], proc.stdout


def test_lanes_parse(tmp_path):
    table2 = load_script('benchmarks/table2.py')
    cells = set()
    for lane in ('cf', 'sr'):
        calls, out = lane_calls(lane, tmp_path / lane)
        for argv in calls:
            if argv[0] == 'benchmarks/table2.py':
                args = table2.parse_args(argv[1:])
                assert args.cfg.run.threads == 1
                for d in args.datasets:
                    for m in args.models:
                        for v in args.variants:
                            for s in args.seeds:
                                cells.add((lane, d, m, v, s))
        if lane == 'sr':
            assert 'control λ (Beauty validation R@20, seed 0): 0.5' in out
            sweeps = [a for a in calls if a[0] == 'benchmarks/adar_sweep.py']
            assert [a[a.index('--values') + 1] for a in sweeps] == \
                ['0.3', '0.5', '0.7', '1.0']
            sasrec = [a for a in calls if 'sasrec' in a and
                      a[0] == 'benchmarks/table2.py']
            assert all(a[a.index('--control-weight') + 1] == '0.5'
                       for a in sasrec)
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


def test_merge_skips_missing_lanes(tmp_path):
    calls, _ = lane_calls('merge', tmp_path)
    # No lane output exists in tmp_path: only the summary is rebuilt.
    assert calls == [['benchmarks/table2_summary.py']]


def test_unknown_lane():
    proc = subprocess.run(['bash', SCRIPT, 'gpu'], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert 'usage' in proc.stderr
