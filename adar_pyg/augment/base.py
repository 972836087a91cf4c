from abc import ABCMeta, abstractmethod
from typing import Callable, Dict, Optional

import torch
from torch import Tensor

from adar_pyg.augment.dbpr import d_bpr_loss
from adar_pyg.checks import check_int, check_number  # noqa: F401 (re-exported)


class NonFiniteError(ValueError):
    r"""An input of an augmenter (an embedding, a score) holds NaN or
    infinite values: training has diverged. The training loop reports it
    as a :class:`~adar_pyg.errors.DivergedError` naming the epoch and the
    batch."""


class Augmenter(torch.nn.Module, metaclass=ABCMeta):
    r"""The contract between :class:`~adar_pyg.train.Trainer` and a
    generated-negative augmenter: the only methods the training loop calls.
    Per mini-batch, with the encoder's user, positive and sampled-negative
    representations :math:`\mathbf{e}_u, \mathbf{e}_i, \mathbf{e}_j`:

    .. code-block:: python

        augmenter.set_epoch(epoch, num_epochs)          # once per epoch
        augmenter.step(user, pos, neg)                  # its own training step
        gen = augmenter(user, pos, neg)                 # generated negatives
        loss = augmenter.loss(user, pos, neg, gen)      # the encoder's loss
        augmenter.diagnostics()                         # scalars to log

    :meth:`step` and :meth:`forward` receive detached embeddings; the sampled
    negative :obj:`neg_emb` is passed to both, and an augmenter that needs it
    sets :obj:`requires_negative = True` (it is then an error to omit it).
    Subclasses implement :meth:`forward`; the others have defaults: no
    training step, D-BPR with :obj:`weight` as the loss (Eq. (12) of ADAR),
    no curriculum and no diagnostics.
    """
    #: Whether :meth:`forward` needs the sampled negatives :obj:`neg_emb`.
    requires_negative: bool = False
    #: The weight :math:`\lambda` of the generated negatives in D-BPR.
    weight: float = 0.0
    #: The size :math:`d` of the representations it takes (:obj:`None`:
    #: any), checked against the task's by
    #: :class:`~adar_pyg.train.Trainer` before training.
    embedding_dim: Optional[int] = None

    def step(self, user_emb: Tensor, pos_emb: Tensor,
             neg_emb: Optional[Tensor] = None) -> float:
        r"""One optimisation step of the augmenter's own parameters; returns
        its loss (:obj:`0.0` for augmenters without parameters)."""
        return 0.0

    @abstractmethod
    def forward(self, user_emb: Tensor, pos_emb: Tensor,
                neg_emb: Optional[Tensor] = None) -> Tensor:
        r"""Generated negatives :obj:`[N, d]`, one per row, without
        gradient."""

    def loss(self, user_emb: Tensor, pos_emb: Tensor, neg_emb: Tensor,
             neg_gen: Optional[Tensor] = None) -> Tensor:
        r"""The encoder's loss: D-BPR (Eq. (12) of ADAR) with
        :math:`\lambda` = :obj:`weight` (plain BPR if :obj:`neg_gen` is
        :obj:`None`)."""
        return d_bpr_loss(user_emb, pos_emb, neg_emb, neg_gen,
                          weight=self.weight)

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        r"""Called at the start of each (1-based) epoch, for curricula."""

    def diagnostics(self) -> Dict[str, Tensor]:
        r"""Scalars describing the last batch (*e.g.*, the mean transition
        step, the augmenter's own loss), as 0-dim tensors or floats; the
        trainer averages them over the epoch and logs them."""
        return {}

    def optimizer_state(self) -> Optional[Dict]:
        r"""The state of the optimizer the augmenter owns (if any, and once
        created), for full-state checkpoints; :obj:`None` otherwise."""
        return None

    def load_optimizer_state(self, state: Dict) -> None:
        r"""Restores :meth:`optimizer_state` (creating the optimizer)."""
        raise ValueError(f'{self.__class__.__name__} owns no optimizer')

    def _need_negative(self, neg_emb: Optional[Tensor]) -> None:
        if self.requires_negative and neg_emb is None:
            raise ValueError(f"{self.__class__.__name__} needs the sampled "
                             f"negatives: pass 'neg_emb'")


class DiffusionAugmenter(Augmenter):
    r"""Shared plumbing of the diffusion-based negative augmenters
    (:class:`~adar_pyg.augment.NegativeAugmenter`,
    :class:`~adar_pyg.augment.CausalNegativeAugmenter`): checks of the
    embeddings they are given, and the diffusion model's own Adam optimizer,
    stepped by the augmenter (the alternating optimisation of Algorithm 1 of
    ADAR), created lazily and dropped on device moves and resets.

    Subclasses set :obj:`embedding_dim`, :obj:`lr`, :obj:`denoiser` and
    :obj:`diffusion` (whose buffers tell the module's device).
    """
    lr: float
    denoiser: torch.nn.Module
    diffusion: torch.nn.Module

    def __init__(self) -> None:
        super().__init__()
        self.optimizer: Optional[torch.optim.Optimizer] = None
        # The finiteness check of the last call on CUDA, read one call late:
        self._finite_pending: Optional[tuple] = None
        self._finite_buffer: Optional[Tensor] = None

    def _apply(self, fn, *args, **kwargs):
        # Moving or casting the module (`.to()`, `.cuda()`, `.double()`, ...)
        # invalidates the optimizer state, so it is re-created lazily; a
        # call that moves nothing (`.to()` its own device) keeps it.
        before = [(p.device, p.dtype) for p in self.parameters()]
        out = super()._apply(fn, *args, **kwargs)
        if [(p.device, p.dtype) for p in self.parameters()] != before:
            self.optimizer = None
        return out

    def _make_optimizer(self) -> torch.optim.Optimizer:
        if self.optimizer is None:
            self.optimizer = torch.optim.Adam(self.denoiser.parameters(),
                                              lr=self.lr)
        return self.optimizer

    def optimizer_state(self) -> Optional[Dict]:
        return None if self.optimizer is None else \
            self.optimizer.state_dict()

    def load_optimizer_state(self, state: Dict) -> None:
        self._make_optimizer().load_state_dict(state)

    def _optimize(self, loss_fn: Callable[[], Tensor]) -> Tensor:
        r"""One Adam step of the denoiser on :obj:`loss_fn()`; returns the
        detached loss."""
        self._make_optimizer()
        with torch.enable_grad():
            self.optimizer.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def _check(self, **embs: Optional[Tensor]) -> None:
        size: Optional[int] = None
        device = self.diffusion.betas.device
        for name, x in embs.items():
            if x is None:
                continue
            if not isinstance(x, Tensor) or not x.is_floating_point():
                raise TypeError(f"'{name}' must be a floating point tensor "
                                f"(got {type(x).__name__})")
            if x.dim() != 2 or x.size(1) != self.embedding_dim:
                raise ValueError(f"'{name}' must be of shape [N, "
                                 f"embedding_dim={self.embedding_dim}] "
                                 f"(got {list(x.shape)})")
            if x.device != device:
                raise ValueError(f"'{name}' is on {x.device}, the "
                                 f"{self.__class__.__name__} on {device} "
                                 f"(move one of them with .to())")
            if size is None:
                size = x.size(0)
            elif x.size(0) != size:
                sizes = {
                    key: list(value.shape)
                    for key, value in embs.items() if value is not None
                }
                raise ValueError(f"All embeddings must have the same batch "
                                 f"size (got {sizes})")
        self._check_finite(
            {name: x for name, x in embs.items() if x is not None})

    def _check_finite(self, embs: Dict[str, Tensor]) -> None:
        r"""Raises a :class:`ValueError` naming the embedding that holds a
        NaN or an infinite value, at every call, with one fused reduction:
        the sum of all entries is finite if all of them are (on the CPU, a
        sum that overflows is checked again entry by entry before anything
        is reported). On the CPU the check is immediate. On CUDA it costs no
        host sync: the flag (of float64 sums, which cannot overflow) is
        copied to pinned memory asynchronously and read at the next call
        (by when the training loop has synced anyway), so a bad input is
        reported one call late."""
        if not embs:
            return
        device = next(iter(embs.values())).device
        cuda = device.type == 'cuda'
        dtype = torch.float64 if cuda else torch.float32
        flag = torch.isfinite(torch.stack(
            [x.sum(dtype=dtype) for x in embs.values()]).sum())
        if not cuda:
            if not bool(flag):
                bad = next((name for name, x in embs.items()
                            if not bool(torch.isfinite(x).all())), None)
                if bad is not None:
                    raise NonFiniteError(f"'{bad}' contains NaN or "
                                         f"infinite values")
            return
        pending = self._finite_pending
        if pending is not None:
            buffer, event, names = pending
            event.synchronize()  # Long done: the loop synced since.
            if not bool(buffer):
                self._finite_pending = None
                raise NonFiniteError(f"{names} of the previous call "
                                     f"contained NaN or infinite values (on "
                                     f"CUDA, inputs are checked one call "
                                     f"late, without a host sync)")
        if self._finite_buffer is None:
            self._finite_buffer = torch.empty((), dtype=torch.bool,
                                              pin_memory=True)
        self._finite_buffer.copy_(flag, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(device))
        names = ', '.join(f"'{name}'" for name in embs)
        self._finite_pending = (self._finite_buffer, event, names)
