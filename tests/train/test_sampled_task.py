import pytest
import torch

from adar_pyg import NegativeAugmenter
from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.nn import NGCF, LightGCN, bipartite_norm_adj
from adar_pyg.nn.models import BipartiteRecommender
from adar_pyg.sampling import SAMPLERS
from adar_pyg.train import CFTask, SampledCFTask, Trainer
from adar_pyg.transforms import PerUserRandomSplit

from tiny_data import clustered_graph, needs_sampler

#: Both neighbour samplers; PyG's needs torch-sparse or pyg-lib.
SUBGRAPH_SAMPLERS = ['torch', pytest.param('pyg', marks=needs_sampler)]

E = ('user', 'rates', 'item')
U, I = 14, 30


pytestmark = pytest.mark.filterwarnings(
    "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")


def splits(per_user=6, seed=0):
    data = clustered_graph(U, I, per_user=per_user, seed=seed, reverse=True)
    return PerUserRandomSplit(0.2, 0.1, seed=seed)(data)


def make_model(name, layers=3):
    torch.manual_seed(0)
    if name == 'ngcf':  # No dropout: the two paths draw no random masks.
        return NGCF(U, I, embedding_dim=8, num_layers=layers,
                    node_dropout=0.0, message_dropout=0.0)
    return LightGCN(U, I, embedding_dim=8, num_layers=layers)


def make_sampler(name, train):
    kwargs = {} if name == 'uniform' else {'num_candidates': 4}
    return SAMPLERS[name](train[E].edge_label_index, U, I, **kwargs)


def loss_and_grads(task, out, l2=1e-2):
    loss = d_bpr_loss(out.user, out.pos, out.neg) + l2 * out.reg
    params = [p for p in task.model.parameters()]
    return loss, torch.autograd.grad(loss, params)


@pytest.mark.parametrize('subgraph_sampler', SUBGRAPH_SAMPLERS)
@pytest.mark.parametrize('model,sampler', [
    ('lightgcn', 'uniform'), ('lightgcn', 'dns'), ('lightgcn', 'ahns'),
    ('lightgcn', 'mixgcf'), ('ngcf', 'uniform'), ('ngcf', 'dns')])
@pytest.mark.parametrize('num_neighbors', [-1, 100])
def test_full_fanout_equals_full_propagation(model, sampler, num_neighbors,
                                            subgraph_sampler):
    train, val, test = splits()
    full = CFTask(make_model(model), train, val, test,
                  sampler=make_sampler(sampler, train), batch_size=16)
    sampled = SampledCFTask(make_model(model), train, val, test,
                            sampler=make_sampler(sampler, train),
                            num_neighbors=num_neighbors, batch_size=16,
                            subgraph_sampler=subgraph_sampler)
    assert sampled.num_batches() == full.num_batches() == 4
    g_full = torch.Generator().manual_seed(1)
    g_sampled = torch.Generator().manual_seed(1)
    count = 0
    for b_full, b_sampled in zip(full.batches(g_full),
                                 sampled.batches(g_sampled)):
        # The same (user, positive) rows, in global ids:
        n_user, n_item = b_sampled['user'].n_id, b_sampled['item'].n_id
        assert torch.equal(n_user[b_sampled['user'].src_index], b_full[0])
        assert torch.equal(n_item[b_sampled['item'].dst_pos_index],
                           b_full[1])
        out_full = full.forward(b_full, g_full)
        out_sampled = sampled.forward(b_sampled, g_sampled)
        for a, b in zip((out_full.user, out_full.pos, out_full.neg,
                         out_full.reg),
                        (out_sampled.user, out_sampled.pos, out_sampled.neg,
                         out_sampled.reg)):
            assert torch.allclose(a, b, atol=1e-6)
        loss_full, grads_full = loss_and_grads(full, out_full)
        loss_sampled, grads_sampled = loss_and_grads(sampled, out_sampled)
        assert torch.allclose(loss_full, loss_sampled, atol=1e-6)
        for a, b in zip(grads_full, grads_sampled):
            assert torch.allclose(a, b, atol=1e-6)
        count += 1
    assert count == 4
    # The generators were used alike (the same negatives were drawn):
    assert torch.equal(g_full.get_state(), g_sampled.get_state())


def test_uniform_negatives_are_the_full_paths():
    train, val, test = splits()
    sampler = make_sampler('uniform', train)
    sampled = SampledCFTask(make_model('lightgcn'), train, val, test,
                            sampler=sampler, num_neighbors=2, batch_size=16)
    g, g_ref = (torch.Generator().manual_seed(3) for _ in range(2))
    perm = torch.randperm(train[E].edge_label_index.size(1), generator=g_ref)
    pairs = train[E].edge_label_index[:, perm]
    for k, batch in enumerate(sampled.batches(g)):
        users = pairs[0, 16 * k:16 * (k + 1)]
        expected = sampler.sample(users, None, generator=g_ref)
        neg = batch['item'].n_id[batch['item'].dst_neg_index]
        assert torch.equal(neg, expected)
        assert not sampler.is_positive(users, neg).any()


@pytest.mark.parametrize('subgraph_sampler', SUBGRAPH_SAMPLERS)
@pytest.mark.parametrize('num_neighbors', [1, [2, 1], [3, 2]])
def test_small_fanout_subgraph(num_neighbors, subgraph_sampler):
    train, val, test = splits(per_user=8)
    task = SampledCFTask(make_model('lightgcn', layers=2), train, val, test,
                         num_neighbors=num_neighbors, batch_size=8,
                         subgraph_sampler=subgraph_sampler)
    dense = bipartite_norm_adj(train[E].edge_index, U, I).to_sparse()
    dense = dense.to_dense()
    fanout = [num_neighbors] * 2 if isinstance(num_neighbors, int) else \
        num_neighbors
    for batch in task.batches(torch.Generator().manual_seed(0)):
        adj = task.adjacency(batch)
        n_user, n_item = batch['user'].n_id, batch['item'].n_id
        sub = adj.user_item.to_dense()
        assert torch.equal(adj.item_user.to_dense(), sub.t())
        # The sampled edges, weighted as in the full graph's adjacency:
        full = dense[n_user][:, U + n_item]
        mask = sub != 0
        assert mask.any()
        assert torch.allclose(sub[mask], full[mask])
        # Seed users are expanded first: at most k_1 sampled items each.
        rev = batch['item', 'rev_rates', 'user'].edge_index
        seeds = batch['user'].src_index.unique()
        per_user = torch.bincount(rev[1], minlength=n_user.numel())
        assert int(per_user[seeds].max()) <= fanout[0]
        out = task.forward(batch)
        rows = batch['user'].src_index.numel()
        assert out.user.shape == out.pos.shape == out.neg.shape == (rows, 8)


def test_trainer_drives_the_sampled_task_with_adar():
    train, val, test = splits()
    task = SampledCFTask(make_model('lightgcn', layers=2), train, val, test,
                         num_neighbors=[5, 3], batch_size=16)
    augmenter = NegativeAugmenter(8, num_steps=5)
    trainer = Trainer(task, augmenter, lr=1e-2, epochs=2, progress=False,
                      log=lambda line: None)
    result = trainer.fit()
    assert result.epochs_run == 2
    assert 0.0 <= result.test['recall@20'] <= 1.0
    assert 'aug_t_star' in result.history[-1]
    # Evaluation is CFTask's: full propagation over the training graph.
    reference = CFTask(task.model, train, val, test)
    assert task.evaluate('test') == reference.evaluate('test')


class TwoTables(LightGCN):
    r"""LightGCN's propagation with separate user and item tables (no
    :obj:`embedding` attribute read): the base class's :meth:`ego_rows`."""
    def __init__(self, ref):
        super().__init__(U, I, embedding_dim=8, num_layers=ref.num_layers)
        user, item = (x.detach().clone() for x in ref.ego_embeddings())
        self.user, self.item = (torch.nn.Parameter(user),
                                torch.nn.Parameter(item))

    def ego_embeddings(self):
        return self.user, self.item

    ego_rows = BipartiteRecommender.ego_rows
    sparse_tables = BipartiteRecommender.sparse_tables


@pytest.mark.parametrize('kind', ['two-tables', 'double'])
def test_any_backbone_of_the_contract(kind):
    r"""The sampled path reads the layer-0 rows through the backbone's
    `ego_rows` (not a table of its own) and weighs the edges in the
    embeddings' type: a backbone with two tables, and a double one, give
    the outputs of the one-table float backbone."""
    train, val, test = splits()
    ref = SampledCFTask(make_model('lightgcn'), train, val, test,
                        num_neighbors=-1, batch_size=16)
    model = (TwoTables(make_model('lightgcn')) if kind == 'two-tables'
             else make_model('lightgcn').double())
    task = SampledCFTask(model, train, val, test, num_neighbors=-1,
                         batch_size=16)
    g, g_ref = (torch.Generator().manual_seed(2) for _ in range(2))
    for batch, b_ref in zip(task.batches(g), ref.batches(g_ref)):
        out, out_ref = task.forward(batch, g), ref.forward(b_ref, g_ref)
        assert out.user.dtype == model.ego_embeddings()[0].dtype
        for a, b in zip((out.user, out.pos, out.neg, out.reg),
                        (out_ref.user, out_ref.pos, out_ref.neg,
                         out_ref.reg)):
            assert torch.allclose(a.double(), b.double(), atol=1e-6)
    if kind == 'two-tables':
        with pytest.raises(ValueError, match='needs a backbone with sparse'):
            SampledCFTask(model, train, val, test, sparse_grad=True)


def test_bad_input():
    train, val, test = splits()
    with pytest.raises(ValueError, match='one fan-out per layer'):
        SampledCFTask(make_model('lightgcn'), train, val, test,
                      num_neighbors=[5, 5])
    with pytest.raises(ValueError, match='positive or -1'):
        SampledCFTask(make_model('lightgcn'), train, val, test,
                      num_neighbors=[5, 0, 5])

    class MF(LightGCN):
        pass

    with pytest.raises(ValueError, match="trains LightGCN and NGCF"):
        SampledCFTask(torch.nn.Linear(2, 2), train, val, test)
    assert isinstance(SampledCFTask(MF(U, I, 8, 1), train, val, test),
                      SampledCFTask)
    with pytest.raises(ValueError, match='per-layer representations'):
        SampledCFTask(make_model('ngcf'), train, val, test,
                      sampler=make_sampler('mixgcf', train))
    with pytest.raises(NotImplementedError, match='multi-process'):
        SampledCFTask(make_model('lightgcn'), train, val, test).shard(0, 2)


class NoLayers(BipartiteRecommender):
    r"""A backbone written on the base class alone that propagates nothing
    (matrix factorisation): its :obj:`num_layers` is the base's 0."""
    def __init__(self):
        super().__init__(U, I, 8)
        self.table = torch.nn.Parameter(torch.randn(U + I, 8))

    def ego_embeddings(self):
        return tuple(self.table.split([U, I]))


def test_layers_are_part_of_the_contract():
    r"""Every backbone has :obj:`num_layers` (the base class's, checked): a
    backbone of none is refused by the sampled path with the reason, not an
    :class:`AttributeError`."""
    train, val, test = splits()
    assert NoLayers().num_layers == 0
    assert TwoTables(make_model('lightgcn', layers=2)).num_layers == 2
    with pytest.raises(ValueError, match=r"one hop per propagation layer, "
                       r"and 'NoLayers' has none \(num_layers 0\)"):
        SampledCFTask(NoLayers(), train, val, test)
    with pytest.raises(ValueError, match="'num_layers'"):
        BipartiteRecommender(U, I, 8, num_layers=-1)


def test_missing_backend(monkeypatch):
    monkeypatch.setattr('adar_pyg.train.sampled_task.WITH_PYG_LIB', False)
    monkeypatch.setattr('adar_pyg.train.sampled_task.WITH_TORCH_SPARSE',
                        False)
    train, val, test = splits()
    with pytest.raises(ImportError, match='torch-sparse'):
        SampledCFTask(make_model('lightgcn'), train, val, test,
                      subgraph_sampler='pyg')
    with pytest.raises(ValueError, match="'subgraph_sampler'"):
        SampledCFTask(make_model('lightgcn'), train, val, test,
                      subgraph_sampler='dgl')
    # The default sampler needs neither backend:
    task = SampledCFTask(make_model('lightgcn'), train, val, test,
                         batch_size=16)
    assert "subgraph_sampler='torch'" in repr(task)
    assert sum(1 for _ in task.batches(torch.Generator())) == 4
    task = CFTask(make_model('lightgcn'), train, val, test)
    assert task.num_batches() == 1  # The full path needs no backend.


@pytest.mark.parametrize('layers,expected', [(1, [10]), (3, [10, 5, 2]),
                                             (4, [10, 5, 2, 2])])
def test_default_fanout(layers, expected):
    train, val, test = splits()
    task = SampledCFTask(make_model('lightgcn', layers), train, val, test)
    assert task.num_neighbors == expected
    assert 'num_neighbors=' in repr(task)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='CUDA not available')


@needs_cuda
def test_cuda_matches_cpu():
    train, val, test = splits()
    outs = []
    for device in ('cpu', 'cuda'):
        task = SampledCFTask(make_model('lightgcn'), train, val, test,
                             num_neighbors=[3, 2, 2], batch_size=16,
                             device=device)
        torch.manual_seed(5)  # The same neighbours are sampled.
        g = torch.Generator().manual_seed(5)
        batch = next(iter(task.batches(g)))
        out = task.forward(batch, g)
        loss, grads = loss_and_grads(task, out)
        outs.append((loss.cpu(), [x.cpu() for x in grads]))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5)
    for a, b in zip(outs[0][1], outs[1][1]):
        assert torch.allclose(a, b, atol=1e-5)


@needs_cuda
@pytest.mark.parametrize('path', [CFTask, SampledCFTask])
def test_cuda_trainer_fits(path):
    train, val, test = splits()
    task = path(make_model('lightgcn', layers=2), train, val, test,
                batch_size=16, device='cuda')
    trainer = Trainer(task, NegativeAugmenter(8, num_steps=5), epochs=1,
                      progress=False, log=lambda line: None)
    result = trainer.fit()
    assert 0.0 <= result.test['recall@20'] <= 1.0
