r"""The divergence guards of :class:`~adar_pyg.train.Trainer`: checks that
the loss, the gradients and the parameters are finite, each with one host
sync, and the messages that say where a NaN or an infinite value appeared
(raised as :class:`~adar_pyg.errors.DivergedError`)."""
import math
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from adar_pyg.errors import DivergedError


def _dense(grad: Tensor) -> Tensor:
    return grad._values() if grad.is_sparse else grad


def finite_loss(loss: Tensor, params: List[Tensor], model: torch.nn.Module,
                where: Callable[[], str]) -> float:
    r"""The loss as a float, after checking that it and every gradient of
    :obj:`params` are finite, with one host sync for both: the sum of a
    gradient is finite if all its entries are (a sum that overflows, which
    finite entries beyond :math:`10^{34}` or so can cause, is checked again
    entry by entry before anything is reported). Otherwise raises a
    :class:`~adar_pyg.errors.DivergedError` naming the parameter of
    :obj:`model` whose gradient is at fault and :obj:`where()` (called only
    on failure)."""
    grads = [_dense(p.grad) for p in params if p.grad is not None]
    probe = [loss.detach().double()]
    if grads:
        probe.append(torch.stack([g.sum(dtype=torch.float32)
                                  for g in grads]).sum().double())
    values = torch.stack(probe).tolist()
    value = values[0]
    if math.isfinite(value) and all(map(math.isfinite, values[1:])):
        return value
    bad = next((n for n, p in model.named_parameters()
                if p.grad is not None and not bool(torch.isfinite(
                    _dense(p.grad)).all())), None)
    if math.isfinite(value) and bad is None:
        return value  # Huge but finite gradients: their sum overflowed.
    if not math.isfinite(value):
        raise DivergedError(f"loss became {value} {where()}; lower the "
                            f"learning rate or check the inputs")
    raise DivergedError(f"the gradient of '{bad}' holds NaN or infinite "
                        f"values (the loss is {value}) {where()}; lower "
                        f"the learning rate or check the inputs")


def nonfinite_parameter(named: Sequence[Tuple[str, Tensor]]
                        ) -> Optional[str]:
    r"""The name of the first of the :obj:`(name, parameter)` pairs
    :obj:`named` that holds a NaN or an infinite value (:obj:`None` if all
    are finite; one host sync, as in :func:`finite_loss`)."""
    if not named:
        return None
    device = named[0][1].device
    sums = torch.stack([p.detach().sum(dtype=torch.float32).to(device)
                        for _, p in named])
    if bool(torch.isfinite(sums.sum())):
        return None
    return next((n for n, p in named
                 if not bool(torch.isfinite(p.detach()).all())), None)


def diagnose(named: Sequence[Tuple[str, Tensor]],
             gen: Optional[Tensor]) -> str:
    r"""Where a non-finite value may come from (only on failure): a
    parameter of :obj:`named`, or the generated negatives :obj:`gen`."""
    bad = nonfinite_parameter(named)
    if bad:
        return f" (parameter '{bad}' is NaN or infinite)"
    if gen is not None and not bool(torch.isfinite(gen).all()):
        return " (the augmenter's generated negatives are NaN or " \
               "infinite)"
    return ''
