from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import ModuleList

from adar_pyg.checks import check_real
from adar_pyg.nn.conv.lightgcn_conv import LightGCNConv
from adar_pyg.nn.models.base import TableRecommender
from adar_pyg.nn.sparse import BipartiteAdjacency


class LightGCN(TableRecommender):
    r"""The LightGCN model from the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_
    paper, on a user-item bipartite graph.

    Layer :math:`l + 1` propagates with the symmetric-normalised adjacency
    (Eq. 3 of the paper, :class:`~adar_pyg.nn.conv.LightGCNConv`)

    .. math::
        \mathbf{E}^{(l+1)} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}
        \mathbf{E}^{(l)},

    and the final representation is the layer mean (Eq. 4 there)

    .. math::
        \mathbf{E} = \sum_{l=0}^{L} \alpha_l \mathbf{E}^{(l)}, \qquad
        \alpha_l = \frac{1}{L + 1}.

    The normalised adjacency is built once per training graph and cached (as
    :obj:`cached=True` does in :class:`torch_geometric.nn.conv.GCNConv`) as a
    :class:`~adar_pyg.nn.BipartiteAdjacency`; the :math:`L` propagations of
    :class:`~adar_pyg.nn.conv.LightGCNConv` and the layer mean then run fused
    (:meth:`~adar_pyg.nn.BipartiteAdjacency.propagate`), with a backward that
    reuses the same symmetric matrix. A :obj:`torch.sparse` adjacency goes
    through the conv layers one by one. The result equals
    :class:`torch_geometric.nn.models.LightGCN` on the homogeneous graph with
    users first and items after them.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Embedding size. (default: :obj:`64`)
        num_layers (int, optional): Number of propagation layers :math:`L`.
            (default: :obj:`3`)
        alpha (float or torch.Tensor, optional): Layer weights; :obj:`None`
            means :math:`1/(L+1)` each. (default: :obj:`None`)
        cached (bool, optional): Cache the normalised adjacency of the last
            :obj:`edge_index` seen (set to :obj:`False` if the graph changes
            between calls, e.g. with sampled subgraphs). (default: :obj:`True`)
    """
    column_separable = True  # Eq. 4 acts on each column alone.
    per_layer = True  # Eq. 4 pools the layers E^(0..L).

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Optional[Union[float, Tensor]] = None,
        cached: bool = True,
    ) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        num_layers = self.num_layers
        if alpha is None:
            alpha = 1. / (num_layers + 1)
        if isinstance(alpha, Tensor):
            if alpha.numel() != num_layers + 1:
                raise ValueError(f"'alpha' needs {num_layers + 1} entries "
                                 f"(got {alpha.numel()})")
            alpha = alpha.to(torch.float)
        else:
            alpha = torch.full((num_layers + 1, ),
                               check_real('alpha', alpha, positive=None))
        self.cached = cached
        self.register_buffer('alpha', alpha)
        self.convs = ModuleList(
            [LightGCNConv(symmetric=True) for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Xavier-uniform initialisation of the embeddings (as in the paper)."""
        torch.nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            conv.reset_parameters()
        self._cache_key = self._cache_adj = None

    def propagate_all(self, x: Tensor,
                      adj: Union[Tensor, BipartiteAdjacency]) -> Tensor:
        r"""Layer mean of the propagated node features :obj:`x` of shape
        :obj:`[N, F]` given a normalised sparse adjacency."""
        if isinstance(adj, BipartiteAdjacency):  # fused fast path
            return torch.cat(adj.propagate(x, self.alpha.tolist()), dim=0)
        out = x * self.alpha[0]
        for i, conv in enumerate(self.convs):
            x = conv(x, adj)
            out = out + x * self.alpha[i + 1]
        return out

    def _resolve(self, edge_index: Union[Tensor, BipartiteAdjacency]):
        if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided:
            return self.adjacency(edge_index)
        return edge_index

    def forward(
        self,
        edge_index: Union[Tensor, BipartiteAdjacency],
    ) -> Tuple[Tensor, Tensor]:
        r"""Final user and item embeddings for the user-item training edges
        :obj:`edge_index` (row 0 users, row 1 items), or for an
        already-normalised adjacency."""
        adj = self._resolve(edge_index)
        if isinstance(adj, BipartiteAdjacency):  # fused fast path
            return adj.propagate(self.embedding.weight, self.alpha.tolist())
        out = self.propagate_all(self.embedding.weight, adj)
        return out[:self.num_users], out[self.num_users:]

    def propagate(self, x_user: Tensor, x_item: Tensor,
                  adj: BipartiteAdjacency,
                  layers: bool = False) -> Tuple[Tensor, Tensor]:
        r"""The layer mean (or, with :obj:`layers=True`, the stacked
        layers) of the user and item rows :obj:`x_user`, :obj:`x_item`
        propagated over :obj:`adj` (fused,
        :meth:`~adar_pyg.nn.BipartiteAdjacency.propagate`)."""
        x = torch.cat([x_user, x_item], dim=0)
        if layers:
            return adj.propagate_layers(x, self.num_layers)
        return adj.propagate(x, self.alpha.tolist())

    def layer_embeddings(
        self,
        edge_index: Union[Tensor, BipartiteAdjacency],
    ) -> Tuple[Tensor, Tensor]:
        r"""The per-layer representations
        :math:`\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(L)}` stacked as user
        :obj:`[U, L + 1, F]` and item :obj:`[I, L + 1, F]` tensors, for
        samplers that work layer by layer (e.g.
        :class:`~adar_pyg.sampling.MixGCFSampler`);
        :obj:`pool_layers(layer_embeddings(edge_index))` equals
        :meth:`forward`. With a :class:`~adar_pyg.nn.BipartiteAdjacency`
        the layers are written by blocks into the two stacked outputs, and the
        backward is the Horner scheme of :meth:`forward` with each layer's own
        gradient
        (:meth:`~adar_pyg.nn.BipartiteAdjacency.propagate_layers`)."""
        adj = self._resolve(edge_index)
        if isinstance(adj, BipartiteAdjacency):
            return adj.propagate_layers(self.embedding.weight, self.num_layers)
        x = self.embedding.weight
        xs = [x]
        for conv in self.convs:
            x = conv(x, adj)
            xs.append(x)
        out = torch.stack(xs, dim=1)
        return out[:self.num_users], out[self.num_users:]

    def pool_layers(self, layers: Tensor) -> Tensor:
        r"""The layer combination :math:`\sum_l \alpha_l \mathbf{e}^{(l)}`
        (Eq. 4) of per-layer representations of shape :obj:`[*, L + 1, F]`,
        giving :obj:`[*, F]`."""
        return torch.einsum('...lf,l->...f', layers, self.alpha)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, dim={self.embedding_dim}, '
                f'num_layers={self.num_layers})')
