import math
from typing import Optional

import torch
from torch import Tensor
from torch.nn import (Dropout, Embedding, LayerNorm, Linear, ModuleList,
                      MultiheadAttention, ReLU, Sequential)

from adar_pyg.checks import check_fraction
from adar_pyg.sequential.base import SequentialRecommender, apply_by_length


def causal_attention_mask(seq: Tensor, num_heads: int = 1) -> Tensor:
    r"""Boolean attention mask :obj:`[B * num_heads, L, L]` (:obj:`True` =
    may **not** attend) of left-padded sequences :obj:`seq` :obj:`[B, L]`:
    position :math:`t` attends to positions :math:`s \leq t` that are not
    padding, and every position to itself (so that padding rows stay finite).
    """
    L = seq.size(1)
    future = torch.ones(L, L, dtype=torch.bool, device=seq.device).triu(1)
    mask = future.unsqueeze(0) | (seq == 0).unsqueeze(1)
    mask = mask & ~torch.eye(L, dtype=torch.bool, device=seq.device)
    return mask.repeat_interleave(num_heads, dim=0)


class SASRec(SequentialRecommender):
    r"""The SASRec model from the `"Self-Attentive Sequential Recommendation"
    <https://arxiv.org/abs/1808.09781>`_ paper: learned positional
    embeddings added to the (scaled) item embeddings,

    .. math::
        \mathbf{X}^{(0)}_t = \sqrt{d} \, \mathbf{e}_{i_t} + \mathbf{p}_t,

    followed by :math:`B` blocks of causal multi-head self-attention and a
    point-wise feed-forward network (Eq. (2–4) there, in the layout of the
    reference implementation: layer normalisation on the queries, residual
    connections, dropout)

    .. math::
        \mathbf{Q} &= \textrm{LN}(\mathbf{X}), \qquad
        \mathbf{S} = \textrm{LN}(\mathbf{Q} + \textrm{MHA}(\mathbf{Q},
        \mathbf{X}, \mathbf{X})),

        \mathbf{X}' &= \mathbf{S} + \textrm{Dropout}(\mathbf{W}_2
        \textrm{Dropout}(\textrm{ReLU}(\mathbf{W}_1 \mathbf{S} +
        \mathbf{b}_1)) + \mathbf{b}_2),

    and a final layer normalisation. Position :math:`t` attends to
    positions :math:`s \leq t` only, and never to padding. The score of item
    :math:`i` at step :math:`t + 1` is :math:`\mathbf{F}_t^{\top}
    \mathbf{e}_i` (shared item embeddings); the sequence representation is
    :math:`\mathbf{F}_n`.

    Positions are counted from the end of the padded window: the latest item
    always has position :math:`N - 1`, so a sequence gives the same outputs
    whatever its amount of leading padding; :meth:`forward` uses this to
    encode rows of similar length together
    (:func:`~adar_pyg.sequential.base.apply_by_length`), at a cost that
    follows the real sequence lengths rather than :math:`N`.

    Args:
        num_items (int): The number of items :math:`|\mathcal{I}|`.
        embedding_dim (int, optional): The size :math:`d` of item and sequence
            representations. (default: :obj:`64`)
        max_len (int, optional): The maximum sequence length :math:`N` (the
            number of positional embeddings). (default: :obj:`50`)
        num_layers (int, optional): The number of self-attention blocks
            :math:`B`. (default: :obj:`2`)
        num_heads (int, optional): The number of attention heads.
            (default: :obj:`1`)
        dropout (float, optional): Dropout on the embeddings and in the
            feed-forward networks (the SASRec paper uses :obj:`0.5` on the
            sparse Amazon datasets). (default: :obj:`0.5`)
        attention_dropout (float, optional): Dropout on the attention
            weights; if :obj:`None`, :obj:`dropout`. (default: :obj:`None`)
        num_extra_tokens (int, optional): Special tokens after the items,
            see :class:`~adar_pyg.sequential.SequentialRecommender`.
            (default: :obj:`0`)
    """
    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 64,
        max_len: int = 50,
        num_layers: int = 2,
        num_heads: int = 1,
        dropout: float = 0.5,
        attention_dropout: Optional[float] = None,
        num_extra_tokens: int = 0,
    ) -> None:
        super().__init__(num_items, embedding_dim, max_len, num_extra_tokens)
        if num_layers < 1:
            raise ValueError(f"'num_layers' must be positive "
                             f"(got {num_layers})")
        if num_heads < 1 or embedding_dim % num_heads:
            raise ValueError(f"'num_heads' ({num_heads}) must divide "
                             f"'embedding_dim' ({embedding_dim})")
        attention_dropout = (dropout if attention_dropout is None else
                             attention_dropout)
        for name, value in [('dropout', dropout),
                            ('attention_dropout', attention_dropout)]:
            check_fraction(name, value, closed=False)
        self.num_layers, self.num_heads = num_layers, num_heads
        self.dropout_p = dropout
        self.position_embedding = Embedding(max_len, embedding_dim)
        self.dropout = Dropout(dropout)
        self.attention_norms = ModuleList()
        self.attentions = ModuleList()
        self.ffn_norms = ModuleList()
        self.ffns = ModuleList()
        for _ in range(num_layers):
            self.attention_norms.append(LayerNorm(embedding_dim, eps=1e-8))
            self.attentions.append(
                MultiheadAttention(embedding_dim, num_heads,
                                   dropout=attention_dropout,
                                   batch_first=True))
            self.ffn_norms.append(LayerNorm(embedding_dim, eps=1e-8))
            self.ffns.append(
                Sequential(Linear(embedding_dim, embedding_dim),
                           Dropout(dropout), ReLU(),
                           Linear(embedding_dim, embedding_dim),
                           Dropout(dropout)))
        self.final_norm = LayerNorm(embedding_dim, eps=1e-8)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        torch.nn.init.xavier_uniform_(self.position_embedding.weight)
        for module in [*self.attention_norms, *self.ffn_norms,
                       self.final_norm]:
            module.reset_parameters()
        for attention in self.attentions:
            attention._reset_parameters()
        for ffn in self.ffns:
            ffn[0].reset_parameters()
            ffn[3].reset_parameters()

    def forward(self, seq: Tensor) -> Tensor:
        self._check(seq)
        if seq.size(0) == 0:
            return self._forward_dense(seq)
        # Rows of similar length are encoded together (same result, less
        # padding; see `apply_by_length`):
        return apply_by_length(self._forward_dense, seq)

    def _forward_dense(self, seq: Tensor) -> Tensor:
        L = seq.size(1)
        keep = (seq != 0).unsqueeze(-1)
        position = torch.arange(self.max_len - L, self.max_len,
                                device=seq.device)
        x = self.item_embedding(seq) * math.sqrt(self.embedding_dim)
        x = self.dropout(x + self.position_embedding(position))
        x = x * keep
        mask = causal_attention_mask(seq, self.num_heads)
        for i in range(self.num_layers):
            q = self.attention_norms[i](x)
            h, _ = self.attentions[i](q, x, x, attn_mask=mask,
                                      need_weights=False)
            x = self.ffn_norms[i](q + h)
            x = (x + self.ffns[i](x)) * keep
        return self.final_norm(x) * keep

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_items}, '
                f'embedding_dim={self.embedding_dim}, max_len={self.max_len}, '
                f'num_layers={self.num_layers}, num_heads={self.num_heads}, '
                f'dropout={self.dropout_p})')
