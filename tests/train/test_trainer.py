import pytest
import torch

from adar_pyg.augment import Augmenter, NegativeAugmenter
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.sequential import GRU4Rec
from adar_pyg.train import CFTask, SampledCFTask, Trainer, load_checkpoint
from adar_pyg.transforms import PerUserRandomSplit

from tiny_data import cf_task, clustered_graph, sr_task


def clustered_data():
    """Users of cluster c interact with items of cluster c: learnable."""
    return clustered_graph(60, 40, per_user=10, clusters=4, time=True,
                           reverse=True)


def make_task(val_ratio=0.2, seed=0, **kwargs):
    # The seed draws the initial embeddings too (the untrained score).
    return cf_task(clustered_data(), dim=16, layers=2, val_ratio=val_ratio,
                   seed=seed, batch_size=64, **kwargs)


def test_training_learns_and_selects_on_val(tmp_path):
    task = make_task()
    before = task.evaluate('test')['recall@10']
    logs = []
    ckpt = tmp_path / 'best.pt'
    result = Trainer(task, lr=0.05, epochs=30, patience=30, progress=False,
                     checkpoint=str(ckpt), log=logs.append).fit()
    # The planted structure must be found. (Untrained, the propagation
    # over the clustered graph already ranks items partly by cluster:
    # recall@10 0.44 on average over initial seeds, up to 0.70; trained,
    # 1.0 for every seed tried.)
    assert result.test['recall@10'] >= 0.9 > before
    assert result.selected_on == 'val' and result.val
    assert 1 <= result.best_epoch <= result.epochs_run == 30
    assert len(result.history) == 30 and len(logs) == 30
    assert result.seconds_per_epoch > 0 and result.seconds_per_eval > 0
    best = max(h['val_recall@20'] for h in result.history)
    assert result.best_score == pytest.approx(best)
    # the checkpoint holds the best state and loads with weights_only=True
    state = load_checkpoint(ckpt)
    assert state['epoch'] == result.best_epoch
    torch.testing.assert_close(state['model']['embedding.weight'],
                               task.model.embedding.weight.detach())
    assert not list(tmp_path.glob('.*.part'))  # written atomically


def test_early_stopping_and_eval_every():
    task = make_task()
    result = Trainer(task, lr=1e-6, epochs=200, eval_every=2, patience=2,
                     progress=False, log=lambda s: None).fit()
    assert result.stopped_early and result.epochs_run < 200
    assert all(h['epoch'] % 2 == 0 for h in result.history)


def test_literal_protocol_without_validation():
    task = make_task(val_ratio=0.0)
    assert not task.has_split('val')
    result = Trainer(task, lr=0.05, epochs=3, progress=False,
                     log=lambda s: None).fit()
    assert result.selected_on == 'test' and result.val == {}
    assert result.best_score == pytest.approx(result.test['recall@20'])
    with pytest.raises(ValueError, match='no held-out'):
        task.evaluate('val')


def test_determinism():
    results = []
    for _ in range(2):
        torch.manual_seed(7)  # the model's initialisation
        results.append(
            Trainer(make_task(), lr=0.01, epochs=2, progress=False, seed=7,
                    log=lambda s: None).fit().test)
    assert results[0] == results[1]


class RecordingAugmenter(Augmenter):
    """A toy augmenter written against the protocol only: checks the
    alternating order of the loop (curriculum, step on detached embeddings,
    generate from the sampled negative, the encoder loss, diagnostics)."""
    requires_negative = True

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 16)
        self.calls = []

    def set_epoch(self, epoch, num_epochs):
        self.calls.append(f'epoch {epoch}/{num_epochs}')

    def step(self, user, pos, neg=None):
        assert not user.requires_grad and not pos.requires_grad
        assert neg is not None and not neg.requires_grad
        self.calls.append('step')
        return 0.0

    def forward(self, user, pos, neg=None):
        self._need_negative(neg)
        self.calls.append('forward')
        return neg.clone()  # The 'reweight' idea: the sampled negative again.

    def loss(self, user, pos, neg, gen):
        self.calls.append('loss')
        assert user.requires_grad
        return torch.nn.functional.softplus((user * (neg - pos)).sum(-1)).mean()

    def diagnostics(self):
        return {'calls': torch.tensor(float(len(self.calls)))}


def test_augmenter_protocol():
    task = make_task()
    aug = RecordingAugmenter()
    trainer = Trainer(task, aug, epochs=1, progress=False, log=lambda s: None)
    result = trainer.fit()
    assert aug.calls[:4] == ['epoch 1/1', 'step', 'forward', 'loss']
    assert len(aug.calls) == 1 + 3 * task.num_batches()
    assert 'aug_calls' in result.history[0]
    assert result.history[0]['aug_score_gen'] == pytest.approx(
        result.history[0]['aug_score_neg'])  # gen is the sampled negative
    with pytest.raises(ValueError, match='needs the sampled negatives'):
        aug(torch.zeros(2, 16), torch.zeros(2, 16))


def test_augmenter_must_follow_the_protocol():
    class NotAnAugmenter(torch.nn.Module):
        def forward(self, user, pos):
            return pos

    with pytest.raises(TypeError, match='Augmenter'):
        Trainer(make_task(), NotAnAugmenter())

    class Incomplete(Augmenter):  # forward is abstract
        pass

    with pytest.raises(TypeError):
        Incomplete()


def test_an_augmenter_of_another_size_is_refused_before_training():
    r"""The augmenter must take the representations the task's forward
    returns (NGCF: its concatenated layers), checked at construction."""
    ngcf = cf_task(clustered_data(), dim=8, layers=2, model=NGCF)
    lightgcn = make_task()
    sr = sr_task(clustered_data(), lambda: GRU4Rec(40, 12, max_len=10),
                 max_len=10)
    for task, dim in ((ngcf, 24), (lightgcn, 16), (sr, 12)):
        assert task.representation_dim() == dim
        out = task.forward(next(iter(task.batches(torch.Generator()))))
        assert out.user.size(1) == out.neg.size(1) == dim
        Trainer(task, NegativeAugmenter(dim), epochs=1)
        with pytest.raises(ValueError, match=f'gives size {dim} .*'
                           f'embedding_dim={dim}'):
            Trainer(task, NegativeAugmenter(8 if dim != 8 else 16))


@pytest.mark.parametrize('task', [CFTask, SampledCFTask])
def test_max_batches_stops_each_epoch_early(task):
    r"""A CF epoch of max_batches is the first batches of the full epoch's
    shuffle (smoke tests, timing)."""
    full = cf_task(clustered_data(), dim=8, layers=2, task=task,
                   batch_size=64)
    short = cf_task(clustered_data(), dim=8, layers=2, task=task,
                    batch_size=64, max_batches=2)
    assert full.num_batches() > 2 == short.num_batches()
    a = list(full.batches(torch.Generator().manual_seed(0)))
    b = list(short.batches(torch.Generator().manual_seed(0)))
    assert len(b) == 2
    if task is CFTask:
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    result = Trainer(short, epochs=1, progress=False,
                     log=lambda s: None).fit()
    assert result.epochs_run == 1
    with pytest.raises(ValueError, match='max_batches'):
        cf_task(clustered_data(), dim=8, layers=2, task=task, max_batches=0)


def test_bad_input():
    task = make_task()
    with pytest.raises(ValueError, match='select_on'):
        Trainer(task, select_on='train')
    with pytest.raises(ValueError, match='epochs'):
        Trainer(task, epochs=0)
    with pytest.raises(ValueError, match='unknown sampler'):
        make_task(sampler='nope')
    train, val, test = PerUserRandomSplit()(clustered_data())
    with pytest.raises(ValueError, match='model is built for'):
        CFTask(LightGCN(5, 40), train, val, test)
    with pytest.raises(FloatingPointError, match='loss became'):
        task.model.embedding.weight.data[0] = float('nan')
        Trainer(task, epochs=1, progress=False).fit()
