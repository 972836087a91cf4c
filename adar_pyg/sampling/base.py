from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from adar_pyg.checks import check_int
from adar_pyg.errors import DataError


def candidate_scores(users: Tensor, candidates: Tensor, user_emb: Tensor,
                     item_emb: Tensor) -> Tensor:
    r"""Inner-product scores :math:`\mathbf{e}_u^{\top}\mathbf{e}_j` of the
    candidate items :obj:`candidates` :obj:`[B, M]` of each user of
    :obj:`users` :obj:`[B]`, computed without gradient, :obj:`[B, M]`."""
    with torch.no_grad():
        u = user_emb.detach()[users]
        return torch.einsum('bmf,bf->bm', item_emb.detach()[candidates], u)



def draw_device(generator: Optional[torch.Generator],
                device: torch.device) -> torch.device:
    r"""Where random numbers are drawn: on the generator's own device (the
    trainer's CPU generator on a GPU run draws on the CPU, and the result is
    moved), else on :obj:`device`."""
    return generator.device if generator is not None else device


class NoNegativeError(DataError, ValueError):
    r"""Raised for a user who interacted with every item in training: no
    item is left to draw as its negative.

    Args:
        user (int): The user's index.
        num_items (int): The number of items.
        raw_id (optional): The user's original id, named instead of the
            index if given. (default: :obj:`None`)
    """
    def __init__(self, user: int, num_items: int,
                 raw_id: Optional[Any] = None) -> None:
        who = f'user {user}' if raw_id is None else f'user {raw_id!r}'
        super().__init__(
            f"{who} interacted with every item ({num_items}) in training: "
            f"no negative can be drawn for it",
            hint="drop the users who have seen every item, or add items "
            "they have not seen: each positive is contrasted with an "
            "unseen item")
        self.user, self.num_items, self.raw_id = user, num_items, raw_id

    def named(self, raw_ids: Sequence[Any]) -> 'NoNegativeError':
        r"""The same error naming the user by :obj:`raw_ids[user]`, its
        original id (:obj:`raw_ids`: the ids of the users in index order,
        *e.g.* :obj:`data['user'].raw_id`)."""
        return NoNegativeError(self.user, self.num_items,
                               raw_ids[self.user])

    def __reduce__(self):  # (pickled with its arguments, not the message)
        return self.__class__, (self.user, self.num_items, self.raw_id)


class NegativeSampler:
    r"""Base class of negative samplers for collaborative filtering: given a
    batch of users (and their positive items), return negative item ids that
    are never among the user's training positives.

    Membership of a (user, item) pair in the training set is answered by a
    binary search over sorted keys :math:`u \cdot |\mathcal{I}| + i` (no dense
    matrix, no Python loop).

    :class:`~adar_pyg.train.CFTask` asks a sampler for negative
    *representations* through :meth:`negative_embeddings`, which by default
    gathers the rows of the item ids returned by :meth:`sample`. A sampler
    that synthesises negatives from the backbone's per-layer representations
    (e.g. :class:`~adar_pyg.sampling.MixGCFSampler`) sets
    :obj:`requires_layers = True` and overrides :meth:`negative_embeddings`.

    Args:
        edge_index (torch.Tensor): Training (user, item) pairs :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.

    Raises:
        NoNegativeError: If a user interacted with every item (a
            :class:`~adar_pyg.errors.DataError` and a :class:`ValueError`).
        ValueError: If :obj:`num_users` or :obj:`num_items` is not a
            positive integer, or an id of :obj:`edge_index` is out of
            range (:meth:`check_ids`; so are the users of every draw).
        TypeError: If :obj:`edge_index` does not hold integer ids.
    """
    #: Whether :meth:`negative_embeddings` needs the per-layer item
    #: representations :obj:`item_layers` (and :obj:`pool`) of the backbone.
    requires_layers: bool = False
    #: Whether the negatives it draws depend on nothing but the ids and the
    #: random generator (no scores of the representations), so that
    #: column-parallel training (each process computes some embedding
    #: columns, see :meth:`~adar_pyg.train.RecTask.shard_columns`) draws the
    #: negatives of one process.
    column_separable: bool = False
    #: The candidate items drawn per row (:math:`M`: one for uniform
    #: sampling; DNS, AHNS and MixGCF choose among more).
    num_candidates: int = 1

    def __init__(self, edge_index: Tensor, num_users: int,
                 num_items: int) -> None:
        if not isinstance(edge_index, Tensor):
            raise TypeError(f"'edge_index' must be a tensor (got "
                            f"{type(edge_index).__name__})")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must have shape [2, E] "
                             f"(got {list(edge_index.shape)})")
        self.num_users = check_int('num_users', num_users)
        self.num_items = check_int('num_items', num_items)
        self.check_ids(edge_index[0], edge_index[1],
                       ('edge_index[0]', 'edge_index[1]'))
        # In int64: u * |I| + i overflows int32 ids beyond 2^31 pairs.
        self.keys = torch.unique(edge_index[0].long() * self.num_items +
                                 edge_index[1].long())
        self._gap_keys: Optional[Tensor] = None
        # Distinct items per user (repeated pairs count once):
        deg = torch.bincount(self.user_of(self.keys),
                             minlength=self.num_users)
        if self.keys.numel() and int(deg.max()) >= self.num_items:
            raise NoNegativeError(int(deg.argmax()), self.num_items)

    def check_ids(self, users: Optional[Tensor] = None,
                  items: Optional[Tensor] = None,
                  names: Tuple[str, str] = ('users', 'pos_items')) -> None:
        r"""Raises a :class:`TypeError` unless :obj:`users` and :obj:`items`
        hold integers, and a :class:`ValueError` naming the argument and an
        id out of range unless they lie in :math:`[0, |\mathcal{U}|)` and
        :math:`[0, |\mathcal{I}|)`: a pair :math:`(u, i)` is keyed
        :math:`u \cdot |\mathcal{I}| + i`, so an id out of range would
        alias another user's pair. :obj:`None` is not checked. Costs the min
        and max of each and one host synchronisation for both.

        Args:
            users (torch.Tensor, optional): User ids. (default: :obj:`None`)
            items (torch.Tensor, optional): Item ids. (default: :obj:`None`)
            names (Tuple[str, str], optional): How the messages name
                :obj:`users` and :obj:`items`.
                (default: :obj:`('users', 'pos_items')`)
        """
        parts = [(ids, name, what, bound) for ids, name, what, bound in
                 [(users, names[0], 'user', self.num_users),
                  (items, names[1], 'item', self.num_items)]
                 if ids is not None]
        for ids, name, _, _ in parts:
            if not isinstance(ids, Tensor):
                raise TypeError(f"'{name}' must be a tensor of ids (got "
                                f"{type(ids).__name__})")
            if (ids.dtype == torch.bool or ids.dtype.is_floating_point
                    or ids.dtype.is_complex):
                raise TypeError(f"'{name}' must hold integer ids (got "
                                f"dtype {ids.dtype})")
        bad: Optional[Tensor] = None
        for ids, _, _, bound in parts:
            if ids.numel():
                low, high = torch.aminmax(ids)
                out = (low < 0) | (high >= bound)
                bad = out if bad is None else bad | out
        if bad is None or not bool(bad):
            return
        for ids, name, what, bound in parts:
            if not ids.numel():
                continue
            low, high = (int(x) for x in torch.aminmax(ids))
            if low < 0 or high >= bound:
                raise ValueError(
                    f"'{name}' holds {what} id {low if low < 0 else high} "
                    f"outside [0, {bound - 1}] (num_{what}s={bound})")

    def to(self, device) -> 'NegativeSampler':
        self.keys = self.keys.to(device)
        if self._gap_keys is not None:
            self._gap_keys = self._gap_keys.to(device)
        return self

    def user_of(self, keys: Tensor) -> Tensor:
        r"""The users of keys :math:`u \cdot |\mathcal{I}| + i`."""
        return torch.div(keys, self.num_items, rounding_mode='floor')

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Boolean mask: is :obj:`(users[k], items[k])` a training pair?
        (Ids in range only, unchecked: see :meth:`check_ids`.)"""
        query = users.long() * self.num_items + items.long()
        pos = torch.searchsorted(self.keys, query).clamp_(
            max=max(self.keys.numel() - 1, 0))
        if self.keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        return self.keys[pos] == query

    def random_negatives(self, users: Tensor, num: int = 1,
                         generator: Optional[torch.Generator] = None,
                         max_rounds: int = 100) -> Tensor:
        r"""Uniform items for each user, :obj:`[B, num]`, never a training
        positive of the user: the entries that hit one are redrawn, up to
        :obj:`max_rounds` times, and those still hitting one are then drawn
        exactly among the user's unseen items (:meth:`unseen_items`; a user
        who has seen almost every item). Each entry is uniform over the
        user's unseen items, and the draw depends on :obj:`generator` only.
        Users out of range raise a :class:`ValueError`
        (:meth:`check_ids`).

        Args:
            users (torch.Tensor): The users :obj:`[B]`.
            num (int, optional): Items per user. (default: :obj:`1`)
            generator (torch.Generator, optional): Source of randomness.
            max_rounds (int, optional): Redraws before the exact draw.
                (default: :obj:`100`)
        """
        self.check_ids(users)
        if self.keys.device != users.device:
            self.to(users.device)
        users = users.view(-1, 1).expand(-1, num)
        items = torch.randint(self.num_items, users.shape,
                              device=draw_device(generator, users.device),
                              generator=generator).to(users.device)
        for _ in range(max_rounds):
            bad = self.is_positive(users, items)
            if not bool(bad.any()):
                return items
            items[bad] = torch.randint(
                self.num_items, (int(bad.sum()), ),
                device=draw_device(generator, users.device),
                generator=generator).to(users.device)
        bad = self.is_positive(users, items)
        if bool(bad.any()):
            items[bad] = self._unseen_items(users[bad], generator)
        return items

    def unseen_items(self, users: Tensor,
                     generator: Optional[torch.Generator] = None) -> Tensor:
        r"""For each entry of :obj:`users` :obj:`[N]`, an item drawn
        uniformly among the items the user has not interacted with in
        training, :obj:`[N]`, without rejection: the :math:`k`-th unseen
        item of user :math:`u` (:math:`k` uniform in :math:`[0, n_u)`) is
        :math:`k` plus the number of its positives :math:`p_0 < p_1 <
        \dots` with :math:`p_j - j \le k` (:math:`p_j - j` unseen items lie
        below :math:`p_j`), found by one binary search over the sorted keys
        :math:`u \cdot |\mathcal{I}| + p_j - j`. Users out of range raise a
        :class:`ValueError` (:meth:`check_ids`)."""
        self.check_ids(users)
        return self._unseen_items(users, generator)

    def _unseen_items(self, users: Tensor,
                      generator: Optional[torch.Generator] = None) -> Tensor:
        if self.keys.device != users.device:
            self.to(users.device)
        if self._gap_keys is None:
            user = self.user_of(self.keys)
            first = torch.searchsorted(self.keys, user * self.num_items)
            rank = torch.arange(self.keys.numel(),
                                device=self.keys.device) - first
            self._gap_keys = self.keys - rank
        users = users.long()
        start = torch.searchsorted(self.keys, users * self.num_items)
        end = torch.searchsorted(self.keys, (users + 1) * self.num_items)
        num_unseen = self.num_items - (end - start)
        u = torch.rand(users.shape, dtype=torch.float64,
                       device=draw_device(generator, users.device),
                       generator=generator).to(users.device)
        k = torch.minimum((u * num_unseen).long(), num_unseen - 1)
        below = torch.searchsorted(self._gap_keys, users * self.num_items + k,
                                   right=True) - start
        return k + below

    def scored_candidates(
        self,
        users: Tensor,
        num: int,
        user_emb: Optional[Tensor],
        item_emb: Optional[Tensor],
        generator: Optional[torch.Generator] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""Draws :obj:`num` candidate negatives per user (rejecting training
        positives) and scores them by inner product without gradient; returns
        :obj:`(candidates, scores)`, both :obj:`[B, num]`. Shared by the
        score-aware samplers (DNS, AHNS)."""
        if user_emb is None or item_emb is None:
            raise ValueError(f"'{self.__class__.__name__}' scores candidates "
                             f"and needs 'user_emb' and 'item_emb'")
        candidates = self.random_negatives(users, num, generator)
        return candidates, candidate_scores(users, candidates, user_emb,
                                            item_emb)

    def sample(self, users: Tensor, pos_items: Tensor,
               user_emb: Optional[Tensor] = None,
               item_emb: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        r"""Returns one negative item id per row of :obj:`users`. Score-aware
        samplers use the current :obj:`user_emb`/:obj:`item_emb`."""
        raise NotImplementedError

    def negative_embeddings(
        self,
        users: Tensor,
        pos_items: Tensor,
        user_emb: Tensor,
        item_emb: Tensor,
        item_ego: Tensor,
        generator: Optional[torch.Generator] = None,
        item_layers: Optional[Tensor] = None,
        pool: Optional[Callable[[Tensor], Tensor]] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""Returns, for each row of :obj:`users`, the negative representation
        entering the loss, :obj:`[B, F]`, and the layer-0 embedding that the L2
        term regularises, :obj:`[B, F_0]`. The default gathers
        :obj:`item_emb` and :obj:`item_ego` at the item ids of :meth:`sample`.

        Args:
            users (torch.Tensor): Users of the batch :obj:`[B]`.
            pos_items (torch.Tensor): Their positive items :obj:`[B]`.
            user_emb (torch.Tensor): Final user representations
                :obj:`[U, F]`.
            item_emb (torch.Tensor): Final item representations
                :obj:`[I, F]`.
            item_ego (torch.Tensor): Layer-0 item embeddings :obj:`[I, F_0]`.
            generator (torch.Generator, optional): Source of randomness.
            item_layers (torch.Tensor, optional): Per-layer item
                representations :obj:`[I, L + 1, F]`, given when
                :obj:`requires_layers` is set.
            pool (callable, optional): The backbone's map from per-layer
                representations :obj:`[*, L + 1, F]` to final ones
                :obj:`[*, F]`, given with :obj:`item_layers`.
        """
        neg = self.sample(users, pos_items, user_emb, item_emb, generator)
        return item_emb[neg], item_ego[neg]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items})')
