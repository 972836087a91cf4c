import pytest
import torch
import torch.nn.functional as F

from adar_pyg.augment import d_bpr_loss


def bpr(u, i, j):
    return -F.logsigmoid((u * i).sum(-1) - (u * j).sum(-1)).mean()


def test_d_bpr_loss_without_generated_is_bpr():
    torch.manual_seed(0)
    u, i, j, d = torch.randn(4, 10, 8).unbind(0)
    expected = bpr(u, i, j)
    assert torch.allclose(d_bpr_loss(u, i, j), expected)
    assert torch.allclose(d_bpr_loss(u, i, j, d, weight=0.0), expected)
    assert torch.allclose(d_bpr_loss(u, i, j, None, weight=0.5), expected)


@pytest.mark.parametrize('weight', [0.1, 0.5, 1.0])
def test_d_bpr_loss(weight):
    torch.manual_seed(0)
    u, i, j, d = torch.randn(4, 10, 8, dtype=torch.float64).unbind(0)
    out = d_bpr_loss(u, i, j, d, weight=weight)

    # Eq. (12), one row at a time, averaged over the batch:
    expected = 0.0
    for n in range(10):
        x = u[n] @ i[n] - (u[n] @ j[n] + weight * (u[n] @ d[n]))
        expected += -torch.log(torch.sigmoid(x))
    assert torch.allclose(out, expected / 10)


def test_d_bpr_loss_is_stable():
    u = torch.full((2, 4), 10.0)
    i = torch.tensor([[-10.0] * 4, [10.0] * 4])
    j = -i
    out = d_bpr_loss(u, i, j)
    assert torch.isfinite(out)
    assert torch.allclose(out, torch.tensor(400.0))  # (800 + 0) / 2.


def test_d_bpr_loss_gradient():
    torch.manual_seed(0)
    u, i, j, d = torch.randn(4, 6, 8).unbind(0)
    u.requires_grad_()
    i.requires_grad_()
    j.requires_grad_()
    d.requires_grad_()
    weight = 0.5

    d_bpr_loss(u, i, j, d, weight=weight).backward()
    assert d.grad is None  # e_d is a constant.

    # d/du softplus(neg - pos) = sigmoid(neg - pos) * (e_j + w * e_d - e_i):
    with torch.no_grad():
        neg = (u * j).sum(-1) + weight * (u * d).sum(-1)
        s = torch.sigmoid(neg - (u * i).sum(-1)).view(-1, 1)
        assert torch.allclose(u.grad, s * (j + weight * d - i) / 6, atol=1e-6)
        assert torch.allclose(i.grad, -s * u / 6, atol=1e-6)
        assert torch.allclose(j.grad, s * u / 6, atol=1e-6)


def test_d_bpr_loss_refuses_broadcasting_and_empty_batches():
    u, i, j = torch.randn(3, 5, 8).unbind(0)
    with pytest.raises(ValueError, match=r"one shape \[N, d\] .*'pos_emb': "
                       r"\(1, 8\)"):
        d_bpr_loss(u, i[:1], j)  # (was broadcast silently)
    with pytest.raises(ValueError, match='one shape'):
        d_bpr_loss(u, i[0], j)
    with pytest.raises(ValueError, match="'gen_emb': \\(5, 4\\)"):
        d_bpr_loss(u, i, j, j[:, :4], weight=0.5)
    empty = torch.empty(0, 8)
    with pytest.raises(ValueError, match='empty batch'):
        d_bpr_loss(empty, empty, empty)
