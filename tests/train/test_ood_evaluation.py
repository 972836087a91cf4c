r"""CFTask with a further (out-of-distribution) test split, and CNSDiff in
the training loop."""
import pytest
import torch

from adar_pyg import CausalNegativeAugmenter
from adar_pyg.datasets import split_views
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.nn import LightGCN
from adar_pyg.train import CFTask, Trainer

from tiny_data import clustered_graph

E = ('user', 'rates', 'item')
U, I = 30, 20


def ood_splits(seed=0):
    r"""Users of cluster c like items of cluster c; four disjoint sets."""
    data = clustered_graph(U, I, per_user=8, clusters=2, seed=seed)
    pairs = data[E].edge_index.view(2, U, 8)
    part = {'train': pairs[:, :, :4], 'val': pairs[:, :, 4:5],
            'test': pairs[:, :, 5:6], 'test_ood': pairs[:, :, 6:]}
    part = {k: v.reshape(2, -1) for k, v in part.items()}
    return split_views(U, I, part['train'], part)


def make_task(**kwargs):
    views = ood_splits()
    model = LightGCN(U, I, embedding_dim=8, num_layers=2)
    task = CFTask(model, views['train'], views['val'], views['test'],
                  batch_size=32, extra_test_data={'test_ood':
                                                  views['test_ood']},
                  **kwargs)
    return task, views


def test_extra_test_split_is_ranked_like_the_test_split():
    task, views = make_task()
    assert task.extra_test_splits == ['test_ood']
    assert task.has_split('test_ood')
    assert task.statistics()['test_ood_interactions'] == 60
    user, item = task.embeddings()
    train = views['train'][E].edge_index
    val = views['val'][E].edge_label_index
    reference = FullRankingEvaluator(views['test_ood'][E].edge_label_index,
                                     U, I, [train, val])
    assert task.evaluate('test_ood') == reference(user, item)
    with pytest.raises(ValueError, match="name 'val' is taken"):
        CFTask(LightGCN(U, I, embedding_dim=8), views['train'], views['val'],
               views['test'], extra_test_data={'val': views['test_ood']})


def test_trainer_with_cnsdiff():
    task, _ = make_task()
    aug = CausalNegativeAugmenter(8, hidden_channels=16)
    logs = []
    trainer = Trainer(task, aug, lr=0.01, epochs=3, patience=3,
                      progress=False, log=logs.append)
    before = [p.detach().clone() for p in aug.denoiser.parameters()]
    result = trainer.fit()
    assert aug.progress == 1.0  # The curriculum reached its end.
    assert all(not torch.equal(a, b)
               for a, b in zip(before, aug.denoiser.parameters()))
    last = result.history[-1]
    for key in ('aug_t_star', 'aug_mix_ratio', 'aug_diff_loss',
                'aug_cl_loss', 'aug_gen_above_pos'):
        assert key in last
    assert 10 <= last['aug_t_star'] <= 18
    assert 't_star' in logs[-1]
    assert set(task.evaluate('test_ood')) == {'recall@10', 'recall@20',
                                              'ndcg@10', 'ndcg@20'}
