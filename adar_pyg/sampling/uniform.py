from typing import Optional

import torch
from torch import Tensor

from adar_pyg.sampling.base import NegativeSampler


class UniformSampler(NegativeSampler):
    r"""Uniform negative sampling of BPR from the `"BPR: Bayesian Personalized
    Ranking from Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_ paper:
    for each (user, positive) pair, an item drawn uniformly from the items the
    user has not interacted with in training (rejection sampling).

    Args:
        edge_index (torch.Tensor): Training (user, item) pairs :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
    """
    column_separable = True

    def sample(self, users: Tensor, pos_items: Tensor,
               user_emb: Optional[Tensor] = None,
               item_emb: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        return self.random_negatives(users, 1, generator).view(-1)
