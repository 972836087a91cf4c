import math

import pytest
import torch

from adar_pyg.augment import NegativeAugmenter


def embeddings(num=16, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, num, dim, generator=gen).unbind(0)


def brute_force(aug, pos_score, neg_score):
    # Theorem 1's definition, step by step: the first t with
    # sqrt(abar_t) * mu+ <= mu-, with the documented fallbacks.
    sqrt_ab = aug.diffusion.sqrt_alphas_cumprod.double().tolist()
    T, h = aug.num_steps, aug.hardness
    out = []
    for p, s in zip(pos_score.double().tolist(),
                    neg_score.double().tolist()):
        mu_neg = s + h * (p - s)
        if p <= 0 or p <= mu_neg:
            out.append(1)
            continue
        t_star = T
        for t in range(1, T + 1):
            if sqrt_ab[t - 1] * p <= mu_neg:
                t_star = t
                break
        out.append(t_star)
    return out


def scores_with_edge_cases(aug, num=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(num, generator=gen, dtype=torch.float64) * 2
    neg = torch.randn(num, generator=gen, dtype=torch.float64) * 2
    sqrt_ab = aug.diffusion.sqrt_alphas_cumprod.double()
    T = aug.num_steps
    edge_pos = [0.0, -1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 1e-30, 5.0]
    edge_neg = [-1.0, 0.5, 1.0, 2.0, 0.0, -5.0, 1.999, -0.0, -1e-30, 5.0]
    # thresholds exactly on the schedule (hit only with h = 0) and just
    # below/above it:
    for k in sorted({0, 1, T // 2, T - 1} & set(range(T))):
        for factor in (1.0, 1 - 1e-12, 1 + 1e-12):
            edge_pos.append(1.5)
            edge_neg.append(float(sqrt_ab[k]) * 1.5 * factor)
    pos = torch.cat([pos, torch.tensor(edge_pos, dtype=torch.float64)])
    neg = torch.cat([neg, torch.tensor(edge_neg, dtype=torch.float64)])
    return pos, neg


@pytest.mark.parametrize('num_steps,schedule', [(50, 'linear'), (20, 'linear'),
                                                (20, 'cosine'),
                                                (7, 'sigmoid'), (1, 'linear')])
@pytest.mark.parametrize('hardness', [0.0, 0.3, 0.9])
def test_transition_equals_brute_force(num_steps, schedule, hardness):
    aug = NegativeAugmenter(8, num_steps=num_steps, schedule=schedule,
                            strategy='transition', hardness=hardness)
    pos, neg = scores_with_edge_cases(aug)
    t_star = aug.transition_from_scores(pos, neg)
    assert t_star.dtype == torch.long and t_star.size() == pos.size()
    assert t_star.tolist() == brute_force(aug, pos, neg)
    # float32 scores too (computed in float64 internally):
    t_star = aug.transition_from_scores(pos.float(), neg.float())
    assert t_star.tolist() == brute_force(aug, pos.float(), neg.float())


def test_transition_bracket():
    # sqrt(abar_t*) mu+ <= mu- < sqrt(abar_{t*-1}) mu+ (abar_0 = 1) where
    # no fallback applies: the discrete form of Theorem 1.
    aug = NegativeAugmenter(8, num_steps=50, strategy='transition',
                            hardness=0.25)
    pos, neg = scores_with_edge_cases(aug, num=500)
    t_star = aug.transition_from_scores(pos, neg)
    mu_neg = neg + 0.25 * (pos - neg)
    sqrt_ab = aug.diffusion.sqrt_alphas_cumprod.double()
    sqrt_ab_prev = torch.cat([sqrt_ab.new_ones(1), sqrt_ab[:-1]])
    regular = (pos > 0) & (mu_neg < pos) & (mu_neg >= sqrt_ab[-1] * pos)
    assert int(regular.sum()) > 100
    t = t_star[regular] - 1
    p, m = pos[regular], mu_neg[regular]
    assert bool((sqrt_ab[t] * p <= m).all())
    assert bool((m < sqrt_ab_prev[t] * p).all())
    # Theorem 1: abar_t* ~ (mu- / mu+)^2, within one step of the schedule:
    ratio2 = (m / p).pow(2)
    ab = aug.diffusion.alphas_cumprod.double()
    assert bool((ab[t] <= ratio2 + 1e-12).all())
    assert bool((ratio2 < sqrt_ab_prev[t].pow(2) + 1e-12).all())


def test_transition_fallbacks():
    aug = NegativeAugmenter(8, num_steps=20, strategy='transition',
                            hardness=0.5)
    T = 20
    pos = torch.tensor([0.0, -2.0, -2.0, 1.0, 1.0, 1.0, 1.0, 1e-8])
    neg = torch.tensor([-1.0, -3.0, 1.0, 1.0, 3.0, -1.0, -2.0, -1e-8])
    # mu+ <= 0 -> 1; s- >= mu+ (mu- >= mu+) -> 1; mu- <= 0 < mu+ -> T:
    expected = [1, 1, 1, 1, 1, T, T, T]
    assert aug.transition_from_scores(pos, neg).tolist() == expected

    # mu- just below sqrt(abar_T) mu+ -> T; just above -> < T:
    sqrt_ab_T = float(aug.diffusion.sqrt_alphas_cumprod.double()[-1])
    aug = NegativeAugmenter(8, num_steps=20, strategy='transition',
                            hardness=0.0)
    pos = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    neg = torch.tensor([0.5 * sqrt_ab_T, sqrt_ab_T, 0.999],
                       dtype=torch.float64)
    assert aug.transition_from_scores(pos, neg).tolist() == [T, T, 1]


def test_transition_monotone_in_positive_score():
    aug = NegativeAugmenter(8, num_steps=50, strategy='transition',
                            hardness=0.3)
    mu_pos = torch.linspace(-2, 20, 2001, dtype=torch.float64)
    # s- >= 0: mu-/mu+ = h + (1 - h) s-/mu+ falls with mu+, so t* rises
    # (Theorem 1), from the fallback t* = 1 while mu+ <= s-:
    for s in (0.0, 0.5, 2.0):
        t_star = aug.transition_from_scores(mu_pos, torch.full_like(mu_pos, s))
        assert bool((t_star[1:] >= t_star[:-1]).all())
        assert bool((t_star[mu_pos <= s] == 1).all())
        assert int(t_star[-1]) > 1
    # s- < 0: the ratio rises with mu+ > 0, so t* falls:
    s = -0.5
    positive = mu_pos[mu_pos > 0]
    t_star = aug.transition_from_scores(positive,
                                        torch.full_like(positive, s))
    assert bool((t_star[1:] <= t_star[:-1]).all())
    assert int(t_star[0]) == 50 and int(t_star[-1]) < 50


def test_transition_monotone_in_hardness():
    pos, neg = torch.tensor([3.0, 3.0, 1.0, 2.0]), torch.tensor([1.0, -1.0,
                                                                 0.2, 1.9])
    previous = None
    for h in torch.linspace(0, 0.99, 34).tolist():
        aug = NegativeAugmenter(8, num_steps=50, strategy='transition',
                                hardness=h)
        t_star = aug.transition_from_scores(pos, neg)
        if previous is not None:  # a larger h is harder: smaller t*
            assert bool((t_star <= previous).all())
        previous = t_star
    assert bool((previous < NegativeAugmenter(
        8, num_steps=50, strategy='transition',
        hardness=0.0).transition_from_scores(pos, neg)).any())


@pytest.mark.parametrize('normalize', [True, False])
def test_transition_scores_in_diffusion_space(normalize):
    torch.manual_seed(0)
    aug = NegativeAugmenter(8, num_steps=50, strategy='transition',
                            hardness=0.2, normalize=normalize,
                            hidden_channels=16)
    u, i, j = embeddings(num=64)
    c = torch.linspace(0.1, 2.0, 64).view(-1, 1)
    u, i, j = u * 0.05, i * 0.03 + c * u * 0.05, j * 0.03 + u * 0.02
    aug(u, i, j)
    t_star = aug.last_t_star
    su = u.pow(2).mean().sqrt() if normalize else 1.0
    si = i.pow(2).mean().sqrt() if normalize else 1.0
    cond, x0, neg = u / su, i / si, j / si
    expected = aug.transition_from_scores((cond * x0).sum(-1),
                                          (cond * neg).sum(-1))
    assert torch.equal(t_star, expected)
    assert len(set(t_star.tolist())) > 3
    assert aug.diagnostics()['t_star'] == t_star.float().mean()
    # The scale cancels in mu-/mu+: the raw dot products give the same t*.
    raw = aug.transition_from_scores((u * i).sum(-1), (u * j).sum(-1))
    assert torch.equal(raw, expected)


@pytest.mark.parametrize('hardness', [0.0, 0.4])
def test_forward_source_expected_score(hardness):
    # One user, positive and negative repeated over many rows: the mean user
    # score of the forward-noised positives estimates sqrt(abar_t*) mu+,
    # which lies within one step of the threshold mu-.
    torch.manual_seed(0)
    num, dim = 4096, 8
    u = torch.tensor([[1.0, 0.5, -0.3, 0.2, 0.8, -0.1, 0.4, 0.6]])
    i = u * 0.8 + 0.3 * torch.tensor([[0.2, -1.0, 0.5, 0.3, -0.4, 1.0, 0.1,
                                       -0.2]])
    j = u * 0.1 + 0.5 * torch.tensor([[1.0, 0.3, 0.2, -0.6, 0.1, 0.5, -0.9,
                                       0.4]])
    u, i, j = (x.repeat(num, 1) * 0.05 for x in (u, i, j))
    aug = NegativeAugmenter(dim, num_steps=50, strategy='transition',
                            source='forward', hardness=hardness)
    gen = aug(u, i, j)
    assert gen.size() == (num, dim)

    cond = u / u.pow(2).mean().sqrt()
    si = i.pow(2).mean().sqrt()
    x0, x_t = i / si, gen / si
    mu_pos = float((cond[0] * x0[0]).sum())
    s_neg = float((cond[0] * j[0] / si).sum())
    mu_neg = s_neg + hardness * (mu_pos - s_neg)
    assert mu_pos > mu_neg > 0

    t_star = aug.last_t_star
    assert bool((t_star == t_star[0]).all())
    t = int(t_star[0])
    assert 1 < t < 50
    ab = aug.diffusion.alphas_cumprod.double()
    sqrt_ab, sqrt_ab_prev = ab[t - 1].sqrt(), ab[t - 2].sqrt()
    assert sqrt_ab * mu_pos <= mu_neg < sqrt_ab_prev * mu_pos  # bracket

    # cond . x_t = sqrt(abar) mu+ + sqrt(1 - abar) cond . eps:
    score = (cond * x_t).sum(-1).double()
    expected = float(sqrt_ab) * mu_pos
    std_err = math.sqrt(1 - float(ab[t - 1])) * float(cond[0].norm()) / \
        math.sqrt(num)
    assert abs(float(score.mean()) - expected) < 4 * std_err
    assert float(score.std()) == pytest.approx(
        math.sqrt(1 - float(ab[t - 1])) * float(cond[0].norm()), rel=0.05)
    # ... and hence near mu-, up to one step of the schedule:
    step = float(sqrt_ab_prev - sqrt_ab) * mu_pos
    assert abs(float(score.mean()) - mu_neg) < step + 4 * std_err


def test_transition_needs_negative():
    aug = NegativeAugmenter(8, strategy='transition')
    assert aug.requires_negative
    assert not NegativeAugmenter(8, strategy='adaptive').requires_negative
    u, i, j = embeddings()
    with pytest.raises(ValueError, match="needs the sampled negatives: pass "
                       "'neg_emb'"):
        aug(u, i)
    with pytest.raises(ValueError, match="pass 'neg_score'"):
        aug.transition_step((u * i).sum(-1))
    with pytest.raises(ValueError, match="'neg_emb' must be of shape"):
        aug(u, i, j[:, :4])
    # The other strategies ignore it:
    NegativeAugmenter(8, num_steps=5, hidden_channels=8,
                      strategy='adaptive')(u, i)


def test_transition_bad_scores():
    aug = NegativeAugmenter(8, strategy='transition')
    good = torch.ones(3)
    for bad in (float('nan'), float('inf'), float('-inf')):
        scores = torch.tensor([1.0, bad, 0.5])
        with pytest.raises(ValueError, match='finite positive and negative'):
            aug.transition_from_scores(scores, good)
        with pytest.raises(ValueError, match='finite positive and negative'):
            aug.transition_from_scores(good, scores)
    with pytest.raises(ValueError, match='same number of rows'):
        aug.transition_from_scores(good, torch.ones(2))

    # NaN embeddings after the first call are caught too (every call):
    u, i, j = embeddings()
    aug(u, i, j)
    j_bad = j.clone()
    j_bad[2, 1] = float('nan')
    with pytest.raises(ValueError, match="'neg_emb' contains NaN"):
        aug(u, i, j_bad)


@pytest.mark.parametrize('hardness', [1.0, -0.1, 1.5, float('nan'), True,
                                      '0.5'])
def test_bad_hardness(hardness):
    with pytest.raises(ValueError, match=r"'hardness' must be in \[0, 1\)"):
        NegativeAugmenter(8, strategy='transition', hardness=hardness)


def test_transition_empty_batch():
    aug = NegativeAugmenter(8, strategy='transition')
    empty = torch.randn(0, 8)
    assert aug(empty, empty, empty).size() == (0, 8)
    assert aug.transition_from_scores(torch.ones(0), torch.ones(0)).numel() \
        == 0
