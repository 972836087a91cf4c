from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from adar_pyg.checks import check_fraction

#: The default weight :math:`\lambda` of the generated negatives of the
#: augmenters (:class:`~adar_pyg.augment.NegativeAugmenter` and the controls
#: :class:`~adar_pyg.augment.ReweightAugmenter` and
#: :class:`~adar_pyg.augment.NoiseAugmenter`), chosen on validation on Beauty
#: (LightGCN for CF, GRU4Rec for SR). Declared here once: the constructors
#: default to it and the config (:obj:`adar.weight`) reads their default.
AUGMENTER_WEIGHT = 0.7


def check_weight(weight: float) -> float:
    r"""Returns the D-BPR weight :math:`\lambda` as a :obj:`float`, or
    raises a :class:`ValueError` unless it is a number (not a bool) in
    :math:`[0, 1]`."""
    check_fraction('weight', weight)
    return float(weight)


def d_bpr_loss(
    user_emb: Tensor,
    pos_emb: Tensor,
    neg_emb: Tensor,
    gen_emb: Optional[Tensor] = None,
    weight: float = 0.0,
) -> Tensor:
    r"""The diffusion-augmented Bayesian personalized ranking loss (D-BPR)
    from Eq. (12) of the `"Adaptive Diffusion-based Augmentation for
    Recommendation" <https://arxiv.org/abs/2601.01448>`_ paper

    .. math::
        \mathcal{L}_{\textrm{d-bpr}} = - \frac{1}{|\mathcal{B}|}
        \sum_{(u, i, j, d) \in \mathcal{B}} \ln \sigma \left(
        \mathbf{e}_u^{\top} \mathbf{e}_i - (\mathbf{e}_u^{\top} \mathbf{e}_j +
        \lambda \, \mathbf{e}_u^{\top} \mathbf{e}_d) \right),

    where :math:`\mathbf{e}_j` is a sampled negative and :math:`\mathbf{e}_d`
    the generated one. The loss is averaged over the batch (Eq. (12) writes a
    sum). With :obj:`gen_emb=None` or :obj:`weight=0`, it is exactly the BPR
    loss (computed as :math:`\textrm{softplus}(\mathbf{e}_u^{\top}
    \mathbf{e}_j - \mathbf{e}_u^{\top} \mathbf{e}_i)`), so it also serves as
    the plain BPR loss.

    :math:`\mathbf{e}_d` is treated as a constant (it is detached): the
    gradient of the generated term reaches :math:`\mathbf{e}_u` only, and
    never the diffusion model.

    All embeddings must have one shape :obj:`[N, d]` with :math:`N > 0`
    (a :class:`ValueError` otherwise: nothing is broadcast).

    Args:
        user_emb (torch.Tensor): User embeddings :math:`\mathbf{e}_u` of shape
            :obj:`[N, d]`.
        pos_emb (torch.Tensor): Positive item embeddings :math:`\mathbf{e}_i`
            of shape :obj:`[N, d]`.
        neg_emb (torch.Tensor): Sampled negative item embeddings
            :math:`\mathbf{e}_j` of shape :obj:`[N, d]`.
        gen_emb (torch.Tensor, optional): Generated negatives
            :math:`\mathbf{e}_d` of shape :obj:`[N, d]`. (default: :obj:`None`)
        weight (float, optional): The weight :math:`\lambda` of the generated
            negatives (the paper searches :math:`\lambda \in [0, 1]`).
            (default: :obj:`0.0`)
    """
    embs = {'user_emb': user_emb, 'pos_emb': pos_emb, 'neg_emb': neg_emb}
    if gen_emb is not None:
        embs['gen_emb'] = gen_emb
    shapes = {name: tuple(x.shape) for name, x in embs.items()}
    if user_emb.dim() != 2 or len(set(shapes.values())) > 1:
        raise ValueError(f"d_bpr_loss needs embeddings of one shape [N, d] "
                         f"(got {shapes})")
    if user_emb.size(0) == 0:
        raise ValueError('d_bpr_loss of an empty batch (no rows) is '
                         'undefined')
    pos_score = (user_emb * pos_emb).sum(dim=-1)
    neg_score = (user_emb * neg_emb).sum(dim=-1)
    if gen_emb is not None and weight != 0:
        gen_score = (user_emb * gen_emb.detach()).sum(dim=-1)
        neg_score = neg_score + weight * gen_score
    return F.softplus(neg_score - pos_score).mean()
