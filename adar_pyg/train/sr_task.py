from typing import Dict, Iterator, Optional, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.errors import DataError
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.sampling import UniformSampler
from adar_pyg.sequential.base import SequentialRecommender
from adar_pyg.sequential.data import PAD, SequenceSplit
from adar_pyg.train.task import BatchOutput, RecTask


def trim_padding(seq: Tensor, min_width: int = 1) -> Tensor:
    r"""Drops the leading columns of a left-padded batch that are padding in
    every row (keeping at least :obj:`min_width` columns)."""
    nonempty = (seq != PAD).any(dim=0).nonzero()
    start = int(nonempty[0]) if nonempty.numel() else seq.size(1)
    return seq[:, min(start, max(seq.size(1) - min_width, 0)):]


class NoTrainingSequenceError(DataError, ValueError):
    r"""Raised for leave-one-out data in which no user has a training
    sequence of at least two items (nothing to train on)."""


class SRTask(RecTask):
    r"""Sequential recommendation for :class:`~adar_pyg.train.Trainer`, with
    the shifted-sequence objective of SASRec: every position :math:`t` of a
    training sequence predicts the next item :math:`i_{t+1}`.

    Each epoch shuffles the users that have at least one training position
    into mini-batches of :obj:`batch_size` sequences (the latest
    :math:`N + 1` items of :obj:`seq[:-2]`, see
    :class:`~adar_pyg.sequential.LeaveOneOutSplit`). For a batch, the model
    encodes the inputs :obj:`seq[:-1]` position by position, and the
    :class:`~adar_pyg.train.BatchOutput` rows are the non-padding positions,
    flattened:

    * :obj:`user`: the representation :math:`\mathbf{F}_t` of the prefix up
      to position :math:`t` (the :math:`\mathbf{e}_u` of BPR and ADAR);
    * :obj:`pos`: the embedding of the next item :math:`i_{t+1}`;
    * :obj:`neg`: one uniform negative per position, drawn by rejection
      (:class:`~adar_pyg.sampling.UniformSampler`) among the items not in the
      user's training sequence;
    * :obj:`reg`: :math:`\frac{1}{2P} \sum (\|\mathbf{e}_{i}\|^2 +
      \|\mathbf{e}_{j}\|^2)` over the :math:`P` positions, the analogue of the
      collaborative-filtering layer-0 term (the trainer multiplies it by its
      :obj:`l2`; SASRec-style training uses :obj:`l2=0` and dropout);
    * :obj:`extra`: the model's :meth:`auxiliary_loss` (CL4SRec's weighted
      InfoNCE), else :obj:`None`.

    With an augmenter, :class:`~adar_pyg.train.Trainer` therefore generates
    one negative per position, conditioned on the prefix representation,
    exactly as for a (user, item) row in collaborative filtering.

    Evaluation ranks **all** items :math:`1, \ldots, |\mathcal{I}|` (the
    padding row and special tokens are never candidates) with
    :class:`~adar_pyg.metrics.FullRankingEvaluator`: validation scores the
    representation of :obj:`seq[:-2]` for the target :obj:`seq[-2]`, test the
    representation of :obj:`seq[:-1]` for :obj:`seq[-1]`. With one target,
    Recall@:math:`K` equals HR@:math:`K`. With :obj:`mask_history=True` the
    items of the input history (all of it, not only the last :math:`N`) are
    removed from the ranking, except the target itself if it repeats an
    earlier item. Some sequential recommendation codebases (*e.g.*, the
    SASRec reference code with sampled metrics, or RecBole with
    :obj:`repeatable=True`) do not mask; :obj:`mask_history=False` gives that
    protocol, whose numbers are lower and not comparable.

    Args:
        model (SequentialRecommender): The backbone.
        split (SequenceSplit): The leave-one-out data.
        batch_size (int, optional): Sequences per training batch.
            (default: :obj:`256`)
        eval_batch_size (int, optional): Users per evaluation block.
            (default: :obj:`1024`)
        ks (tuple, optional): Metric cut-offs. (default: :obj:`(10, 20)`)
        mask_history (bool, optional): Mask the history items in evaluation.
            (default: :obj:`True`)
        max_batches (int, optional): Stop every epoch after this many batches
            (smoke tests, timing); :obj:`None` runs full epochs.
            (default: :obj:`None`)
        device (str or torch.device, optional): Device of the model; the
            sequences and the random draws stay on the CPU.
            (default: :obj:`'cpu'`)
    """
    def __init__(
        self,
        model: SequentialRecommender,
        split: SequenceSplit,
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        ks: Tuple[int, ...] = (10, 20),
        mask_history: bool = True,
        max_batches: Optional[int] = None,
        device: Union[str, torch.device] = 'cpu',
    ) -> None:
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch sizes must be positive (got "
                             f"{batch_size}, {eval_batch_size})")
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"'max_batches' must be positive (got "
                             f"{max_batches})")
        if model.num_items != split.num_items:
            raise ValueError(f"model is built for {model.num_items} items but "
                             f"the data has {split.num_items}")
        if model.max_len < split.max_len:
            raise ValueError(f"model handles sequences up to {model.max_len} "
                             f"items but the split has max_len="
                             f"{split.max_len}")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.split = split
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.mask_history, self.max_batches = mask_history, max_batches
        self.train_users = split.train_users().cpu()
        if self.train_users.numel() == 0:
            raise NoTrainingSequenceError(
                'no user has a training sequence of at least two items (a '
                'user with 3 interactions keeps 1 to train on, after its '
                'validation and test items)', hint='data with more '
                'interactions per user (e.g. --k-core 4)')
        self.train_seq = split.train_seq.cpu()
        self.sampler = UniformSampler(split.train_edge_index.cpu(),
                                      split.num_users, split.num_items)
        self.inputs = {'val': split.val_seq.cpu(),
                       'test': split.test_seq.cpu()}
        self.evaluators: Dict[str, FullRankingEvaluator] = {}
        for name in ('val', 'test'):
            target = split.target_edge_index(name).cpu()
            if target.size(1) == 0:
                continue
            exclude = (split.history_edge_index(name).cpu()
                       if mask_history else None)
            self.evaluators[name] = FullRankingEvaluator(
                target, split.num_users, split.num_items, exclude, ks,
                eval_batch_size).to(self.device)
        if 'test' not in self.evaluators:
            raise ValueError("no user has a test target (users need at least "
                             "three interactions)")

    def shard(self, rank: int, world_size: int) -> None:
        self._set_shard(rank, world_size, self.train_users.numel(),
                        'sequences')

    def num_batches(self) -> int:
        n = self._num_steps(self.train_users.numel())
        return n if self.max_batches is None else min(n, self.max_batches)

    def batches(self, generator: torch.Generator) -> Iterator[Tensor]:
        perm = self.train_users[torch.randperm(self.train_users.numel(),
                                               generator=generator)]
        size = self.batch_size * self.world_size
        for b in range(self.num_batches()):
            yield perm[b * size:(b + 1) * size]

    def forward(self, batch: Tensor,
                generator: Optional[torch.Generator] = None) -> BatchOutput:
        users = batch.cpu()
        rows = trim_padding(self.train_seq[users], min_width=2)
        inp, nxt = rows[:, :-1], rows[:, 1:]
        keep = inp != PAD
        row_user = users.view(-1, 1).expand_as(inp)[keep]
        pos_item = nxt[keep]
        neg_item = self.sampler.sample(row_user, pos_item - 1,
                                       generator=generator) + 1
        rows_total = None
        if self.world_size > 1:
            # The negatives of the whole global batch were drawn (as by one
            # process, at the global batch's padding width); keep the
            # sequences of this rank and their positions:
            part = torch.arange(users.numel()).tensor_split(
                self.world_size)[self.rank]
            lo, hi = int(part[0]), int(part[-1]) + 1
            per_row = keep.sum(1)
            first = int(per_row[:lo].sum())
            last = first + int(per_row[lo:hi].sum())
            rows_total = int(per_row.sum())
            inp, keep = inp[lo:hi], keep[lo:hi]
            pos_item, neg_item = pos_item[first:last], neg_item[first:last]

        device = self.device
        hidden = self.model(inp.to(device))
        table = self.model.item_embeddings()
        user = hidden[keep.to(device)]
        pos = table[pos_item.to(device)]
        neg = table[neg_item.to(device)]
        reg = 0.5 * (pos.square().sum() + neg.square().sum()) / user.size(0)
        extra = self.model.auxiliary_loss(inp, generator)
        return BatchOutput(user, pos, neg, reg, extra, rows_total)

    def has_split(self, split: str) -> bool:
        return split in self.evaluators

    @torch.no_grad()
    def embeddings(self, split: str) -> Tuple[Tensor, Tensor]:
        r"""Sequence representations of the users with a target in
        :obj:`split` (zero for the others) :obj:`[num_users, d]` and the
        rankable item table :obj:`[num_items, d]` (0-based rows, *i.e.*,
        without the padding row), in eval mode."""
        if split not in self.evaluators:
            raise ValueError(f"split '{split}' has no held-out interactions")
        return self._encode(self.inputs[split],
                            self.evaluators[split].users.cpu())

    @torch.no_grad()
    def history_embeddings(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Representations of the whole histories of :obj:`users`
        (:meth:`~adar_pyg.sequential.data.SequenceSplit.history_seq`: every
        item, the test target included; zero for the other users)
        :obj:`[num_users, d]` and the item table, as in
        :meth:`embeddings`: what a recommendation after the data ranks
        with."""
        return self._encode(self.split.history_seq(), users.cpu())

    def _encode(self, seq: Tensor, users: Tensor) -> Tuple[Tensor, Tensor]:
        training = self.model.training
        self.model.eval()
        user_emb = torch.zeros(self.split.num_users, self.model.embedding_dim,
                               device=self.device)
        for start in range(0, users.numel(), self.eval_batch_size):
            block = users[start:start + self.eval_batch_size]
            rows = trim_padding(seq[block]).to(self.device)
            user_emb[block.to(self.device)] = self.model.encode(rows)
        items = self.model.item_embeddings()[1:]
        self.model.train(training)
        return user_emb, items

    def evaluate(self, split: str) -> Dict[str, float]:
        user_emb, item_emb = self.embeddings(split)  # Checks the split.
        return self.evaluators[split](user_emb, item_emb)

    def representation_dim(self) -> Optional[int]:
        return self.model.embedding_dim if isinstance(
            self.model, SequentialRecommender) else None

    def statistics(self) -> Dict[str, int]:
        return {**self.split.statistics(),
                'train_users': int(self.train_users.numel())}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.model}, '
                f'batch_size={self.batch_size}, '
                f'mask_history={self.mask_history})')
