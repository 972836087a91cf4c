r"""Divergence guards (a non-finite loss, gradient or parameter stops
training before the step applies it and before anything is evaluated or
saved; the evaluator and the augmenters reject non-finite input) and
errors at construction rather than after compute."""
import math

import pytest
import torch

from adar_pyg.augment import (Augmenter, CausalNegativeAugmenter,
                              NegativeAugmenter)
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.nn import LightGCN
from adar_pyg.train import Trainer, load_checkpoint, save_checkpoint

from tiny_data import cf_task, clustered_graph


def make_task(**kwargs):
    data = clustered_graph(30, 20, per_user=6, clusters=2, reverse=True)
    return cf_task(data, dim=8, layers=1, **{'batch_size': 16, **kwargs})


def fit(task, tmp_path, augmenter=None, **kwargs):
    records = []
    trainer = Trainer(task, augmenter, progress=False, log=lambda s: None,
                      on_evaluate=records.append,
                      checkpoint=str(tmp_path / 'best.pt'),
                      last_checkpoint=str(tmp_path / 'last.pt'), **kwargs)
    return trainer, records


def poison_batch(task, batch, make_bad):
    r"""Calls :obj:`make_bad(out)` on the output of the :obj:`batch`-th
    forward pass; records the weights before that batch's step."""
    forward, calls, seen = task.forward, [0], {}

    def wrapped(*args):
        out = forward(*args)
        calls[0] += 1
        if calls[0] == batch:
            seen['weight'] = task.model.embedding.weight.detach().clone()
            make_bad(out)
        return out

    task.forward = wrapped
    return seen


def test_nonfinite_loss_stops_before_the_step(tmp_path):
    task = make_task()
    seen = poison_batch(task, 3, lambda out: out.user.data.fill_(math.nan))
    trainer, records = fit(task, tmp_path, epochs=3)
    with pytest.raises(FloatingPointError,
                       match=r'loss became nan in epoch 1, batch 3 of 8; '
                       r'stopped before the optimizer step'):
        trainer.fit()
    # The step of batch 3 was not applied; nothing evaluated or saved:
    assert torch.equal(task.model.embedding.weight, seen['weight'])
    assert records == []
    assert not (tmp_path / 'best.pt').exists()
    assert not (tmp_path / 'last.pt').exists()


def test_nonfinite_gradient_with_a_finite_loss(tmp_path):
    task = make_task()

    def bad_gradient(out):  # sqrt'(0) = inf: a finite loss, a NaN gradient.
        out.extra = (task.model.embedding.weight[0, 0] * 0).sqrt()

    seen = poison_batch(task, 11, bad_gradient)
    trainer, records = fit(task, tmp_path, epochs=3)
    with pytest.raises(FloatingPointError,
                       match=r"gradient of 'embedding.weight' holds NaN or "
                       r"infinite values \(the loss is [0-9.]+\) in epoch 2, "
                       r"batch 3 of 8"):
        trainer.fit()
    assert torch.equal(task.model.embedding.weight, seen['weight'])
    assert len(records) == 1  # Epoch 1 only; its checkpoints are finite:
    for name in ('best.pt', 'last.pt'):
        state = load_checkpoint(tmp_path / name)
        assert state['epoch'] == 1
        assert torch.isfinite(state['model']['embedding.weight']).all()


def test_huge_finite_gradients_are_not_mistaken_for_nonfinite(tmp_path):
    task = make_task()

    def huge_gradient(out):  # Entries of 1e36: their float32 sum overflows.
        out.extra = 1e36 * task.model.embedding.weight.sum()

    poison_batch(task, 2, huge_gradient)
    records = []
    Trainer(task, epochs=1, progress=False, log=lambda s: None,
            on_evaluate=records.append).fit()
    assert math.isfinite(records[0]['loss']) and records[0]['loss'] != 0
    # (Adam's second moment of such gradients overflows, which a checkpoint
    # would refuse: see test_save_checkpoint_refuses_nonfinite_tensors.)


class PoisonedAugmenter(Augmenter):
    r"""Its own step makes its parameter NaN at the 2nd batch; its loss
    ignores the generated negatives (weight 0), so the encoder's loss stays
    finite: only the end-of-epoch check can see it."""
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)
        self.calls = 0

    def step(self, user, pos, neg=None):
        self.calls += 1
        if self.calls == 2:
            self.lin.weight.data[0, 0] = math.nan
        return 0.0

    def forward(self, user, pos, neg=None):
        return neg.clone()


def test_nonfinite_parameter_stops_before_evaluation(tmp_path):
    task = make_task()
    trainer, records = fit(task, tmp_path, PoisonedAugmenter(), epochs=2)
    with pytest.raises(FloatingPointError,
                       match=r"parameter 'augmenter.lin.weight' became NaN "
                       r"or infinite in epoch 1 .*nothing was evaluated"):
        trainer.fit()
    assert records == [] and not (tmp_path / 'last.pt').exists()


def test_huge_learning_rate_never_saves_nonfinite_weights(tmp_path):
    task = make_task()
    trainer, records = fit(task, tmp_path, lr=1e30, epochs=3)
    with pytest.raises(FloatingPointError, match='in epoch 1, batch 2 of 8'):
        trainer.fit()
    assert not (tmp_path / 'best.pt').exists()


@pytest.mark.parametrize('kwargs,match', [
    (dict(lr=math.inf), "'lr' must be a finite positive number"),
    (dict(lr=math.nan), "'lr' must be a finite positive number"),
    (dict(lr=0.0), 'need lr > 0'),
    (dict(l2=-1.0), 'need lr > 0 and l2 >= 0'),
    (dict(l2=math.inf), "'l2' must be a finite non-negative number"),
    (dict(epochs=2.7), "'epochs' must be a positive integer"),
    (dict(epochs=0), "'epochs' must be a positive integer"),
    (dict(epochs=True), "'epochs' must be a positive integer"),
    (dict(eval_every=0.5), "'eval_every' must be a positive integer"),
    (dict(patience='3'), "'patience' must be a positive integer"),
    (dict(seed=1.5), "'seed' must be an integer"),
    (dict(monitor='foo'), r"unknown 'monitor' 'foo' \(choose from "
     r"\['recall@10', 'ndcg@10', 'recall@20', 'ndcg@20'\]\)"),
    (dict(monitor='recall@50'), "unknown 'monitor' 'recall@50'"),
])
def test_bad_trainer_arguments_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Trainer(make_task(), **kwargs)


def test_unwritable_checkpoint_fails_at_construction(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    for key in ('checkpoint', 'last_checkpoint'):
        with pytest.raises(OSError, match='cannot write to'):
            Trainer(make_task(), **{key: str(blocker / 'sub' / 'x.pt')})
    with pytest.raises(IsADirectoryError, match='is a directory'):
        Trainer(make_task(), checkpoint=str(tmp_path))


@pytest.mark.parametrize('kwargs', [dict(batch_size=0), dict(batch_size=2.5),
                                    dict(batch_size=True),
                                    dict(eval_batch_size=0)])
def test_bad_task_arguments(kwargs):
    with pytest.raises(ValueError, match='must be a positive integer'):
        make_task(**kwargs)


def test_save_checkpoint_refuses_nonfinite_tensors(tmp_path):
    path = tmp_path / 'x.pt'
    state = {'model': {'w': torch.ones(3), 'b': torch.tensor([1.0, math.inf])},
             'step': torch.tensor(3)}
    with pytest.raises(FloatingPointError, match="'model.b' holds NaN"):
        save_checkpoint(state, path)
    assert list(tmp_path.iterdir()) == []
    state['model']['b'][1] = 0.0
    save_checkpoint(state, path)
    assert torch.equal(load_checkpoint(path)['model']['b'],
                       torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize('which', ['user', 'item'])
def test_evaluator_rejects_nonfinite_embeddings(bad, which):
    target = torch.tensor([[0, 1, 2], [3, 4, 5]])
    evaluator = FullRankingEvaluator(target, 3, 6, ks=(2, ))
    user, item = torch.randn(3, 4), torch.randn(6, 4)
    (user if which == 'user' else item)[1, 2] = bad
    with pytest.raises(ValueError, match=f'the {which} embeddings hold NaN'):
        evaluator(user, item)


@pytest.mark.parametrize('augmenter', [
    lambda: NegativeAugmenter(8, num_steps=5, strategy='adaptive'),
    lambda: CausalNegativeAugmenter(8, num_steps=5, start_steps=(1, 3)),
])
def test_augmenters_check_every_call(augmenter):
    aug = augmenter()
    u, i = torch.randn(6, 8), torch.randn(6, 8)
    aug.step(u, i)
    aug(u, i)  # Fine, then NaN at a later call:
    for method in (aug.step, aug.forward):
        bad = i.clone()
        bad[4, 1] = math.nan
        with pytest.raises(ValueError, match="'pos_emb' contains NaN"):
            method(u, bad)
        bad = u.clone()
        bad[0, 0] = -math.inf
        with pytest.raises(ValueError, match="'user_emb' contains NaN"):
            method(bad, i)
    # Large finite values are not mistaken for overflow:
    big = torch.full((6, 8), 3e38)
    aug(big, big)


def test_adar_divergence_names_the_epoch_and_batch(tmp_path):
    from adar_pyg.errors import DivergedError
    task = make_task()
    # The 3rd batch's user embeddings turn NaN before the augmenter sees
    # them (NaN * 0 keeps the graph):
    poison_batch(task, 3, lambda out: setattr(out, 'user',
                                              out.user * math.nan))
    augmenter = NegativeAugmenter(8, num_steps=5)
    trainer, records = fit(task, tmp_path, augmenter, epochs=2)
    with pytest.raises(DivergedError,
                       match=r"contains NaN or infinite values in epoch 1, "
                       r"batch 3 of 8; stopped before the optimizer step"):
        trainer.fit()
    assert records == [] and not (tmp_path / 'last.pt').exists()


def test_a_foreign_checkpoint_names_the_file_and_shapes(tmp_path):
    from adar_pyg.train import CheckpointMismatchError
    trainer, _ = fit(make_task(), tmp_path, epochs=1)
    trainer.fit()
    other = LightGCN(30, 20, embedding_dim=4, num_layers=1)
    state = load_checkpoint(tmp_path / 'last.pt')
    state['model'] = other.state_dict()
    save_checkpoint(state, tmp_path / 'foreign.pt')
    trainer, _ = fit(make_task(), tmp_path, epochs=2)
    with pytest.raises(CheckpointMismatchError,
                       match=r"foreign.pt' does not fit the model \(LightGCN"
                       r"\): 'embedding.weight' is \[50, 4\] there, \[50, 8\] "
                       r"here") as e:
        trainer.fit(resume_from=tmp_path / 'foreign.pt')
    assert e.value.exit_code == 5 and isinstance(e.value, ValueError)
