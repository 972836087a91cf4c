import pytest
import torch

from adar_pyg.sampling import (SAMPLERS, AHNSSampler, DNSSampler,
                               MixGCFSampler, UniformSampler)

U, I = 5, 10
EDGES = torch.tensor([[0, 1, 2, 4], [1, 2, 9, 0]])


@pytest.mark.parametrize('name', list(SAMPLERS))
@pytest.mark.parametrize('edge_index,error,match', [
    # item 12 >= 10 would be keyed 3 * 10 + 12 = 4 * 10 + 2: user 4's item 2
    (torch.tensor([[0, 0], [3, 12]]), ValueError,
     r"'edge_index\[1\]' holds item id 12 outside \[0, 9\] "
     r"\(num_items=10\)"),
    (torch.tensor([[7], [1]]), ValueError,
     r"'edge_index\[0\]' holds user id 7 outside \[0, 4\] \(num_users=5\)"),
    (torch.tensor([[0, -1], [1, 2]]), ValueError,
     r"'edge_index\[0\]' holds user id -1 outside \[0, 4\]"),
    (torch.tensor([[0, 1], [-3, 2]]), ValueError,
     r"'edge_index\[1\]' holds item id -3 outside"),
    (torch.tensor([[0., 1.], [1., 2.]]), TypeError,
     r"'edge_index\[0\]' must hold integer ids \(got dtype torch.float32\)"),
    (torch.tensor([[True], [False]]), TypeError,
     "'edge_index\\[0\\]' must hold integer ids"),
    ([[0, 1], [1, 2]], TypeError, "'edge_index' must be a tensor"),
])
def test_constructor_refuses_bad_ids(name, edge_index, error, match):
    with pytest.raises(error, match=match):
        SAMPLERS[name](edge_index, U, I)


@pytest.mark.parametrize('name', list(SAMPLERS))
@pytest.mark.parametrize('kwargs,match', [
    (dict(num_users=5.0), r"'num_users' must be a positive integer "
     r"\(got 5.0\)"),
    (dict(num_items='10'), "'num_items' must be a positive integer"),
    (dict(num_items=0), "'num_items' must be a positive integer"),
])
def test_constructor_refuses_bad_sizes(name, kwargs, match):
    kwargs = {'num_users': U, 'num_items': I, **kwargs}
    with pytest.raises(ValueError, match=match):
        SAMPLERS[name](EDGES, **kwargs)


def test_empty_graph_is_fine():
    s = UniformSampler(torch.empty(2, 0, dtype=torch.long), U, I)
    assert s.sample(torch.tensor([0, 4]), None).shape == (2, )


def embeddings():
    g = torch.Generator().manual_seed(0)
    return torch.randn(U, 4, generator=g), torch.randn(I, 4, generator=g)


def draw(sampler, users, pos):
    user_emb, item_emb = embeddings()
    g = torch.Generator().manual_seed(1)
    if isinstance(sampler, MixGCFSampler):
        layers = item_emb.unsqueeze(1).expand(-1, 3, -1)
        return sampler.negative_embeddings(
            users, pos, user_emb, item_emb, item_emb, g, item_layers=layers,
            pool=lambda x: x.mean(-2))[0]
    return sampler.sample(users, pos, user_emb, item_emb, g)


@pytest.mark.parametrize('name', list(SAMPLERS))
@pytest.mark.parametrize('users,error,match', [
    (torch.tensor([0, 99]), ValueError,
     r"'users' holds user id 99 outside \[0, 4\] \(num_users=5\)"),
    (torch.tensor([5]), ValueError, "'users' holds user id 5 outside"),
    (torch.tensor([-1, 2]), ValueError, "'users' holds user id -1 outside"),
    (torch.tensor([0.0]), TypeError,
     r"'users' must hold integer ids \(got dtype torch.float32\)"),
])
def test_sample_refuses_bad_users(name, users, error, match):
    sampler = SAMPLERS[name](EDGES, U, I)
    pos = torch.zeros(users.shape, dtype=torch.long)
    with pytest.raises(error, match=match):
        draw(sampler, users, pos)
    with pytest.raises(error, match=match):
        sampler.random_negatives(users, 3)
    with pytest.raises(error, match=match):
        sampler.unseen_items(users)


@pytest.mark.parametrize('cls', [AHNSSampler, MixGCFSampler])
@pytest.mark.parametrize('pos,error,match', [
    (torch.tensor([1, 10]), ValueError,
     r"'pos_items' holds item id 10 outside \[0, 9\] \(num_items=10\)"),
    (torch.tensor([1, -1]), ValueError, "'pos_items' holds item id -1"),
    (torch.tensor([1., 2.]), TypeError, "'pos_items' must hold integer"),
])
def test_samplers_that_use_the_positives_check_them(cls, pos, error, match):
    # (AHNS scores the positive, MixGCF mixes it in: a negative id would
    # silently index from the end.)
    with pytest.raises(error, match=match):
        draw(cls(EDGES, U, I), torch.tensor([0, 1]), pos)


@pytest.mark.parametrize('name', list(SAMPLERS))
def test_valid_ids_draw_as_without_the_checks(name):
    # The checks draw no random numbers: the same negatives as with the
    # checks switched off (max_rounds=1: the exact draw runs too).
    users = torch.tensor([0, 4, 1, 3, 2, 0] * 20)
    pos = torch.tensor([1, 0, 2, 5, 9, 1] * 20)
    checked, bare = (SAMPLERS[name](EDGES, U, I) for _ in range(2))
    bare.check_ids = lambda *args, **kwargs: None
    for fn in (draw, lambda s, u, p: s.random_negatives(
            u, 4, torch.Generator().manual_seed(5), max_rounds=1)):
        assert torch.equal(fn(checked, users, pos), fn(bare, users, pos))


@pytest.mark.parametrize('cls', [DNSSampler, MixGCFSampler, AHNSSampler])
@pytest.mark.parametrize('value', [2.5, '4', 0, True, None])
def test_num_candidates_must_be_a_positive_integer(cls, value):
    with pytest.raises(ValueError, match=r"'num_candidates' must be a "
                       r"positive integer \(got "):
        cls(EDGES, U, I, num_candidates=value)


@pytest.mark.parametrize('kwargs,match', [
    (dict(alpha='1'), r"'alpha' must be a finite number \(got '1'\)"),
    (dict(beta=None), "'beta' must be a finite number"),
    (dict(p=float('inf')), "'p' must be a finite number"),
    (dict(eps=0.0), "'eps' must be a finite positive number"),
    (dict(eps='1e-6'), "'eps' must be a finite positive number"),
])
def test_ahns_bad_numbers(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AHNSSampler(EDGES, U, I, **kwargs)


def test_int32_ids_do_not_overflow_the_pair_keys():
    # 60000 users x 40000 items: u * |I| + i exceeds 2^31 for u > 53687.
    from adar_pyg.sampling import UniformSampler
    edge_index = torch.tensor([[59999, 0], [39999, 1]], dtype=torch.int32)
    sampler = UniformSampler(edge_index, 60000, 40000)
    assert sampler.is_positive(torch.tensor([59999], dtype=torch.int32),
                               torch.tensor([39999], dtype=torch.int32)).all()
    assert not sampler.is_positive(torch.tensor([59999]),
                                   torch.tensor([39998])).any()
    neg = sampler.sample(torch.tensor([59999], dtype=torch.int32),
                         torch.tensor([39999], dtype=torch.int32))
    assert 0 <= int(neg) < 40000 and int(neg) != 39999
