import pickle

import pytest
import torch
from torch_geometric.data import HeteroData

from adar_pyg.errors import DataError
from adar_pyg.sampling import (SAMPLERS, DNSSampler, NoNegativeError,
                               UniformSampler)
from adar_pyg.sequential import SASRec

from tiny_data import sr_task

E = ('user', 'rates', 'item')


def dense_graph(seed, U=12, I=20, density=0.9):
    """Users who have seen almost every item (at least one unseen each)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(U, I, generator=g) < density
    mask[torch.arange(U), torch.randint(I, (U, ), generator=g)] = False
    return mask, g


def naive_unseen(mask, users, generator):
    """The reference of `unseen_items`: the k-th item of the sorted list of
    each user's unseen items, k from the same uniform numbers."""
    u = torch.rand(users.shape, dtype=torch.float64, generator=generator)
    out = []
    for user, x in zip(users.tolist(), u.tolist()):
        unseen = [i for i in range(mask.size(1)) if not mask[user, i]]
        out.append(unseen[min(int(x * len(unseen)), len(unseen) - 1)])
    return torch.tensor(out)


def old_random_negatives(sampler, users, num, generator, max_rounds=100):
    """The rejection loop before the exact fallback (the fast path)."""
    users = users.view(-1, 1).expand(-1, num)
    items = torch.randint(sampler.num_items, users.shape, generator=generator)
    for _ in range(max_rounds):
        bad = sampler.is_positive(users, items)
        if not bool(bad.any()):
            return items
        items[bad] = torch.randint(sampler.num_items, (int(bad.sum()), ),
                                   generator=generator)
    raise RuntimeError('rejection did not finish')


@pytest.mark.parametrize('seed', range(4))
def test_unseen_items_equals_naive_reference(seed):
    mask, g = dense_graph(seed)
    # Repeated pairs count once:
    edge_index = torch.cat([mask.nonzero().t()] * 2, dim=1)
    sampler = UniformSampler(edge_index, *mask.shape)
    users = torch.randint(mask.size(0), (300, ), generator=g)
    got = sampler.unseen_items(users, torch.Generator().manual_seed(seed))
    expected = naive_unseen(mask, users, torch.Generator().manual_seed(seed))
    assert torch.equal(got, expected)


@pytest.mark.parametrize('density', [0.5, 0.97])
def test_exact_draw_is_uniform_over_the_unseen_items(density):
    mask, _ = dense_graph(1, U=3, I=10, density=density)
    sampler = UniformSampler(mask.nonzero().t(), *mask.shape)
    g = torch.Generator().manual_seed(0)
    for user in range(3):
        users = torch.full((6000, ), user)
        # max_rounds=0: every hit of a positive goes to the exact draw.
        neg = sampler.random_negatives(users, 1, g, max_rounds=0).view(-1)
        counts = torch.bincount(neg, minlength=10).float()
        unseen = ~mask[user]
        assert (counts[~unseen] == 0).all()
        expected = 6000 / int(unseen.sum())
        assert (counts[unseen] - expected).abs().max() < 0.2 * expected


def test_one_unseen_item_is_always_drawn():
    # The reviewer's case: one user has seen 58 of 60 items, another 59.
    I = 60
    edge_index = torch.tensor([[0] * 58 + [1] * 59,
                               list(range(58)) + list(range(1, 60))])
    sampler = UniformSampler(edge_index, 2, I)
    g = torch.Generator().manual_seed(0)
    neg = sampler.random_negatives(torch.tensor([0, 1]), 500, g)
    assert set(neg[0].tolist()) == {58, 59}
    assert neg[1].eq(0).all()
    assert sampler.sample(torch.ones(1000, dtype=torch.long), None,
                          generator=g).eq(0).all()
    for name in SAMPLERS:  # Every sampler draws its candidates so:
        s = SAMPLERS[name](edge_index, 2, I)
        users = torch.tensor([1] * 64)
        emb = torch.randn(2, 4), torch.randn(I, 4)
        neg = s.negative_embeddings(
            users, users, *emb, torch.randn(I, 4), g,
            item_layers=torch.randn(I, 3, 4),
            pool=lambda x: x.mean(dim=-2))[0]
        assert torch.allclose(neg, emb[1][0].expand_as(neg)) or \
            name == 'mixgcf'  # (MixGCF mixes in the positive.)


@pytest.mark.parametrize('seed', range(6))
def test_fast_path_draws_the_same_numbers(seed):
    mask, g = dense_graph(seed, density=0.4)
    sampler = DNSSampler(mask.nonzero().t(), *mask.shape)
    users = torch.randint(mask.size(0), (200, ), generator=g)
    a, b = torch.Generator().manual_seed(seed), \
        torch.Generator().manual_seed(seed)
    assert torch.equal(sampler.random_negatives(users, 5, a),
                       old_random_negatives(sampler, users, 5, b))
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))


@pytest.mark.parametrize('max_rounds', [0, 1, 100])
def test_never_a_positive_and_deterministic(max_rounds):
    mask, g = dense_graph(7, U=8, I=40, density=0.95)
    sampler = UniformSampler(mask.nonzero().t(), *mask.shape)
    users = torch.randint(8, (400, ), generator=g)
    neg = sampler.random_negatives(users, 3, torch.Generator().manual_seed(2),
                                   max_rounds)
    assert neg.shape == (400, 3)
    assert not mask[users.view(-1, 1).expand(-1, 3), neg].any()
    again = sampler.random_negatives(users, 3,
                                     torch.Generator().manual_seed(2),
                                     max_rounds)
    assert torch.equal(neg, again)


def test_user_with_every_item_is_a_data_error():
    with pytest.raises(NoNegativeError) as info:
        UniformSampler(torch.tensor([[0, 1, 1, 1], [0, 0, 1, 2]]), 2, 3)
    e = info.value
    assert isinstance(e, DataError) and isinstance(e, ValueError)
    assert str(e) == ('user 1 interacted with every item (3) in training: '
                      'no negative can be drawn for it')
    assert e.hint and '\n' not in e.hint and e.user == 1
    named = e.named(['alice', 'bob'])
    assert str(named).startswith("user 'bob' interacted with every item")
    assert str(e.named([7, 21])).startswith('user 21 interacted')
    copy = pickle.loads(pickle.dumps(named))
    assert str(copy) == str(named) and copy.hint == named.hint
    # Repeated pairs are one item: two of three items leave a negative.
    sampler = UniformSampler(torch.tensor([[0, 0, 0, 0], [0, 1, 0, 1]]), 1, 3)
    assert sampler.sample(torch.zeros(20, dtype=torch.long),
                          None).eq(2).all()


def sequences(items_of_user):
    rows, cols, times = [], [], []
    for u, items in enumerate(items_of_user):
        rows += [u] * len(items)
        cols += items
        times += list(range(len(items)))
    data = HeteroData()
    data['user'].num_nodes = len(items_of_user)
    data['item'].num_nodes = 1 + max(max(items) for items in items_of_user)
    data[E].edge_index = torch.tensor([rows, cols])
    data[E].time = torch.tensor(times)
    return data


def test_sr_task_trains_a_user_who_has_seen_almost_every_item():
    I = 60
    data = sequences([list(range(I)), [0, 1, 2, 3]])  # 58 training items
    task = sr_task(data, lambda: SASRec(I, 8, 50, dropout=0.0), max_len=50,
                   batch_size=2)
    users = torch.tensor([0, 1])
    out = task.forward(users, torch.Generator().manual_seed(0))
    table = task.model.item_embeddings()
    neg = torch.cdist(out.neg, table).argmin(dim=1)
    inp = task.split.train_seq[users, :-1]
    row_user = users.view(-1, 1).expand_as(inp)[inp != 0]
    assert row_user.tolist() == [0] * 50 + [1]
    assert set(neg[:50].tolist()) == {59, 60}  # 1-based: items 58, 59
    assert int(neg[50]) not in (1, 2)
    # Every item in training (plus the two held out): refused clearly.
    data = sequences([list(range(I)) + [0, 1], [0, 1, 2, 3]])
    with pytest.raises(NoNegativeError, match='user 0 interacted with '
                       'every item'):
        sr_task(data, lambda: SASRec(I, 8, 64), max_len=64)
