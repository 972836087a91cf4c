import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from adar_pyg import CausalNegativeAugmenter
from adar_pyg.augment import beta_schedule


def embeddings(num=16, dim=8, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return (0.3 * torch.randn(3, num, dim, generator=gen,
                              dtype=dtype)).unbind(0)


def test_repr():
    aug = CausalNegativeAugmenter(64)
    assert str(aug) == ("CausalNegativeAugmenter(64, num_steps=20, "
                        "start_steps=(10, 14, 18), "
                        "schedule='linear-variance', cl_weight=0.3, "
                        "diff_weight=1e-06, train_denoiser=True)")


@pytest.mark.parametrize('num_epochs', [2, 5, 120])
def test_curriculum_schedule(num_epochs):
    aug = CausalNegativeAugmenter(8)
    means = []
    for epoch in range(1, num_epochs + 1):
        aug.set_epoch(epoch, num_epochs)
        alpha, beta = aug.mix_parameters
        means.append(alpha / (alpha + beta))
        # Linear in the epoch, from (1, 9) to (9, 1):
        p = (epoch - 1) / (num_epochs - 1)
        assert alpha == pytest.approx(1 + 8 * p)
        assert beta == pytest.approx(9 - 8 * p)
    assert means[0] == pytest.approx(0.1) and means[-1] == pytest.approx(0.9)
    assert all(b > a for a, b in zip(means, means[1:]))


@pytest.mark.parametrize('epoch,expected', [(1, 0.1), (10, 0.9)])
def test_curriculum_samples(epoch, expected):
    torch.manual_seed(0)
    aug = CausalNegativeAugmenter(8)
    aug.set_epoch(epoch, 10)
    r = aug.mix_ratio(20000)
    assert r.shape == (20000, 1)
    assert bool(((r >= 0) & (r <= 1)).all())
    assert float(r.mean()) == pytest.approx(expected, abs=0.01)
    # Beta(1, 9) (or (9, 1)) has variance 9 / (100 * 11):
    assert float(r.var()) == pytest.approx(9 / 1100, rel=0.1)


def test_curriculum_epochs_and_edges():
    aug = CausalNegativeAugmenter(8, curriculum_epochs=5)
    aug.set_epoch(3, 1000)  # The curriculum's own length wins.
    assert aug.mix_parameters == pytest.approx((5.0, 5.0))
    aug.set_epoch(50, 1000)  # Stays at the end values afterwards.
    assert aug.mix_parameters == pytest.approx((9.0, 1.0))
    aug = CausalNegativeAugmenter(8)
    assert aug.mix_parameters == (1.0, 9.0)  # Before any set_epoch.
    aug.set_epoch(1, 1)
    assert aug.mix_parameters == (1.0, 9.0)
    aug.reset_parameters()
    assert aug.progress == 0.0
    with pytest.raises(ValueError, match='epoch >= 1'):
        aug.set_epoch(0, 10)


def test_select_hardest_equals_naive_loop():
    gen = torch.Generator().manual_seed(0)
    N, K, d = 50, 4, 6
    user = torch.randn(N, d, generator=gen, dtype=torch.float64)
    cands = torch.randn(N, K, d, generator=gen, dtype=torch.float64)
    cands[0, 2] = cands[0, 1]  # A tie: the first index wins.
    cands[1] = 0.0  # All tied.
    user[2] *= 100  # Scores where the sigmoid saturates.
    hard, index = CausalNegativeAugmenter.select_hardest(user, cands)
    for n in range(N):
        scores = [torch.sigmoid(user[n] @ cands[n, k]).item()
                  for k in range(K)]
        raw = [(user[n] @ cands[n, k]).item() for k in range(K)]
        best = max(range(K), key=lambda k: (raw[k], -k))  # First maximum.
        assert scores[best] == max(scores)
        assert int(index[n]) == best
        assert torch.equal(hard[n], cands[n, best])
    assert int(index[1]) == 0
    assert int(index[0]) != 2  # Never the second of two tied candidates.


def naive_candidates(aug, pos, noise):
    r"""Level by level and step by step, in float64: x_s = q(x_s | x_0), then
    x_{t-1} = posterior mean at f(x_t, t) for t = s, ..., 1, with the
    denoiser in evaluation mode."""
    aug.denoiser.eval()
    betas = beta_schedule('linear-variance', aug.num_steps)
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    out = []
    for k, s in enumerate(aug.start_steps):
        x0 = pos.double()
        x = abar[s - 1].sqrt() * x0 + (1 - abar[s - 1]).sqrt() * noise[k]
        for t in range(s, 0, -1):
            x0_hat = aug.denoiser(x.float(), t).double()
            c1 = betas[t - 1] * abar_prev[t - 1].sqrt() / (1 - abar[t - 1])
            c2 = (1 - abar_prev[t - 1]) * alphas[t - 1].sqrt() / (
                1 - abar[t - 1])
            x = c1 * x0_hat + c2 * x
        out.append(x)
    aug.denoiser.train()
    return torch.stack(out, dim=1)  # [N, K, d]


def test_candidates_and_forward_match_naive_reference():
    aug = CausalNegativeAugmenter(8, hidden_channels=16)
    user, pos, _ = embeddings()
    K, N = len(aug.start_steps), pos.size(0)
    torch.manual_seed(1)
    cands = aug.candidates(pos)
    torch.manual_seed(1)
    noise = torch.randn(K * N, 8).view(K, N, 8).double()
    expected = naive_candidates(aug, pos, noise)
    torch.testing.assert_close(cands.double(), expected, atol=1e-5, rtol=1e-4)
    assert aug.denoiser.training  # Restored after generating.

    torch.manual_seed(1)
    out = aug(user, pos)
    hard, index = aug.select_hardest(user, cands)
    torch.testing.assert_close(out, hard)
    steps = torch.tensor(aug.start_steps)
    assert torch.equal(aug.last_t_star, steps[index])
    assert not out.requires_grad


def test_generation_is_deterministic_given_the_noise():
    aug = CausalNegativeAugmenter(8, hidden_channels=16, dropout=0.5)
    user, pos, _ = embeddings()
    torch.manual_seed(3)
    a = aug(user, pos)
    torch.manual_seed(3)
    b = aug(user, pos)
    assert torch.equal(a, b)  # No dropout while generating.


def test_reconstruction_weight():
    aug = CausalNegativeAugmenter(8)
    abar = torch.cumprod(1 - beta_schedule('linear-variance', 20), 0)
    snr = abar / (1 - abar)
    t = torch.arange(1, 21)
    weight = aug.reconstruction_weight(t).double()
    assert weight[0] == 1.0
    torch.testing.assert_close(weight[1:], snr[:-1] - snr[1:], rtol=1e-4,
                               atol=0.0)
    assert bool((weight > 0).all())


def test_causal_regularization_closed_form():
    torch.manual_seed(0)
    aug = CausalNegativeAugmenter(8, causal_weight=0.1)
    N = 40
    t = torch.arange(N) % 20 + 1  # Every step, t = 1 included.
    x0_hat, x_prev = (0.05 * torch.randn(2, N, 8)).unbind(0)
    out = aug.causal_regularization(x0_hat, x_prev, t)

    # Posterior variances from the schedule in float64, clipped at t = 1
    # (the t = 1 value is that of t = 2), and variance 1 for step 0:
    betas = beta_schedule('linear-variance', 20)
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    var = betas * (1 - abar_prev) / (1 - abar)
    var[0] = var[1]
    var = torch.cat([torch.ones(1, dtype=var.dtype), var])  # Index = step.
    p = Normal(x0_hat.double(), var[t].sqrt().view(-1, 1).expand(N, 8))
    q = Normal(x_prev.double(), var[t - 1].sqrt().view(-1, 1).expand(N, 8))
    expected = 0.1 * kl_divergence(p, q).mean()
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-6)

    # The KL vanishes for equal means and t = 2 (equal clipped variances):
    t2 = torch.full((N, ), 2)
    assert float(aug.causal_regularization(x0_hat, x0_hat, t2)) == \
        pytest.approx(0.0, abs=1e-6)


def test_diffusion_loss_and_gradients():
    aug = CausalNegativeAugmenter(8, hidden_channels=16)
    _, pos, _ = embeddings()
    pos.requires_grad_()
    loss = aug.diffusion_loss(pos)
    value = float(loss.detach())
    assert loss.dim() == 0 and math.isfinite(value) and value > 0
    loss.backward()
    assert pos.grad is not None  # Reaches the encoder (w_diff term).
    assert aug.denoiser.lin1.weight.grad is not None


@pytest.mark.parametrize('train_denoiser', [True, False])
def test_step_trains_the_denoiser(train_denoiser):
    torch.manual_seed(0)
    aug = CausalNegativeAugmenter(8, hidden_channels=16,
                                  train_denoiser=train_denoiser)
    user, pos, _ = embeddings()
    before = [p.detach().clone() for p in aug.denoiser.parameters()]
    value = aug.step(user, pos)
    assert math.isfinite(value) and value > 0
    assert float(aug.last_diagnostics['diff_loss']) == pytest.approx(value)
    changed = [not torch.equal(a, b)
               for a, b in zip(before, aug.denoiser.parameters())]
    if train_denoiser:  # The reference's defect cannot come back.
        assert all(changed) and aug.optimizer is not None
    else:  # The reference's untrained generator, as an ablation.
        assert not any(changed) and aug.optimizer is None


def test_denoiser_learns():
    torch.manual_seed(0)
    aug = CausalNegativeAugmenter(8, hidden_channels=32, dropout=0.0,
                                  lr=1e-2)
    _, pos, _ = embeddings(num=64)

    def error():  # Reconstruction error at t = 1, evaluation mode.
        aug.denoiser.eval()
        with torch.no_grad():
            x_1 = aug.diffusion.q_sample(pos, 1)
            err = (aug.denoiser(x_1, 1) - pos).pow(2).mean()
        aug.denoiser.train()
        return float(err)

    start = error()
    for _ in range(200):
        aug.step(pos, pos)
    assert error() < 0.2 * start


def test_loss():
    aug = CausalNegativeAugmenter(8, cl_weight=0.0, diff_weight=0.0)
    user, pos, neg = embeddings()
    gen = embeddings(seed=1)[0]
    # Without a generated negative: plain BPR.
    bpr = torch.nn.functional.softplus((user * (neg - pos)).sum(-1)).mean()
    torch.testing.assert_close(aug.loss(user, pos, neg), bpr)

    aug.set_epoch(4, 10)
    torch.manual_seed(0)
    out = aug.loss(user, pos, neg, gen)
    torch.manual_seed(0)
    r = aug.mix_ratio(16)
    mixed = r * gen + (1 - r) * neg
    expected = -torch.nn.functional.logsigmoid(
        (user * (pos - mixed)).sum(-1)).mean()
    torch.testing.assert_close(out, expected)
    assert float(aug.last_diagnostics['mix_ratio']) == pytest.approx(
        float(r.mean()))


def test_loss_gradients():
    aug = CausalNegativeAugmenter(8)
    user, pos, neg = (x.clone().requires_grad_() for x in embeddings())
    gen = embeddings(seed=1)[0].requires_grad_()
    loss = aug.loss(user, pos, neg, gen)
    loss.backward()
    assert gen.grad is None  # Generated negatives are constants.
    for x in (user, pos, neg):
        assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    assert set(aug.last_diagnostics) == {'mix_ratio', 'cl_loss'}


def test_dtype():
    aug = CausalNegativeAugmenter(8, hidden_channels=16)
    user, pos, neg = embeddings(dtype=torch.float64)
    gen = aug(user, pos)
    assert gen.dtype == torch.float64 and gen.shape == (16, 8)
    assert aug.loss(user, pos, neg, gen).dtype == torch.float64
    assert aug.step(user, pos) > 0


@pytest.mark.parametrize('kwargs,message', [
    (dict(embedding_dim=0), "'embedding_dim' must be a positive integer"),
    (dict(num_steps=1), "'num_steps' must be an integer of at least 2"),
    (dict(start_steps=(10, 30)), "'start_steps' must be distinct integers"),
    (dict(start_steps=()), "'start_steps' must be distinct integers"),
    (dict(start_steps=(5, 5)), "'start_steps' must be distinct integers"),
    (dict(start_steps=(0, )), "'start_steps' must be distinct integers"),
    (dict(mix_alpha=(0.0, 9.0)), "'mix_alpha' must be a pair"),
    (dict(mix_beta=(9.0, )), "'mix_beta' must be a pair"),
    (dict(curriculum_epochs=0), "'curriculum_epochs' must be a positive"),
    (dict(cl_weight=-1.0), "'cl_weight' must be a non-negative number"),
    (dict(diff_weight=math.nan), "'diff_weight' must be a non-negative"),
    (dict(cl_temperature=0.0), "'cl_temperature' must be a positive"),
    (dict(lr=-1e-3), "'lr' must be a positive number"),
    (dict(dropout=1.0), "'dropout' must be in"),
    (dict(schedule='quadratic'), 'Unknown noise schedule'),
])
def test_bad_arguments(kwargs, message):
    kwargs = {'embedding_dim': 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        CausalNegativeAugmenter(**kwargs)


def test_bad_inputs():
    aug = CausalNegativeAugmenter(8)
    user, pos, neg = embeddings()
    with pytest.raises(ValueError, match='embedding_dim=8'):
        aug(user[:, :4], pos[:, :4])
    with pytest.raises(ValueError, match='same batch size'):
        aug.loss(user, pos[:3], neg)
    with pytest.raises(TypeError, match='floating point'):
        aug.step(user.long(), pos)


def test_half_precision_and_empty_batch():
    aug = CausalNegativeAugmenter(8, hidden_channels=16)
    user, pos, neg = embeddings()
    gen = aug(user, pos)
    # The Beta draw of the mixing ratio in half precision (torch has none):
    loss = aug.loss(user.half(), pos.half(), neg.half(), gen.half())
    assert loss.dtype == torch.float16 and bool(torch.isfinite(loss))
    empty = torch.empty(0, 8)
    assert aug.step(empty, empty) == 0.0
    assert aug(empty, empty).shape == (0, 8)
