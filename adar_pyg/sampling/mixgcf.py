from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from adar_pyg.checks import check_int
from adar_pyg.sampling.base import draw_device, NegativeSampler


class MixGCFSampler(NegativeSampler):
    r"""Hard negative synthesis from the `"MixGCF: An Improved Training Method
    for Graph Neural Network-based Recommender Systems"
    <https://doi.org/10.1145/3447548.3467408>`_ paper (Huang et al., 2021).
    The negative is not an item but an embedding mixed, layer by layer, from
    the positive and :math:`M` candidates :math:`\mathcal{C}_u` drawn uniformly
    from the items the user has not interacted with in training.

    *Positive mixing* (Eq. 5 there), per layer :math:`l` with
    :math:`\alpha^{(l)} \sim \mathcal{U}(0, 1)` drawn per row and shared by the
    candidates:

    .. math::
        \mathbf{e}'^{(l)}_{j} = \alpha^{(l)}\mathbf{e}^{(l)}_{i} +
        (1 - \alpha^{(l)})\mathbf{e}^{(l)}_{j}, \qquad j \in \mathcal{C}_u;

    *hop mixing* (Eqs. 6-7): per layer, the mixed candidate scored highest
    against the pooled user representation :math:`\mathbf{e}_u`, and the
    synthesised negative is the pooling of the chosen layers,

    .. math::
        \mathbf{e}_{n}^{(l)} = \mathbf{e}'^{(l)}_{j_l}, \quad
        j_l = \operatorname*{arg\,max}_{j \in \mathcal{C}_u}
        \mathbf{e}_u^{\top}\mathbf{e}'^{(l)}_{j}, \qquad
        \mathbf{e}_n = f_{\textrm{pool}}\big(\mathbf{e}_{n}^{(0)}, \dots,
        \mathbf{e}_{n}^{(L)}\big).

    The choice carries no gradient; the gradient flows into the positive and
    the chosen candidates through the mixture, as in the reference code. The
    L2 term regularises, as in the reference code, the layer-0 slice
    :math:`\mathbf{e}_{n}^{(0)}` of the synthesised negative.

    This sampler needs the backbone's per-layer representations: with
    :class:`~adar_pyg.train.CFTask`, a backbone with :meth:`layer_embeddings`
    and :meth:`pool_layers` such as :class:`~adar_pyg.nn.LightGCN` (whose
    pooling is the layer mean of the reference's :obj:`pool='mean'`).

    Args:
        edge_index (torch.Tensor): Training (user, item) pairs :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        num_candidates (int, optional): Candidates :math:`M` per row (the
            reference's :obj:`n_negs`, 16 for its Amazon data).
            (default: :obj:`16`)
    """
    requires_layers = True

    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 num_candidates: int = 16) -> None:
        super().__init__(edge_index, num_users, num_items)
        self.num_candidates = check_int('num_candidates',
                                        num_candidates)

    def select(self, users: Tensor, pos_items: Tensor, user_emb: Tensor,
               item_layers: Tensor,
               generator: Optional[torch.Generator] = None,
               ) -> Tuple[Tensor, Tensor]:
        r"""Draws the candidates and mixing coefficients and makes the hop
        choice. Returns the item chosen for each row and layer :obj:`[B, L+1]`
        (never a training positive of the row's user) and the coefficients
        :math:`\alpha` :obj:`[B, L+1]`.

        Args:
            users (torch.Tensor): Users :obj:`[B]`.
            pos_items (torch.Tensor): Their positive items :obj:`[B]`.
            user_emb (torch.Tensor): Final (pooled) user representations
                :obj:`[U, F]`.
            item_layers (torch.Tensor): Per-layer item representations
                :obj:`[I, L + 1, F]`.
            generator (torch.Generator, optional): Source of randomness.
        """
        self.check_ids(items=pos_items)
        candidates = self.random_negatives(users, self.num_candidates,
                                           generator)  # [B, M]
        alpha = torch.rand((users.numel(), item_layers.size(1)),
                           generator=generator,
                           device=draw_device(generator, users.device)
                           ).to(users.device)
        with torch.no_grad():
            # <e_u, a e_i + (1 - a) e_j> = a <e_u, e_i> + (1 - a) <e_u, e_j>:
            # scored without materialising the [B, M, L + 1, F] mixtures
            layers, u = item_layers.detach(), user_emb.detach()[users]
            s_pos = torch.einsum('blf,bf->bl', layers[pos_items], u)
            s_neg = torch.einsum('bmlf,bf->bml', layers[candidates], u)
            a = alpha.unsqueeze(1)
            scores = a * s_pos.unsqueeze(1) + (1 - a) * s_neg
            index = scores.argmax(dim=1)  # [B, L + 1]
        return candidates.gather(1, index), alpha

    def sample(self, users: Tensor, pos_items: Tensor,
               user_emb: Optional[Tensor] = None,
               item_emb: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        raise NotImplementedError(
            f"'{self.__class__.__name__}' synthesises negative embeddings "
            f"from per-layer representations: use 'negative_embeddings' "
            f"(called by CFTask) or 'select'")

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
        if item_layers is None or pool is None:
            raise ValueError(f"'{self.__class__.__name__}' needs the "
                             f"per-layer item representations 'item_layers' "
                             f"and the backbone's 'pool'")
        chosen, alpha = self.select(users, pos_items, user_emb, item_layers,
                                    generator)
        hop = torch.arange(item_layers.size(1), device=chosen.device)
        a = alpha.unsqueeze(-1)
        neg_layers = (a * item_layers[pos_items] +
                      (1 - a) * item_layers[chosen, hop])  # [B, L + 1, F]
        return pool(neg_layers), neg_layers[:, 0]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, '
                f'num_candidates={self.num_candidates})')
