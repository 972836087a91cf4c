import os
import pickle
import zipfile
from typing import Any, Iterator, List, Mapping, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.errors import DivergedError, RunDirError
from adar_pyg.io import CorruptFileError, atomic_path, disk_full_error


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
