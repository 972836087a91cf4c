import pytest
import torch
import torch.nn.functional as F

from adar_pyg.nn import NGCF, NGCFConv, bipartite_norm_adj
from adar_pyg.nn.sparse import (DroppedBipartiteAdjacency, bipartite_spmm,
                                edge_dropout, transpose_perm)


def random_bipartite(num_users=7, num_items=9, num_edges=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    user = torch.randint(num_users, (num_edges, ), generator=g)
    item = torch.randint(num_items, (num_edges, ), generator=g)
    return torch.stack([user, item])


def dense_norm_adj(edge_index, U, I, dtype=torch.float):
    A = torch.zeros(U + I, U + I, dtype=dtype)
    A[edge_index[0], edge_index[1] + U] = 1
    A[edge_index[1] + U, edge_index[0]] = 1
    deg = A.sum(1)
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return dinv[:, None] * A * dinv[None, :]


def homogeneous(edge_index, U):
    u, i = edge_index[0], edge_index[1] + U
    ei = torch.cat([torch.stack([u, i]), torch.stack([i, u])], dim=1)
    return torch.unique(ei, dim=1)


def dense_conv(conv, x, A):
    """Eq. 7 of NGCF written out with a dense matrix."""
    h = A @ x
    out = ((A + torch.eye(A.size(0))) @ x) @ conv.lin1.weight.t() + \
        (h * x) @ conv.lin2.weight.t() + conv.bias
    return F.leaky_relu(out, 0.2)


def dense_ngcf(model, A):
    x = model.embedding.weight
    out = [x]
    for conv in model.convs:
        x = dense_conv(conv, x, A)
        out.append(x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12))
    out = torch.cat(out, dim=-1)
    return out[:model.num_users], out[model.num_users:]


@pytest.mark.parametrize('form', ['edge_index', 'bipartite', 'pair', 'coo'])
def test_conv_equals_dense_reference(form):
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    A = dense_norm_adj(edge_index, U, I)
    adj = {
        'edge_index': lambda: homogeneous(edge_index, U),
        'bipartite': lambda: bipartite_norm_adj(edge_index, U, I),
        'pair': lambda: bipartite_norm_adj(edge_index, U, I),
        'coo': lambda: bipartite_norm_adj(edge_index, U, I).to_sparse(),
    }[form]()
    conv = NGCFConv(5, 4)
    torch.nn.init.normal_(conv.bias)  # exercise the bias
    x = torch.randn(U + I, 5, requires_grad=True)
    if form == 'pair':  # (user rows, item rows) in and out
        out = torch.cat(conv((x[:U], x[U:]), adj), dim=0)
    else:
        out = conv(x, adj)
    ref = dense_conv(conv, x, A)
    assert out.shape == (U + I, 4)
    assert torch.allclose(out, ref, atol=1e-5)
    w = torch.randn_like(out)
    params = [x, conv.lin1.weight, conv.lin2.weight, conv.bias]
    g1 = torch.autograd.grad((out * w).sum(), params)
    g2 = torch.autograd.grad((ref * w).sum(), params)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)
    assert repr(conv) == 'NGCFConv(5, 4, negative_slope=0.2)'


@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_ngcf_equals_dense_reference(num_layers):
    U, I, Fd = 11, 13, 8
    edge_index = random_bipartite(U, I, 40, seed=num_layers)
    model = NGCF(U, I, embedding_dim=Fd, num_layers=num_layers)
    for conv in model.convs:
        torch.nn.init.normal_(conv.bias, std=0.1)
    model.eval()  # no dropout
    user, item = model(edge_index)
    assert user.shape == (U, Fd * (num_layers + 1)) == (U, model.out_channels)
    assert item.shape == (I, model.out_channels)
    A = dense_norm_adj(edge_index, U, I)
    ref_u, ref_i = dense_ngcf(model, A)
    assert torch.allclose(user, ref_u, atol=1e-5)
    assert torch.allclose(item, ref_i, atol=1e-5)
    # same gradients of a BPR objective for every parameter
    users, pos, neg = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 12]), \
        torch.tensor([4, 0, 7])

    def bpr(u, i):
        return -F.logsigmoid((u[users] * (i[pos] - i[neg])).sum(-1)).mean()

    params = list(model.parameters())
    g1 = torch.autograd.grad(bpr(user, item), params)
    g2 = torch.autograd.grad(bpr(ref_u, ref_i), params)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)
    # through a torch.sparse matrix (no blocks)
    sparse_u, _ = model(bipartite_norm_adj(edge_index, U, I).to_sparse())
    assert torch.allclose(sparse_u, ref_u, atol=1e-5)
    # training mode without dropout is the same function
    model.train()
    nodrop = NGCF(U, I, Fd, num_layers, node_dropout=0., message_dropout=0.)
    nodrop.load_state_dict(model.state_dict())
    assert torch.allclose(nodrop(edge_index)[0], ref_u, atol=1e-5)


def test_edge_dropout_product_and_its_transpose():
    U, I = 6, 8
    edge_index = random_bipartite(U, I, 30, seed=4)
    adj = bipartite_norm_adj(edge_index, U, I)
    perm = transpose_perm(adj)
    assert torch.equal(adj.item_user.values(), adj.user_item.values()[perm])
    torch.manual_seed(0)
    dropped = edge_dropout(adj, 0.4, perm)
    U_I = dropped.user_item.to_dense()
    I_U = dropped.item_user.to_dense()
    M = torch.zeros(U + I, U + I)
    M[:U, U:], M[U:, :U] = U_I, I_U
    A = dense_norm_adj(edge_index, U, I)
    # every entry is either dropped or scaled by 1 / (1 - p)
    nz = A != 0
    ratio = M[nz] / A[nz]
    assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / .6)))
    assert (M == 0).logical_and(nz).any()  # something was dropped
    assert not torch.allclose(M, M.t())  # directions dropped independently
    assert torch.all(M[~nz] == 0)
    x = torch.randn(U + I, 3, requires_grad=True)
    g = torch.randn(U + I, 3)
    moved = dropped.to('cpu')  # keeps its transpose
    assert isinstance(moved, DroppedBipartiteAdjacency)
    assert adj.transpose is adj and moved.transpose is not moved
    for d in (dropped, moved):
        for out in (d.matmul(x), torch.cat(bipartite_spmm(d, x[:U], x[U:]))):
            assert torch.allclose(out, M @ x, atol=1e-6)
            grad, = torch.autograd.grad((out * g).sum(), x)
            assert torch.allclose(grad, M.t() @ g, atol=1e-6)


def test_sparse_names_importable_from_former_modules():
    import adar_pyg.nn as nn
    import adar_pyg.nn.conv.ngcf_conv as ngcf_conv
    import adar_pyg.nn.sparse as sparse
    for name in ('bipartite_spmm', 'edge_dropout', 'transpose_perm',
                 'DroppedBipartiteAdjacency'):
        assert getattr(ngcf_conv, name) is getattr(sparse, name)
        assert getattr(nn, name) is getattr(sparse, name)


def test_dropout_only_in_training():
    U, I = 9, 10
    edge_index = random_bipartite(U, I, 40)
    model = NGCF(U, I, embedding_dim=4, num_layers=2, node_dropout=0.3,
                 message_dropout=0.3)
    model.train()
    a, b = model(edge_index)[0], model(edge_index)[0]
    assert not torch.allclose(a, b)
    a.sum().backward()  # the dropped product has a backward
    assert model.embedding.weight.grad is not None
    model.eval()
    a, b = model(edge_index)[0], model(edge_index)[0]
    assert torch.equal(a, b)
    assert model.adjacency(edge_index) is model.adjacency(edge_index)


def test_ngcf_reset_repr_and_bad_input():
    model = NGCF(5, 6, embedding_dim=4, num_layers=2)
    w = model.embedding.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(w, model.embedding.weight)
    assert float(model.embedding.weight.detach().abs().max()) <= (6 / 15)**0.5
    assert repr(model) == ('NGCF(users=5, items=6, dim=4, num_layers=2, '
                           'node_dropout=0.1, message_dropout=0.1)')
    assert model.out_channels == 12
    u0, i0 = model.ego_embeddings()
    assert u0.shape == (5, 4) and i0.shape == (6, 4)
    with pytest.raises(ValueError, match='node_dropout'):
        NGCF(3, 4, node_dropout=1.0)
    with pytest.raises(ValueError, match='num_layers'):
        NGCF(3, 4, num_layers=-1)
    with pytest.raises(ValueError, match='item ids'):
        NGCF(3, 5)(torch.tensor([[0, 1], [2, 9]]))
    with pytest.raises(ValueError, match='pair'):
        NGCFConv(4, 4)((torch.randn(2, 4), torch.randn(3, 4)),
                       torch.tensor([[0], [2]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_ngcf_cuda_matches_cpu():
    U, I = 11, 13
    edge_index = random_bipartite(U, I, 40)
    model = NGCF(U, I, embedding_dim=8).eval()
    cpu = torch.cat(model(edge_index))
    model = model.cuda().train()
    torch.cat(model(edge_index.cuda())).sum().backward()  # dropped product
    gpu = torch.cat(model.eval()(edge_index.cuda()))
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-5)


def test_propagate_equals_forward_on_the_whole_graph():
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    model = NGCF(U, I, embedding_dim=4, num_layers=2).eval()
    adj = model.adjacency(edge_index)
    x_user, x_item = model.ego_embeddings()
    out = model.propagate(x_user, x_item, adj)
    ref = model(edge_index)
    for a, b in zip(out, ref):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match='no per-layer'):
        model.propagate(x_user, x_item, adj, layers=True)


def test_propagate_drops_nodes_in_training():
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    model = NGCF(U, I, embedding_dim=4, num_layers=2, node_dropout=0.5,
                 message_dropout=0.0).train()
    adj = model.adjacency(edge_index)
    x = model.ego_embeddings()
    torch.manual_seed(1)
    out = model.propagate(*x, adj)
    torch.manual_seed(1)
    dropped = edge_dropout(adj, 0.5)
    ref = model.eval().propagate(*x, dropped)  # eval: no further dropout
    for a, b in zip(out, ref):
        assert torch.equal(a, b)


def test_float64_model_equals_dense_reference():
    # The cached adjacency follows the embeddings' type (float64 here, for
    # tight comparisons), and is rebuilt when the type changes:
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    torch.manual_seed(0)
    model = NGCF(U, I, embedding_dim=6, num_layers=2).double().eval()
    user, item = model(edge_index)
    assert user.dtype == torch.float64
    ref = dense_ngcf(model, dense_norm_adj(edge_index, U, I, torch.float64))
    assert torch.allclose(user, ref[0], rtol=1e-12, atol=1e-12)
    assert torch.allclose(item, ref[1], rtol=1e-12, atol=1e-12)
    user.sum().backward()  # differentiable in float64 too
    assert model.embedding.weight.grad.dtype == torch.float64
    assert model.float()(edge_index)[0].dtype == torch.float32


def test_cache_never_serves_a_freed_graph():
    U, I = 30, 20
    model = NGCF(U, I, embedding_dim=8, num_layers=2).eval()
    ref = NGCF(U, I, embedding_dim=8, num_layers=2, cached=False).eval()
    ref.load_state_dict(model.state_dict())
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        e = torch.randint(U * I, (60, ), generator=g)
        edge_index = torch.stack([e // I, e % I])
        assert torch.equal(model(edge_index)[0], ref(edge_index)[0]), seed
        del edge_index  # the next one often lands at the same address
    edge_index = random_bipartite(U, I, 60)
    adj = model.adjacency(edge_index)
    assert model.adjacency(edge_index) is adj  # the same tensor: cached
    model.train()
    model(edge_index)  # node dropout: one transpose per cached adjacency
    perm = model._cache_perm
    model(edge_index)
    assert model._cache_perm is perm and model.adjacency(edge_index) is adj
    # copies drop the caches (CSR tensors do not pickle) and rebuild them
    import copy
    import pickle
    model.eval()
    out = model(edge_index)[0]
    for copied in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert copied._cache_perm is None
        assert torch.equal(copied(edge_index)[0], out)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_users=2.5), "'num_users' must be a positive integer"),
    (dict(num_layers=1.5), "'num_layers' must be an integer of at least 0"),
    (dict(embedding_dim='8'), "'embedding_dim' must be a positive integer"),
    (dict(node_dropout='0.1'),
     r"'node_dropout' must lie in \[0, 1\) \(got '0.1'\)"),
    (dict(message_dropout=None), "'message_dropout' must lie in"),
    (dict(negative_slope='0.2'), "'negative_slope' must be a finite number"),
])
def test_ngcf_bad_arguments(kwargs, match):
    kwargs = {'num_users': 5, 'num_items': 6, **kwargs}
    with pytest.raises(ValueError, match=match):
        NGCF(**kwargs)


@pytest.mark.parametrize('args,match', [
    ((2.5, 4), r"'in_channels' must be a positive integer or -1 \(got 2.5\)"),
    ((0, 4), "'in_channels' must be a positive integer or -1"),
    ((4, '4'), r"'out_channels' must be a positive integer \(got '4'\)"),
    ((4, 4, None), "'negative_slope' must be a finite number"),
])
def test_conv_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        NGCFConv(*args)


def test_conv_lazy_in_channels():
    conv = NGCFConv(-1, 4)
    out = conv(torch.randn(5, 3), torch.tensor([[0, 1], [2, 3]]))
    assert out.shape == (5, 4)
