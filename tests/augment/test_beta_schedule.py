import math

import pytest
import torch

from adar_pyg.augment import beta_schedule


@pytest.mark.parametrize('schedule', ['linear', 'cosine', 'sigmoid'])
@pytest.mark.parametrize('num_steps', [1, 5, 20, 50, 1000])
def test_beta_schedule_is_monotone(schedule, num_steps):
    betas = beta_schedule(schedule, num_steps)
    assert betas.size() == (num_steps, )
    assert betas.dtype == torch.float64
    assert bool(((betas > 0) & (betas < 1)).all())
    assert bool((betas[1:] >= betas[:-1]).all())

    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    assert bool(((alphas_cumprod > 0) & (alphas_cumprod < 1)).all())
    assert bool((alphas_cumprod[1:] < alphas_cumprod[:-1]).all())
    # The same in float32, as stored by `GaussianDiffusion`:
    assert bool((alphas_cumprod.float() > 0).all())


@pytest.mark.parametrize('schedule', ['linear', 'cosine', 'sigmoid'])
@pytest.mark.parametrize('num_steps', [20, 50])
def test_beta_schedule_ends_in_noise(schedule, num_steps):
    alphas_cumprod = torch.cumprod(1 - beta_schedule(schedule, num_steps), 0)
    assert alphas_cumprod[-1] < 1e-4
    assert alphas_cumprod[0] > 0.99


def test_linear_schedule_is_rescaled():
    betas = beta_schedule('linear', 50)
    assert math.isclose(betas[0], 1e-4 * 1000 / 50)
    assert math.isclose(betas[-1], 0.02 * 1000 / 50)
    assert torch.allclose(betas.diff(), betas.diff()[0].expand(49))
    # Linear with T = 1000 is DDPM's schedule:
    betas = beta_schedule('linear', 1000)
    assert math.isclose(betas[0], 1e-4) and math.isclose(betas[-1], 0.02)
    # The tail is clipped for small T:
    assert beta_schedule('linear', 20)[-1] == 0.999


def test_cosine_schedule():
    T, s = 50, 0.008

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2)**2

    alphas_cumprod = torch.cumprod(1 - beta_schedule('cosine', T), dim=0)
    expected = torch.tensor([f(t) / f(0) for t in range(1, T)],
                            dtype=torch.float64)
    assert torch.allclose(alphas_cumprod[:-1], expected)
    assert beta_schedule('cosine', T)[-1] == 0.999  # Clipped.


def test_sigmoid_schedule():
    betas = beta_schedule('sigmoid', 50)
    start, end = 1e-4 * 20, 0.02 * 20
    assert bool((betas > start).all()) and bool((betas < end).all())
    # Symmetric around the middle of [start, end]:
    assert torch.allclose(betas + betas.flip(0),
                          torch.full_like(betas, start + end))


def test_custom_schedule():
    betas = torch.linspace(0.01, 0.3, 10)
    out = beta_schedule(betas, 10)
    assert out.dtype == torch.float64
    assert torch.allclose(out.float(), betas)

    with pytest.raises(ValueError, match="'num_steps=12'"):
        beta_schedule(betas, 12)
    with pytest.raises(ValueError, match='strictly between 0 and 1'):
        beta_schedule(torch.tensor([0.1, 1.0]), 2)
    with pytest.raises(ValueError, match='one-dimensional'):
        beta_schedule(torch.rand(2, 5) * 0.1 + 0.01, 10)


def test_beta_schedule_bad_input():
    with pytest.raises(ValueError, match="'linear', 'cosine', 'sigmoid'"):
        beta_schedule('quadratic', 50)
    with pytest.raises(ValueError, match="'num_steps' must be at least 1"):
        beta_schedule('linear', 0)
    with pytest.raises(TypeError, match="'num_steps' must be an int"):
        beta_schedule('linear', 50.0)
