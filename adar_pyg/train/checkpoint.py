r"""What a checkpoint holds and how it is written and read: atomic,
finite-checked writes (:func:`save_checkpoint`), safe reads
(:func:`load_checkpoint`), the fit of weights to a module
(:func:`check_fits`), and the full state of a :class:`~adar_pyg.train.
Trainer` run that :meth:`~adar_pyg.train.Trainer.fit` resumes from
(:class:`FitState`, :func:`full_state`, :func:`check_state`,
:func:`restore`, the random states of :func:`rng_state`)."""
import copy
import math
import os
import pickle
import random
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.errors import DivergedError, RunDirError
from adar_pyg.io import CorruptFileError, atomic_path, disk_full_error

#: Version of the layout of :meth:`Trainer.fit`'s full-state checkpoints.
STATE_FORMAT = 1
#: Settings a run must be resumed with (the others may change).
RESUME_SETTINGS = ('lr', 'l2', 'eval_every', 'monitor', 'select_on', 'seed',
                   'num_batches', 'sparse_grad')


class CheckpointMismatchError(RunDirError, ValueError):
    r"""A checkpoint that does not belong to the run at hand: written by
    another model, other sizes or other settings (exit code 5)."""


def _tensors(obj: Any, key: str = '') -> Iterator[Tuple[str, Tensor]]:
    r"""The tensors of a nested container of dicts, lists and tuples, with
    their dotted key."""
    if isinstance(obj, Tensor):
        yield key, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f'{key}.{k}' if key else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f'{key}.{i}' if key else str(i))


def check_finite(obj: Any, what: str = 'state') -> None:
    r"""Raises a :class:`~adar_pyg.errors.DivergedError` (a
    :class:`FloatingPointError`) naming the first floating point
    tensor of the nested container :obj:`obj` that holds a NaN or an
    infinite value (one host sync per tensor device)."""
    floats = [(k, t) for k, t in _tensors(obj)
              if t.is_floating_point() or t.is_complex()]
    if not floats:
        return
    by_device = {}
    for k, t in floats:
        by_device.setdefault(t.device, []).append(torch.isfinite(t).all())
    for device, flags in by_device.items():
        if bool(torch.stack(flags).all()):
            continue
        for k, t in floats:
            if t.device == device and not bool(torch.isfinite(t).all()):
                raise DivergedError(
                    f"{what}: '{k}' holds NaN or infinite values; refusing "
                    f"to save it")


def save_checkpoint(obj: Any, path: Union[str, os.PathLike],
                    finite: bool = True) -> None:
    r"""Writes :obj:`obj` with :func:`torch.save` atomically (see
    :func:`~adar_pyg.io.atomic_path`), so a crash never leaves a half-written
    checkpoint.

    Args:
        obj (Any): Tensors in plain containers (dicts, lists, tuples,
            numbers, strings).
        path (str or os.PathLike): The file.
        finite (bool, optional): Refuse (:class:`FloatingPointError`, nothing
            written) a floating point tensor holding NaN or infinite values.
            (default: :obj:`True`)
    """
    if finite:
        check_finite(obj, f"checkpoint '{os.fspath(path)}'")
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # A short write: "unexpected pos A vs B".
            if 'unexpected pos' in str(e) or 'failed writing' in str(e):
                raise disk_full_error(path, e) from e
            raise


def check_fits(module: torch.nn.Module, state: Any, source: str,
               what: str = 'model') -> None:
    r"""Raises a :class:`CheckpointMismatchError` naming :obj:`source` and
    the differing parameters (and their shapes) unless :obj:`state` is a
    state dict that :obj:`module` loads: the same names, the same shapes.

    Args:
        module (torch.nn.Module): The module to load into.
        state (Any): The state dict read from the checkpoint.
        source (str): The checkpoint, as named in the message.
        what (str, optional): What :obj:`module` is. (default:
            :obj:`'model'`)
    """
    own = module.state_dict()
    name = f'{what} ({module.__class__.__name__})'
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(
            f"{source} holds no {what} weights (got "
            f"{type(state).__name__})")
    shapes = [f"'{k}' is {list(state[k].shape)} there, {list(v.shape)} here"
              for k, v in own.items() if k in state
              and isinstance(state[k], Tensor) and state[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if not (shapes or missing or unexpected):
        return
    parts = ([_some(shapes, '; ')] if shapes else []) + (
        [f'it lacks {_some(missing)}'] if missing else []) + (
        [f'it holds {_some(unexpected)}, unknown here'] if unexpected else [])
    raise CheckpointMismatchError(
        f"{source} does not fit the {name}: {'; '.join(parts)}",
        hint='it was written by another model or other sizes (--model, '
        '--dim, --layers, the data); use the run it belongs to')


def _some(items: List[str], sep: str = ', ', n: int = 3) -> str:
    more = f' (and {len(items) - n} more)' if len(items) > n else ''
    return sep.join(items[:n] if sep != ', ' else
                    [f"'{k}'" for k in items[:n]]) + more


def load_checkpoint(path: Union[str, os.PathLike],
                    map_location: Any = 'cpu') -> Any:
    r"""Loads a checkpoint written by :func:`save_checkpoint` with
    :obj:`weights_only=True` (tensors and plain containers only: no pickled
    code is ever executed). A damaged or truncated file raises a
    :class:`~adar_pyg.io.CorruptFileError` naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at '{path}'")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (EOFError, RuntimeError, pickle.UnpicklingError,
            zipfile.BadZipFile, ValueError, KeyError, OSError) as e:
        raise CorruptFileError(
            f"cannot read the checkpoint '{path}' ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}): it is "
            f"truncated, damaged or not a checkpoint. Delete it (and train "
            f"again, or resume from an intact copy)") from e


@dataclass
class FitState:
    r"""Where :meth:`Trainer.fit` stands after an evaluation: everything,
    besides the weights, optimisers and random states, that the rest of the
    run depends on (saved in :obj:`last_checkpoint`)."""
    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    best_metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    best_state: Optional[Dict[str, Any]] = None
    bad_evals: int = 0
    stopped: bool = False
    history: List[Dict[str, Any]] = field(default_factory=list)
    train_times: List[float] = field(default_factory=list)
    eval_times: List[float] = field(default_factory=list)


def rng_state(generator: Optional[torch.Generator] = None) -> Dict[str, Any]:
    r"""The states of every random number generator a run draws from: the
    global torch CPU generator, the CUDA generators (if CUDA is in use),
    :obj:`generator`, Python's :mod:`random` and NumPy's global generator
    (as tensors and plain containers, loadable with
    :obj:`weights_only=True`)."""
    state: Dict[str, Any] = {'torch': torch.get_rng_state(),
                             'python': random.getstate()}
    if generator is not None:
        state['generator'] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return state
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state['numpy'] = (name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                      int(has_gauss), float(cached))
    return state


def set_rng_state(state: Dict[str, Any],
                  generator: Optional[torch.Generator] = None) -> None:
    r"""Restores the states saved by :func:`rng_state`. Raises
    :class:`CheckpointMismatchError`, before it restores any, when the
    states of CUDA devices do not match this machine's devices in number."""
    cuda = state.get('cuda') if torch.cuda.is_available() else None
    if cuda is not None and len(cuda) != torch.cuda.device_count():
        raise CheckpointMismatchError(
            f"the checkpoint holds the random states of {len(cuda)} CUDA "
            f"devices, this process sees {torch.cuda.device_count()}",
            hint='resume with the devices it was trained with visible '
                 '(CUDA_VISIBLE_DEVICES)')
    torch.set_rng_state(state['torch'])
    random.setstate(_as_tuple(state['python']))
    if generator is not None and 'generator' in state:
        generator.set_state(state['generator'])
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
    if 'numpy' in state:
        import numpy as np
        name, keys, pos, has_gauss, cached = state['numpy']
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos,
                             has_gauss, cached))


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list) else x


def weights(model: torch.nn.Module,
            augmenter: Optional[torch.nn.Module] = None) -> Dict[str, Any]:
    r"""A copy of the weights of :obj:`model` (and :obj:`augmenter`), as
    kept for the best epoch and written to the best checkpoint."""
    state = {'model': copy.deepcopy(model.state_dict())}
    if augmenter is not None:
        state['augmenter'] = copy.deepcopy(augmenter.state_dict())
    return state


def load_weights(state: Dict[str, Any], model: torch.nn.Module,
                 augmenter: Optional[torch.nn.Module] = None) -> None:
    r"""Loads the weights saved by :func:`weights`."""
    model.load_state_dict(state['model'])
    if augmenter is not None:
        augmenter.load_state_dict(state['augmenter'])


def full_state(run: FitState, settings: Dict[str, Any],
               model: torch.nn.Module, augmenter: Optional[Any],
               optimizer: torch.optim.Optimizer, generator: torch.Generator,
               meta: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    r"""Everything :meth:`Trainer.fit` needs to continue from :obj:`run`:
    the trainer's :obj:`settings`, the weights, the encoder's and the
    augmenter's optimizers, every random state (see :func:`rng_state`), the
    epoch, the early-stopping state, the history and the timings."""
    current = run.best_state is not None and run.best_epoch == run.epoch
    return {
        'format': STATE_FORMAT,
        'trainer': settings,
        'epoch': run.epoch,
        'model': model.state_dict(),
        'augmenter': (augmenter.state_dict()
                      if augmenter is not None else None),
        'optimizer': optimizer.state_dict(),
        'augmenter_optimizer': (augmenter.optimizer_state()
                                if augmenter is not None else None),
        'rng': rng_state(generator),
        'best': {
            'score': run.best_score, 'epoch': run.best_epoch,
            'metrics': run.best_metrics, 'bad_evals': run.bad_evals,
            'stopped': run.stopped,
            # The best weights, unless they are the current ones:
            'state': None if current else run.best_state,
            'is_current': current,
        },
        'history': run.history,
        'seconds': {'train': run.train_times, 'eval': run.eval_times},
        'meta': meta,
    }


def check_state(state: Dict[str, Any], source: str, settings: Dict[str, Any],
                model: torch.nn.Module,
                augmenter: Optional[torch.nn.Module] = None) -> None:
    r"""Raises a :class:`CheckpointMismatchError` (naming :obj:`source`) if
    the full-state checkpoint :obj:`state` cannot continue the run of
    :obj:`settings`, :obj:`model` and :obj:`augmenter`: another format,
    other :data:`RESUME_SETTINGS`, another augmenter, or weights that do
    not fit (see :func:`check_fits`). Nothing is changed."""
    if not isinstance(state, dict) or state.get('format') != STATE_FORMAT:
        raise CheckpointMismatchError(
            f"'{source}' is not a full-state checkpoint of Trainer.fit "
            f"(a 'last_checkpoint'; the best checkpoint holds weights "
            f"only)")
    saved = state['trainer']
    # (Settings absent from both, e.g. 'sparse_grad' of dense runs, match.)
    diff = [f'{k}={saved.get(k)!r} (now {settings.get(k)!r})'
            for k in RESUME_SETTINGS if saved.get(k) != settings.get(k)]
    if diff:
        raise CheckpointMismatchError(
            f"'{source}' was written with other settings: "
            f"{', '.join(diff)}; resume with the settings of the "
            f"interrupted run")
    if (state['augmenter'] is None) != (augmenter is None):
        how = 'without' if state['augmenter'] is None else 'with'
        raise CheckpointMismatchError(
            f"'{source}' was written {how} an augmenter; resume the "
            f"same run")
    check_fits(model, state['model'], f"'{source}'")
    if augmenter is not None:
        check_fits(augmenter, state['augmenter'], f"'{source}'",
                   'augmenter')


def restore(state: Dict[str, Any], source: str, model: torch.nn.Module,
            augmenter: Optional[Any], optimizer: torch.optim.Optimizer,
            generator: torch.Generator) -> FitState:
    r"""Loads the full state :obj:`state` (checked by :func:`check_state`)
    into :obj:`model`, :obj:`augmenter`, their optimizers and the random
    generators, and returns where the run stood."""
    model.load_state_dict(state['model'])
    if augmenter is not None:
        augmenter.load_state_dict(state['augmenter'])
    optimizer.load_state_dict(state['optimizer'])
    if state['augmenter_optimizer'] is not None:
        if augmenter is None:
            raise ValueError(f"'{source}' holds the state of an augmenter "
                             f"optimizer, which this run lacks")
        augmenter.load_optimizer_state(state['augmenter_optimizer'])
    set_rng_state(state['rng'], generator)
    best = state['best']
    return FitState(
        epoch=int(state['epoch']), best_score=float(best['score']),
        best_epoch=int(best['epoch']), best_metrics=best['metrics'],
        best_state=(weights(model, augmenter) if best['is_current'] else
                    best['state']), bad_evals=int(best['bad_evals']),
        stopped=bool(best['stopped']), history=list(state['history']),
        train_times=list(state['seconds']['train']),
        eval_times=list(state['seconds']['eval']))
