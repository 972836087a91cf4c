"""The SR command-line plumbing; the example runs on the real mirror for two
batches (skipped without the mirror)."""
import argparse
import json
import os
import subprocess
import sys

import pytest

from adar_pyg.datasets import default_mirror
from adar_pyg.experiment import add_common_args
from adar_pyg.sequential import CL4SRec, GRU4Rec, LeaveOneOutSplit, SASRec
from adar_pyg.sequential.experiment import (add_sr_args, build_sr_model,
                                            run_sr)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    add_sr_args(parser)
    return parser.parse_args(list(argv))


def test_defaults_follow_the_paper():
    args = parse()
    assert (args.model, args.dim, args.batch_size, args.max_len) == (
        'sasrec', 64, 256, 50)
    assert (args.lr, args.adar_steps, args.augmenter) == (1e-3, 20, 'none')
    assert not args.no_mask_history


@pytest.mark.parametrize('name,cls,dropout', [('sasrec', SASRec, 0.5),
                                              ('gru4rec', GRU4Rec, 0.3),
                                              ('cl4srec', CL4SRec, 0.5)])
def test_build_sr_model(name, cls, dropout):
    model = build_sr_model(100, parse('--model', name, '--dim', '8'))
    assert type(model) is cls and model.num_items == 100
    assert model.embedding_dim == 8 and model.max_len == 50
    if name != 'gru4rec':
        assert model.num_layers == 2 and model.dropout_p == dropout
    model = build_sr_model(100, parse('--model', name, '--dropout', '0.1',
                                      '--layers', '1'))
    assert model.num_layers == 1
    if name == 'cl4srec':
        assert model.similarity == 'dot'
        model = build_sr_model(100, parse(
            '--model', name, '--cl-weight', '0.05', '--cl-temperature', '0.5',
            '--cl-similarity', 'cos'))
        assert (model.cl_weight, model.temperature, model.similarity) == (
            0.05, 0.5, 'cos')


@pytest.mark.parametrize('model', ['gru4rec', 'cl4srec'])
def test_run_sr_on_a_given_split(model):
    from test_sr_task import chain_data
    split = LeaveOneOutSplit(max_len=8)(chain_data())
    stats = {'items': split.num_items, **split.statistics()}
    args = parse('--model', model, '--epochs', '2', '--no-progress',
                 '--dim', '16', '--max-len', '8', '--batch-size', '16',
                 '--augmenter', 'adar', '--adar-steps', '4', '--device',
                 'cpu')
    out = run_sr(args, split=(split, stats))
    assert out['statistics'] is stats and out['epochs_run'] == 2
    assert out['num_steps'] == 4 and out['batches_per_epoch'] == 5
    assert len(out['history']) == 2 and 1 <= out['best_epoch'] <= 2
    assert all(0 <= v <= 1 for v in out['test'].values())
    assert out['sampler'].startswith('UniformSampler(')


@pytest.mark.skipif(default_mirror() is None,
                    reason='local dataset mirror not found')
@pytest.mark.parametrize('model,augmenter', [('sasrec', 'none'),
                                             ('cl4srec', 'adar')])
def test_sasrec_beauty_example(tmp_path, model, augmenter):
    out = tmp_path / 'out.json'
    cmd = [sys.executable, os.path.join(ROOT, 'examples/sasrec_beauty.py'),
           '--device', 'cpu', '--data-root', str(tmp_path / 'data'),
           '--json', str(out), '--epochs', '1', '--max-batches', '2',
           '--no-progress', '--model', model, '--augmenter', augmenter,
           '--threads', '1']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        out = json.load(f)
    s = out['statistics']
    assert (s['users'], s['items'], s['interactions']) == (22363, 12101,
                                                           198502)
    assert (s['train'], s['val'], s['test']) == (153776, 22363, 22363)
    assert set(out['test']) == {'recall@10', 'recall@20', 'ndcg@10',
                                'ndcg@20'}
    assert all(0 <= v <= 1 for v in out['test'].values())
    assert out['best_epoch'] == 1 and out['batches_per_epoch'] == 2
    assert out['seconds_per_epoch'] > 0 and out['seconds_per_eval'] > 0
    assert out['augmenter'] == augmenter
    if augmenter == 'adar':
        assert out['num_steps'] == 20
    assert out['model'].startswith({'sasrec': 'SASRec',
                                    'cl4srec': 'CL4SRec'}[model])
    assert 'history masked' in out['protocol']
    assert 'test: recall@10' in proc.stdout
