import math
import os.path as osp
from collections import Counter
from fractions import Fraction

import pytest
import torch

from torch_geometric.data import HeteroData

from adar_pyg.datasets import AmazonBeauty, default_mirror
from adar_pyg.transforms import PerUserRandomSplit

EDGE_TYPE = ('user', 'rates', 'item')
REV_EDGE_TYPE = ('item', 'rated_by', 'user')


def random_graph(seed=12345, num_users=40, num_items=25, shuffle=True):
    # Users with 1 to 16 interactions, including repeated (user, item) pairs,
    # and distinct per-user chronological positions `time`.
    gen = torch.Generator().manual_seed(seed)
    rows, cols, times = [], [], []
    for user in range(num_users):
        n = int(torch.randint(1, 17, (1, ), generator=gen))
        rows += [user] * n
        cols += torch.randint(0, num_items, (n, ), generator=gen).tolist()
        times += torch.randperm(n, generator=gen).tolist()
    edge_index = torch.tensor([rows, cols])
    time = torch.tensor(times)
    if shuffle:
        perm = torch.randperm(edge_index.size(1), generator=gen)
        edge_index, time = edge_index[:, perm], time[perm]

    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    data[EDGE_TYPE].edge_index = edge_index
    data[EDGE_TYPE].time = time
    data[REV_EDGE_TYPE].edge_index = edge_index.flip([0])
    return data


def naive_sizes(n, test_ratio, val_ratio):
    # Per-user reference in exact arithmetic, rounding halves up:
    def round_half_up(x):
        return math.floor(x + Fraction(1, 2))

    if n < 2:
        return 0, 0
    num_test = min(max(round_half_up(n * Fraction(str(test_ratio))), 1),
                   n - 1)
    num_train = n - num_test
    num_val = min(round_half_up(num_train * Fraction(str(val_ratio))),
                  num_train - 1)
    return num_test, max(num_val, 0)


def pairs(edge_index):
    return [tuple(e) for e in edge_index.t().tolist()]


def first_occurrences(data):
    # (user, item) -> time of its first occurrence:
    out = {}
    store = data[EDGE_TYPE]
    for pair, t in zip(pairs(store.edge_index), store.time.tolist()):
        out[pair] = min(t, out.get(pair, t))
    return out


@pytest.mark.parametrize('test_ratio,val_ratio', [
    (0.2, 0.1),
    (0.2, 0.0),
    (0.3, 0.25),
    (0.5, 0.5),
    (0.7, 0.3),
])
def test_split_sizes_and_partition(test_ratio, val_ratio):
    data = random_graph()
    first = first_occurrences(data)
    transform = PerUserRandomSplit(test_ratio, val_ratio, seed=1)
    train_data, val_data, test_data = transform(data)

    train = pairs(train_data[EDGE_TYPE].edge_label_index)
    val = pairs(val_data[EDGE_TYPE].edge_label_index)
    test = pairs(test_data[EDGE_TYPE].edge_label_index)

    # Disjoint, and their union is the de-duplicated input:
    assert len(set(train)) == len(train)
    assert len(set(val)) == len(val)
    assert len(set(test)) == len(test)
    assert len(train) + len(val) + len(test) == len(first)
    assert set(train) | set(val) | set(test) == set(first)
    assert train_data.num_duplicates_removed == (data[EDGE_TYPE].num_edges -
                                                 len(first))

    # Per-user sizes follow the rule:
    degree = Counter(user for user, _ in first)
    num_train = Counter(user for user, _ in train)
    num_val = Counter(user for user, _ in val)
    num_test = Counter(user for user, _ in test)
    for user in range(data['user'].num_nodes):
        n = degree[user]
        n_test, n_val = naive_sizes(n, test_ratio, val_ratio)
        assert (num_test[user], num_val[user]) == (n_test, n_val), user
        assert num_train[user] == n - n_test - n_val

    for out in (train_data, val_data, test_data):
        # The message passing graph holds the training edges only:
        store = out[EDGE_TYPE]
        assert pairs(store.edge_index) == train
        assert store.time.tolist() == [first[pair] for pair in train]
        assert torch.equal(out[REV_EDGE_TYPE].edge_index,
                           store.edge_index.flip([0]))
        assert out['user'].num_nodes == data['user'].num_nodes
        assert out['item'].num_nodes == data['item'].num_nodes
        assert store.edge_label_index.dtype == torch.long
        assert store.edge_label_index.size(0) == 2

    if val_ratio == 0:
        assert val_data[EDGE_TYPE].edge_label_index.size() == (2, 0)


def test_split_keeps_order():
    data = random_graph(shuffle=False)  # Ordered by user, shuffled in time.
    store = data[EDGE_TYPE]
    perm = torch.argsort(store.edge_index[0] * 100 + store.time)
    store.edge_index, store.time = store.edge_index[:, perm], store.time[perm]
    data[REV_EDGE_TYPE].edge_index = store.edge_index.flip([0])

    for out in PerUserRandomSplit()(data):
        for edge_index in (out[EDGE_TYPE].edge_index,
                           out[EDGE_TYPE].edge_label_index):
            order = [pairs(store.edge_index).index(p)
                     for p in pairs(edge_index)]
            assert order == sorted(order)


def test_determinism():
    data = random_graph()

    def labels(seed):
        return [
            out[EDGE_TYPE].edge_label_index
            for out in PerUserRandomSplit(seed=seed)(data)
        ]

    for a, b in zip(labels(0), labels(0)):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(labels(0), labels(1)))


def test_dedup_keeps_first_occurrence():
    # User 0 rates item 5 at times 1 and 0 (listed in this order), and item 7:
    data = HeteroData()
    data['user'].num_nodes = 1
    data['item'].num_nodes = 8
    data[EDGE_TYPE].edge_index = torch.tensor([[0, 0, 0], [5, 5, 7]])
    data[EDGE_TYPE].time = torch.tensor([1, 0, 2])
    data[REV_EDGE_TYPE].edge_index = torch.tensor([[5, 5, 7], [0, 0, 0]])

    times = set()
    for seed in range(20):
        train_data, val_data, test_data = PerUserRandomSplit(seed=seed)(data)
        assert train_data.num_duplicates_removed == 1
        store = train_data[EDGE_TYPE]
        assert store.edge_index.size(1) == 1  # n = 2: 1 test, 1 train.
        assert test_data[EDGE_TYPE].edge_label_index.size(1) == 1
        assert val_data[EDGE_TYPE].edge_label_index.size(1) == 0
        if store.edge_index[1, 0] == 5:
            times.add(int(store.time[0]))
    assert times == {0}

    train_data, _, test_data = PerUserRandomSplit(dedup=False)(data)
    assert train_data.num_duplicates_removed == 0
    assert train_data[EDGE_TYPE].edge_index.size(1) == 2  # n = 3: 1 test.
    assert test_data[EDGE_TYPE].edge_label_index.size(1) == 1


def test_input_unmodified():
    data = random_graph()
    before = {
        key: (store.edge_index.clone(), dict(store.to_dict()))
        for key, store in data.edge_items()
    }
    time = data[EDGE_TYPE].time.clone()
    PerUserRandomSplit()(data)
    for key, store in data.edge_items():
        assert torch.equal(store.edge_index, before[key][0])
        assert set(store.keys()) == set(before[key][1].keys())
    assert torch.equal(data[EDGE_TYPE].time, time)
    assert 'num_duplicates_removed' not in data


def test_arguments():
    assert str(PerUserRandomSplit()) == (
        'PerUserRandomSplit(test_ratio=0.2, val_ratio=0.1, seed=0)')
    with pytest.raises(ValueError, match='test_ratio'):
        PerUserRandomSplit(test_ratio=1.0)
    with pytest.raises(ValueError, match='val_ratio'):
        PerUserRandomSplit(val_ratio=-0.1)
    with pytest.raises(ValueError, match='edge type'):
        PerUserRandomSplit(edge_type=('user', 'buys', 'item'))(random_graph())


def test_pyg_reverse_edge_type():
    r"""ToUndirected's ('item', 'rev_rates', 'user') holds every interaction:
    refused unless named as the reverse type, which is then re-built from
    the training interactions (no held-out pair left in it)."""
    import torch_geometric.transforms as T
    data = random_graph()
    del data[REV_EDGE_TYPE]
    data = T.ToUndirected()(data)
    rev = ('item', 'rev_rates', 'user')
    assert rev in data.edge_types
    with pytest.raises(ValueError, match="rev_edge_type=\\('item', "
                       "'rev_rates', 'user'\\)"):
        PerUserRandomSplit()(data)
    with pytest.raises(ValueError, match='rev_rates'):
        PerUserRandomSplit(rev_edge_type=None)(data)
    train, val, test = PerUserRandomSplit(rev_edge_type=rev)(data)
    for split in (train, val, test):
        assert pairs(split[rev].edge_index.flip([0])) == pairs(
            train[EDGE_TYPE].edge_index)
    held_out = set(pairs(test[EDGE_TYPE].edge_label_index)) | set(
        pairs(val[EDGE_TYPE].edge_label_index))
    assert held_out and not held_out & set(
        pairs(train[rev].edge_index.flip([0])))


@pytest.fixture(scope='module')
def beauty(tmp_path_factory):
    mirror = default_mirror()
    if mirror is None or not osp.isfile(
            osp.join(mirror, 'amazon-beauty', 'Beauty.txt')):
        pytest.skip("No local mirror holding 'amazon-beauty/Beauty.txt' "
                    "(set ADAR_PYG_MIRROR)")
    return AmazonBeauty(str(tmp_path_factory.mktemp('data')), mirror)[0]


@pytest.mark.parametrize('val_ratio,sizes', [
    (0.1, (142341, 17571, 38590)),
    (0.0, (159912, 0, 38590)),
])
def test_real_beauty(beauty, val_ratio, sizes):
    # The per-user sizes (hence the totals) depend on the degrees only:
    out = PerUserRandomSplit(0.2, val_ratio, seed=0)(beauty)
    actual = tuple(d[EDGE_TYPE].edge_label_index.size(1) for d in out)
    assert actual == sizes, f'train/val/test sizes: {actual}'
    assert out[0].num_duplicates_removed == 0
    assert sum(actual) == beauty[EDGE_TYPE].num_edges


def test_an_edge_type_between_one_node_type_splits():
    # ('user', 'follows', 'user') is its own reverse: not a second type
    # holding the interactions (refused before this was checked for).
    data = HeteroData()
    data['user'].num_nodes = 10
    g = torch.Generator().manual_seed(0)
    pairs_ = torch.unique(torch.randint(0, 100, (40, ), generator=g))
    data['user', 'follows', 'user'].edge_index = torch.stack(
        [pairs_ // 10, pairs_ % 10])
    train, _, test = PerUserRandomSplit(
        edge_type=('user', 'follows', 'user'), rev_edge_type=None)(data)
    assert test['user', 'follows', 'user'].edge_label_index.size(1) > 0
