import math

import pytest
import torch
import torch.nn.functional as F

from adar_pyg.sequential import (CL4SRec, augment, info_nce, item_crop,
                                 item_mask, item_reorder)

L, MASK = 12, 99


def batch(seed=0, rows=64):
    """Left-padded rows of every length 1..L (distinct items per row)."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.zeros(rows, L, dtype=torch.long)
    for r in range(rows):
        n = r % L + 1
        seq[r, L - n:] = torch.randperm(50, generator=g)[:n] + 1
    return seq


def items(row):
    return row[row != 0].tolist()


def check_left_padded(out):
    real = out != 0
    # Once a real item appears, all later columns are real:
    assert (real.long().cummax(dim=1).values == real.long()).all()


@pytest.mark.parametrize('ratio', [0.0, 0.2, 0.6, 1.0])
def test_item_crop(ratio):
    seq = batch()
    out = item_crop(seq, ratio, torch.Generator().manual_seed(1))
    check_left_padded(out)
    for row, new in zip(seq, out):
        old, cropped = items(row), items(new)
        k = max(1, math.floor(ratio * len(old)))
        assert len(cropped) == k and 1 <= k <= len(old)
        # A contiguous sub-sequence of the input:
        assert any(old[s:s + k] == cropped for s in range(len(old) - k + 1))


@pytest.mark.parametrize('ratio', [0.0, 0.3, 0.7, 0.95])
def test_item_mask(ratio):
    seq = batch()
    out = item_mask(seq, ratio, MASK, torch.Generator().manual_seed(1))
    assert ((out == 0) == (seq == 0)).all()  # same length, same padding
    for row, new in zip(seq, out):
        old, masked = items(row), items(new)
        num = sum(i == MASK for i in masked)
        assert num == math.floor(ratio * len(old)) < len(old)
        assert all(a == b for a, b in zip(old, masked) if b != MASK)
    with pytest.raises(ValueError, match='padding'):
        item_mask(seq, 0.3, mask_token=0)


@pytest.mark.parametrize('ratio', [0.0, 0.5, 1.0])
def test_item_reorder(ratio):
    seq = batch()
    out = item_reorder(seq, ratio, torch.Generator().manual_seed(1))
    assert ((out == 0) == (seq == 0)).all()
    changed = 0
    for row, new in zip(seq, out):
        old, shuffled = items(row), items(new)
        assert sorted(old) == sorted(shuffled)
        k = math.floor(ratio * len(old))
        diff = [i for i, (a, b) in enumerate(zip(old, shuffled)) if a != b]
        if diff:  # only a window of k items moved
            assert diff[-1] - diff[0] < k
            changed += 1
    assert (changed > 0) == (ratio > 0)


def test_augment_views_never_empty():
    seq = batch(rows=200)
    g = torch.Generator().manual_seed(0)
    out = augment(seq, 0.2, 0.9, 0.6, MASK, g)
    n, m = (seq != 0).sum(1), (out != 0).sum(1)
    assert ((m >= 1) & (m <= n)).all()
    assert ((out != 0) & (out != MASK)).sum(1).min() >= 1
    check_left_padded(out)
    # Deterministic given the generator; all three augmentations occur:
    again = augment(seq, 0.2, 0.9, 0.6, MASK, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert (m < n).any() and (out == MASK).any()


def naive_info_nce(z1, z2, tau):
    z = torch.cat([z1, z2])
    B, total = z1.size(0), 0.0
    for a in range(2 * B):
        pos = (a + B) % (2 * B)
        logits = torch.stack([z[a] @ z[b] / tau for b in range(2 * B)
                              if b != a])
        positive = z[a] @ z[pos] / tau
        total = total - (positive - torch.logsumexp(logits, 0))
    return total / (2 * B)


@pytest.mark.parametrize('tau', [0.2, 1.0])
def test_info_nce(tau):
    z1, z2 = torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(info_nce(z1, z2, tau),
                               naive_info_nce(z1, z2, tau))
    cos = info_nce(z1, z2, tau, 'cos')
    torch.testing.assert_close(
        cos, naive_info_nce(F.normalize(z1, dim=-1), F.normalize(z2, dim=-1),
                            tau))
    with pytest.raises(ValueError, match='similarity'):
        info_nce(z1, z2, similarity='l2')


def test_cl4srec_auxiliary_loss():
    torch.manual_seed(0)
    model = CL4SRec(50, 8, L, cl_weight=0.5, temperature=0.5)
    assert model.mask_token == 51
    seq = batch(rows=16)
    g = torch.Generator().manual_seed(0)
    loss = model.auxiliary_loss(seq, g)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.item_embedding.weight.grad[model.mask_token].abs().sum() > 0
    assert CL4SRec(50, 8, L, cl_weight=0.0).auxiliary_loss(seq) is None
    with pytest.raises(ValueError, match='mask_ratio'):
        CL4SRec(50, 8, L, mask_ratio=1.0)
    assert 'cl_weight=0.5' in repr(model)
    assert repr(model).endswith(", similarity='dot')")
