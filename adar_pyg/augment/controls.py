from typing import Optional

import torch
from torch import Tensor

from adar_pyg.augment.base import Augmenter
from adar_pyg.augment.dbpr import AUGMENTER_WEIGHT, check_weight
from adar_pyg.checks import check_int


def _check_emb(name: str, x: Tensor, embedding_dim: int) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"'{name}' must be a floating point tensor "
                        f"(got {type(x).__name__})")
    if x.dim() != 2 or x.size(1) != embedding_dim:
        raise ValueError(f"'{name}' must be of shape [N, embedding_dim="
                         f"{embedding_dim}] (got {list(x.shape)})")


class _Control(Augmenter):
    r"""The shared part of the controls: no parameters, no training step,
    D-BPR with :obj:`weight`."""
    def __init__(self, embedding_dim: int,
                 weight: float = AUGMENTER_WEIGHT) -> None:
        super().__init__()
        check_int('embedding_dim', embedding_dim)
        self.embedding_dim = embedding_dim
        self.weight = check_weight(weight)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Does nothing: the control has no parameters."""

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'weight={self.weight})')


class ReweightAugmenter(_Control):
    r"""A control for the generated negatives of the `"Adaptive
    Diffusion-based Augmentation for Recommendation"
    <https://arxiv.org/abs/2601.01448>`_ paper (ADAR): the "generated"
    negative is the sampled negative itself,
    :math:`\mathbf{e}_d = \mathbf{e}_j`, so that D-BPR (Eq. (12)) only
    re-weights the negative term,

    .. math::
        \mathcal{L}_{\textrm{d-bpr}} = \frac{1}{|\mathcal{B}|}
        \sum_{(u, i, j) \in \mathcal{B}} \textrm{softplus} \left(
        (1 + \lambda) \, \mathbf{e}_u^{\top} \mathbf{e}_j -
        \mathbf{e}_u^{\top} \mathbf{e}_i \right).

    It controls for the change of the loss's form and scale: a gain of a
    generating augmenter over this control is due to *what* it generates,
    not to the extra :math:`\lambda`-weighted negative term in D-BPR. It
    has no parameters and no training step.

    As every generated negative in D-BPR, the copy is a constant (it is
    detached): the loss has the value above, and its gradient reaches
    :math:`\mathbf{e}_u` through both negative terms but :math:`\mathbf{e}_j`
    through the first only, *i.e.*, the sampled negative item is pushed
    down as in BPR and the user :math:`(1 + \lambda)` times as hard, as
    a generated negative, which reaches no item embedding, does in ADAR.

    Args:
        embedding_dim (int): The size :math:`d` of user and item embeddings.
        weight (float, optional): The weight :math:`\lambda \in [0, 1]` of
            the "generated" negatives in D-BPR (Eq. (12)).
            (default: :obj:`0.7`,
            :obj:`~adar_pyg.augment.dbpr.AUGMENTER_WEIGHT`)
    """
    requires_negative = True


    def forward(self, user_emb: Tensor, pos_emb: Tensor,
                neg_emb: Optional[Tensor] = None) -> Tensor:
        r"""Returns a detached copy of the sampled negatives :obj:`neg_emb`
        of shape :obj:`[N, d]` (required)."""
        self._need_negative(neg_emb)
        assert neg_emb is not None
        for name, x in (('user_emb', user_emb), ('pos_emb', pos_emb),
                        ('neg_emb', neg_emb)):
            _check_emb(name, x, self.embedding_dim)
        return neg_emb.detach().clone()


class NoiseAugmenter(_Control):
    r"""A control for the generated negatives of the `"Adaptive
    Diffusion-based Augmentation for Recommendation"
    <https://arxiv.org/abs/2601.01448>`_ paper (ADAR): the negative is pure
    Gaussian noise at the positives' scale, independent of the user,

    .. math::
        \mathbf{e}_d = s_i \, \mathbf{z}, \qquad
        \mathbf{z} \sim \mathcal{N}(\mathbf{0}, \mathbf{I}), \qquad
        s_i = \sqrt{\textrm{mean}(\mathbf{e}_i^2)},

    with :math:`s_i` the root-mean-square of all entries of the batch's
    positive embeddings, so that each entry of :math:`\mathbf{e}_d` has the
    positives' RMS. This is :math:`\mathbf{x}_T` of Eq. (9) mapped back as
    :class:`~adar_pyg.augment.NegativeAugmenter` with :obj:`normalize=True`
    does: the state at :math:`t^* = T`, without any diffusion model. It
    controls for the regularising effect of a random, user-independent
    :math:`\lambda \, \mathbf{e}_u^{\top} \mathbf{e}_d` term in D-BPR
    (Eq. (12)). The noise is drawn from :obj:`torch`'s global random number
    generator (seeded by :func:`torch.manual_seed`). It has no parameters
    and no training step.

    Args:
        embedding_dim (int): The size :math:`d` of user and item embeddings.
        weight (float, optional): The weight :math:`\lambda \in [0, 1]` of
            the generated negatives in D-BPR (Eq. (12)).
            (default: :obj:`0.7`,
            :obj:`~adar_pyg.augment.dbpr.AUGMENTER_WEIGHT`)
    """

    def forward(self, user_emb: Tensor, pos_emb: Tensor,
                neg_emb: Optional[Tensor] = None) -> Tensor:
        r"""Returns noise of the shape, dtype and device of :obj:`pos_emb`
        (:obj:`[N, d]`), scaled by the batch RMS of :obj:`pos_emb`, without
        gradient. :obj:`user_emb` (checked, if given) and :obj:`neg_emb`
        are not used."""
        _check_emb('pos_emb', pos_emb, self.embedding_dim)
        if user_emb is not None:
            _check_emb('user_emb', user_emb, self.embedding_dim)
        pos_emb = pos_emb.detach()
        scale = pos_emb.pow(2).mean().sqrt() if pos_emb.numel() > 0 else 0.0
        return torch.randn_like(pos_emb) * scale
