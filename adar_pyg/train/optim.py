r"""The optimiser of :class:`~adar_pyg.train.Trainer`: Adam on every
parameter, or, for parameters whose gradients are sparse (the embedding
table of :class:`~adar_pyg.train.SampledCFTask` with :obj:`sparse_grad`),
:class:`torch.optim.SparseAdam` on those and Adam on the others."""
from typing import Any, Dict, Iterable, List, Optional

import torch
from torch import Tensor


class SparseDenseAdam:
    r"""Adam whose step costs :math:`O(\text{rows touched})` on the
    parameters with sparse gradients: :class:`torch.optim.SparseAdam` on
    :obj:`sparse_params`, :class:`torch.optim.Adam` on :obj:`dense_params`
    (same :obj:`lr`, betas and eps), seen by the training loop as one
    optimiser (:obj:`param_groups`, :meth:`zero_grad`, :meth:`step`,
    :meth:`state_dict`, :meth:`load_state_dict`).

    SparseAdam is *lazy* Adam: a row of a sparse parameter whose gradient
    is absent from a step (a node outside the step's subgraph) is neither
    moved nor are its moments decayed, whereas dense Adam decays its
    moments and keeps moving it with :math:`\hat{m}/(\sqrt{\hat{v}} +
    \epsilon)` (the update of a zero gradient is not zero). A row present
    in the step, even with a zero gradient, follows Adam's update exactly,
    with the bias corrections of the parameter's step count (the number of
    steps taken, not the number of times the row was touched). The two
    therefore differ from the first step after which a row is left out.

    Args:
        sparse_params (iterable of Tensor): Parameters with sparse
            gradients (*e.g.* an embedding table read through
            :func:`torch.nn.functional.embedding` with :obj:`sparse=True`).
        dense_params (iterable of Tensor): Parameters with dense gradients
            (may be empty).
        lr (float, optional): Learning rate. (default: :obj:`1e-3`)
    """
    def __init__(self, sparse_params: Iterable[Tensor],
                 dense_params: Iterable[Tensor], lr: float = 1e-3) -> None:
        sparse, dense = list(sparse_params), list(dense_params)
        if not sparse:
            raise ValueError(f"'{self.__class__.__name__}' needs at least "
                             f"one parameter with sparse gradients")
        self.sparse = torch.optim.SparseAdam(sparse, lr=lr)
        # torch.optim.Adam refuses an empty list (LightGCN has no dense
        # parameter):
        self.dense: Optional[torch.optim.Adam] = (
            torch.optim.Adam(dense, lr=lr) if dense else None)

    @property
    def optimizers(self) -> List[torch.optim.Optimizer]:
        return [self.sparse] + ([self.dense] if self.dense else [])

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> Dict[str, Any]:
        return {'sparse': self.sparse.state_dict(),
                'dense': self.dense.state_dict() if self.dense else None}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {'sparse', 'dense'} \
                or (state['dense'] is None) != (self.dense is None):
            raise ValueError(f"not the state of this "
                             f"'{self.__class__.__name__}' (a run with "
                             f"other sparse or dense parameters?)")
        self.sparse.load_state_dict(state['sparse'])
        if self.dense is not None:
            self.dense.load_state_dict(state['dense'])

    def __repr__(self) -> str:
        dense = self.dense.param_groups[0]['params'] if self.dense else []
        return (f"{self.__class__.__name__}(lr="
                f"{self.sparse.param_groups[0]['lr']}, sparse="
                f"{len(self.sparse.param_groups[0]['params'])}, "
                f"dense={len(dense)})")


def make_optimizer(model: torch.nn.Module, lr: float,
                   sparse_params: Iterable[Tensor] = ()) -> Any:
    r"""Adam on the parameters of :obj:`model`, or, if
    :obj:`sparse_params` (parameters of :obj:`model` whose gradients are
    sparse) is not empty, a :class:`SparseDenseAdam` on them and on the
    others."""
    sparse = list(sparse_params)
    if not sparse:
        return torch.optim.Adam(model.parameters(), lr=lr)
    ids = {id(p) for p in sparse}
    return SparseDenseAdam(sparse, [p for p in model.parameters()
                                    if id(p) not in ids], lr=lr)
