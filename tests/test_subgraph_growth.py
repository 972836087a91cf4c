r"""benchmarks/subgraph_growth.py: the slope bound on made-up rows, and the
script end to end on two tiny synthetic graphs."""
import json
import math
import os
import subprocess
import sys

import pytest

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def growth():
    return load_script('benchmarks/subgraph_growth.py')


def test_slope_bound(growth):
    rows = [{'fanout': [2], 'batch_size': 8, 'interactions': e,
             'graph_nodes': 10 * e, 'subgraph_nodes': n,
             'subgraph_edges': n}
            for e, n in ((1000, 100.0), (100_000, 1000.0))]
    (s, ) = growth.slopes(rows)
    assert s['node_growth'] == pytest.approx(10.0)
    # Nodes x10 over interactions x100: step slope 0.5, epoch 1.5.
    assert s['epoch_slope_bound'] == pytest.approx(1.5)
    assert growth.slopes(rows[:1]) == []


def test_bad_fanout(growth):
    import argparse
    for text in ('10,0', 'a,b', '', '-2'):
        with pytest.raises(argparse.ArgumentTypeError, match='fan-out'):
            growth.fanout(text)
    assert growth.fanout('10,5,-1') == [10, 5, -1]


def test_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'benchmarks/subgraph_growth.py', '--sizes', '3000',
         '12000', '--fanouts', '2,1', '-1', '--batch-sizes', '64',
         '--draws', '2', '--cache', str(tmp_path / 'cache'), '--out',
         str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / 'subgraph_growth.json').read_text())
    assert len(result['rows']) == 4 and len(result['slopes']) == 2
    for r in result['rows']:
        assert 0 < r['subgraph_nodes'] <= r['graph_nodes']
    assert all(math.isfinite(s['epoch_slope_bound'])
               for s in result['slopes'])
    assert '| 2, 1 | 64 |' in (tmp_path / 'subgraph_growth.md').read_text()
