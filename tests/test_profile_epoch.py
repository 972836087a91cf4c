"""benchmarks/profile_epoch.py: --quick profiles both models on a tiny random
graph and writes JSON and markdown whose categories sum to the profiled
wall time (no timings are checked); the byte formula of the bound."""
import json
import os
import subprocess
import sys

import pytest

from scripts import ROOT, load_script

pe = load_script('benchmarks/profile_epoch.py')


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    out = os.path.join(str(tmp_path_factory.mktemp('profile')), 'profile')
    # This checkout's adar_pyg, not an installed one (a script's folder,
    # not the working directory, is first on its path):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    subprocess.run([sys.executable, 'benchmarks/profile_epoch.py', '--quick',
                    '--threads', '1', '--out', out], cwd=ROOT, env=env,
                   check=True, capture_output=True, text=True)
    with open(out + '.json') as f:
        result = json.load(f)
    with open(out + '.md') as f:
        return result, f.read()


def test_quick_categories_sum_to_wall(quick):
    result, text = quick
    assert set(result['models']) == {'lightgcn', 'ngcf'}
    assert list(result['categories']) == [k for k, _ in pe.CATEGORIES]
    for name, row in result['models'].items():
        parts = row['categories']
        assert set(parts) == set(result['categories'])
        assert sum(parts.values()) == pytest.approx(row['wall_seconds'],
                                                    rel=1e-9, abs=1e-9)
        assert sum(row['categories_cpu'].values()) == pytest.approx(
            row['profiled_cpu_seconds'], rel=1e-9, abs=1e-9)
        # every category but the remainder is a sum of self times
        assert all(v >= 0 for k, v in parts.items() if k != 'other_outside')
        assert parts['spmm_forward'] > 0 and parts['spmm_backward'] > 0
        assert parts['optimizer'] > 0 and parts['sampler'] > 0
        assert row['batches_timed'] == row['batches_per_epoch']
        assert len(row['load_average']['before']) == 3
        assert row['bound']['products_per_epoch'] == \
            2 * row['layers'] * row['batches_per_epoch']
    assert result['models']['ngcf']['categories']['matmul_forward'] > 0
    assert result['models']['lightgcn']['categories']['matmul_forward'] == 0
    assert result['threads'] == 1
    assert '| **profiled epoch** |' in text
    assert not os.path.isabs(result['command'].split()[1])


def test_propagation_bytes():
    b = pe.propagation_bytes(num_users=3, num_items=5, nnz=7, dim=2)
    assert b['adjacency'] == 2 * 7 * 8 + 4 * (8 + 2)
    assert b['features'] == 2 * 8 * 2 * 4
    assert b['spmm'] == b['adjacency'] + b['features']
    assert b['spmm_no_reuse'] == b['adjacency'] + (2 * 7 + 8) * 2 * 4
    assert b['axpy'] == 3 * 8 * 2 * 4


@pytest.mark.parametrize('name,kind', [
    ('aten::_sparse_mm', 'spmm'), ('aten::_sparse_addmm', 'spmm'),
    ('aten::index', 'gather'), ('aten::index_put_', 'gather'),
    ('aten::scatter_add_', 'gather'), ('aten::mm', 'matmul'),
    ('aten::linear', 'matmul'), ('aten::mul', 'elementwise'),
    ('aten::cat', 'elementwise')])
def test_op_kind(name, kind):
    assert pe.op_kind(name) == kind


def test_phase_of():
    assert pe.phase_of(['aten::mul', 'Optimizer.step#Adam.step']) == \
        'optimizer'
    assert pe.phase_of(['aten::_sparse_mm', '_PropagateBackward',
                        'autograd::engine::evaluate_function: '
                        '_PropagateBackward']) == 'backward'
    assert pe.phase_of(['aten::randint', 'sampler']) == 'sampler'
    assert pe.phase_of(['aten::_sparse_mm', '_Propagate']) == 'forward'
    assert not pe.is_op('autograd::engine::evaluate_function: MulBackward0')
    assert pe.is_op('aten::mul') and not pe.is_op('Optimizer.step#Adam.step')
