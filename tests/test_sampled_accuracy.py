r"""benchmarks/sampled_accuracy.py end to end on a tiny CSV: full and
sampled paths at equal settings, their rows, curves, markdown and plot."""
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_paths_side_by_side(tmp_path):
    g = torch.Generator().manual_seed(0)
    lines = ['user,item']
    for u in range(30):
        items = torch.randperm(12, generator=g)[:9] + 12 * (u % 2)
        lines += [f'u{u},i{i}' for i in items.tolist()]
    csv = tmp_path / 'r.csv'
    csv.write_text('\n'.join(lines) + '\n')
    proc = subprocess.run(
        [sys.executable, 'benchmarks/sampled_accuracy.py', '--paths', 'full',
         'sampled_sparse', '--name', 'tiny', '--runs', str(tmp_path / 'runs'),
         '--out', str(tmp_path), '--data', str(csv), '--epochs', '2',
         '--eval-every', '1', '--dim', '8', '--layers', '1', '--batch-size',
         '64', '--threads', '1'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / 'sampled_accuracy_tiny.json').read_text())
    assert [r['path'] for r in result['rows']] == ['full', 'sampled_sparse']
    assert '--runs' not in result['meta']['command']
    for r in result['rows']:
        assert r['epochs'] == 2 and len(r['curve']) == 2
        assert 0 <= r['test']['recall@20'] <= 1
    assert '--sampled --sparse-grad' in result['rows'][1]['command']
    assert '--sampled' not in result['rows'][0]['command']
    # The runs are those of adar-pyg train, with their own run directories:
    assert (tmp_path / 'runs' / 'full' / 'result.json').exists()
    assert '| sampled_sparse | 2 |' in (
        tmp_path / 'sampled_accuracy_tiny.md').read_text()
    assert (tmp_path / 'sampled_accuracy_tiny.png').stat().st_size > 0


def test_refuses_flags_it_sets(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'benchmarks/sampled_accuracy.py', '--sampled',
         '--out', str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 2 and 'set per path' in proc.stderr
