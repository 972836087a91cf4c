import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.augment.schedule import beta_schedule

TimeStep = Union[int, Tensor]


def timestep_embedding(
    t: TimeStep,
    dim: int,
    max_period: float = 10000.0,
) -> Tensor:
    r"""The sinusoidal time embedding :math:`\mathbf{e}_t = \textrm{PE}(t)`
    from Eq. (6) of the `"Adaptive Diffusion-based Augmentation for
    Recommendation" <https://arxiv.org/abs/2601.01448>`_ paper

    .. math::
        \textrm{PE}(t)_{2i} = \sin(t \cdot 10000^{-2i / d_t}), \qquad
        \textrm{PE}(t)_{2i + 1} = \cos(t \cdot 10000^{-2i / d_t}),

    *i.e.* the positional encoding of Transformers (and DDPM), with sine and
    cosine interleaved along the :math:`d_t` dimensions and
    :math:`i` running over the pairs of dimensions (Eq. (6) writes :math:`i`
    for the dimension index itself).

    Args:
        t (int or torch.Tensor): The time steps, an integer or a tensor of
            shape :obj:`[]` or :obj:`[N]`.
        dim (int): The embedding size :math:`d_t` (can be odd).
        max_period (float, optional): The base of the frequencies.
            (default: :obj:`10000.0`)

    Returns:
        A tensor of shape :obj:`[N, dim]` (:obj:`[1, dim]` for a scalar
        :obj:`t`), in the default floating point type.
    """
    if dim < 1:
        raise ValueError(f"'dim' must be at least 1 (got {dim})")
    if not isinstance(t, Tensor):
        t = torch.tensor([t])
    t = t.reshape(-1).to(torch.get_default_dtype())
    half = (dim + 1) // 2
    exponent = torch.arange(half, device=t.device, dtype=t.dtype) * (-2 / dim)
    freqs = torch.exp(exponent * math.log(max_period))
    args = t.view(-1, 1) * freqs.view(1, -1)
    out = torch.stack([args.sin(), args.cos()], dim=-1).view(t.numel(), -1)
    return out[:, :dim]


class GaussianDiffusion(torch.nn.Module):
    r"""The Gaussian diffusion process of the `"Denoising Diffusion
    Probabilistic Models" <https://arxiv.org/abs/2006.11239>`_ paper (DDPM),
    in the notation of the `"Adaptive Diffusion-based Augmentation for
    Recommendation" <https://arxiv.org/abs/2601.01448>`_ paper (ADAR).

    It holds the schedule :math:`\beta_t`, :math:`\alpha_t = 1 - \beta_t` and
    :math:`\bar{\alpha}_t = \prod_{s=1}^t \alpha_s` as buffers and implements
    the forward (noising) process of Eq. (1–2)

    .. math::
        \mathbf{x}_t = \sqrt{\bar{\alpha}_t} \mathbf{x}_0 +
        \sqrt{1 - \bar{\alpha}_t} \boldsymbol{\epsilon}, \qquad
        \boldsymbol{\epsilon} \sim \mathcal{N}(\mathbf{0}, \mathbf{I}),

    and the reverse (denoising) step of Eq. (9–10) for a noise prediction
    :math:`\boldsymbol{\epsilon}_{\theta}(\mathbf{x}_t, t)`

    .. math::
        \mathbf{x}_{t-1} = \frac{1}{\sqrt{\alpha_t}} \left( \mathbf{x}_t -
        \frac{1 - \alpha_t}{\sqrt{1 - \bar{\alpha}_t}}
        \boldsymbol{\epsilon}_{\theta}(\mathbf{x}_t, t) \right) +
        \sigma_t \mathbf{z}, \qquad \sigma_t^2 = \beta_t,

    with :math:`\mathbf{z} \sim \mathcal{N}(\mathbf{0}, \mathbf{I})` for
    :math:`t > 1` and :math:`\mathbf{z} = \mathbf{0}` for :math:`t = 1`
    (Eq. (11) and Algorithm 2 of DDPM).

    .. note::

        Eq. (10) of the ADAR paper prints :math:`\sqrt{1 - \alpha_t}` in the
        denominator, and its Algorithm 1 (line 11) prints
        :math:`\bar{\alpha}_t` in place of every :math:`\alpha_t`; both are
        typos of the DDPM step above (also Eq. (4) of the ADAR paper), which
        is what is implemented.
        Eq. (10) further prints only the mean of the step; the
        :math:`\sigma_t \mathbf{z}` term of DDPM can be switched off via
        :obj:`posterior_noise=False`.

    Time steps :math:`t` run over :math:`1, \ldots, T`: :math:`t = 0` is the
    clean sample :math:`\mathbf{x}_0` and buffer entry :obj:`t - 1` holds the
    value for step :math:`t` (*e.g.*, :obj:`alphas_cumprod[t - 1]` is
    :math:`\bar{\alpha}_t`). Wherever a method takes :obj:`t`, it accepts an
    integer (the same step for all rows) or a :obj:`torch.long` tensor of
    shape :obj:`[N]` (one step per row); tensor values are not range-checked.

    Args:
        num_steps (int, optional): The number of diffusion steps :math:`T`.
            (default: :obj:`50`)
        schedule (str or torch.Tensor, optional): The noise schedule
            (:obj:`"linear"`, :obj:`"cosine"` or :obj:`"sigmoid"`), or a tensor
            of :math:`T` betas, see
            :func:`~adar_pyg.augment.beta_schedule`. (default: :obj:`"linear"`)
    """
    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    sqrt_recip_alphas_cumprod: Tensor
    sqrt_recipm1_alphas_cumprod: Tensor
    sqrt_recip_alphas: Tensor
    eps_coef: Tensor
    posterior_variance: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor

    def __init__(
        self,
        num_steps: int = 50,
        schedule: Union[str, Tensor] = 'linear',
    ) -> None:
        super().__init__()
        betas = beta_schedule(schedule, num_steps)  # Validates, in float64.
        self.num_steps = num_steps
        self.schedule = schedule if isinstance(schedule, str) else 'custom'

        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat(
            [betas.new_ones(1), alphas_cumprod[:-1]])

        buffers = {
            'betas': betas,
            'alphas': alphas,
            'alphas_cumprod': alphas_cumprod,
            'alphas_cumprod_prev': alphas_cumprod_prev,
            'sqrt_alphas_cumprod': alphas_cumprod.sqrt(),
            'sqrt_one_minus_alphas_cumprod': (1.0 - alphas_cumprod).sqrt(),
            'sqrt_recip_alphas_cumprod': alphas_cumprod.rsqrt(),
            'sqrt_recipm1_alphas_cumprod': (1.0 / alphas_cumprod - 1).sqrt(),
            # Reverse step (DDPM Eq. (11)):
            'sqrt_recip_alphas': alphas.rsqrt(),
            'eps_coef': betas / (1.0 - alphas_cumprod).sqrt(),
            # Posterior q(x_{t-1} | x_t, x_0) (DDPM Eq. (6-7)):
            'posterior_variance':
            betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            'posterior_mean_coef1':
            betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            'posterior_mean_coef2':
            (1.0 - alphas_cumprod_prev) * alphas.sqrt() /
            (1.0 - alphas_cumprod),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.to(torch.float32))

    def extract(self, buf: Tensor, t: TimeStep, x: Tensor) -> Tensor:
        r"""Gathers the schedule values :obj:`buf[t - 1]` (*e.g.*,
        :obj:`extract(self.alphas_cumprod, t, x)` for
        :math:`\bar{\alpha}_t`), shaped to broadcast against :obj:`x` of
        shape :obj:`[N, ...]`."""
        if isinstance(t, Tensor) and t.dim() > 0:
            out = buf.to(x.device)[t.to(x.device) - 1]
            return out.view(-1, *([1] * (x.dim() - 1)))
        t = int(t)
        if not 1 <= t <= self.num_steps:
            raise ValueError(f"Time step 't={t}' is out of range "
                             f"[1, {self.num_steps}]")
        return buf[t - 1].to(x.device)

    def sample_timesteps(self, num: int,
                         device: Optional[torch.device] = None) -> Tensor:
        r"""Draws :obj:`num` time steps uniformly from
        :math:`\{1, \ldots, T\}`."""
        return torch.randint(1, self.num_steps + 1, (num, ), device=device)

    def q_sample(self, x0: Tensor, t: TimeStep,
                 noise: Optional[Tensor] = None) -> Tensor:
        r"""Draws :math:`\mathbf{x}_t \sim q(\mathbf{x}_t \mid \mathbf{x}_0)`
        via Eq. (2).

        Args:
            x0 (torch.Tensor): The clean samples :math:`\mathbf{x}_0` of shape
                :obj:`[N, d]`.
            t (int or torch.Tensor): The time steps.
            noise (torch.Tensor, optional): The noise
                :math:`\boldsymbol{\epsilon}`. If set to :obj:`None`, will be
                drawn from :math:`\mathcal{N}(\mathbf{0}, \mathbf{I})`.
                (default: :obj:`None`)
        """
        if noise is None:
            noise = torch.randn_like(x0)
        return (self.extract(self.sqrt_alphas_cumprod, t, x0) * x0 +
                self.extract(self.sqrt_one_minus_alphas_cumprod, t, x0) *
                noise)

    def predict_x0(self, x_t: Tensor, t: TimeStep, eps: Tensor) -> Tensor:
        r"""Inverts Eq. (2) for :math:`\mathbf{x}_0`, given a (predicted)
        noise :math:`\boldsymbol{\epsilon}`:
        :math:`\hat{\mathbf{x}}_0 = (\mathbf{x}_t - \sqrt{1 - \bar{\alpha}_t}
        \boldsymbol{\epsilon}) / \sqrt{\bar{\alpha}_t}`."""
        return (self.extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t -
                self.extract(self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps)

    def predict_eps(self, x_t: Tensor, t: TimeStep, x0: Tensor) -> Tensor:
        r"""Inverts Eq. (2) for :math:`\boldsymbol{\epsilon}`, given a
        (predicted) :math:`\mathbf{x}_0`."""
        return ((self.extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t -
                 x0) / self.extract(self.sqrt_recipm1_alphas_cumprod, t, x_t))

    def q_posterior(self, x0: Tensor, x_t: Tensor,
                    t: TimeStep) -> Tuple[Tensor, Tensor]:
        r"""Returns the mean and variance of the forward process posterior
        :math:`q(\mathbf{x}_{t-1} \mid \mathbf{x}_t, \mathbf{x}_0)`
        (Eq. (6–7) of DDPM), with variance
        :math:`\tilde{\beta}_t = \frac{1 - \bar{\alpha}_{t-1}}{1 -
        \bar{\alpha}_t} \beta_t`."""
        mean = (self.extract(self.posterior_mean_coef1, t, x_t) * x0 +
                self.extract(self.posterior_mean_coef2, t, x_t) * x_t)
        var = self.extract(self.posterior_variance, t, x_t)
        return mean, var

    def p_mean_variance(self, x_t: Tensor, t: TimeStep, eps: Tensor,
                        clip_x0: Optional[float] = None
                        ) -> Tuple[Tensor, Tensor]:
        r"""Returns the mean :math:`\boldsymbol{\mu}_{\theta}(\mathbf{x}_t,
        t)` of the reverse step (Eq. (4), and Eq. (10) corrected) and its
        variance :math:`\sigma_t^2 = \beta_t`, given the predicted noise
        :obj:`eps`. The mean equals the posterior mean of
        :meth:`q_posterior` at :math:`\hat{\mathbf{x}}_0` of
        :meth:`predict_x0`.

        With :obj:`clip_x0=c`, the mean is computed in that posterior form
        with :math:`\hat{\mathbf{x}}_0` clamped to :math:`[-c, c]` (DDPM's
        "clipped denoising"): both posterior coefficients are at most
        :math:`1`, so that an untrained noise predictor cannot blow the
        states up through :math:`1 / \sqrt{\alpha_t}` (which is large where
        :math:`\beta_t \to 1`, at the end of rescaled schedules)."""
        var = self.extract(self.betas, t, x_t)
        if clip_x0 is not None:
            x0 = self.predict_x0(x_t, t, eps).clamp(-clip_x0, clip_x0)
            return self.q_posterior(x0, x_t, t)[0], var
        mean = self.extract(self.sqrt_recip_alphas, t, x_t) * (
            x_t - self.extract(self.eps_coef, t, x_t) * eps)
        return mean, var

    def p_step(
        self,
        x_t: Tensor,
        t: TimeStep,
        eps: Tensor,
        posterior_noise: bool = True,
        noise: Optional[Tensor] = None,
        clip_x0: Optional[float] = None,
    ) -> Tensor:
        r"""One reverse step :math:`\mathbf{x}_t \to \mathbf{x}_{t-1}`
        (Eq. (10), corrected; see the class description).

        Args:
            x_t (torch.Tensor): The current states of shape :obj:`[N, d]`.
            t (int or torch.Tensor): The current time steps.
            eps (torch.Tensor): The predicted noise
                :math:`\boldsymbol{\epsilon}_{\theta}(\mathbf{x}_t, t)`.
            posterior_noise (bool, optional): If set to :obj:`False`, returns
                the mean only (as printed in Eq. (10)). (default: :obj:`True`)
            noise (torch.Tensor, optional): The noise :math:`\mathbf{z}`. If
                set to :obj:`None`, will be drawn from
                :math:`\mathcal{N}(\mathbf{0}, \mathbf{I})`. It is not added
                to rows with :math:`t = 1`. (default: :obj:`None`)
            clip_x0 (float, optional): If set, clamps the predicted
                :math:`\hat{\mathbf{x}}_0` to :math:`[-c, c]`, see
                :meth:`p_mean_variance`. (default: :obj:`None`)
        """
        mean, var = self.p_mean_variance(x_t, t, eps, clip_x0)
        if not posterior_noise:
            return mean
        if isinstance(t, Tensor) and t.dim() > 0:
            nonzero = (t.to(x_t.device) > 1).view(-1, *([1] *
                                                         (x_t.dim() - 1)))
        elif int(t) > 1:
            nonzero = None
        else:
            return mean
        if noise is None:
            noise = torch.randn_like(x_t)
        out = var.sqrt() * noise
        if nonzero is not None:
            out = out * nonzero
        return mean + out

    def sample_at(
        self,
        denoise_fn: Callable[..., Tensor],
        x_T: Tensor,
        t_collect: Tensor,
        posterior_noise: bool = True,
        clip_x0: Optional[float] = None,
        cond: Sequence[Tensor] = (),
    ) -> Tensor:
        r"""Runs the reverse chain from :math:`\mathbf{x}_T` and returns, per
        row, the states at the requested time steps.

        The chain only runs down to the smallest requested step, the states
        are collected as the chain passes them, so that no list of all
        :math:`T` states is kept, and a row leaves the chain once its last
        requested state is collected: a step costs in proportion to the rows
        that still need it. To that end the rows are kept sorted by their
        last requested step (stable sort), so that the rows still in the
        chain are a prefix of that order, and the per-row conditions
        :obj:`cond` are permuted once. The noise :math:`\mathbf{z}` of a
        step is drawn for the rows still in the chain only, in that order.
        Run it under :obj:`torch.no_grad()` unless gradients through the
        chain are wanted.

        Args:
            denoise_fn (callable): Maps :obj:`(x_t, t, *cond_t)` to the
                predicted noise
                :math:`\boldsymbol{\epsilon}_{\theta}(\mathbf{x}_t, t)`, with
                :obj:`x_t` the states of the rows still in the chain,
                :obj:`t` an integer step and :obj:`cond_t` the tensors of
                :obj:`cond` restricted to those rows, in the same order.
            x_T (torch.Tensor): The initial states :math:`\mathbf{x}_T` of
                shape :obj:`[N, d]`, usually
                :math:`\mathcal{N}(\mathbf{0}, \mathbf{I})` noise (Eq. (9)).
            t_collect (torch.Tensor): The steps to collect, in
                :math:`\{0, \ldots, T\}`, of shape :obj:`[N]` or :obj:`[N, K]`
                (:math:`K` states per row). :math:`t = T` is :obj:`x_T`
                itself, :math:`t = 0` the end of the chain.
            posterior_noise (bool, optional): Whether to add
                :math:`\sigma_t \mathbf{z}` in every step, see :meth:`p_step`.
                (default: :obj:`True`)
            clip_x0 (float, optional): Clamps the predicted
                :math:`\hat{\mathbf{x}}_0` of every step to :math:`[-c, c]`,
                see :meth:`p_mean_variance`. (default: :obj:`None`)
            cond (sequence of torch.Tensor, optional): Per-row conditions
                (e.g. the user embeddings), each with :obj:`N` rows, handed
                to :obj:`denoise_fn` for the rows in the chain (pass
                :obj:`torch.arange(N)` to get the row indices).
                (default: :obj:`()`)

        Returns:
            A tensor of shape :obj:`[N, d]` or :obj:`[N, K, d]`.
        """
        if x_T.dim() != 2:
            raise ValueError(f"'x_T' must be of shape [N, d] "
                             f"(got {tuple(x_T.shape)})")
        num_rows = x_T.size(0)
        if t_collect.dim() not in (1, 2) or t_collect.size(0) != num_rows:
            raise ValueError(f"'t_collect' must be of shape [N] or [N, K] "
                             f"with N={num_rows} "
                             f"(got {tuple(t_collect.shape)})")
        if isinstance(cond, Tensor):
            raise TypeError("'cond' must be a sequence of tensors (e.g. "
                            "'cond=(user_emb, )'), not a tensor")
        for i, c in enumerate(cond):
            if c.size(0) != num_rows:
                raise ValueError(f"'cond[{i}]' must have N={num_rows} rows "
                                 f"(got {c.size(0)})")
        squeeze = t_collect.dim() == 1
        t_collect = t_collect.to(x_T.device)
        if squeeze:
            t_collect = t_collect.view(-1, 1)

        if t_collect.numel() == 0:
            out = x_T.new_empty(num_rows, t_collect.size(1), x_T.size(1))
            return out.squeeze(1) if squeeze else out

        t_min, t_max = (int(v) for v in torch.stack(
            [t_collect.min(), t_collect.max()]).tolist())
        if t_min < 0 or t_max > self.num_steps:
            raise ValueError(f"'t_collect' must lie in [0, {self.num_steps}] "
                             f"(got values in [{t_min}, {t_max}])")

        # Rows sorted by their last requested step, so that the rows still in
        # the chain at step t are a prefix of `order`:
        t_stop, order = t_collect.min(dim=1).values.sort(stable=True)
        t_sorted = t_collect[order]
        cond = tuple(c[order] for c in cond)
        # Number of rows still in the chain after step t (t_stop < t), t=T..1:
        steps = torch.arange(self.num_steps, 0, -1, device=x_T.device)
        num_active = torch.searchsorted(t_stop, steps).tolist()

        out = x_T.new_zeros(num_rows, t_collect.size(1), x_T.size(1))
        x = x_T[order]  # The states of the rows still in the chain.
        for t in range(self.num_steps, t_min - 1, -1):
            # Rows [n, x.size(0)) collect their last state at step t:
            n = 0 if t == t_min else num_active[self.num_steps - t]
            if t_sorted.size(1) == 1:
                out[n:x.size(0), 0] = x[n:]
            else:
                hit = (t_sorted[:x.size(0)] == t).unsqueeze(-1)
                out[:x.size(0)] = torch.where(hit, x.unsqueeze(1),
                                              out[:x.size(0)])
            if t == t_min:
                break
            x = x[:n]
            noise = None
            if posterior_noise and t > 1:
                noise = torch.randn_like(x)
            x = self.p_step(x, t, denoise_fn(x, t, *(c[:n] for c in cond)),
                            posterior_noise=posterior_noise, noise=noise,
                            clip_x0=clip_x0)

        out = out.index_copy(0, order, out)  # Back to the rows' order.
        return out.squeeze(1) if squeeze else out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # The schedule is fixed at construction (and named in `schedule`):
        # a state_dict of another schedule would swap it silently.
        betas = state_dict.get(prefix + 'betas')
        if isinstance(betas, Tensor) and (
                betas.shape != self.betas.shape or not torch.allclose(
                    betas.to(self.betas), self.betas, rtol=1e-6, atol=0.0)):
            error_msgs.append(
                f"{prefix}betas: the state_dict holds another noise "
                f"schedule than this {self.__class__.__name__}'s "
                f"({self.schedule!r}, {self.num_steps} steps): build the "
                f"module with the schedule and number of steps it was saved "
                f"with")
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_steps={self.num_steps}, '
                f'schedule={self.schedule!r})')

    def _table(self, values: Tensor, t: TimeStep, t0_value: float) -> Tensor:
        # `values` over t = 1..T, with `t0_value` prepended for t = 0:
        table = torch.cat([values.new_full((1, ), t0_value), values])
        if isinstance(t, Tensor):
            return table.to(t.device)[t]
        if not 0 <= int(t) <= self.num_steps:
            raise ValueError(f"Time step 't={t}' is out of range "
                             f"[0, {self.num_steps}]")
        return table[int(t)]

    def snr(self, t: TimeStep) -> Tensor:
        r"""The signal-to-noise ratio :math:`\textrm{SNR}(t) =
        \bar{\alpha}_t / (1 - \bar{\alpha}_t)` of step :obj:`t` (`"Variational
        Diffusion Models" <https://arxiv.org/abs/2107.00630>`_), for
        :math:`t \in \{0, \ldots, T\}` with :math:`\textrm{SNR}(0) = \infty`,
        as a tensor of the shape of :obj:`t` (computed from the square roots
        of :math:`\bar{\alpha}_t` and :math:`1 - \bar{\alpha}_t`, so that it
        is accurate also where :math:`\bar{\alpha}_t \approx 1`)."""
        ratio = self.sqrt_alphas_cumprod / self.sqrt_one_minus_alphas_cumprod
        return self._table(ratio.pow(2), t, math.inf)

    def posterior_log_variance(self, t: TimeStep) -> Tensor:
        r"""The log-variance :math:`\log \tilde{\beta}_t` of the forward
        process posterior :math:`q(\mathbf{x}_{t-1} \mid \mathbf{x}_t,
        \mathbf{x}_0)` (see :meth:`q_posterior`) for
        :math:`t \in \{1, \ldots, T\}`, "clipped" as in the DDPM reference
        code: :math:`\tilde{\beta}_1 = 0`, so step :math:`1` takes
        :math:`\log \tilde{\beta}_2` (needs :math:`T \geq 2`). Returns a
        tensor of the shape of :obj:`t`."""
        if self.num_steps < 2:
            raise ValueError("The clipped posterior log-variance needs at "
                             "least 2 diffusion steps")
        var = self.posterior_variance.clone()
        var[0] = var[1]
        if isinstance(t, Tensor):
            return var.log().to(t.device)[t - 1]
        return self.extract(var.log(), t, var)

    def denoise_x0(
        self,
        x0_fn: Callable[[Tensor, int], Tensor],
        x_t: Tensor,
        t_start: Tensor,
        posterior_noise: bool = False,
    ) -> Tensor:
        r"""Runs the reverse chain of a model that predicts the clean sample,
        :math:`\hat{\mathbf{x}}_0 = f_{\theta}(\mathbf{x}_t, t)`, from
        per-row start steps down to step :math:`0`: each step moves to the
        mean of the posterior :math:`q(\mathbf{x}_{t-1} \mid \mathbf{x}_t,
        \hat{\mathbf{x}}_0)` (see :meth:`q_posterior`), plus
        :math:`\tilde{\beta}_t^{1/2} \mathbf{z}` for :math:`t > 1` with
        :obj:`posterior_noise=True`. As :math:`\bar{\alpha}_0 = 1`, the last
        step returns :math:`\hat{\mathbf{x}}_0 = f_{\theta}(\mathbf{x}_1, 1)`.
        A row stays as it is until the chain reaches its start step; rows
        with start step :math:`0` are returned unchanged. A step costs in
        proportion to the rows that have started: the rows are kept sorted
        by start step, latest first (stable sort), so that the started rows
        are a prefix of that order, and the noise :math:`\mathbf{z}` of a
        step is drawn for them only, in that order.

        Args:
            x0_fn (callable): Maps :obj:`(x_t, t)` (a tensor :obj:`[N, d]` and
                an integer step shared by all rows) to
                :math:`\hat{\mathbf{x}}_0` of shape :obj:`[N, d]`.
            x_t (torch.Tensor): The start states of shape :obj:`[N, d]`,
                *e.g.*, :meth:`q_sample` at :obj:`t_start`.
            t_start (torch.Tensor): The start steps in
                :math:`\{0, \ldots, T\}`, a :obj:`torch.long` tensor of shape
                :obj:`[N]`.
            posterior_noise (bool, optional): Whether to sample the steps
                instead of taking their means. (default: :obj:`False`)
        """
        if (x_t.dim() != 2 or t_start.dim() != 1
                or t_start.numel() != x_t.size(0)):
            raise ValueError(f"Need 'x_t' of shape [N, d] and 't_start' of "
                             f"shape [N] (got {tuple(x_t.shape)} and "
                             f"{tuple(t_start.shape)})")
        if t_start.numel() == 0:
            return x_t
        t_start = t_start.to(x_t.device)
        t_min, t_max = (int(v) for v in torch.stack(
            [t_start.min(), t_start.max()]).tolist())
        if t_min < 0 or t_max > self.num_steps:
            raise ValueError(f"'t_start' must lie in [0, {self.num_steps}] "
                             f"(got values in [{t_min}, {t_max}])")
        # Rows by start step, latest first: the rows started at step t are
        # the first `num_started[t_max - t]` ones.
        neg_start, order = (-t_start).sort(stable=True)
        steps = torch.arange(t_max, 0, -1, device=x_t.device)
        num_started = torch.searchsorted(neg_start, -steps,
                                         right=True).tolist()
        x = x_t[order]
        for t, n in zip(range(t_max, 0, -1), num_started):
            mean, var = self.q_posterior(x0_fn(x[:n], t), x[:n], t)
            if posterior_noise and t > 1:
                mean = mean + var.sqrt() * torch.randn_like(mean)
            x = torch.cat([mean, x[n:]], dim=0)
        return x.index_copy(0, order, x)  # Back to the rows' order.
