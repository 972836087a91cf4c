import weakref
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from adar_pyg.checks import check_int
from adar_pyg.nn.sparse import BipartiteAdjacency, bipartite_norm_adj


class BipartiteRecommender(torch.nn.Module):
    r"""Interface of a collaborative-filtering backbone on a user-item bipartite
    graph, as used by :class:`adar_pyg.train.Trainer`, the samplers and the
    augmenters.

    Subclasses hold user and item layer-0 ("ego") embeddings and implement
    :meth:`forward`, which maps the training graph to final user and item
    representations scored by inner product, :meth:`propagate`, the same
    from given layer-0 rows over a given (sub)graph, and
    :meth:`ego_embeddings`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int): Size of the layer-0 embeddings.
        num_layers (int, optional): Number of propagation layers :math:`L`:
            a node's final representation reads the layer-0 rows of the
            nodes up to :math:`L` hops away (:obj:`0`: its own only), so
            :class:`~adar_pyg.train.SampledCFTask` samples :math:`L` hops.
            (default: :obj:`0`)
    """
    #: Whether :meth:`propagate` acts on each embedding column on its own
    #: (column :math:`f` of the output depends on column :math:`f` of the
    #: input only, as in LightGCN), so that column-parallel training may
    #: give each process some of the columns (see
    #: :meth:`~adar_pyg.train.RecTask.shard_columns`).
    column_separable: bool = False
    #: Whether the backbone gives its per-layer representations
    #: (:meth:`layer_embeddings`, :meth:`pool_layers`, and
    #: :meth:`propagate` with :obj:`layers=True`), as samplers with
    #: :obj:`requires_layers` (MixGCF) need.
    per_layer: bool = False

    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int, num_layers: int = 0) -> None:
        super().__init__()
        self.num_users = check_int('num_users', num_users)
        self.num_items = check_int('num_items', num_items)
        self.embedding_dim = check_int('embedding_dim', embedding_dim)
        self.num_layers = check_int('num_layers', num_layers, minimum=0)
        self.cached = True
        self._cache_key: Optional[tuple] = None
        self._cache_adj: Optional[BipartiteAdjacency] = None

    @property
    def out_channels(self) -> int:
        r"""Size of the final representations :meth:`forward` returns (the
        embedding size; NGCF: its concatenated layers)."""
        return self.embedding_dim

    def adjacency(self, edge_index: Tensor) -> BipartiteAdjacency:
        r"""Returns the normalised adjacency of the user-item edges
        :obj:`edge_index`, with weights of the embeddings' type, cached (when
        :obj:`self.cached`) for as long as the same, unmodified tensor is
        passed and the type is unchanged.

        The same tensor is the same object (held by a weak reference, so
        the cache keeps no graph alive): a new tensor always rebuilds the
        adjacency, even one allocated where a freed one was (same address,
        shape and version counter), and so does an in-place change of the
        cached one (its version counter moves)."""
        dtype = self.ego_embeddings()[0].dtype
        key = (edge_index.data_ptr(), tuple(edge_index.shape),
               edge_index.device, edge_index._version, dtype)
        cache = self._cache_key
        if (self.cached and cache is not None and cache[0]() is edge_index
                and cache[1:] == key):
            return self._cache_adj
        adj = bipartite_norm_adj(edge_index, self.num_users, self.num_items,
                                 dtype=dtype)
        if self.cached:
            self._cache_key = (weakref.ref(edge_index), ) + key
            self._cache_adj = adj
        return adj

    def __getstate__(self) -> Dict[str, Any]:
        # A weak reference cannot be pickled (nor would it point anywhere
        # after loading): the copy rebuilds its adjacency when first called.
        state = super().__getstate__()
        if isinstance(state, dict) and '_cache_key' in state:
            state = dict(state, _cache_key=None, _cache_adj=None)
        return state

    def forward(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the final user embeddings :obj:`[num_users, F]` and item
        embeddings :obj:`[num_items, F]` given the user-item training edges
        :obj:`edge_index` of shape :obj:`[2, E]`."""
        raise NotImplementedError

    def propagate(self, x_user: Tensor, x_item: Tensor,
                  adj: BipartiteAdjacency,
                  layers: bool = False) -> Tuple[Tensor, Tensor]:
        r"""Returns the final user and item representations of the graph of
        the normalised adjacency :obj:`adj` (*e.g.* a sampled subgraph's,
        in local ids, users first) from its layer-0 rows :obj:`x_user`
        :obj:`[U', F]` and :obj:`x_item` :obj:`[I', F]`: :meth:`forward`
        on a given graph and given rows, as
        :class:`~adar_pyg.train.SampledCFTask` calls it. With
        :obj:`layers=True`, the per-layer representations
        :obj:`[U', L + 1, F]` and :obj:`[I', L + 1, F]` instead (for
        samplers with :obj:`requires_layers`; backbones with
        :obj:`pool_layers` only)."""
        raise NotImplementedError

    def ego_embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""Returns the layer-0 user and item embedding tables (the ones that
        the L2 regulariser acts on)."""
        raise NotImplementedError

    def ego_rows(self, users: Tensor, items: Tensor, sparse: bool = False
                 ) -> Tuple[Tensor, Tensor]:
        r"""The layer-0 rows of the users :obj:`users` and items
        :obj:`items` (global ids), as :class:`~adar_pyg.train.SampledCFTask`
        reads them: by default, those of :meth:`ego_embeddings`. With
        :obj:`sparse=True`, read so that the gradient of each table of
        :meth:`sparse_tables` is sparse (backbones that have them only)."""
        if sparse:
            raise NotImplementedError(
                f"'{self.__class__.__name__}' reads no sparse rows (it names "
                f"no sparse_tables)")
        x_user, x_item = self.ego_embeddings()
        return x_user[users], x_item[items]

    def sparse_tables(self) -> List[Tensor]:
        r"""The tables :meth:`ego_rows` with :obj:`sparse=True` gives sparse
        gradients of (for :class:`torch.optim.SparseAdam`); none by
        default."""
        return []

    def layer_embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""The per-layer user :obj:`[U, L + 1, F]` and item
        :obj:`[I, L + 1, F]` representations of the training graph (backbones
        with :obj:`per_layer` only)."""
        raise NotImplementedError(
            f"'{self.__class__.__name__}' gives no per-layer representations")

    def pool_layers(self, layers: Tensor) -> Tensor:
        r"""The final representations :obj:`[*, F]` of per-layer ones
        :obj:`[*, L + 1, F]`: :obj:`pool_layers(layer_embeddings(e))` equals
        :meth:`forward` (backbones with :obj:`per_layer` only)."""
        raise NotImplementedError(
            f"'{self.__class__.__name__}' gives no per-layer representations")


class TableRecommender(BipartiteRecommender):
    r"""A :class:`BipartiteRecommender` whose layer-0 embeddings are one
    table :obj:`embedding` :obj:`[num_users + num_items, F]`, users first
    (LightGCN, NGCF): its :meth:`ego_embeddings`, and :meth:`ego_rows`
    with sparse gradients of the table (:obj:`--sparse-grad`).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int): Size of the layer-0 embeddings.
        num_layers (int, optional): Number of propagation layers :math:`L`.
            (default: :obj:`0`)
    """
    def __init__(self, num_users: int, num_items: int,
                 embedding_dim: int, num_layers: int = 0) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        self.embedding = torch.nn.Embedding(num_users + num_items,
                                            embedding_dim)

    def ego_embeddings(self) -> Tuple[Tensor, Tensor]:
        # split, not two slices: its backward concatenates the two
        # gradients, where each slice's would zero-fill an [N, F] tensor
        # and copy its rows in (the same values: their rows are disjoint)
        return tuple(self.embedding.weight.split(
            [self.num_users, self.num_items]))  # type: ignore

    def ego_rows(self, users: Tensor, items: Tensor, sparse: bool = False
                 ) -> Tuple[Tensor, Tensor]:
        # One read of the table (one gradient of its size, not two):
        x = F.embedding(torch.cat([users, self.num_users + items]),
                        self.embedding.weight, sparse=sparse)
        return x[:users.numel()], x[users.numel():]

    def sparse_tables(self) -> List[Tensor]:
        return [self.embedding.weight]
