"""End-to-end smoke tests of the example and benchmark scripts on the real mirror
(1 epoch; skipped without the mirror). Metrics are checked for shape and range;
their values are the benchmarks' business."""
import json
import os
import subprocess
import sys

import pytest

from adar_pyg.datasets import default_mirror

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_mirror = pytest.mark.skipif(default_mirror() is None,
                                  reason='local dataset mirror not found')


def run(script, *args, tmp_path):
    out = tmp_path / 'out.json'
    cmd = [sys.executable, os.path.join(ROOT, script), '--device', 'cpu',
           '--data-root', str(tmp_path / 'data'), '--json', str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f), proc.stdout


def check_metrics(metrics):
    assert set(metrics) == {'recall@10', 'recall@20', 'ndcg@10', 'ndcg@20'}
    assert all(0 <= v <= 1 for v in metrics.values())
    assert metrics['recall@20'] >= metrics['recall@10']


@needs_mirror
@pytest.mark.parametrize('augmenter', ['none', 'adar'])
def test_lightgcn_beauty_example(tmp_path, augmenter):
    out, stdout = run('examples/lightgcn_beauty.py', '--epochs', '1',
                      '--no-progress', '--augmenter', augmenter,
                      '--out', str(tmp_path / 'run'), tmp_path=tmp_path)
    s = out['statistics']
    assert (s['users'], s['items'], s['interactions']) == (22363, 12101, 198502)
    assert (s['train'], s['val'], s['test']) == (142341, 17571, 38590)
    check_metrics(out['test'])
    assert out['best_epoch'] == 1 and out['seconds_per_epoch'] > 0
    assert out['seconds_per_eval'] > 0
    assert out['augmenter'] == augmenter
    if augmenter == 'adar':
        adar = out['settings']['adar']
        assert adar['weight'] == 0.7 and adar['strategy'] == 'transition'
    assert 'test: recall@10' in stdout
    # The run directory (paths inside relative to it):
    run_dir = tmp_path / 'run'
    with open(run_dir / 'result.json') as f:
        assert json.load(f)['test'] == out['test']
    assert (run_dir / 'curves.png').exists()
    assert (run_dir / 'checkpoints' / 'best.pt').exists()


@needs_mirror
def test_lightgcn_beauty_bad_flags(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'examples/lightgcn_beauty.py'),
         '--augmenter', 'adar', '--adar-weight', '1.5', '--epochs', '1',
         '--device', 'cpu', '--data-root', str(tmp_path), '--out',
         str(tmp_path / 'run')],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode != 0
    assert '--adar-weight must be in [0, 1] (got 1.5)' in proc.stderr
    assert not (tmp_path / 'run').exists()  # refused before any output


@needs_mirror
def test_train_speed_benchmark(tmp_path):
    out, stdout = run('benchmarks/train_speed.py', '--pyg-batches', '2',
                      '--repeats', '1', '--epochs', '1', tmp_path=tmp_path)
    for key in ('train_speedup_vs_pyg', 'eval_overhead_vs_bare',
                'ours_seconds_per_epoch', 'pyg_seconds_per_epoch',
                'adar_seconds_per_epoch', 'adar_epoch_ratio_vs_base'):
        assert out[key] > 0
    assert len(out['epoch_seconds']['adar']) == 1
    assert '| train epoch (s) |' in stdout and '| +ADAR epoch (s) |' in stdout


@needs_mirror
def test_adar_variants_quick(tmp_path):
    prefix = str(tmp_path / 'variants')
    out, stdout = run('benchmarks/adar_variants.py', '--quick', '--out',
                      prefix, tmp_path=tmp_path)
    cells = out['cells']
    assert set(cells) == {'lightgcn/base/seed0', 'lightgcn/adaptive/seed0'}
    for cell in cells.values():
        check_metrics(cell['test'])
    with open(f'{prefix}.md') as f:
        assert '| adaptive | 1 |' in f.read()
    # resumable: a second run reuses both cells
    _, stdout = run('benchmarks/adar_variants.py', '--quick', '--out', prefix,
                    tmp_path=tmp_path)
    assert stdout.count('[cached]') == 2
