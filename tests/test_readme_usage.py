import math
import os

import pytest
import torch

from adar_pyg import d_bpr_loss
from adar_pyg.datasets import default_mirror

# The "plain edge batches" usage of the README, verbatim:
SNIPPET = '''
import torch
from adar_pyg import NegativeAugmenter, d_bpr_loss

num_users, num_items, dim = 100, 50, 16
user_table = torch.nn.Embedding(num_users, dim)
item_table = torch.nn.Embedding(num_items, dim)
optimizer = torch.optim.Adam([user_table.weight, item_table.weight], lr=0.01)
augmenter = NegativeAugmenter(dim, num_steps=50, weight=0.5)

# Training (user, item) pairs, e.g., data['user', 'rates', 'item'].edge_index:
edge_index = torch.stack([torch.randint(num_users, (1000, )),
                          torch.randint(num_items, (1000, ))])

for perm in torch.randperm(edge_index.size(1)).split(256):  # One epoch.
    u, i = edge_index[:, perm]  # Users and their positive items,
    j = torch.randint(num_items, (perm.numel(), ))  # random negatives.
    user_emb, pos_emb, neg_emb = user_table(u), item_table(i), item_table(j)
    augmenter.step(user_emb, pos_emb)  # Its denoiser (source='chain').
    neg_gen = augmenter(user_emb, pos_emb, neg_emb)  # Generated (no grad).
    loss = augmenter.loss(user_emb, pos_emb, neg_emb, neg_gen)  # D-BPR, or
    # d_bpr_loss(user_emb, pos_emb, neg_emb, gen_emb=neg_gen, weight=0.5)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
'''


def test_snippet_is_short():
    assert len(SNIPPET.strip().splitlines()) < 25


def test_snippet_trains():
    torch.manual_seed(0)
    scope = {}
    exec(SNIPPET, scope)

    # The same seed gives the initial tables back (they are drawn first):
    torch.manual_seed(0)
    user_init = torch.nn.Embedding(scope['num_users'], scope['dim']).weight
    item_init = torch.nn.Embedding(scope['num_items'], scope['dim']).weight

    loss = scope['loss']
    assert loss.dim() == 0 and math.isfinite(float(loss))
    assert not torch.equal(scope['user_table'].weight, user_init)
    assert not torch.equal(scope['item_table'].weight, item_init)

    # One epoch of ceil(1000 / 256) = 4 steps of the recommender; the
    # default source='forward' needs no denoiser, and step() trains none:
    optimizer = scope['optimizer']
    state = optimizer.state[optimizer.param_groups[0]['params'][0]]
    assert int(state['step']) == 4
    assert scope['augmenter'].optimizer is None

    # The commented alternative gives the same loss:
    expected = d_bpr_loss(scope['user_emb'], scope['pos_emb'],
                          scope['neg_emb'], gen_emb=scope['neg_gen'],
                          weight=0.5)
    assert torch.allclose(loss, expected)


def readme_block(after: str) -> str:
    r"""The first python block of README.md after the line containing
    :obj:`after`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    rest = text[text.index(after):]
    start = rest.index('```python\n') + len('```python\n')
    return rest[start:rest.index('```', start)]


@pytest.mark.skipif(default_mirror() is None, reason='no dataset mirror')
def test_full_pipeline_snippet_runs(monkeypatch):
    """The README's full-pipeline block, as printed: seeded, short (2
    epochs), a real test result on Amazon-Beauty."""
    code = readme_block('written out,')
    assert 'manual_seed' in code and 'epochs=2' in code
    # its datasets/ folder: the repository's (the processed cache is shared)
    monkeypatch.chdir(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    scope = {}
    exec(code, scope)
    test = scope['result'].test
    assert set(test) == {'recall@10', 'ndcg@10', 'recall@20', 'ndcg@20'}
    assert 0.01 < test['recall@20'] < 0.2
