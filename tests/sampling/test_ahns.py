import pytest
import torch

from adar_pyg.nn import LightGCN
from adar_pyg.sampling import SAMPLERS, AHNSSampler
from adar_pyg.train import CFTask, Trainer

from test_dns import random_graph


@pytest.mark.parametrize('seed', range(8))
def test_never_returns_a_train_positive(seed):
    mask, U, I, g = random_graph(seed)
    sampler = AHNSSampler(mask.nonzero().t(), U, I, num_candidates=5)
    users = torch.randint(U, (300, ), generator=g)
    pos = torch.randint(I, (300, ), generator=g)
    user_emb = torch.randn(U, 4, generator=g)
    item_emb = torch.randn(I, 4, generator=g)
    neg = sampler.sample(users, pos, user_emb, item_emb, g)
    assert neg.shape == users.shape and neg.dtype == torch.long
    assert not mask[users, neg].any()


def naive_ahns(users, pos, cands, user_emb, item_emb, alpha, beta, p, eps):
    out = []
    for b in range(users.numel()):
        u = user_emb[users[b]]
        base = float(u @ item_emb[pos[b]]) + alpha
        if base <= eps and p + 1 < 0:  # limit: the highest-scored candidate
            scores = [float(u @ item_emb[j]) for j in cands[b].tolist()]
            out.append(cands[b, scores.index(max(scores))].item())
            continue
        target = beta * max(base, eps)**(p + 1)
        best, best_gap = None, float('inf')
        for j in cands[b].tolist():
            gap = abs(float(u @ item_emb[j]) - target)
            if gap < best_gap:
                best, best_gap = j, gap
        out.append(best)
    return torch.tensor(out)


@pytest.mark.parametrize('alpha,beta,p', [(1.0, 0.1, -2.0), (0.5, 1.0, -3.0),
                                          (2.0, 0.3, 0.5)])
def test_selection_equals_naive_loop(alpha, beta, p):
    mask, U, I, _ = random_graph(5, density=0.3)
    sampler = AHNSSampler(mask.nonzero().t(), U, I, 8, alpha, beta, p)
    users, pos = torch.randint(U, (60, )), torch.randint(I, (60, ))
    user_emb, item_emb = torch.randn(U, 6), torch.randn(I, 6)
    neg = sampler.sample(users, pos, user_emb, item_emb,
                         torch.Generator().manual_seed(1))
    cands = sampler.random_negatives(users, 8,
                                     torch.Generator().manual_seed(1))
    ref = naive_ahns(users, pos, cands, user_emb, item_emb, alpha, beta, p,
                     sampler.eps)
    assert torch.equal(neg, ref)


def test_guard_for_non_positive_base():
    """s_pos + alpha <= 0: the limit s_pos + alpha -> 0+ of the criterion, an
    infinite target, i.e. the highest-scored candidate (DNS); no NaN."""
    U, I = 3, 10
    sampler = AHNSSampler(torch.tensor([[0, 1, 2], [0, 0, 0]]), U, I, 9)
    user_emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    item_emb = torch.randn(I, 2)
    item_emb[0] = torch.tensor([-5.0, 0.0])  # s_pos = -5 < -alpha
    users, pos = torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0])
    target = sampler.target(torch.tensor([-5.0, -1.0]))
    assert target.isinf().all() and not target.isnan().any()
    # p >= -1: the base is clamped to eps instead
    flat = AHNSSampler(torch.tensor([[0], [0]]), 1, 3, p=0.5, beta=2.0)
    assert torch.allclose(flat.target(torch.tensor([-5.0])),
                          torch.tensor([2.0 * 1e-6**1.5]))
    neg = sampler.sample(users, pos, user_emb, item_emb,
                         torch.Generator().manual_seed(0))
    cands = sampler.random_negatives(users, 9,
                                     torch.Generator().manual_seed(0))
    scores = item_emb[cands][..., 0]
    assert torch.equal(neg, cands.gather(1, scores.argmax(1, keepdim=True))
                       .view(-1))


def test_bad_input_and_repr():
    s = AHNSSampler(torch.tensor([[0, 1], [1, 2]]), 2, 5)
    with pytest.raises(ValueError, match='needs'):
        s.sample(torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match='eps'):
        AHNSSampler(torch.tensor([[0], [1]]), 1, 3, eps=0.0)
    assert repr(s) == ('AHNSSampler(users=2, items=5, num_candidates=32, '
                       'alpha=1.0, beta=0.1, p=-2.0)')
    assert SAMPLERS['ahns'] is AHNSSampler


def test_trains_in_the_loop(tiny_run_data):
    data = tiny_run_data(24, 20, 6, val_ratio=0.2)
    train, val, test = data.train, data.val, data.test
    task = CFTask(LightGCN(24, 20, 8, 0), train, val, test, sampler='ahns',
                  batch_size=32)
    result = Trainer(task, epochs=2, progress=False, log=lambda s: None).fit()
    assert 0 <= result.test['ndcg@20'] <= 1
