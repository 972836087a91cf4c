import numbers
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Linear, Sequential, SiLU

from adar_pyg.augment.diffusion import timestep_embedding


class FiLMDenoiser(torch.nn.Module):
    r"""The conditional noise prediction model :math:`\tau` from the
    `"Adaptive Diffusion-based Augmentation for Recommendation"
    <https://arxiv.org/abs/2601.01448>`_ paper (Eq. (5) and (7)), built on
    feature-wise linear modulation (`FiLM <https://arxiv.org/abs/1709.07871>`_)

    .. math::
        \boldsymbol{\epsilon}_{t, \theta} =
        \gamma(\mathbf{e}_t, \mathbf{e}_u; \theta_{\gamma}) \odot \mathbf{x}_t
        + \eta(\mathbf{e}_t, \mathbf{e}_u; \theta_{\eta}),

    where :math:`\mathbf{e}_t = \textrm{PE}(t)` is the sinusoidal time
    embedding of Eq. (6) (see :func:`~adar_pyg.augment.timestep_embedding`),
    :math:`\mathbf{e}_u` the conditioning (user) embedding, and the scale
    :math:`\gamma` and the offset :math:`\eta` are two MLPs
    :math:`\textrm{Linear} \to \textrm{SiLU} \to \textrm{Linear}` applied to
    the concatenation :math:`[\mathbf{e}_t \, \| \, \mathbf{e}_u]`.

    Args:
        embedding_dim (int): The size :math:`d` of the noised samples
            :math:`\mathbf{x}_t` (and of the output).
        hidden_channels (int, optional): The hidden size of both MLPs.
            (default: :obj:`128`)
        time_dim (int, optional): The size of the time embedding. If set to
            :obj:`None`, will be :obj:`embedding_dim`. (default: :obj:`None`)
        cond_dim (int, optional): The size of the conditioning embedding. If
            set to :obj:`None`, will be :obj:`embedding_dim`.
            (default: :obj:`None`)

    Shapes:
        - **input:** noised samples :math:`(N, d)`, time steps :math:`(N)` or
          an integer, conditioning :math:`(N, d_c)`
        - **output:** predicted noise :math:`(N, d)`
    """
    def __init__(
        self,
        embedding_dim: int,
        hidden_channels: int = 128,
        time_dim: Optional[int] = None,
        cond_dim: Optional[int] = None,
    ) -> None:
        super().__init__()
        for name, value in (('embedding_dim', embedding_dim),
                            ('hidden_channels', hidden_channels),
                            ('time_dim', time_dim), ('cond_dim', cond_dim)):
            if value is None and name in ('time_dim', 'cond_dim'):
                continue
            if isinstance(value, bool) or not isinstance(value,
                                                         numbers.Integral):
                raise ValueError(f"'{name}' must be an integer of at least 1"
                                 f" (got {value!r})")
            if value < 1:
                raise ValueError(f"'{name}' must be at least 1 (got {value})")

        self.embedding_dim = embedding_dim
        self.hidden_channels = hidden_channels
        self.time_dim = time_dim or embedding_dim
        self.cond_dim = cond_dim or embedding_dim

        in_channels = self.time_dim + self.cond_dim
        self.gamma = Sequential(
            Linear(in_channels, hidden_channels),
            SiLU(),
            Linear(hidden_channels, embedding_dim),
        )
        self.eta = Sequential(
            Linear(in_channels, hidden_channels),
            SiLU(),
            Linear(hidden_channels, embedding_dim),
        )

        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        for mlp in (self.gamma, self.eta):
            for layer in mlp:
                if isinstance(layer, Linear):
                    layer.reset_parameters()

    def condition(self, cond: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Projects the conditioning embeddings through the conditioning
        part of the first layers of :math:`\gamma` and :math:`\eta`; the
        result can be passed to :meth:`forward` as :obj:`cond_proj` for every
        step of a reverse chain (the condition does not change along it), so
        that each step costs only the time part and the second layers."""
        return tuple(  # type: ignore
            F.linear(cond, mlp[0].weight[:, self.time_dim:])
            for mlp in (self.gamma, self.eta))

    def forward(self, x: Tensor, t: Union[int, Tensor], cond: Tensor,
                cond_proj: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        r"""Predicts the noise in :obj:`x` at step(s) :obj:`t`, conditioned on
        :obj:`cond`.

        Args:
            x (torch.Tensor): The noised samples :math:`\mathbf{x}_t`.
            t (int or torch.Tensor): The time step(s), shared (an integer) or
                one per row (a tensor of shape :obj:`[N]`).
            cond (torch.Tensor): The conditioning embeddings
                :math:`\mathbf{e}_u`.
            cond_proj (tuple, optional): :meth:`condition` of :obj:`cond`,
                reused across the steps of a chain. (default: :obj:`None`)
        """
        # The first layer W [e_t || e_u] + b is split into W_t e_t + b,
        # computed once per distinct step on the CPU (once for all rows in
        # the reverse chain; per row on accelerators, where `unique` would
        # synchronise with the host), and W_u e_u, computed once per chain
        # (see `condition`):
        index: Optional[Tensor] = None
        if not isinstance(t, Tensor):
            t = torch.full((1, ), t, device=x.device)
        else:
            t = t.to(x.device).reshape(-1)
            if t.numel() > 1 and t.device.type == 'cpu':
                t, index = t.unique(return_inverse=True)
        e_t = timestep_embedding(t, self.time_dim).to(x.dtype)
        if cond_proj is None:
            cond_proj = self.condition(cond)
        gamma = self._split_mlp(self.gamma, e_t, index, cond_proj[0])
        eta = self._split_mlp(self.eta, e_t, index, cond_proj[1])
        return torch.addcmul(eta, gamma, x)

    def _split_mlp(self, mlp: Sequential, e_t: Tensor, index: Optional[Tensor],
                   h_cond: Tensor) -> Tensor:
        lin = mlp[0]
        h_time = F.linear(e_t, lin.weight[:, :self.time_dim], lin.bias)
        h = h_cond + (h_time if index is None else h_time[index])
        for layer in mlp[1:]:
            h = layer(h)
        return h

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'hidden_channels={self.hidden_channels}, '
                f'time_dim={self.time_dim}, cond_dim={self.cond_dim})')
