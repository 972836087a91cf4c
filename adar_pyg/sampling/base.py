from typing import Callable, Optional, Tuple

import torch
from torch import Tensor


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

    def __init__(self, edge_index: Tensor, num_users: int,
                 num_items: int) -> None:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must have shape [2, E] "
                             f"(got {list(edge_index.shape)})")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.keys = torch.unique(edge_index[0] * self.num_items +
                                 edge_index[1])
        deg = torch.bincount(edge_index[0], minlength=self.num_users)
        if edge_index.numel() and int(deg.max()) >= self.num_items:
            u = int(deg.argmax())
            raise ValueError(f"user {u} interacted with every item: no "
                             f"negative can be sampled for it")

    def to(self, device) -> 'NegativeSampler':
        self.keys = self.keys.to(device)
        return self

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Boolean mask: is :obj:`(users[k], items[k])` a training pair?"""
        query = users * self.num_items + items
        pos = torch.searchsorted(self.keys, query).clamp_(
            max=max(self.keys.numel() - 1, 0))
        if self.keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        return self.keys[pos] == query

    def random_negatives(self, users: Tensor, num: int = 1,
                         generator: Optional[torch.Generator] = None,
                         max_rounds: int = 100) -> Tensor:
        r"""Uniform items for each user, :obj:`[B, num]`, resampling the
        entries that hit a training positive until none does."""
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
        raise RuntimeError(f"could not draw negatives avoiding the training "
                           f"positives in {max_rounds} rounds")

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
