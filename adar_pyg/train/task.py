from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from torch import Tensor


@dataclass
class BatchOutput:
    r"""What a task hands to the training loop for one mini-batch.

    Attributes:
        user (torch.Tensor): User representations :obj:`[B, F]` (with grad).
        pos (torch.Tensor): Positive item representations :obj:`[B, F]`.
        neg (torch.Tensor): Negative item representations :obj:`[B, F]`.
        reg (torch.Tensor): Unweighted L2 term of the batch's layer-0
            embeddings (scalar), multiplied by the loop's :obj:`l2` weight.
        extra (torch.Tensor, optional): Any further (already weighted) loss
            term of the backbone, e.g. a contrastive loss. (default: :obj:`None`)
        rows_total (int, optional): In multi-process training (see
            :meth:`RecTask.shard`), the number of rows of the whole global
            batch, of which this rank holds :obj:`user.size(0)`.
            (default: :obj:`None`: one process)
    """
    user: Tensor
    pos: Tensor
    neg: Tensor
    reg: Tensor
    extra: Optional[Tensor] = None
    rows_total: Optional[int] = None


class RecTask(ABC):
    r"""The part of training that depends on the kind of recommender
    (collaborative filtering on a graph, sequential models, ...): how batches
    are drawn, how a batch becomes (user, positive, negative) representations,
    and how a split is evaluated. :class:`adar_pyg.train.Trainer` is the one
    loop that drives every task, with or without an augmenter.

    A task implements :meth:`num_batches`, :meth:`batches`, :meth:`forward`,
    :meth:`has_split` and :meth:`evaluate`.

    Attributes:
        model (torch.nn.Module): The trainable backbone.
    """
    model: torch.nn.Module
    batch_size: int
    #: The full-ranking evaluator of each split it evaluates (none: the
    #: metrics it returns are not known ahead, see
    #: :func:`~adar_pyg.train.trainer.metric_names`).
    evaluators: Mapping[str, Any] = MappingProxyType({})
    #: The further test splits :meth:`evaluate` takes (e.g. :obj:`'test_ood'`).
    extra_test_splits: Sequence[str] = ()
    #: The negative sampler it draws with (reported), if any.
    sampler: Optional[Any] = None
    #: This process's rank and the number of ranks (see :meth:`shard`).
    rank: int = 0
    world_size: int = 1

    def shard(self, rank: int, world_size: int) -> None:
        r"""Makes the task one of :obj:`world_size` data-parallel ranks:
        :meth:`batches` then yields the *global* batches (of
        :obj:`world_size` times the batch size, from the same permutation on
        every rank), and :meth:`forward` draws the random parts of the
        whole global batch (identically on every rank) but computes and
        returns the rows of rank :obj:`rank` only (contiguous parts, rank
        order), with :obj:`BatchOutput.rows_total`."""
        raise NotImplementedError(f"{self.__class__.__name__} does not "
                                  f"support multi-process training")

    def shard_columns(self, rank: int, world_size: int) -> None:
        r"""Makes the task one of :obj:`world_size` column-parallel ranks:
        every rank draws the same batches (of the batch size, as one
        process) and the same negatives, but :meth:`forward` propagates
        only rank :obj:`rank`'s embedding columns
        (:func:`~adar_pyg.train.distributed.column_slice`) and gathers the
        batch's rows whole from all ranks
        (:func:`~adar_pyg.train.distributed.gather_columns`), so that the
        model's gradients hold the rank's columns only (the loop steps
        those and exchanges them once per epoch, see
        :class:`~adar_pyg.train.Trainer`)."""
        raise NotImplementedError(f"{self.__class__.__name__} does not "
                                  f"support column-parallel training")

    def _set_shard(self, rank: int, world_size: int, num_rows: int,
                   what: str) -> None:
        r"""Checks that :obj:`num_rows` training rows (:obj:`what`) make at
        least one full batch per rank, then records the rank."""
        steps = num_rows // self.batch_size
        if world_size > max(steps, 1):
            raise ValueError(
                f"{world_size} processes need at least {world_size} batches "
                f"per epoch, but {num_rows} training {what} make "
                f"{max(steps, 1)} full batch(es) of {self.batch_size}; lower "
                f"--nproc or --batch-size")
        self.rank, self.world_size = int(rank), int(world_size)

    def _num_steps(self, num_rows: int) -> int:
        r"""Batches per epoch over :obj:`num_rows` rows; with several ranks,
        global steps, a last global batch with fewer rows than ranks dropped
        (at most :obj:`world_size - 1` rows per epoch)."""
        if self.world_size == 1:
            return -(-num_rows // self.batch_size)
        step = self.batch_size * self.world_size
        return num_rows // step + int(num_rows % step >= self.world_size)

    @abstractmethod
    def num_batches(self) -> int:
        r"""Batches per epoch."""
        raise NotImplementedError

    @abstractmethod
    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        r"""Yields the mini-batches of one epoch."""
        raise NotImplementedError

    @abstractmethod
    def forward(self, batch: Any,
                generator: Optional[torch.Generator] = None) -> BatchOutput:
        r"""Computes the representations of one mini-batch."""
        raise NotImplementedError

    def sparse_parameters(self) -> List[Tensor]:
        r"""The parameters of :obj:`model` whose gradients :meth:`forward`
        makes sparse (the rows a batch reads only), which
        :class:`~adar_pyg.train.Trainer` then updates with
        :class:`~torch.optim.SparseAdam` (see
        :class:`~adar_pyg.train.optim.SparseDenseAdam`); none by default."""
        return []

    @abstractmethod
    def has_split(self, split: str) -> bool:
        r"""Whether :obj:`split` (:obj:`'val'` or :obj:`'test'`) has held-out
        interactions."""
        raise NotImplementedError

    @abstractmethod
    def evaluate(self, split: str) -> Dict[str, float]:
        r"""Full-ranking metrics of :obj:`split`."""
        raise NotImplementedError

    def statistics(self) -> Dict[str, int]:
        r"""Sizes to report (users, items, interactions per split)."""
        return {}

    def representation_dim(self) -> Optional[int]:
        r"""The size :math:`F` of the representations :meth:`forward`
        returns, which an augmenter must be built for (checked by
        :class:`~adar_pyg.train.Trainer` before any training); :obj:`None`
        where the model does not say (checked at the first batch then)."""
        return None
