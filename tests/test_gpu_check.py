"""The dry run of benchmarks/gpu_check.sh on the CPU (--device cpu --quick)
and the parts of benchmarks/scaling.py it relies on."""
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'gpu_check.sh')
needs_bash = pytest.mark.skipif(shutil.which('bash') is None,
                                reason='bash not found')


@pytest.fixture(scope='module')
def scaling():
    path = os.path.join(ROOT, 'benchmarks', 'scaling.py')
    sys.path.insert(0, os.path.dirname(path))  # Its `from common import`.
    spec = importlib.util.spec_from_file_location('scaling', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(os.path.dirname(path))


def check_call(*args, env=None):
    return subprocess.run(['bash', SCRIPT, *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **(env or {})})


@needs_bash
def test_dry_run(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run(
        ['bash', SCRIPT, '--device', 'cpu', '--quick'], capture_output=True,
        text=True, timeout=600, cwd=ROOT,
        env={**os.environ, 'PYTHON': sys.executable, 'OUT': str(out)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = json.loads((out / 'gpu_check.json').read_text())
    assert summary['ok'] and summary['device'] == 'cpu' and summary['quick']
    steps = [s['step'] for s in summary['steps']]
    assert steps == ['env', 'cuda_tests', 'beauty_speed', 'gowalla',
                     'gowalla_data', 'scaling']
    env = json.loads((out / 'env.json').read_text())
    assert env['torch'] == torch.__version__
    speed = json.loads((out / 'train_speed_beauty.json').read_text())
    assert speed['ours_seconds_per_epoch'] > 0
    assert speed['pyg_seconds_per_epoch'] > 0
    epoch = json.loads((out / 'gowalla_epoch.json').read_text())
    assert 0 <= epoch['test']['recall@20'] <= 1
    assert epoch['epochs_run'] == 1
    rows = json.loads((out / 'scaling' / 'scaling.json').read_text())['rows']
    paths = {r['path'] for r in rows}
    assert paths == ({'full', 'sampled', 'pyg'} if WITH_TORCH_SPARSE
                     or WITH_PYG_LIB else {'full', 'pyg'})
    for row in rows:
        assert 'error' not in row, row
        assert row['interactions'] > 0 and row['seconds_per_epoch'] > 0
        assert row['peak_memory_mb'] > 0
    assert (out / 'scaling' / 'scaling.png').stat().st_size > 0
    assert 'scaled' in (out / 'scaling' / 'scaling.md').read_text()


@needs_bash
@pytest.mark.parametrize('args,message', [
    (['--device', 'tpu'], "--device must be 'cuda' or 'cpu'"),
    (['--fast'], "unknown argument '--fast'"),
])
def test_bad_arguments(args, message):
    proc = check_call(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


@needs_bash
def test_outside_the_repository(tmp_path):
    proc = subprocess.run(['bash', SCRIPT, '--device', 'cpu', '--quick'],
                          capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path))
    assert proc.returncode == 2
    assert 'run it from the repository root' in proc.stderr


@pytest.mark.parametrize('size', [20_000, 200_000])
def test_power_law_graph(scaling, size):
    edge_index, U, I = scaling.power_law_graph(size, seed=1)
    assert edge_index.size(1) == size
    key = edge_index[0] * I + edge_index[1]
    assert key.unique().numel() == key.numel()
    deg_user = torch.bincount(edge_index[0], minlength=U).float()
    deg_item = torch.bincount(edge_index[1], minlength=I).float()
    # Gowalla-like: ~34 per user and ~25 per item, heavy-tailed.
    assert 30 < float(deg_user.mean()) < 38
    assert 21 < float(deg_item.mean()) < 29
    assert float(deg_user.median()) < 0.7 * float(deg_user.mean())
    assert int(deg_user.max()) <= 1.1 * scaling.MAX_USER_DEGREE
    again, _, _ = scaling.power_law_graph(size, seed=1)
    assert torch.equal(again, edge_index)


def rows(times, memory=None):
    out = []
    for path, series in times.items():
        for size, seconds in series.items():
            out.append({'graph': 'synthetic', 'size': size,
                        'interactions': size, 'path': path,
                        'seconds_per_epoch': seconds,
                        'peak_memory_mb': (memory or {}).get(
                            (path, size), size / 1000)})
    return out


def test_summary_crossover_slopes_and_memory(scaling):
    times = {'full': {10**5: 1.0, 10**6: 100.0, 10**7: 10**4},
             'sampled': {10**5: 10.0, 10**6: 100.0 / 2, 10**7: 10**3}}
    memory = {('full', 10**6): 2048, ('full', 10**7): 11264,
              ('sampled', 10**6): 1024, ('sampled', 10**7): 1024 + 9 * 512}
    summary = scaling.summarize(rows(times, memory), budget_gib=24)
    assert summary['slopes']['full'] == pytest.approx(2.0)
    assert summary['slopes']['sampled'] == pytest.approx(
        math.log10(100) / 2, abs=0.01)
    assert summary['crossover'] == {'measured': True,
                                    'interactions': 10**6,
                                    'speedup_there': 2.0}
    budget = summary['largest_within_budget']
    # full: 1024 MB per 1.125M interactions from the two largest sizes.
    assert budget['full']['largest_measured_within'] == 10**7
    assert budget['full']['extrapolated_interactions'] == pytest.approx(
        (24 * 1024 - 11264) / (9216 / 9e6) + 10**7, rel=1e-6)
    assert budget['sampled']['extrapolated_interactions'] > \
        budget['full']['extrapolated_interactions']

    # Not reached: the crossover of the fitted power laws.
    times = {'full': {10**5: 1.0, 10**6: 100.0},
             'sampled': {10**5: 100.0, 10**6: 1000.0}}
    crossover = scaling.summarize(rows(times), 24)['crossover']
    assert crossover['measured'] is False
    assert crossover['interactions'] == pytest.approx(10**7, rel=1e-6)
