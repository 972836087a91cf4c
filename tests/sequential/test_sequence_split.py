import pytest
import torch
from torch_geometric.data import HeteroData

from adar_pyg.datasets import AmazonBeauty, default_mirror
from adar_pyg.sequential import (LeaveOneOutSplit, chronological_order,
                                 padded_sequences)

E = ('user', 'rates', 'item')


def random_data(lengths, num_items=30, seed=0, shuffle=True, repeats=False):
    """Users with the given sequence lengths; edges shuffled, ordered by a
    random timestamp (the sequences are the timestamp order)."""
    g = torch.Generator().manual_seed(seed)
    seqs = []
    for n in lengths:
        if repeats:
            seqs.append(torch.randint(num_items, (n, ), generator=g).tolist())
        else:
            seqs.append(torch.randperm(num_items, generator=g)[:n].tolist())
    rows = [u for u, s in enumerate(seqs) for _ in s]
    cols = [i for s in seqs for i in s]
    time = torch.arange(len(cols)) * 7 + 3  # increasing within a user
    perm = torch.randperm(len(cols), generator=g) if shuffle else \
        torch.arange(len(cols))
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = len(seqs), num_items
    data[E].edge_index = torch.tensor([rows, cols])[:, perm]
    data[E].time = time[perm]
    return data, seqs


def left_pad(items, width):
    items = [i + 1 for i in items][-width:] if width else []
    return [0] * (width - len(items)) + items


def test_chronological_order_and_padding():
    data, seqs = random_data([3, 1, 6, 2])
    user, item, rank, count = chronological_order(data[E].edge_index, 4,
                                                  data[E].time)
    assert count.tolist() == [3, 1, 6, 2]
    for u, s in enumerate(seqs):
        assert item[user == u].tolist() == s
        assert rank[user == u].tolist() == list(range(len(s)))
    out = padded_sequences(data[E].edge_index, 4, data[E].time)
    assert out.tolist() == [left_pad(s, 6) for s in seqs]
    out = padded_sequences(data[E].edge_index, 4, data[E].time, max_len=4)
    assert out.tolist() == [left_pad(s, 4) for s in seqs]
    # Without time, the input order is chronological:
    data, seqs = random_data([3, 1, 6], shuffle=False)
    out = padded_sequences(data[E].edge_index, 3)
    assert out.tolist() == [left_pad(s, 6) for s in seqs]


@pytest.mark.parametrize('max_len', [1, 3, 5, 50])
@pytest.mark.parametrize('repeats', [False, True])
def test_leave_one_out_matches_naive(max_len, repeats):
    lengths = [1, 2, 3, 4, 5, 9, 12, 3]
    data, seqs = random_data(lengths, num_items=10 if repeats else 30,
                             repeats=repeats)
    split = LeaveOneOutSplit(max_len=max_len)(data)
    assert (split.num_users, split.num_items, split.max_len) == (
        8, 10 if repeats else 30, max_len)
    N = max_len
    for u, s in enumerate(seqs):
        train = s[:-2] if len(s) >= 3 else s
        assert split.train_seq[u].tolist() == left_pad(train, N + 1)
        assert split.val_seq[u].tolist() == left_pad(train, N)
        test_input = s[:-1] if len(s) >= 3 else s
        assert split.test_seq[u].tolist() == left_pad(test_input, N)
        assert split.val_target[u] == (s[-2] + 1 if len(s) >= 3 else 0)
        assert split.test_target[u] == (s[-1] + 1 if len(s) >= 3 else 0)
        # What a recommendation after the data starts from: all of it.
        assert split.history_seq()[u].tolist() == left_pad(s, N)

    def pairs(edge_index):
        return sorted(map(tuple, edge_index.t().tolist()))

    assert pairs(split.train_edge_index) == sorted(
        (u, i) for u, s in enumerate(seqs)
        for i in (s[:-2] if len(s) >= 3 else s))
    assert pairs(split.val_edge_index) == [(u, s[-2])
                                           for u, s in enumerate(seqs)
                                           if len(s) >= 3]
    assert pairs(split.test_edge_index) == [(u, s[-1])
                                            for u, s in enumerate(seqs)
                                            if len(s) >= 3]
    # History masked in evaluation: all earlier items but the target itself.
    for name, cut, t in [('val', 2, -2), ('test', 1, -1)]:
        expected = sorted((u, i) for u, s in enumerate(seqs) if len(s) >= 3
                          for i in s[:-cut] if i != s[t])
        assert pairs(split.history_edge_index(name)) == expected
    # Users with at least one (input, next item) position:
    assert split.train_users().tolist() == [
        u for u, s in enumerate(seqs)
        if len(s[:-2] if len(s) >= 3 else s) >= 2]
    stats = split.statistics()
    assert stats['val_interactions'] == stats['test_interactions'] == 6
    assert stats['train_interactions'] == sum(lengths) - 12
    assert stats['train_positions'] == int(
        (split.train_seq[:, :-1] != 0).sum())


def test_leave_one_out_errors():
    with pytest.raises(ValueError, match='max_len'):
        LeaveOneOutSplit(max_len=0)
    data, _ = random_data([3])
    with pytest.raises(ValueError, match='edge type'):
        LeaveOneOutSplit(edge_type=('user', 'buys', 'item'))(data)
    assert repr(LeaveOneOutSplit()) == 'LeaveOneOutSplit(max_len=50)'


@pytest.mark.skipif(default_mirror() is None,
                    reason='local dataset mirror not found')
def test_leave_one_out_beauty(tmp_path):
    data = AmazonBeauty(str(tmp_path), mirror=default_mirror())[0]
    split = LeaveOneOutSplit(max_len=50)(data)
    assert split.val_edge_index.size(1) == 22363
    assert split.test_edge_index.size(1) == 22363
    assert split.train_edge_index.size(1) == 198502 - 2 * 22363
    assert split.train_seq.shape == (22363, 51)
    assert split.test_seq.shape == split.val_seq.shape == (22363, 50)
    assert int(split.test_target.min()) >= 1
    assert int(split.train_seq.max()) <= 12101
    # Every Beauty user has >= 5 interactions, so >= 3 training items:
    assert split.train_users().numel() == 22363
