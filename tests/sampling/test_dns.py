import pytest
import torch

from adar_pyg.augment import NegativeAugmenter
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.sampling import SAMPLERS, DNSSampler, UniformSampler
from adar_pyg.train import CFTask, Trainer


def random_graph(seed, density=0.8):
    """Dense users (up to I - 1 positives) so that rejection works hard."""
    g = torch.Generator().manual_seed(seed)
    U = int(torch.randint(2, 20, (1, ), generator=g))
    I = int(torch.randint(3, 30, (1, ), generator=g))
    mask = torch.rand(U, I, generator=g) < density
    mask[torch.arange(U), torch.randint(I, (U, ), generator=g)] = False
    return mask, U, I, g


@pytest.mark.parametrize('seed', range(8))
def test_never_returns_a_train_positive(seed):
    mask, U, I, g = random_graph(seed)
    sampler = DNSSampler(mask.nonzero().t(), U, I, num_candidates=5)
    users = torch.randint(U, (300, ), generator=g)
    user_emb = torch.randn(U, 4, generator=g)
    item_emb = torch.randn(I, 4, generator=g)
    neg = sampler.sample(users, users, user_emb, item_emb, g)
    assert neg.shape == users.shape and neg.dtype == torch.long
    assert not mask[users, neg].any()


@pytest.mark.parametrize('num_candidates', [1, 3, 32])
def test_selection_equals_naive_loop(num_candidates):
    mask, U, I, _ = random_graph(3, density=0.3)
    sampler = DNSSampler(mask.nonzero().t(), U, I, num_candidates)
    users = torch.randint(U, (50, ))
    user_emb, item_emb = torch.randn(U, 6), torch.randn(I, 6)
    neg = sampler.sample(users, users, user_emb, item_emb,
                         torch.Generator().manual_seed(1))
    cands = sampler.random_negatives(users, num_candidates,
                                     torch.Generator().manual_seed(1))
    for b in range(users.numel()):
        best, best_score = None, -float('inf')
        for j in cands[b].tolist():
            score = float(user_emb[users[b]] @ item_emb[j])
            if score > best_score:
                best, best_score = j, score
        assert int(neg[b]) == best
    if num_candidates == 1:  # M = 1 is uniform sampling
        uniform = UniformSampler(mask.nonzero().t(), U, I).sample(
            users, users, generator=torch.Generator().manual_seed(1))
        assert torch.equal(neg, uniform)


def test_default_negative_embeddings_gathers_sampled_rows():
    mask, U, I, _ = random_graph(0, density=0.3)
    sampler = DNSSampler(mask.nonzero().t(), U, I, 4)
    users = torch.arange(U)
    user_emb, item_emb, ego = torch.randn(U, 6), torch.randn(I, 6), \
        torch.randn(I, 2)
    emb, emb0 = sampler.negative_embeddings(users, users, user_emb, item_emb,
                                            ego,
                                            torch.Generator().manual_seed(2))
    neg = sampler.sample(users, users, user_emb, item_emb,
                         torch.Generator().manual_seed(2))
    assert torch.equal(emb, item_emb[neg]) and torch.equal(emb0, ego[neg])


def test_bad_input_and_repr():
    s = DNSSampler(torch.tensor([[0, 1], [1, 2]]), 2, 5)
    with pytest.raises(ValueError, match='needs'):
        s.sample(torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match='num_candidates'):
        DNSSampler(torch.tensor([[0], [1]]), 1, 3, num_candidates=0)
    assert repr(s) == 'DNSSampler(users=2, items=5, num_candidates=32)'
    assert SAMPLERS['dns'] is DNSSampler


@pytest.mark.parametrize('model', ['lightgcn', 'ngcf'])
@pytest.mark.parametrize('augment', [False, True])
def test_trains_in_the_loop(model, augment, tiny_run_data):
    data = tiny_run_data(24, 20, 6, val_ratio=0.2)
    train, val, test = data.train, data.val, data.test
    backbone = (LightGCN(24, 20, 8, 2) if model == 'lightgcn' else
                NGCF(24, 20, 8, 2))
    task = CFTask(backbone, train, val, test, sampler='dns', batch_size=32)
    dim = getattr(backbone, 'out_channels', backbone.embedding_dim)
    aug = NegativeAugmenter(dim, num_steps=5) if augment else None
    result = Trainer(task, aug, epochs=2, progress=False,
                     log=lambda s: None).fit()
    assert 0 <= result.test['recall@20'] <= 1
