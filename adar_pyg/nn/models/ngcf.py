from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import ModuleList

from adar_pyg.checks import check_fraction, check_real
from adar_pyg.nn.conv.ngcf_conv import NGCFConv
from adar_pyg.nn.models.base import TableRecommender
from adar_pyg.nn.sparse import (BipartiteAdjacency, edge_dropout,
                                transpose_perm)


class NGCF(TableRecommender):
    r"""The NGCF model from the `"Neural Graph Collaborative Filtering"
    <https://arxiv.org/abs/1905.08108>`_ paper, on a user-item bipartite graph.

    Starting from the layer-0 ("ego") embeddings
    :math:`\mathbf{E}^{(0)}`, each of the :math:`L` layers is an
    :class:`~adar_pyg.nn.conv.NGCFConv` (Eq. 7 there)

    .. math::
        \mathbf{E}^{(l)} = \mathrm{Dropout}_{\textrm{mess}}\Big(
        \mathrm{LeakyReLU}\big((\hat{\mathbf{A}} + \mathbf{I})
        \mathbf{E}^{(l-1)}\mathbf{W}_1^{(l)} + (\hat{\mathbf{A}}
        \mathbf{E}^{(l-1)} \odot \mathbf{E}^{(l-1)})\mathbf{W}_2^{(l)} +
        \mathbf{b}^{(l)}\big)\Big),

    where :math:`\hat{\mathbf{A}}` is the symmetric-normalised adjacency
    :math:`\tilde{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
    with *node dropout* in training: as in the reference code, each non-zero
    entry of :math:`\tilde{\mathbf{A}}` (both directions of an interaction
    independently) is dropped with probability :math:`p_{\textrm{node}}` and
    the others are scaled by :math:`1/(1 - p_{\textrm{node}})`, one draw per
    forward pass shared by all layers. The final representation concatenates
    the layer-0 embeddings and the row-wise L2-normalised layer outputs (the
    normalisation is that of the reference code; the next layer takes the
    un-normalised :math:`\mathbf{E}^{(l)}`), Eq. 9 there:

    .. math::
        \mathbf{e}^{*} = \mathbf{e}^{(0)} \,\|\,
        \frac{\mathbf{e}^{(1)}}{\|\mathbf{e}^{(1)}\|_2} \,\|\, \cdots \,\|\,
        \frac{\mathbf{e}^{(L)}}{\|\mathbf{e}^{(L)}\|_2}
        \in \mathbb{R}^{F(L+1)},

    scored by inner product. Both dropouts are off in evaluation mode.

    The normalised adjacency is cached as a
    :class:`~adar_pyg.nn.BipartiteAdjacency` (its two CSR blocks) and the
    layers run on user and item rows separately
    (:func:`~adar_pyg.nn.sparse.bipartite_spmm`), so no :obj:`[N, F]`
    tensor is sliced. A node-dropped copy only re-weights the blocks' values
    (no re-indexing) and carries its transpose for the backward, so a
    training step costs :math:`L` sparse products forward and :math:`L`
    backward.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int, optional): Size :math:`F` of the embeddings and of
            every layer. (default: :obj:`64`)
        num_layers (int, optional): Number of propagation layers :math:`L`.
            (default: :obj:`3`)
        node_dropout (float, optional): Probability :math:`p_{\textrm{node}}`
            of dropping an adjacency entry in training (the reference
            implementation's default). (default: :obj:`0.1`)
        message_dropout (float, optional): Dropout probability of each layer's
            output in training. (default: :obj:`0.1`)
        negative_slope (float, optional): LeakyReLU slope. (default: :obj:`0.2`)
        normalize (bool, optional): L2-normalise the layer outputs before
            concatenating them. (default: :obj:`True`)
        cached (bool, optional): Cache the normalised adjacency of the last
            :obj:`edge_index` seen. (default: :obj:`True`)
    """
    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        node_dropout: float = 0.1,
        message_dropout: float = 0.1,
        negative_slope: float = 0.2,
        normalize: bool = True,
        cached: bool = True,
    ) -> None:
        super().__init__(num_users, num_items, embedding_dim, num_layers)
        for name, p in [('node_dropout', node_dropout),
                        ('message_dropout', message_dropout)]:
            check_fraction(name, p, closed=False)
        check_real('negative_slope', negative_slope, positive=None)
        self.node_dropout = float(node_dropout)
        self.message_dropout = float(message_dropout)
        self.normalize = normalize
        self.cached = cached
        self.convs = ModuleList([
            NGCFConv(embedding_dim, embedding_dim, negative_slope)
            for _ in range(self.num_layers)
        ])
        self._cache_perm: Optional[Tuple[BipartiteAdjacency, Tensor]] = None
        self.reset_parameters()

    @property
    def out_channels(self) -> int:
        r"""Size :math:`F(L+1)` of the final representations."""
        return self.embedding_dim * (self.num_layers + 1)

    def reset_parameters(self) -> None:
        r"""Xavier-uniform initialisation of embeddings and weights (as in the
        paper)."""
        torch.nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            conv.reset_parameters()

    def forward(
        self,
        edge_index: Union[Tensor, BipartiteAdjacency],
    ) -> Tuple[Tensor, Tensor]:
        r"""Final user and item representations (:obj:`[U, F(L+1)]` and
        :obj:`[I, F(L+1)]`) for the user-item training edges
        :obj:`edge_index` (row 0 users, row 1 items), an already-normalised
        :class:`~adar_pyg.nn.BipartiteAdjacency`, or a normalised
        :obj:`torch.sparse` matrix (no node dropout then)."""
        if (isinstance(edge_index, Tensor)
                and edge_index.layout == torch.strided):
            adj = self.adjacency(edge_index)
        else:
            adj = edge_index
        if (self.training and self.node_dropout > 0
                and isinstance(adj, BipartiteAdjacency)):
            adj = edge_dropout(adj, self.node_dropout, self._perm(adj))
        if isinstance(adj, BipartiteAdjacency):
            # by blocks (user rows, item rows): nothing [N, F] is sliced
            x = self.embedding.weight.split([self.num_users, self.num_items])
            return self._layers(x[0], x[1], adj)
        x = self.embedding.weight
        out = [x]
        for conv in self.convs:
            x = self._dropout(conv(x, adj))
            out.append(self._normalize(x))
        out = torch.cat(out, dim=-1)
        return out[:self.num_users], out[self.num_users:]

    def propagate(self, x_user: Tensor, x_item: Tensor,
                  adj: BipartiteAdjacency,
                  layers: bool = False) -> Tuple[Tensor, Tensor]:
        r"""The concatenated layers (Eq. 9) of the user and item rows
        :obj:`x_user`, :obj:`x_item` propagated over :obj:`adj`, with node
        dropout (a fresh draw, in training) and message dropout as in
        :meth:`forward`. NGCF has no per-layer pooling: :obj:`layers=True`
        is refused."""
        if layers:
            raise ValueError(f"'{self.__class__.__name__}' has no per-layer "
                             f"representations to pool ('layers=True')")
        if self.training and self.node_dropout > 0:
            adj = edge_dropout(adj, self.node_dropout)
        return self._layers(x_user, x_item, adj)

    def _layers(self, x_user: Tensor, x_item: Tensor,
                adj: BipartiteAdjacency) -> Tuple[Tensor, Tensor]:
        # The L layers by blocks (user rows, item rows), then Eq. 9:
        x = (x_user, x_item)
        outs: Tuple[List[Tensor], List[Tensor]] = ([x_user], [x_item])
        for conv in self.convs:
            x = tuple(self._dropout(h) for h in conv(x, adj))
            for h, out in zip(x, outs):
                out.append(self._normalize(h))
        return torch.cat(outs[0], dim=-1), torch.cat(outs[1], dim=-1)

    def _dropout(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.message_dropout, self.training)

    def _normalize(self, x: Tensor) -> Tensor:
        return F.normalize(x, p=2., dim=-1) if self.normalize else x

    def _perm(self, adj: BipartiteAdjacency) -> Tensor:
        if adj is self._cache_adj:  # one transpose per cached adjacency
            if self._cache_perm is None or self._cache_perm[0] is not adj:
                self._cache_perm = (adj, transpose_perm(adj))
            return self._cache_perm[1]
        return transpose_perm(adj)

    def __getstate__(self) -> Dict[str, Any]:
        # (the cached transpose goes with the cached adjacency: see
        # BipartiteRecommender.__getstate__)
        state = super().__getstate__()
        if '_cache_perm' in state:
            state = dict(state, _cache_perm=None)
        return state

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, dim={self.embedding_dim}, '
                f'num_layers={self.num_layers}, '
                f'node_dropout={self.node_dropout}, '
                f'message_dropout={self.message_dropout})')
