import math
import numbers
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor
from tqdm.auto import tqdm

from adar_pyg.augment.base import Augmenter, NonFiniteError
from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.checks import check_int, check_real
from adar_pyg.errors import DivergedError
from adar_pyg.io import ensure_writable, remove_stale_parts
from adar_pyg.registry import PARALLEL
from adar_pyg.train import checkpoint as ckpt
from adar_pyg.train import distributed as ddp
from adar_pyg.train import guards
from adar_pyg.train.checkpoint import (  # noqa: F401 (importable from here)
    RESUME_SETTINGS, STATE_FORMAT, FitState, load_checkpoint, rng_state,
    save_checkpoint, set_rng_state)
from adar_pyg.train.optim import make_optimizer
from adar_pyg.train.task import BatchOutput, RecTask


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


def metric_names(task: RecTask) -> Optional[List[str]]:
    r"""The metrics :meth:`RecTask.evaluate` returns, for a task that ranks
    with :class:`~adar_pyg.metrics.FullRankingEvaluator` s (:obj:`None` if
    unknown)."""
    if not task.evaluators:
        return None
    ks = sorted({k for ev in task.evaluators.values() for k in ev.ks})
    return [f'{m}@{k}' for k in ks for m in ('recall', 'ndcg')] or None


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

    **Divergence guards** (:obj:`check_finite=True`): after each backward
    pass, the loss and every gradient of the encoder are checked (one host
    sync per batch, the one the loop needs anyway to read the loss) *before*
    the optimizer step, and all parameters (encoder and augmenter) at the end
    of each epoch, before anything is evaluated or saved. A NaN or infinite
    value stops training with a :class:`~adar_pyg.errors.DivergedError` (a
    :class:`FloatingPointError`) naming the epoch and the batch (or the
    parameter), also when the augmenter meets it first; no checkpoint ever
    holds a non-finite tensor.

    **Resume**: with :obj:`last_checkpoint`, the full state of the run is
    written there (atomically) at every evaluation: model, augmenter, the
    encoder's and the augmenter's optimizers, every random state (see
    :func:`~adar_pyg.train.checkpoint.rng_state`), the epoch, the
    early-stopping state (best score, epoch, metrics and weights,
    evaluations without improvement), the history and the timings (see
    :mod:`~adar_pyg.train.checkpoint`). :meth:`fit` with
    :obj:`resume_from` continues from it: the rest of the run is then
    bit-identical to the uninterrupted one on CPU (the epochs after the last
    evaluation are run again). The task, the model and the augmenter must
    be built as for the interrupted run, and :obj:`lr`, :obj:`l2`,
    :obj:`eval_every`, :obj:`monitor`, :obj:`select_on` and :obj:`seed` be
    the same (:obj:`epochs` and :obj:`patience` may change, *e.g.* to train
    longer).

    **Multi-process training**: built inside an initialised
    :mod:`torch.distributed` process group of :math:`N > 1` ranks (one
    :class:`Trainer` per rank, same settings and seed), the loop is data
    parallel: the task is :meth:`~adar_pyg.train.RecTask.shard` ed (each
    rank takes its part of every global batch of :math:`N` times the task's
    per-rank batch size, from the same permutation), the model's gradients
    are averaged by :class:`~torch.nn.parallel.DistributedDataParallel`
    (each rank's loss weighted by its share of the global batch's rows, so
    that the average is the gradient of the global batch's mean loss), the
    augmenter runs on the global batch gathered from all ranks with rank 0's
    random state (identical on every rank: its parameters stay in sync),
    evaluation is sharded by users and reduced exactly (see
    :meth:`~adar_pyg.metrics.FullRankingEvaluator.distributed`), and rank 0
    alone logs and writes checkpoints. With the same global batch, the
    parameters follow those of one process up to float rounding.

    With :obj:`parallel='columns'` the ranks split the embedding *columns*
    instead (:meth:`~adar_pyg.train.RecTask.shard_columns`; LightGCN with
    uniform negatives): every rank draws the batches of one process (the
    task's batch size, not :math:`N` times it) and the same negatives,
    propagates its :math:`F/N` columns, and computes the loss from the
    batch's rows gathered whole; each rank's gradients, and so its
    optimiser steps, are exact for its own columns, the only ones it reads
    while training, and at the end of every epoch the ranks exchange their
    own columns of the parameters and of the optimiser state, so that
    every rank then holds the whole model (for evaluation and
    checkpoints). The augmenter runs on the same rows with the same random
    state on every rank, and every rank starts from rank 0's weights.
    Every value is computed as one process computes it, so on the CPU,
    with the same threads per process as the one process, the run is that
    of one process bit for bit; the propagation, most of a LightGCN step,
    is shared by the ranks.

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
        last_checkpoint (str, optional): Path to write the full state to at
            every evaluation (atomically), for :meth:`fit`'s
            :obj:`resume_from`. (default: :obj:`None`)
        check_finite (bool, optional): The divergence guards.
            (default: :obj:`True`)
        meta (dict, optional): JSON-able facts about the run (*e.g.* the
            fingerprint of its inputs, see :mod:`adar_pyg.fingerprint`),
            stored in every checkpoint under :obj:`'meta'`.
            (default: :obj:`None`)
        parallel (str, optional): With several ranks, :obj:`'data'` (split
            the batch) or :obj:`'columns'` (split the embedding columns).
            (default: :obj:`'data'`)
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
        last_checkpoint: Optional[str] = None,
        check_finite: bool = True,
        meta: Optional[Dict[str, Any]] = None,
        parallel: str = 'data',
    ) -> None:
        if augmenter is not None and not isinstance(augmenter, Augmenter):
            raise TypeError(f"'augmenter' must be an adar_pyg.augment."
                            f"Augmenter (got {type(augmenter).__name__})")
        dim = task.representation_dim()
        if augmenter is not None and None not in (
                dim, augmenter.embedding_dim) and augmenter.embedding_dim != dim:
            raise ValueError(
                f"the augmenter is built for representations of size "
                f"{augmenter.embedding_dim} but the model "
                f"{type(task.model).__name__} gives size {dim} (build it "
                f"with embedding_dim={dim}: the model's out_channels)")
        if select_on not in ('val', 'test'):
            raise ValueError(f"'select_on' must be 'val' or 'test' "
                             f"(got '{select_on}')")
        if parallel not in PARALLEL:
            raise ValueError(f"'parallel' must be one of {PARALLEL} (got "
                             f"{parallel!r})")
        epochs = check_int('epochs', epochs)
        eval_every = check_int('eval_every', eval_every)
        patience = check_int('patience', patience)
        if isinstance(lr, numbers.Real) and isinstance(l2, numbers.Real) and \
                not isinstance(lr, bool) and (lr <= 0 or l2 < 0):
            raise ValueError(f"need lr > 0 and l2 >= 0 (got {lr}, {l2})")
        lr = check_real('lr', lr, positive=True)
        l2 = check_real('l2', l2, positive=False)
        seed = check_int('seed', seed, minimum=None)
        names = metric_names(task)
        if not isinstance(monitor, str) or (
                names is not None and monitor not in names) or (
                    names is None and
                    not re.fullmatch(r'(recall|ndcg)@[1-9]\d*', monitor)):
            raise ValueError(f"unknown 'monitor' {monitor!r} (choose from "
                             f"{names or ['recall@K', 'ndcg@K']})")
        for name, path in (('checkpoint', checkpoint),
                           ('last_checkpoint', last_checkpoint)):
            if path:
                ensure_writable(path)  # Fails now, not after training.
        if select_on == 'val' and not task.has_split('val'):
            select_on = 'test'
        self.task, self.augmenter = task, augmenter
        self.lr, self.l2, self.epochs = lr, l2, epochs
        self.eval_every, self.patience = eval_every, patience
        self.monitor, self.select_on, self.seed = monitor, select_on, int(seed)
        self.progress, self.checkpoint = progress, checkpoint
        self.last_checkpoint = last_checkpoint
        self.check_finite = bool(check_finite)
        self.meta = meta
        self.log = log or tqdm.write
        self.on_evaluate = on_evaluate
        self.epoch_diagnostics: Dict[str, float] = {}
        if augmenter is not None:
            device = next(task.model.parameters()).device
            augmenter.to(device)
        self.rank, self.world_size = ddp.world()
        self.step_module: Optional[torch.nn.Module] = None
        #: Whether the ranks split the batch, or the embedding columns.
        self.data_parallel = self.world_size > 1 and parallel == 'data'
        self.column_parallel = self.world_size > 1 and parallel == 'columns'
        if self.data_parallel:
            self.step_module = ddp.prepare(task, self.rank, self.world_size)
        elif self.column_parallel:
            task.shard_columns(self.rank, self.world_size)
            ddp.distribute_evaluators(task)
            # Every rank starts from rank 0's weights (as DDP's do):
            ddp.broadcast_parameters(task.model)
            if augmenter is not None:
                ddp.broadcast_parameters(augmenter)
        if self.world_size > 1:
            if self.rank != 0:  # Rank 0 alone logs and writes.
                self.log = lambda line: None
                self.on_evaluate = None
                self.checkpoint = self.last_checkpoint = None
                self.progress = False

    def settings(self) -> Dict[str, Any]:
        r"""The settings recorded in (and checked against) a full-state
        checkpoint (:obj:`sparse_grad` only when the task has sparse
        parameters, so that the checkpoints of dense runs are unchanged)."""
        out = {'lr': self.lr, 'l2': self.l2, 'epochs': self.epochs,
               'eval_every': self.eval_every, 'patience': self.patience,
               'monitor': self.monitor, 'select_on': self.select_on,
               'seed': self.seed, 'num_batches': self.task.num_batches()}
        if self.task.sparse_parameters():
            out['sparse_grad'] = True
        return out

    def make_optimizer(self) -> Any:
        r"""The encoder's optimiser, as :meth:`fit` builds it: Adam with
        :obj:`lr`, or, if the task has
        :meth:`~adar_pyg.train.RecTask.sparse_parameters`,
        :class:`~torch.optim.SparseAdam` on those and Adam on the others
        (:class:`~adar_pyg.train.optim.SparseDenseAdam`)."""
        return make_optimizer(self.task.model, self.lr,
                              self.task.sparse_parameters())

    def full_state(self, run: FitState, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator) -> Dict[str, Any]:
        r"""Everything :meth:`fit` needs to continue from :obj:`run`, as
        saved in :obj:`last_checkpoint` (see
        :func:`~adar_pyg.train.checkpoint.full_state`)."""
        return ckpt.full_state(run, self.settings(), self.task.model,
                               self.augmenter, optimizer, generator,
                               self.meta)

    def check_state(self, state: Dict[str, Any], source: str) -> None:
        r"""Raises a :class:`ValueError` (naming :obj:`source`) if the
        full-state checkpoint :obj:`state` cannot continue this run: another
        format, other settings, another augmenter, or weights that do not
        fit the model or the augmenter (a
        :class:`~adar_pyg.train.checkpoint.CheckpointMismatchError` naming
        the differing shapes). Nothing is changed."""
        ckpt.check_state(state, source, self.settings(), self.task.model,
                         self.augmenter)

    def train_epoch(self, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, epoch: int) -> float:
        r"""One pass over the training batches; returns the mean loss."""
        task, aug = self.task, self.augmenter
        task.model.train()
        if aug is not None:
            aug.set_epoch(epoch, self.epochs)
        total, count = 0.0, 0
        stats: Dict[str, Any] = {}  # sums, kept on the device until the end
        num_batches = task.num_batches()
        params = [p for group in optimizer.param_groups
                  for p in group['params']]
        bar = tqdm(task.batches(generator), total=num_batches,
                   desc=f'epoch {epoch}', leave=False,
                   disable=not self.progress)
        if self.world_size > 1:  # The same permutation on every rank:
            ddp.broadcast_rng(generator)
        for batch in bar:
            try:
                loss, gen = self._batch_loss(batch, generator, stats,
                                             optimizer)
            except NonFiniteError as e:  # Raised by the augmenter:
                raise DivergedError(
                    f"{e} {self._where(epoch, count + 1, num_batches)}"
                    f"{self._diagnose(None)}; lower the learning rate or "
                    f"check the inputs") from e
            if self.check_finite:  # Before the step can apply anything:
                value = self._finite_loss(loss, params, epoch, count + 1,
                                          num_batches, gen)
                self._step(optimizer)
            else:
                self._step(optimizer)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise DivergedError(
                        f"loss became {value} in epoch {epoch}; lower the "
                        f"learning rate or check the inputs")
            total, count = total + value, count + 1
            if count % 10 == 0:
                bar.set_postfix(loss=f'{total / count:.4f}')
        self.epoch_diagnostics = {k: float(v) / max(count, 1)
                                  for k, v in stats.items()}
        if self.column_parallel:  # Each rank's own columns, to all:
            ddp.sync_columns(self._column_tensors(optimizer), self.rank,
                             self.world_size)
        return total / max(count, 1)

    def _step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.column_parallel:  # This rank's columns:
            ddp.column_adam_step(optimizer, self.rank, self.world_size)
        else:
            optimizer.step()

    def _column_tensors(self, optimizer: torch.optim.Optimizer
                        ) -> List[Tensor]:
        r"""Column-parallel training: the model's parameters and their
        optimiser state of the same shape (Adam's moments), of which each
        rank updates its own columns only."""
        params = list(self.task.model.parameters())
        return params + [m for p in params
                         for m in ddp.adam_moments(optimizer, p)]

    def _batch_loss(self, batch: Any, generator: torch.Generator,
                    stats: Dict[str, Any],
                    optimizer: torch.optim.Optimizer) -> Tuple[Tensor, Any]:
        r"""The loss of one batch, its gradients computed (no step yet; with
        several ranks, averaged by DDP), and the augmenter's generated
        negatives."""
        loss, gen = self._loss(batch, generator, stats)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.data_parallel:  # The global batch's (same on every rank):
            return ddp.all_sum(loss.detach()) / self.world_size, gen
        return loss, gen

    def _loss(self, batch: Any, generator: torch.Generator,
              stats: Dict[str, Any]) -> Tuple[Tensor, Optional[Tensor]]:
        r"""The loss of one batch (before backward) and the augmenter's
        generated negatives: the augmenter's loss (D-BPR, Eq. 12) or BPR,
        plus :obj:`l2` times the layer-0 L2 term and the task's extra
        term. With several ranks, this rank's part of the global batch
        (through the DDP-wrapped forward), weighted by its share of the
        rows."""
        aug = self.augmenter
        forward = (self.task.forward if self.step_module is None else
                   self.step_module)
        out: BatchOutput = forward(batch, generator)
        gen = None
        if aug is not None:
            seen, gen = self._generate(out)
            loss = aug.loss(out.user, out.pos, out.neg, gen)
            self._accumulate(stats, *seen)
        else:
            loss = d_bpr_loss(out.user, out.pos, out.neg)
        loss = loss + self.l2 * out.reg
        if self.data_parallel:
            # DDP averages the ranks' gradients: weighted by the share of
            # rows, that average is the gradient of the global batch's mean
            # loss.
            rows = out.user.size(0)
            total = out.rows_total if out.rows_total else \
                rows * self.world_size
            loss = loss * (self.world_size * rows / total)
        if out.extra is not None:
            loss = loss + out.extra
        return loss, gen

    def _generate(self, out: BatchOutput) -> Tuple[Tuple[Tensor, ...],
                                                   Tensor]:
        r"""The augmenter's training step on the batch's detached user,
        positive and sampled-negative embeddings and its negatives generated
        for them. Returns the augmenter's inputs and output (for
        :meth:`_accumulate`) and the generated negatives of this rank's
        rows. With several ranks, the augmenter runs on the global batch
        gathered from all of them with rank 0's random state (the same
        step on every rank: its parameters stay in sync)."""
        aug = self.augmenter
        user, pos = out.user.detach(), out.pos.detach()
        neg = out.neg.detach()
        if not self.data_parallel:  # (Column-parallel: the same everywhere.)
            aug.step(user, pos, neg)
            gen = aug(user, pos, neg)
            return (user, pos, neg, gen), gen
        rows = user.size(0)
        # The global batch, as one process sees it, in rank order:
        rows_all, counts = ddp.gather_rows(torch.cat([user, pos, neg], dim=1))
        user, pos, neg = rows_all.tensor_split(3, dim=1)
        offset = sum(counts[:self.rank])
        before = ddp.broadcast_rng()  # Rank 0's draws on every rank.
        try:
            aug.step(user, pos, neg)
            gen = aug(user, pos, neg)
        finally:
            if self.rank != 0:  # Its own stream goes on (dropout).
                ddp.restore_rng(before)
        return (user, pos, neg, gen), gen[offset:offset + rows]

    def _finite_loss(self, loss: Tensor, params: List[Tensor], epoch: int,
                     batch: int, num_batches: int,
                     gen: Optional[Tensor]) -> float:
        r"""The loss as a float, after checking that it and every gradient
        are finite (see :func:`~adar_pyg.train.guards.finite_loss`); in
        column-parallel training, on every rank's columns, so that all
        ranks stop at the same batch."""
        def where() -> str:
            return self._where(epoch, batch, num_batches) + \
                self._diagnose(gen)
        if not self.column_parallel:
            return guards.finite_loss(loss, params, self.task.model, where)
        error: Optional[DivergedError] = None
        try:
            value = guards.finite_loss(loss, params, self.task.model, where)
        except DivergedError as e:
            error = e
        failed = ddp.all_sum(torch.tensor([float(error is not None)]))
        if error is not None:
            raise error
        if float(failed) > 0:
            raise DivergedError(
                f"another process's columns of the gradients hold NaN or "
                f"infinite values {where()}; lower the learning rate or "
                f"check the inputs")
        return value

    @staticmethod
    def _where(epoch: int, batch: int, num_batches: int) -> str:
        return (f'in epoch {epoch}, batch {batch} of {num_batches}; '
                f'stopped before the optimizer step (nothing of this batch '
                f'was applied, nothing evaluated or saved)')

    def _named_parameters(self) -> List[Tuple[str, Tensor]]:
        named = [(f'model.{n}', p) for n, p in
                 self.task.model.named_parameters()]
        if self.augmenter is not None:
            named += [(f'augmenter.{n}', p) for n, p in
                      self.augmenter.named_parameters()]
        return named

    def _diagnose(self, gen: Optional[Tensor]) -> str:
        return guards.diagnose(self._named_parameters(), gen)

    def _nonfinite_parameters(self) -> Optional[str]:
        r"""The name of the first non-finite parameter of the model or the
        augmenter (:obj:`None` if all are finite; one host sync)."""
        return guards.nonfinite_parameter(self._named_parameters())

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

    def fit(self, resume_from: Optional[Union[str, os.PathLike,
                                              Dict[str, Any]]] = None,
            test: bool = True) -> TrainResult:
        r"""Trains until :obj:`epochs` or early stopping and returns the metrics
        of the selected epoch.

        Args:
            resume_from (str or dict, optional): A full-state checkpoint
                written to :obj:`last_checkpoint` (its path or its loaded
                content) to continue from, instead of starting afresh.
                (default: :obj:`None`)
            test (bool, optional): Evaluate the selected epoch on the test
                split; with :obj:`False` the test split is never read and
                :attr:`TrainResult.test` is empty (hyper-parameter search,
                see :mod:`adar_pyg.tune`; needs :obj:`select_on='val'`).
                (default: :obj:`True`)
        """
        if not test and self.select_on != 'val':
            raise ValueError("fit(test=False) selects on the validation "
                             "split, but this run selects on 'test' (no "
                             "validation split, or select_on='test')")
        optimizer = self.make_optimizer()
        generator, run = self._start(resume_from, optimizer)
        for path in (self.last_checkpoint, self.checkpoint):
            if path:  # The temporary files of killed writers of `path`:
                path = os.path.abspath(path)
                remove_stale_parts(os.path.dirname(path),
                                   [os.path.basename(path)])
        while not run.stopped and run.epoch < self.epochs:
            epoch = run.epoch + 1
            t0 = time.perf_counter()
            loss = self.train_epoch(optimizer, generator, epoch)
            if self.check_finite:
                bad = self._nonfinite_parameters()
                if bad is not None:
                    raise DivergedError(
                        f"parameter '{bad}' became NaN or infinite in epoch "
                        f"{epoch} (by its last batch, "
                        f"{self.task.num_batches()}); nothing was evaluated "
                        f"or saved; lower the learning rate")
            run.train_times.append(time.perf_counter() - t0)
            run.epoch = epoch
            if epoch % self.eval_every and epoch != self.epochs:
                continue
            self._evaluate(run, loss)
            if self.last_checkpoint:
                save_checkpoint(self.full_state(run, optimizer, generator),
                                self.last_checkpoint)
        if run.best_state is not None:
            ckpt.load_weights(run.best_state, self.task.model, self.augmenter)
        val = run.best_metrics.get('val', {})
        test = ({} if not test else run.best_metrics['test']
                if self.select_on == 'test' else self.task.evaluate('test'))
        return TrainResult(
            best_epoch=run.best_epoch, selected_on=self.select_on,
            best_score=run.best_score, val=val, test=test,
            epochs_run=run.epoch, stopped_early=run.stopped,
            seconds_per_epoch=sum(run.train_times) / max(
                len(run.train_times), 1),
            seconds_per_eval=sum(run.eval_times) / max(len(run.eval_times),
                                                       1),
            history=run.history)

    def _start(self, resume_from: Optional[Union[str, os.PathLike,
                                                 Dict[str, Any]]],
               optimizer: torch.optim.Optimizer
               ) -> Tuple[torch.Generator, FitState]:
        r"""The batch generator and the state of a fresh run (seeded), or
        those of the full-state checkpoint :obj:`resume_from`, its weights,
        optimizers and random states loaded."""
        if resume_from is None:
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            if self.data_parallel and self.rank > 0:
                # Its own global stream (dropout masks):
                torch.manual_seed(self.seed + self.rank)
            return generator, FitState()
        generator = torch.Generator()
        source = (os.fspath(resume_from) if not isinstance(
            resume_from, dict) else 'the state')
        state = (resume_from if isinstance(resume_from, dict) else
                 load_checkpoint(resume_from))  # On the CPU: the RNGs.
        self.check_state(state, source)
        run = ckpt.restore(state, source, self.task.model, self.augmenter,
                           optimizer, generator)
        if self.data_parallel and self.rank > 0:
            torch.manual_seed(self.seed + self.rank + 7919 * run.epoch)
        if run.best_state is not None:
            # A run killed between writing its best checkpoint and its last
            # left the best of an evaluation this state has not seen; a
            # replay that does not improve again would not replace it.
            self._save_best(run)
        self.log(f'resumed from epoch {run.epoch}' + (
            '' if isinstance(resume_from, dict) else f' ({source})'))
        return generator, run

    def _evaluate(self, run: FitState, loss: float) -> None:
        r"""The evaluation after epoch :obj:`run.epoch`: the record, the log
        line, the early-stopping state and the best checkpoint."""
        epoch = run.epoch
        t0 = time.perf_counter()
        metrics = {self.select_on: self.task.evaluate(self.select_on)}
        run.eval_times.append(time.perf_counter() - t0)
        score = metrics[self.select_on][self.monitor]
        run.history.append({'epoch': epoch, 'loss': loss,
                            'seconds': run.train_times[-1],
                            **{f'aug_{k}': v for k, v in
                               self.epoch_diagnostics.items()}, **{
                                f'{split}_{k}': v
                                for split, m in metrics.items()
                                for k, v in m.items()}})
        if self.on_evaluate is not None:
            self.on_evaluate(run.history[-1])
        improved = score > run.best_score
        self.log(f'epoch {epoch:4d} | loss {loss:.4f} | '
                 f'{self.select_on} {self.monitor} {score:.4f} | '
                 f'{run.train_times[-1]:.2f}s/epoch' + ''.join(
                     f' | {k} {self.epoch_diagnostics[k]:.3g}'
                     for k in ('t_star', 'gen_above_pos')
                     if k in self.epoch_diagnostics) +
                 (' *' if improved else ''))
        if improved:
            run.best_score, run.best_epoch = score, epoch
            run.best_metrics = metrics
            run.best_state = ckpt.weights(self.task.model, self.augmenter)
            run.bad_evals = 0
            self._save_best(run)
        else:
            run.bad_evals += 1
            if run.bad_evals >= self.patience:
                run.stopped = True

    def _save_best(self, run: FitState) -> None:
        r"""Writes the best checkpoint (the weights of the best evaluation
        so far, its epoch and score), if the trainer keeps one."""
        if self.checkpoint:
            save_checkpoint({**run.best_state, 'epoch': run.best_epoch,
                             'score': run.best_score, 'meta': self.meta},
                            self.checkpoint)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.task}, augmenter='
                f'{self.augmenter}, lr={self.lr}, l2={self.l2}, '
                f'select_on={self.select_on!r})')
