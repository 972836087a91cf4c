import math

import pytest
import torch

from adar_pyg.augment import NegativeAugmenter
from adar_pyg.sequential import CL4SRec, GRU4Rec, LeaveOneOutSplit, SASRec
from adar_pyg.train import SRTask, Trainer

from tiny_data import chain_graph, sr_task

E = ('user', 'rates', 'item')
U, I, N = 80, 30, 8
MODELS = {
    'sasrec': lambda: SASRec(I, 16, N, dropout=0.1),
    'gru4rec': lambda: GRU4Rec(I, 16, N, dropout=0.1),
    'cl4srec': lambda: CL4SRec(I, 16, N, dropout=0.1, cl_weight=0.05),
}


def chain_data(seed=0):
    """User u walks i, i + step, i + 2 step, ... (mod I) from a random start,
    with step 1 or 2 by user parity: the next item is predictable."""
    return chain_graph(U, I, seed=seed)


def make_task(name='sasrec', **kwargs):
    torch.manual_seed(0)
    return sr_task(chain_data(), MODELS[name], max_len=N, batch_size=16,
                   **kwargs)


def test_batches_and_batch_output():
    task = make_task()
    g = torch.Generator().manual_seed(0)
    batches = list(task.batches(g))
    assert len(batches) == task.num_batches() == math.ceil(U / 16)
    assert sorted(torch.cat(batches).tolist()) == list(range(U))
    users = batches[0]
    out = task.forward(users, g)
    rows = task.split.train_seq[users]
    inp, nxt = rows[:, :-1], rows[:, 1:]
    keep = inp != 0
    P = int(keep.sum())
    assert out.user.shape == out.pos.shape == out.neg.shape == (P, 16)
    table = task.model.item_embeddings()
    torch.testing.assert_close(out.pos, table[nxt[keep]])
    # Negatives: real items (never padding) outside the user's sequence:
    neg = torch.cdist(out.neg, table).argmin(dim=1)
    assert (neg >= 1).all()
    row_user = users.view(-1, 1).expand_as(inp)[keep]
    seen = {(u, i + 1) for u, i in task.split.train_edge_index.t().tolist()}
    assert not any((u, i) in seen
                   for u, i in zip(row_user.tolist(), neg.tolist()))
    # The user side is the per-position representation:
    task.model.eval()
    torch.testing.assert_close(task.forward(users, g).user,
                               task.model(inp)[keep])
    expected = 0.5 * (out.pos.square().sum() + out.neg.square().sum()) / P
    torch.testing.assert_close(out.reg, expected)
    assert out.extra is None
    assert make_task('cl4srec').forward(users, g).extra > 0
    assert make_task(max_batches=2).num_batches() == 2


def naive_metrics(task, split, mask):
    """Per-user loop: score all items 1..I, mask history, rank the target."""
    s = task.split
    seq = s.val_seq if split == 'val' else s.test_seq
    target = s.val_target if split == 'val' else s.test_target
    history = (s.train_edge_index if split == 'val' else torch.cat(
        [s.train_edge_index, s.val_edge_index], 1))
    model = task.model.eval()
    table = model.item_embeddings()
    sums = {f'{m}@{k}': 0.0 for k in (10, 20) for m in ('recall', 'ndcg')}
    users = (target > 0).nonzero().view(-1).tolist()
    for u in users:
        with torch.no_grad():
            scores = model.encode(seq[u:u + 1])[0] @ table.t()
        scores[0] = -math.inf  # padding is never a candidate
        if mask:
            for i in history[1, history[0] == u].tolist():
                if i + 1 != int(target[u]):
                    scores[i + 1] = -math.inf
        rank = int((scores > scores[target[u]]).sum())
        for k in (10, 20):
            if rank < k:
                sums[f'recall@{k}'] += 1
                sums[f'ndcg@{k}'] += 1 / math.log2(rank + 2)
    return {k: v / len(users) for k, v in sums.items()}


@pytest.mark.parametrize('mask_history', [True, False])
@pytest.mark.parametrize('split', ['val', 'test'])
def test_evaluate_matches_naive(split, mask_history):
    task = make_task(mask_history=mask_history)
    # Train a little so that the ranking is not random:
    Trainer(task, lr=0.01, epochs=2, progress=False, log=lambda s: None).fit()
    expected = naive_metrics(task, split, mask_history)
    got = task.evaluate(split)
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key] == pytest.approx(expected[key], abs=1e-6)
    # Padding is never a candidate, whatever its embedding:
    user_emb, item_emb = task.embeddings(split)
    assert item_emb.shape == (I, 16)
    with torch.no_grad():
        task.model.item_embedding.weight[0] = 1e3 * user_emb.mean(0)
    assert task.evaluate(split) == pytest.approx(got)


def test_determinism_and_no_time_attribute():
    def fit():
        task = make_task('cl4srec')
        return Trainer(task, lr=0.01, epochs=2, seed=3, progress=False,
                       log=lambda s: None).fit()

    assert fit().test == fit().test
    # Without `time`, the input order is chronological (here the same):
    data = chain_data()
    del data[E].time
    a = LeaveOneOutSplit(max_len=N)(data)
    b = LeaveOneOutSplit(max_len=N)(chain_data())
    assert torch.equal(a.train_seq, b.train_seq)
    assert torch.equal(a.test_target, b.test_target)


def test_task_errors():
    split = LeaveOneOutSplit(max_len=N)(chain_data())
    with pytest.raises(ValueError, match='items'):
        SRTask(SASRec(I + 1, 16, N), split)
    with pytest.raises(ValueError, match='max_len'):
        SRTask(SASRec(I, 16, N - 1), split)
    task = SRTask(SASRec(I, 16, N), split)
    assert task.has_split('val') and task.has_split('test')
    with pytest.raises(ValueError, match='no held-out'):
        task.evaluate('train')
    stats = task.statistics()
    assert stats['val_interactions'] == stats['test_interactions'] == U
    assert stats['train_users'] == U
    assert 'SRTask(SASRec(' in repr(task)


@pytest.mark.parametrize('name', list(MODELS))
@pytest.mark.parametrize('adar', [False, True])
def test_end_to_end(name, adar):
    task = make_task(name)
    before = task.evaluate('test')['recall@10']
    augmenter = NegativeAugmenter(16, num_steps=5, weight=0.5) if adar \
        else None
    result = Trainer(task, augmenter, lr=0.01, l2=0.0, epochs=8, patience=8,
                     progress=False, log=lambda s: None).fit()
    assert result.selected_on == 'val' and 1 <= result.best_epoch <= 8
    assert len(result.history) == result.epochs_run == 8
    assert all(0 <= v <= 1 for v in result.test.values())
    assert result.seconds_per_epoch > 0 and result.seconds_per_eval > 0
    if adar:  # The augmenter saw the flattened per-position rows:
        assert 1 <= result.history[-1]['aug_t_star'] <= 5
    else:  # Random Recall@10 over 30 items is 1/3; the chains are learnable:
        assert result.test['recall@10'] > max(before, 0.6)


def test_data_without_a_training_sequence_is_a_data_error():
    r"""Every user with 3 interactions keeps one to train on: nothing to
    train, said as a fault of the data (exit code 3), with what to do."""
    import torch as _torch

    from torch_geometric.data import HeteroData

    from adar_pyg.errors import DataError
    from adar_pyg.sequential import GRU4Rec, LeaveOneOutSplit
    from adar_pyg.train import SRTask
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = 6, 10
    user = _torch.arange(6).repeat_interleave(3)
    item = (_torch.arange(18) * 7) % 10
    data['user', 'rates', 'item'].edge_index = _torch.stack([user, item])
    data['user', 'rates', 'item'].time = _torch.arange(18)
    split = LeaveOneOutSplit(max_len=5)(data)
    with pytest.raises(DataError, match='no user has a training sequence') \
            as e:
        SRTask(GRU4Rec(10, 8, max_len=5), split)
    assert isinstance(e.value, ValueError) and '--k-core' in e.value.hint


def test_the_split_refuses_what_it_cannot_order():
    r"""A NaN timestamp would sort last and become the test target; a
    plain Data object has no edge types: both refused, named."""
    import torch as _torch
    from torch_geometric.data import Data, HeteroData

    from adar_pyg.sequential import LeaveOneOutSplit
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = 2, 5
    data['user', 'rates', 'item'].edge_index = _torch.tensor(
        [[0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 2, 3, 1, 2, 3, 4]])
    data['user', 'rates', 'item'].time = _torch.tensor(
        [1., 2., float('nan'), 4., 1., 2., 3., 4.])
    with pytest.raises(ValueError, match='NaN or infinite'):
        LeaveOneOutSplit(max_len=5)(data)
    with pytest.raises(ValueError, match="expects a 'HeteroData' object "
                       r"\(got 'Data'\)"):
        LeaveOneOutSplit(max_len=5)(Data())
