import copy
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.sampler import NegativeSampling, NeighborSampler
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE
from torch_geometric.utils import coalesce

from adar_pyg.checks import (  # noqa: F401 (importable from here)
    DEFAULT_FANOUT, fanout_per_layer)
from adar_pyg.nn.models import BipartiteRecommender
from adar_pyg.nn.sparse import BipartiteAdjacency, sym_norm
from adar_pyg.sampling import NegativeSampler
from adar_pyg.train.cf_task import CFTask, EdgeType, l2_term
from adar_pyg.train.neighbor_sampler import TorchNeighborSampler
from adar_pyg.train.task import BatchOutput, RecTask

MISSING_BACKEND = (
    "SampledCFTask(subgraph_sampler='pyg') samples subgraphs with PyG's "
    "NeighborSampler kernels, which need torch-sparse (or pyg-lib), and "
    "neither is installed. Install torch-sparse with\n"
    "    pip install --find-links ../shared/wheels torch-sparse\n"
    "or run `make install` (the 'sparse' extra), or sample with "
    "subgraph_sampler='torch' (pure PyTorch, the default).")

#: Who draws a step's neighbours: adar_pyg's vectorised sampler or PyG's.
SUBGRAPH_SAMPLERS = ('torch', 'pyg')



def loader_graph(edge_index: Tensor, num_users: int, num_items: int,
                 edge_type: EdgeType = ('user', 'rates', 'item')
                 ) -> HeteroData:
    r"""The training graph a neighbour sampler draws from: the unique
    (user, item) pairs of :obj:`edge_index` :obj:`[2, E]` (on the CPU) as
    :obj:`edge_type` and, reversed, as :obj:`(dst, 'rev_' + rel, src)`."""
    src, rel, dst = edge_type
    edge_index = edge_index.cpu()
    edge_index = coalesce(edge_index.long(),
                          num_nodes=max(num_users, num_items))
    graph = HeteroData()
    graph[src].num_nodes, graph[dst].num_nodes = num_users, num_items
    graph[edge_type].edge_index = edge_index
    graph[dst, f'rev_{rel}', src].edge_index = edge_index.flip([0])
    return graph


class SamplerNegatives(NegativeSampling):
    r"""The :obj:`"triplet"` negatives of a
    :class:`~torch_geometric.loader.LinkNeighborLoader` drawn by a
    :class:`~adar_pyg.sampling.NegativeSampler`: :obj:`amount` candidates per
    (user, positive) row from
    :meth:`~adar_pyg.sampling.NegativeSampler.random_negatives` (uniform,
    never a training positive of the row's user, from the training loop's
    generator), instead of PyG's uniform draw over all items. The users of
    the next batch are given to :meth:`prepare` before it is collated.

    Args:
        sampler (NegativeSampler): The sampler (its training pairs on the
            CPU, where the loader runs).
        amount (int, optional): Candidates per row. (default: :obj:`1`)
    """
    def __init__(self, sampler: NegativeSampler, amount: int = 1) -> None:
        super().__init__('triplet', amount)
        self.sampler = sampler
        self.users: Optional[Tensor] = None
        self.generator: Optional[torch.Generator] = None

    def prepare(self, users: Tensor,
                generator: Optional[torch.Generator] = None) -> None:
        r"""Sets the users (:obj:`[B]`, CPU) of the batch to collate next."""
        self.users, self.generator = users, generator

    def sample(self, num_samples: int, endpoint: str,
               num_nodes: Optional[int] = None) -> Tensor:
        users, self.users = self.users, None
        if endpoint != 'dst' or users is None or \
                num_samples != users.numel() * self.amount:
            raise RuntimeError(f"'{self.__class__.__name__}' draws the "
                               f"destinations of one prepared batch only")
        # Row-major [B, amount]: the loader reads them back as
        # `dst_neg_index.view(B, amount)`.
        return self.sampler.random_negatives(users, self.amount,
                                             self.generator).view(-1)


def local_sampler(sampler: NegativeSampler,
                  candidates: Tensor) -> NegativeSampler:
    r"""A shallow copy of :obj:`sampler` whose
    :meth:`~adar_pyg.sampling.NegativeSampler.random_negatives` returns the
    given candidates :obj:`[B, M]` (ids of a subgraph's items): its own
    choice among them (uniform: the one; DNS, AHNS: by score; MixGCF: by
    hop mixing) then runs unchanged on the subgraph's representations."""
    view = copy.copy(sampler)

    def random_negatives(users: Tensor, num: int = 1,
                         generator: Optional[torch.Generator] = None,
                         max_rounds: int = 100) -> Tensor:
        if num != candidates.size(1) or users.numel() != candidates.size(0):
            raise RuntimeError(
                f"'{sampler.__class__.__name__}' asked for {num} candidates "
                f"for {users.numel()} rows but the subgraph holds "
                f"{candidates.size(1)} for {candidates.size(0)}")
        return candidates

    view.random_negatives = random_negatives  # type: ignore
    return view


class SampledCFTask(CFTask):
    r"""Collaborative filtering on sampled subgraphs: the task of
    :class:`~adar_pyg.train.CFTask` (same backbones, samplers, augmenters,
    batches and evaluation) with each training step on the subgraph that
    PyG's :class:`~torch_geometric.loader.LinkNeighborLoader` samples around
    the batch's (user, positive, negative) triplets
    (:obj:`neg_sampling="triplet"`), in the spirit of the `"Inductive
    Representation Learning on Large Graphs"
    <https://arxiv.org/abs/1706.02216>`_ paper (GraphSAGE) and of PyG's
    :obj:`examples/multi_gpu/taobao.py`, instead of the whole training graph.
    A step then propagates over at most :math:`(2 + M)B(k_1 + k_1 k_2 +
    \dots + k_1 \cdots k_L)` edges for fan-outs :math:`k_l` and :math:`M`
    candidate negatives per row (:math:`M = 1` with uniform negatives),
    however large the graph, so an epoch grows linearly with the number of
    interactions once the graph is much larger than that bound (below it,
    a step's subgraph covers a growing share of the graph: the measured
    epoch grows about as :math:`E^{1.9}` up to 10M interactions, see
    :obj:`benchmarks/README.md`).

    Each epoch shuffles the training pairs with the training loop's
    generator exactly as :class:`~adar_pyg.train.CFTask` does, and the
    task's sampler draws each row's candidate negatives
    (:class:`SamplerNegatives`, the loader's negative sampling), so both
    tasks see the same triplets. Starting from the seeds (users, positives
    and candidates), layer :math:`l` of the :math:`L` hops samples up to
    :math:`k_l` neighbours of each new node (:obj:`-1`: all of them). The
    sampled edges, in both directions, form the subgraph's adjacency, with
    the weights of the **full** training graph,

    .. math::
        \tilde{a}_{ui} = \frac{1}{\sqrt{\deg(u)\deg(i)}},

    so that :math:`\tilde{\mathbf{A}}_{\mathcal{S}}` is the full
    :math:`\tilde{\mathbf{A}}` restricted to the sampled edges, and the
    backbone (:class:`~adar_pyg.nn.LightGCN` or :class:`~adar_pyg.nn.NGCF`)
    propagates over it from the subgraph's rows of its embedding table. With
    fan-outs at least the largest degree (or :obj:`-1`), every node within
    :math:`L - 1` hops of a seed keeps all its edges, and the seeds'
    representations, the loss and its gradients equal those of full
    propagation. With smaller fan-outs a node aggregates its sampled
    neighbours only (each weighted as in the full graph).

    The sampler's choice among the candidates runs unchanged on the
    subgraph's representations (see :func:`local_sampler`): DNS and AHNS
    score the candidates with them, and MixGCF mixes their per-layer
    representations. Evaluation is :class:`~adar_pyg.train.CFTask`'s: full
    propagation over the training graph and full ranking.

    With :obj:`sparse_grad=True`, the subgraph's rows are read with the
    backbone's :meth:`~adar_pyg.nn.models.BipartiteRecommender.ego_rows`
    (:obj:`sparse=True`), so that the embedding table's gradient is sparse
    (its rows in the subgraph only), and :meth:`sparse_parameters` names
    the backbone's :meth:`~adar_pyg.nn.models.BipartiteRecommender.
    sparse_tables`:
    :class:`~adar_pyg.train.Trainer` then updates it with
    :class:`~torch.optim.SparseAdam` (lazy Adam: the moments of rows outside
    a step's subgraph are not decayed, see
    :class:`~adar_pyg.train.optim.SparseDenseAdam`) and the other parameters
    (NGCF's weights) with Adam, so that the optimiser's cost per step is
    that of the subgraph, not of the graph. The loss and the gradient's
    values are those of :obj:`sparse_grad=False`.

    The neighbours are drawn by :class:`~adar_pyg.train.neighbor_sampler.
    TorchNeighborSampler` (:obj:`subgraph_sampler='torch'`: PyG's
    :class:`~torch_geometric.sampler.NeighborSampler` with its sampling
    step vectorised in PyTorch, which needs neither :obj:`torch-sparse`
    nor :obj:`pyg-lib` and costs what it samples) or by PyG's own kernels
    (:obj:`'pyg'`: one random draw per neighbour in :obj:`torch-sparse`):
    the same subgraphs in distribution, equal with full fan-outs.

    .. note::
        The loader samples on the CPU; each batch is then moved to
        :obj:`device`. Without
        :obj:`sparse_grad`, the optimiser of
        :class:`~adar_pyg.train.Trainer` (dense Adam) updates the whole
        embedding table at each step, a cost linear in the number of nodes
        per step.

    Args:
        model (BipartiteRecommender): The backbone
            (:class:`~adar_pyg.nn.LightGCN`, :class:`~adar_pyg.nn.NGCF`, or
            any with :meth:`~adar_pyg.nn.BipartiteRecommender.propagate`;
            one hop is sampled for each of its :obj:`num_layers`).
        train_data (HeteroData): Training split.
        val_data (HeteroData): Validation split (may hold no edges).
        test_data (HeteroData): Test split.
        sampler (str or NegativeSampler, optional): Negative sampler or its
            name. (default: :obj:`'uniform'`)
        num_neighbors (int or List[int], optional): The fan-out :math:`k_l`
            of each of the model's :math:`L` layers (one number: the same
            for all; :obj:`-1`: all neighbours). If set to :obj:`None`, will
            be :obj:`[10, 5, 2]` for three layers (10, then 5, then 2 for
            every further layer). (default: :obj:`None`)
        batch_size (int, optional): Training batch size. (default: :obj:`2048`)
        sparse_grad (bool, optional): Sparse gradients of the embedding
            table, updated by :class:`~torch.optim.SparseAdam`.
            (default: :obj:`False`)
        subgraph_sampler (str, optional): :obj:`'torch'`
            (:class:`~adar_pyg.train.neighbor_sampler.TorchNeighborSampler`)
            or :obj:`'pyg'` (:class:`~torch_geometric.sampler.
            NeighborSampler`, needs :obj:`torch-sparse` or :obj:`pyg-lib`).
            (default: :obj:`'torch'`)
        **kwargs (optional): Further arguments of
            :class:`~adar_pyg.train.CFTask` (:obj:`eval_batch_size`,
            :obj:`ks`, :obj:`edge_type`, :obj:`device`,
            :obj:`extra_test_data`).
    """
    def __init__(
        self,
        model: BipartiteRecommender,
        train_data: HeteroData,
        val_data: HeteroData,
        test_data: HeteroData,
        sampler: Union[str, NegativeSampler] = 'uniform',
        num_neighbors: Optional[Union[int, Sequence[int]]] = None,
        batch_size: int = 2048,
        sparse_grad: bool = False,
        subgraph_sampler: str = 'torch',
        **kwargs: Any,
    ) -> None:
        if subgraph_sampler not in SUBGRAPH_SAMPLERS:
            raise ValueError(f"'subgraph_sampler' must be one of "
                             f"{SUBGRAPH_SAMPLERS} (got "
                             f"{subgraph_sampler!r})")
        if subgraph_sampler == 'pyg' and not (WITH_PYG_LIB or
                                              WITH_TORCH_SPARSE):
            raise ImportError(MISSING_BACKEND)
        if not isinstance(model, BipartiteRecommender):
            raise ValueError(f"'{self.__class__.__name__}' trains LightGCN "
                             f"and NGCF (any BipartiteRecommender with "
                             f"'propagate') (got "
                             f"'{model.__class__.__name__}')")
        if sparse_grad and not model.sparse_tables():
            raise ValueError(f"'sparse_grad' needs a backbone with sparse "
                             f"tables (a TableRecommender such as LightGCN "
                             f"or NGCF) (got '{model.__class__.__name__}')")
        if model.num_layers < 1:
            raise ValueError(f"'{self.__class__.__name__}' samples one hop "
                             f"per propagation layer, and "
                             f"'{model.__class__.__name__}' has none "
                             f"(num_layers 0)")
        try:
            num_neighbors = fanout_per_layer(num_neighbors, model.num_layers)
        except ValueError as e:
            raise ValueError(f"'num_neighbors': {e}") from None
        super().__init__(model, train_data, val_data, test_data,
                         sampler=sampler, batch_size=batch_size, **kwargs)
        self.num_neighbors: List[int] = num_neighbors
        self.sparse_grad = bool(sparse_grad)
        edge_type: EdgeType = kwargs.get('edge_type', ('user', 'rates',
                                                       'item'))
        src, rel, dst = edge_type
        self._edge_type = (src, rel, dst)
        self._rev_edge_type = (dst, f'rev_{rel}', src)

        # The training graph for the loader (unique pairs, both directions)
        # and its degrees, on the CPU where the loader runs:
        self.graph = loader_graph(train_data[edge_type].edge_index,
                                  self.num_users, self.num_items, edge_type)
        edge_index = self.graph[edge_type].edge_index
        self.deg_user = torch.bincount(
            edge_index[0], minlength=self.num_users).to(self.device)
        self.deg_item = torch.bincount(
            edge_index[1], minlength=self.num_items).to(self.device)
        self.subgraph_sampler = subgraph_sampler
        self.neighbor_sampler = (TorchNeighborSampler if subgraph_sampler ==
                                 'torch' else NeighborSampler)(
                                     self.graph, num_neighbors)

        # The sampler draws the candidates on the CPU (a copy whose training
        # pairs stay there) and chooses among them on `device`:
        cpu_sampler = copy.copy(self.sampler).to('cpu')
        self.num_candidates = int(self.sampler.num_candidates)
        self.negatives = SamplerNegatives(cpu_sampler, self.num_candidates)
        self.train_pairs_cpu = self.train_pairs.cpu()

    def loader(self, pairs: Tensor) -> LinkNeighborLoader:
        r"""The :class:`~torch_geometric.loader.LinkNeighborLoader` of the
        training pairs :obj:`pairs` :obj:`[2, E]` in the given order (the
        users of each batch must be handed to :obj:`self.negatives` before
        it is collated, as :meth:`batches` does)."""
        return LinkNeighborLoader(
            self.graph, self.num_neighbors,
            edge_label_index=(self._edge_type, pairs),
            neg_sampling=self.negatives, batch_size=self.batch_size,
            shuffle=False, neighbor_sampler=self.neighbor_sampler)

    def shard(self, rank: int, world_size: int) -> None:
        raise NotImplementedError(f"{self.__class__.__name__} does not "
                                  f"support multi-process training")

    shard_columns = RecTask.shard_columns  # Nor column-parallel training.

    def batches(self, generator: torch.Generator) -> Iterator[HeteroData]:
        perm = torch.randperm(self.train_pairs_cpu.size(1),
                              generator=generator)
        pairs = self.train_pairs_cpu[:, perm]
        it = iter(self.loader(pairs))
        for b in range(self.num_batches()):
            start = b * self.batch_size
            self.negatives.prepare(pairs[0, start:start + self.batch_size],
                                   generator)
            yield next(it).to(self.device)

    def adjacency(self, batch: HeteroData, dtype: torch.dtype = torch.float
                  ) -> BipartiteAdjacency:
        r"""The symmetric adjacency of a sampled subgraph (local ids, users
        first): its edges in both directions, weighted
        :math:`1/\sqrt{\deg(u)\deg(i)}` with the full graph's degrees, in
        :obj:`dtype` (that of the embeddings)."""
        src, _, dst = self._edge_type
        n_user, n_item = batch[src].n_id, batch[dst].n_id
        nu, ni = n_user.numel(), n_item.numel()
        pairs = torch.cat([batch[self._edge_type].edge_index,
                           batch[self._rev_edge_type].edge_index.flip([0])],
                          dim=1)
        user, item = coalesce(pairs, num_nodes=max(nu, ni))
        value = sym_norm(self.deg_user, self.deg_item, n_user[user],
                         n_item[item], dtype)
        return BipartiteAdjacency.from_edges(user, item, value, nu, ni)

    def rows(self, n_user: Tensor, n_item: Tensor) -> Tuple[Tensor, Tensor]:
        r"""The layer-0 rows :obj:`[U', F]` and :obj:`[I', F]` of the
        subgraph's users :obj:`n_user` and items :obj:`n_item` (global ids;
        the backbone's :meth:`ego_rows`), read so that the table's gradient
        is sparse with :obj:`sparse_grad`."""
        return self.model.ego_rows(n_user, n_item, sparse=self.sparse_grad)

    def sparse_parameters(self) -> List[Tensor]:
        r"""The backbone's :meth:`sparse_tables` with :obj:`sparse_grad`,
        else none."""
        return self.model.sparse_tables() if self.sparse_grad else []

    def propagate(self, x_user: Tensor, x_item: Tensor,
                  adj: BipartiteAdjacency) -> Tuple[Tensor, ...]:
        r"""The backbone's final user and item representations of a
        subgraph, given its layer-0 rows and :meth:`adjacency`
        (:meth:`~adar_pyg.nn.BipartiteRecommender.propagate`); for samplers
        with :obj:`requires_layers` (backbones with :obj:`pool_layers`), the
        per-layer user and item representations :obj:`[*, L + 1, F]`
        instead."""
        model: Any = self.model
        return model.propagate(x_user, x_item, adj,
                               layers=self.sampler.requires_layers)

    def forward(self, batch: HeteroData,
                generator: Optional[torch.Generator] = None) -> BatchOutput:
        src, _, dst = self._edge_type
        users = batch[src].src_index
        pos = batch[dst].dst_pos_index
        candidates = batch[dst].dst_neg_index.view(users.numel(), -1)
        x_user, x_item = self.rows(batch[src].n_id, batch[dst].n_id)
        out = self.propagate(x_user, x_item,
                             self.adjacency(batch, x_user.dtype))
        sampler = local_sampler(self.sampler, candidates)
        if self.sampler.requires_layers:
            model: Any = self.model
            pool = model.pool_layers
            user_emb, item_emb = pool(out[0]), pool(out[1])
            neg_emb, neg0 = sampler.negative_embeddings(
                users, pos, user_emb, item_emb, x_item, generator,
                item_layers=out[1], pool=pool)
        else:
            user_emb, item_emb = out
            neg_emb, neg0 = sampler.negative_embeddings(
                users, pos, user_emb, item_emb, x_item, generator)
        return BatchOutput(user_emb[users], item_emb[pos], neg_emb,
                           l2_term(x_user[users], x_item[pos], neg0,
                                   users.numel()))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.model}, sampler='
                f'{self.sampler.__class__.__name__}, '
                f'batch_size={self.batch_size}, '
                f'num_neighbors={self.num_neighbors}, '
                f'subgraph_sampler={self.subgraph_sampler!r}' +
                (', sparse_grad=True)' if self.sparse_grad else ')'))
