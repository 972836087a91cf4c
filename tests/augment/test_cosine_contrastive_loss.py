import math

import pytest
import torch

from adar_pyg.augment import cosine_contrastive_loss


def naive(anchor, positive, negative, tau):
    total = 0.0
    for b in range(anchor.size(0)):
        cos = torch.nn.functional.cosine_similarity
        pos = cos(anchor[b], positive[b], dim=0).item() / tau
        negs = [cos(anchor[b], n, dim=0).item() / tau for n in negative]
        total += -pos + math.log(sum(math.exp(s) for s in negs))
    return total / anchor.size(0)


@pytest.mark.parametrize('tau', [0.01, 0.2, 2.0])  # 0.01: logsumexp path
def test_against_naive_loop(tau):
    gen = torch.Generator().manual_seed(0)
    a, p = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64).unbind(0)
    n = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    out = cosine_contrastive_loss(a, p, n, tau)
    assert float(out) == pytest.approx(naive(a, p, n, tau), rel=1e-10)
    # Scale-free (cosine similarities):
    out2 = cosine_contrastive_loss(3 * a, 0.5 * p, 7 * n, tau)
    assert float(out2) == pytest.approx(float(out), rel=1e-10)


def test_gradients_and_bad_inputs():
    a, p = torch.randn(2, 5, 4).unbind(0)
    a.requires_grad_()
    n = torch.randn(8, 4, requires_grad=True)
    cosine_contrastive_loss(a, p, n).backward()
    assert a.grad is not None and n.grad is not None
    with pytest.raises(ValueError, match='temperature'):
        cosine_contrastive_loss(a, p, n, 0.0)
    with pytest.raises(ValueError, match=r"'negative' of shape \[M, d\]"):
        cosine_contrastive_loss(a, p, n[:, :3])


@pytest.mark.parametrize('tau', [0.025, 0.5, 2.0, 0.01])
def test_shifted_log_sum_exp_equals_logsumexp(tau):
    # Against torch.logsumexp in float32, values and gradients, also with
    # all negatives opposite to the anchors (the smallest exponents):
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(6, 8, generator=gen)
    for n in (torch.randn(11, 8, generator=gen), -a.repeat(2, 1)):
        p = a + 0.1 * torch.randn(6, 8, generator=gen)
        a1, n1 = a.clone().requires_grad_(), n.clone().requires_grad_()
        out = cosine_contrastive_loss(a1, p, n1, tau)
        out.backward()
        a2, n2 = a.clone().requires_grad_(), n.clone().requires_grad_()
        an = torch.nn.functional.normalize(a2, dim=-1)
        ref = (torch.logsumexp(
            an @ torch.nn.functional.normalize(n2, dim=-1).t() / tau, -1) -
            torch.nn.functional.cosine_similarity(a2, p) / tau).mean()
        ref.backward()
        assert torch.isfinite(out)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(n1.grad, n2.grad, rtol=1e-4, atol=1e-5)
