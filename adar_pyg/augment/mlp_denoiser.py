import math
import numbers
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Dropout, Linear

from adar_pyg.augment.diffusion import timestep_embedding
from adar_pyg.checks import check_int


class MLPDenoiser(torch.nn.Module):
    r"""The unconditional :math:`\mathbf{x}_0`-predicting denoiser of the
    `"Diffusion Recommender Model" <https://arxiv.org/abs/2304.04971>`_ code
    (DiffRec), as used on item embeddings by the `"Causal Negative Sampling
    via Diffusion Model for Out-of-Distribution Recommendation"
    <https://arxiv.org/abs/2508.07243>`_ paper (CNSDiff)

    .. math::
        \hat{\mathbf{x}}_0 = f_{\theta}(\mathbf{x}_t, t) =
        \mathbf{W}_2 \tanh \left( \mathbf{W}_1 \left[
        \textrm{Dropout} \left( \frac{\mathbf{x}_t}{\| \mathbf{x}_t \|}
        \right) \, \middle\| \, \mathbf{W}_t \textrm{PE}(t) + \mathbf{b}_t
        \right] + \mathbf{b}_1 \right) + \mathbf{b}_2,

    where :math:`\textrm{PE}(t)` is the sinusoidal time embedding (see
    :func:`~adar_pyg.augment.timestep_embedding`). Weights are initialised
    with Xavier-normal values and biases with normal noise of standard
    deviation :math:`10^{-3}`, as in the reference code.

    Args:
        embedding_dim (int): The size :math:`d` of the samples (and of the
            output).
        hidden_channels (int, optional): The hidden size. (default: :obj:`64`)
        time_dim (int, optional): The size of the time embedding. If set to
            :obj:`None`, will be :obj:`embedding_dim`. (default: :obj:`None`)
        dropout (float, optional): The dropout probability on the (normalized)
            input, active in training mode only. (default: :obj:`0.5`)
        normalize (bool, optional): Whether to :math:`L_2`-normalize the
            input rows (the reference's :obj:`norm=True`).
            (default: :obj:`True`)

    Shapes:
        - **input:** noised samples :math:`(N, d)`, time steps :math:`(N)` or
          an integer
        - **output:** predicted clean samples :math:`(N, d)`
    """
    def __init__(
        self,
        embedding_dim: int,
        hidden_channels: int = 64,
        time_dim: Optional[int] = None,
        dropout: float = 0.5,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        check_int('embedding_dim', embedding_dim)
        check_int('hidden_channels', hidden_channels)
        check_int('time_dim', time_dim, optional=True)
        if (isinstance(dropout, bool) or not isinstance(dropout, numbers.Real)
                or not 0.0 <= dropout < 1.0):
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout!r})")

        self.embedding_dim = embedding_dim
        self.hidden_channels = hidden_channels
        self.time_dim = time_dim or embedding_dim
        self.normalize = normalize

        self.time_lin = Linear(self.time_dim, self.time_dim)
        self.dropout = Dropout(dropout)
        self.lin1 = Linear(embedding_dim + self.time_dim, hidden_channels)
        self.lin2 = Linear(hidden_channels, embedding_dim)

        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for lin in (self.time_lin, self.lin1, self.lin2):
            std = math.sqrt(2.0 / (lin.in_features + lin.out_features))
            torch.nn.init.normal_(lin.weight, 0.0, std)
            torch.nn.init.normal_(lin.bias, 0.0, 1e-3)

    def forward(self, x: Tensor, t: Union[int, Tensor]) -> Tensor:
        r"""Predicts :math:`\mathbf{x}_0` from :obj:`x` at step(s) :obj:`t`.

        Args:
            x (torch.Tensor): The noised samples :math:`\mathbf{x}_t` of shape
                :obj:`[N, d]`.
            t (int or torch.Tensor): The time step(s), shared (an integer) or
                one per row (a tensor of shape :obj:`[N]`).
        """
        if not isinstance(t, Tensor):
            t = torch.full((1, ), int(t), device=x.device)
        e_t = self.time_lin(
            timestep_embedding(t.to(x.device), self.time_dim).to(x.dtype))
        e_t = e_t.expand(x.size(0), -1)
        if self.normalize:
            x = F.normalize(x, dim=-1)
        h = torch.cat([self.dropout(x), e_t], dim=-1)
        return self.lin2(torch.tanh(self.lin1(h)))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'hidden_channels={self.hidden_channels}, '
                f'time_dim={self.time_dim}, dropout={self.dropout.p}, '
                f'normalize={self.normalize})')
