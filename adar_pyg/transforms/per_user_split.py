import copy
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.data.storage import EdgeStorage
from torch_geometric.transforms import BaseTransform
from torch_geometric.typing import EdgeType


def round_half_up(x: Tensor) -> Tensor:
    r"""Rounds a non-negative floating-point tensor to the nearest integer,
    rounding halves up, *i.e.*, :math:`\lfloor x + 1/2 \rfloor`.
    A tolerance of :obj:`1e-9` absorbs floating-point error, so that, *e.g.*,
    :obj:`5 * 0.7 = 3.4999999999999996` rounds to :obj:`4`.
    """
    return torch.floor(x.double() + 0.5 + 1e-9).long()


@functional_transform('per_user_random_split')
class PerUserRandomSplit(BaseTransform):
    r"""Splits the interactions of each user at random into training,
    validation and test interactions of a
    :class:`~torch_geometric.data.HeteroData` object
    (functional name: :obj:`per_user_random_split`), following the
    collaborative filtering protocol of the "Adaptive Diffusion-based
    Augmentation for Recommendation" (ADAR) paper: each user's interactions
    are randomly split into 80% training and 20% test interactions.
    A validation set is then carved out of each user's training part
    (:obj:`val_ratio=0.0` gives the paper's literal protocol without
    validation).

    For a user with :math:`n` (de-duplicated) interactions, the numbers of
    test and validation interactions are

    .. math::
        n_{\textrm{test}} &= \min(\max(\lfloor n \cdot r_{\textrm{test}}
        + 1/2 \rfloor, 1), n - 1)

        n_{\textrm{val}} &= \min(\lfloor (n - n_{\textrm{test}}) \cdot
        r_{\textrm{val}} + 1/2 \rfloor, n - n_{\textrm{test}} - 1)

    (rounding halves up), so that every user with at least two interactions
    has at least one test and one training interaction.
    A user with a single interaction keeps it for training.

    .. code-block:: python

        from adar_pyg.transforms import PerUserRandomSplit

        transform = PerUserRandomSplit(test_ratio=0.2, val_ratio=0.1)
        train_data, val_data, test_data = transform(data)

    As in :class:`torch_geometric.transforms.RandomLinkSplit`, all three
    returned objects hold the *training* interactions in
    :obj:`data[edge_type].edge_index` (the message passing graph, flipped in
    :obj:`data[rev_edge_type].edge_index`), together with all other edge
    attributes such as :obj:`time` aligned with them, and hold the positive
    interactions of their own split in
    :obj:`data[edge_type].edge_label_index`.
    Within each split, interactions keep their input order.
    No negative interactions are sampled.
    The number of removed duplicates is stored in
    :obj:`data.num_duplicates_removed` of all three objects.

    Args:
        test_ratio (float, optional): The ratio of each user's interactions
            to use for testing. (default: :obj:`0.2`)
        val_ratio (float, optional): The ratio of each user's remaining
            (training) interactions to use for validation.
            (default: :obj:`0.1`)
        seed (int, optional): The seed of the random split; the split
            depends on nothing else than :obj:`seed` and the input.
            (default: :obj:`0`)
        dedup (bool, optional): If set to :obj:`True`, repeated
            (user, item) interactions are removed before splitting, keeping
            the first occurrence in chronological order (by the edge
            attribute :obj:`time` if present, else by input order).
            (default: :obj:`True`)
        edge_type (Tuple[str, str, str], optional): The (user, item) edge
            type to split. (default: :obj:`('user', 'rates', 'item')`)
        rev_edge_type (Tuple[str, str, str], optional): The reverse edge type
            of :obj:`edge_type`, re-built from the training interactions.
            Can be :obj:`None` in case no reverse edge type exists. Any
            other edge type from items to users (*e.g.*, the
            :obj:`('item', 'rev_rates', 'user')` of
            :class:`~torch_geometric.transforms.ToUndirected`) is refused: it
            would keep the held-out interactions in the training graph.
            (default: :obj:`('item', 'rated_by', 'user')`)
    """
    def __init__(
        self,
        test_ratio: float = 0.2,
        val_ratio: float = 0.1,
        seed: int = 0,
        dedup: bool = True,
        edge_type: EdgeType = ('user', 'rates', 'item'),
        rev_edge_type: Optional[EdgeType] = ('item', 'rated_by', 'user'),
    ) -> None:
        if not 0.0 < test_ratio < 1.0:
            raise ValueError(f"'test_ratio' must lie in (0, 1) "
                             f"(got {test_ratio})")
        if not 0.0 <= val_ratio < 1.0:
            raise ValueError(f"'val_ratio' must lie in [0, 1) "
                             f"(got {val_ratio})")
        self.test_ratio = test_ratio
        self.val_ratio = val_ratio
        self.seed = seed
        self.dedup = dedup
        self.edge_type = tuple(edge_type)
        self.rev_edge_type = (None if rev_edge_type is None else
                              tuple(rev_edge_type))

    def forward(
        self,
        data: HeteroData,
    ) -> Tuple[HeteroData, HeteroData, HeteroData]:
        if not isinstance(data, HeteroData):
            raise ValueError(f"'{self.__class__.__name__}' expects a "
                             f"'HeteroData' object (got "
                             f"'{type(data).__name__}')")
        if self.edge_type not in data.edge_types:
            raise ValueError(f"'{self.__class__.__name__}' could not find the "
                             f"edge type {self.edge_type} in the data "
                             f"(found {data.edge_types})")

        self._check_reverse(data)
        store = data[self.edge_type]
        edge_index = store.edge_index
        device = edge_index.device
        num_edges = edge_index.size(1)

        # Keep the first occurrence of each (user, item) pair:
        if self.dedup and num_edges > 0:
            keep = self._first_occurrences(store)
        else:
            keep = torch.arange(num_edges, device=device)
        num_duplicates = num_edges - keep.numel()

        # Draw the split, in terms of the kept interactions:
        user = edge_index[0, keep]
        num_users = int(user.max()) + 1 if user.numel() > 0 else 0
        src_type = self.edge_type[0]
        if data[src_type].num_nodes is not None:
            num_users = max(num_users, data[src_type].num_nodes)
        num_test, num_val = self.split_sizes(
            torch.bincount(user, minlength=num_users))

        # Rank the interactions of each user in a random order: a random
        # permutation, stably sorted by user.
        gen = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(user.numel(), generator=gen).to(device)
        perm = perm[torch.sort(user[perm], stable=True)[1]]
        sorted_user = user[perm]
        deg = torch.bincount(sorted_user, minlength=num_users)
        ptr = deg.cumsum(0) - deg
        rank = torch.empty_like(perm)
        rank[perm] = torch.arange(perm.numel(), device=device) - ptr[
            sorted_user]

        is_test = rank < num_test[user]
        is_val = ~is_test & (rank < (num_test + num_val)[user])
        is_train = ~is_test & ~is_val

        train_index = keep[is_train]
        out = []
        for index in (train_index, keep[is_val], keep[is_test]):
            out_data = copy.copy(data)
            self._split(out_data[self.edge_type], train_index)
            out_data[self.edge_type].edge_label_index = edge_index[:, index]
            if (self.rev_edge_type is not None
                    and self.rev_edge_type in data.edge_types):
                self._reverse(out_data)
            out_data.num_duplicates_removed = num_duplicates
            out.append(out_data)

        return out[0], out[1], out[2]

    def split_sizes(self, num_interactions: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the numbers of test and validation interactions of each
        user, given the numbers of interactions of each user.

        Args:
            num_interactions (torch.Tensor): The number of (de-duplicated)
                interactions of each user.
        """
        n = num_interactions
        num_test = round_half_up(n * self.test_ratio)
        num_test = torch.minimum(num_test.clamp(min=1), n - 1).clamp(min=0)
        num_train = n - num_test
        if self.val_ratio > 0:
            num_val = round_half_up(num_train * self.val_ratio)
            num_val = torch.minimum(num_val, num_train - 1).clamp(min=0)
        else:
            num_val = torch.zeros_like(n)
        return num_test, num_val

    @staticmethod
    def _first_occurrences(store: EdgeStorage) -> Tensor:
        # Returns the sorted indices of the first occurrence (by `time`, then
        # by position) of each (src, dst) pair.
        edge_index = store.edge_index
        num_edges = edge_index.size(1)
        order = torch.arange(num_edges, device=edge_index.device)
        if 'time' in store:
            order = torch.sort(store.time, stable=True)[1]
        pair = edge_index[0] * (int(edge_index[1].max()) + 1) + edge_index[1]
        order = order[torch.sort(pair[order], stable=True)[1]]
        pair = pair[order]
        is_first = torch.ones_like(pair, dtype=torch.bool)
        is_first[1:] = pair[1:] != pair[:-1]
        return torch.sort(order[is_first])[0]

    @staticmethod
    def _split(store: EdgeStorage, index: Tensor) -> None:
        # Restricts `edge_index` and all other edge attributes to `index`:
        edge_attrs = [
            key for key in store.keys()
            if key != 'edge_index' and store.is_edge_attr(key)
        ]
        for key in edge_attrs:
            store[key] = store[key][index]
        store.edge_index = store.edge_index[:, index]

    def _check_reverse(self, data: HeteroData) -> None:
        # An edge type from items to users other than `rev_edge_type` (the
        # `rev_rates` of `ToUndirected`) would keep every interaction, the
        # validation and test ones included, in the training graph.
        src, _, dst = self.edge_type
        others = [t for t in data.edge_types if t[0] == dst and t[2] == src
                  and t not in (self.rev_edge_type, self.edge_type)]
        if others:
            raise ValueError(
                f"'{self.__class__.__name__}' found the edge type "
                f"{others[0]} from '{dst}' to '{src}', which is not its "
                f"'rev_edge_type' {self.rev_edge_type}: it would keep the "
                f"validation and test interactions in the training graph. "
                f"Pass rev_edge_type={others[0]} (it is then re-built from "
                f"the training interactions), or remove it before the split "
                f"(and add it after, e.g. with ToUndirected)")

    def _reverse(self, data: HeteroData) -> None:
        # Re-builds the reverse edge type from the (split) forward edges:
        store = data[self.edge_type]
        rev_store = data[self.rev_edge_type]
        for key in list(rev_store.keys()):
            if key == 'edge_index':
                rev_store.edge_index = store.edge_index.flip([0])
            elif key in store and store.is_edge_attr(key):
                rev_store[key] = store[key]
            else:
                del rev_store[key]  # We delete all outdated attributes.

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(test_ratio={self.test_ratio}, '
                f'val_ratio={self.val_ratio}, seed={self.seed})')
