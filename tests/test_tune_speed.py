"""benchmarks/tune_speed.py --quick end to end on its tiny generated CSV: both
parts run and write every field of the JSON, finite, and the markdown. The
timings themselves are the benchmark's business, not the test's."""
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip('optuna')

OVERHEAD = ('study_seconds', 'compute_seconds', 'data_load_seconds',
            'outside_trials_seconds', 'in_trials_overhead_seconds',
            'overhead_seconds_per_trial',
            'overhead_seconds_per_trial_with_load',
            'overhead_seconds_per_trial_upper', 'seconds_per_epoch',
            'seconds_per_eval', 'overhead_share', 'overhead_share_upper')


def test_quick(tmp_path):
    out = tmp_path / 'tune_speed'
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'tune_speed.py'),
         '--quick', '--out', str(out), '--work', str(tmp_path / 'work')],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / 'tune_speed.json').read_text())
    meta = result['meta']
    assert meta['quick'] and meta['command'].startswith(
        'python benchmarks/tune_speed.py --quick')
    assert ROOT not in meta['command']  # No machine paths in the file.
    for key in ('load_before', 'load_after'):
        assert len(meta[key]) == 3 and all(map(math.isfinite, meta[key]))
    a = result['overhead']
    assert a['trials'] == 3 == len(a['per_trial'])
    for key in OVERHEAD:
        assert math.isfinite(a[key]), key
    assert math.isfinite(a['full_trial']['seconds'])
    assert a['full_trial']['evaluations'] == 10
    for row in a['per_trial']:
        assert row['state'] == 'complete' and row['epochs'] == 2
        assert math.isfinite(row['compute_seconds'])
    b = result['workers']
    assert b['trials'] == 4 and len(b['repeats']) == 1
    assert math.isfinite(b['ratio_median'])
    run = b['repeats'][0]
    assert math.isfinite(run['ratio'])
    for n, key in ((1, 'one'), (2, 'two')):
        assert run[key]['trials'] == 4
        # Every trial ran once, in one of the n processes (a free process
        # takes the next trial: one may run them all before another starts):
        shares = run[key]['trials_per_worker']
        assert sum(shares.values()) == 4
        assert set(shares) <= {str(i) for i in range(n)}
        assert all(map(math.isfinite, run[key]['load_before'] +
                       run[key]['load_after']))
    md = (tmp_path / 'tune_speed.md').read_text()
    for part in ('## Overhead of a study per trial',
                 '## Two workers on one SQLite study', 'share of a full trial',
                 'idle machine'):
        assert part in md
    assert not (tmp_path / 'work' / 'overhead' / 'trial-3').exists()
