import itertools
import math

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.sampler import NeighborSampler

from adar_pyg.train.neighbor_sampler import (TorchNeighborSampler,
                                             sample_without_replacement)

from tiny_data import needs_sampler

E, R = ('user', 'rates', 'item'), ('item', 'rev_rates', 'user')

pytestmark = pytest.mark.filterwarnings(
    "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")


def graph(U=30, I=50, E_=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.stack([torch.randint(0, U, (E_, ), generator=g),
                              torch.randint(0, I, (E_, ), generator=g)])
    key = torch.unique(edge_index[0] * I + edge_index[1])
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = U, I
    data[E].edge_index = torch.stack([key // I, key % I])
    data[R].edge_index = data[E].edge_index.flip([0])
    return data


def seeds():
    return {'user': torch.tensor([0, 3, 7]), 'item': torch.tensor([1, 2])}


def edge_set(out, edge_type):
    src, _, dst = edge_type
    return set(zip(out.node[src][out.row[edge_type]].tolist(),
                   out.node[dst][out.col[edge_type]].tolist(),
                   out.edge[edge_type].tolist()))


def naive(data, seed, hops):
    r"""The subgraph with every neighbour (a per-node loop): node sets and
    edge sets (global source, global destination, edge id)."""
    nodes = {t: list(v.tolist()) for t, v in seed.items()}
    frontier = {t: list(v) for t, v in nodes.items()}
    edges = {E: set(), R: set()}
    for _ in range(hops):
        new = {'user': [], 'item': []}
        for edge_type in (E, R):
            src, _, dst = edge_type
            index = data[edge_type].edge_index
            for d in frontier[dst]:
                for e in (index[1] == d).nonzero().view(-1).tolist():
                    s = int(index[0, e])
                    edges[edge_type].add((s, d, e))
                    if s not in nodes[src] and s not in new[src]:
                        new[src].append(s)
        for t in nodes:
            nodes[t] += new[t]
        frontier = new
    return {t: set(v) for t, v in nodes.items()}, edges


@pytest.mark.parametrize('fanout', [[-1, -1], [100, 100], [-1, -1, -1]])
def test_full_fanout_equals_naive_loop(fanout):
    data = graph()
    out = TorchNeighborSampler(data, fanout)._sample(seeds())
    nodes, edges = naive(data, seeds(), len(fanout))
    for t in ('user', 'item'):
        assert set(out.node[t].tolist()) == nodes[t]
        assert out.node[t].unique().numel() == out.node[t].numel()
        # The seeds first, in their order:
        assert torch.equal(out.node[t][:seeds()[t].numel()], seeds()[t])
    for edge_type in (E, R):
        # The edge ids are positions in PyG's CSC order (`perm` maps them):
        perm = TorchNeighborSampler(data, fanout).perm[edge_type]
        found = {(s, d, int(perm[e]) if perm is not None else e)
                 for s, d, e in edge_set(out, edge_type)}
        assert found == edges[edge_type]


@needs_sampler
@pytest.mark.parametrize('fanout', [[-1, -1], [100, 100]])
def test_full_fanout_equals_pyg(fanout):
    data = graph(seed=1)
    ours = TorchNeighborSampler(data, fanout)._sample(seeds())
    theirs = NeighborSampler(data, fanout)._sample(seeds())
    for t in ('user', 'item'):
        assert set(ours.node[t].tolist()) == set(theirs.node[t].tolist())
    for edge_type in (E, R):
        assert edge_set(ours, edge_type) == edge_set(theirs, edge_type)


@pytest.mark.parametrize('fanout', [[2, 2], [3, 1, 2], [1]])
def test_small_fanout_keeps_min_of_degree_and_fanout(fanout):
    data = graph(E_=400, seed=2)
    sampler = TorchNeighborSampler(data, fanout)
    torch.manual_seed(0)
    out = sampler._sample(seeds())
    deg = {E: torch.bincount(data[E].edge_index[1], minlength=50),
           R: torch.bincount(data[R].edge_index[1], minlength=30)}
    true = {edge_type: set(map(tuple, data[edge_type].edge_index.t()
                               .tolist())) for edge_type in (E, R)}
    for edge_type in (E, R):
        src, _, dst = edge_type
        found = edge_set(out, edge_type)
        assert len(found) == out.edge[edge_type].numel()  # all distinct
        assert {(s, d) for s, d, _ in found} <= true[edge_type]
        per_dst = {}
        for s, d, _ in found:
            per_dst.setdefault(d, []).append(s)
        # A node is expanded at one hop, with min(deg, k) neighbours:
        ks = set(fanout)
        for d, nbrs in per_dst.items():
            assert any(len(nbrs) == min(int(deg[edge_type][d]), k)
                       for k in ks)
        # Every seed of the destination type is expanded at the first hop:
        for d in seeds()[dst].tolist():
            if deg[edge_type][d] > 0:
                assert len(per_dst[d]) == min(int(deg[edge_type][d]),
                                              fanout[0])
    # Every node but a seed was reached by a sampled edge:
    for t in ('user', 'item'):
        reached = {s for edge_type in (E, R) if edge_type[0] == t
                   for s, _, _ in edge_set(out, edge_type)}
        assert set(out.node[t][seeds()[t].numel():].tolist()) <= reached
    # The node index is reset for the next call:
    assert all((v == -1).all() for v in sampler._local.values())


def test_index_reset_after_an_error(monkeypatch):
    sampler = TorchNeighborSampler(graph(), [2, 2])

    def fail(*args):
        raise RuntimeError('boom')

    monkeypatch.setattr(sampler, '_draw', fail)
    with pytest.raises(RuntimeError, match='boom'):
        sampler._sample(seeds())
    assert all((v == -1).all() for v in sampler._local.values())


def test_index_reset_after_an_error_within_a_hop(monkeypatch):
    r"""Stopped after some nodes of a hop were indexed, the sampler resets
    them too: its next call is that of a fresh sampler."""
    sampler = TorchNeighborSampler(graph(), [2, 2])
    draw, calls = sampler._draw, []

    def fail_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return draw(*args)

    monkeypatch.setattr(sampler, '_draw', fail_second)
    with pytest.raises(KeyboardInterrupt):
        sampler._sample(seeds())
    assert all((v == -1).all() for v in sampler._local.values())
    monkeypatch.setattr(sampler, '_draw', draw)
    torch.manual_seed(0)
    out = sampler._sample(seeds())
    fresh = TorchNeighborSampler(graph(), [2, 2])
    torch.manual_seed(0)
    ref = fresh._sample(seeds())
    for t in out.node:
        assert torch.equal(out.node[t], ref.node[t])
    for e in out.row:
        assert torch.equal(out.row[e], ref.row[e])
        assert torch.equal(out.edge[e], ref.edge[e])


def test_floyd_is_uniform_over_subsets():
    torch.manual_seed(0)
    n, deg, k = 60_000, 6, 2
    off = sample_without_replacement(torch.full((n, ), deg), k)
    assert (off[:, 0] != off[:, 1]).all()
    assert off.min() >= 0 and off.max() < deg
    pairs = torch.sort(off, dim=1).values
    counts = torch.bincount(pairs[:, 0] * deg + pairs[:, 1],
                            minlength=deg * deg)
    expected = n / math.comb(deg, k)
    # Chi-square over the 15 subsets (14 degrees of freedom): under the
    # uniform law it exceeds 36.1 with probability 0.001.
    subsets = [a * deg + b for a, b in itertools.combinations(range(deg), 2)]
    chi2 = ((counts[subsets] - expected) ** 2 / expected).sum()
    assert counts.sum() == counts[subsets].sum()
    assert chi2 < 36.1


def test_floyd_mixed_degrees():
    torch.manual_seed(1)
    deg = torch.tensor([3, 3, 10, 1000, 4])
    off = sample_without_replacement(deg, 3)
    for row, d in zip(off, deg.tolist()):
        assert len(set(row.tolist())) == 3 and max(row.tolist()) < d
    # k = deg: every offset once
    assert sorted(off[0].tolist()) == [0, 1, 2]


def test_bad_input():
    data = graph()
    with pytest.raises(ValueError, match='directionally'):
        TorchNeighborSampler(data, [2], replace=True)
    with pytest.raises(ValueError, match='directionally'):
        TorchNeighborSampler(data, [2], subgraph_type='induced')
    from torch_geometric.sampler.base import SubgraphType
    for kind in ('directional', SubgraphType.directional):
        TorchNeighborSampler(data, [2], subgraph_type=kind, replace=False)
    with pytest.raises(ValueError, match='heterogeneous seeds'):
        TorchNeighborSampler(data, [2])._sample(torch.tensor([0]))
