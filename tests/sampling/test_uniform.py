import pytest
import torch

from adar_pyg.sampling import UniformSampler


@pytest.mark.parametrize('seed', range(5))
def test_never_returns_a_train_positive(seed):
    g = torch.Generator().manual_seed(seed)
    U, I = int(torch.randint(2, 20, (1, ), generator=g)), int(
        torch.randint(3, 30, (1, ), generator=g))
    # dense users: up to I - 1 positives, so rejection has to work hard
    mask = torch.rand(U, I, generator=g) < 0.8
    mask[torch.arange(U), torch.randint(I, (U, ), generator=g)] = False
    edge_index = mask.nonzero().t()
    sampler = UniformSampler(edge_index, U, I)
    users = torch.randint(U, (500, ), generator=g)
    neg = sampler.sample(users, users, generator=g)
    assert neg.shape == users.shape and neg.dtype == torch.long
    assert not mask[users, neg].any()
    assert int(neg.min()) >= 0 and int(neg.max()) < I


def test_is_positive_and_uniformity():
    edge_index = torch.tensor([[0, 0, 1], [0, 1, 2]])
    sampler = UniformSampler(edge_index, 2, 4)
    assert sampler.is_positive(torch.tensor([0, 0, 1, 1]),
                               torch.tensor([0, 2, 2, 0])).tolist() == [
                                   True, False, True, False]
    neg = sampler.sample(torch.zeros(4000, dtype=torch.long), None,
                         generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(neg, minlength=4)
    assert counts[:2].sum() == 0
    assert abs(int(counts[2]) - int(counts[3])) < 300  # ~2000 each


def test_determinism_and_bad_input():
    edge_index = torch.tensor([[0, 1], [1, 2]])
    s = UniformSampler(edge_index, 2, 5)
    users = torch.tensor([0, 1, 0, 1])
    a = s.sample(users, None, generator=torch.Generator().manual_seed(3))
    b = s.sample(users, None, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match='every item'):
        UniformSampler(torch.tensor([[0, 0], [0, 1]]), 1, 2)
    with pytest.raises(ValueError, match='shape'):
        UniformSampler(torch.zeros(3, dtype=torch.long), 1, 2)
    assert 'UniformSampler(users=2, items=5)' == repr(s)
