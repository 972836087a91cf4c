"""The dry run of benchmarks/gpu_check.sh on the CPU (--device cpu --quick)
and the parts of benchmarks/scaling.py it relies on."""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'gpu_check.sh')
needs_bash = pytest.mark.skipif(shutil.which('bash') is None,
                                reason='bash not found')


@pytest.fixture(scope='module')
def scaling():
    return load_script('benchmarks/scaling.py')


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
                     'gowalla_data', 'scaling', 'ddp']
    ddp = json.loads((out / 'ddp_quick.json').read_text())
    assert ddp['nproc'] == 2 and 0 <= ddp['test']['recall@20'] <= 1
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
    assert paths == {'full', 'sampled', 'pyg'}
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
                                    'speedup_there': 2.0,
                                    'same_run': True}
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


def test_merge_row_and_ddp2_speedup(scaling):
    def row(path, size, seconds, memory, **extra):
        return {'graph': 'synthetic', 'size': size, 'interactions': size,
                'path': path, 'seconds_per_epoch': seconds,
                'peak_memory_mb': memory, **extra}

    rows = [row('full', 10, 4.0, 100), row('pyg', 10, 9.0, 120),
            row('full', 20, 8.0, 200), row('ddp2', 20, 7.0, 390)]
    scaling.merge_row(rows, row('ddp2', 10, 2.5, 190, merged=0))
    scaling.merge_row(rows, row('ddp2', 20, 5.0, 380, merged=0))
    scaling.merge_row(rows, row('ddp2', 30, 1.0, 10, merged=0))
    assert [(r['path'], r['size']) for r in rows] == [
        ('full', 10), ('pyg', 10), ('ddp2', 10), ('full', 20), ('ddp2', 20),
        ('ddp2', 30)]  # After its graph's rows, in place, or last.
    assert rows[4]['seconds_per_epoch'] == 5.0
    versus = scaling.summarize(rows, 24)['ddp2_vs_full']
    assert [(v['size'], v['speedup'], v['memory_ratio'], v['same_run'])
            for v in versus] == [(10, 1.6, 1.9, False), (20, 1.6, 1.9, False)]


def quick_meta(scaling, **settings):
    return {'command': 'python benchmarks/scaling.py --quick', 'device': 'cpu',
            'threads': 1, 'torch': torch.__version__, 'torch_geometric': '?',
            'host': 'h', 'load_start': [0.1] * 3, 'load_end': [0.2] * 3,
            'batch_size': scaling.QUICK_BATCH_SIZE, 'dim': scaling.QUICK_DIM,
            'layers': 3, 'fanout': [5, 3, 2], 'batches': 2, 'pyg_batches': 1,
            'pyg_max_interactions': 2_000_000, 'eval_users': 128,
            'memory_budget_gib': 24.0,
            'notes': ['scaled', 'ddp2: not built yet'], **settings}


def run_scaling(*args, timeout=120):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'scaling.py'),
         '--quick', '--device', 'cpu', *args], capture_output=True,
        text=True, timeout=timeout, cwd=ROOT, env={**os.environ,
                                                   'MPLBACKEND': 'Agg'})


def test_ddp2_rows_merged_into_a_file(scaling, tmp_path):
    r"""``--paths ddp2 --merge``: two gloo ranks on a tiny graph, the row
    added to an existing file whose other rows stay as they were."""
    full = {'graph': 'synthetic', 'size': 2000, 'interactions': 1999,
            'users': 73, 'items': 100, 'path': 'full', 'batch_size': 256,
            'batches_per_epoch': 8, 'batches_timed': 2,
            'seconds_per_batch': 0.5, 'seconds_per_epoch': 4.0,
            'eval_seconds': 0.1, 'peak_memory_mb': 400.0}
    pyg = {**full, 'size': 8000, 'path': 'pyg', 'eval_seconds': None}
    (tmp_path / 'scaling.json').write_text(json.dumps(
        {'meta': quick_meta(scaling), 'rows': [full, pyg]}))
    proc = run_scaling('--threads', '2', '--paths', 'ddp2', '--sizes', '2000',
                       '--merge', '--out', str(tmp_path))
    assert proc.returncode != 0 and 'threads 2 (file: 1)' in proc.stderr
    proc = run_scaling('--threads', '1', '--paths', 'ddp2', '--sizes', '2000',
                       '--merge', '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / 'scaling.json').read_text())
    rows = result['rows']
    assert rows[0] == full and rows[2] == pyg
    ddp = rows[1]
    assert 'error' not in ddp, ddp
    assert (ddp['path'], ddp['size'], ddp['interactions']) == (
        'ddp2', 2000, 1999)
    assert ddp['ranks'] == 2 and ddp['threads_per_rank'] == 1
    assert ddp['global_batch_size'] == 512
    assert ddp['batches_per_epoch'] == 4  # 1999 pairs in global steps of 512
    assert ddp['seconds_per_epoch'] == pytest.approx(
        4 * ddp['seconds_per_batch'])
    assert len(ddp['peak_memory_mb_per_rank']) == 2
    assert ddp['peak_memory_mb'] == pytest.approx(
        sum(ddp['peak_memory_mb_per_rank']))
    meta = result['meta']
    assert meta['command'] == 'python benchmarks/scaling.py --quick'
    assert len(meta['commands']) == 2 and '--merge' in meta['commands'][1]
    assert meta['merged_runs'][0]['paths'] == ['ddp2']
    assert meta['notes'][1].startswith('ddp2: the full path in 2 processes')
    text = (tmp_path / 'scaling.md').read_text()
    assert '| synthetic 2,000 | 1,999 | 73 | 100 | ddp2 | 4 |' in text
    assert 'Data parallel: `ddp2`' in text and 'different runs' in text
    assert 'Rows of `ddp2` measured by a later run' in text


def test_merge_needs_a_file(tmp_path):
    proc = run_scaling('--paths', 'ddp2', '--merge', '--out', str(tmp_path))
    assert proc.returncode != 0 and '--merge: no results file' in proc.stderr
