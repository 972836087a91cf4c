r"""The sparse-gradient rows of benchmarks/scaling.py: per-step slopes
(wall and processor seconds), the step speed-up of ``sampled_sparse`` over
``sampled`` and the per-step table, on made-up rows (no timing)."""
import pytest

from scripts import load_script


@pytest.fixture(scope='module')
def scaling():
    return load_script('benchmarks/scaling.py')


#: A run's meta as scaling.py records it (for its markdown).
META = {'command': 'python benchmarks/scaling.py', 'device': 'cpu',
        'threads': 1, 'torch': '2.13.0+cpu', 'torch_geometric': '2.8.1',
        'host': 'vm', 'load_start': [0.5, 0.5, 0.5], 'batch_size': 1024,
        'dim': 64, 'layers': 3, 'fanout': [10, 5, 2], 'batches': 3,
        'pyg_batches': 2, 'pyg_max_interactions': 1_000_000,
        'eval_users': 4096, 'memory_budget_gib': 24.0, 'notes': [],
        'load_end': [0.5, 0.5, 0.5]}


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


def test_crossover_says_when_its_rows_come_from_two_runs(scaling):
    r"""The crossover of ``full`` and ``sampled`` records whether every
    size's two rows come from one run (a merged row holds its run's index),
    and the report says so when not."""
    rows = [row('full', 100_000, 0.5, 0.5), row('sampled', 100_000, 1.0, 1.0),
            row('full', 400_000, 4.0, 4.0), row('sampled', 400_000, 2.0, 2.0)]
    summary = scaling.summarize(rows, 24.0)
    assert summary['crossover']['interactions'] == 400_000
    assert summary['crossover']['same_run'] is True
    rows[0]['merged'] = 0  # The full row at 0.1M from a later run:
    summary = scaling.summarize(rows, 24.0)
    assert summary['crossover']['same_run'] is False
    text = scaling.markdown({'meta': META, 'rows': rows,
                             'summary': summary})
    assert 'full and sampled rows from different runs' in text
