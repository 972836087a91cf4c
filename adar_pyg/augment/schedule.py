import math
from typing import Union

import torch
from torch import Tensor

SCHEDULES = ('linear', 'cosine', 'sigmoid', 'linear-variance')

# The end points of 1 - alpha_bar_t of the "linear-variance" schedule (the
# CNSDiff reference code: noise scale 0.1 times noise bounds 1e-4 and 0.02):
LINEAR_VARIANCE_RANGE = (1e-5, 2e-3)


def beta_schedule(
    schedule: Union[str, Tensor] = 'linear',
    num_steps: int = 50,
    max_beta: float = 0.999,
) -> Tensor:
    r"""Returns the noise schedule :math:`\beta_1, \ldots, \beta_T` of a
    diffusion process with :math:`T` steps (the :math:`\beta_t` of Eq. (1–2)
    in the `"Adaptive Diffusion-based Augmentation for Recommendation"
    <https://arxiv.org/abs/2601.01448>`_ paper), with
    :math:`\alpha_t = 1 - \beta_t` and
    :math:`\bar{\alpha}_t = \prod_{s=1}^t \alpha_s`.

    :math:`T` is small in recommendation (:math:`50` for collaborative
    filtering, :math:`20` for sequential recommendation), so all named
    schedules follow the `"Improved Denoising Diffusion Probabilistic Models"
    <https://arxiv.org/abs/2102.09672>`_ convention and are rescaled to the
    number of steps, such that :math:`\bar{\alpha}_T \approx 0` and
    :math:`\mathbf{x}_T` really is noise:

    * :obj:`"linear"`: :math:`\beta_t` linearly spaced from
      :math:`\beta_{\textrm{start}} = 10^{-4} \cdot 1000 / T` to
      :math:`\beta_{\textrm{end}} = 0.02 \cdot 1000 / T` (the DDPM schedule
      for :math:`T = 1000`).
      :math:`T = 50`: :math:`\beta \in [0.002, 0.4]`,
      :math:`\bar{\alpha}_{25} \approx 0.069`,
      :math:`\bar{\alpha}_T \approx 7.7 \cdot 10^{-6}`.
    * :obj:`"cosine"`: :math:`\bar{\alpha}_t = f(t) / f(0)` with
      :math:`f(t) = \cos^2(\frac{t / T + s}{1 + s} \cdot \frac{\pi}{2})`,
      :math:`s = 0.008`, i.e.
      :math:`\beta_t = 1 - \bar{\alpha}_t / \bar{\alpha}_{t-1}`.
      :math:`T = 50`: :math:`\bar{\alpha}_{25} \approx 0.49`,
      :math:`\bar{\alpha}_T \approx 9.7 \cdot 10^{-7}` (because of the
      clipping of :math:`\beta_T` to :obj:`max_beta`).
    * :obj:`"sigmoid"`:
      :math:`\beta_t = \beta_{\textrm{start}} + (\beta_{\textrm{end}} -
      \beta_{\textrm{start}}) \cdot \textrm{sigmoid}(s_t)` with :math:`s_t`
      linearly spaced in :math:`[-6, 6]` and the same
      :math:`\beta_{\textrm{start}}, \beta_{\textrm{end}}` as
      :obj:`"linear"`.
      :math:`T = 50`: :math:`\bar{\alpha}_{25} \approx 0.29`,
      :math:`\bar{\alpha}_T \approx 4.6 \cdot 10^{-6}`.

    All :math:`\beta_t` are clipped to at most :obj:`max_beta`, as in the
    cosine schedule of Nichol and Dhariwal. For :math:`T < 20`, this clips
    the tail of the rescaled :obj:`"linear"` and :obj:`"sigmoid"` schedules
    (:math:`\beta_{\textrm{end}} = 20 / T \geq 1`); for :math:`T = 20`,
    :obj:`"linear"` gives :math:`\bar{\alpha}_T \approx 6 \cdot 10^{-11}`.
    Steps with :math:`\beta_t \approx 1` make the reverse step (which divides
    by :math:`\sqrt{\alpha_t}`) amplify errors of the noise prediction: with
    :math:`T = 20`, :obj:`"sigmoid"` has seven steps with
    :math:`\beta_t > 0.9` and a learned reverse chain may diverge, while
    :obj:`"linear"` has two and :obj:`"cosine"` one.

    One named schedule is *not* rescaled and adds little noise on purpose:

    * :obj:`"linear-variance"`: :math:`1 - \bar{\alpha}_t` linearly spaced
      from :math:`10^{-5}` to :math:`2 \cdot 10^{-3}` for any :math:`T`
      (see :func:`linear_variance_betas`), the schedule of the
      `"Causal Negative Sampling via Diffusion Model for Out-of-Distribution
      Recommendation" <https://arxiv.org/abs/2508.07243>`_ reference code
      (CNSDiff, :math:`T = 20`), where the diffusion perturbs item embeddings
      slightly instead of turning them into noise:
      :math:`\bar{\alpha}_T = 0.998`.

    The named schedules are non-decreasing in :math:`t`, so
    :math:`\bar{\alpha}_t` strictly decreases within :math:`(0, 1)`.

    Args:
        schedule (str or torch.Tensor, optional): The name of the schedule
            (:obj:`"linear"`, :obj:`"cosine"`, :obj:`"sigmoid"` or
            :obj:`"linear-variance"`), or a user-given one-dimensional
            tensor of :math:`T` values
            :math:`\beta_t \in (0, 1)`. (default: :obj:`"linear"`)
        num_steps (int, optional): The number of diffusion steps :math:`T`.
            (default: :obj:`50`)
        max_beta (float, optional): The upper bound of :math:`\beta_t` for
            named schedules. (default: :obj:`0.999`)

    Returns:
        A :obj:`torch.float64` tensor of shape :obj:`[num_steps]`, where entry
        :obj:`t - 1` holds :math:`\beta_t`.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"'num_steps' must be an int (got {num_steps!r})")
    if num_steps < 1:
        raise ValueError(f"'num_steps' must be at least 1 (got {num_steps})")
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"'max_beta' must be in (0, 1) (got {max_beta})")

    if isinstance(schedule, Tensor):
        betas = schedule.detach().to('cpu', torch.float64).clone()
        if betas.dim() != 1 or betas.numel() != num_steps:
            raise ValueError(f"A user-given schedule must be a "
                             f"one-dimensional tensor of "
                             f"'num_steps={num_steps}' betas (got shape "
                             f"{tuple(schedule.shape)})")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("A user-given schedule must hold betas strictly "
                             "between 0 and 1")
        return betas

    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"Unknown noise schedule {schedule!r} (valid "
                         f"options: {', '.join(repr(s) for s in SCHEDULES)} "
                         f"or a tensor of betas)")

    if schedule == 'linear-variance':
        return linear_variance_betas(num_steps, *LINEAR_VARIANCE_RANGE,
                                     max_beta=max_beta)

    scale = 1000.0 / num_steps
    beta_start, beta_end = 1e-4 * scale, 0.02 * scale

    if schedule == 'linear':
        betas = torch.linspace(beta_start, beta_end, num_steps,
                               dtype=torch.float64)
    elif schedule == 'sigmoid':
        s = torch.linspace(-6.0, 6.0, num_steps, dtype=torch.float64)
        betas = beta_start + (beta_end - beta_start) * torch.sigmoid(s)
    else:  # cosine:
        s = 0.008
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2).pow(2)
        betas = 1.0 - f[1:] / f[:-1]

    return betas.clamp(max=max_beta)


def linear_variance_betas(
    num_steps: int = 20,
    start: float = LINEAR_VARIANCE_RANGE[0],
    end: float = LINEAR_VARIANCE_RANGE[1],
    max_beta: float = 0.999,
) -> Tensor:
    r"""Returns the betas of a schedule whose noise variance
    :math:`1 - \bar{\alpha}_t` is linearly spaced from :obj:`start` to
    :obj:`end`, the :obj:`"linear-var"` schedule of the `"Diffusion
    Recommender Model" <https://arxiv.org/abs/2304.04971>`_ code (DiffRec),
    used with :math:`[10^{-5}, 2 \cdot 10^{-3}]` and :math:`T = 20` by the
    `"Causal Negative Sampling via Diffusion Model for Out-of-Distribution
    Recommendation" <https://arxiv.org/abs/2508.07243>`_ reference code

    .. math::
        1 - \bar{\alpha}_t = v_t = v_{\textrm{start}} + (t - 1)
        \frac{v_{\textrm{end}} - v_{\textrm{start}}}{T - 1}, \qquad
        \beta_1 = v_1, \quad
        \beta_t = 1 - \frac{1 - v_t}{1 - v_{t - 1}} \ (t > 1),

    each :math:`\beta_t` clipped to at most :obj:`max_beta`.

    Args:
        num_steps (int, optional): The number of diffusion steps :math:`T`.
            (default: :obj:`20`)
        start (float, optional): :math:`v_1 = 1 - \bar{\alpha}_1`.
            (default: :obj:`1e-5`)
        end (float, optional): :math:`v_T = 1 - \bar{\alpha}_T`.
            (default: :obj:`2e-3`)
        max_beta (float, optional): The upper bound of :math:`\beta_t`.
            (default: :obj:`0.999`)

    Returns:
        A :obj:`torch.float64` tensor of shape :obj:`[num_steps]`.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"'num_steps' must be an int (got {num_steps!r})")
    if num_steps < 1:
        raise ValueError(f"'num_steps' must be at least 1 (got {num_steps})")
    if not (0.0 < start < 1.0 and 0.0 < end < 1.0 and
            (start < end or num_steps == 1)):
        raise ValueError(f"Need 0 < start < end < 1 (got start={start}, "
                         f"end={end}): every step must add noise")
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"'max_beta' must be in (0, 1) (got {max_beta})")
    variance = torch.linspace(start, end, num_steps, dtype=torch.float64)
    alphas_cumprod = 1.0 - variance
    betas = 1.0 - alphas_cumprod / torch.cat(
        [alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    return betas.clamp(max=max_beta)
