import math
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.augment.base import (DiffusionAugmenter, check_int,
                                   check_number)
from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.augment.diffusion import GaussianDiffusion
from adar_pyg.augment.film import FiLMDenoiser
from adar_pyg.augment.schedule import SCHEDULES

STRATEGIES = ('adaptive', 'random', 'fixed', 'mixed')
SCORES = ('cosine', 'dot')

# The 'mixed' variant averages the states at T/2, T/4, T/8 and T/10:
MIXED_DIVISORS = (2, 4, 8, 10)

# Bound on k * p_s before exp(.) in Eq. (11), so that it stays finite:
MAX_EXPONENT = 60.0


def _round_step(value: float, num_steps: int) -> int:
    # Rounds half up and clamps to [1, T]:
    return min(max(int(math.floor(value + 0.5)), 1), num_steps)


class NegativeAugmenter(DiffusionAugmenter):
    r"""Diffusion-generated hard negatives from the `"Adaptive Diffusion-based
    Augmentation for Recommendation" <https://arxiv.org/abs/2601.01448>`_
    paper (ADAR).

    A positive item embedding :math:`\mathbf{x}_0 = \mathbf{e}_i` is noised
    by the forward process (Eq. (2)), and a conditional noise prediction
    model :math:`\boldsymbol{\epsilon}_{t, \theta}` (FiLM, Eq. (5–7), see
    :class:`~adar_pyg.augment.FiLMDenoiser`) learns to revert it given the
    user embedding :math:`\mathbf{e}_u`, by minimizing (Eq. (8))

    .. math::
        \mathcal{L}_{\textrm{diff}} = \| \boldsymbol{\epsilon} -
        \boldsymbol{\epsilon}_{t, \theta} \|^2 + \| \mathbf{x}_0 -
        \hat{\mathbf{x}}_0 \|^2,

    where :math:`\hat{\mathbf{x}}_0` is recovered from
    :math:`\boldsymbol{\epsilon}_{t, \theta}` through Eq. (2); by default,
    the weight of the second term is bounded (see :obj:`max_x0_weight` and
    :meth:`diffusion_loss`). The negative
    :math:`\mathbf{e}_d = \mathbf{x}_{d, t^*}` is the state of the
    user-conditioned reverse chain (Eq. (9–10), see
    :class:`~adar_pyg.augment.GaussianDiffusion`) from
    :math:`\mathbf{x}_{d, T} \sim \mathcal{N}(\mathbf{0}, \mathbf{I})` at the
    transition step (Eq. (11))

    .. math::
        t^* = \textrm{sigmoid}(\omega \cdot \exp(k \cdot p_s)) \cdot T,
        \qquad p_s = \mathbf{e}_u^{\top} \mathbf{e}_i

    (by default, :math:`p_s` is the cosine instead, see :obj:`score`),
    rounded and clamped to :math:`\{1, \ldots, T\}`, and enters the
    recommendation loss via D-BPR (Eq. (12), see
    :func:`~adar_pyg.augment.d_bpr_loss`).
    As :math:`\omega, k > 0`, the sigmoid's argument is positive and
    :math:`t^* > T / 2` always; :math:`t^*` grows with :math:`p_s`
    (Theorem 1): a well-scored positive yields a noisier negative.

    The module knows nothing about the recommendation model: it only sees
    user and item embeddings, and it owns the optimizer of its diffusion
    model, so that training alternates (Algorithm 1) as

    .. code-block:: python

        augmenter.step(user_emb, pos_emb)        # Line 10: minimize L_diff.
        neg_gen = augmenter(user_emb, pos_emb)   # Lines 11-16: e_d.
        loss = augmenter.loss(user_emb, pos_emb, neg_emb, neg_gen)  # Eq. 12
        loss.backward()  # Gradients reach the encoder only.

    :math:`\mathcal{L}_{\textrm{diff}}` is computed on detached embeddings
    (no gradient reaches the encoder), and :math:`\mathbf{e}_d` is generated
    without gradient (no gradient from D-BPR reaches the diffusion model).

    Args:
        embedding_dim (int): The size :math:`d` of user and item embeddings.
        num_steps (int, optional): The number of diffusion steps :math:`T`
            (the paper uses :obj:`50` for collaborative filtering and
            :obj:`20` for sequential recommendation). (default: :obj:`50`)
        weight (float, optional): The weight :math:`\lambda \in [0, 1]` of the
            generated negatives in D-BPR (Eq. (12)). (default: :obj:`0.5`)
        strategy (str, optional): How to choose :math:`t^*` (Table 3):
            :obj:`"adaptive"` (Eq. (11)), :obj:`"random"` (uniform in
            :math:`\{1, \ldots, T\}` per row), :obj:`"fixed"` (:math:`T / 2`)
            or :obj:`"mixed"` (the average of the states at :math:`T / 2`,
            :math:`T / 4`, :math:`T / 8` and :math:`T / 10`). Steps are
            rounded half up and are at least :obj:`1`.
            (default: :obj:`"adaptive"`)
        omega (float, optional): :math:`\omega > 0` of Eq. (11).
            (default: :obj:`1.0`)
        k (float, optional): :math:`k > 0` of Eq. (11). (default: :obj:`1.0`)
        score (str, optional): The positive score :math:`p_s` of Eq. (11):
            :obj:`"dot"` is :math:`\mathbf{e}_u^{\top} \mathbf{e}_i` as
            printed, :obj:`"cosine"` is
            :math:`\cos(\mathbf{e}_u, \mathbf{e}_i) \in [-1, 1]`. Eq. (11)
            is not scale-free: trained recommender embeddings reach dot
            scores of :math:`4` to :math:`5` on Amazon-Beauty (LightGCN,
            :math:`d = 64`), where :math:`\textrm{sigmoid}(e^{p_s}) > 0.99`
            and :math:`t^* = T` for nearly every row, *i.e.*,
            :math:`\mathbf{e}_d` is the pure noise
            :math:`\mathbf{x}_{d, T}` and the adaptive choice is gone. The
            cosine keeps Eq. (11)'s monotonicity (Theorem 1) at any scale,
            with :math:`t^* \in [0.59 T, 0.94 T]` for
            :math:`\omega = k = 1`. (default: :obj:`"cosine"`)
        schedule (str or torch.Tensor, optional): The noise schedule, see
            :func:`~adar_pyg.augment.beta_schedule`.
            (default: :obj:`"linear"`)
        hidden_channels (int, optional): The hidden size of the FiLM MLPs.
            (default: :obj:`128`)
        time_dim (int, optional): The size of the time embedding. If set to
            :obj:`None`, will be :obj:`embedding_dim`. (default: :obj:`None`)
        lr (float, optional): The learning rate of the diffusion model's Adam
            optimizer. (default: :obj:`1e-3`)
        posterior_noise (bool, optional): Whether reverse steps add
            :math:`\sigma_t \mathbf{z}` (DDPM); Eq. (10) prints the mean
            only. (default: :obj:`True`)
        max_x0_weight (float, optional): The upper bound :math:`w_{\max}` of
            the weight :math:`w_t = (1 - \bar{\alpha}_t) / \bar{\alpha}_t`
            that the :math:`\mathbf{x}_0` term of Eq. (8) puts on the noise
            error, see :meth:`diffusion_loss`. If set to :obj:`None`, Eq. (8)
            is used as printed. (default: :obj:`1.0`)
        normalize (bool, optional): Whether the diffusion works on
            embeddings divided by their batch root-mean-square
            :math:`s = \sqrt{\textrm{mean}(\mathbf{e}^2)}` (users and
            positives separately), with the generated negative mapped back
            as :math:`\mathbf{e}_d = s_i \, \mathbf{x}_{d, t^*}`. The paper
            is silent on scale; without this, :math:`\mathbf{x}_{d, T} \sim
            \mathcal{N}(\mathbf{0}, \mathbf{I})` (norm
            :math:`\approx \sqrt{d}`) is orders of magnitude larger than
            recommender embeddings (Xavier init gives :math:`\approx 10^{-2}`
            per entry), and :math:`\lambda \mathbf{e}_u^{\top}
            \mathbf{e}_d` swamps the BPR signal. :obj:`False` is the
            paper-literal variant. (default: :obj:`True`)
        clip_x0 (float, optional): Clamps the predicted
            :math:`\hat{\mathbf{x}}_0` of every reverse step to
            :math:`[-c, c]` (in the units of :obj:`normalize`), see
            :meth:`~adar_pyg.augment.GaussianDiffusion.p_mean_variance`.
            Without it, the untrained denoiser of the first batches yields
            negatives thousands of times larger than the positives when
            :math:`\beta_t \to 1` near :math:`T` (*e.g.*, :math:`T = 20`).
            :obj:`None` is the paper-literal variant. (default: :obj:`5.0`)
    """
    def __init__(
        self,
        embedding_dim: int,
        num_steps: int = 50,
        weight: float = 0.5,
        strategy: str = 'adaptive',
        omega: float = 1.0,
        k: float = 1.0,
        score: str = 'cosine',
        schedule: Union[str, Tensor] = 'linear',
        hidden_channels: int = 128,
        time_dim: Optional[int] = None,
        lr: float = 1e-3,
        posterior_noise: bool = True,
        max_x0_weight: Optional[float] = 1.0,
        normalize: bool = True,
        clip_x0: Optional[float] = 5.0,
    ) -> None:
        super().__init__()

        check_int('embedding_dim', embedding_dim)
        check_int('num_steps', num_steps)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"'weight' must be in [0, 1] (got {weight})")
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r} (valid options: "
                             f"{', '.join(repr(s) for s in STRATEGIES)})")
        if score not in SCORES:
            raise ValueError(f"Unknown score {score!r} (valid options: "
                             f"{', '.join(repr(s) for s in SCORES)})")
        if clip_x0 is not None and not clip_x0 > 0:
            raise ValueError(f"'clip_x0' must be positive or None "
                             f"(got {clip_x0})")
        if isinstance(schedule, str) and schedule not in SCHEDULES:
            raise ValueError(f"Unknown noise schedule {schedule!r} (valid "
                             f"options: "
                             f"{', '.join(repr(s) for s in SCHEDULES)} or a "
                             f"tensor of betas)")
        for name, value in (('omega', omega), ('k', k), ('lr', lr)):
            check_number(name, value)
        if max_x0_weight is not None and not max_x0_weight >= 0:
            raise ValueError(f"'max_x0_weight' must be non-negative or None "
                             f"(got {max_x0_weight})")

        self.embedding_dim = embedding_dim
        self.num_steps = num_steps
        self.weight = float(weight)
        self.strategy = strategy
        self.omega = float(omega)
        self.k = float(k)
        self.score = score
        self.clip_x0 = clip_x0
        self.lr = float(lr)
        self.posterior_noise = posterior_noise
        self.max_x0_weight = max_x0_weight
        self.normalize = normalize

        self.diffusion = GaussianDiffusion(num_steps, schedule)
        self.denoiser = FiLMDenoiser(embedding_dim, hidden_channels, time_dim)

        self.last_t_star: Optional[Tensor] = None

        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module and its optimizer
        (re-created at the next :meth:`step`)."""
        self.denoiser.reset_parameters()
        self.optimizer = None
        self.last_t_star = None

    @property
    def mixed_steps(self) -> Tuple[int, ...]:
        r"""The steps averaged by the :obj:`"mixed"` strategy."""
        return tuple(
            _round_step(self.num_steps / m, self.num_steps)
            for m in MIXED_DIVISORS)

    def transition_step(self, pos_score: Tensor) -> Tensor:
        r"""Returns the transition steps :math:`t^*` for the positive scores
        :math:`p_s` (Eq. (11) for :obj:`strategy="adaptive"`), as a
        :obj:`torch.long` tensor of shape :obj:`[N]` with values in
        :math:`\{1, \ldots, T\}`, or of shape :obj:`[N, 4]` for
        :obj:`strategy="mixed"`. Also stored as :obj:`last_t_star`.

        Args:
            pos_score (torch.Tensor): The positive scores :math:`p_s` of
                shape :obj:`[N]` (see :obj:`score` and
                :meth:`positive_score`).
        """
        pos_score = pos_score.detach().reshape(-1)
        num, device, T = pos_score.numel(), pos_score.device, self.num_steps

        if self.strategy == 'adaptive':
            # Clamping the exponent avoids inf (and NaN from 0 * inf):
            z = (self.k * pos_score.float()).clamp(max=MAX_EXPONENT)
            t_star = torch.sigmoid(self.omega * torch.exp(z)) * T
            t_star = torch.floor(t_star + 0.5).long().clamp(1, T)
        elif self.strategy == 'random':
            t_star = torch.randint(1, T + 1, (num, ), device=device)
        elif self.strategy == 'fixed':
            t_star = torch.full((num, ), _round_step(T / 2, T), device=device)
        else:  # mixed:
            t_star = torch.tensor(self.mixed_steps, device=device)
            t_star = t_star.view(1, -1).expand(num, -1)

        self.last_t_star = t_star
        return t_star

    def positive_score(self, user_emb: Tensor, pos_emb: Tensor) -> Tensor:
        r"""The positive scores :math:`p_s` of Eq. (11), without gradient:
        dot products or cosine similarities (see :obj:`score`)."""
        user_emb, pos_emb = user_emb.detach(), pos_emb.detach()
        if self.score == 'cosine':
            return torch.nn.functional.cosine_similarity(
                user_emb, pos_emb, dim=-1, eps=1e-12)
        return (user_emb * pos_emb).sum(dim=-1)

    def forward(self, user_emb: Tensor, pos_emb: Tensor,
                neg_emb: Optional[Tensor] = None) -> Tensor:
        r"""Generates one negative :math:`\mathbf{e}_d` per (user, positive
        item) row, without gradient.

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
            neg_emb (torch.Tensor, optional): Sampled negative item
                embeddings of shape :obj:`[N, d]`. (default: :obj:`None`)

        Returns:
            A detached tensor of shape :obj:`[N, d]`.
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb)
        with torch.no_grad():
            t_star = self.transition_step(
                self.positive_score(user_emb, pos_emb))

            cond = self._standardize(user_emb)[0]
            scale = self._standardize(pos_emb)[1]
            cond_proj = self.denoiser.condition(cond)  # once per chain

            def denoise_fn(x: Tensor, t: int, cond: Tensor, proj_gamma: Tensor,
                           proj_eta: Tensor) -> Tensor:
                return self.denoiser(x, t, cond, (proj_gamma, proj_eta))

            x_T = torch.randn_like(cond)  # Eq. (9).
            out = self.diffusion.sample_at(
                denoise_fn,
                x_T,
                t_star,
                posterior_noise=self.posterior_noise,
                clip_x0=self.clip_x0,
                cond=(cond, ) + cond_proj,
            )
            if out.dim() == 3:  # mixed:
                out = out.mean(dim=1)
        return (out * scale).to(pos_emb.dtype)

    def _standardize(self, emb: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Detached embeddings divided by their batch root-mean-square (when
        :obj:`normalize=True`), and that scale."""
        dtype = self.diffusion.betas.dtype
        emb = emb.detach().to(dtype)
        if not self.normalize:
            return emb, emb.new_ones(())
        scale = emb.pow(2).mean().sqrt().clamp(min=1e-12)
        return emb / scale, scale

    def diffusion_loss(self, user_emb: Tensor, pos_emb: Tensor) -> Tensor:
        r"""The diffusion loss :math:`\mathcal{L}_{\textrm{diff}}` of Eq. (8),
        averaged over the batch, with one step :math:`t` drawn uniformly from
        :math:`\{1, \ldots, T\}` per row. The embeddings are detached: no
        gradient reaches the encoder.

        With :math:`\hat{\mathbf{x}}_0` recovered from
        :math:`\boldsymbol{\epsilon}_{t, \theta}` through Eq. (2),
        :math:`\mathbf{x}_0 - \hat{\mathbf{x}}_0 = \sqrt{w_t} \,
        (\boldsymbol{\epsilon}_{t, \theta} - \boldsymbol{\epsilon})` with
        :math:`w_t = (1 - \bar{\alpha}_t) / \bar{\alpha}_t`, so that Eq. (8)
        reads

        .. math::
            \mathcal{L}_{\textrm{diff}} = (1 + \min(w_t, w_{\max})) \,
            \| \boldsymbol{\epsilon} - \boldsymbol{\epsilon}_{t, \theta}
            \|^2,

        computed in this form (exact, and free of the cancellation of
        :meth:`~adar_pyg.augment.GaussianDiffusion.predict_x0` where
        :math:`\bar{\alpha}_t \approx 0`).
        :math:`w_{\max}` = :obj:`max_x0_weight` bounds the weight, which
        grows to :math:`1 / \bar{\alpha}_T` (about :math:`10^5` for the linear
        schedule with :math:`T = 50`, :math:`10^{10}` with :math:`T = 20`):
        unbounded (:obj:`max_x0_weight=None`, Eq. (8) as printed), the few
        rows with :math:`t \approx T` dominate the gradient and the
        denoiser barely learns the other steps. The bound only changes the
        steps with :math:`w_t > w_{\max}` (for :math:`w_{\max} = 1`, those
        with :math:`\bar{\alpha}_t < 1 / 2`).

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb)
        x0 = self._standardize(pos_emb)[0]
        cond = self._standardize(user_emb)[0]

        t = self.diffusion.sample_timesteps(x0.size(0), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.diffusion.q_sample(x0, t, noise)
        eps = self.denoiser(x_t, t, cond)

        # ||eps - eps_theta||^2 and ||x_0 - x0_hat||^2 = w_t ||...||^2:
        eps_err = (eps - noise).pow(2).sum(dim=-1)
        w = self.diffusion.sqrt_recipm1_alphas_cumprod[t - 1].pow(2)
        if self.max_x0_weight is not None:
            w = w.clamp(max=self.max_x0_weight)
        return (eps_err + w * eps_err).mean()

    def step(self, user_emb: Tensor, pos_emb: Tensor,
             neg_emb: Optional[Tensor] = None) -> float:
        r"""Performs one optimization step of the diffusion model on
        :math:`\mathcal{L}_{\textrm{diff}}` (Algorithm 1, line 10) and returns
        the loss. The Adam optimizer is created at the first call (and again
        after :meth:`reset_parameters` or a device move).

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
        """
        loss = self._optimize(
            lambda: self.diffusion_loss(user_emb, pos_emb))
        return float(loss)

    def loss(
        self,
        user_emb: Tensor,
        pos_emb: Tensor,
        neg_emb: Tensor,
        neg_gen: Optional[Tensor] = None,
    ) -> Tensor:
        r"""The D-BPR loss of Eq. (12) with :math:`\lambda` =
        :obj:`weight`, see :func:`~adar_pyg.augment.d_bpr_loss`.

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
            neg_emb (torch.Tensor): Sampled negative item embeddings of shape
                :obj:`[N, d]`.
            neg_gen (torch.Tensor, optional): Generated negatives of shape
                :obj:`[N, d]`, *e.g.*, the output of :meth:`forward`. If set
                to :obj:`None`, the loss is plain BPR. (default: :obj:`None`)
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb, neg_emb=neg_emb,
                    neg_gen=neg_gen)
        return d_bpr_loss(user_emb, pos_emb, neg_emb, neg_gen,
                          weight=self.weight)

    def diagnostics(self) -> Dict[str, Tensor]:
        r"""The mean transition step :math:`t^*` of the last batch."""
        if self.last_t_star is None:
            return {}
        return {'t_star': self.last_t_star.float().mean()}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_steps={self.num_steps}, strategy={self.strategy!r}, '
                f'score={self.score!r}, weight={self.weight}, '
                f'schedule={self.diffusion.schedule!r}, '
                f'normalize={self.normalize}, clip_x0={self.clip_x0})')
