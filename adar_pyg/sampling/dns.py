from typing import Optional

import torch
from torch import Tensor

from adar_pyg.checks import check_int
from adar_pyg.sampling.base import NegativeSampler


class DNSSampler(NegativeSampler):
    r"""Dynamic negative sampling from the `"Optimizing Top-N Collaborative
    Filtering via Dynamic Negative Item Sampling"
    <https://doi.org/10.1145/2484028.2484126>`_ paper (Zhang et al., 2013):
    for each (user, positive) pair, :math:`M` candidates
    :math:`\mathcal{C}_u` are drawn uniformly from the items the user has not
    interacted with in training, and the one the current model scores highest
    is the negative,

    .. math::
        j = \operatorname*{arg\,max}_{j' \in \mathcal{C}_u}
        \mathbf{e}_u^{\top}\mathbf{e}_{j'},

    with the backbone's current final representations (no gradient flows
    through the choice).

    Args:
        edge_index (torch.Tensor): Training (user, item) pairs :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        num_candidates (int, optional): Candidates :math:`M` per row.
            (default: :obj:`32`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 num_candidates: int = 32) -> None:
        super().__init__(edge_index, num_users, num_items)
        self.num_candidates = check_int('num_candidates',
                                        num_candidates)

    def sample(self, users: Tensor, pos_items: Tensor,
               user_emb: Optional[Tensor] = None,
               item_emb: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        candidates, scores = self.scored_candidates(
            users, self.num_candidates, user_emb, item_emb, generator)
        best = scores.argmax(dim=1, keepdim=True)
        return candidates.gather(1, best).view(-1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, '
                f'num_candidates={self.num_candidates})')
