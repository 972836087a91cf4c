"""benchmarks/recbole_speed.py: it skips cleanly without a RecBole environment,
writes our split as RecBole atomic files, times ours on a tiny split, and
(only where a RecBole environment is found) runs the RecBole worker on the
same tiny split."""
import json
import os
import subprocess
import sys

import pytest
import torch

from scripts import load_script


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'recbole_speed.py')
E = ('user', 'rates', 'item')


rb = load_script('benchmarks/recbole_speed.py')


def test_skips_without_recbole(tmp_path):
    out = tmp_path / 'res'
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--recbole-python',
         str(tmp_path / 'none' / 'python'), '--out', str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'skipped: no RecBole environment' in proc.stdout
    assert not os.path.exists(f'{out}.json')


def test_recbole_python_default(monkeypatch):
    monkeypatch.delenv('RECBOLE_PYTHON', raising=False)
    assert rb.recbole_python(None) == os.path.normpath(
        os.path.join(ROOT, '..', 'recbole-venv', 'bin', 'python'))
    monkeypatch.setenv('RECBOLE_PYTHON', '/x/python')
    assert rb.recbole_python(None) == '/x/python'
    assert rb.recbole_python('/y/python') == '/y/python'


def test_atomic_files_hold_our_split(tmp_path, tiny_run_data):
    data = tiny_run_data(U=40)
    rows = rb.write_inter_files(data, str(tmp_path))
    for name, split in (('train', data.train), ('valid', data.val),
                        ('test', data.test)):
        path = tmp_path / rb.RECBOLE_DATASET / \
            f'{rb.RECBOLE_DATASET}.{name}.inter'
        lines = path.read_text().splitlines()
        assert lines[0] == 'user_id:token\titem_id:token'
        pairs = [tuple(map(int, line.split('\t'))) for line in lines[1:]]
        assert pairs == [tuple(p) for p in
                         split[E].edge_label_index.t().tolist()]
        assert rows[name] == len(pairs)


def ours_spec(**kw):
    return {**dict(seed=0, dim=8, layers=2, batch_size=32, eval_users=16,
                   l2=1e-4, lr=1e-3, warmup=1, epochs=2, repeats=1), **kw}


def test_ours_cell_and_markdown(tiny_run_data):
    data = tiny_run_data(U=40)
    cell = rb.run_ours(data, ours_spec(), 1, torch.device('cpu'))
    assert len(cell['epoch_seconds']) == 2 and cell['threads'] == 1
    assert cell['batches_per_epoch'] == -(-data.statistics['train'] // 32)
    assert 0 <= cell['test_metrics']['recall@20'] <= 1
    recbole = {**cell, 'seconds_per_epoch': 5 * cell['seconds_per_epoch'],
               'setup_seconds': 1.0}
    settings = {'dataset': 'tiny', 'train_interactions': 10,
                'test_ratio': 0.2, 'val_ratio': 0.1, 'split_seed': 0,
                'batch_size': 32, 'dim': 8, 'layers': 2, 'lr': 1e-3,
                'l2': 1e-4, 'epochs': 2, 'warmup': 1, 'eval_users': 16,
                'repeats': 1, 'device': 'cpu'}
    text = rb.markdown({'meta': {'settings': settings, 'commands': ['c']},
                        'cells': {'threads1/ours': cell,
                                  'threads1/recbole': recbole}}, [1, 2])
    assert '| 1 |' in text and '| 2 |' not in text
    assert '5.0x' in text and '**met**' in text


def test_main_gives_both_sides_the_config(tmp_path, monkeypatch,
                                          tiny_run_data):
    # Past the probe, with a stand-in RecBole worker: the settings of the
    # config (--epochs 3 unless given) reach the result file, our cell and
    # the worker's spec alike.
    import adar_pyg.pipeline
    data = tiny_run_data(U=40)
    monkeypatch.setattr(adar_pyg.pipeline, 'load_cf_data', lambda cfg: data)
    monkeypatch.setattr(rb, 'probe_recbole', lambda python: {
        'recbole': rb.RECBOLE_VERSION, 'torch': torch.__version__})
    specs = []

    def fake_recbole(python, spec, folder):
        specs.append(spec)
        return {'train_interactions': data.statistics['train'],
                'seconds_per_epoch': 1.0, 'eval_seconds': 1.0,
                'setup_seconds': 1.0, 'test_metrics': {'recall@20': 0.0}}

    monkeypatch.setattr(rb, 'run_recbole', fake_recbole)
    out = tmp_path / 'res'
    rb.main(['--device', 'cpu', '--dim', '8', '--layers', '2',
             '--batch-size', '32', '--lr', '0.01', '--seed', '1',
             '--thread-counts', '1', '--warmup', '0', '--repeats', '1',
             '--eval-batch-size', '16', '--out', str(out)])
    result = json.loads((tmp_path / 'res.json').read_text())
    settings = result['meta']['settings']
    assert {k: settings[k] for k in ('batch_size', 'dim', 'layers', 'lr',
                                     'l2', 'seed', 'epochs', 'split_seed',
                                     'device')} == {
        'batch_size': 32, 'dim': 8, 'layers': 2, 'lr': 0.01, 'l2': 1e-4,
        'seed': 1, 'epochs': 3, 'split_seed': 1, 'device': 'cpu'}
    spec, = specs
    assert {k: spec[k] for k in ('batch_size', 'dim', 'layers', 'lr', 'l2',
                                 'seed', 'epochs', 'warmup', 'repeats',
                                 'eval_users')} == {
        k: settings[k] for k in ('batch_size', 'dim', 'layers', 'lr', 'l2',
                                 'seed', 'epochs', 'warmup', 'repeats',
                                 'eval_users')}
    ours = result['cells']['threads1/ours']
    assert len(ours['epoch_seconds']) == 3
    assert ours['batches_per_epoch'] == -(-data.statistics['train'] // 32)
    assert '| 1 |' in (tmp_path / 'res.md').read_text()


recbole_python = rb.recbole_python(None)
needs_recbole = pytest.mark.skipif(
    not os.path.isfile(recbole_python),
    reason='no RecBole environment (see benchmarks/README.md)')


@needs_recbole
def test_recbole_worker_on_the_same_split(tmp_path, tiny_run_data):
    if rb.probe_recbole(recbole_python) is None:
        pytest.skip('the RecBole environment cannot import RecBole')
    data = tiny_run_data(U=40)
    rows = rb.write_inter_files(data, str(tmp_path))
    spec = {'data_path': str(tmp_path), 'dim': 8, 'layers': 2, 'l2': 1e-4,
            'lr': 1e-3, 'batch_size': 32, 'epochs': 2, 'warmup': 1,
            'repeats': 1, 'eval_users': 16, 'seed': 0, 'device': 'cpu',
            'threads': 1}
    cell = rb.run_recbole(recbole_python, spec, str(tmp_path))
    assert cell['train_interactions'] == rows['train']
    assert (cell['users'], cell['items']) == (40, 30)
    assert cell['batches_per_epoch'] == -(-rows['train'] // 32)
    assert len(cell['epoch_seconds']) == 2 and cell['threads'] == 1
    assert 0 <= cell['test_metrics']['recall@20'] <= 1
