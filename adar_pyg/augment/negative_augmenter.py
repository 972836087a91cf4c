import math
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.augment.base import DiffusionAugmenter, NonFiniteError
from adar_pyg.augment.dbpr import AUGMENTER_WEIGHT, check_weight, d_bpr_loss
from adar_pyg.augment.diffusion import GaussianDiffusion
from adar_pyg.augment.film import FiLMDenoiser
from adar_pyg.augment.schedule import SCHEDULES
from adar_pyg.checks import check_int, check_number

STRATEGIES = ('adaptive', 'random', 'fixed', 'mixed', 'transition')
SCORES = ('cosine', 'dot')
SOURCES = ('chain', 'forward')

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

    With :obj:`strategy="transition"`, :math:`t^*` is instead the transition
    point of Theorem 1 itself. By Eq. (2), the user's expected score of the
    noised positive is :math:`\mathbb{E}[\mathbf{e}_u^{\top} \mathbf{x}_t] =
    \sqrt{\bar{\alpha}_t} \, \mu^+` with :math:`\mu^+ = \mathbf{e}_u^{\top}
    \mathbf{e}_i`, and :math:`t^*` is the first step at which it falls to the
    negative threshold :math:`\mu^-`, which Theorem 1 leaves unobserved and
    which is taken from the row's sampled negative :math:`\mathbf{e}_j`:

    .. math::
        t^* = \min \left\{ t \in \{1, \ldots, T\} :
        \sqrt{\bar{\alpha}_t} \, \mu^+ \leq \mu^- \right\}, \qquad
        \mu^- = s^- + h \, (\mu^+ - s^-), \qquad
        s^- = \mathbf{e}_u^{\top} \mathbf{e}_j,

    *i.e.*, :math:`\bar{\alpha}_{t^*} \approx (\mu^- / \mu^+)^2` on the
    discrete schedule, where the hardness :math:`h \in [0, 1)` moves the
    threshold from the sampled negative's score (:math:`h = 0`) towards the
    positive's (harder negatives, smaller :math:`t^*`), see
    :meth:`transition_from_scores`. For :math:`\mu^- > 0`, :math:`t^*`
    grows with :math:`\mu^+` (Theorem 1).

    The diffusion computes in :obj:`float32` (its schedule's type): other
    floating point embeddings are cast to it, and the generated negatives
    cast back to the type of :obj:`pos_emb`.

    The module knows nothing about the recommendation model: it only sees
    user and item embeddings, and it owns the optimizer of its diffusion
    model, so that training alternates (Algorithm 1) as

    .. code-block:: python

        augmenter.step(user_emb, pos_emb)        # Line 10: minimize L_diff.
        neg_gen = augmenter(user_emb, pos_emb, neg_emb)  # Lines 11-16: e_d.
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
            generated negatives in D-BPR (Eq. (12)). (default: :obj:`0.7`,
            :obj:`~adar_pyg.augment.dbpr.AUGMENTER_WEIGHT`)
        strategy (str, optional): How to choose :math:`t^*` (Table 3):
            :obj:`"adaptive"` (Eq. (11)), :obj:`"random"` (uniform in
            :math:`\{1, \ldots, T\}` per row), :obj:`"fixed"` (:math:`T / 2`)
            :obj:`"mixed"` (the average of the states at :math:`T / 2`,
            :math:`T / 4`, :math:`T / 8` and :math:`T / 10`), or
            :obj:`"transition"` (the transition point of Theorem 1 with the
            sampled negative's score as threshold, see above and
            :meth:`transition_from_scores`; needs :obj:`neg_emb` in
            :meth:`forward`). Steps are rounded half up and are at least
            :obj:`1`. The default is :obj:`"transition"` (with
            :obj:`source="forward"`): over 5 seeds on Amazon-Beauty it is
            the ADAR setting that beats the base (LightGCN test Recall@20
            +2.8%, :math:`p = 0.006`), where the paper's :obj:`"adaptive"`
            gives +0.01% (:math:`p = 0.95`); :obj:`strategy="adaptive",
            source="chain"` is the paper's selection.
            (default: :obj:`"transition"`)
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
            :math:`\omega = k = 1`. Not used by :obj:`strategy="transition"`,
            which takes dot products in the space of the diffusion.
            (default: :obj:`"cosine"`)
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
        hardness (float, optional): The hardness :math:`h \in [0, 1)` of
            :obj:`strategy="transition"`: the threshold :math:`\mu^-` lies
            the fraction :math:`h` of the way from the sampled negative's
            score to the positive's. (default: :obj:`0.5`)
        source (str, optional): Where the negative at :math:`t^*` comes
            from: :obj:`"chain"` (the state :math:`\mathbf{x}_{d, t^*}` of
            the user-conditioned reverse chain, as in the paper) or
            :obj:`"forward"` (the forward-noised positive
            :math:`\mathbf{x}_{t^*} = \sqrt{\bar{\alpha}_{t^*}} \mathbf{x}_0
            + \sqrt{1 - \bar{\alpha}_{t^*}} \boldsymbol{\epsilon}` of
            Eq. (2), drawn in one step without the denoiser; the
            :obj:`"mixed"` strategy averages four independent draws). With
            :obj:`"forward"`, the denoiser (Eq. (5-8)) takes no part:
            :meth:`step` does not train it, and :obj:`hidden_channels`,
            :obj:`time_dim`, :obj:`lr`, :obj:`posterior_noise`,
            :obj:`max_x0_weight` and :obj:`clip_x0` have no effect.
            (default: :obj:`"forward"`)
    """
    def __init__(
        self,
        embedding_dim: int,
        num_steps: int = 50,
        weight: float = AUGMENTER_WEIGHT,
        strategy: str = 'transition',
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
        hardness: float = 0.5,
        source: str = 'forward',
    ) -> None:
        super().__init__()

        check_int('embedding_dim', embedding_dim)
        check_int('num_steps', num_steps)
        weight = check_weight(weight)
        for name, flag in (('posterior_noise', posterior_noise),
                           ('normalize', normalize)):
            if not isinstance(flag, bool):
                raise ValueError(f"'{name}' must be True or False (got "
                                 f"{flag!r})")
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r} (valid options: "
                             f"{', '.join(repr(s) for s in STRATEGIES)})")
        if score not in SCORES:
            raise ValueError(f"Unknown score {score!r} (valid options: "
                             f"{', '.join(repr(s) for s in SCORES)})")
        check_number('clip_x0', clip_x0, optional=True)
        if isinstance(schedule, str) and schedule not in SCHEDULES:
            raise ValueError(f"Unknown noise schedule {schedule!r} (valid "
                             f"options: "
                             f"{', '.join(repr(s) for s in SCHEDULES)} or a "
                             f"tensor of betas)")
        for name, value in (('omega', omega), ('k', k), ('lr', lr)):
            check_number(name, value)
        check_number('max_x0_weight', max_x0_weight, positive=False,
                     optional=True)
        if not (isinstance(hardness, (int, float))
                and not isinstance(hardness, bool)
                and 0.0 <= hardness < 1.0):
            raise ValueError(f"'hardness' must be in [0, 1) "
                             f"(got {hardness!r})")
        if source not in SOURCES:
            raise ValueError(f"Unknown source {source!r} (valid options: "
                             f"{', '.join(repr(s) for s in SOURCES)})")

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
        self.hardness = float(hardness)
        self.source = source

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
    def requires_negative(self) -> bool:  # type: ignore[override]
        r"""Whether :meth:`forward` needs the sampled negatives: only for
        :obj:`strategy="transition"`."""
        return self.strategy == 'transition'

    @property
    def mixed_steps(self) -> Tuple[int, ...]:
        r"""The steps averaged by the :obj:`"mixed"` strategy."""
        return tuple(
            _round_step(self.num_steps / m, self.num_steps)
            for m in MIXED_DIVISORS)

    def transition_step(self, pos_score: Tensor,
                        neg_score: Optional[Tensor] = None) -> Tensor:
        r"""Returns the transition steps :math:`t^*` for the positive scores
        :math:`p_s` (Eq. (11) for :obj:`strategy="adaptive"`), as a
        :obj:`torch.long` tensor of shape :obj:`[N]` with values in
        :math:`\{1, \ldots, T\}`, or of shape :obj:`[N, 4]` for
        :obj:`strategy="mixed"`. Also stored as :obj:`last_t_star`.

        Args:
            pos_score (torch.Tensor): The positive scores :math:`p_s` of
                shape :obj:`[N]` (see :obj:`score` and
                :meth:`positive_score`); for :obj:`strategy="transition"`,
                the scores :math:`\mu^+` of :meth:`transition_from_scores`.
            neg_score (torch.Tensor, optional): The sampled negatives' scores
                :math:`s^-` of shape :obj:`[N]`, needed (only) by
                :obj:`strategy="transition"`. (default: :obj:`None`)
        """
        if self.strategy == 'transition':
            if neg_score is None:
                raise ValueError("strategy='transition' needs the sampled "
                                 "negatives' scores: pass 'neg_score'")
            t_star = self.transition_from_scores(pos_score, neg_score)
            self.last_t_star = t_star
            return t_star

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

    def transition_from_scores(self, pos_score: Tensor,
                               neg_score: Tensor) -> Tensor:
        r"""The transition point of Theorem 1 on the actual schedule: per
        row, the first step at which the expected user score
        :math:`\sqrt{\bar{\alpha}_t} \, \mu^+` of the forward-noised
        positive (Eq. (2)) falls to the threshold :math:`\mu^-`,

        .. math::
            t^* = \min \left\{ t \in \{1, \ldots, T\} :
            \sqrt{\bar{\alpha}_t} \, \mu^+ \leq \mu^- \right\},
            \qquad \mu^- = s^- + h \, (\mu^+ - s^-),

        so that :math:`\sqrt{\bar{\alpha}_{t^*}} \, \mu^+ \leq \mu^- <
        \sqrt{\bar{\alpha}_{t^* - 1}} \, \mu^+` (with
        :math:`\bar{\alpha}_0 = 1`): the discrete form of Theorem 1's
        :math:`\bar{\alpha}_{t^*} = (\mu^- / \mu^+)^2`. :math:`h` is
        :obj:`hardness`. As :math:`\sqrt{\bar{\alpha}_t}` decreases in
        :math:`t`, :math:`t^*` is one plus the number of steps with
        :math:`\sqrt{\bar{\alpha}_t} \, \mu^+ > \mu^-`. Fallbacks:

        * :math:`\mu^+ \leq 0` (Theorem 1 assumes :math:`\mu^+ > 0`) or
          :math:`\mu^+ \leq \mu^-` (*i.e.*, :math:`s^- \geq \mu^+`: the
          sampled negative already scores as high as the positive):
          :math:`t^* = 1`, the least-noised state, *i.e.*, the hardest
          available;
        * no step reaches the threshold (:math:`\mu^- <
          \sqrt{\bar{\alpha}_T} \, \mu^+`, *e.g.*, any
          :math:`\mu^- \leq 0 < \mu^+`): :math:`t^* = T`.

        For fixed :math:`s^-` and :math:`h`, :math:`\mu^- / \mu^+ = h +
        (1 - h) \, s^- / \mu^+`, so :math:`t^*` is non-decreasing in
        :math:`\mu^+ > s^-` when :math:`s^- \geq 0` (Theorem 1's
        direction) and non-increasing in :math:`\mu^+ > 0` when
        :math:`s^- < 0`; it is non-increasing in :math:`h`.

        Both scores must be inner products in the same space:
        :meth:`forward` takes them in the space of the diffusion, *i.e.*,
        with :obj:`normalize=True`, :math:`\mu^+ = \tilde{\mathbf{e}}_u^{\top}
        \mathbf{x}_0` and :math:`s^- = \tilde{\mathbf{e}}_u^{\top}
        \mathbf{e}_j / s_i` for the standardised user
        :math:`\tilde{\mathbf{e}}_u` and positive :math:`\mathbf{x}_0 =
        \mathbf{e}_i / s_i` (the negative is divided by the positive's
        scale :math:`s_i`, the scale the generated negatives are mapped back
        with), which leaves :math:`\mu^- / \mu^+`, and :math:`t^*`, as for
        the raw dot products, up to rounding.

        Args:
            pos_score (torch.Tensor): The positive scores :math:`\mu^+` of
                shape :obj:`[N]`.
            neg_score (torch.Tensor): The sampled negatives' scores
                :math:`s^-` of shape :obj:`[N]`.

        Returns:
            A :obj:`torch.long` tensor of shape :obj:`[N]` with values in
            :math:`\{1, \ldots, T\}`.
        """
        pos_score = pos_score.detach().reshape(-1)
        neg_score = neg_score.detach().reshape(-1)
        if pos_score.numel() != neg_score.numel():
            raise ValueError(f"'pos_score' and 'neg_score' must have the "
                             f"same number of rows (got {pos_score.numel()} "
                             f"and {neg_score.numel()})")
        # In float64, so that mu^- and the products are exact enough to
        # match the definition step by step:
        pos_score = pos_score.to(torch.float64)
        neg_score = neg_score.to(pos_score.device, torch.float64)
        if not bool(torch.isfinite(torch.cat([pos_score, neg_score])).all()):
            raise NonFiniteError("The transition point needs finite "
                                 "positive and negative scores (got NaN or "
                                 "infinite values)")
        mu_neg = neg_score + self.hardness * (pos_score - neg_score)
        sqrt_ab = self.diffusion.sqrt_alphas_cumprod.to(
            pos_score.device, torch.float64)
        # [N, T], a prefix of True per row where mu^+ > 0:
        above = sqrt_ab.view(1, -1) * pos_score.view(-1, 1) > mu_neg.view(
            -1, 1)
        t_star = (above.sum(dim=1) + 1).clamp(max=self.num_steps)
        hardest = (pos_score <= 0) | (pos_score <= mu_neg)
        return t_star.masked_fill(hardest, 1)

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
        item) row, without gradient: the state at :math:`t^*` of the reverse
        chain or of the forward process (see :obj:`source`).

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
            neg_emb (torch.Tensor, optional): Sampled negative item
                embeddings of shape :obj:`[N, d]`, needed by
                :obj:`strategy="transition"` (ignored otherwise).
                (default: :obj:`None`)

        Returns:
            A detached tensor of shape :obj:`[N, d]`.
        """
        self._need_negative(neg_emb)
        if self.requires_negative:
            self._check(user_emb=user_emb, pos_emb=pos_emb, neg_emb=neg_emb)
        else:
            self._check(user_emb=user_emb, pos_emb=pos_emb)
        if pos_emb.size(0) == 0:  # (no rows, nothing drawn)
            self.last_t_star = torch.zeros(0, dtype=torch.long,
                                           device=pos_emb.device)
            return pos_emb.detach().clone()
        with torch.no_grad():
            if self.strategy == 'transition':
                assert neg_emb is not None
                # Scores in the space of the diffusion (see
                # `transition_from_scores`):
                cond = self._standardize(user_emb)[0]
                x0, scale = self._standardize(pos_emb)
                neg = neg_emb.detach().to(x0.dtype) / scale
                t_star = self.transition_step((cond * x0).sum(dim=-1),
                                              (cond * neg).sum(dim=-1))
            else:
                t_star = self.transition_step(
                    self.positive_score(user_emb, pos_emb))

            if self.source == 'forward':
                x0, scale = self._standardize(pos_emb)
                out = self._forward_states(x0, t_star)
                return (out * scale).to(pos_emb.dtype)

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

    def _forward_states(self, x0: Tensor, t_star: Tensor) -> Tensor:
        r"""Draws :math:`\mathbf{x}_{t^*} \sim q(\mathbf{x}_{t^*} \mid
        \mathbf{x}_0)` (Eq. (2)) per row; for :obj:`t_star` of shape
        :obj:`[N, K]`, the mean of :math:`K` independent draws."""
        if t_star.dim() == 1:
            return self.diffusion.q_sample(x0, t_star.to(x0.device))
        num, K = t_star.shape
        x0 = x0.unsqueeze(1).expand(-1, K, -1).reshape(num * K, -1)
        out = self.diffusion.q_sample(x0, t_star.to(x0.device).reshape(-1))
        return out.view(num, K, -1).mean(dim=1)

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

        With :obj:`source="forward"` (the default), the generated negatives
        do not depend on the denoiser, and :meth:`step` trains nothing: it
        checks its inputs, draws the random numbers a training step would
        (so that runs stay bit-identical to those of versions that trained
        the unused denoiser) and returns :obj:`0.0`.

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
        """
        if pos_emb.size(0) == 0:
            self._check(user_emb=user_emb, pos_emb=pos_emb)
            return 0.0  # No rows: nothing to learn from.
        if self.source == 'forward':
            # e_d of Eq. (2) does not depend on the denoiser: nothing to
            # train. The step's random draws (its steps t and its noise)
            # are made all the same, so that the rest of the run draws what
            # it drew when the step trained the unused denoiser (committed
            # runs re-run bit for bit).
            self._check(user_emb=user_emb, pos_emb=pos_emb)
            dtype = self.diffusion.betas.dtype
            self.diffusion.sample_timesteps(pos_emb.size(0),
                                            device=pos_emb.device)
            torch.randn(pos_emb.shape, dtype=dtype, device=pos_emb.device)
            return 0.0
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
        # The settings that take part, given the strategy and the source:
        parts = [str(self.embedding_dim), f'num_steps={self.num_steps}',
                 f'strategy={self.strategy!r}']
        if self.strategy == 'transition':
            parts.append(f'hardness={self.hardness}')
        if self.strategy == 'adaptive':
            parts += [f'score={self.score!r}', f'omega={self.omega}',
                      f'k={self.k}']
        parts += [f'source={self.source!r}', f'weight={self.weight}',
                  f'schedule={self.diffusion.schedule!r}',
                  f'normalize={self.normalize}']
        if self.source == 'chain':
            parts += [f'clip_x0={self.clip_x0}',
                      f'posterior_noise={self.posterior_noise}',
                      f'max_x0_weight={self.max_x0_weight}',
                      f'hidden_channels={self.denoiser.hidden_channels}',
                      f'lr={self.lr}']
        return f"{self.__class__.__name__}({', '.join(parts)})"
