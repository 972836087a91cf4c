import warnings
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.sampler import HeteroSamplerOutput, NeighborSampler
from torch_geometric.typing import EdgeType, NodeType


def _cat(parts: List[Tensor]) -> Tensor:
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)


def sample_without_replacement(deg: Tensor, k: int) -> Tensor:
    r"""For each row :math:`r`, :math:`k` distinct offsets drawn uniformly
    from :math:`\{0, \dots, \deg_r - 1\}` (every :math:`k`-subset equally
    likely), by R. W. Floyd's algorithm run on all rows at once: for
    :math:`j = \deg_r - k, \dots, \deg_r - 1`, draw :math:`t \in
    \{0, \dots, j\}` and keep :math:`t`, or :math:`j` if :math:`t` is kept
    already. :math:`k` draws per row, whatever its degree, from the global
    random number generator.

    Args:
        deg (torch.Tensor): The degrees :obj:`[N]`, each at least :obj:`k`.
        k (int): The offsets per row.

    Returns:
        torch.Tensor: The offsets :obj:`[N, k]`.
    """
    out = deg.new_empty((deg.numel(), k))
    for step in range(k):
        j = deg - k + step
        t = (torch.rand(deg.numel(), dtype=torch.float64) *
             (j + 1).to(torch.float64)).long().clamp_(max=j)
        if step:
            taken = (out[:, :step] == t.unsqueeze(1)).any(dim=1)
            t = torch.where(taken, j, t)
        out[:, step] = t
    return out


class TorchNeighborSampler(NeighborSampler):
    r"""PyG's :class:`~torch_geometric.sampler.NeighborSampler`
    (heterogeneous graphs, :obj:`subgraph_type='directional'`, without
    replacement) with its sampling step written in vectorised PyTorch
    instead of the :obj:`torch-sparse` or :obj:`pyg-lib` kernels: it works
    without either, and its cost per call is that of the sampled nodes and
    edges, not of the graph.

    Starting from the seeds, hop :math:`l` takes every node added at hop
    :math:`l - 1` (the seeds at the first), and, for each edge type into
    its node type, :math:`\min(k_l, \deg)` of its in-neighbours: all of
    them if its degree is at most :math:`k_l` (or :math:`k_l = -1`), else
    :math:`k_l` distinct ones, uniformly
    (:func:`sample_without_replacement`). Each sampled edge is kept; each
    neighbour not yet in the subgraph joins it (seeds first, in their
    order, then by hop, each hop's new nodes sorted by id). These are the
    semantics of :obj:`torch_sparse.hetero_neighbor_sample`, with one draw
    per sampled neighbour from the global random number generator (in
    batches of a hop's rows) instead of one call per neighbour: a sampled
    subgraph with fan-outs at least the largest degree equals PyG's, and a
    smaller one is distributed alike.

    A node-to-subgraph index of each node type (:obj:`-1`: not in the
    subgraph) is allocated once and reset after each call at the nodes it
    touched, so that no step costs :math:`O(|\mathcal{V}|)`.

    Args:
        data (HeteroData): The graph (its :obj:`edge_index` per edge type).
        num_neighbors (List[int] or Dict[EdgeType, List[int]]): The fan-out
            per hop, for every edge type or per edge type.
        **kwargs (optional): Further arguments of
            :class:`~torch_geometric.sampler.NeighborSampler`; only
            :obj:`subgraph_type='directional'`, :obj:`replace=False`,
            :obj:`disjoint=False` and no time or weight attribute are
            supported.
    """
    def __init__(self, data: HeteroData, num_neighbors, **kwargs) -> None:
        unsupported = {k: v for k, v in kwargs.items() if v and k in (
            'replace', 'disjoint', 'time_attr', 'weight_attr') or (
                k == 'subgraph_type' and getattr(v, 'value', v) !=
                'directional')}
        if not isinstance(data, HeteroData) or unsupported:
            raise ValueError(
                f"'{self.__class__.__name__}' samples heterogeneous graphs "
                f"directionally, without replacement, without time or "
                f"weights (got {type(data).__name__}, {unsupported})")
        with warnings.catch_warnings():  # It does not use their backend.
            warnings.filterwarnings('ignore', message='.*pyg-lib.*')
            super().__init__(data, num_neighbors, **kwargs)
        self._local: Dict[NodeType, Tensor] = {
            t: torch.full((n, ), -1, dtype=torch.long)
            for t, n in self.num_nodes.items()}

    def _sample(self, seed: Dict[NodeType, Tensor],
                seed_time: Optional[Dict[NodeType, Tensor]] = None,
                **kwargs) -> HeteroSamplerOutput:
        if not isinstance(seed, dict) or seed_time is not None:
            raise ValueError(f"'{self.__class__.__name__}' samples from "
                             f"heterogeneous seeds without time")
        local = self._local
        nodes: Dict[NodeType, List[Tensor]] = {t: [] for t in local}
        size = {t: 0 for t in local}
        frontier: Dict[NodeType, Tuple[Tensor, Tensor]] = {}
        rows: Dict[EdgeType, List[Tensor]] = {e: [] for e in self.edge_types}
        cols: Dict[EdgeType, List[Tensor]] = {e: [] for e in self.edge_types}
        edges: Dict[EdgeType, List[Tensor]] = {e: [] for e in self.edge_types}
        fanouts = self.num_neighbors.get_mapped_values(self.edge_types)
        try:  # (every node indexed is in `nodes` at once: reset if stopped)
            for t, ids in seed.items():
                ids = ids.long()
                nodes[t].append(ids)
                local[t][ids] = torch.arange(ids.numel())
                size[t] = ids.numel()
                frontier[t] = (ids, torch.arange(ids.numel()))
            for hop in range(self.num_neighbors.num_hops):
                new: Dict[NodeType, List[Tensor]] = {t: [] for t in local}
                for edge_type in self.edge_types:
                    src, _, dst = edge_type
                    if dst not in frontier:
                        continue
                    k = fanouts[self.to_rel_type[edge_type]][hop]
                    e, col = self._draw(edge_type, *frontier[dst], k)
                    nbr = self.row_dict[self.to_rel_type[edge_type]][e]
                    fresh = nbr[local[src][nbr] < 0].unique()
                    local[src][fresh] = torch.arange(
                        size[src], size[src] + fresh.numel())
                    size[src] += fresh.numel()
                    nodes[src].append(fresh)
                    new[src].append(fresh)
                    rows[edge_type].append(local[src][nbr])
                    cols[edge_type].append(col)
                    edges[edge_type].append(e)
                frontier = {}
                for t, parts in new.items():
                    if parts:
                        ids = torch.cat(parts)
                        frontier[t] = (ids, local[t][ids])
        finally:
            out_nodes = {t: _cat(v) for t, v in nodes.items()}
            for t, ids in out_nodes.items():
                local[t][ids] = -1
        return HeteroSamplerOutput(
            node=out_nodes,
            row={e: _cat(v) for e, v in rows.items()},
            col={e: _cat(v) for e, v in cols.items()},
            edge={e: _cat(v) for e, v in edges.items()},
            batch=None)

    def _draw(self, edge_type: EdgeType, ids: Tensor, col: Tensor,
              k: int) -> Tuple[Tensor, Tensor]:
        r"""The sampled edges (positions in the compressed in-neighbour
        lists of :obj:`edge_type`) of the nodes :obj:`ids` and the subgraph
        index of each edge's node (from :obj:`col`)."""
        colptr = self.colptr_dict[self.to_rel_type[edge_type]]
        start = colptr[ids]
        deg = colptr[ids + 1] - start
        # Rows of degree at most k keep all their edges, the others k:
        every = deg if k < 0 else torch.where(deg > k, 0, deg)
        count = every.sum()
        owner = torch.repeat_interleave(torch.arange(ids.numel()), every,
                                        output_size=int(count))
        first = torch.cumsum(every, 0) - every
        e = start[owner] + torch.arange(int(count)) - first[owner]
        c = col[owner]
        if k > 0:
            many = (deg > k).nonzero().view(-1)
            if many.numel():
                off = sample_without_replacement(deg[many], k)
                e = torch.cat([e, (start[many].unsqueeze(1) + off).view(-1)])
                c = torch.cat([c, col[many].repeat_interleave(k)])
        return e, c
