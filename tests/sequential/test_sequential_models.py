import pytest
import torch

from adar_pyg.sequential import (CL4SRec, GRU4Rec, SASRec,
                                 causal_attention_mask)

NUM_ITEMS, DIM, N = 20, 8, 7
MODELS = {
    'sasrec': lambda: SASRec(NUM_ITEMS, DIM, N, num_layers=2, num_heads=2),
    'gru4rec': lambda: GRU4Rec(NUM_ITEMS, DIM, N),
    'cl4srec': lambda: CL4SRec(NUM_ITEMS, DIM, N),
}


def batch(lengths, width=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        if n:
            seq[row, width - n:] = torch.randint(1, NUM_ITEMS + 1, (n, ),
                                                 generator=g)
    return seq


def make(name):
    torch.manual_seed(0)
    return MODELS[name]().eval()


@pytest.mark.parametrize('name', list(MODELS))
def test_causal(name):
    model = make(name)
    seq = batch([7, 5, 3, 7])
    out = model(seq)
    assert out.shape == (4, N, DIM)
    for col in range(N - 3, N):  # a real position in every row
        changed = seq.clone()
        changed[:, col] = changed[:, col] % NUM_ITEMS + 1
        new = model(changed)
        # Earlier positions never see the change, later ones do:
        torch.testing.assert_close(new[:, :col], out[:, :col])
        assert not torch.allclose(new[:, col:], out[:, col:])


@pytest.mark.parametrize('name', list(MODELS))
def test_padding(name):
    model = make(name)
    seq = batch([7, 4, 1, 0, 2])
    out = model(seq)
    # Padding positions are zero, and their item id never matters:
    assert (out[seq == 0] == 0).all()
    with torch.no_grad():
        model.item_embedding.weight[0] = 100.0
    torch.testing.assert_close(model(seq), out)
    # The amount of leading padding does not change real positions:
    for width in (4, 5, 6):  # row 1 has 4 items
        row = seq[1:2, -width:]
        torch.testing.assert_close(model(row), out[1:2, -width:])
    torch.testing.assert_close(model.encode(seq), out[:, -1])


def test_gru4rec_matches_naive():
    model = make('gru4rec')
    seq = batch([7, 3, 1, 5])
    out = model(seq)
    for row in range(seq.size(0)):
        items = seq[row][seq[row] != 0]
        h, _ = model.gru(model.item_embedding(items).unsqueeze(0))
        torch.testing.assert_close(out[row, N - items.numel():],
                                   model.lin(h[0]))


@pytest.mark.parametrize('name', ['sasrec', 'cl4srec'])
def test_sasrec_grouping_equals_dense(name):
    model = make(name)
    seq = batch([7, 6, 5, 4, 3, 2, 1, 1, 0])
    torch.testing.assert_close(model(seq), model._forward_dense(seq))


def test_causal_attention_mask():
    seq = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    mask = causal_attention_mask(seq, num_heads=2)
    assert mask.shape == (4, 4, 4)
    allowed = ~mask[0]
    assert allowed.tolist() == [[True, False, False, False],
                                [False, True, False, False],
                                [False, False, True, False],
                                [False, False, True, True]]
    assert (~mask[2]).tolist() == torch.ones(4, 4).tril().bool().tolist()
    assert torch.equal(mask[0], mask[1])


@pytest.mark.parametrize('name', list(MODELS))
def test_item_table_and_api(name):
    model = make(name)
    table = model.item_embeddings()
    assert table.shape == (NUM_ITEMS + 1, DIM)
    assert (table[0] == 0).all()
    extra = 1 if name == 'cl4srec' else 0
    assert model.item_embedding.num_embeddings == NUM_ITEMS + 1 + extra
    with pytest.raises(ValueError, match='max_len'):
        model(torch.ones(2, N + 1, dtype=torch.long))
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b)
               for a, b in zip(before, model.parameters()))
    assert (model.item_embeddings()[0] == 0).all()
    assert repr(model).startswith(f'{model.__class__.__name__}({NUM_ITEMS}, ')
    # Training mode: gradients reach the items in the sequences.
    model.train()
    seq = batch([7, 3])
    (model.encode(seq) @ torch.randn(DIM)).sum().backward()
    grad = model.item_embedding.weight.grad
    assert grad[seq[seq != 0]].abs().sum() > 0 and (grad[0] == 0).all()


def test_sasrec_arguments():
    with pytest.raises(ValueError, match='num_heads'):
        SASRec(10, 8, 5, num_heads=3)
    with pytest.raises(ValueError, match='dropout'):
        SASRec(10, 8, 5, dropout=1.0)
    with pytest.raises(ValueError, match='num_items'):
        GRU4Rec(0)
    assert repr(GRU4Rec(10, 8, 5)) == ('GRU4Rec(10, embedding_dim=8, '
                                       'hidden_channels=8, num_layers=1)')
