import pytest
import torch

from adar_pyg.augment import NegativeAugmenter
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.sampling import SAMPLERS, MixGCFSampler
from adar_pyg.train import CFTask, Trainer

from test_dns import random_graph


@pytest.mark.parametrize('seed', range(8))
def test_chosen_candidates_are_never_train_positives(seed):
    mask, U, I, g = random_graph(seed)
    sampler = MixGCFSampler(mask.nonzero().t(), U, I, num_candidates=4)
    users = torch.randint(U, (300, ), generator=g)
    pos = torch.randint(I, (300, ), generator=g)
    layers = torch.randn(I, 3, 4, generator=g)
    chosen, alpha = sampler.select(users, pos, torch.randn(U, 4), layers, g)
    assert chosen.shape == alpha.shape == (300, 3)
    assert not mask[users.view(-1, 1).expand(-1, 3), chosen].any()
    assert ((alpha >= 0) & (alpha < 1)).all()


def naive_mixgcf(users, pos, cands, alpha, user_emb, item_layers):
    """Positive mixing + hop mixing, one row and one layer at a time."""
    B, L1 = alpha.shape
    out = torch.zeros(B, L1, item_layers.size(-1))
    for b in range(B):
        u = user_emb[users[b]]
        for l in range(L1):
            best, best_score = None, -float('inf')
            for j in cands[b].tolist():
                mixed = (alpha[b, l] * item_layers[pos[b], l] +
                         (1 - alpha[b, l]) * item_layers[j, l])
                score = float(u @ mixed)
                if score > best_score:
                    best, best_score = mixed, score
            out[b, l] = best
    return out


@pytest.mark.parametrize('num_candidates', [1, 5, 16])
def test_synthesis_equals_naive_loop(num_candidates):
    mask, U, I, _ = random_graph(2, density=0.3)
    sampler = MixGCFSampler(mask.nonzero().t(), U, I, num_candidates)
    users, pos = torch.randint(U, (40, )), torch.randint(I, (40, ))
    item_layers = torch.randn(I, 4, 6, requires_grad=True)
    user_emb = torch.randn(U, 6)
    ego = item_layers[:, 0]
    pool = lambda x: x.mean(dim=-2)  # noqa: E731
    emb, emb0 = sampler.negative_embeddings(
        users, pos, user_emb, pool(item_layers), ego,
        torch.Generator().manual_seed(3), item_layers=item_layers, pool=pool)
    g = torch.Generator().manual_seed(3)
    cands = sampler.random_negatives(users, num_candidates, g)
    alpha = torch.rand((40, 4), generator=g)
    ref = naive_mixgcf(users, pos, cands, alpha, user_emb,
                       item_layers.detach())
    assert emb.shape == (40, 6) and emb0.shape == (40, 6)
    assert torch.allclose(emb, ref.mean(1), atol=1e-6)
    # the L2 term of the reference: the layer-0 slice of the mixed negative
    assert torch.allclose(emb0, ref[:, 0], atol=1e-6)
    # the gradient reaches the positive and the chosen candidates
    emb.sum().backward()
    touched = item_layers.grad.abs().sum((1, 2)) > 0
    assert touched[pos].all()
    assert touched.sum() <= pos.unique().numel() + 4 * 40


def test_lightgcn_layers_pool_to_forward():
    edge_index = torch.tensor([[0, 0, 1, 2, 3, 3], [0, 1, 2, 3, 1, 4]])
    model = LightGCN(4, 5, embedding_dim=3, num_layers=2)
    user_layers, item_layers = model.layer_embeddings(edge_index)
    assert user_layers.shape == (4, 3, 3) and item_layers.shape == (5, 3, 3)
    assert torch.equal(user_layers[:, 0], model.embedding.weight[:4])
    user, item = model(edge_index)
    assert torch.allclose(model.pool_layers(user_layers), user, atol=1e-6)
    assert torch.allclose(model.pool_layers(item_layers), item, atol=1e-6)
    # and the same gradient
    w = torch.randn_like(item)
    g1, = torch.autograd.grad((item * w).sum(), model.embedding.weight)
    g2, = torch.autograd.grad(
        (model.pool_layers(model.layer_embeddings(edge_index)[1]) * w).sum(),
        model.embedding.weight)
    assert torch.allclose(g1, g2, atol=1e-6)


def test_bad_input_and_repr(tiny_run_data):
    s = MixGCFSampler(torch.tensor([[0, 1], [1, 2]]), 2, 5)
    assert s.requires_layers
    with pytest.raises(NotImplementedError, match='negative_embeddings'):
        s.sample(torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match='item_layers'):
        s.negative_embeddings(torch.tensor([0]), torch.tensor([1]),
                              torch.randn(2, 3), torch.randn(5, 3),
                              torch.randn(5, 3))
    assert repr(s) == 'MixGCFSampler(users=2, items=5, num_candidates=16)'
    assert SAMPLERS['mixgcf'] is MixGCFSampler
    data = tiny_run_data(24, 20, 6, val_ratio=0.2)
    train, val, test = data.train, data.val, data.test
    with pytest.raises(ValueError, match='per-layer'):
        CFTask(NGCF(24, 20, 8, 2), train, val, test, sampler='mixgcf')


@pytest.mark.parametrize('augment', [False, True])
def test_trains_in_the_loop(augment, tiny_run_data):
    data = tiny_run_data(24, 20, 6, val_ratio=0.2)
    train, val, test = data.train, data.val, data.test
    task = CFTask(LightGCN(24, 20, 8, 2), train, val, test, sampler='mixgcf',
                  batch_size=32)
    out = task.forward(next(task.batches(torch.Generator().manual_seed(0))),
                       torch.Generator().manual_seed(0))
    assert out.neg.shape == out.pos.shape and out.neg.requires_grad
    aug = NegativeAugmenter(8, num_steps=5) if augment else None
    result = Trainer(task, aug, epochs=2, progress=False,
                     log=lambda s: None).fit()
    assert 0 <= result.test['recall@20'] <= 1
