import numbers
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter

from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_torch_sparse_tensor, spmm

from adar_pyg.checks import check_int, check_real
from adar_pyg.nn.sparse import BipartiteAdjacency, bipartite_spmm
# Re-exported from their former home (they live in adar_pyg.nn.sparse):
from adar_pyg.nn.sparse import (DroppedBipartiteAdjacency,  # noqa: F401
                                edge_dropout, transpose_perm)


class NGCFConv(MessagePassing):
    r"""The embedding propagation layer from the `"Neural Graph Collaborative
    Filtering" <https://arxiv.org/abs/1905.08108>`_ paper (Eqs. 3-5 there):
    a neighbour :math:`j` sends node :math:`i` the message
    :math:`\frac{1}{\sqrt{|\mathcal{N}(i)||\mathcal{N}(j)|}}(\mathbf{W}_1
    \mathbf{x}_j + \mathbf{W}_2(\mathbf{x}_j \odot \mathbf{x}_i))`, the node
    itself :math:`\mathbf{W}_1\mathbf{x}_i`, and

    .. math::
        \mathbf{x}^{\prime}_i = \mathrm{LeakyReLU}\Big(\mathbf{W}_1
        \mathbf{x}_i + \sum_{j \in \mathcal{N}(i)}
        \frac{1}{\sqrt{|\mathcal{N}(i)||\mathcal{N}(j)|}}
        \big(\mathbf{W}_1\mathbf{x}_j + \mathbf{W}_2(\mathbf{x}_j \odot
        \mathbf{x}_i)\big) + \mathbf{b}\Big),

    or in the matrix form of Eq. 7 there (row-vector convention),

    .. math::
        \mathbf{X}^{\prime} = \mathrm{LeakyReLU}\big(
        (\tilde{\mathbf{A}} + \mathbf{I})\mathbf{X}\mathbf{W}_1 +
        (\tilde{\mathbf{A}}\mathbf{X} \odot \mathbf{X})\mathbf{W}_2 +
        \mathbf{b}\big), \qquad \tilde{\mathbf{A}} =
        \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}.

    The bias :math:`\mathbf{b}` stands for the two biases of the reference
    code (:math:`\mathbf{b}_1 + \mathbf{b}_2`; the paper has none).

    Given an :obj:`edge_index` tensor the layer normalises it (without
    self-loops, as :class:`torch_geometric.nn.conv.LGConv`) and passes the
    per-edge messages above. Given a normalised adjacency — a cached
    :class:`~adar_pyg.nn.BipartiteAdjacency` (whose :meth:`matmul` may also be
    that of an edge-dropped copy, see :class:`~adar_pyg.nn.models.NGCF`) or a
    :obj:`torch.sparse` matrix — it computes the matrix form with one sparse
    product :math:`\mathbf{H} = \tilde{\mathbf{A}}\mathbf{X}`, using
    :math:`\sum_j \tilde{a}_{ij}(\mathbf{x}_j \odot \mathbf{x}_i) =
    \mathbf{h}_i \odot \mathbf{x}_i`.

    Args:
        in_channels (int): Size of each input sample, or :obj:`-1` to
            infer it at the first call (as in
            :class:`torch_geometric.nn.dense.Linear`).
        out_channels (int): Size of each output sample.
        negative_slope (float, optional): LeakyReLU slope (as in the
            reference code). (default: :obj:`0.2`)
        bias (bool, optional): Learn the additive bias :math:`\mathbf{b}`.
            (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.
    """
    def __init__(self, in_channels: int, out_channels: int,
                 negative_slope: float = 0.2, bias: bool = True,
                 **kwargs) -> None:
        if (isinstance(in_channels, bool)
                or not isinstance(in_channels, numbers.Integral)
                or not (in_channels >= 1 or in_channels == -1)):
            raise ValueError(f"'in_channels' must be a positive integer or "
                             f"-1 (got {in_channels!r})")
        check_int('out_channels', out_channels)
        check_real('negative_slope', negative_slope, positive=None)
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.negative_slope = negative_slope
        self.lin1 = Linear(in_channels, out_channels, bias=False,
                           weight_initializer='glorot')
        self.lin2 = Linear(in_channels, out_channels, bias=False,
                           weight_initializer='glorot')
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Xavier-uniform :math:`\mathbf{W}_1, \mathbf{W}_2` (as in the
        paper), zero bias."""
        super().reset_parameters()
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Union[Tensor, Tuple[Tensor, Tensor]],
        edge_index: Union[Adj, BipartiteAdjacency],
        edge_weight: OptTensor = None,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Node features :obj:`x` :obj:`[N, F]` (users first) and the graph.
        With a :class:`~adar_pyg.nn.BipartiteAdjacency`, :obj:`x` may also be
        the pair (user rows, item rows), returned as a pair likewise: this
        never concatenates or slices :obj:`[N, F]` tensors (whose backward
        would allocate and fill full-size gradients)."""
        if isinstance(x, (tuple, list)):
            if not isinstance(edge_index, BipartiteAdjacency):
                raise ValueError("a (user, item) feature pair needs a "
                                 "'BipartiteAdjacency'")
            hu, hi = bipartite_spmm(edge_index, x[0], x[1])
            return self._combine(x[0], hu), self._combine(x[1], hi)
        if isinstance(edge_index, BipartiteAdjacency):
            return self._combine(x, edge_index.matmul(x))
        if is_torch_sparse_tensor(edge_index):
            return self._combine(x, spmm(edge_index, x, reduce='sum'))
        edge_index, edge_weight = gcn_norm(edge_index, edge_weight,
                                           x.size(self.node_dim),
                                           add_self_loops=False,
                                           flow=self.flow, dtype=x.dtype)
        # sum_j a_ij (W1 x_j + W2 (x_j * x_i)) by messages, then W1 x_i:
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        return self._activate(out + self.lin1(x))

    def _combine(self, x: Tensor, h: Tensor) -> Tensor:
        # the matrix form given H = A X
        return self._activate(self.lin1(x + h) + self.lin2(x * h))

    def _activate(self, out: Tensor) -> Tensor:
        if self.bias is not None:
            out = out + self.bias
        return F.leaky_relu(out, self.negative_slope)

    def message(self, x_i: Tensor, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * (self.lin1(x_j) +
                                          self.lin2(x_j * x_i))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, negative_slope={self.negative_slope})')
