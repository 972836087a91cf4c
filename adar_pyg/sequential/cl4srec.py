from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from adar_pyg.checks import check_fraction
from adar_pyg.sequential.sasrec import SASRec


def _rand(shape: Tuple[int, ...], generator: Optional[torch.Generator],
          device: torch.device) -> Tensor:
    return torch.rand(shape, generator=generator, device=device)


def _window(length: Tensor, size: Tensor, generator, device) -> Tensor:
    r"""A start :math:`s` uniform in :math:`\{0, \ldots, n - k\}` per row."""
    u = _rand((length.numel(), ), generator, device)
    return (u * (length - size + 1)).long().clamp(max=(length - size).clamp(
        min=0))


def item_crop(seq: Tensor, ratio: float = 0.6,
              generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Item crop of CL4SRec: a random contiguous sub-sequence of
    :math:`k = \max(1, \lfloor \eta n \rfloor)` of the :math:`n` items of
    each left-padded sequence (:math:`\eta` = :obj:`ratio`), left-padded again.
    A non-empty input gives a non-empty output of length :math:`\leq n`.

    Args:
        seq (torch.Tensor): Left-padded sequences :obj:`[B, L]` (:obj:`0` =
            padding).
        ratio (float, optional): The share :math:`\eta` of items kept.
            (default: :obj:`0.6`)
        generator (torch.Generator, optional): Random generator on the device
            of :obj:`seq`. (default: :obj:`None`)
    """
    check_fraction('ratio', ratio)
    L = seq.size(1)
    n = (seq != 0).sum(dim=1)
    k = torch.floor(n.double() * ratio).long().clamp(min=1)
    k = torch.minimum(k, n)
    start = _window(n, k, generator, seq.device)
    # Output column j >= L - k takes item number start + j - (L - k), which
    # sits in input column (L - n) + start + j - (L - k):
    col = torch.arange(L, device=seq.device).unsqueeze(0)
    src = (col + (k - n + start).unsqueeze(1)).clamp(0, L - 1)
    out = seq.gather(1, src)
    return out.masked_fill(col < (L - k).unsqueeze(1), 0)


def item_mask(seq: Tensor, ratio: float = 0.3, mask_token: int = 1,
              generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Item mask of CL4SRec: :math:`\lfloor \gamma n \rfloor` random items of
    each sequence (:math:`\gamma` = :obj:`ratio`) are replaced by
    :obj:`mask_token`. The length is unchanged; with :math:`\gamma < 1` at
    least one item stays unmasked.

    Args:
        seq (torch.Tensor): Left-padded sequences :obj:`[B, L]`.
        ratio (float, optional): The share :math:`\gamma` of masked items.
            (default: :obj:`0.3`)
        mask_token (int, optional): The id of the mask token (not padding).
            (default: :obj:`1`)
        generator (torch.Generator, optional): Random generator on the device
            of :obj:`seq`. (default: :obj:`None`)
    """
    check_fraction('ratio', ratio)
    if mask_token == 0:
        raise ValueError("'mask_token' must not be the padding id 0")
    real = seq != 0
    n = real.sum(dim=1, keepdim=True)
    m = torch.floor(n.double() * ratio).long()
    # A random rank among the real items of each row (padding ranks last):
    key = _rand(tuple(seq.shape), generator, seq.device).masked_fill(~real, 2.)
    rank = key.argsort(dim=1).argsort(dim=1)
    return seq.masked_fill(real & (rank < m), mask_token)


def item_reorder(seq: Tensor, ratio: float = 0.6,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Item reorder of CL4SRec: a random contiguous window of
    :math:`\lfloor \beta n \rfloor` items of each sequence (:math:`\beta` =
    :obj:`ratio`) is randomly shuffled. The items and length are unchanged.

    Args:
        seq (torch.Tensor): Left-padded sequences :obj:`[B, L]`.
        ratio (float, optional): The share :math:`\beta` of reordered items.
            (default: :obj:`0.6`)
        generator (torch.Generator, optional): Random generator on the device
            of :obj:`seq`. (default: :obj:`None`)
    """
    check_fraction('ratio', ratio)
    L = seq.size(1)
    n = (seq != 0).sum(dim=1)
    k = torch.floor(n.double() * ratio).long()
    begin = (L - n + _window(n, k, generator, seq.device)
             ).unsqueeze(1)
    k = k.unsqueeze(1)
    col = torch.arange(L, device=seq.device).unsqueeze(0)
    inside = (col >= begin) & (col < begin + k)
    # Sorting keys: the column index outside the window, a random value in
    # [begin, begin + k) inside it, so only the window is permuted:
    noise = _rand(tuple(seq.shape), generator, seq.device)
    key = torch.where(inside, begin + noise * k, col.to(noise.dtype))
    return seq.gather(1, key.argsort(dim=1))


def augment(seq: Tensor, crop_ratio: float = 0.6, mask_ratio: float = 0.3,
            reorder_ratio: float = 0.6, mask_token: int = 1,
            generator: Optional[torch.Generator] = None) -> Tensor:
    r"""One augmented view of every sequence, each row with one augmentation
    drawn uniformly from :func:`item_crop`, :func:`item_mask` and
    :func:`item_reorder` (as in CL4SRec). All three are computed for the whole
    batch and selected per row (no loop over rows)."""
    views = torch.stack([
        item_crop(seq, crop_ratio, generator),
        item_mask(seq, mask_ratio, mask_token, generator),
        item_reorder(seq, reorder_ratio, generator),
    ])
    choice = torch.randint(3, (seq.size(0), ), generator=generator,
                           device=seq.device)
    return views[choice, torch.arange(seq.size(0), device=seq.device)]


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 1.0,
             similarity: str = 'dot') -> Tensor:
    r"""The InfoNCE (NT-Xent) loss of CL4SRec over :math:`2B` views: for view
    :math:`a` of sequence :math:`u`, its positive is the other view of
    :math:`u` and its negatives the :math:`2(B - 1)` views of the other
    sequences in the batch,

    .. math::
        \mathcal{L}_{\textrm{cl}} = - \frac{1}{2B} \sum_{a}
        \log \frac{\exp(s(\mathbf{z}_a, \mathbf{z}_{a^+}) / \tau)}
        {\sum_{b \neq a} \exp(s(\mathbf{z}_a, \mathbf{z}_b) / \tau)}.

    Args:
        z1 (torch.Tensor): First views :obj:`[B, d]`.
        z2 (torch.Tensor): Second views :obj:`[B, d]`.
        temperature (float, optional): :math:`\tau`. (default: :obj:`1.0`)
        similarity (str, optional): :math:`s`, :obj:`'dot'` (inner product)
            or :obj:`'cos'`. (default: :obj:`'dot'`)
    """
    if similarity not in ('dot', 'cos'):
        raise ValueError(f"'similarity' must be 'dot' or 'cos' "
                         f"(got '{similarity}')")
    B = z1.size(0)
    z = torch.cat([z1, z2], dim=0)
    if similarity == 'cos':
        z = F.normalize(z, dim=-1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(
        torch.eye(2 * B, dtype=torch.bool, device=z.device), float('-inf'))
    target = torch.arange(2 * B, device=z.device).roll(B)
    return F.cross_entropy(sim, target)


class CL4SRec(SASRec):
    r"""The CL4SRec model from the `"Contrastive Learning for Sequential
    Recommendation" <https://arxiv.org/abs/2010.14395>`_ paper: a
    :class:`~adar_pyg.sequential.SASRec` encoder trained with the
    recommendation loss plus a contrastive loss between two augmented views
    of each training sequence,

    .. math::
        \mathcal{L} = \mathcal{L}_{\textrm{rec}} + \lambda
        \mathcal{L}_{\textrm{cl}}(\mathbf{s}_u^{a_1}, \mathbf{s}_u^{a_2}),

    where each view applies one of item crop (:func:`item_crop`), item mask
    (:func:`item_mask`, with a learned mask token, id
    :obj:`num_items + 1`) and item reorder (:func:`item_reorder`), drawn
    uniformly, :math:`\mathbf{s}_u^{a}` is the encoding of the view's last
    position, and :math:`\mathcal{L}_{\textrm{cl}}` is InfoNCE
    (:func:`info_nce`). :meth:`auxiliary_loss` returns
    :math:`\lambda \mathcal{L}_{\textrm{cl}}`.

    Args:
        num_items (int): The number of items :math:`|\mathcal{I}|`.
        embedding_dim (int, optional): The size :math:`d` of item and sequence
            representations. (default: :obj:`64`)
        max_len (int, optional): The maximum sequence length :math:`N`.
            (default: :obj:`50`)
        num_layers (int, optional): Self-attention blocks. (default: :obj:`2`)
        num_heads (int, optional): Attention heads. (default: :obj:`1`)
        dropout (float, optional): Dropout, see
            :class:`~adar_pyg.sequential.SASRec`. (default: :obj:`0.5`)
        cl_weight (float, optional): The weight :math:`\lambda` of the
            contrastive loss. (default: :obj:`0.1`)
        temperature (float, optional): The InfoNCE temperature :math:`\tau`.
            (default: :obj:`1.0`)
        similarity (str, optional): :obj:`'dot'` or :obj:`'cos'`.
            (default: :obj:`'dot'`)
        crop_ratio (float, optional): :math:`\eta` of the crop.
            (default: :obj:`0.6`)
        mask_ratio (float, optional): :math:`\gamma` of the mask.
            (default: :obj:`0.3`)
        reorder_ratio (float, optional): :math:`\beta` of the reorder.
            (default: :obj:`0.6`)
    """
    def __init__(
        self,
        num_items: int,
        embedding_dim: int = 64,
        max_len: int = 50,
        num_layers: int = 2,
        num_heads: int = 1,
        dropout: float = 0.5,
        cl_weight: float = 0.1,
        temperature: float = 1.0,
        similarity: str = 'dot',
        crop_ratio: float = 0.6,
        mask_ratio: float = 0.3,
        reorder_ratio: float = 0.6,
    ) -> None:
        super().__init__(num_items, embedding_dim, max_len, num_layers,
                         num_heads, dropout, num_extra_tokens=1)
        if cl_weight < 0 or temperature <= 0:
            raise ValueError(f"need cl_weight >= 0 and temperature > 0 (got "
                             f"{cl_weight}, {temperature})")
        if similarity not in ('dot', 'cos'):
            raise ValueError(f"'similarity' must be 'dot' or 'cos' "
                             f"(got '{similarity}')")
        for name, value in [('crop_ratio', crop_ratio),
                            ('mask_ratio', mask_ratio),
                            ('reorder_ratio', reorder_ratio)]:
            check_fraction(name, value)
        if mask_ratio >= 1.0:
            raise ValueError("'mask_ratio' must be < 1 (a view must keep an "
                             "item)")
        self.cl_weight, self.temperature = float(cl_weight), float(temperature)
        self.similarity = similarity
        self.crop_ratio, self.mask_ratio = crop_ratio, mask_ratio
        self.reorder_ratio = reorder_ratio

    @property
    def mask_token(self) -> int:
        r"""The id of the mask token (:obj:`num_items + 1`)."""
        return self.num_items + 1

    def augment(self, seq: Tensor,
                generator: Optional[torch.Generator] = None) -> Tensor:
        r"""One augmented view of every sequence (see :func:`augment`)."""
        return augment(seq, self.crop_ratio, self.mask_ratio,
                       self.reorder_ratio, self.mask_token, generator)

    def auxiliary_loss(
        self,
        seq: Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> Optional[Tensor]:
        r"""The weighted contrastive loss :math:`\lambda
        \mathcal{L}_{\textrm{cl}}` of two views of the non-empty rows of
        :obj:`seq`. The views are drawn on the device of :obj:`generator`
        (if given) and moved to the model's device."""
        if self.cl_weight == 0:
            return None
        seq = seq[(seq != 0).any(dim=1)]
        if seq.size(0) < 2:
            return None
        if generator is not None:
            seq = seq.to(generator.device)
        device = self.item_embedding.weight.device
        v1 = self.augment(seq, generator).to(device)
        v2 = self.augment(seq, generator).to(device)
        z = self.encode(torch.cat([v1, v2], dim=0))
        z1, z2 = z.chunk(2, dim=0)
        return self.cl_weight * info_nce(z1, z2, self.temperature,
                                         self.similarity)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_items}, '
                f'embedding_dim={self.embedding_dim}, max_len={self.max_len}, '
                f'num_layers={self.num_layers}, num_heads={self.num_heads}, '
                f'dropout={self.dropout_p}, cl_weight={self.cl_weight}, '
                f'temperature={self.temperature}, '
                f"similarity='{self.similarity}')")
