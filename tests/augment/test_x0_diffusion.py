import pytest
import torch

from adar_pyg.augment import (GaussianDiffusion, beta_schedule,
                              linear_variance_betas)


def test_linear_variance_schedule():
    betas = linear_variance_betas(20, 1e-5, 2e-3)
    assert betas.dtype == torch.float64 and betas.shape == (20, )
    abar = torch.cumprod(1 - betas, 0)
    torch.testing.assert_close(1 - abar,
                               torch.linspace(1e-5, 2e-3, 20,
                                              dtype=torch.float64))
    assert bool((betas[1:] >= betas[:-1]).all())
    # The named option is that schedule, not rescaled with T:
    assert torch.equal(beta_schedule('linear-variance', 20), betas)
    abar50 = torch.cumprod(1 - beta_schedule('linear-variance', 50), 0)
    assert float(1 - abar50[-1]) == pytest.approx(2e-3)
    with pytest.raises(ValueError, match='0 < start < end < 1'):
        linear_variance_betas(20, 2e-3, 1e-5)
    with pytest.raises(ValueError, match="'linear-variance'"):
        beta_schedule('quadratic', 20)


def test_snr_and_posterior_log_variance():
    diffusion = GaussianDiffusion(20, 'linear-variance')
    betas = beta_schedule('linear-variance', 20)
    abar = torch.cumprod(1 - betas, 0)
    t = torch.arange(0, 21)
    snr = diffusion.snr(t)
    assert snr.shape == (21, ) and snr[0] == float('inf')
    torch.testing.assert_close(snr[1:].double(), abar / (1 - abar),
                               rtol=1e-5, atol=0.0)
    assert float(diffusion.snr(3)) == pytest.approx(float(snr[3]))

    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    var = betas * (1 - abar_prev) / (1 - abar)
    logvar = diffusion.posterior_log_variance(t[1:]).double()
    torch.testing.assert_close(logvar[1:], var[1:].log(), rtol=1e-5,
                               atol=1e-5)
    assert logvar[0] == logvar[1]  # Clipped: log 0 replaced.
    assert float(diffusion.posterior_log_variance(1)) == pytest.approx(
        float(logvar[0]))
    with pytest.raises(ValueError, match='out of range'):
        diffusion.snr(21)
    with pytest.raises(ValueError, match='at least 2'):
        GaussianDiffusion(1).posterior_log_variance(1)


@pytest.mark.parametrize('posterior_noise', [False, True])
def test_denoise_x0_against_naive_chain(posterior_noise, chain_noise):
    diffusion = GaussianDiffusion(10, 'linear')
    torch.manual_seed(0)
    W = torch.randn(4, 4) * 0.3

    def x0_fn(x, t):
        return torch.tanh(x @ W) + 0.01 * t

    x = torch.randn(6, 4)
    t_start = torch.tensor([0, 1, 4, 10, 7, 4])
    torch.manual_seed(1)
    out = diffusion.denoise_x0(x0_fn, x, t_start, posterior_noise)

    torch.manual_seed(1)
    # Drawn for the started rows (t_start >= t) only, ordered by
    # (-t_start, row): the fixture's order with t_stop = -t_start.
    noises = {t: chain_noise(-t_start, 1 - t, x) for t in range(10, 1, -1)}
    for n in range(6):  # Row by row, step by step:
        state = x[n:n + 1]
        for t in range(int(t_start[n]), 0, -1):
            mean, var = diffusion.q_posterior(x0_fn(state, t), state, t)
            if posterior_noise and t > 1:
                mean = mean + var.sqrt() * noises[t][n:n + 1]
            state = mean
        torch.testing.assert_close(out[n:n + 1], state)
    assert torch.equal(out[0], x[0])  # Start step 0: unchanged.
    # The last step returns x0_hat itself (alpha_bar_0 = 1):
    torch.testing.assert_close(
        diffusion.denoise_x0(x0_fn, x, torch.ones(6, dtype=torch.long)),
        x0_fn(x, 1))


def test_denoise_x0_bad_inputs():
    diffusion = GaussianDiffusion(10)
    with pytest.raises(ValueError, match=r"'t_start' must lie in \[0, 10\]"):
        diffusion.denoise_x0(lambda x, t: x, torch.zeros(2, 3),
                             torch.tensor([1, 11]))
    with pytest.raises(ValueError, match="'t_start' of shape"):
        diffusion.denoise_x0(lambda x, t: x, torch.zeros(2, 3),
                             torch.tensor([1]))
