r"""benchmarks/sampled_profile.py end to end on a tiny synthetic graph: both
neighbour samplers side by side, their rows and the markdown table (no
timing is checked)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_both_samplers_side_by_side(tmp_path):
    from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE
    samplers = ['torch'] + (['pyg'] if WITH_PYG_LIB or WITH_TORCH_SPARSE
                            else [])
    proc = subprocess.run(
        [sys.executable, 'benchmarks/sampled_profile.py', '--sizes', '5000',
         '--steps', '1', '--ops-sizes', '--threads', '1', '--batch-size',
         '256', '--subgraph-samplers', *samplers, '--cache',
         str(tmp_path / 'cache'), '--out', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / 'sampled_profile.json').read_text())
    rows = result['rows']
    assert [r['subgraph_sampler'] for r in rows] == samplers
    for r in rows:
        assert r['seconds_per_step'] > 0 and r['subgraph_nodes'] > 0
        assert set(r['phase_seconds_per_step']) == {
            'sample', 'forward', 'backward', 'optimizer'}
    table = (tmp_path / 'sampled_profile.md').read_text()
    assert '| sampler |' in table and '| torch |' in table
