import pytest
import torch
from torch_geometric.nn import LGConv
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from adar_pyg.nn import LightGCN, LightGCNConv, bipartite_norm_adj
from adar_pyg.nn.sparse import is_symmetric


def random_bipartite(num_users=7, num_items=9, num_edges=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    user = torch.randint(num_users, (num_edges, ), generator=g)
    item = torch.randint(num_items, (num_edges, ), generator=g)
    return torch.stack([user, item])


def homogeneous(edge_index, num_users):
    u, i = edge_index[0], edge_index[1] + num_users
    ei = torch.cat([torch.stack([u, i]), torch.stack([i, u])], dim=1)
    return torch.unique(ei, dim=1)  # merge repeated pairs, as we do


def test_norm_adj_matches_dense_reference():
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    adj = bipartite_norm_adj(edge_index, U, I).to_sparse()
    assert is_symmetric(adj)
    A = torch.zeros(U + I, U + I)
    A[edge_index[0], edge_index[1] + U] = 1
    A[edge_index[1] + U, edge_index[0]] = 1
    deg = A.sum(1)
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    ref = dinv[:, None] * A * dinv[None, :]
    assert torch.allclose(adj.to_dense(), ref, atol=1e-6)


def test_norm_adj_bad_input():
    with pytest.raises(ValueError, match='shape'):
        bipartite_norm_adj(torch.zeros(3, 4, dtype=torch.long), 2, 2)
    with pytest.raises(ValueError, match='item ids'):
        bipartite_norm_adj(torch.tensor([[0], [5]]), 2, 3)
    with pytest.raises(ValueError, match='user ids'):
        bipartite_norm_adj(torch.tensor([[-1], [0]]), 2, 3)


@pytest.mark.parametrize('form', ['edge_index', 'bipartite', 'coo', 'csr'])
def test_conv_equals_lgconv(form):
    U, I = 7, 9
    edge_index = random_bipartite(U, I)
    homo = homogeneous(edge_index, U)
    x = torch.randn(U + I, 5, requires_grad=True)
    conv = LightGCNConv()
    adj = {
        'edge_index': lambda: homo,
        'bipartite': lambda: bipartite_norm_adj(edge_index, U, I),
        'coo': lambda: bipartite_norm_adj(edge_index, U, I).to_sparse(),
        'csr': lambda: bipartite_norm_adj(edge_index, U, I).to_sparse()
        .to_sparse_csr(),
    }[form]()
    out = conv(x, adj)
    ref = LGConv()(x, homo)
    assert torch.allclose(out, ref, atol=1e-6)
    # Gradient through the symmetric backward equals autograd of the reference
    w = torch.randn_like(out)
    g1, = torch.autograd.grad((out * w).sum(), x)
    g2, = torch.autograd.grad((ref * w).sum(), x)
    assert torch.allclose(g1, g2, atol=1e-6)
    assert 'LightGCNConv' in repr(conv)


@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_lightgcn_equals_pyg(num_layers):
    U, I, F = 11, 13, 8
    edge_index = random_bipartite(U, I, 40, seed=num_layers)
    ours = LightGCN(U, I, embedding_dim=F, num_layers=num_layers)
    pyg = PyGLightGCN(U + I, F, num_layers)
    pyg.embedding.weight.data.copy_(ours.embedding.weight.data)
    user, item = ours(edge_index)
    ref = pyg.get_embedding(homogeneous(edge_index, U))
    assert user.shape == (U, F) and item.shape == (I, F)
    assert torch.allclose(torch.cat([user, item]), ref, atol=1e-5)
    # Same gradients for a BPR-like objective on a batch
    users, pos, neg = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 12]), \
        torch.tensor([4, 0, 7])
    loss = -((user[users] * (item[pos] - item[neg])).sum(-1)).sigmoid().log(
    ).mean()
    loss.backward()
    loss_ref = -((ref[users] * (ref[U + pos] - ref[U + neg])).sum(-1)
                 ).sigmoid().log().mean()
    loss_ref.backward()
    assert torch.allclose(ours.embedding.weight.grad,
                          pyg.embedding.weight.grad, atol=1e-6)


def test_lightgcn_cache_and_reset():
    U, I = 5, 6
    edge_index = random_bipartite(U, I, 15)
    model = LightGCN(U, I, embedding_dim=4, num_layers=2)
    a1 = model.adjacency(edge_index)
    assert model.adjacency(edge_index) is a1  # cached
    other = random_bipartite(U, I, 15, seed=3)
    assert model.adjacency(other) is not a1  # a new graph is noticed
    nocache = LightGCN(U, I, embedding_dim=4, cached=False)
    assert nocache.adjacency(edge_index) is not nocache.adjacency(edge_index)
    w = model.embedding.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(w, model.embedding.weight)
    # Xavier-uniform bound
    bound = (6 / (U + I + 4))**0.5
    assert float(model.embedding.weight.abs().max()) <= bound
    assert repr(model) == 'LightGCN(users=5, items=6, dim=4, num_layers=2)'


def test_lightgcn_bad_input():
    with pytest.raises(ValueError, match='num_users'):
        LightGCN(0, 5)
    with pytest.raises(ValueError, match='alpha'):
        LightGCN(3, 5, num_layers=2, alpha=torch.ones(2))
    with pytest.raises(ValueError, match='item ids'):
        LightGCN(3, 5)(torch.tensor([[0, 1], [2, 9]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_lightgcn_cuda_matches_cpu():
    U, I = 11, 13
    edge_index = random_bipartite(U, I, 40)
    model = LightGCN(U, I, embedding_dim=8)
    cpu = torch.cat(model(edge_index))
    model = model.cuda()
    gpu = torch.cat(model(edge_index.cuda()))
    gpu.sum().backward()
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-5)


@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_propagate_equals_forward_and_layer_embeddings(num_layers):
    U, I = 6, 8
    edge_index = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 5],
                               [0, 1, 2, 2, 3, 5, 6, 7]])
    model = LightGCN(U, I, embedding_dim=4, num_layers=num_layers)
    adj = model.adjacency(edge_index)
    x_user, x_item = model.ego_embeddings()
    for a, b in zip(model.propagate(x_user, x_item, adj), model(adj)):
        assert torch.equal(a, b)
    layers = model.propagate(x_user, x_item, adj, layers=True)
    for a, b in zip(layers, model.layer_embeddings(adj)):
        assert torch.equal(a, b)
    assert layers[0].shape == (U, num_layers + 1, 4)


def test_lightgcn_float64_equals_pyg():
    U, I, F = 11, 13, 8
    edge_index = random_bipartite(U, I, 40)
    ours = LightGCN(U, I, embedding_dim=F, num_layers=3).double()
    pyg = PyGLightGCN(U + I, F, 3).double()
    pyg.embedding.weight.data.copy_(ours.embedding.weight.data)
    user, item = ours(edge_index)
    ref = pyg.get_embedding(homogeneous(edge_index, U))
    assert user.dtype == torch.float64
    assert torch.allclose(torch.cat([user, item]), ref, rtol=1e-12,
                          atol=1e-12)
    float32 = ours.float().adjacency(edge_index)  # rebuilt in float32
    assert float32.user_item.dtype == torch.float32


@pytest.mark.parametrize('dtype', [torch.float, torch.double])
def test_spmm_equals_sparse_mm_bit_for_bit(dtype):
    # The product the models run (addmm, beta=0, into an uninitialised
    # output) against torch.sparse.mm, with empty rows (user 0 and item 8
    # have no edge) and a NaN-filled output buffer, which must not leak.
    from adar_pyg.nn.sparse import _block_mm, _spmm
    U, I = 7, 9
    edge_index = random_bipartite(U, I, num_edges=40)
    keep = (edge_index[0] != 0) & (edge_index[1] != 8)
    adj = bipartite_norm_adj(edge_index[:, keep], U, I, dtype=dtype)
    x = torch.randn(U + I, 5, dtype=dtype)
    for a, v in [(adj.user_item, x[U:]), (adj.item_user, x[:U])]:
        ref = torch.sparse.mm(a, v)
        assert torch.equal(_spmm(a, v), ref)
        buf = torch.full_like(ref, float('nan'))
        assert _spmm(a, v, buf) is buf and torch.equal(buf, ref)
    out = torch.full((U + I, 5), float('nan'), dtype=dtype)
    yu, yi = _block_mm(adj, x[:U], x[U:], out)
    assert torch.equal(out, torch.cat([torch.sparse.mm(adj.user_item, x[U:]),
                                       torch.sparse.mm(adj.item_user,
                                                       x[:U])]))
    assert yu.data_ptr() == out.data_ptr()
    assert torch.equal(adj.matmul(x), out)
    # a COO matrix takes torch.sparse.mm:
    coo = adj.to_sparse()
    assert torch.equal(_spmm(coo, x), torch.sparse.mm(coo, x))


def test_propagate_twice_differentiable():
    # A double backward through the propagation (create_graph=True) takes
    # the differentiable product (torch.sparse.mm), not addmm(out=...).
    U, I = 7, 9
    adj = bipartite_norm_adj(random_bipartite(U, I), U, I,
                             dtype=torch.double)
    x = torch.randn(U + I, 3, dtype=torch.double, requires_grad=True)
    alpha = [0.25, 0.25, 0.25, 0.25]
    assert torch.autograd.gradgradcheck(
        lambda x: torch.cat(adj.propagate(x, alpha)), (x, ))
    assert torch.autograd.gradgradcheck(adj.matmul, (x, ))


@pytest.mark.parametrize('dtype', [torch.float, torch.double])
def test_cache_never_serves_a_freed_graph(dtype):
    # The reviewer's case: new tensors, each freed after its use, that the
    # allocator often places where the last one was (same address, shape
    # and version counter 0).
    U, I = 30, 20
    model = LightGCN(U, I, embedding_dim=8, num_layers=2).to(dtype)
    ref = LightGCN(U, I, embedding_dim=8, num_layers=2, cached=False)
    ref.to(dtype).load_state_dict(model.state_dict())
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        e = torch.randint(U * I, (60, ), generator=g)
        edge_index = torch.stack([e // I, e % I])
        assert torch.equal(model(edge_index)[0], ref(edge_index)[0]), seed
        del edge_index


def test_cache_tells_tensors_at_the_same_address_apart():
    # Deterministic: two tensors on one buffer, built in turn (the same
    # address, shape and version counter), the second with other edges.
    U, I = 6, 5
    model = LightGCN(U, I, embedding_dim=4, num_layers=1)
    ref = LightGCN(U, I, embedding_dim=4, num_layers=1, cached=False)
    ref.load_state_dict(model.state_dict())
    buf = bytearray(torch.tensor([[0, 1, 2], [0, 1, 2]]).numpy().tobytes())
    first = torch.frombuffer(buf, dtype=torch.long).view(2, -1)
    model(first)
    ptr = first.data_ptr()
    del first
    buf[:] = torch.tensor([[3, 4, 5], [4, 3, 0]]).numpy().tobytes()
    second = torch.frombuffer(buf, dtype=torch.long).view(2, -1)
    assert second.data_ptr() == ptr and second._version == 0
    assert torch.equal(model(second)[0], ref(second)[0])


def test_cache_hits_the_same_tensor_and_holds_no_graph():
    import copy
    import gc
    import pickle
    import weakref
    U, I = 30, 20
    model = LightGCN(U, I, embedding_dim=8, num_layers=2)
    edge_index = random_bipartite(U, I, 60)
    adj = model.adjacency(edge_index)
    assert model.adjacency(edge_index) is adj  # same tensor: cached
    out = model(edge_index)
    for copied in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert torch.equal(copied(edge_index)[0], out[0])  # rebuilt
    assert model.adjacency(edge_index) is adj
    edge_index[1, 0] = (edge_index[1, 0] + 1) % I  # in place: rebuilt
    assert model.adjacency(edge_index) is not adj
    ref = LightGCN(U, I, embedding_dim=8, num_layers=2, cached=False)
    ref.load_state_dict(model.state_dict())
    assert torch.equal(model(edge_index)[0], ref(edge_index)[0])
    probe = edge_index.clone()
    model.adjacency(probe)
    probe_ref = weakref.ref(probe)
    del probe
    gc.collect()
    assert probe_ref() is None  # the cache keeps no graph alive


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_users=2.5), "'num_users' must be a positive integer"),
    (dict(num_users='30'), "'num_users' must be a positive integer"),
    (dict(num_items=True), "'num_items' must be a positive integer"),
    (dict(num_items=0), "'num_items' must be a positive integer"),
    (dict(embedding_dim=8.0), "'embedding_dim' must be a positive integer"),
    (dict(num_layers=1.5),
     r"'num_layers' must be an integer of at least 0 \(got 1.5\)"),
    (dict(num_layers=-1), "'num_layers' must be an integer of at least 0"),
    (dict(alpha='0.5'), r"'alpha' must be a finite number \(got '0.5'\)"),
    (dict(alpha=float('nan')), "'alpha' must be a finite number"),
])
def test_lightgcn_bad_arguments(kwargs, match):
    kwargs = {'num_users': 30, 'num_items': 20, **kwargs}
    with pytest.raises(ValueError, match=match):
        LightGCN(**kwargs)


def test_lightgcn_numpy_and_float_arguments():
    import numpy as np
    a = LightGCN(np.int64(5), 6, embedding_dim=4, num_layers=np.int64(2),
                 alpha=np.float32(0.25))
    assert (a.num_users, a.num_layers) == (5, 2)
    assert type(a.num_layers) is int
    assert torch.equal(a.alpha, torch.full((3, ), 0.25))
