import pytest
import torch
import torch.nn.functional as F

import adar_pyg
from adar_pyg.augment import Augmenter, NoiseAugmenter, ReweightAugmenter

CONTROLS = [ReweightAugmenter, NoiseAugmenter]


def embeddings(num=16, dim=8, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, num, dim, generator=gen, dtype=dtype).unbind(0)


def test_exports():
    assert adar_pyg.ReweightAugmenter is ReweightAugmenter
    assert adar_pyg.NoiseAugmenter is NoiseAugmenter
    assert {'ReweightAugmenter', 'NoiseAugmenter'} <= set(adar_pyg.__all__)
    assert {'ReweightAugmenter', 'NoiseAugmenter'} <= set(
        adar_pyg.augment.__all__)


@pytest.mark.parametrize('cls', CONTROLS)
def test_repr_and_protocol(cls):
    aug = cls(64)
    assert isinstance(aug, Augmenter)
    assert str(aug) == f'{cls.__name__}(64, weight=0.7)'
    assert str(cls(8, weight=0.1)) == f'{cls.__name__}(8, weight=0.1)'
    assert list(aug.parameters()) == []
    aug.reset_parameters()
    aug.set_epoch(1, 10)
    u, i, j = embeddings()
    assert aug.step(u, i, j) == 0.0
    assert aug.diagnostics() == {}


@pytest.mark.parametrize('weight', [0.0, 0.3, 1.0])
def test_reweight_loss(weight):
    aug = ReweightAugmenter(8, weight=weight)
    assert aug.requires_negative
    u, i, j = embeddings()
    u.requires_grad_()
    gen = aug(u.detach(), i, j)
    assert torch.equal(gen, j) and gen.data_ptr() != j.data_ptr()
    assert not gen.requires_grad
    loss = aug.loss(u, i, j, gen)
    s_pos, s_neg = (u * i).sum(-1), (u * j).sum(-1)
    expected = F.softplus((1 + weight) * s_neg - s_pos).mean()
    assert torch.allclose(loss, expected, rtol=1e-6, atol=1e-7)

    loss.backward()
    with torch.no_grad():  # d/du of softplus((1 + w) s- - s+):
        sig = torch.sigmoid((1 + weight) * s_neg - s_pos).view(-1, 1)
        grad = sig * ((1 + weight) * j - i) / 16
    assert torch.allclose(u.grad, grad, atol=1e-6)


def test_reweight_needs_negative():
    aug = ReweightAugmenter(8)
    u, i, j = embeddings()
    with pytest.raises(ValueError, match="ReweightAugmenter needs the "
                       "sampled negatives: pass 'neg_emb'"):
        aug(u, i)
    with pytest.raises(ValueError, match=r"'neg_emb' must be of shape "
                       r"\[N, embedding_dim=8\]"):
        aug(u, i, j[:, :4])


def test_noise_scale_and_independence():
    aug = NoiseAugmenter(16, weight=0.2)
    assert not aug.requires_negative
    u, i, j = embeddings(num=2048, dim=16)
    i = i * 0.03
    torch.manual_seed(0)
    gen = aug(u, i)  # no negative needed
    assert gen.size() == i.size() and gen.dtype == i.dtype
    assert not gen.requires_grad
    rms = float(i.pow(2).mean().sqrt())
    assert float(gen.pow(2).mean().sqrt()) == pytest.approx(rms, rel=0.02)
    assert abs(float(gen.mean())) < 4 * rms / (2048 * 16)**0.5

    # The same draw whatever the user (or the negative), per global seed:
    torch.manual_seed(0)
    assert torch.equal(aug(u * 5 + 1, i, j), gen)
    torch.manual_seed(0)
    assert torch.equal(aug(-u, i), gen)
    assert not torch.equal(aug(u, i), gen)
    # Scales with the positives:
    torch.manual_seed(0)
    assert torch.allclose(aug(u, i * 10), gen * 10, rtol=1e-5)

    # The loss is D-BPR with the noise as the generated negative:
    loss = aug.loss(u, i, j, gen)
    expected = F.softplus((u * j).sum(-1) + 0.2 * (u * gen).sum(-1) -
                          (u * i).sum(-1)).mean()
    assert torch.allclose(loss, expected)


def test_noise_dtype_and_empty():
    aug = NoiseAugmenter(8)
    u, i, _ = embeddings(dtype=torch.float64)
    assert aug(u, i).dtype == torch.float64
    assert aug(torch.randn(0, 8), torch.randn(0, 8)).size() == (0, 8)
    with pytest.raises(ValueError, match=r"'pos_emb' must be of shape"):
        aug(u, i[:, :4])
    with pytest.raises(TypeError, match='floating point tensor'):
        aug(u, i.long())


@pytest.mark.parametrize('cls', CONTROLS)
@pytest.mark.parametrize('kwargs,match', [
    (dict(embedding_dim=0), "'embedding_dim' must be a positive integer"),
    (dict(embedding_dim=2.5), "'embedding_dim' must be a positive integer"),
    (dict(embedding_dim=True), "'embedding_dim' must be a positive integer"),
    (dict(weight=-0.1), r"'weight' must lie in \[0, 1\]"),
    (dict(weight=1.5), r"'weight' must lie in \[0, 1\]"),
    (dict(weight=float('nan')), r"'weight' must lie in \[0, 1\]"),
])
def test_bad_arguments(cls, kwargs, match):
    kwargs = {'embedding_dim': 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize('cls', [ReweightAugmenter, NoiseAugmenter])
def test_user_embeddings_are_checked(cls):
    aug = cls(8)
    u, i, j = torch.randn(3, 5, 8).unbind(0)
    with pytest.raises(ValueError, match=r"'user_emb' must be of shape "
                       r"\[N, embedding_dim=8\] \(got \[5, 11\]\)"):
        aug(torch.randn(5, 11), i, j)
    with pytest.raises(ValueError, match='one shape'):  # (its loss)
        aug.loss(u, i[:1], j, aug(u, i, j))


def test_reweight_gradient_is_that_of_a_constant_copy():
    r"""The value of softplus((1 + λ) e_u·e_j − e_u·e_i), with the copy a
    constant: e_j gets BPR's gradient, e_u the full one (documented)."""
    torch.manual_seed(0)
    u, i, j = (torch.randn(6, 8, requires_grad=True) for _ in range(3))
    aug = ReweightAugmenter(8, weight=0.7)
    loss = aug.loss(u, i, j, aug(u, i, j))
    full = F.softplus(1.7 * (u * j).sum(-1) - (u * i).sum(-1)).mean()
    assert torch.allclose(loss, full)
    loss.backward()
    with torch.no_grad():
        s = torch.sigmoid(1.7 * (u * j).sum(-1) - (u * i).sum(-1)).view(-1, 1)
        assert torch.allclose(j.grad, s * u / 6, atol=1e-6)
        assert torch.allclose(u.grad, s * (1.7 * j - i) / 6, atol=1e-6)
