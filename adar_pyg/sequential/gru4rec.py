from typing import Optional

import torch
from torch import Tensor
from torch.nn import GRU, Dropout, Linear
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from adar_pyg.checks import check_fraction
from adar_pyg.sequential.base import SequentialRecommender


def left_to_front(seq: Tensor) -> Tensor:
    r"""Index :obj:`[B, L]` that moves the items of left-padded sequences to
    the front (right padding): :obj:`seq.gather(1, index)`."""
    L = seq.size(1)
    shift = L - (seq != 0).sum(dim=1, keepdim=True)
    return (torch.arange(L, device=seq.device) + shift) % L


def front_to_left(seq: Tensor) -> Tensor:
    r"""The inverse of :func:`left_to_front`: moves rows computed on the
    right-padded layout back to the left-padded one."""
    L = seq.size(1)
    shift = L - (seq != 0).sum(dim=1, keepdim=True)
    return (torch.arange(L, device=seq.device) - shift) % L


class GRU4Rec(SequentialRecommender):
    r"""The GRU4Rec model from the `"Session-based Recommendations with
    Recurrent Neural Networks" <https://arxiv.org/abs/1511.06939>`_ paper, in
    the form common to sequential recommendation benchmarks (*e.g.*, RecBole):
    item embeddings, dropout, a gated recurrent unit and a linear output
    layer,

    .. math::
        \mathbf{h}_t &= \textrm{GRU}(\textrm{Dropout}(\mathbf{e}_{i_t}),
        \mathbf{h}_{t-1}), \qquad \mathbf{h}_0 = \mathbf{0},

        \mathbf{o}_t &= \mathbf{W} \mathbf{h}_t + \mathbf{b},

    with the score :math:`\mathbf{o}_t^{\top} \mathbf{e}_i` of item :math:`i`
    at step :math:`t + 1`. The sequence representation is
    :math:`\mathbf{o}_n`. The recurrence starts at the first real item and
    runs over real items only (the left padding is moved to the right by a
    gather and the batch is packed), so the outputs do not depend on the
    amount of padding and the cost follows the real lengths. The paper's
    session-parallel mini-batches and TOP1 loss are replaced by the training
    loop of :class:`~adar_pyg.train.SRTask` (BPR with one sampled
    negative per position).

    Args:
        num_items (int): The number of items :math:`|\mathcal{I}|`.
        embedding_dim (int, optional): The size :math:`d` of item and sequence
            representations. (default: :obj:`64`)
        max_len (int, optional): The maximum sequence length :math:`N`.
            (default: :obj:`50`)
        hidden_channels (int, optional): The GRU state size; if :obj:`None`,
            :obj:`embedding_dim`. (default: :obj:`None`)
        num_layers (int, optional): The number of stacked GRU layers.
            (default: :obj:`1`)
        dropout (float, optional): Dropout on the item embeddings.
            (default: :obj:`0.3`)
    """
    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 64,
        max_len: int = 50,
        hidden_channels: Optional[int] = None,
        num_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(num_items, embedding_dim, max_len)
        if num_layers < 1:
            raise ValueError(f"'num_layers' must be positive "
                             f"(got {num_layers})")
        check_fraction('dropout', dropout, closed=False)
        self.hidden_channels = hidden_channels or embedding_dim
        self.num_layers = num_layers
        self.dropout = Dropout(dropout)
        self.gru = GRU(embedding_dim, self.hidden_channels, num_layers,
                       batch_first=True)
        self.lin = Linear(self.hidden_channels, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.gru.reset_parameters()
        self.lin.reset_parameters()

    def forward(self, seq: Tensor) -> Tensor:
        self._check(seq)
        L = seq.size(1)
        front = seq.gather(1, left_to_front(seq))
        length = (seq != 0).sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.item_embedding(front), length,
                                      batch_first=True, enforce_sorted=False)
        packed = packed._replace(data=self.dropout(packed.data))
        packed, _ = self.gru(packed)
        packed = packed._replace(data=self.lin(packed.data))
        out, _ = pad_packed_sequence(packed, batch_first=True,
                                     total_length=L)
        index = front_to_left(seq).unsqueeze(-1).expand(-1, -1, out.size(-1))
        out = out.gather(1, index)
        return out * (seq != 0).unsqueeze(-1).to(out.dtype)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_items}, '
                f'embedding_dim={self.embedding_dim}, '
                f'hidden_channels={self.hidden_channels}, '
                f'num_layers={self.num_layers})')
