from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding


def apply_by_length(fn: Callable[[Tensor], Tensor], seq: Tensor) -> Tensor:
    r"""Applies a per-position sequence encoder :obj:`fn` (:obj:`[B, w]` to
    :obj:`[B, w, d]`) to a left-padded batch :obj:`seq` of shape
    :obj:`[B, L]` in groups of rows of similar length: each row goes to the
    group of width :math:`\min(L, 2^{\lceil \log_2 n \rceil})` for its
    :math:`n` items, cut to its last columns, and the outputs are padded back
    to :math:`L` columns. For an encoder whose outputs at real positions do not
    depend on leading padding (such as :class:`~adar_pyg.sequential.SASRec`),
    the result equals :obj:`fn(seq)`, at a cost proportional to the real
    lengths rather than to :math:`B \cdot L` (a few groups, no loop over
    rows)."""
    B, L = seq.shape
    n = (seq != 0).sum(dim=1).clamp(min=1)
    width = torch.minimum(2**torch.ceil(torch.log2(n.double())).long(),
                          torch.full_like(n, L))
    parts, order = [], []
    for w in width.unique().tolist():
        rows = (width == w).nonzero().view(-1)
        out = fn(seq[rows, L - w:])
        parts.append(F.pad(out, (0, 0, L - w, 0)))
        order.append(rows)
    out = torch.cat(parts, dim=0)
    inverse = torch.empty(B, dtype=torch.long, device=seq.device)
    inverse[torch.cat(order)] = torch.arange(B, device=seq.device)
    return out[inverse]


class SequentialRecommender(torch.nn.Module):
    r"""Interface of a sequential recommendation backbone, as used by
    :class:`~adar_pyg.train.SRTask` (and, through it, by
    :class:`~adar_pyg.train.Trainer` and the augmenters).

    Inputs are left-padded sequences of **1-based** item ids with :obj:`0` as
    padding (see :class:`~adar_pyg.sequential.LeaveOneOutSplit`), of width at
    most :obj:`max_len`; the last column holds the latest item. A subclass
    implements :meth:`forward`, mapping a sequence batch to one
    representation per position, such that position :math:`t` depends on
    items :math:`1, \ldots, t` only (causality) and the score of item
    :math:`i` as the next item is the inner product with row :math:`i` of
    :meth:`item_embeddings`. The representation of the whole sequence (the
    "user" side, :math:`\mathbf{e}_u` of the ADAR paper) is the one of its
    last position, :meth:`encode`.

    The item table holds :obj:`num_items + 1 + num_extra_tokens` rows: row
    :obj:`0` is padding (kept at zero), rows :math:`1, \ldots,
    |\mathcal{I}|` are the items, and further rows are special tokens (such
    as the mask token of :class:`~adar_pyg.sequential.CL4SRec`) that are never
    ranked.

    Args:
        num_items (int): The number of items :math:`|\mathcal{I}|`.
        embedding_dim (int): The size :math:`d` of item and sequence
            representations.
        max_len (int): The maximum sequence length :math:`N`.
        num_extra_tokens (int, optional): Special tokens after the items.
            (default: :obj:`0`)
    """
    def __init__(self, num_items: int, embedding_dim: int, max_len: int,
                 num_extra_tokens: int = 0) -> None:
        super().__init__()
        for name, value in [('num_items', num_items),
                            ('embedding_dim', embedding_dim),
                            ('max_len', max_len)]:
            if int(value) < 1:
                raise ValueError(f"'{name}' must be positive (got {value})")
        self.num_items = int(num_items)
        self.embedding_dim = int(embedding_dim)
        self.max_len = int(max_len)
        self.item_embedding = Embedding(num_items + 1 + num_extra_tokens,
                                        embedding_dim, padding_idx=0)

    def reset_parameters(self) -> None:
        r"""Xavier-uniform item embeddings (as in the ADAR paper), with a zero
        padding row."""
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def _check(self, seq: Tensor) -> None:
        if seq.dim() != 2:
            raise ValueError(f"'seq' must have shape [batch_size, length] "
                             f"(got {list(seq.shape)})")
        if seq.size(1) > self.max_len:
            raise ValueError(f"sequences of length {seq.size(1)} exceed "
                             f"'max_len' ({self.max_len})")

    def forward(self, seq: Tensor) -> Tensor:
        r"""Returns the representation of every position :obj:`[B, L, d]` of
        the left-padded sequences :obj:`seq` of shape :obj:`[B, L]` (padding
        positions are zero)."""
        raise NotImplementedError

    def encode(self, seq: Tensor) -> Tensor:
        r"""The sequence representations :obj:`[B, d]`: the output of the last
        position (the latest item)."""
        return self(seq)[:, -1]

    def item_embeddings(self) -> Tensor:
        r"""The item table :obj:`[num_items + 1, d]`, indexed by 1-based item
        id; row :obj:`0` is padding and must never be ranked."""
        return self.item_embedding.weight[:self.num_items + 1]

    def auxiliary_loss(
        self,
        seq: Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> Optional[Tensor]:
        r"""An already weighted extra training loss on the input sequences
        :obj:`seq` (*e.g.*, a contrastive loss), or :obj:`None`."""
        return None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_items}, '
                f'embedding_dim={self.embedding_dim}, max_len={self.max_len})')
