import functools
import math

import pytest
import torch

from adar_pyg.augment import NegativeAugmenter

STRATEGIES = ['adaptive', 'random', 'fixed', 'mixed']
ALL_STRATEGIES = STRATEGIES + ['transition']


#: The paper's module (Eq. (11)'s t* on the reverse chain): the class's
#: defaults are the transition point with the forward source.
PaperAugmenter = functools.partial(NegativeAugmenter, strategy='adaptive',
                                   source='chain')


def embeddings(num=16, dim=8, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, num, dim, generator=gen, dtype=dtype).unbind(0)


def test_repr():
    # The settings that take part, given the strategy and the source:
    aug = NegativeAugmenter(64)
    assert str(aug) == ("NegativeAugmenter(64, num_steps=50, "
                        "strategy='transition', hardness=0.5, "
                        "source='forward', weight=0.7, schedule='linear', "
                        "normalize=True)")
    aug = NegativeAugmenter(8, num_steps=20, strategy='mixed', weight=0.1,
                            schedule='cosine', score='dot', clip_x0=None,
                            source='chain', hidden_channels=16)
    assert str(aug) == ("NegativeAugmenter(8, num_steps=20, strategy='mixed', "
                        "source='chain', weight=0.1, schedule='cosine', "
                        "normalize=True, clip_x0=None, posterior_noise=True, "
                        "max_x0_weight=1.0, hidden_channels=16, lr=0.001)")
    # Two adaptive augmenters that differ print apart:
    aug = NegativeAugmenter(8, strategy='adaptive', omega=2.0, score='dot')
    assert str(aug) == ("NegativeAugmenter(8, num_steps=50, "
                        "strategy='adaptive', score='dot', omega=2.0, k=1.0, "
                        "source='forward', weight=0.7, schedule='linear', "
                        "normalize=True)")
    aug = NegativeAugmenter(8, strategy='fixed', source='forward')
    assert str(aug) == ("NegativeAugmenter(8, num_steps=50, "
                        "strategy='fixed', source='forward', weight=0.7, "
                        "schedule='linear', normalize=True)")


@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('posterior_noise', [True, False])
@pytest.mark.parametrize('schedule', ['linear', 'cosine', 'sigmoid'])
@pytest.mark.parametrize('source', ['chain', 'forward'])
def test_forward(strategy, posterior_noise, schedule, source):
    aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                            schedule=schedule, hidden_channels=16,
                            posterior_noise=posterior_noise, source=source)
    u, i, j = embeddings()
    u.requires_grad_()
    i.requires_grad_()
    j.requires_grad_()
    out = aug(u, i, j)
    assert out.size() == (16, 8) and out.dtype == torch.float32
    assert not out.requires_grad
    assert bool(torch.isfinite(out).all())
    t_star = aug.last_t_star
    assert t_star.dtype == torch.long
    assert t_star.size() == ((16, 4) if strategy == 'mixed' else (16, ))
    assert int(t_star.min()) >= 1 and int(t_star.max()) <= 20


def test_forward_dtype():
    aug = PaperAugmenter(8, hidden_channels=16)
    u, i, _ = embeddings(dtype=torch.float64)
    assert aug(u, i).dtype == torch.float64
    assert aug.step(u, i) > 0


@pytest.mark.parametrize('num_steps', [20, 21, 50])
def test_adaptive_transition_step(num_steps):
    aug = PaperAugmenter(8, num_steps=num_steps)
    pos_score = torch.linspace(-20, 20, 401)
    t_star = aug.transition_step(pos_score)
    assert torch.equal(aug.last_t_star, t_star)
    assert t_star.dtype == torch.long and t_star.size() == (401, )
    assert bool((t_star[1:] >= t_star[:-1]).all())  # Monotone in p_s.
    assert int(t_star.min()) >= math.floor(num_steps / 2 + 0.5)  # > T / 2.
    assert int(t_star.max()) == num_steps

    # Eq. (11), with omega = k = 1 and rounding half up:
    for p_s in (-3.0, -0.5, 0.0, 0.3, 1.0, 2.0):
        expected = math.floor(
            1 / (1 + math.exp(-math.exp(p_s))) * num_steps + 0.5)
        assert int(aug.transition_step(torch.tensor([p_s]))) == expected


def test_adaptive_transition_step_omega_k():
    pos_score = torch.tensor([-1.0, 0.0, 0.5])
    aug = PaperAugmenter(8, num_steps=50, omega=0.5, k=2.0)
    expected = [
        math.floor(50 / (1 + math.exp(-0.5 * math.exp(2 * p))) + 0.5)
        for p in pos_score.tolist()
    ]
    assert aug.transition_step(pos_score).tolist() == expected


def test_adaptive_transition_step_overflow():
    aug = PaperAugmenter(8, num_steps=50, omega=1e30, k=100.0)
    pos_score = torch.tensor([-1e4, -1.0, 0.0, 1e4, float('inf'),
                              float('-inf')])
    t_star = aug.transition_step(pos_score)
    assert int(t_star.min()) >= 25 and int(t_star.max()) <= 50
    assert t_star[3] == 50 and t_star[4] == 50

    aug = PaperAugmenter(8, num_steps=50)
    t_star = aug.transition_step(pos_score.half())
    assert t_star.tolist() == [25, 30, 37, 50, 50, 25]


@pytest.mark.parametrize('num_steps', [1, 3, 20, 50])
def test_fixed_and_mixed_transition_step(num_steps):
    pos_score = torch.randn(5)
    aug = PaperAugmenter(8, num_steps=num_steps, strategy='fixed')
    half = max(1, math.floor(num_steps / 2 + 0.5))
    assert aug.transition_step(pos_score).tolist() == [half] * 5

    aug = PaperAugmenter(8, num_steps=num_steps, strategy='mixed')
    t_star = aug.transition_step(pos_score)
    steps = [max(1, math.floor(num_steps / m + 0.5)) for m in (2, 4, 8, 10)]
    assert aug.mixed_steps == tuple(steps)
    assert t_star.tolist() == [steps] * 5
    if num_steps == 50:
        assert steps == [25, 13, 6, 5]


def test_random_transition_step():
    torch.manual_seed(0)
    aug = PaperAugmenter(8, num_steps=10, strategy='random')
    t_star = aug.transition_step(torch.zeros(2000))
    assert set(t_star.tolist()) == set(range(1, 11))


def naive_forward(aug, u, i, noise, j=None):
    # Runs the full reverse chain, keeping all T + 1 states:
    D, T = aug.diffusion, aug.num_steps
    if aug.strategy == 'transition':  # scores in the diffusion's space
        su = u.pow(2).mean().sqrt() if aug.normalize else 1.0
        si = i.pow(2).mean().sqrt() if aug.normalize else 1.0
        t_star = aug.transition_step((u / su * i / si).sum(-1),
                                     (u / su * j / si).sum(-1))
    elif aug.score == 'dot':
        t_star = aug.transition_step((u * i).sum(-1))
    else:
        t_star = aug.transition_step((u * i).sum(-1) / (u.norm(dim=-1) *
                                                         i.norm(dim=-1)))
    scale = i.pow(2).mean().sqrt() if aug.normalize else 1.0
    if aug.normalize:  # the diffusion sees unit-RMS embeddings
        u = u / u.pow(2).mean().sqrt()
    x = torch.randn_like(u)
    # `noise` (the `chain_noise` fixture) draws as `sample_at` documents:
    t_stop = t_star if t_star.dim() == 1 else t_star.min(dim=1).values
    states = [None] * (T + 1)
    states[T] = x
    for t in range(T, 0, -1):
        eps = aug.denoiser(x, torch.full((u.size(0), ), t), u)
        if aug.clip_x0 is None:
            x = (x - D.betas[t - 1] / (1 - D.alphas_cumprod[t - 1]).sqrt() *
                 eps)
            x = x / D.alphas[t - 1].sqrt()
        else:  # DDPM's clipped denoising, through the posterior mean:
            ab, ab_prev = D.alphas_cumprod[t - 1], D.alphas_cumprod_prev[t - 1]
            x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            x0 = x0.clamp(-aug.clip_x0, aug.clip_x0)
            x = (D.betas[t - 1] * ab_prev.sqrt() * x0 +
                 (1 - ab_prev) * D.alphas[t - 1].sqrt() * x) / (1 - ab)
        if aug.posterior_noise and t > 1:
            x = x + D.betas[t - 1].sqrt() * noise(t_stop, t, x)
        states[t - 1] = x
    states = torch.stack(states, dim=1) * scale  # [N, T + 1, d]
    if t_star.dim() == 1:
        return states[torch.arange(u.size(0)), t_star]
    return torch.stack([states[:, t] for t in t_star[0].tolist()]).mean(0)


@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('posterior_noise', [True, False])
@pytest.mark.parametrize('normalize', [True, False])
@pytest.mark.parametrize('score,clip_x0', [('cosine', 5.0), ('dot', None),
                                            ('cosine', 0.5)])
def test_forward_equals_naive_chain(strategy, posterior_noise, normalize,
                                    score, clip_x0, chain_noise):
    torch.manual_seed(0)
    aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                            hidden_channels=16,
                            posterior_noise=posterior_noise,
                            normalize=normalize, score=score, clip_x0=clip_x0)
    u, i, j = embeddings(num=32)
    u, i, j = u * 0.05, i * 0.03, j * 0.03  # recommender-sized embeddings
    for _ in range(3):
        aug.step(u, i, j)

    torch.manual_seed(1)
    out = aug(u, i, j)
    t_star = aug.last_t_star
    torch.manual_seed(1)
    with torch.no_grad():
        expected = naive_forward(aug, u, i, chain_noise, j)
    assert torch.equal(aug.last_t_star, t_star)
    if strategy == 'transition':  # Rows leave the chain at several steps
        # (an audit under other seeds saw 5 or fewer distinct steps of 32
        # rows for about 7% of them; the check needs several, not many):
        assert len(set(t_star.tolist())) > 2
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('normalize', [True, False])
def test_forward_source_equals_q_sample(strategy, normalize):
    # source='forward': x_t* = sqrt(abar) x_0 + sqrt(1 - abar) eps (Eq. (2))
    # of the standardised positive, mapped back with its scale; 'mixed'
    # averages independent draws at its 4 steps.
    torch.manual_seed(0)
    aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                            hidden_channels=16, normalize=normalize,
                            source='forward')
    u, i, j = embeddings(num=32)
    u, i, j = u * 0.05, i * 0.03 + u * 0.5, j * 0.03
    torch.manual_seed(1)
    out = aug(u, i, j)
    t_star = aug.last_t_star

    torch.manual_seed(1)
    if strategy == 'random':  # the steps are drawn first
        torch.randint(1, 21, (32, ))
    si = i.pow(2).mean().sqrt() if normalize else 1.0
    D = aug.diffusion
    if strategy == 'mixed':
        eps = torch.randn(32, 4, 8)
        ab = D.alphas_cumprod[t_star - 1].unsqueeze(-1)  # [32, 4, 1]
        x = ab.sqrt() * (i / si).unsqueeze(1) + (1 - ab).sqrt() * eps
        expected = x.mean(dim=1) * si
    else:
        eps = torch.randn(32, 8)
        ab = D.alphas_cumprod[t_star - 1].view(-1, 1)
        expected = (ab.sqrt() * i / si + (1 - ab).sqrt() * eps) * si
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_forward_source_does_not_use_the_denoiser():
    torch.manual_seed(0)
    u, i, j = embeddings()
    aug = PaperAugmenter(8, num_steps=20, strategy='transition',
                            hidden_channels=16, source='forward')
    with torch.no_grad():
        for p in aug.denoiser.parameters():
            p.fill_(float('nan'))
    assert bool(torch.isfinite(aug(u, i, j)).all())

    # ... and step() does not train it, but draws what a training step
    # draws (runs re-run bit for bit with versions that trained it):
    aug.reset_parameters()
    before = [p.clone() for p in aug.denoiser.parameters()]
    torch.manual_seed(1)
    assert aug.step(u, i, j) == 0.0
    after_forward = torch.get_rng_state()
    assert all(torch.equal(a, b)
               for a, b in zip(before, aug.denoiser.parameters()))
    chain = PaperAugmenter(8, num_steps=20, strategy='transition',
                           hidden_channels=16, source='chain')
    torch.manual_seed(1)
    assert chain.step(u, i, j) > 0
    assert torch.equal(after_forward, torch.get_rng_state())
    with pytest.raises(ValueError, match='pos_emb'):
        aug.step(u, i[:, :4])


@pytest.mark.parametrize('num_steps,schedule', [
    (50, 'linear'),
    (50, 'cosine'),
    (20, 'linear'),
])
def test_trained_chain_recovers_items(num_steps, schedule):
    # 4 users, each mapped to a fixed item: the conditional reverse chain
    # should end close to the user's item, and much closer than noise is.
    torch.manual_seed(0)
    users, items = torch.randn(4, 8), torch.randn(4, 8)
    aug = PaperAugmenter(8, num_steps=num_steps, schedule=schedule,
                            hidden_channels=64)
    for _ in range(300):
        index = torch.randint(0, 4, (256, ))
        aug.step(users[index], items[index])

    index = torch.arange(4).repeat(64)
    with torch.no_grad():
        x0 = aug.diffusion.sample_at(
            lambda x, t, cond: aug.denoiser(x, t, cond),
            torch.randn(index.numel(), 8),
            torch.zeros(index.numel(), dtype=torch.long),
            cond=(users[index], ),
        )
    dist = (x0 - items[index]).norm(dim=-1).mean()
    noise_dist = (torch.randn(index.numel(), 8) -
                  items[index]).norm(dim=-1).mean()
    assert dist < 0.6 * noise_dist


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('normalize', [True, False])
def test_diffusion_loss(seed, normalize):
    u, i, _ = embeddings(seed=seed, dtype=torch.float64)
    if normalize:  # Both divided by their batch root-mean-square:
        x0, cond = i / i.pow(2).mean().sqrt(), u / u.pow(2).mean().sqrt()
    else:
        x0, cond = i, u
    for max_x0_weight in (None, 1.0, 0.0):
        aug = PaperAugmenter(8, hidden_channels=16, normalize=normalize,
                             max_x0_weight=max_x0_weight).double()
        torch.manual_seed(seed)
        loss = aug.diffusion_loss(u, i)

        # Eq. (8) through the forward equation, with the same draws:
        torch.manual_seed(seed)
        D = aug.diffusion
        t = D.sample_timesteps(16)
        noise = torch.randn_like(x0)
        x_t = D.q_sample(x0, t, noise)
        eps = aug.denoiser(x_t, t, cond)
        x0_hat = D.predict_x0(x_t, t, eps)
        eps_term = (noise - eps).pow(2).sum(-1)
        x0_term = (x0 - x0_hat).pow(2).sum(-1)
        if max_x0_weight is not None:
            w = (1 - D.alphas_cumprod[t - 1]) / D.alphas_cumprod[t - 1]
            x0_term = torch.where(w > max_x0_weight,
                                  max_x0_weight * eps_term, x0_term)
        expected = (eps_term + x0_term).mean()
        # float64 throughout; x0_term goes through x_t and back, whose
        # float32-rounded coefficients (shared by both sides) agree with
        # w_t to float32 precision (see test_gaussian_diffusion.py):
        assert torch.allclose(loss, expected, rtol=1e-6)


def test_gradient_flow():
    torch.manual_seed(0)
    aug = PaperAugmenter(8, hidden_channels=16, weight=0.5)
    u, i, j = embeddings()
    for x in (u, i, j):
        x.requires_grad_()

    # L_diff reaches the diffusion model, but not the encoder:
    aug.diffusion_loss(u, i).backward()
    assert u.grad is None and i.grad is None
    assert all(p.grad is not None for p in aug.denoiser.parameters())
    aug.step(u, i)
    assert u.grad is None and i.grad is None

    # D-BPR reaches the encoder, but not the diffusion model:
    aug.denoiser.zero_grad(set_to_none=True)
    neg_gen = aug(u, i)
    aug.loss(u, i, j, neg_gen).backward()
    assert all(p.grad is None for p in aug.denoiser.parameters())
    with torch.no_grad():
        neg = (u * j).sum(-1) + 0.5 * (u * neg_gen).sum(-1)
        s = torch.sigmoid(neg - (u * i).sum(-1)).view(-1, 1)
        # Including the lambda * e_u^T e_d term:
        expected = s * (j + 0.5 * neg_gen - i) / 16
    assert torch.allclose(u.grad, expected, atol=1e-6)
    assert not torch.allclose(u.grad, s * (j - i) / 16, atol=1e-6)


def test_loss_is_bpr_without_generated():
    aug = PaperAugmenter(8, weight=0.0)
    u, i, j = embeddings()
    d = torch.randn(16, 8)
    bpr = -torch.nn.functional.logsigmoid((u * i).sum(-1) -
                                          (u * j).sum(-1)).mean()
    assert torch.allclose(aug.loss(u, i, j, d), bpr)
    assert torch.allclose(PaperAugmenter(8).loss(u, i, j), bpr)


@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('source', ['chain', 'forward'])
def test_determinism(strategy, source):
    u, i, j = embeddings()

    def run():
        torch.manual_seed(42)
        aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                                hidden_channels=16, source=source)
        losses = [aug.step(u, i, j) for _ in range(3)]
        return losses, aug(u, i, j)

    losses1, out1 = run()
    losses2, out2 = run()
    assert losses1 == losses2
    assert torch.equal(out1, out2)


def test_step_trains():
    torch.manual_seed(0)
    aug = PaperAugmenter(8, hidden_channels=16)
    assert aug.optimizer is None
    u, i, _ = embeddings(num=64)
    before = [p.clone() for p in aug.denoiser.parameters()]
    loss = aug.step(u, i)
    assert isinstance(loss, float) and loss > 0
    assert isinstance(aug.optimizer, torch.optim.Adam)
    after = list(aug.denoiser.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))

    with torch.no_grad():  # Works within no_grad() too.
        aug.step(u, i)

    aug.double()  # Moving the module re-creates the optimizer.
    assert aug.optimizer is None
    aug.step(u.double(), i.double())


def test_reset_parameters():
    torch.manual_seed(0)
    aug = PaperAugmenter(8, hidden_channels=16)
    u, i, _ = embeddings()
    torch.manual_seed(1)
    aug.reset_parameters()
    state = {k: v.clone() for k, v in aug.state_dict().items()}

    for _ in range(3):
        aug.step(u, i)
    aug(u, i)
    assert aug.optimizer is not None and aug.last_t_star is not None
    assert not torch.equal(aug.state_dict()['denoiser.eta.0.weight'],
                           state['denoiser.eta.0.weight'])

    torch.manual_seed(1)
    aug.reset_parameters()
    assert aug.optimizer is None and aug.last_t_star is None
    for k, v in aug.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize('kwargs,match', [
    (dict(embedding_dim=0), "'embedding_dim' must be a positive integer"),
    (dict(num_steps=0), "'num_steps' must be a positive integer"),
    (dict(num_steps=2.5), "'num_steps' must be a positive integer"),
    (dict(weight=-0.1), r"'weight' must lie in \[0, 1\]"),
    (dict(weight=1.5), r"'weight' must lie in \[0, 1\]"),
    (dict(strategy='hard'),
     "'adaptive', 'random', 'fixed', 'mixed', 'transition'"),
    (dict(hardness=1.0), r"'hardness' must be in \[0, 1\)"),
    (dict(hardness=-0.1), r"'hardness' must be in \[0, 1\)"),
    (dict(source='reverse'),
     "Unknown source 'reverse' \\(valid options: 'chain', 'forward'\\)"),
    (dict(schedule='quadratic'), "'linear', 'cosine', 'sigmoid'"),
    (dict(omega=0.0), "'omega' must be a positive number"),
    (dict(k=-1.0), "'k' must be a positive number"),
    (dict(lr=0.0), "'lr' must be a positive number"),
    (dict(max_x0_weight=-1.0), "'max_x0_weight' must be a non-negative number"),
    (dict(score='l2'), "'cosine', 'dot'"),
    (dict(clip_x0=0.0), "'clip_x0' must be a positive number or None"),
])
def test_bad_arguments(kwargs, match):
    kwargs = {'embedding_dim': 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        PaperAugmenter(**kwargs)


@pytest.mark.parametrize('kwargs, match', [
    (dict(normalize='False'), "'normalize' must be True or False"),
    (dict(posterior_noise='no'), "'posterior_noise' must be True or False"),
    (dict(weight=True), r"'weight' must lie in \[0, 1\] \(got True\)"),
    (dict(weight='0.5'), r"'weight' must lie in \[0, 1\] \(got '0.5'\)"),
    (dict(clip_x0='5'), "'clip_x0' must be a positive number or None"),
    (dict(max_x0_weight=float('nan')), "'max_x0_weight' must be a non-neg"),
])
def test_bad_argument_types(kwargs, match):
    # (a string 'False' was taken as True, and repr said False)
    with pytest.raises(ValueError, match=match):
        NegativeAugmenter(8, **kwargs)


@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('source', ['chain', 'forward'])
def test_empty_batch(strategy, source):  # (mixed, step: an error)
    aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                         hidden_channels=16, source=source)
    empty = torch.empty(0, 8)
    assert aug.step(empty, empty, empty) == 0.0
    out = aug(empty, empty, empty)
    assert out.shape == (0, 8) and aug.diagnostics()['t_star'].isnan()
    with pytest.raises(ValueError, match='empty batch'):
        aug.loss(empty, empty, empty, out)


def test_device_and_move():
    aug = PaperAugmenter(8, num_steps=20, hidden_channels=16)
    u, i, j = embeddings()
    with pytest.raises(ValueError, match="'pos_emb' is on meta, the "
                       "NegativeAugmenter on cpu"):
        aug(u, i.to('meta'), j)
    aug.step(u, i)
    state = aug.optimizer_state()
    assert state is not None
    aug.to('cpu')  # Moves nothing: the optimizer (Adam's moments) stays.
    assert aug.optimizer_state() is not None
    aug.double()  # A cast: re-created at the next step.
    assert aug.optimizer is None


def test_state_dict_of_another_schedule():
    saved = NegativeAugmenter(8).state_dict()
    aug = NegativeAugmenter(8, schedule='cosine')
    with pytest.raises(RuntimeError, match="another noise schedule than "
                       "this GaussianDiffusion's \\('cosine', 50 steps\\)"):
        aug.load_state_dict(saved)
    NegativeAugmenter(8).load_state_dict(saved)  # The same: loads.


def test_bad_embeddings():
    aug = PaperAugmenter(8)
    u, i, j = embeddings()

    for method in (aug, aug.diffusion_loss, aug.step):
        with pytest.raises(ValueError, match=r"'pos_emb' must be of shape "
                           r"\[N, embedding_dim=8\] \(got \[16, 4\]\)"):
            method(u, i[:, :4])
        with pytest.raises(ValueError, match=r"'user_emb' must be of shape "
                           r"\[N, embedding_dim=8\] \(got \[16, 16\]\)"):
            method(torch.randn(16, 16), torch.randn(16, 16))
        with pytest.raises(ValueError, match='same batch size'):
            method(u, i[:10])
        with pytest.raises(ValueError, match='must be of shape'):
            method(u.view(-1), i.view(-1))
        with pytest.raises(TypeError, match='floating point tensor'):
            method(u.long(), i)
    with pytest.raises(ValueError, match="'neg_gen' must be of shape"):
        aug.loss(u, i, j, j[:, :4])
    with pytest.raises(ValueError, match='same batch size'):
        aug.loss(u, i, j[:8])

    for bad in (float('nan'), float('inf')):
        aug = PaperAugmenter(8)
        i_bad = i.clone()
        i_bad[3, 2] = bad
        with pytest.raises(ValueError, match="'pos_emb' contains NaN or inf"):
            aug(u, i_bad)
        with pytest.raises(ValueError, match="'user_emb' contains NaN"):
            aug.step(i_bad.flip(0), u)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
@pytest.mark.parametrize('strategy', ALL_STRATEGIES)
@pytest.mark.parametrize('source', ['chain', 'forward'])
def test_negative_augmenter_cuda(strategy, source):
    aug = PaperAugmenter(8, num_steps=20, strategy=strategy,
                            source=source).cuda()
    u, i, j = (x.cuda() for x in embeddings())
    u.requires_grad_()
    loss = aug.step(u, i, j)
    assert math.isfinite(loss)
    neg_gen = aug(u, i, j)
    assert neg_gen.is_cuda and neg_gen.size() == (16, 8)
    assert aug.last_t_star.is_cuda
    aug.loss(u, i, j, neg_gen).backward()
    assert u.grad is not None and u.grad.is_cuda
    aug.cpu()  # The optimizer follows the module.
    aug.step(u.detach().cpu(), i.cpu())


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_normalize_keeps_the_embedding_scale(strategy):
    torch.manual_seed(0)
    u, i, _ = embeddings(num=256, dim=16)
    u, i = u * 0.01, i * 0.02  # Xavier-sized embeddings
    rms = {}
    for normalize in (True, False):
        aug = PaperAugmenter(16, strategy=strategy, normalize=normalize)
        for _ in range(200):  # as in training: steps before generating
            aug.step(u, i)
        rms[normalize] = float(aug(u, i).pow(2).mean().sqrt())
    # the generated negatives live on the positives' scale (x_t has per-entry
    # variance <= 1 in the standardised space) ...
    assert 0.002 < rms[True] < 0.04
    # ... while the paper-literal chain from N(0, I) is ~50x larger
    assert rms[False] > 10 * rms[True]


def test_cosine_score_is_scale_free():
    u, i, _ = embeddings(num=64, dim=8)
    aug = PaperAugmenter(8, num_steps=50)
    t_small = aug.transition_step(aug.positive_score(u * 0.01, i))
    t_large = aug.transition_step(aug.positive_score(u * 100.0, i))
    assert torch.equal(t_small, t_large)
    # cos in [-1, 1] maps to sigmoid(exp(cos)) * T in [0.59 T, 0.94 T]:
    assert 29 <= int(t_small.min()) and int(t_small.max()) <= 47
    # The printed dot score saturates at T for large embeddings:
    dot = PaperAugmenter(8, num_steps=50, score='dot')
    pos = (u * i).sum(-1) > 0
    t_dot = dot.transition_step(dot.positive_score(u * 100.0, i))
    assert bool((t_dot[pos] == 50).all())


@pytest.mark.parametrize('num_steps', [20, 50])
def test_clip_x0_bounds_untrained_negatives(num_steps):
    # The untrained denoiser of the first batches: without clipping, steps
    # with beta_t close to 1 blow the states up; with it, they stay bounded.
    torch.manual_seed(0)
    u, i, _ = embeddings(num=512, dim=16)
    u, i = u * 0.01, i * 0.02
    ratios = {}
    for clip_x0 in (None, 5.0):
        aug = PaperAugmenter(16, num_steps=num_steps, strategy='fixed',
                                clip_x0=clip_x0)
        torch.manual_seed(1)
        with torch.no_grad():  # a large random last layer
            for layer in (aug.denoiser.gamma[-1], aug.denoiser.eta[-1]):
                layer.weight.normal_(0, 1.0)
        gen = aug(u, i)
        ratios[clip_x0] = float(gen.norm(dim=-1).mean() /
                                i.norm(dim=-1).mean())
    assert ratios[5.0] < 10.0
    assert ratios[None] > 5 * ratios[5.0]
