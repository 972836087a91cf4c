from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from adar_pyg.checks import check_int
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.nn.models.base import BipartiteRecommender
from adar_pyg.sampling import SAMPLERS, NegativeSampler
from adar_pyg.train.distributed import column_slice, gather_columns
from adar_pyg.train.task import BatchOutput, RecTask

EdgeType = Tuple[str, str, str]


def l2_term(user0: Tensor, pos0: Tensor, neg0: Tensor, rows: int) -> Tensor:
    r"""The L2 term of a batch's layer-0 rows (unweighted, per row)."""
    return 0.5 * (user0.square().sum() + pos0.square().sum() +
                  neg0.square().sum()) / rows


def column_parallel_errors(model: type, sampler: type) -> List[str]:
    r"""Why a backbone class :obj:`model` with a sampler class
    :obj:`sampler` cannot be trained column-parallel (see
    :meth:`CFTask.shard_columns`): their declared contracts
    (:obj:`column_separable`); empty if they can."""
    out = []
    if not (issubclass(model, BipartiteRecommender)
            and model.column_separable):
        out.append(f"column-parallel training needs a backbone that "
                   f"propagates each embedding column on its own "
                   f"(LightGCN); '{model.__name__}' mixes the columns (use "
                   f"--parallel data)")
    if not sampler.column_separable:
        out.append(f"column-parallel training needs negatives drawn from "
                   f"the ids alone (the uniform sampler); "
                   f"'{sampler.__name__}' scores candidates with the whole "
                   f"embeddings (use --parallel data)")
    return out


class CFTask(RecTask):
    r"""Collaborative filtering with BPR-style triplets on a user-item bipartite
    graph: each epoch shuffles the training interactions into mini-batches of
    (user, positive item), a :class:`~adar_pyg.sampling.NegativeSampler` adds
    one negative per row, and the backbone propagates over the training graph.

    The three :class:`~torch_geometric.data.HeteroData` objects are those of
    :class:`~adar_pyg.transforms.PerUserRandomSplit`: the message-passing
    :obj:`edge_index` holds the training edges, each split's
    :obj:`edge_label_index` its positives. Validation is ranked with training
    items masked; test with training and validation items masked. Further
    test sets (*e.g.*, the out-of-distribution one of
    :class:`~adar_pyg.datasets.OODFood`) are ranked like the test set, each
    on its own (the items of the other test sets are not masked), and
    evaluated by name via :meth:`evaluate`.

    The negative representation of a row comes from the sampler's
    :meth:`~adar_pyg.sampling.NegativeSampler.negative_embeddings` (by default
    the final representation of a sampled item id). A sampler with
    :obj:`requires_layers` (MixGCF) is given the backbone's per-layer item
    representations, so the backbone must then provide
    :meth:`layer_embeddings` and :meth:`pool_layers` (as
    :class:`~adar_pyg.nn.LightGCN` does). The L2 term acts on the layer-0
    embeddings of the user, the positive and the negative (for a synthesised
    negative, the layer-0 embedding the sampler returns).

    Args:
        model (BipartiteRecommender): The backbone.
        train_data (HeteroData): Training split.
        val_data (HeteroData): Validation split (may hold no edges).
        test_data (HeteroData): Test split.
        sampler (str or NegativeSampler, optional): Negative sampler or its
            name. (default: :obj:`'uniform'`)
        batch_size (int, optional): Training batch size. (default: :obj:`2048`)
        eval_batch_size (int, optional): Users per evaluation block.
            (default: :obj:`2048`)
        ks (tuple, optional): Metric cut-offs. (default: :obj:`(10, 20)`)
        edge_type (tuple, optional): The user-item edge type.
            (default: :obj:`('user', 'rates', 'item')`)
        device (str or torch.device, optional): Device. (default: :obj:`'cpu'`)
        extra_test_data (Dict[str, HeteroData], optional): Further test
            splits by name (not :obj:`'train'`, :obj:`'val'` or
            :obj:`'test'`), in the form of :obj:`test_data`.
            (default: :obj:`None`)
        max_batches (int, optional): Stop every epoch after this many
            batches (smoke tests, timing; the first batches of the epoch's
            shuffle); :obj:`None` runs full epochs. (default: :obj:`None`)
    """
    def __init__(
        self,
        model: BipartiteRecommender,
        train_data: HeteroData,
        val_data: HeteroData,
        test_data: HeteroData,
        sampler: Union[str, NegativeSampler] = 'uniform',
        batch_size: int = 2048,
        eval_batch_size: int = 2048,
        ks: Tuple[int, ...] = (10, 20),
        edge_type: EdgeType = ('user', 'rates', 'item'),
        device: Union[str, torch.device] = 'cpu',
        extra_test_data: Optional[Dict[str, HeteroData]] = None,
        max_batches: Optional[int] = None,
    ) -> None:
        for name, value in (('batch_size', batch_size),
                            ('eval_batch_size', eval_batch_size)):
            check_int(name, value)
        if max_batches is not None:
            check_int('max_batches', max_batches)
        self.max_batches = max_batches
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"'model' must be a torch.nn.Module (got "
                            f"{type(model).__name__})")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.batch_size = batch_size
        src, _, dst = edge_type
        num_users, num_items = train_data[src].num_nodes, train_data[dst].num_nodes
        if (num_users, num_items) != (model.num_users, model.num_items):
            raise ValueError(
                f"model is built for {model.num_users} users and "
                f"{model.num_items} items but the data has {num_users} and "
                f"{num_items}")
        self.num_users, self.num_items = num_users, num_items
        self._columns: Optional[Tuple[int, int]] = None  # shard_columns
        train = train_data[edge_type].edge_label_index
        val = val_data[edge_type].edge_label_index
        test = test_data[edge_type].edge_label_index
        self.edge_index = train_data[edge_type].edge_index.to(self.device)
        self.train_pairs = train.to(self.device)
        if isinstance(sampler, str):
            if sampler not in SAMPLERS:
                raise ValueError(f"unknown sampler '{sampler}' (choose from "
                                 f"{sorted(SAMPLERS)})")
            sampler = SAMPLERS[sampler](train, num_users, num_items)
        self.sampler = sampler.to(self.device)
        if sampler.requires_layers and not (
                isinstance(model, BipartiteRecommender) and model.per_layer):
            raise ValueError(
                f"sampler '{sampler.__class__.__name__}' needs per-layer "
                f"representations, which '{model.__class__.__name__}' does "
                f"not provide (a BipartiteRecommender with 'per_layer')")
        self.sizes = {'train': train.size(1), 'val': val.size(1),
                      'test': test.size(1)}
        self.evaluators: Dict[str, FullRankingEvaluator] = {}
        if val.size(1) > 0:
            self.evaluators['val'] = FullRankingEvaluator(
                val, num_users, num_items, [train], ks,
                eval_batch_size).to(self.device)
        self.evaluators['test'] = FullRankingEvaluator(
            test, num_users, num_items, [train, val], ks,
            eval_batch_size).to(self.device)
        #: The names of the further test splits.
        self.extra_test_splits = list(extra_test_data or {})
        for name, data in (extra_test_data or {}).items():
            if name in self.sizes:
                raise ValueError(f"extra test split name '{name}' is taken "
                                 f"(use another than {sorted(self.sizes)})")
            label = data[edge_type].edge_label_index
            self.sizes[name] = label.size(1)
            self.evaluators[name] = FullRankingEvaluator(
                label, num_users, num_items, [train, val], ks,
                eval_batch_size).to(self.device)

    def shard(self, rank: int, world_size: int) -> None:
        self._set_shard(rank, world_size, self.train_pairs.size(1),
                        'interactions')

    def shard_columns(self, rank: int, world_size: int) -> None:
        errors = column_parallel_errors(type(self.model), type(self.sampler))
        if errors:
            raise ValueError('; '.join(errors))
        column_slice(self.model.embedding_dim, rank, world_size)  # Divides?
        self._columns = (int(rank), int(world_size))

    def num_batches(self) -> int:
        n = self._num_steps(self.train_pairs.size(1))
        return n if self.max_batches is None else min(n, self.max_batches)

    def batches(self, generator: torch.Generator) -> Iterator[Tensor]:
        perm = torch.randperm(self.train_pairs.size(1), generator=generator)
        perm = perm.to(self.device)
        size = self.batch_size * self.world_size
        for b in range(self.num_batches()):  # (a last global batch with
            # fewer rows than ranks is not one of them)
            yield self.train_pairs[:, perm[b * size:(b + 1) * size]]

    def forward(self, batch: Tensor,
                generator: Optional[torch.Generator] = None) -> BatchOutput:
        if self._columns is not None:
            return self._column_forward(batch, generator)
        users, pos = batch[0], batch[1]
        user0, item0 = self.model.ego_embeddings()
        if self.sampler.requires_layers:
            model: Any = self.model
            user_layers, item_layers = model.layer_embeddings(self.edge_index)
            pool = model.pool_layers
            user_emb, item_emb = pool(user_layers), pool(item_layers)
            neg_emb, neg0 = self.sampler.negative_embeddings(
                users, pos, user_emb, item_emb, item0, generator,
                item_layers=item_layers, pool=pool)
        else:
            user_emb, item_emb = self.model(self.edge_index)
            neg_emb, neg0 = self.sampler.negative_embeddings(
                users, pos, user_emb, item_emb, item0, generator)
        if self.world_size > 1:
            # One rank of several: the negatives were drawn for the whole
            # global batch (the draws of one process); keep this rank's rows.
            rows = torch.arange(users.numel(),
                                device=users.device).tensor_split(
                                    self.world_size)[self.rank]
            users, pos, neg_emb, neg0 = (users[rows], pos[rows],
                                         neg_emb[rows], neg0[rows])
        return BatchOutput(user_emb[users], item_emb[pos], neg_emb,
                           l2_term(user0[users], item0[pos], neg0,
                                users.numel()),
                           rows_total=int(batch.size(1)))

    def _column_forward(self, batch: Tensor,
                        generator: Optional[torch.Generator]
                        ) -> BatchOutput:
        r""":meth:`forward` of one column-parallel rank (see
        :meth:`shard_columns`): the rank's columns propagated, the batch's
        rows gathered whole, the rest as in one process (the same values:
        each column is computed as one process computes it)."""
        users, pos = batch[0], batch[1]
        (user0, item0), (user_emb, item_emb) = self._column_propagate()
        neg_emb, neg0 = self.sampler.negative_embeddings(
            users, pos, user_emb, item_emb, item0, generator)
        user, pos_emb, neg_emb, user0, pos0, neg0 = gather_columns(
            user_emb[users], item_emb[pos], neg_emb, user0[users],
            item0[pos], neg0)
        return BatchOutput(user, pos_emb, neg_emb,
                           l2_term(user0, pos0, neg0, users.numel()))

    def _column_propagate(self) -> Tuple[Tuple[Tensor, Tensor],
                                         Tuple[Tensor, Tensor]]:
        r"""This rank's columns of the layer-0 (user, item) tables and of
        their propagation over the training graph."""
        model: Any = self.model
        cols = column_slice(model.embedding_dim, *self._columns)
        user0, item0 = (x[:, cols] for x in model.ego_embeddings())
        return (user0, item0), model.propagate(
            user0, item0, model.adjacency(self.edge_index))

    def has_split(self, split: str) -> bool:
        return split in self.evaluators

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""Final user and item embeddings in eval mode."""
        training = self.model.training
        self.model.eval()
        if self._columns is not None:  # Each rank its columns, then all:
            out = gather_columns(*self._column_propagate()[1])
        else:
            out = self.model(self.edge_index)
        self.model.train(training)
        return out

    def evaluate(self, split: str) -> Dict[str, float]:
        if split not in self.evaluators:
            raise ValueError(f"split '{split}' has no held-out interactions")
        return self.evaluators[split](*self.embeddings())

    def representation_dim(self) -> Optional[int]:
        return self.model.out_channels if isinstance(
            self.model, BipartiteRecommender) else None

    def statistics(self) -> Dict[str, int]:
        return {'users': self.num_users, 'items': self.num_items,
                **{f'{k}_interactions': v for k, v in self.sizes.items()}}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.model}, sampler='
                f'{self.sampler.__class__.__name__}, '
                f'batch_size={self.batch_size})')
