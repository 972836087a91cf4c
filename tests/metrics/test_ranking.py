import math

import pytest
import torch
from torch_geometric.metrics import LinkPredNDCG, LinkPredRecall

from adar_pyg.metrics import FullRankingEvaluator


def random_problem(U=30, I=40, F=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    key = torch.randperm(U * I, generator=g)[:U * I // 4]
    pairs = torch.stack([key // I, key % I])
    n = pairs.size(1)
    train, target = pairs[:, :n * 2 // 3], pairs[:, n * 2 // 3:]
    # a few users end up with no held-out item: they must be skipped
    target = target[:, target[0] % 7 != 3]
    user = torch.randn(U, F, generator=g)
    item = torch.randn(I, F, generator=g)
    return train, target, user, item


def naive(user, item, train, target, ks):
    """Per-user Python loop, the AHNS / LightGCN reference definitions."""
    U, I = user.size(0), item.size(0)
    out = {f'{m}@{k}': [] for k in ks for m in ('recall', 'ndcg')}
    for u in range(U):
        truth = set(target[1, target[0] == u].tolist())
        if not truth:
            continue
        seen = set(train[1, train[0] == u].tolist())
        scores = [(float(user[u] @ item[i]), -i) for i in range(I)
                  if i not in seen]
        ranked = [-i for _, i in sorted(scores, reverse=True)]
        for k in ks:
            top = ranked[:k]
            hits = [1.0 if i in truth else 0.0 for i in top]
            out[f'recall@{k}'].append(sum(hits) / len(truth))
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(truth), k)))
            out[f'ndcg@{k}'].append(dcg / idcg)
    return {key: sum(v) / len(v) for key, v in out.items()}


@pytest.mark.parametrize('batch_size', [1, 7, 2048])
@pytest.mark.parametrize('ks', [(10, 20), (1, 5, 10)])
def test_matches_naive_loop(batch_size, ks):
    train, target, user, item = random_problem()
    ev = FullRankingEvaluator(target, 30, 40, train, ks=ks,
                              batch_size=batch_size)
    out = ev(user, item)
    ref = naive(user, item, train, target, ks)
    assert set(out) == set(ref)
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key
    assert ev.num_eval_users == len(set(target[0].tolist()))


def test_matches_pyg_linkpred_metrics():
    train, target, user, item = random_problem(seed=1)
    ev = FullRankingEvaluator(target, 30, 40, [train], ks=(10, 20))
    out = ev(user, item)
    top = ev.topk(user, item, ev.users)
    # ground truth in PyG's format: row = position in the evaluated batch
    local = torch.full((30, ), -1, dtype=torch.long)
    local[ev.users] = torch.arange(ev.users.numel())
    label = torch.stack([local[target[0]], target[1]])
    for k in (10, 20):
        rec, ndcg = LinkPredRecall(k), LinkPredNDCG(k)
        rec.update(top[:, :k], label)
        ndcg.update(top[:, :k], label)
        assert out[f'recall@{k}'] == pytest.approx(float(rec.compute()),
                                                   abs=1e-6)
        assert out[f'ndcg@{k}'] == pytest.approx(float(ndcg.compute()),
                                                 abs=1e-6)


def test_masking_and_duplicates():
    # user 0's best items are in its training set: they must not be ranked
    item = torch.eye(4)
    user = torch.tensor([[4., 3., 2., 1.]])
    train = torch.tensor([[0, 0], [0, 1]])
    target = torch.tensor([[0, 0], [2, 2]])  # repeated pair counts once
    ev = FullRankingEvaluator(target, 1, 4, train, ks=(1, 2))
    out = ev(user, item)
    assert out['recall@1'] == 1.0 and out['ndcg@1'] == 1.0
    assert ev.topk(user, item, torch.tensor([0]))[0].tolist() == [2, 3]


def test_perfect_and_worst_scores():
    U, I = 5, 12
    target = torch.stack([torch.arange(U), torch.arange(U)])
    user = torch.eye(U, I)  # each user scores its own target highest
    ev = FullRankingEvaluator(target, U, I, ks=(1, 10))
    assert all(v == pytest.approx(1.0) for v in ev(user, torch.eye(I)).values())
    # -user: each target is ranked last of 12, outside the top 10
    assert all(v == 0.0 for v in ev(-user, torch.eye(I)).values())


def test_bad_input():
    target = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match='exceeds'):
        FullRankingEvaluator(target, 2, 3, ks=(10, ))
    with pytest.raises(ValueError, match='user ids'):
        FullRankingEvaluator(torch.tensor([[5], [1]]), 2, 3, ks=(1, ))
    with pytest.raises(ValueError, match='item ids'):
        FullRankingEvaluator(target, 2, 3, torch.tensor([[0], [3]]), ks=(1, ))
    ev = FullRankingEvaluator(target, 2, 3, ks=(1, ))
    with pytest.raises(ValueError, match='expected 2 user'):
        ev(torch.randn(3, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match='differ in size'):
        ev(torch.randn(2, 4), torch.randn(3, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='CUDA not available')
def test_cuda_matches_cpu():
    train, target, user, item = random_problem()
    ev = FullRankingEvaluator(target, 30, 40, train)
    cpu = ev(user, item)
    gpu = ev(user.cuda(), item.cuda())
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-5)


def test_int32_ids_beyond_46341_rows():
    # The unique pairs are keyed row * max(rows, cols) + col: in int32 that
    # overflows from 46,341 rows on, so the ids are widened first.
    from adar_pyg.metrics.ranking import _csr
    g = torch.Generator().manual_seed(0)
    rows, cols = 60001, 10
    edge_index = torch.stack([torch.randint(rows, (500, ), generator=g),
                              torch.randint(cols, (500, ), generator=g)])
    edge_index[:, 0] = torch.tensor([rows - 1, cols - 1])
    want = _csr(edge_index, rows, cols)
    got = _csr(edge_index.int(), rows, cols)
    assert torch.equal(got[0], want[0])
    assert torch.equal(got[1].long(), want[1])
    assert got[1].dtype == torch.int32
    pairs = set(map(tuple, edge_index.t().tolist()))
    assert int(want[0][-1]) == len(pairs)


def test_embeddings_must_be_2d():
    target = torch.stack([torch.arange(5), torch.arange(5)])
    ev = FullRankingEvaluator(target, 5, 10, ks=(1, ))
    match = (r"the user and item embeddings must be 2-D, \[num_users, F\] "
             r"and \[num_items, F\] \(got shapes \[5\] and \[10\]\)")
    with pytest.raises(ValueError, match=match):
        ev(torch.randn(5), torch.randn(10))
    with pytest.raises(ValueError, match='must be 2-D'):
        ev(torch.randn(5, 4), torch.randn(10, 4, 1))


def test_empty_target_is_an_error():
    # (0.0 for every metric would read as a model that ranks nothing right)
    for target in (torch.empty(2, 0, dtype=torch.long),
                   torch.tensor([[], []], dtype=torch.long)):
        with pytest.raises(ValueError, match=r"'target_edge_index' is empty "
                           r"\(got shape \[2, 0\]\): no user has a held-out"):
            FullRankingEvaluator(target, 3, 4, ks=(1, ))


def test_excluded_targets_warn_and_count_as_misses():
    train, target, user, item = random_problem(seed=2)
    # user 0's first training item is also held out
    u0 = train[:, train[0] == 0][:, :1]
    overlap = torch.cat([target, u0], dim=1)
    with pytest.warns(UserWarning, match=r"1 of the \d+ held-out \(user, "
                      r"item\) pairs of 'target_edge_index' \(of 1 user\(s\), "
                      r"e.g. user 0\) are also in 'exclude_edge_index': they "
                      r"are masked, never ranked, and count as misses"):
        ev = FullRankingEvaluator(overlap, 30, 40, train, ks=(10, 20))
    out = ev(user, item)
    ref = naive(user, item, train, overlap, (10, 20))
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-6), key
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # disjoint: no warning
        FullRankingEvaluator(target, 30, 40, [train], ks=(10, 20))
        FullRankingEvaluator(target, 30, 40, ks=(10, 20))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(ks=(2.7, )), ValueError,
     r"'ks' must hold positive integer cut-offs \(got \(2.7,\)\)"),
    (dict(ks=(1, 0)), ValueError, "'ks' must hold positive integer"),
    (dict(ks=()), ValueError, "'ks' must hold positive integer"),
    (dict(ks=10), ValueError, r"'ks' must hold positive .* \(got 10\)"),
    (dict(ks='10'), ValueError, r"'ks' must hold positive .* \(got '10'\)"),
    (dict(ks=(True, )), ValueError, "'ks' must hold positive integer"),
    (dict(num_users=3.0), ValueError,
     r"'num_users' must be a positive integer \(got 3.0\)"),
    (dict(num_items='4'), ValueError, "'num_items' must be a positive"),
    (dict(batch_size=2.5), ValueError, "'batch_size' must be a positive"),
    (dict(target_edge_index=torch.tensor([[0.], [1.]])), TypeError,
     r"'target_edge_index' must hold integer ids \(got dtype "
     r"torch.float32\)"),
    (dict(exclude_edge_index=[torch.tensor([[0], [1]]).bool()]), TypeError,
     "'exclude_edge_index' must hold integer ids"),
])
def test_bad_arguments(kwargs, error, match):
    kwargs = {'target_edge_index': torch.tensor([[0], [1]]), 'num_users': 3,
              'num_items': 4, 'ks': (1, ), **kwargs}
    with pytest.raises(error, match=match):
        FullRankingEvaluator(**kwargs)


def test_ks_of_numpy_integers_and_generators():
    import numpy as np
    target = torch.tensor([[0], [1]])
    for ks in ((np.int64(2), 1, 2), (k for k in (2, 1)), [1, 2]):
        assert FullRankingEvaluator(target, 3, 4, ks=ks).ks == [1, 2]
