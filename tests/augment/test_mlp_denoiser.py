import pytest
import torch

from adar_pyg.augment import MLPDenoiser, timestep_embedding


def test_repr():
    assert str(MLPDenoiser(64)) == ('MLPDenoiser(64, hidden_channels=64, '
                                    'time_dim=64, dropout=0.5, '
                                    'normalize=True)')


def test_forward_against_formula():
    torch.manual_seed(0)
    model = MLPDenoiser(8, hidden_channels=16, time_dim=6).eval()
    x = torch.randn(5, 8)
    t = torch.tensor([1, 3, 3, 7, 20])
    out = model(x, t)
    assert out.shape == (5, 8)
    e_t = model.time_lin(timestep_embedding(t, 6))
    h = torch.cat([x / x.norm(dim=-1, keepdim=True), e_t], dim=-1)
    expected = model.lin2(torch.tanh(model.lin1(h)))
    torch.testing.assert_close(out, expected)
    # A step shared by all rows gives the same as one step per row:
    torch.testing.assert_close(model(x, 3), model(x, torch.full((5, ), 3)))
    # Scale-free input with normalize=True:
    torch.testing.assert_close(model(10 * x, t), out)


def test_dropout_in_training_only():
    torch.manual_seed(0)
    model = MLPDenoiser(8, dropout=0.5)
    x = torch.randn(32, 8)
    assert not torch.equal(model(x, 5), model(x, 5))
    model.eval()
    assert torch.equal(model(x, 5), model(x, 5))


def test_reset_parameters():
    model = MLPDenoiser(8)
    before = model.lin1.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.lin1.weight)
    assert float(model.lin1.bias.detach().abs().max()) < 0.01


@pytest.mark.parametrize('kwargs,message', [
    (dict(embedding_dim=0), "'embedding_dim' must be a positive integer"),
    (dict(embedding_dim=8, hidden_channels=0), "'hidden_channels'"),
    (dict(embedding_dim=8, dropout=1.0), "'dropout' must be in"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPDenoiser(**kwargs)
