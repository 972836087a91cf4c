from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

EdgeType = Tuple[str, str, str]

#: The item id of padding in every sequence tensor (items are 1-based there).
PAD = 0


def chronological_order(
    edge_index: Tensor,
    num_users: int,
    time: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Sorts (user, item) interactions by user and, within a user, by
    :obj:`time` (ties and :obj:`time=None` keep the input order).

    Returns the sorted users and (0-based) items, the rank of each interaction
    within its user's sequence (:obj:`0, 1, ...`) and the sequence length of
    every user :obj:`[num_users]`. Two stable sorts, no loop over users.

    Args:
        edge_index (torch.Tensor): The (user, item) pairs :obj:`[2, E]`.
        num_users (int): The number of users.
        time (torch.Tensor, optional): Any timestamp or position :obj:`[E]`.
            (default: :obj:`None`)
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, E] "
                         f"(got {list(edge_index.shape)})")
    perm = torch.arange(edge_index.size(1), device=edge_index.device)
    if time is not None:
        if time.numel() != edge_index.size(1):
            raise ValueError(f"'time' holds {time.numel()} entries for "
                             f"{edge_index.size(1)} interactions")
        perm = torch.sort(time.view(-1), stable=True)[1]
    perm = perm[torch.sort(edge_index[0, perm], stable=True)[1]]
    user, item = edge_index[0, perm], edge_index[1, perm]
    count = torch.bincount(user, minlength=num_users)
    ptr = count.cumsum(0) - count
    rank = torch.arange(user.numel(), device=user.device) - ptr[user]
    return user, item, rank, count


def left_padded(
    user: Tensor,
    item: Tensor,
    position_from_end: Tensor,
    num_users: int,
    width: int,
) -> Tensor:
    r"""Scatters interactions into a left-padded :obj:`[num_users, width]`
    matrix of 1-based item ids (:obj:`0` = padding): the interaction at
    :obj:`position_from_end` :math:`p` goes to column :math:`\textrm{width} - 1
    - p`, so that every row ends with its latest item; entries with
    :math:`p < 0` or :math:`p \geq \textrm{width}` are dropped.

    Args:
        user (torch.Tensor): Users :obj:`[E]`.
        item (torch.Tensor): 0-based items :obj:`[E]`.
        position_from_end (torch.Tensor): :math:`p` of each entry :obj:`[E]`.
        num_users (int): The number of rows.
        width (int): The number of columns.
    """
    keep = (position_from_end >= 0) & (position_from_end < width)
    out = torch.zeros(num_users, width, dtype=torch.long, device=user.device)
    out[user[keep], width - 1 - position_from_end[keep]] = item[keep] + 1
    return out


def padded_sequences(
    edge_index: Tensor,
    num_users: int,
    time: Optional[Tensor] = None,
    max_len: Optional[int] = None,
) -> Tensor:
    r"""The chronological item sequence of every user as a left-padded
    :obj:`[num_users, L]` matrix of **1-based** item ids (:obj:`0` =
    padding), keeping the latest :obj:`max_len` items (all of them if
    :obj:`None`, :math:`L` = the longest sequence).

    Args:
        edge_index (torch.Tensor): The (user, item) pairs :obj:`[2, E]`
            (0-based ids).
        num_users (int): The number of users.
        time (torch.Tensor, optional): Timestamps :obj:`[E]`; if :obj:`None`,
            the input order is chronological. (default: :obj:`None`)
        max_len (int, optional): Keep the latest :obj:`max_len` items.
            (default: :obj:`None`)
    """
    user, item, rank, count = chronological_order(edge_index, num_users, time)
    width = int(count.max()) if count.numel() else 0
    width = width if max_len is None else int(max_len)
    return left_padded(user, item, count[user] - 1 - rank, num_users, width)


@dataclass
class SequenceSplit:
    r"""Leave-one-out sequential recommendation data, as returned by
    :class:`LeaveOneOutSplit`. Sequence tensors are left-padded and hold
    **1-based** item ids with :obj:`0` as padding; edge indices hold 0-based
    ids, as everywhere else in :obj:`adar_pyg`.

    Attributes:
        num_users (int): The number of users.
        num_items (int): The number of items :math:`|\mathcal{I}|` (model ids
            :math:`1, \ldots, |\mathcal{I}|`).
        max_len (int): The maximum input length :math:`N`.
        train_seq (torch.Tensor): The latest :math:`N + 1` items of each
            training sequence :obj:`seq[:-2]`, :obj:`[num_users, N + 1]`:
            the inputs are :obj:`train_seq[:, :-1]`, the next items
            :obj:`train_seq[:, 1:]`.
        val_seq (torch.Tensor): The latest :math:`N` items of :obj:`seq[:-2]`
            (the validation input), :obj:`[num_users, N]`.
        test_seq (torch.Tensor): The latest :math:`N` items of :obj:`seq[:-1]`
            (the test input), :obj:`[num_users, N]`.
        val_target (torch.Tensor): :obj:`seq[-2]` (1-based), :obj:`0` for a
            user without validation target, :obj:`[num_users]`.
        test_target (torch.Tensor): :obj:`seq[-1]` (1-based), :obj:`0` for a
            user without test target, :obj:`[num_users]`.
        train_edge_index (torch.Tensor): All (user, item) pairs of the
            training sequences (not truncated to :math:`N`), :obj:`[2, E]`.
        val_edge_index (torch.Tensor): The (user, :obj:`seq[-2]`) pairs.
        test_edge_index (torch.Tensor): The (user, :obj:`seq[-1]`) pairs.
    """
    num_users: int
    num_items: int
    max_len: int
    train_seq: Tensor
    val_seq: Tensor
    test_seq: Tensor
    val_target: Tensor
    test_target: Tensor
    train_edge_index: Tensor
    val_edge_index: Tensor
    test_edge_index: Tensor

    def target_edge_index(self, split: str) -> Tensor:
        r"""The held-out (user, item) pairs of :obj:`split` (0-based)."""
        if split not in ('val', 'test'):
            raise ValueError(f"'split' must be 'val' or 'test' "
                             f"(got '{split}')")
        return self.val_edge_index if split == 'val' else self.test_edge_index

    def history_edge_index(self, split: str) -> Tensor:
        r"""The (user, item) pairs seen before the target of :obj:`split`
        (:obj:`seq[:-2]` for :obj:`'val'`, :obj:`seq[:-1]` for :obj:`'test'`),
        without the pairs equal to the target itself (a repeated item stays
        a candidate), 0-based, of the users with a target. These are the items
        masked in evaluation."""
        target = self.target_edge_index(split)
        history = self.train_edge_index
        if split == 'test':
            history = torch.cat([history, self.val_edge_index], dim=1)
        target_of_user = torch.full((self.num_users, ), -1, dtype=torch.long,
                                    device=target.device)
        target_of_user[target[0]] = target[1]
        target = target_of_user[history[0]]
        return history[:, (target >= 0) & (history[1] != target)]

    def history_seq(self) -> Tensor:
        r"""The latest :math:`N` items of each user's whole sequence
        :obj:`seq` (its test target included; all of it for a user with
        fewer than three interactions), :obj:`[num_users, N]`: the input of
        a recommendation made after the data."""
        held = (self.test_target != PAD).view(-1, 1)
        after_test = torch.cat([self.test_seq, self.test_target.view(-1, 1)],
                               dim=1)[:, 1:]
        return torch.where(held, after_test, self.train_seq[:, 1:])

    def train_users(self) -> Tensor:
        r"""The users whose training sequence yields at least one (input,
        next item) position, *i.e.*, holds at least two items."""
        return ((self.train_seq[:, -2] != PAD).nonzero().view(-1))

    def statistics(self) -> Dict[str, int]:
        r"""Numbers of users, items, training interactions, training
        positions (next-item predictions within the last :math:`N + 1`
        items) and validation / test targets."""
        positions = int((self.train_seq[:, :-1] != PAD).sum())
        return {
            'users': self.num_users,
            'items': self.num_items,
            'train_interactions': int(self.train_edge_index.size(1)),
            'train_positions': positions,
            'val_interactions': int(self.val_edge_index.size(1)),
            'test_interactions': int(self.test_edge_index.size(1)),
        }


class LeaveOneOutSplit:
    r"""The leave-one-out protocol of sequential recommendation (as in the
    `"Self-Attentive Sequential Recommendation"
    <https://arxiv.org/abs/1808.09781>`_ paper and the ADAR paper's SR
    experiments): every user's interactions are sorted chronologically into
    :math:`s_u = (i_1, \ldots, i_n)`; the last item :math:`i_n` is the test
    target, :math:`i_{n-1}` the validation target and
    :math:`(i_1, \ldots, i_{n-2})` the training sequence.
    A user with :math:`n < 3` interactions keeps all of them for training.

    The model sees left-padded sequences of the latest :math:`N`
    (:obj:`max_len`) items with **1-based** item ids and :obj:`0` as padding:
    item :math:`i` of the dataset (0-based, as in the
    :class:`~torch_geometric.data.HeteroData` object and on the collaborative
    filtering side) is id :math:`i + 1` in every sequence tensor and row
    :math:`i + 1` of a sequential model's item table. Edge indices in the
    returned :class:`SequenceSplit` stay 0-based.

    All tensors are built by scattering (user, position-from-the-end) pairs,
    without a Python loop over users. Repeated (user, item) interactions are
    kept.

    .. code-block:: python

        from adar_pyg.datasets import AmazonBeauty
        from adar_pyg.sequential import LeaveOneOutSplit

        split = LeaveOneOutSplit(max_len=50)(AmazonBeauty(root)[0])
        split.train_seq  # [22363, 51], 1-based items, 0 = padding

    Args:
        max_len (int, optional): The maximum sequence length :math:`N`.
            (default: :obj:`50`)
        edge_type (Tuple[str, str, str], optional): The (user, item) edge
            type; its :obj:`time` attribute, if present, orders the
            interactions (else the input order does).
            (default: :obj:`('user', 'rates', 'item')`)
    """
    def __init__(
        self,
        max_len: int = 50,
        edge_type: EdgeType = ('user', 'rates', 'item'),
    ) -> None:
        if int(max_len) < 1:
            raise ValueError(f"'max_len' must be positive (got {max_len})")
        self.max_len = int(max_len)
        self.edge_type = tuple(edge_type)

    def __call__(self, data: HeteroData) -> SequenceSplit:
        if not isinstance(data, HeteroData):
            raise ValueError(f"'{self.__class__.__name__}' expects a "
                             f"'HeteroData' object (got "
                             f"'{type(data).__name__}')")
        if self.edge_type not in data.edge_types:
            raise ValueError(f"'{self.__class__.__name__}' could not find the "
                             f"edge type {self.edge_type} in the data "
                             f"(found {data.edge_types})")
        src, _, dst = self.edge_type
        store = data[self.edge_type]
        edge_index = store.edge_index
        num_users = data[src].num_nodes
        num_items = data[dst].num_nodes
        if num_users is None:
            num_users = int(edge_index[0].max()) + 1
        if num_items is None:
            num_items = int(edge_index[1].max()) + 1
        time = store['time'] if 'time' in store else None
        if time is not None and time.is_floating_point() and \
                not bool(torch.isfinite(time).all()):
            raise ValueError(f"the 'time' of {self.edge_type} holds NaN or "
                             f"infinite values: they would order the "
                             f"sequences arbitrarily (drop or fill them)")
        user, item, rank, count = chronological_order(edge_index, num_users,
                                                      time)
        n = count[user]
        held = (count >= 3).long()[user]  # 1 if the user has val/test targets
        N = self.max_len

        # Position from the end of seq[:-2] (or of seq when n < 3):
        p_train = n - 2 * held - 1 - rank
        train_seq = left_padded(user, item, p_train, num_users, N + 1)
        val_seq = train_seq[:, 1:].clone()
        test_seq = left_padded(user, item, n - held - 1 - rank, num_users, N)

        is_val = (held == 1) & (rank == n - 2)
        is_test = (held == 1) & (rank == n - 1)
        val_target = torch.zeros(num_users, dtype=torch.long,
                                 device=user.device)
        test_target = torch.zeros_like(val_target)
        val_target[user[is_val]] = item[is_val] + 1
        test_target[user[is_test]] = item[is_test] + 1
        train = p_train >= 0

        return SequenceSplit(
            num_users=int(num_users),
            num_items=int(num_items),
            max_len=N,
            train_seq=train_seq,
            val_seq=val_seq,
            test_seq=test_seq,
            val_target=val_target,
            test_target=test_target,
            train_edge_index=torch.stack([user[train], item[train]]),
            val_edge_index=torch.stack([user[is_val], item[is_val]]),
            test_edge_index=torch.stack([user[is_test], item[is_test]]),
        )

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_len={self.max_len})'
