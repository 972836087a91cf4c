import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.augment.base import DiffusionAugmenter
from adar_pyg.augment.contrastive import cosine_contrastive_loss
from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.augment.diffusion import GaussianDiffusion
from adar_pyg.augment.mlp_denoiser import MLPDenoiser
from adar_pyg.checks import check_int, check_number


def _pair(name: str, value: Sequence[float]) -> Tuple[float, float]:
    try:
        start, end = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a pair (start, end) of positive "
                         f"numbers (got {value!r})") from None
    if not all(math.isfinite(v) and v > 0 for v in (start, end)):
        raise ValueError(f"'{name}' must be a pair (start, end) of positive "
                         f"numbers (got {value!r})")
    return start, end


class CausalNegativeAugmenter(DiffusionAugmenter):
    r"""Curriculum-mixed diffusion negatives with a causal regulariser from
    the `"Causal Negative Sampling via Diffusion Model for Out-of-Distribution
    Recommendation" <https://arxiv.org/abs/2508.07243>`_ paper (CNSDiff).

    A light diffusion over item embeddings (by default the
    :obj:`"linear-variance"` schedule of
    :func:`~adar_pyg.augment.beta_schedule`, :math:`T = 20`,
    :math:`1 - \bar{\alpha}_t \in [10^{-5}, 2 \cdot 10^{-3}]`) and an
    :math:`\mathbf{x}_0`-predicting MLP :math:`f_{\theta}` (see
    :class:`~adar_pyg.augment.MLPDenoiser`) generate negatives of several
    hardness levels: the positive :math:`\mathbf{x}_0 = \mathbf{e}_i` is
    noised to each start step :math:`s \in \mathcal{S}` and denoised
    deterministically back to step :math:`0` (see
    :meth:`~adar_pyg.augment.GaussianDiffusion.denoise_x0`), giving
    :math:`\tilde{\mathbf{e}}^{(s)}`; per row, the hardest is kept,

    .. math::
        \tilde{\mathbf{e}}_{\textrm{hard}} = \tilde{\mathbf{e}}^{(s^*)},
        \qquad s^* = \arg\max_{s \in \mathcal{S}}
        \sigma(\mathbf{e}_u^{\top} \tilde{\mathbf{e}}^{(s)}),

    and mixed with the sampled (uniform) negative :math:`\mathbf{e}_j` by a
    curriculum from easy to hard,

    .. math::
        \mathbf{e}_{\textrm{neg}} = r \, \tilde{\mathbf{e}}_{\textrm{hard}} +
        (1 - r) \, \mathbf{e}_j, \qquad r \sim \textrm{Beta}(\alpha_e,
        \beta_e),

    where :math:`(\alpha_e, \beta_e)` move linearly from :math:`(1, 9)` at
    the first epoch to :math:`(9, 1)` at the last, so that
    :math:`\mathbb{E}[r] = \alpha_e / (\alpha_e + \beta_e)` goes from
    :math:`0.1` to :math:`0.9` (see :meth:`set_epoch`). The recommendation
    loss (:meth:`loss`) is

    .. math::
        \mathcal{L} = \mathcal{L}_{\textrm{BPR}}(u, i,
        \mathbf{e}_{\textrm{neg}}) + \lambda_{\textrm{cl}} \mathcal{L}_{\textrm{cl}} +
        w_{\textrm{diff}} \mathcal{L}_{\textrm{diff}},

    with :math:`\mathcal{L}_{\textrm{cl}}` the contrastive loss of
    :func:`~adar_pyg.augment.cosine_contrastive_loss` (anchor
    :math:`\mathbf{e}_i`, positive :math:`\mathbf{e}_i + 0.01 \,
    \boldsymbol{\epsilon}`, negatives all generated and sampled negatives of
    the batch, :math:`\tau = 2`), and the causally regularised diffusion loss
    (:meth:`diffusion_loss`)

    .. math::
        \mathcal{L}_{\textrm{diff}} = (\textrm{SNR}(t - 1) - \textrm{SNR}(t))
        \, \| \hat{\mathbf{x}}_0 - \mathbf{x}_0 \|^2 + \gamma \,
        \textrm{KL} \left( \mathcal{N}(\hat{\mathbf{x}}_0,
        \tilde{\beta}_t \mathbf{I}) \, \| \, \mathcal{N}(\mathbf{x}_{t-1},
        \tilde{\beta}_{t-1} \mathbf{I}) \right),

    for :math:`t` uniform in :math:`\{1, \ldots, T\}`,
    :math:`\hat{\mathbf{x}}_0 = f_{\theta}(\mathbf{x}_t, t)`, and
    :math:`\mathbf{x}_{t-1}` the forward sample one step less noisy, drawn
    with the same noise as :math:`\mathbf{x}_t`: the regulariser pulls the
    denoiser towards it (see :meth:`causal_regularization`). Squared norms
    and the KL divergence are averaged over the :math:`d` dimensions, as in
    the reference code, and the weight of :math:`t = 1`, where
    :math:`\textrm{SNR}(0) = \infty`, is :math:`1`.

    The module knows nothing about the recommendation model and plugs into
    the same alternating loop as :class:`~adar_pyg.NegativeAugmenter` (the
    one of :class:`~adar_pyg.train.Trainer`):

    .. code-block:: python

        augmenter.set_epoch(epoch, num_epochs)   # At each epoch's start.
        augmenter.step(user_emb, pos_emb)        # Minimize L_diff (denoiser).
        neg_gen = augmenter(user_emb, pos_emb)   # Hard generated negatives.
        loss = augmenter.loss(user_emb, pos_emb, neg_emb, neg_gen)
        loss.backward()  # Gradients reach the encoder.

    .. note::

        Two differences from the reference code are deliberate.
        (1) Its denoiser's Adam optimizer is created but never stepped, so
        its generator stays at its random initialisation, and its
        :math:`w_{\textrm{diff}} \mathcal{L}_{\textrm{diff}}` only acts on
        the encoder (through :math:`\mathbf{e}_i`). Here, :meth:`step`
        trains the denoiser on :math:`\mathcal{L}_{\textrm{diff}}` of the
        detached embeddings with its own optimizer (alternating, as ADAR),
        and :meth:`loss` keeps the reference's encoder-side term;
        :obj:`train_denoiser=False` gives the reference's untrained
        generator, as an ablation.
        (2) The reference picks the best epoch on the OOD test set; the
        :class:`~adar_pyg.train.Trainer` selects on validation.
        Smaller ones: the reverse chain starts at :math:`s` and runs
        :math:`s` steps (the reference, after DiffRec, runs all :math:`T`
        steps from :math:`\mathbf{x}_s`); negatives are generated with the
        denoiser in evaluation mode (no dropout: deterministic, while the
        reference's MLP stays in training mode); the hardest level is chosen
        on :math:`\mathbf{e}_u^{\top} \tilde{\mathbf{e}}^{(s)}` (the same
        arg max as the sigmoid, which ties where it saturates in floating
        point); the curriculum reaches :math:`(9, 1)` at the last epoch (the
        reference stops one epoch short); for :math:`t = 1`,
        :math:`\mathbf{x}_{t-1} = \mathbf{x}_0` (the reference uses
        :math:`\mathbf{x}_1`); and the :math:`L_2` term is the training
        loop's.

    Args:
        embedding_dim (int): The size :math:`d` of user and item embeddings.
        num_steps (int, optional): The number of diffusion steps :math:`T`
            (at least :obj:`2`). (default: :obj:`20`)
        start_steps (Sequence[int], optional): The start steps
            :math:`\mathcal{S}` of the hardness levels, in
            :math:`\{1, \ldots, T\}`. (default: :obj:`(10, 14, 18)`)
        schedule (str or torch.Tensor, optional): The noise schedule, see
            :func:`~adar_pyg.augment.beta_schedule`.
            (default: :obj:`"linear-variance"`)
        hidden_channels (int, optional): The hidden size of the denoiser.
            (default: :obj:`64`)
        time_dim (int, optional): The size of the time embedding. If set to
            :obj:`None`, will be :obj:`embedding_dim`. (default: :obj:`None`)
        dropout (float, optional): The denoiser's input dropout (training
            only). (default: :obj:`0.5`)
        mix_alpha (Tuple[float, float], optional): :math:`\alpha_e` at the
            first and at the last epoch. (default: :obj:`(1.0, 9.0)`)
        mix_beta (Tuple[float, float], optional): :math:`\beta_e` at the
            first and at the last epoch. (default: :obj:`(9.0, 1.0)`)
        curriculum_epochs (int, optional): The number of epochs over which
            :math:`(\alpha_e, \beta_e)` move (they stay at their end values
            afterwards). If set to :obj:`None`, will be the :obj:`num_epochs`
            given to :meth:`set_epoch`. (default: :obj:`None`)
        cl_weight (float, optional): :math:`\lambda_{\textrm{cl}}`.
            (default: :obj:`0.3`)
        cl_temperature (float, optional): The temperature :math:`\tau` of
            :math:`\mathcal{L}_{\textrm{cl}}`. (default: :obj:`2.0`)
        cl_noise (float, optional): The scale of the noise that makes the
            contrastive positive. (default: :obj:`0.01`)
        causal_weight (float, optional): :math:`\gamma`, the weight of the
            KL term. (default: :obj:`0.1`)
        diff_weight (float, optional): :math:`w_{\textrm{diff}}`, the weight
            of :math:`\mathcal{L}_{\textrm{diff}}` in the encoder's loss.
            (default: :obj:`1e-6`)
        lr (float, optional): The learning rate of the denoiser's Adam
            optimizer (the reference configures :obj:`0.01`, but never
            steps it). (default: :obj:`1e-3`)
        train_denoiser (bool, optional): Whether :meth:`step` trains the
            denoiser. :obj:`False` keeps it at its random initialisation, as
            the reference code does. (default: :obj:`True`)
    """
    def __init__(
        self,
        embedding_dim: int,
        num_steps: int = 20,
        start_steps: Sequence[int] = (10, 14, 18),
        schedule: Union[str, Tensor] = 'linear-variance',
        hidden_channels: int = 64,
        time_dim: Optional[int] = None,
        dropout: float = 0.5,
        mix_alpha: Tuple[float, float] = (1.0, 9.0),
        mix_beta: Tuple[float, float] = (9.0, 1.0),
        curriculum_epochs: Optional[int] = None,
        cl_weight: float = 0.3,
        cl_temperature: float = 2.0,
        cl_noise: float = 0.01,
        causal_weight: float = 0.1,
        diff_weight: float = 1e-6,
        lr: float = 1e-3,
        train_denoiser: bool = True,
    ) -> None:
        super().__init__()

        check_int('embedding_dim', embedding_dim)
        check_int('num_steps', num_steps, minimum=2)
        steps = list(start_steps) if not isinstance(start_steps, int) else []
        if (not steps or len(set(steps)) != len(steps) or not all(
                isinstance(s, int) and not isinstance(s, bool)
                and 1 <= s <= num_steps for s in steps)):
            raise ValueError(f"'start_steps' must be distinct integers in "
                             f"[1, num_steps={num_steps}] (got "
                             f"{start_steps!r})")
        check_int('curriculum_epochs', curriculum_epochs, optional=True)
        for name, value in (('cl_weight', cl_weight), ('cl_noise', cl_noise),
                            ('causal_weight', causal_weight),
                            ('diff_weight', diff_weight)):
            check_number(name, value, positive=False)
        for name, value in (('cl_temperature', cl_temperature), ('lr', lr)):
            check_number(name, value)

        self.embedding_dim = embedding_dim
        self.num_steps = num_steps
        self.start_steps = tuple(sorted(steps))
        self.mix_alpha = _pair('mix_alpha', mix_alpha)
        self.mix_beta = _pair('mix_beta', mix_beta)
        self.curriculum_epochs = curriculum_epochs
        self.cl_weight = float(cl_weight)
        self.cl_temperature = float(cl_temperature)
        self.cl_noise = float(cl_noise)
        self.causal_weight = float(causal_weight)
        self.diff_weight = float(diff_weight)
        self.lr = float(lr)
        self.train_denoiser = bool(train_denoiser)

        self.diffusion = GaussianDiffusion(num_steps, schedule)
        self.denoiser = MLPDenoiser(embedding_dim, hidden_channels, time_dim,
                                    dropout=dropout)

        self.progress = 0.0
        self.last_t_star: Optional[Tensor] = None
        self.last_diagnostics: Dict[str, Tensor] = {}

        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module, its optimizer
        (re-created at the next :meth:`step`) and the curriculum."""
        self.denoiser.reset_parameters()
        self.optimizer = None
        self.progress = 0.0
        self.last_t_star = None
        self.last_diagnostics = {}

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        r"""Sets the curriculum to epoch :obj:`epoch` (1-based) of
        :obj:`num_epochs` (or of :obj:`curriculum_epochs`, if given): the
        progress :math:`p = (\textrm{epoch} - 1) / (E - 1)`, clamped to
        :math:`[0, 1]`, places :math:`(\alpha_e, \beta_e)` on the line from
        their start to their end values."""
        total = self.curriculum_epochs or num_epochs
        if total < 1 or epoch < 1:
            raise ValueError(f"Need epoch >= 1 and num_epochs >= 1 (got "
                             f"epoch={epoch}, num_epochs={total})")
        self.progress = 0.0 if total == 1 else min(
            max((epoch - 1) / (total - 1), 0.0), 1.0)

    @property
    def mix_parameters(self) -> Tuple[float, float]:
        r"""The current :math:`(\alpha_e, \beta_e)` of the mixing ratio's
        Beta distribution."""
        p = self.progress
        alpha = self.mix_alpha[0] + p * (self.mix_alpha[1] - self.mix_alpha[0])
        beta = self.mix_beta[0] + p * (self.mix_beta[1] - self.mix_beta[0])
        return alpha, beta

    def mix_ratio(self, num: int, device: Optional[torch.device] = None,
                  dtype: Optional[torch.dtype] = None) -> Tensor:
        r"""Draws :obj:`num` mixing ratios :math:`r \sim
        \textrm{Beta}(\alpha_e, \beta_e)` as a tensor of shape
        :obj:`[num, 1]`."""
        alpha, beta = self.mix_parameters
        # (torch draws Beta variates in float32 and float64 only)
        draw = dtype if dtype in (None, torch.float32, torch.float64) \
            else torch.float32
        dist = torch.distributions.Beta(
            torch.tensor(alpha, device=device, dtype=draw),
            torch.tensor(beta, device=device, dtype=draw))
        return dist.sample((num, 1)).to(dtype)

    def candidates(self, pos_emb: Tensor) -> Tensor:
        r"""The generated negatives of all hardness levels, without gradient:
        :obj:`pos_emb` noised to each start step and denoised back to step
        :math:`0` by the denoiser (in evaluation mode).

        Args:
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.

        Returns:
            A tensor of shape :obj:`[N, K, d]`, :math:`K` =
            :obj:`len(start_steps)`, level :math:`k` from
            :obj:`start_steps[k]`.
        """
        dtype = self.diffusion.betas.dtype
        x0 = pos_emb.detach().to(dtype)
        num, K = x0.size(0), len(self.start_steps)
        steps = torch.tensor(self.start_steps, device=x0.device)
        t_start = steps.repeat_interleave(num)  # Level-major: [K * N].
        training = self.denoiser.training
        self.denoiser.eval()
        try:
            with torch.no_grad():
                x_s = self.diffusion.q_sample(x0.repeat(K, 1), t_start)
                out = self.diffusion.denoise_x0(self.denoiser, x_s, t_start)
        finally:
            self.denoiser.train(training)
        return out.view(K, num, -1).transpose(0, 1)

    @staticmethod
    def select_hardest(user_emb: Tensor,
                       candidates: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Per row, the candidate with the highest score
        :math:`\sigma(\mathbf{e}_u^{\top} \tilde{\mathbf{e}})` (the arg max of
        the inner product, which the sigmoid does not change) and its index
        (the first one on ties).

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            candidates (torch.Tensor): Candidates of shape :obj:`[N, K, d]`.

        Returns:
            The hardest candidates :obj:`[N, d]` and their indices :obj:`[N]`.
        """
        scores = (user_emb.unsqueeze(1) * candidates).sum(dim=-1)
        index = scores.argmax(dim=1)
        rows = torch.arange(candidates.size(0), device=candidates.device)
        return candidates[rows, index], index

    def forward(self, user_emb: Tensor, pos_emb: Tensor,
                neg_emb: Optional[Tensor] = None) -> Tensor:
        r"""Generates the hard negative :math:`\tilde{\mathbf{e}}_{\textrm
        {hard}}` per (user, positive item) row, without gradient. The start
        step of the chosen level is stored as :obj:`last_t_star`.

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.

        Returns:
            A detached tensor of shape :obj:`[N, d]`.
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb)
        if pos_emb.size(0) == 0:  # (no rows, nothing drawn)
            self.last_t_star = torch.zeros(0, dtype=torch.long,
                                           device=pos_emb.device)
            return pos_emb.detach().clone()
        cands = self.candidates(pos_emb)
        with torch.no_grad():
            user = user_emb.detach().to(cands.dtype)
            hard, index = self.select_hardest(user, cands)
            steps = torch.tensor(self.start_steps, device=index.device)
            self.last_t_star = steps[index]
        return hard.to(pos_emb.dtype)

    def reconstruction_weight(self, t: Tensor) -> Tensor:
        r"""The weight :math:`\textrm{SNR}(t - 1) - \textrm{SNR}(t)` of the
        reconstruction term for steps :obj:`t` of shape :obj:`[N]`, with
        :math:`1` for :math:`t = 1`."""
        prev = (t - 1).clamp(min=1)
        weight = self.diffusion.snr(prev) - self.diffusion.snr(t)
        return torch.where(t > 1, weight, torch.ones_like(weight))

    def causal_regularization(self, x0_hat: Tensor, x_prev: Tensor,
                              t: Tensor) -> Tensor:
        r"""The causal regulariser :math:`\gamma \, \textrm{KL}(
        \mathcal{N}(\hat{\mathbf{x}}_0, \tilde{\beta}_t \mathbf{I}) \, \| \,
        \mathcal{N}(\mathbf{x}_{t-1}, \tilde{\beta}_{t-1} \mathbf{I}))`,
        averaged over rows and dimensions, with the clipped posterior
        log-variances of
        :meth:`~adar_pyg.augment.GaussianDiffusion.posterior_log_variance`
        and :math:`\log \tilde{\beta}_0 = 0`

        .. math::
            \textrm{KL} = \frac{1}{2} \left( \log \frac{\tilde{\beta}_{t-1}}
            {\tilde{\beta}_t} + \frac{\tilde{\beta}_t}{\tilde{\beta}_{t-1}}
            - 1 + \frac{(\hat{\mathbf{x}}_0 - \mathbf{x}_{t-1})^2}
            {\tilde{\beta}_{t-1}} \right).

        Args:
            x0_hat (torch.Tensor): The predictions
                :math:`\hat{\mathbf{x}}_0` of shape :obj:`[N, d]`.
            x_prev (torch.Tensor): The forward samples
                :math:`\mathbf{x}_{t-1}` of shape :obj:`[N, d]`.
            t (torch.Tensor): The steps :math:`t \geq 1` of shape :obj:`[N]`.
        """
        logvar1 = self.diffusion.posterior_log_variance(t).unsqueeze(-1)
        logvar2 = self.diffusion.posterior_log_variance(
            (t - 1).clamp(min=1)).unsqueeze(-1)
        logvar2 = torch.where(t.unsqueeze(-1) > 1, logvar2,
                              torch.zeros_like(logvar2))
        kl = 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) +
                    (x0_hat - x_prev).pow(2) * torch.exp(-logvar2))
        return self.causal_weight * kl.mean()

    def diffusion_loss(self, pos_emb: Tensor) -> Tensor:
        r"""The causally regularised diffusion loss
        :math:`\mathcal{L}_{\textrm{diff}}`, averaged over the batch, with
        one step :math:`t` drawn uniformly from :math:`\{1, \ldots, T\}` per
        row. Gradients reach the denoiser and, unless :obj:`pos_emb` is
        detached, the encoder.

        Args:
            pos_emb (torch.Tensor): Positive item embeddings
                :math:`\mathbf{x}_0` of shape :obj:`[N, d]`.
        """
        x0 = pos_emb.to(self.diffusion.betas.dtype)
        t = self.diffusion.sample_timesteps(x0.size(0), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.diffusion.q_sample(x0, t, noise)
        x_prev = self.diffusion.q_sample(x0, (t - 1).clamp(min=1), noise)
        x_prev = torch.where(t.unsqueeze(-1) > 1, x_prev, x0)
        x0_hat = self.denoiser(x_t, t)
        mse = (x0_hat - x0).pow(2).mean(dim=-1)
        return ((self.reconstruction_weight(t) * mse).mean() +
                self.causal_regularization(x0_hat, x_prev, t))

    def step(self, user_emb: Tensor, pos_emb: Tensor,
             neg_emb: Optional[Tensor] = None) -> float:
        r"""Performs one optimization step of the denoiser on
        :math:`\mathcal{L}_{\textrm{diff}}` of the detached positives and
        returns the loss (only computed, without a step, if
        :obj:`train_denoiser=False`). The Adam optimizer is created at the
        first call (and again after :meth:`reset_parameters` or a device
        move).

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`
                (checked, but unused: the denoiser is unconditional).
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb)
        if pos_emb.size(0) == 0:
            return 0.0  # No rows: nothing to learn from.
        pos_emb = pos_emb.detach()
        if not self.train_denoiser:
            with torch.no_grad():
                loss = self.diffusion_loss(pos_emb)
        else:
            loss = self._optimize(lambda: self.diffusion_loss(pos_emb))
        loss = loss.detach()
        self.last_diagnostics['diff_loss'] = loss
        return float(loss)

    def loss(
        self,
        user_emb: Tensor,
        pos_emb: Tensor,
        neg_emb: Tensor,
        neg_gen: Optional[Tensor] = None,
    ) -> Tensor:
        r"""The recommendation loss :math:`\mathcal{L}_{\textrm{BPR}}(u, i,
        \mathbf{e}_{\textrm{neg}}) + \lambda_{\textrm{cl}}
        \mathcal{L}_{\textrm{cl}} + w_{\textrm{diff}}
        \mathcal{L}_{\textrm{diff}}`, with :math:`r` drawn per row at the
        current curriculum. The generated negatives are treated as constants.

        Args:
            user_emb (torch.Tensor): User embeddings of shape :obj:`[N, d]`.
            pos_emb (torch.Tensor): Positive item embeddings of shape
                :obj:`[N, d]`.
            neg_emb (torch.Tensor): Sampled negative item embeddings
                :math:`\mathbf{e}_j` of shape :obj:`[N, d]`.
            neg_gen (torch.Tensor, optional): Generated negatives
                :math:`\tilde{\mathbf{e}}_{\textrm{hard}}` of shape
                :obj:`[N, d]`, *e.g.*, the output of :meth:`forward`. If set
                to :obj:`None`, the loss is plain BPR. (default: :obj:`None`)
        """
        self._check(user_emb=user_emb, pos_emb=pos_emb, neg_emb=neg_emb,
                    neg_gen=neg_gen)
        if neg_gen is None:
            return d_bpr_loss(user_emb, pos_emb, neg_emb)
        gen = neg_gen.detach().to(neg_emb.dtype)
        ratio = self.mix_ratio(gen.size(0), gen.device, gen.dtype)
        mixed = ratio * gen + (1 - ratio) * neg_emb
        loss = d_bpr_loss(user_emb, pos_emb, mixed)
        diagnostics = {'mix_ratio': ratio.detach().mean()}
        if self.cl_weight > 0:
            noisy = pos_emb + self.cl_noise * torch.randn_like(pos_emb)
            cl = cosine_contrastive_loss(pos_emb, noisy,
                                         torch.cat([gen, neg_emb], dim=0),
                                         self.cl_temperature)
            loss = loss + self.cl_weight * cl
            diagnostics['cl_loss'] = cl.detach()
        if self.diff_weight > 0:
            loss = loss + self.diff_weight * self.diffusion_loss(
                pos_emb).to(loss.dtype)
        self.last_diagnostics.update(diagnostics)
        return loss

    def diagnostics(self) -> Dict[str, Tensor]:
        r"""The mean start step of the chosen levels, the denoiser's loss,
        the mean mixing ratio and the contrastive loss of the last batch."""
        out = dict(self.last_diagnostics)
        if self.last_t_star is not None:
            out['t_star'] = self.last_t_star.float().mean()
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.embedding_dim}, '
                f'num_steps={self.num_steps}, '
                f'start_steps={self.start_steps}, '
                f'schedule={self.diffusion.schedule!r}, '
                f'cl_weight={self.cl_weight}, '
                f'diff_weight={self.diff_weight}, '
                f'train_denoiser={self.train_denoiser})')
