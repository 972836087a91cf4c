import pytest
import torch

from adar_pyg.augment import FiLMDenoiser, timestep_embedding


@pytest.mark.parametrize('time_dim', [None, 7])
def test_film_denoiser(time_dim):
    denoiser = FiLMDenoiser(8, hidden_channels=16, time_dim=time_dim)
    d_t = time_dim or 8
    assert str(denoiser) == (f'FiLMDenoiser(8, hidden_channels=16, '
                             f'time_dim={d_t}, cond_dim=8)')

    x, cond = torch.randn(5, 8), torch.randn(5, 8)
    t = torch.tensor([1, 3, 3, 10, 50])
    out = denoiser(x, t, cond)
    assert out.size() == (5, 8) and out.dtype == torch.float32

    # Eq. (7): gamma(e_t, e_u) * x_t + eta(e_t, e_u):
    h = torch.cat([timestep_embedding(t, d_t), cond], dim=-1)
    assert torch.allclose(out, denoiser.gamma(h) * x + denoiser.eta(h),
                          atol=1e-6)
    # The split first layer gives the gradients of the concatenated one:
    params = list(denoiser.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), params)
    ref = (denoiser.gamma(h) * x + denoiser.eta(h)).pow(2).sum()
    for g, g_ref in zip(grads, torch.autograd.grad(ref, params)):
        assert torch.allclose(g, g_ref, atol=1e-5)

    # Time steps of shape [N, 1] are read as one per row:
    assert torch.allclose(denoiser(x, t.view(-1, 1), cond), out)
    # An integer time step is shared by all rows:
    out = denoiser(x, 3, cond)
    assert torch.allclose(out, denoiser(x, torch.full((5, ), 3), cond))
    # The output is affine in x_t for a fixed (t, e_u):
    diff = denoiser(2 * x, 3, cond) - denoiser(x, 3, cond)
    expected = denoiser(x, 3, cond) - denoiser(0 * x, 3, cond)
    assert torch.allclose(diff, expected, atol=1e-5)


def test_film_denoiser_cond_dim():
    denoiser = FiLMDenoiser(8, hidden_channels=16, cond_dim=4)
    out = denoiser(torch.randn(3, 8), torch.tensor([1, 2, 3]),
                   torch.randn(3, 4))
    assert out.size() == (3, 8)


def test_film_denoiser_reset_parameters():
    denoiser = FiLMDenoiser(8, hidden_channels=16)
    torch.manual_seed(0)
    denoiser.reset_parameters()
    state = {k: v.clone() for k, v in denoiser.state_dict().items()}
    with torch.no_grad():
        for p in denoiser.parameters():
            p.add_(1.0)
    torch.manual_seed(0)
    denoiser.reset_parameters()
    for k, v in denoiser.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_film_denoiser_bad_input():
    with pytest.raises(ValueError, match="'embedding_dim' must be at least"):
        FiLMDenoiser(0)
    with pytest.raises(ValueError, match="'hidden_channels' must be at least"):
        FiLMDenoiser(8, hidden_channels=0)
