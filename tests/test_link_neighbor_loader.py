import json
import os
import re
import subprocess
import sys

import pytest
import torch
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

from adar_pyg import NegativeAugmenter
from adar_pyg.datasets import default_mirror
from adar_pyg.transforms import PerUserRandomSplit

from scripts import load_script
from tiny_data import clustered_graph

E = ('user', 'rates', 'item')
U, I = 30, 20
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'examples', 'link_neighbor_loader_adar.py')

needs_sampler = pytest.mark.skipif(
    not (WITH_TORCH_SPARSE or WITH_PYG_LIB),
    reason='LinkNeighborLoader needs torch-sparse or pyg-lib')

pytestmark = pytest.mark.filterwarnings(
    "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")


@pytest.fixture(scope='module')
def example():
    return load_script('examples/link_neighbor_loader_adar.py')


def train_split(per_user=6, seed=0):
    data = clustered_graph(U, I, per_user=per_user, seed=seed, reverse=True)
    train, _, _ = PerUserRandomSplit(0.2, 0.1, seed=seed)(data)
    return train


def make_loader(train, num_neighbors=(3, 2), batch_size=16):
    return LinkNeighborLoader(
        train,
        num_neighbors=list(num_neighbors),
        edge_label_index=(E, train[E].edge_label_index),
        neg_sampling='triplet',
        batch_size=batch_size,
        shuffle=True,
    )


@needs_sampler
def test_loader_yields_triplet_batches(example):
    torch.manual_seed(0)
    train = train_split()
    pairs = train[E].edge_label_index
    train_pairs = set(map(tuple, pairs.t().tolist()))

    seen = []
    for batch in make_loader(train):
        src = batch['user'].src_index
        pos, neg = batch['item'].dst_pos_index, batch['item'].dst_neg_index
        assert src.size() == pos.size() == neg.size()
        assert int(src.max()) < batch['user'].num_nodes
        assert int(max(pos.max(), neg.max())) < batch['item'].num_nodes

        user, pos_item, neg_item = example.triplet_global_ids(batch)
        batch_pairs = torch.stack([user, pos_item])
        # The naive reference: the input pairs picked by `input_id`:
        assert torch.equal(batch_pairs, pairs[:, batch[E].input_id])
        assert set(map(tuple, batch_pairs.t().tolist())) <= train_pairs
        assert 0 <= int(neg_item.min()) and int(neg_item.max()) < I
        seen.append(batch_pairs)

    # One epoch visits every training pair once:
    seen = torch.cat(seen, dim=1)
    assert seen.size(1) == pairs.size(1)
    assert set(map(tuple, seen.t().tolist())) == train_pairs


@needs_sampler
@pytest.mark.parametrize('num_layers', [0, 2])
def test_embeddings_match_full_forward(example, num_layers):
    # With all neighbors sampled (-1), the embeddings picked through the
    # local indices equal the full-batch embeddings at the global ids (for
    # num_layers=0: the rows of the embedding tables).
    torch.manual_seed(0)
    train = train_split()
    model = example.HeteroSAGE({'user': U, 'item': I}, train.edge_types,
                               embedding_dim=8, num_layers=num_layers)
    full_user, full_item = example.full_embeddings(model, train, 'cpu')
    if num_layers == 0:
        assert torch.equal(full_user, model.embedding['user'].weight)

    for batch in make_loader(train, num_neighbors=(-1, -1)):
        with torch.no_grad():
            out = model(batch.n_id_dict, batch.edge_index_dict)
        user, pos, neg = example.triplet_embeddings(batch, out)
        user_id, pos_id, neg_id = example.triplet_global_ids(batch)
        assert torch.allclose(user, full_user[user_id], atol=1e-6)
        assert torch.allclose(pos, full_item[pos_id], atol=1e-6)
        assert torch.allclose(neg, full_item[neg_id], atol=1e-6)


@needs_sampler
def test_train_step_updates_model_and_denoiser(example):  # (source='chain')
    torch.manual_seed(0)
    train = train_split()
    batch = next(iter(make_loader(train)))
    model = example.HeteroSAGE({'user': U, 'item': I}, train.edge_types,
                               embedding_dim=8, num_layers=2)
    augmenter = NegativeAugmenter(8, num_steps=10, hidden_channels=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model_before = {k: v.clone() for k, v in model.state_dict().items()}
    denoiser_before = [p.clone() for p in augmenter.denoiser.parameters()]

    loss = example.train_step(model, optimizer, batch, augmenter, l2=1e-4)
    assert torch.isfinite(torch.tensor(loss))

    for key, value in model.state_dict().items():
        if not key.startswith('embedding.'):
            assert not torch.equal(value, model_before[key]), key
    # Exactly the embedding rows of the sampled subgraph's nodes move:
    for node_type in ('user', 'item'):
        weight = model.embedding[node_type].weight
        before = model_before[f'embedding.{node_type}.weight']
        changed = (weight != before).any(dim=1)
        in_batch = torch.zeros_like(changed)
        in_batch[batch[node_type].n_id] = True
        assert changed.any()
        assert not (changed & ~in_batch).any()

    # The default source='forward' generates without the denoiser, and
    # step() trains none:
    assert all(torch.equal(p, q) for p, q in zip(
        augmenter.denoiser.parameters(), denoiser_before))
    chain = NegativeAugmenter(8, num_steps=10, hidden_channels=16,
                              source='chain')
    before = [p.clone() for p in chain.denoiser.parameters()]
    example.train_step(model, optimizer, batch, chain, l2=1e-4)
    assert any(not torch.equal(p, q) for p, q in zip(
        chain.denoiser.parameters(), before))


def test_example_needs_no_sampling_backend(example, monkeypatch):
    import torch_geometric.typing
    monkeypatch.setattr(torch_geometric.typing, 'WITH_PYG_LIB', False)
    monkeypatch.setattr(torch_geometric.typing, 'WITH_TORCH_SPARSE', False)
    train = train_split()
    loader = LinkNeighborLoader(
        train, num_neighbors=[3, 2],
        edge_label_index=(E, train[E].edge_label_index),
        neg_sampling='triplet', batch_size=16,
        neighbor_sampler=example.TorchNeighborSampler(train, [3, 2]))
    batch = next(iter(loader))
    users = batch['user'].n_id[batch['user'].src_index]
    pos = batch['item'].n_id[batch['item'].dst_pos_index]
    pairs = set(map(tuple, train[E].edge_label_index.t().tolist()))
    assert set(zip(users.tolist(), pos.tolist())) <= pairs


def test_example_runs_on_own_data(example, tmp_path):
    # String ids (`data['user'].raw_id`) go through the loader:
    g = torch.Generator().manual_seed(0)
    lines = ['user,item,timestamp'] + [
        f'u{u},i{int(i)},{t}' for u in range(40)
        for t, i in enumerate(torch.randint(60, (8, ), generator=g))]
    path = tmp_path / 'seq.csv'
    path.write_text('\n'.join(lines) + '\n')
    out = example.main(['--data', str(path), '--max-batches', '2', '--dim',
                        '8', '--batch-size', '64', '--threads', '1',
                        '--no-progress'])
    assert (out['users'], out['batches_per_epoch']) == (40, 2)


@pytest.mark.parametrize('text,message', [
    (None, "Interactions file '.*nothing.csv' does not exist"),
    ('user,item,timestamp\n', r'seq.csv:1: no rows after the header'),
])
def test_example_data_errors_are_one_line(tmp_path, text, message):
    path = tmp_path / ('nothing.csv' if text is None else 'seq.csv')
    if text is not None:
        path.write_text(text)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('ADAR_PYG_DEBUG', None)
    result = subprocess.run([
        sys.executable, EXAMPLE, '--data', str(path), '--threads', '1',
        '--no-progress'
    ], env=env, timeout=120, capture_output=True, text=True)
    assert result.returncode == 3, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert 'Traceback' not in result.stderr and len(lines) <= 2
    assert re.fullmatch(f'adar-pyg: error: {message}', lines[0])


@pytest.mark.skipif(default_mirror() is None,
                    reason='no local dataset mirror (../shared/datasets)')
def test_example_runs_on_mirror(tmp_path):
    path = tmp_path / 'x.json'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run([
        sys.executable, EXAMPLE, '--max-batches', '3', '--epochs', '1',
        '--device', 'cpu', '--threads', '1', '--no-progress', '--json',
        str(path), '--data-root', str(tmp_path)
    ], env=env, timeout=120, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    out = json.loads(path.read_text())
    assert (out['users'], out['items']) == (22363, 12101)
    assert out['batches_per_epoch'] == 3
    assert len(out['seconds_per_epoch']) == 1
    assert out['seconds_per_epoch'][0] > 0 and out['seconds_per_batch'] > 0
    for split in ('val', 'test'):
        assert set(out[split]) == {'recall@10', 'ndcg@10', 'recall@20',
                                   'ndcg@20'}
        assert all(0 <= v <= 1 for v in out[split].values())
    assert out['augmenter'].startswith('NegativeAugmenter')
