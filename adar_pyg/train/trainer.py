import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor
from tqdm.auto import tqdm

from adar_pyg.augment.base import Augmenter
from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.train.checkpoint import save_checkpoint
from adar_pyg.train.task import RecTask


@dataclass
class TrainResult:
    r"""Outcome of :meth:`Trainer.fit` (all metrics are fractions)."""
    best_epoch: int
    selected_on: str
    best_score: float
    val: Dict[str, float]
    test: Dict[str, float]
    epochs_run: int
    stopped_early: bool
    seconds_per_epoch: float
    seconds_per_eval: float
    history: List[Dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class Trainer:
    r"""The one training loop of :obj:`adar_pyg`: BPR on (user, positive,
    negative) triplets from any :class:`~adar_pyg.train.RecTask`, optionally with
    an augmenter (e.g. :class:`~adar_pyg.NegativeAugmenter`) trained
    alternately with the encoder (Algorithm 1 of the ADAR paper):

    1. the task turns a mini-batch into user / positive / negative
       representations;
    2. the augmenter takes one optimisation step on the *detached* user and
       positive embeddings and generates its negatives;
    3. the encoder takes one Adam step on the augmenter's loss (D-BPR, Eq. 12)
       or, without an augmenter, on BPR — plus :obj:`l2` times the batch's
       layer-0 L2 term.

    Every :obj:`eval_every` epochs the monitored metric is computed on the
    validation split; training stops after :obj:`patience` evaluations without
    improvement and the test metrics are those of the best validation epoch.
    With :obj:`select_on='test'` (or when the task has no validation split) the
    epoch is selected on the test set itself — the literal protocol of papers
    that report best-epoch test numbers; this is optimistic and labelled so.

    Args:
        task (RecTask): Data, backbone and evaluation.
        augmenter (Augmenter, optional): Generated-negative augmenter (see
            :class:`~adar_pyg.augment.Augmenter`: the loop calls only its
            protocol). (default: :obj:`None`)
        lr (float, optional): Adam learning rate. (default: :obj:`1e-3`)
        l2 (float, optional): Weight of the layer-0 L2 term. (default: :obj:`1e-4`)
        epochs (int, optional): Maximum number of epochs. (default: :obj:`1000`)
        eval_every (int, optional): Epochs between evaluations. (default: :obj:`1`)
        patience (int, optional): Evaluations without improvement before
            stopping. (default: :obj:`10`)
        monitor (str, optional): Metric to select on. (default: :obj:`'recall@20'`)
        select_on (str, optional): :obj:`'val'` or :obj:`'test'`.
            (default: :obj:`'val'`)
        seed (int, optional): Seed of all randomness. (default: :obj:`0`)
        progress (bool, optional): Show a tqdm bar per epoch. (default: :obj:`True`)
        checkpoint (str, optional): Path to write the best state to (atomically).
            (default: :obj:`None`)
        log (callable, optional): Receives the one-line summary of each
            evaluation. (default: :func:`tqdm.write`)
        on_evaluate (callable, optional): Receives the record of each
            evaluation (epoch, mean loss, seconds, validation metrics,
            augmenter diagnostics), as appended to :obj:`history`, *e.g.*
            to write it to a file as it comes. (default: :obj:`None`)
    """
    def __init__(
        self,
        task: RecTask,
        augmenter: Optional[Augmenter] = None,
        lr: float = 1e-3,
        l2: float = 1e-4,
        epochs: int = 1000,
        eval_every: int = 1,
        patience: int = 10,
        monitor: str = 'recall@20',
        select_on: str = 'val',
        seed: int = 0,
        progress: bool = True,
        checkpoint: Optional[str] = None,
        log: Optional[Callable[[str], None]] = None,
        on_evaluate: Optional[Callable[[Dict[str, Any]], None]] = None,
    ) -> None:
        if augmenter is not None and not isinstance(augmenter, Augmenter):
            raise TypeError(f"'augmenter' must be an adar_pyg.augment."
                            f"Augmenter (got {type(augmenter).__name__})")
        if select_on not in ('val', 'test'):
            raise ValueError(f"'select_on' must be 'val' or 'test' "
                             f"(got '{select_on}')")
        for name, value in [('epochs', epochs), ('eval_every', eval_every),
                            ('patience', patience)]:
            if int(value) < 1:
                raise ValueError(f"'{name}' must be positive (got {value})")
        if lr <= 0 or l2 < 0:
            raise ValueError(f"need lr > 0 and l2 >= 0 (got {lr}, {l2})")
        if select_on == 'val' and not task.has_split('val'):
            select_on = 'test'
        self.task, self.augmenter = task, augmenter
        self.lr, self.l2, self.epochs = lr, l2, int(epochs)
        self.eval_every, self.patience = int(eval_every), int(patience)
        self.monitor, self.select_on, self.seed = monitor, select_on, seed
        self.progress, self.checkpoint = progress, checkpoint
        self.log = log or tqdm.write
        self.on_evaluate = on_evaluate
        self.epoch_diagnostics: Dict[str, float] = {}
        if augmenter is not None:
            device = next(task.model.parameters()).device
            augmenter.to(device)

    def _state(self) -> Dict[str, Any]:
        state = {'model': copy.deepcopy(self.task.model.state_dict())}
        if self.augmenter is not None:
            state['augmenter'] = copy.deepcopy(self.augmenter.state_dict())
        return state

    def _load(self, state: Dict[str, Any]) -> None:
        self.task.model.load_state_dict(state['model'])
        if self.augmenter is not None:
            self.augmenter.load_state_dict(state['augmenter'])

    def train_epoch(self, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, epoch: int) -> float:
        r"""One pass over the training batches; returns the mean loss."""
        task, aug = self.task, self.augmenter
        task.model.train()
        if aug is not None:
            aug.set_epoch(epoch, self.epochs)
        total, count = 0.0, 0
        stats: Dict[str, Any] = {}  # sums, kept on the device until the end
        bar = tqdm(task.batches(generator), total=task.num_batches(),
                   desc=f'epoch {epoch}', leave=False,
                   disable=not self.progress)
        for batch in bar:
            out = task.forward(batch, generator)
            if aug is not None:
                user, pos = out.user.detach(), out.pos.detach()
                neg = out.neg.detach()
                aug.step(user, pos, neg)
                gen = aug(user, pos, neg)
                loss = aug.loss(out.user, out.pos, out.neg, gen)
                self._accumulate(stats, user, pos, neg, gen)
            else:
                loss = d_bpr_loss(out.user, out.pos, out.neg)
            loss = loss + self.l2 * out.reg
            if out.extra is not None:
                loss = loss + out.extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss became {value} in epoch {epoch}; lower the learning "
                    f"rate or check the inputs")
            total, count = total + value, count + 1
            if count % 10 == 0:
                bar.set_postfix(loss=f'{total / count:.4f}')
        self.epoch_diagnostics = {k: float(v) / max(count, 1)
                                  for k, v in stats.items()}
        return total / max(count, 1)

    def _accumulate(self, stats: Dict[str, Any], user: Tensor, pos: Tensor,
                    neg: Tensor, gen: Tensor) -> None:
        r"""Diagnostics of generated negatives: mean scores of the positive,
        sampled and generated items, the share of generated negatives scored
        above, and the augmenter's own :meth:`~adar_pyg.augment.Augmenter.
        diagnostics` (*e.g.*, the mean transition step :math:`t^*`)."""
        with torch.no_grad():
            s_pos = (user * pos).sum(-1)
            s_gen = (user * gen).sum(-1)
            values = {
                'score_pos': s_pos.mean(),
                'score_neg': (user * neg).sum(-1).mean(),
                'score_gen': s_gen.mean(),
                'gen_above_pos': (s_gen > s_pos).float().mean(),
                'gen_norm_ratio': gen.norm(dim=-1).mean() /
                pos.norm(dim=-1).mean().clamp(min=1e-12),
            }
            values.update(self.augmenter.diagnostics())
        for key, value in values.items():
            # No float() here: a per-batch host sync on GPUs.
            stats[key] = stats.get(key, 0.0) + (
                value.detach().float() if isinstance(value, Tensor) else value)

    def fit(self) -> TrainResult:
        r"""Trains until :obj:`epochs` or early stopping and returns the metrics
        of the selected epoch."""
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = torch.optim.Adam(self.task.model.parameters(), lr=self.lr)
        best_score, best_epoch, best_state = -math.inf, 0, None
        best_metrics: Dict[str, Dict[str, float]] = {}
        history: List[Dict[str, Any]] = []
        train_times: List[float] = []
        eval_times: List[float] = []
        bad_evals, stopped, epoch = 0, False, 0
        for epoch in range(1, self.epochs + 1):
            t0 = time.perf_counter()
            loss = self.train_epoch(optimizer, generator, epoch)
            train_times.append(time.perf_counter() - t0)
            if epoch % self.eval_every and epoch != self.epochs:
                continue
            t0 = time.perf_counter()
            metrics = {self.select_on: self.task.evaluate(self.select_on)}
            eval_times.append(time.perf_counter() - t0)
            score = metrics[self.select_on][self.monitor]
            history.append({'epoch': epoch, 'loss': loss,
                            'seconds': train_times[-1],
                            **{f'aug_{k}': v for k, v in
                               self.epoch_diagnostics.items()}, **{
                                f'{split}_{k}': v
                                for split, m in metrics.items()
                                for k, v in m.items()}})
            if self.on_evaluate is not None:
                self.on_evaluate(history[-1])
            improved = score > best_score
            self.log(f'epoch {epoch:4d} | loss {loss:.4f} | '
                     f'{self.select_on} {self.monitor} {score:.4f} | '
                     f'{train_times[-1]:.2f}s/epoch' + ''.join(
                         f' | {k} {self.epoch_diagnostics[k]:.3g}'
                         for k in ('t_star', 'gen_above_pos')
                         if k in self.epoch_diagnostics) +
                     (' *' if improved else ''))
            if improved:
                best_score, best_epoch, best_metrics = score, epoch, metrics
                best_state, bad_evals = self._state(), 0
                if self.checkpoint:
                    save_checkpoint({**best_state, 'epoch': epoch,
                                     'score': score}, self.checkpoint)
            else:
                bad_evals += 1
                if bad_evals >= self.patience:
                    stopped = True
                    break
        if best_state is not None:
            self._load(best_state)
        val = best_metrics.get('val', {})
        test = (best_metrics['test'] if self.select_on == 'test' else
                self.task.evaluate('test'))
        return TrainResult(
            best_epoch=best_epoch, selected_on=self.select_on,
            best_score=best_score, val=val, test=test, epochs_run=epoch,
            stopped_early=stopped,
            seconds_per_epoch=sum(train_times) / max(len(train_times), 1),
            seconds_per_eval=sum(eval_times) / max(len(eval_times), 1),
            history=history)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.task}, augmenter='
                f'{self.augmenter}, lr={self.lr}, l2={self.l2}, '
                f'select_on={self.select_on!r})')
