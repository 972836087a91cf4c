import pytest
import torch


@pytest.fixture
def chain_noise():
    r"""The posterior noise of reverse step :obj:`t` for all rows of a naive
    full chain, drawn as `GaussianDiffusion.sample_at` documents it: for the
    rows still in the chain (:obj:`t_stop < t`) only, ordered by
    :obj:`(t_stop, row)`; zero for the others (whose states are not used)."""
    def draw(t_stop: torch.Tensor, t: int, like: torch.Tensor) -> torch.Tensor:
        order = sorted(range(like.size(0)), key=lambda n: (int(t_stop[n]), n))
        active = [n for n in order if t_stop[n] < t]
        z = torch.zeros_like(like)
        z[active] = torch.randn(len(active), like.size(1), dtype=like.dtype)
        return z

    return draw
