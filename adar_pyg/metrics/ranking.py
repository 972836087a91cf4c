import math
import numbers
import warnings
from collections.abc import Iterable
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.utils import coalesce

from adar_pyg.checks import check_int


def _csr(edge_index: Tensor, num_rows: int, num_cols: int) -> tuple:
    r"""(indptr, indices) of the unique pairs in :obj:`edge_index`, rows sorted."""
    # (as int64: the key row * max(rows, cols) + col overflows int32 sooner)
    row, col = coalesce(edge_index.long(), num_nodes=max(num_rows, num_cols))
    col = col.to(edge_index.dtype)
    indptr = torch.zeros(num_rows + 1, dtype=torch.long,
                         device=edge_index.device)
    indptr[1:] = torch.cumsum(torch.bincount(row, minlength=num_rows), 0)
    return indptr, col


def _block_coords(indptr: Tensor, indices: Tensor, rows: Tensor) -> tuple:
    r"""Flattened (local row, column) coordinates of the CSR entries of
    :obj:`rows` (vectorised; no loop over rows)."""
    start, end = indptr[rows], indptr[rows + 1]
    count = end - start
    local = torch.repeat_interleave(
        torch.arange(rows.numel(), device=rows.device), count)
    offset = torch.arange(int(count.sum()), device=rows.device)
    offset = offset - torch.repeat_interleave(torch.cumsum(count, 0) - count,
                                              count)
    return local, indices[start[local] + offset]


class FullRankingEvaluator:
    r"""Full-ranking top-:math:`K` evaluation of inner-product recommenders:
    every user with at least one held-out item is scored against **all** items,
    the items in :obj:`exclude_edge_index` (the user's training items and, for
    the test set, validation items) are masked, and

    .. math::
        \mathrm{Recall@}K(u) = \frac{|\mathrm{top}_K(u) \cap \mathcal{T}_u|}
        {|\mathcal{T}_u|}, \qquad
        \mathrm{NDCG@}K(u) = \frac{\sum_{r=1}^{K}
        \mathbb{1}[\mathrm{top}_K(u)_r \in \mathcal{T}_u] / \log_2(r + 1)}
        {\sum_{r=1}^{\min(|\mathcal{T}_u|, K)} 1 / \log_2(r + 1)}

    are averaged over users — the definitions of the LightGCN and AHNS
    reference code (users without held-out items are skipped; a held-out
    pair that is also excluded is masked, so it counts as a miss, as there:
    the constructor warns of such pairs with a :class:`UserWarning`). Users
    are processed in blocks: one score matmul, one masked :func:`torch.topk`
    and one gather per block, no Python loop over users. Index structures
    are built once at construction, so calling the evaluator every epoch is
    cheap.

    Args:
        target_edge_index (torch.Tensor): Held-out (user, item) pairs
            :obj:`[2, E]` (0-based ids; at least one pair).
        num_users (int): Number of users.
        num_items (int): Number of items.
        exclude_edge_index (torch.Tensor or list, optional): Pairs never to
            rank (e.g. training edges), one tensor or a list of tensors.
            (default: :obj:`None`)
        ks (Sequence[int], optional): Cut-offs (positive integers, at most
            :obj:`num_items`). (default: :obj:`(10, 20)`)
        batch_size (int, optional): Users per block. (default: :obj:`2048`)

    Raises:
        ValueError: If an argument is invalid, an id is out of range, or
            :obj:`target_edge_index` is empty (no user to evaluate).
        TypeError: If an edge index does not hold integer ids.
    """
    def __init__(
        self,
        target_edge_index: Tensor,
        num_users: int,
        num_items: int,
        exclude_edge_index: Optional[Union[Tensor, List[Tensor]]] = None,
        ks: Sequence[int] = (10, 20),
        batch_size: int = 2048,
    ) -> None:
        cut_offs = (list(ks) if isinstance(ks, Iterable)
                    and not isinstance(ks, (str, bytes)) else [])
        if not cut_offs or not all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool)
                and k >= 1 for k in cut_offs):
            raise ValueError(f"'ks' must hold positive integer cut-offs "
                             f"(got {ks!r})")
        ks = sorted({int(k) for k in cut_offs})
        self.num_users = check_int('num_users', num_users)
        self.num_items = check_int('num_items', num_items)
        if ks[-1] > num_items:
            raise ValueError(f"cut-off {ks[-1]} exceeds the number of items "
                             f"({num_items})")
        self.ks = ks
        self.batch_size = check_int('batch_size', batch_size)
        self._check(target_edge_index, 'target_edge_index')
        if target_edge_index.size(1) == 0:
            raise ValueError("'target_edge_index' is empty (got shape "
                             f"{list(target_edge_index.shape)}): no user has "
                             "a held-out item to rank")
        if exclude_edge_index is None:
            exclude_edge_index = []
        elif isinstance(exclude_edge_index, Tensor):
            exclude_edge_index = [exclude_edge_index]
        for e in exclude_edge_index:
            self._check(e, 'exclude_edge_index')
        self.target = _csr(target_edge_index, self.num_users, self.num_items)
        exclude = (torch.cat(list(exclude_edge_index), dim=1)
                   if len(exclude_edge_index) else
                   target_edge_index.new_empty((2, 0)))
        self.exclude = _csr(exclude, self.num_users, self.num_items)
        self._warn_excluded_targets()
        self.num_targets = self.target[0].diff()
        self.users = self.num_targets.nonzero().view(-1)
        max_k = ks[-1]
        discount = 1.0 / torch.log2(torch.arange(2, max_k + 2,
                                                 dtype=torch.float))
        self.discount = discount
        self.idcg = torch.cat([torch.zeros(1), discount.cumsum(0)])
        self._device = torch.device('cpu')
        self.process_group: Optional[Any] = None
        self._reduce_device = torch.device('cpu')

    def _warn_excluded_targets(self) -> None:
        # Held-out pairs that are also excluded are masked, so never ranked:
        # each counts as a miss (as in the reference code), silently lowering
        # the metrics. Said once, at construction.
        keys = []
        for indptr, indices in (self.target, self.exclude):
            row = torch.repeat_interleave(
                torch.arange(self.num_users, device=indptr.device),
                indptr.diff())
            keys.append(row * self.num_items + indices.long())
        both = torch.isin(keys[0], keys[1])
        if bool(both.any()):
            users = torch.div(keys[0][both], self.num_items,
                              rounding_mode='floor').unique()
            warnings.warn(
                f"{int(both.sum())} of the {keys[0].numel()} held-out "
                f"(user, item) pairs of 'target_edge_index' (of "
                f"{users.numel()} user(s), e.g. user {int(users[0])}) are "
                f"also in 'exclude_edge_index': they are masked, never "
                f"ranked, and count as misses", UserWarning, stacklevel=3)

    def _check(self, edge_index: Tensor, name: str) -> None:
        if not isinstance(edge_index, Tensor):
            raise TypeError(f"'{name}' must be a tensor (got "
                            f"{type(edge_index).__name__})")
        dtype = edge_index.dtype
        if (dtype == torch.bool or dtype.is_floating_point
                or dtype.is_complex):
            raise TypeError(f"'{name}' must hold integer ids (got dtype "
                            f"{dtype})")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'{name}' must have shape [2, E] "
                             f"(got {list(edge_index.shape)})")
        if edge_index.numel() == 0:
            return
        if int(edge_index[0].min()) < 0 or int(
                edge_index[0].max()) >= self.num_users:
            raise ValueError(f"'{name}' has user ids outside "
                             f"[0, {self.num_users - 1}]")
        if int(edge_index[1].min()) < 0 or int(
                edge_index[1].max()) >= self.num_items:
            raise ValueError(f"'{name}' has item ids outside "
                             f"[0, {self.num_items - 1}]")

    def to(self, device: Union[str, torch.device]) -> 'FullRankingEvaluator':
        device = torch.device(device)
        self.target = tuple(t.to(device) for t in self.target)
        self.exclude = tuple(t.to(device) for t in self.exclude)
        self.num_targets = self.num_targets.to(device)
        self.users = self.users.to(device)
        self.discount = self.discount.to(device)
        self.idcg = self.idcg.to(device)
        self._device = device
        return self

    @property
    def num_eval_users(self) -> int:
        return int(self.users.numel())

    @torch.no_grad()
    def topk(self, user_emb: Tensor, item_emb: Tensor,
             users: Tensor) -> Tensor:
        r"""Top-:math:`K_{max}` item ids for :obj:`users` with excluded pairs
        masked."""
        scores = user_emb[users] @ item_emb.t()
        local, col = _block_coords(*self.exclude, users)
        scores[local, col] = -math.inf
        return scores.topk(self.ks[-1], dim=1).indices

    @torch.no_grad()
    def __call__(self, user_emb: Tensor, item_emb: Tensor) -> Dict[str, float]:
        r"""Returns :obj:`{'recall@K': ..., 'ndcg@K': ...}` (fractions) for the
        final user embeddings :obj:`[num_users, F]` and item embeddings
        :obj:`[num_items, F]`. Non-finite embeddings raise a
        :class:`ValueError`."""
        if user_emb.dim() != 2 or item_emb.dim() != 2:
            raise ValueError(
                f"the user and item embeddings must be 2-D, [num_users, F] "
                f"and [num_items, F] (got shapes {list(user_emb.shape)} and "
                f"{list(item_emb.shape)})")
        if user_emb.size(0) != self.num_users or item_emb.size(
                0) != self.num_items:
            raise ValueError(
                f"expected {self.num_users} user and {self.num_items} item "
                f"embeddings (got {user_emb.size(0)} and {item_emb.size(0)})")
        if user_emb.size(-1) != item_emb.size(-1):
            raise ValueError("user and item embeddings differ in size "
                             f"({user_emb.size(-1)} vs {item_emb.size(-1)})")
        # NaN scores would rank arbitrarily (ties favour low item ids) and
        # give plausible-looking metrics, so they are an error:
        finite = torch.isfinite(user_emb).all() & torch.isfinite(
            item_emb).all()
        if not bool(finite):
            which = ('user' if not bool(torch.isfinite(user_emb).all()) else
                     'item')
            raise ValueError(f"the {which} embeddings hold NaN or infinite "
                             f"values (the model diverged?); refusing to "
                             f"rank them")
        if user_emb.device != self._device:
            self.to(user_emb.device)
        rank, world_size = 0, 1
        group = self.process_group
        if group is not None:
            import torch.distributed as dist
            rank = dist.get_rank(group)
            world_size = dist.get_world_size(group)
        sums = self.block_sums(user_emb, item_emb, rank, world_size)
        if group is not None:
            import torch.distributed as dist
            device = self._reduce_device
            reduced = sums.to(device)
            dist.all_reduce(reduced, group=group)
            sums = reduced.cpu()
        return self.reduce(sums)

    def distributed(self, group: Optional[Any] = None,
                    device: Union[str, torch.device] = 'cpu'
                    ) -> 'FullRankingEvaluator':
        r"""Shards every later call over the ranks of the
        :obj:`torch.distributed` process group :obj:`group` (the default
        group if :obj:`None`): each rank ranks the user blocks
        :obj:`rank, rank + N, ...` only, the per-block metric sums (one
        float64 tensor) are all-reduced (each block is summed by one rank,
        the others add zeros: exact) and summed in block order as a single
        process does, so every rank returns metrics equal to the
        single-process ones exactly. All ranks must call the evaluator
        together. :obj:`device` is where the sums are reduced (:obj:`'cuda'`
        for NCCL)."""
        import torch.distributed as dist
        self.process_group = group if group is not None else \
            dist.group.WORLD
        self._reduce_device = torch.device(device)
        return self

    @property
    def num_blocks(self) -> int:
        return -(-int(self.users.numel()) // self.batch_size)

    @property
    def metric_keys(self) -> List[str]:
        return [f'{m}@{k}' for k in self.ks for m in ('recall', 'ndcg')]

    @torch.no_grad()
    def block_sums(self, user_emb: Tensor, item_emb: Tensor, rank: int = 0,
                   world_size: int = 1) -> Tensor:
        r"""The per-block sums of the per-user metric values
        :obj:`[num_blocks, len(metric_keys)]` (float64, on the CPU) of the
        user blocks :obj:`rank, rank + world_size, ...` (zeros for the
        others)."""
        keys = self.metric_keys
        out = torch.zeros(self.num_blocks, len(keys), dtype=torch.float64)
        max_k = self.ks[-1]
        for b in range(rank, self.num_blocks, world_size):
            start = b * self.batch_size
            users = self.users[start:start + self.batch_size]
            top = self.topk(user_emb, item_emb, users)
            truth = torch.zeros(users.numel(), self.num_items, dtype=torch.bool,
                                device=top.device)
            local, col = _block_coords(*self.target, users)
            truth[local, col] = True
            hits = truth.gather(1, top).to(user_emb.dtype)
            n = self.num_targets[users].to(user_emb.dtype)
            hits_cum = hits.cumsum(1)
            dcg_cum = (hits * self.discount[:max_k]).cumsum(1)
            row = {}
            for k in self.ks:
                row[f'recall@{k}'] = float((hits_cum[:, k - 1] / n).sum())
                idcg = self.idcg[n.long().clamp(max=k)]
                row[f'ndcg@{k}'] = float((dcg_cum[:, k - 1] / idcg).sum())
            out[b] = torch.tensor([row[key] for key in keys],
                                  dtype=torch.float64)
        return out

    def reduce(self, block_sums: Tensor) -> Dict[str, float]:
        r"""The metrics from :meth:`block_sums` (summed over the blocks in
        order, then divided by the number of evaluated users)."""
        count = max(self.users.numel(), 1)
        values = block_sums.tolist()
        out = {}
        for j, key in enumerate(self.metric_keys):
            total = 0.0
            for row in values:
                total += row[j]
            out[key] = total / count
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_eval_users}, '
                f'items={self.num_items}, ks={self.ks})')
