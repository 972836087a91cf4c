from torch import Tensor

from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_torch_sparse_tensor, spmm

from adar_pyg.nn.sparse import BipartiteAdjacency, symmetric_spmm


class LightGCNConv(MessagePassing):
    r"""The light graph convolution from the `"LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper (Eq. 3 there), with a fast path for a
    cached, pre-normalised symmetric adjacency

    .. math::
        \mathbf{x}^{\prime}_i = \sum_{j \in \mathcal{N}(i)}
        \frac{1}{\sqrt{\deg(i)\deg(j)}} \mathbf{x}_j .

    Given an :obj:`edge_index` tensor it normalises and passes messages exactly
    like :class:`torch_geometric.nn.conv.LGConv`. Given a cached
    :class:`~adar_pyg.nn.BipartiteAdjacency` (from
    :func:`adar_pyg.nn.bipartite_norm_adj`) or a :obj:`torch.sparse` matrix, it is
    taken as already normalised; the product's backward then reuses the same
    matrix (:math:`\tilde{\mathbf{A}}^{\top} = \tilde{\mathbf{A}}`, for sparse
    tensors when :obj:`symmetric=True`), which avoids building a transpose in
    every training step.

    Args:
        symmetric (bool, optional): Whether sparse adjacency matrices passed to
            :meth:`forward` are symmetric (so the backward may reuse them).
            (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.
    """
    def __init__(self, symmetric: bool = True, **kwargs) -> None:
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        self.symmetric = symmetric

    def reset_parameters(self) -> None:
        r"""No learnable parameters; kept for API symmetry."""
        super().reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None) -> Tensor:
        if isinstance(edge_index, BipartiteAdjacency):
            return edge_index.matmul(x)
        if is_torch_sparse_tensor(edge_index):
            if self.symmetric:
                return symmetric_spmm(edge_index, x)
            return spmm(edge_index, x, reduce=self.aggr)
        edge_index, edge_weight = gcn_norm(edge_index, edge_weight,
                                           x.size(self.node_dim),
                                           add_self_loops=False,
                                           flow=self.flow, dtype=x.dtype)
        return self.propagate(edge_index, x=x, edge_weight=edge_weight)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(symmetric={self.symmetric})'
