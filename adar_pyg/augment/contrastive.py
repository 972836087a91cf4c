import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_contrastive_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    temperature: float = 2.0,
) -> Tensor:
    r"""The contrastive loss over cosine similarities of the `"Causal Negative
    Sampling via Diffusion Model for Out-of-Distribution Recommendation"
    <https://arxiv.org/abs/2508.07243>`_ reference code (CNSDiff), an InfoNCE
    whose log-sum-exp holds the negatives only (the "decoupled" form of
    `"Decoupled Contrastive Learning" <https://arxiv.org/abs/2110.06848>`_)

    .. math::
        \mathcal{L}_{\textrm{cl}} = \frac{1}{B} \sum_{b=1}^{B} \left(
        - \frac{s(\mathbf{a}_b, \mathbf{p}_b)}{\tau} + \log \sum_{m=1}^{M}
        \exp \left( \frac{s(\mathbf{a}_b, \mathbf{n}_m)}{\tau} \right)
        \right), \qquad s(\mathbf{x}, \mathbf{y}) = \cos(\mathbf{x},
        \mathbf{y}),

    where every anchor is contrasted with all :math:`M` negatives of the
    batch (not only with its own row's). As :math:`s \leq 1`, the
    log-sum-exp is computed as :math:`1 / \tau + \log \sum_m \exp((s_m -
    1) / \tau)`, with the shift fused into the matrix product and no
    per-row maximum: the exponents are at most :math:`0` and, for
    :math:`\tau \geq 1/40` in single or double precision, at least
    :math:`-80` (no overflow nor underflow); other cases use
    :func:`torch.logsumexp`.

    Args:
        anchor (torch.Tensor): The anchors :math:`\mathbf{a}` of shape
            :obj:`[B, d]`.
        positive (torch.Tensor): Their positives :math:`\mathbf{p}` of shape
            :obj:`[B, d]`.
        negative (torch.Tensor): The negatives :math:`\mathbf{n}` of shape
            :obj:`[M, d]`.
        temperature (float, optional): The temperature :math:`\tau > 0`.
            (default: :obj:`2.0`)
    """
    if not temperature > 0:
        raise ValueError(f"'temperature' must be positive (got {temperature})")
    if anchor.shape != positive.shape or anchor.dim() != 2 or (
            negative.dim() != 2 or negative.size(1) != anchor.size(1)):
        raise ValueError(f"Need 'anchor' and 'positive' of shape [B, d] and "
                         f"'negative' of shape [M, d] (got "
                         f"{list(anchor.shape)}, {list(positive.shape)} and "
                         f"{list(negative.shape)})")
    scale = 1.0 / temperature
    anchor = F.normalize(anchor, dim=-1)
    negative = F.normalize(negative, dim=-1)
    pos = (anchor * F.normalize(positive, dim=-1)).sum(dim=-1) * scale
    if scale <= 40 and anchor.dtype in (torch.float32, torch.float64):
        # (s - 1) / tau in one GEMM, then a plain log-sum-exp (2 fewer passes
        # over the [B, M] matrix forward and backward):
        neg = torch.addmm(anchor.new_tensor(-scale), anchor, negative.t(),
                          alpha=scale)
        lse = neg.exp().sum(dim=-1).log() + scale
    else:
        lse = torch.logsumexp(anchor @ negative.t() * scale, dim=-1)
    return (lse - pos).mean()
