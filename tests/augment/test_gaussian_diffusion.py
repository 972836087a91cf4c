import math

import pytest
import torch

from adar_pyg.augment import (GaussianDiffusion, beta_schedule,
                               timestep_embedding)


def test_timestep_embedding():
    t = torch.tensor([0, 1, 7, 50])

    def naive(dim):
        out = torch.empty(4, dim)
        for n, step in enumerate(t.tolist()):
            for j in range(dim):  # sin at 2i, cos at 2i + 1:
                freq = 10000**(-2 * (j // 2) / dim)
                fn = math.sin if j % 2 == 0 else math.cos
                out[n, j] = fn(step * freq)
        return out

    out = timestep_embedding(t, 6)
    assert out.size() == (4, 6) and out.dtype == torch.float32
    assert torch.allclose(out, naive(6), atol=1e-5)
    assert torch.allclose(timestep_embedding(7, 6), out[2:3])
    assert torch.allclose(timestep_embedding(t, 5), naive(5), atol=1e-5)
    with pytest.raises(ValueError, match="'dim' must be at least 1"):
        timestep_embedding(t, 0)


@pytest.mark.parametrize('schedule', ['linear', 'cosine', 'sigmoid'])
def test_gaussian_diffusion_buffers(schedule):
    diffusion = GaussianDiffusion(20, schedule)
    assert str(diffusion) == (f"GaussianDiffusion(num_steps=20, "
                              f"schedule='{schedule}')")
    for name, buf in diffusion.named_buffers():
        assert buf.size() == (20, ) and buf.dtype == torch.float32, name
    assert torch.allclose(diffusion.alphas, 1 - diffusion.betas)
    assert torch.allclose(diffusion.alphas_cumprod,
                          torch.cumprod(diffusion.alphas, dim=0))
    assert diffusion.alphas_cumprod_prev[0] == 1

    betas = torch.linspace(0.01, 0.2, 8)
    assert str(GaussianDiffusion(8, betas)) == (
        "GaussianDiffusion(num_steps=8, schedule='custom')")


def test_extract():
    diffusion = GaussianDiffusion(10)
    x = torch.randn(3, 4)
    # t runs over 1..T and buffer entry t - 1 holds step t:
    assert diffusion.extract(diffusion.betas, 1, x) == diffusion.betas[0]
    out = diffusion.extract(diffusion.betas, torch.tensor([1, 5, 10]), x)
    assert out.size() == (3, 1)
    assert torch.equal(out.view(-1), diffusion.betas[[0, 4, 9]])
    for t in (0, 11):
        with pytest.raises(ValueError, match=r'out of range \[1, 10\]'):
            diffusion.extract(diffusion.betas, t, x)


@pytest.mark.parametrize('schedule', ['linear', 'cosine'])
@pytest.mark.parametrize('t', [1, 10, 25, 50])
def test_forward_process_statistics(schedule, t):
    torch.manual_seed(12345)
    diffusion = GaussianDiffusion(50, schedule)
    x0 = torch.tensor([2.0, -1.0, 0.5, 0.0])
    x_t = diffusion.q_sample(x0.expand(40000, -1), t)

    alpha_cumprod = diffusion.alphas_cumprod[t - 1]
    assert torch.allclose(x_t.mean(dim=0), alpha_cumprod.sqrt() * x0,
                          atol=0.02)
    assert torch.allclose(x_t.var(dim=0), (1 - alpha_cumprod).expand(4),
                          rtol=0.05, atol=1e-4)


# Each buffer is computed in float64 and rounded once to float32, so a
# buffer c holds c (1 + d) with |d| <= U; a result that sums terms c_i y_i is
# off by at most U * sum |c_i y_i| (to first order: the factor 1.001 covers
# the rest, and 1e-12 the float64 arithmetic of the test).
U = torch.finfo(torch.float32).eps / 2


def rounding_bound(*terms):
    return 1.001 * U * sum(term.abs() for term in terms) + 1e-12


def float64_schedule(schedule, num_steps, t):
    # The exact coefficients at steps t, from the float64 schedule:
    betas = beta_schedule(schedule, num_steps)
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    ab = alphas_cumprod[t - 1].view(-1, 1)
    ab_prev = torch.cat([betas.new_ones(1), alphas_cumprod])[t - 1]
    return betas[t - 1].view(-1, 1), ab, ab_prev.view(-1, 1)


@pytest.mark.parametrize('seed', range(5))
def test_q_sample_and_inverse(seed):
    torch.manual_seed(seed)
    diffusion = GaussianDiffusion(50).double()
    x0 = torch.randn(6, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([1, 2, 10, 25, 49, 50])
    _, ab = float64_schedule('linear', 50, t)[:2]
    s1, s2 = ab.sqrt(), (1 - ab).sqrt()  # Eq. (3).
    r1, r2 = ab.rsqrt(), (1 / ab - 1).sqrt()  # Its inverse.

    x_t = diffusion.q_sample(x0, t, noise)
    bound = rounding_bound(s1 * x0, s2 * noise)
    assert ((x_t - (s1 * x0 + s2 * noise)).abs() <= bound).all()

    x0_hat = diffusion.predict_x0(x_t, t, noise)
    assert ((x0_hat - (r1 * x_t - r2 * noise)).abs() <=
            rounding_bound(r1 * x_t, r2 * noise)).all()
    # The inverse: q_sample's error is amplified by up to
    # 1 / sqrt(alpha_cumprod_T) (~360 here):
    assert ((x0_hat - x0).abs() <=
            r1 * bound + rounding_bound(r1 * x_t, r2 * noise)).all()

    eps_hat = diffusion.predict_eps(x_t, t, x0)
    expected = (r1 * x_t - x0) / r2
    assert ((eps_hat - expected).abs() <=
            rounding_bound(r1 * x_t / r2, expected)).all()
    # (eps_hat - expected) + (expected - noise), the second being q_sample's
    # error times r1 / r2:
    assert ((eps_hat - noise).abs() <=
            r1 * bound / r2 + rounding_bound(r1 * x_t / r2, expected)).all()

    # An integer t applies to all rows:
    assert torch.equal(diffusion.q_sample(x0, 10, noise),
                       diffusion.q_sample(x0, t.new_full((6, ), 10), noise))


@pytest.mark.parametrize('schedule', ['linear', 'cosine', 'sigmoid'])
@pytest.mark.parametrize('seed', range(3))
def test_reverse_step_is_ddpm(schedule, seed):
    torch.manual_seed(seed)
    diffusion = GaussianDiffusion(20, schedule).double()
    x_t = torch.randn(5, 3, dtype=torch.float64)
    eps = torch.randn_like(x_t)
    z = torch.randn_like(x_t)

    for t in (1, 2, 10, 20):
        beta, ab, ab_prev = float64_schedule(schedule, 20, torch.tensor([t]))
        alpha = 1 - beta
        # DDPM, Algorithm 2 (Eq. (10) of ADAR with its typos corrected):
        c1, c2 = alpha.rsqrt(), beta / (alpha * (1 - ab)).sqrt()
        mean = c1 * x_t - c2 * eps
        # sqrt_recip_alphas and eps_coef are rounded: c1 (x_t - c' eps):
        mean_bound = rounding_bound(c1 * x_t, c2 * eps, c2 * eps)
        expected = mean + (beta.sqrt() * z if t > 1 else 0)

        out = diffusion.p_step(x_t, t, eps, posterior_noise=False, noise=z)
        assert ((out - mean).abs() <= mean_bound).all()
        out = diffusion.p_step(x_t, t, eps, noise=z)
        # The posterior variance is one more rounded buffer:
        assert ((out - expected).abs() <=
                mean_bound + rounding_bound(beta.sqrt() * z)).all()

        # The mean equals the posterior mean (DDPM Eq. (7)) at x0_hat:
        r1, r2 = ab.rsqrt(), (1 / ab - 1).sqrt()
        x0_hat = diffusion.predict_x0(x_t, t, eps)
        x0_bound = rounding_bound(r1 * x_t, r2 * eps)
        m1 = beta * ab_prev.sqrt() / (1 - ab)
        m2 = (1 - ab_prev) * alpha.sqrt() / (1 - ab)
        posterior_mean, _ = diffusion.q_posterior(x0_hat, x_t, t)
        assert ((posterior_mean - mean).abs() <=
                m1 * x0_bound + rounding_bound(m1 * x0_hat, m2 * x_t)).all()

    # Per-row steps; no noise on rows with t = 1:
    t = torch.tensor([1, 2, 1, 20, 5])
    out = diffusion.p_step(x_t, t, eps, noise=z)
    for n in range(5):
        expected = diffusion.p_step(x_t[n:n + 1], int(t[n]), eps[n:n + 1],
                                    noise=z[n:n + 1])
        assert torch.equal(out[n:n + 1], expected)


def test_q_posterior_variance():
    diffusion = GaussianDiffusion(10).double()
    x = torch.zeros(1, 1, dtype=torch.float64)
    _, var = diffusion.q_posterior(x, x, 1)
    assert var == 0  # \tilde{beta}_1 = 0.
    _, var = diffusion.q_posterior(x, x, 5)
    ab = diffusion.alphas_cumprod
    assert torch.isclose(var, diffusion.betas[4] * (1 - ab[3]) / (1 - ab[4]))


def naive_chain(diffusion, denoise_fn, x_T, posterior_noise, t_stop, noise):
    # Keeps all T + 1 states of all rows; `noise` is the `chain_noise` fixture.
    states = {diffusion.num_steps: x_T}
    x = x_T
    for t in range(diffusion.num_steps, 0, -1):
        eps = denoise_fn(x, t, torch.arange(x.size(0)))
        mean = (x - diffusion.betas[t - 1] /
                (1 - diffusion.alphas_cumprod[t - 1]).sqrt() * eps)
        x = mean / diffusion.alphas[t - 1].sqrt()
        if posterior_noise and t > 1:
            x = x + diffusion.betas[t - 1].sqrt() * noise(t_stop, t, x)
        states[t - 1] = x
    return states


@pytest.mark.parametrize('posterior_noise', [True, False])
@pytest.mark.parametrize('shape', [(7, ), (7, 3)])
def test_sample_at_equals_naive_chain(posterior_noise, shape, chain_noise):
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(12, 'cosine')
    weight = torch.eye(4) + torch.randn(4, 4) * 0.1
    bias = torch.randn(7, 4) * 0.1  # A per-row condition.

    def denoise_fn(x, t, rows):
        return x @ weight + 0.01 * t + bias[rows]

    t_collect = torch.randint(2, 13, shape)
    t_collect[0] = 12  # x_T itself.
    t_collect[3] = t_collect[4]  # Ties keep the rows' order.
    x_T = torch.randn(7, 4)

    torch.manual_seed(1)
    out = diffusion.sample_at(denoise_fn, x_T, t_collect, posterior_noise,
                              cond=(torch.arange(7), ))
    torch.manual_seed(1)
    t_stop = t_collect.view(7, -1).min(dim=1).values
    states = naive_chain(diffusion, denoise_fn, x_T, posterior_noise, t_stop,
                         chain_noise)

    assert out.size() == shape + (4, )
    expected = torch.stack([
        torch.stack([states[int(t)][n] for t in t_collect[n].view(-1)])
        for n in range(7)
    ]).view(out.size())
    # Rows leave the chain at different steps (float rounding of subsets):
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(out[0].view(-1, 4)[0], x_T[0])

    # Down to the end of the chain:
    t_collect = torch.zeros(7, dtype=torch.long)
    torch.manual_seed(1)
    out = diffusion.sample_at(denoise_fn, x_T, t_collect, posterior_noise,
                              cond=(torch.arange(7), ))
    torch.manual_seed(1)
    states = naive_chain(diffusion, denoise_fn, x_T, posterior_noise,
                         t_collect, chain_noise)
    assert torch.allclose(out, states[0], rtol=1e-5, atol=1e-6)


def test_sample_at_stops_at_smallest_step():
    diffusion = GaussianDiffusion(10)
    calls = []

    def denoise_fn(x, t, rows, payload):
        assert x.size(0) == rows.numel() == payload.size(0)
        assert torch.equal(payload, 10 * rows)
        calls.append((t, sorted(rows.tolist())))
        return torch.zeros_like(x)

    diffusion.sample_at(denoise_fn, torch.randn(3, 2), torch.tensor([9, 6, 8]),
                        cond=(torch.arange(3), 10 * torch.arange(3)))
    # Rows leave the chain once their state is collected:
    assert calls == [(10, [0, 1, 2]), (9, [1, 2]), (8, [1]), (7, [1])]


def test_sample_at_row_order_is_stable():
    # Rows enter the chain sorted by their last requested step, ties in row
    # order (the order the noise draws follow), at a size where an unstable
    # sort would reorder ties:
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(5)
    t_collect = torch.randint(0, 3, (500, ))
    seen = []

    def denoise_fn(x, t, rows):
        seen.append(rows.clone())
        return torch.zeros_like(x)

    diffusion.sample_at(denoise_fn, torch.randn(500, 2), t_collect,
                        cond=(torch.arange(500), ))
    expected = sorted(range(500), key=lambda n: (int(t_collect[n]), n))
    assert seen[0].tolist() == expected
    assert seen[-1].tolist() == expected[:seen[-1].numel()]


def test_p_step_clip_x0():
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(20).double()  # beta_T close to 1.
    x_t = torch.randn(5, 3, dtype=torch.float64)
    eps = torch.randn(5, 3, dtype=torch.float64) * 50  # A wild predictor.
    for t in (20, 7, 1):
        out = diffusion.p_step(x_t, t, eps, posterior_noise=False,
                               clip_x0=2.0)
        x0 = diffusion.predict_x0(x_t, t, eps).clamp(-2.0, 2.0)
        ab, ab_prev = diffusion.alphas_cumprod[t - 1], (
            diffusion.alphas_cumprod_prev[t - 1])
        beta = diffusion.betas[t - 1]
        expected = (beta * ab_prev.sqrt() / (1 - ab) * x0 +
                    (1 - ab_prev) * (1 - beta).sqrt() / (1 - ab) * x_t)
        assert torch.allclose(out, expected)
        assert out.abs().max() <= 2.0 + x_t.abs().max()
    # Without clipping, equals the noise form; with a large bound, too:
    for t in (20, 7):
        a = diffusion.p_step(x_t, t, eps / 50, posterior_noise=False)
        b = diffusion.p_step(x_t, t, eps / 50, posterior_noise=False,
                             clip_x0=1e9)
        assert torch.allclose(a, b)


def test_sample_at_bad_input():
    diffusion = GaussianDiffusion(10)

    def denoise_fn(x, t):
        return x

    x_T = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r'must lie in \[0, 10\]'):
        diffusion.sample_at(denoise_fn, x_T, torch.tensor([1, 11, 3]))
    with pytest.raises(ValueError, match=r'must lie in \[0, 10\]'):
        diffusion.sample_at(denoise_fn, x_T, torch.tensor([1, -1, 3]))
    with pytest.raises(ValueError, match='N=3'):
        diffusion.sample_at(denoise_fn, x_T, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r'\[N, d\]'):
        diffusion.sample_at(denoise_fn, x_T.view(-1), torch.tensor([1, 2]))
    with pytest.raises(TypeError, match='sequence of tensors'):
        diffusion.sample_at(denoise_fn, x_T, torch.tensor([1, 2, 3]),
                            cond=torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"'cond\[0\]' must have N=3 rows"):
        diffusion.sample_at(denoise_fn, x_T, torch.tensor([1, 2, 3]),
                            cond=(torch.zeros(2), ))
