"""SR runs through the typed config (:mod:`adar_pyg.config`): the SR defaults,
the model of :obj:`model.model` (:func:`~adar_pyg.pipeline.build_model`)
and :func:`adar_pyg.run.train` on a given split; the example runs on the real
mirror for two batches (skipped without the mirror)."""
import argparse
import json
import os
import subprocess
import sys

import pytest

from adar_pyg import run
from adar_pyg.config import Config, add_config_args, config_from_args
from adar_pyg.pipeline import RunData, build_model
from adar_pyg.datasets import default_mirror
from adar_pyg.sequential import CL4SRec, GRU4Rec, LeaveOneOutSplit, SASRec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def sr_config(**sections):
    r"""The SR config with :obj:`sections` (nested dicts) on top."""
    return Config.build({'run': {'task': 'sr'}}, sections)


def test_defaults_follow_the_paper():
    cfg = sr_config()
    assert (cfg.model.model, cfg.model.dim, cfg.train.batch_size,
            cfg.split.max_len) == ('sasrec', 64, 256, 50)
    assert (cfg.train.lr, cfg.adar.num_steps, cfg.train.augmenter) == (
        1e-3, 20, 'none')
    assert cfg.train.l2 == 0.0 and cfg.train.mask_history
    # The CF defaults differ where the paper's SR settings do:
    cf = Config.build()
    assert (cf.train.batch_size, cf.adar.num_steps, cf.train.l2) == (
        2048, 50, 1e-4)


def test_flags_of_an_sr_run():
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    args = parser.parse_args(['--task', 'sr'])
    cfg = config_from_args(args)
    assert cfg == sr_config()
    assert (cfg.model.model, cfg.train.batch_size, cfg.split.max_len,
            cfg.adar.num_steps) == ('sasrec', 256, 50, 20)
    assert cfg.train.mask_history and cfg.train.augmenter == 'none'
    args = parser.parse_args(['--task', 'sr', '--no-mask-history',
                              '--model', 'gru4rec', '--adar-num-steps', '5'])
    cfg = config_from_args(args)
    assert not cfg.train.mask_history and cfg.model.model == 'gru4rec'
    assert cfg.adar.num_steps == 5


@pytest.mark.parametrize('name,cls,dropout', [('sasrec', SASRec, 0.5),
                                              ('gru4rec', GRU4Rec, 0.3),
                                              ('cl4srec', CL4SRec, 0.5)])
def test_build_sr_model(name, cls, dropout):
    model = build_model(sr_config(model={'model': name, 'dim': 8}), 7, 100)
    assert type(model) is cls and model.num_items == 100
    assert model.embedding_dim == 8 and model.max_len == 50
    if name == 'gru4rec':
        assert model.num_layers == 1 and model.dropout.p == dropout
    else:
        assert model.num_layers == 2 and model.dropout_p == dropout
    model = build_model(sr_config(model={'model': name, 'dropout': 0.1,
                                         'layers': 1}), 7, 100)
    assert model.num_layers == 1
    if name == 'gru4rec':
        assert model.dropout.p == 0.1
    else:
        assert model.dropout_p == 0.1
    if name == 'cl4srec':
        assert model.similarity == 'dot'
        model = build_model(sr_config(model={
            'model': name, 'cl_weight': 0.05, 'cl_temperature': 0.5,
            'cl_similarity': 'cos'}), 7, 100)
        assert (model.cl_weight, model.temperature, model.similarity) == (
            0.05, 0.5, 'cos')


@pytest.mark.parametrize('model', ['gru4rec', 'cl4srec'])
def test_run_sr_on_a_given_split(model):
    from test_sr_task import chain_data
    split = LeaveOneOutSplit(max_len=8)(chain_data())
    stats = {'items': split.num_items, **split.statistics()}
    cfg = sr_config(run={'device': 'cpu'}, model={'model': model, 'dim': 16},
                    split={'max_len': 8},
                    train={'epochs': 2, 'batch_size': 16,
                           'augmenter': 'adar'},
                    adar={'num_steps': 4})
    out = run.train(cfg, data=RunData(split, statistics=stats),
                    progress=False)
    assert out['statistics'] is stats and out['epochs_run'] == 2
    assert out['settings']['adar']['num_steps'] == 4
    assert out['batches_per_epoch'] == 5
    assert len(out['history']) == 2 and 1 <= out['best_epoch'] <= 2
    assert all(0 <= v <= 1 for v in out['test'].values())
    assert out['sampler'].startswith('UniformSampler(')
    assert 'history masked' in out['protocol']
    assert out['settings']['model']['model'] == model


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
           '--threads', '1', '--out', str(tmp_path / 'run')]
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
        assert out['settings']['adar']['num_steps'] == 20
    assert out['model'].startswith({'sasrec': 'SASRec',
                                    'cl4srec': 'CL4SRec'}[model])
    assert 'history masked' in out['protocol']
    assert 'test: recall@10' in proc.stdout
