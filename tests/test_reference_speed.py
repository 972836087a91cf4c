"""benchmarks/reference_speed.py: the reference-design baselines compute what
our models compute (tiny synthetic graphs), every row runs end to end on a tiny
split, and --quick runs on the real mirror (skipped without it)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from adar_pyg.datasets import default_mirror
from adar_pyg.nn import NGCF, LightGCN

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_mirror = pytest.mark.skipif(default_mirror() is None,
                                  reason='local dataset mirror not found')


rs = load_script('benchmarks/reference_speed.py')


def random_bipartite(U=7, I=9, num_edges=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.stack([torch.randint(U, (num_edges, ), generator=g),
                              torch.randint(I, (num_edges, ), generator=g)])
    return torch.unique(edge_index, dim=1)  # binary interactions


def grads(out, params, seed=1):
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g)).sum() for o in out)
    return torch.autograd.grad(loss, params)


def assert_close(a, b):
    # Models and references in float64: agreement to float64 precision
    # (in float32, the different summation orders of the two designs differ
    # by a few 1e-6 near cancellations, for rare draws).
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype == torch.float64
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_reference_lightgcn_equals_ours(num_layers):
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    torch.manual_seed(0)
    ours = LightGCN(U, I, embedding_dim=5, num_layers=num_layers).double()
    ref = rs.ReferenceLightGCN.from_model(ours, edge_index)
    adj = ref.sparse_norm_adj
    assert adj.layout == torch.sparse_coo and adj.is_coalesced()
    assert adj.shape == (U + I, U + I) and adj._nnz() == 2 * edge_index.size(1)
    assert torch.equal(ref.ego_embeddings()[0], ours.ego_embeddings()[0])
    assert torch.equal(ref.ego_embeddings()[1], ours.ego_embeddings()[1])
    # final representations, per-layer ones and the pooling (MixGCF's path)
    assert_close(ref(edge_index), ours(edge_index))
    layers_ref, layers_ours = (ref.layer_embeddings(edge_index),
                               ours.layer_embeddings(edge_index))
    assert layers_ref[0].shape == (U, num_layers + 1, 5)
    assert_close(layers_ref, layers_ours)
    assert_close([ref.pool_layers(layers_ref[1])],
                 [ours.pool_layers(layers_ours[1])])
    # the same gradients w.r.t. the layer-0 tables
    g_ref = grads(ref(edge_index), [ref.user_embed, ref.item_embed])
    g_ours = grads(ours(edge_index), [ours.embedding.weight])
    assert_close([torch.cat(g_ref)], g_ours)


@pytest.mark.parametrize('num_layers', [0, 2])
def test_reference_ngcf_equals_ours(num_layers):
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    torch.manual_seed(0)
    ours = NGCF(U, I, embedding_dim=6, num_layers=num_layers).double()
    for conv in ours.convs:
        torch.nn.init.normal_(conv.bias)  # exercise the bias
    ref = rs.ReferenceNGCF.from_model(ours, edge_index)
    assert ref.out_channels == ours.out_channels == 6 * (num_layers + 1)
    assert (ref.node_dropout, ref.message_dropout) == (0.1, 0.1)
    ours.eval()
    ref.eval()  # no dropout
    out_ours, out_ref = ours(edge_index), ref(edge_index)
    assert out_ref[0].shape == (U, 6 * (num_layers + 1))
    assert_close(out_ref, out_ours)
    params_ref = [ref.user_embed, ref.item_embed, *ref.W_gc, *ref.W_bi,
                  *ref.b]
    params_ours = [ours.embedding.weight]
    params_ours += [c.lin1.weight for c in ours.convs]
    params_ours += [c.lin2.weight for c in ours.convs]
    params_ours += [c.bias for c in ours.convs]
    g_ref, g_ours = grads(out_ref, params_ref), grads(out_ours, params_ours)
    L = num_layers
    assert_close([torch.cat(g_ref[:2])], g_ours[:1])
    assert_close([g.t() for g in g_ref[2:2 + 2 * L]], g_ours[1:1 + 2 * L])
    assert_close([g.view(-1) for g in g_ref[2 + 2 * L:]], g_ours[1 + 2 * L:])


def test_reference_ngcf_training_mode():
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    torch.manual_seed(0)
    # without dropout, training mode is the same function
    ours = NGCF(U, I, embedding_dim=4, num_layers=2, node_dropout=0.0,
                message_dropout=0.0).double()
    ref = rs.ReferenceNGCF.from_model(ours, edge_index)
    assert_close(ref(edge_index), ours(edge_index))
    # the reference's node dropout: a new COO of the kept entries, rescaled
    adj = rs.norm_adj_coo(random_bipartite(50, 60, 2000), 50, 60)
    torch.manual_seed(0)
    dropped = rs.ReferenceNGCF.sparse_dropout(adj, 0.25).coalesce()
    kept = dropped._nnz() / adj._nnz()
    assert 0.7 < kept < 0.8
    dense, full = dropped.to_dense(), adj.to_dense()
    mask = dense != 0
    assert torch.allclose(dense[mask], full[mask] / 0.75)
    # with dropout, training outputs are random but of the right shape
    ref = rs.ReferenceNGCF(edge_index, U, I, 4, 2)
    out = ref(edge_index)
    assert out[0].shape == (U, 12) and out[1].shape == (I, 12)
    with pytest.raises(TypeError, match='no reference design'):
        rs.reference_of(torch.nn.Linear(2, 2), edge_index)


@pytest.mark.parametrize('row', ['lightgcn', 'ngcf', 'mixgcf', 'ahns'])
def test_every_row_runs_on_a_tiny_split(row, tiny_run_data):
    args, cfg = rs.parse_args(['--device', 'cpu', '--epochs', '2',
                               '--ref-batches', '2', '--batch-size', '32',
                               '--dim', '8', '--layers', '2',
                               '--num-candidates', '4'])
    assert args.models == ['lightgcn', 'ngcf', 'mixgcf', 'ahns']
    data = tiny_run_data()
    logs = []
    out = rs.run_row(row, cfg, data, torch.device('cpu'), args.ref_batches,
                     args.warmup_batches, log=logs.append)
    assert out['name'] == rs.ROWS[row][0] and len(logs) == 1
    check = out['first_batch_check']
    assert check['representations_allclose']
    assert check['max_abs_diff_representations'] < 1e-5
    # eval mode, same batch and generator: the same first-batch loss
    assert check['loss_ours'] == pytest.approx(check['loss_reference'],
                                               rel=1e-5)
    assert len(out['ours_epoch_seconds']) == 2
    assert len(out['reference_batch_seconds']) == 2
    assert out['reference_batches_timed_per_round'] == 2
    assert out['ours_seconds_per_epoch'] > 0 and out['speedup'] > 0
    sampler = {'uniform': 'UniformSampler', 'mixgcf': 'MixGCFSampler',
               'ahns': 'AHNSSampler'}[rs.ROWS[row][2]]
    assert out['sampler'].startswith(sampler)
    assert out['reference_model'].startswith('ReferenceNGCF' if row == 'ngcf'
                                             else 'ReferenceLightGCN')
    md = rs.markdown({row: out})
    assert md.splitlines()[0] == ('| model | ours s/epoch | '
                                  'reference-design s/epoch | speed-up |')
    assert md.splitlines()[2].startswith(f"| {out['name']} | ")


def test_partial_epoch_task_takes_the_first_batches(tiny_run_data):
    data = tiny_run_data()
    train, val, test, stats = data.train, data.val, data.test, data.statistics
    model = LightGCN(stats['users'], stats['items'], embedding_dim=4)
    task = rs.PartialEpochTask(model, train, val, test, batch_size=16)
    full = list(task.batches(torch.Generator().manual_seed(3)))
    assert len(full) == task.num_batches() == task.batches_per_epoch() > 3
    task.max_batches = 3
    part = list(task.batches(torch.Generator().manual_seed(3)))
    assert task.num_batches() == 3 and len(part) == 3
    assert all(torch.equal(a, b) for a, b in zip(part, full))
    assert task.batches_per_epoch() == len(full)


def test_quick_flags():
    args, cfg = rs.parse_args(['--quick', '--batch-size', '64'])
    assert (cfg.train.epochs, args.ref_batches, cfg.train.batch_size,
            args.warmup_batches) == (1, 2, 8192, 1)
    assert args.models == ['lightgcn', 'mixgcf']
    args, _ = rs.parse_args(['--quick', '--models', 'ngcf'])
    assert args.models == ['ngcf']
    args, cfg = rs.parse_args([])
    assert (cfg.train.epochs, args.ref_batches, cfg.train.batch_size,
            args.warmup_batches) == (3, 10, 2048, 2)
    # The rows replace the backbone and the sampler, nothing else:
    row = rs.row_config(cfg.replace({'train': {'lr': 0.01}}), 'ngcf',
                        'dns')
    assert (row.model.model, row.sampler.sampler) == ('ngcf', 'dns')
    assert (row.train.lr, row.model.layers) == (0.01, None)


@needs_mirror
def test_quick_on_beauty(tmp_path):
    out_path = tmp_path / 'out.json'
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks',
                                        'reference_speed.py'),
           '--quick', '--device', 'cpu', '--threads', '1', '--data-root',
           str(tmp_path / 'data'), '--json', str(out_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out_path) as f:
        out = json.load(f)
    assert set(out['rows']) == {'lightgcn', 'mixgcf'}
    assert out['batches_per_epoch'] == 18 and out['ref_batches'] == 2
    assert out['threads'] == 1 and out['device'] == 'cpu'
    assert 'reference_speed.py --quick' in out['command']
    for row in out['rows'].values():
        assert row['first_batch_check']['representations_allclose']
        assert row['ours_seconds_per_epoch'] > 0
        assert row['reference_seconds_per_epoch'] > 0
    assert out['markdown'] in proc.stdout
    assert '| LightGCN |' in proc.stdout and '| MixGCF |' in proc.stdout
    assert 'extrapolated' in proc.stdout
