"""Smoke tests of the OOD example and benchmark on the real mirror (1 epoch;
skipped without the mirror). Metrics are checked for shape and range; their
values are the benchmark's business."""
import json
import os
import subprocess
import sys

import pytest

from adar_pyg.datasets import default_mirror

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_mirror = pytest.mark.skipif(
    default_mirror() is None
    or not os.path.isdir(os.path.join(str(default_mirror()), 'ood-food')),
    reason='local dataset mirror not found')
METRICS = {'recall@10', 'recall@20', 'ndcg@10', 'ndcg@20'}


def run(script, *args, tmp_path):
    out = tmp_path / 'out.json'
    cmd = [sys.executable, os.path.join(ROOT, script), '--device', 'cpu',
           '--threads', '1', '--data-root', str(tmp_path / 'data'), '--json',
           str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f), proc.stdout


def check_metrics(metrics):
    assert set(metrics) == METRICS
    assert all(0 <= v <= 1 for v in metrics.values())
    assert metrics['recall@20'] >= metrics['recall@10']


@needs_mirror
def test_cnsdiff_ood_example(tmp_path):
    out, stdout = run('examples/cnsdiff_ood.py', '--dataset', 'ood-food',
                      '--epochs', '1', '--batch-size', '8192',
                      '--no-progress', '--out', str(tmp_path / 'run'),
                      tmp_path=tmp_path)
    s = out['statistics']
    assert (s['users'], s['items']) == (7732, 6293)
    assert (s['train'], s['val'], s['test'], s['test_ood']) == (
        106253, 20468, 43183, 46149)
    check_metrics(out['test'])
    check_metrics(out['test_ood'])
    assert out['augmenter'] == 'none' and out['best_epoch'] == 1
    assert out['settings']['model']['layers'] == 2
    assert out['settings']['train']['lr'] == 0.01
    assert 'test_ood: recall@10' in stdout


@needs_mirror
def test_ood_benchmark_quick(tmp_path):
    prefix = str(tmp_path / 'ood')
    out, stdout = run('benchmarks/ood.py', '--quick', '--out', prefix,
                      tmp_path=tmp_path)
    cells = out['cells']
    assert set(cells) == {'ood-food/base/seed0', 'ood-food/cnsdiff/seed0'}
    for cell in cells.values():
        check_metrics(cell['test'])
        check_metrics(cell['test_ood'])
        assert cell['statistics']['users'] == 500
    cns = cells['ood-food/cnsdiff/seed0']
    assert cns['augmenter'] == 'cnsdiff'
    assert cns['settings']['cnsdiff']['frozen_denoiser'] is False
    assert 'aug_mix_ratio' in cns['history'][-1]
    with open(f'{prefix}.md') as f:
        text = f.read()
    assert '### OOD test' in text and '| +CNSDiff | 1 |' in text
    assert 'target (higher, p < 0.05)' in text
    # Resumable; the untrained-denoiser ablation is one more variant:
    out, stdout = run('benchmarks/ood.py', '--quick', '--out', prefix,
                      '--variants', 'base', 'cnsdiff', 'cnsdiff-frozen',
                      tmp_path=tmp_path)
    assert stdout.count('[cached]') == 2
    frozen = out['cells']['ood-food/cnsdiff-frozen/seed0']
    assert frozen['settings']['cnsdiff']['frozen_denoiser'] is True
    with open(f'{prefix}.md') as f:
        assert 'untrained denoiser' in f.read()
    # --report-only trains nothing and reports the cells it finds; the
    # commands that trained them stay listed:
    os.remove(f'{prefix}.md')
    out, stdout = run('benchmarks/ood.py', '--report-only', '--out', prefix,
                      '--datasets', 'ood-food', '--seeds', '0', '1',
                      tmp_path=tmp_path)
    assert '[run]' not in stdout and '[missing] ood-food/base/seed1' in stdout
    assert len(out['cells']) == 3 and len(out['meta']['commands']) == 2
    with open(f'{prefix}.md') as f:
        text = f.read()
    assert text.count('Command: `python') == 2
    assert 'at most 1 epochs' in text and '| +CNSDiff | 1 |' in text


def test_ood_benchmark_report_only_needs_results(tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks/ood.py'),
           '--report-only', '--out', str(tmp_path / 'missing')]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode != 0 and 'no results file' in proc.stderr
