r"""Sparse embedding gradients on the sampled path
(:obj:`SampledCFTask(sparse_grad=True)`): the same loss and gradient values
as the dense path, an SGD step equal to the dense one, SparseAdam equal to
a per-row Adam on the rows of each step's subgraph (the others untouched),
and the optimiser that :class:`Trainer` builds for it."""
import pytest
import torch

from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.train import SampledCFTask, Trainer
from adar_pyg.train.optim import SparseDenseAdam, make_optimizer

from tiny_data import cf_task, clustered_graph

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Using 'NeighborSampler' without a 'pyg-lib':UserWarning")]

MODELS = {'lightgcn': LightGCN,
          'ngcf': lambda *a, **k: NGCF(*a, node_dropout=0.0,
                                       message_dropout=0.0, **k)}


def task(model='lightgcn', sparse_grad=True, num_neighbors=2, **kwargs):
    r"""The same sampled task (data, fan-outs, initial weights) either way;
    fan-out 2 leaves most nodes out of each step's subgraph."""
    data = clustered_graph(40, 60, per_user=6, clusters=2, reverse=True)
    return cf_task(data, dim=8, layers=2, task=SampledCFTask,
                   model=MODELS[model], batch_size=16,
                   num_neighbors=num_neighbors, sparse_grad=sparse_grad,
                   **kwargs)


def loss_of(t, batch, generator, l2=1e-2):
    out = t.forward(batch, generator)
    return d_bpr_loss(out.user, out.pos, out.neg) + l2 * out.reg


def sgd_run(t, steps=3):
    r"""Loss, embedding gradient (dense) and weights after each of
    :obj:`steps` SGD steps of :obj:`t`, from the same random state (the
    neighbour sampler draws from the global generator)."""
    torch.manual_seed(7)
    generator = torch.Generator().manual_seed(1)
    optimizer = torch.optim.SGD(t.model.parameters(), lr=0.5)
    weight = t.model.embedding.weight
    out = []
    for batch in t.batches(generator):
        loss = loss_of(t, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad = weight.grad
        if grad.is_sparse:  # Only the subgraph's rows, each once:
            rows = grad.coalesce().indices()[0]
            n_rows = batch['user'].num_nodes + batch['item'].num_nodes
            assert rows.numel() == n_rows < weight.size(0)
            grad = grad.to_dense()
        optimizer.step()
        out.append((loss.detach(), grad, [p.detach().clone()
                                          for p in t.model.parameters()]))
        if len(out) == steps:
            return out


@pytest.mark.parametrize('model', ['lightgcn', 'ngcf'])
def test_sgd_step_equals_the_dense_step(model):
    dense, sparse = task(model, False), task(model, True)
    assert dense.sparse_parameters() == []
    assert sparse.sparse_parameters() == [sparse.model.embedding.weight]
    for (loss_d, grad_d, params_d), (loss_s, grad_s, params_s) in zip(
            sgd_run(dense), sgd_run(sparse)):
        assert torch.equal(loss_d, loss_s)
        assert torch.equal(grad_d, grad_s)
        for p, q in zip(params_d, params_s):
            assert torch.equal(p, q)


class NaiveAdam:
    r"""Adam of Algorithm 1 of Kingma & Ba (2015), in the form of their
    Section 2 (:math:`\alpha_t = \alpha\sqrt{1 - \beta_2^t} / (1 -
    \beta_1^t)`, :math:`\theta \leftarrow \theta - \alpha_t m_t /
    (\sqrt{v_t} + \hat\epsilon)`), applied row by row to the rows of a
    sparse gradient only (lazy: the others keep their weights and
    moments); :math:`t` counts the steps taken."""
    def __init__(self, weight, lr, betas=(0.9, 0.999), eps=1e-8):
        self.weight = weight.detach().clone().double()
        self.m = torch.zeros_like(self.weight)
        self.v = torch.zeros_like(self.weight)
        self.lr, (self.b1, self.b2), self.eps, self.t = lr, betas, eps, 0

    def step(self, grad):
        self.t += 1
        grad = grad.coalesce()
        alpha = self.lr * (1 - self.b2**self.t)**0.5 / (1 - self.b1**self.t)
        for r, g in zip(grad.indices()[0].tolist(), grad.values().double()):
            self.m[r] = self.b1 * self.m[r] + (1 - self.b1) * g
            self.v[r] = self.b2 * self.v[r] + (1 - self.b2) * g * g
            self.weight[r] -= alpha * self.m[r] / (self.v[r].sqrt() +
                                                   self.eps)


@pytest.mark.parametrize('model', ['lightgcn', 'ngcf'])
def test_sparse_adam_moves_the_rows_of_the_step_only(model):
    t = task(model)
    trainer = Trainer(t, lr=0.05, progress=False, log=lambda s: None)
    optimizer = trainer.make_optimizer()
    assert isinstance(optimizer, SparseDenseAdam)
    weight = t.model.embedding.weight
    assert (optimizer.dense is None) == (model == 'lightgcn')
    others = [p for p in t.model.parameters() if p is not weight]
    if others:  # NGCF's weights: plain Adam, compared with torch's.
        ref_model = MODELS[model](40, 60, embedding_dim=8, num_layers=2)
        ref_model.load_state_dict(t.model.state_dict())
        ref_others = [p for p in ref_model.parameters()
                      if p is not ref_model.embedding.weight]
        ref_dense = torch.optim.Adam(ref_others, lr=0.05)
    naive = NaiveAdam(weight, lr=0.05)
    generator = torch.Generator().manual_seed(2)
    for step, batch in enumerate(t.batches(generator)):
        before = weight.detach().clone()
        loss = loss_of(t, batch, generator)
        optimizer.zero_grad()
        loss.backward()
        grad = weight.grad.coalesce()
        rows = grad.indices()[0]
        for p, q in zip(others, ref_others if others else []):
            q.grad = p.grad.clone()
        state = optimizer.sparse.state[weight]
        moments = [state[k].clone() if state else torch.zeros_like(weight)
                   for k in ('exp_avg', 'exp_avg_sq')]
        optimizer.step()
        naive.step(grad)
        if others:
            ref_dense.step()
            for p, q in zip(others, ref_others):
                assert torch.equal(p, q)
        out = torch.ones(weight.size(0), dtype=torch.bool)
        out[rows] = False
        assert out.any()
        # Rows outside the step: untouched, weights and moments.
        assert torch.equal(weight.detach()[out], before[out])
        state = optimizer.sparse.state[weight]
        assert state['step'] == step + 1
        assert torch.equal(state['exp_avg'][out], moments[0][out])
        assert torch.equal(state['exp_avg_sq'][out], moments[1][out])
        # Rows of the step: Adam's update (float32 vs float64 reference).
        assert torch.allclose(weight.detach().double(), naive.weight,
                              rtol=1e-5, atol=1e-7)
        assert torch.allclose(state['exp_avg'].double(), naive.m,
                              rtol=1e-5, atol=1e-9)
        assert torch.allclose(state['exp_avg_sq'].double(), naive.v,
                              rtol=1e-5, atol=1e-12)
        if step == 3:
            break
    assert not torch.equal(weight.detach(), before)


def test_the_optimiser_state_round_trips():
    t = task('ngcf')
    optimizer = make_optimizer(t.model, 0.01, t.sparse_parameters())
    g = torch.Generator().manual_seed(0)
    for batch in t.batches(g):
        optimizer.zero_grad()
        loss_of(t, batch, g).backward()
        optimizer.step()
        break
    state = optimizer.state_dict()
    assert set(state) == {'sparse', 'dense'}
    again = make_optimizer(t.model, 0.01, t.sparse_parameters())
    again.load_state_dict(state)
    a, b = again.state_dict(), state
    assert a['sparse']['state'][0]['step'] == b['sparse']['state'][0]['step']
    assert torch.equal(a['sparse']['state'][0]['exp_avg'],
                       b['sparse']['state'][0]['exp_avg'])
    dense_only = torch.optim.Adam(t.model.parameters(), lr=0.01)
    with pytest.raises(ValueError):  # A dense run's state:
        again.load_state_dict(dense_only.state_dict())
    with pytest.raises(ValueError, match='at least one parameter'):
        SparseDenseAdam([], list(t.model.parameters()))
    # Without sparse parameters: torch's Adam, as before.
    assert type(make_optimizer(t.model, 0.01)) is torch.optim.Adam


def test_resume_checks_sparse_grad(tmp_path):
    kwargs = dict(lr=0.05, epochs=1, progress=False, log=lambda s: None,
                  last_checkpoint=str(tmp_path / 'last.pt'))
    Trainer(task(sparse_grad=True), **kwargs).fit(test=False)
    with pytest.raises(ValueError, match=r'sparse_grad=True \(now None\)'):
        Trainer(task(sparse_grad=False), **kwargs).fit(
            resume_from=str(tmp_path / 'last.pt'), test=False)


@pytest.mark.parametrize('model,augmenter', [('lightgcn', True),
                                             ('ngcf', False)])
def test_trainer_fits_with_sparse_grad(model, augmenter):
    from adar_pyg import NegativeAugmenter
    t = task(model)
    aug = NegativeAugmenter(t.model.embedding_dim if model == 'lightgcn'
                            else t.model.out_channels, num_steps=5) \
        if augmenter else None
    before = t.model.embedding.weight.detach().clone()
    result = Trainer(t, aug, lr=1e-2, epochs=2, progress=False,
                     log=lambda s: None).fit()
    assert result.epochs_run == 2 and 'recall@20' in result.test
    assert not torch.equal(t.model.embedding.weight, before)
