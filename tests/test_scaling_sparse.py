r"""The sparse-gradient rows of benchmarks/scaling.py: per-step slopes
(wall and processor seconds), the step speed-up of ``sampled_sparse`` over
``sampled`` and the per-step table, on made-up rows (no timing)."""
import pytest

from scripts import load_script


@pytest.fixture(scope='module')
def scaling():
    return load_script('benchmarks/scaling.py')


def row(path, size, step, cpu_step, sample=0.5):
    batches = size // 1000
    return {'graph': 'synthetic', 'size': size, 'interactions': size,
            'users': size // 30, 'items': size // 25, 'path': path,
            'batches_per_epoch': batches, 'seconds_per_batch': step,
            'seconds_per_epoch': step * batches,
            'cpu_seconds_per_epoch': cpu_step * batches,
            'sample_seconds_per_batch': sample * step,
            'subgraph_nodes': size / 20, 'subgraph_edges': size / 4,
            'eval_seconds': 1.0, 'peak_memory_mb': 500.0}


def test_sparse_rows_are_summarised(scaling):
    # Dense: step time ~ size^0.5; sparse: constant wall, cpu ~ size^0.25.
    rows = []
    for size in (100_000, 400_000, 1_600_000):
        rows.append(row('sampled', size, (size / 1e5)**0.5,
                        (size / 1e5)**0.5 / 2))
        rows.append(row('sampled_sparse', size, 1.0, (size / 1e5)**0.25))
    summary = scaling.summarize(rows, 24.0)
    assert summary['step_slopes'] == {'sampled': 0.5, 'sampled_sparse': 0.0}
    assert summary['cpu_step_slopes'] == {'sampled': 0.5,
                                          'sampled_sparse': 0.25}
    assert summary['slopes']['sampled'] == 1.5
    versus = summary['sparse_vs_dense']
    assert [round(v['speedup'], 6) for v in versus] == [1.0, 2.0, 4.0]
    assert [round(v['cpu_speedup'], 6) for v in versus] == [0.5, 0.707107, 1.0]
    text = '\n'.join(scaling.sampled_section(
        {'rows': rows, 'summary': summary}))
    assert '| synthetic 400,000 | 400,000 | sampled_sparse | 1.000 |' in text
    assert 'sampled 0.5, sampled_sparse 0.0' in text
    assert 'synthetic 1,600,000 4.00x (1.00x)' in text
