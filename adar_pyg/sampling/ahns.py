from typing import Optional

import torch
from torch import Tensor

from adar_pyg.checks import check_int, check_real
from adar_pyg.sampling.base import NegativeSampler
from adar_pyg.sampling.base import candidate_scores


class AHNSSampler(NegativeSampler):
    r"""Adaptive hardness negative sampling from the `"Adaptive Hardness
    Negative Sampling for Collaborative Filtering"
    <https://arxiv.org/abs/2401.05191>`_ paper (Lai et al., 2024): the
    hardness of the negative adapts to how well the positive is already
    scored. For each (user :math:`u`, positive :math:`i`) pair, :math:`M`
    candidates :math:`\mathcal{C}_u` are drawn uniformly from the items the
    user has not interacted with in training, and the negative is the one
    whose score is closest to a target that falls as the positive score rises,

    .. math::
        j = \operatorname*{arg\,min}_{j' \in \mathcal{C}_u}
        \left| s_{uj'} - \beta \cdot (s_{ui} + \alpha)^{p + 1} \right|,
        \qquad s_{uv} = \mathbf{e}_u^{\top}\mathbf{e}_v,

    with the backbone's current final representations (no gradient flows
    through the choice; as in the reference code).

    **Guard.** For :math:`s_{ui} + \alpha \le 0` the power is undefined or
    of the wrong sign (the reference code then targets a negative score, or
    :math:`\pm\infty` at 0). Such rows (precisely, :math:`s_{ui} + \alpha
    \le \epsilon` = :obj:`eps`) take the criterion's limit as
    :math:`s_{ui} + \alpha \to 0^{+}`: for :math:`p < -1` (the default) the
    target is :math:`+\infty`, so the highest-scored candidate is chosen
    (dynamic negative sampling: the hardest negative for a positive the model
    ranks worst); for :math:`p \ge -1` the base is clamped to
    :math:`\epsilon`.

    Args:
        edge_index (torch.Tensor): Training (user, item) pairs :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        num_candidates (int, optional): Candidates :math:`M` per row.
            (default: :obj:`32`)
        alpha (float, optional): Offset :math:`\alpha`. (default: :obj:`1.0`)
        beta (float, optional): Scale :math:`\beta`. (default: :obj:`0.1`)
        p (float, optional): Power :math:`p`. (default: :obj:`-2`)
        eps (float, optional): Lower clamp :math:`\epsilon` of
            :math:`s_{ui} + \alpha`. (default: :obj:`1e-6`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 num_candidates: int = 32, alpha: float = 1.0,
                 beta: float = 0.1, p: float = -2.0,
                 eps: float = 1e-6) -> None:
        super().__init__(edge_index, num_users, num_items)
        self.num_candidates = check_int('num_candidates',
                                        num_candidates)
        self.alpha = check_real('alpha', alpha, positive=None)
        self.beta = check_real('beta', beta, positive=None)
        self.p = check_real('p', p, positive=None)
        self.eps = check_real('eps', eps)

    def target(self, pos_scores: Tensor) -> Tensor:
        r"""The target negative score
        :math:`\beta \cdot (s_{ui} + \alpha)^{p+1}`, :math:`+\infty` where
        :math:`s_{ui} + \alpha \le \epsilon` and :math:`p < -1`, else with
        the base clamped to :math:`\epsilon` (see the guard above)."""
        base = pos_scores + self.alpha
        out = self.beta * base.clamp(min=self.eps).pow(self.p + 1)
        if self.p + 1 < 0:
            out = out.masked_fill(base <= self.eps, float('inf'))
        return out

    def sample(self, users: Tensor, pos_items: Tensor,
               user_emb: Optional[Tensor] = None,
               item_emb: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        self.check_ids(items=pos_items)
        candidates, neg_scores = self.scored_candidates(
            users, self.num_candidates, user_emb, item_emb, generator)
        pos_scores = candidate_scores(users, pos_items.view(-1, 1), user_emb,
                                      item_emb)
        target = self.target(pos_scores)
        index = (neg_scores - target).abs().argmin(dim=1, keepdim=True)
        hardest = target.isinf()  # |s - inf| ties: the limit picks the max
        if bool(hardest.any()):
            index = torch.where(hardest, neg_scores.argmax(1, keepdim=True),
                                index)
        return candidates.gather(1, index).view(-1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, '
                f'num_candidates={self.num_candidates}, alpha={self.alpha}, '
                f'beta={self.beta}, p={self.p})')
