import os
import pickle
import zipfile
from typing import Any, Iterator, Tuple, Union

import torch
from torch import Tensor

from adar_pyg.errors import RunDirError
from adar_pyg.io import CorruptFileError, atomic_path


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
    r"""Raises a :class:`FloatingPointError` naming the first floating point
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
                raise FloatingPointError(
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
        torch.save(obj, tmp)


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


class CheckpointMismatchError(RunDirError, ValueError):
    r"""Raised when a checkpoint does not fit the model (or augmenter) it is
    loaded into; the message names the file and the differing
    parameters."""


def check_state_dict(module: torch.nn.Module, state: Any, path: str,
                     what: str = 'model') -> None:
    r"""Raises a :class:`CheckpointMismatchError` naming :obj:`path` and the
    parameters whose names or shapes differ if the state dict :obj:`state`
    does not fit :obj:`module` (before :meth:`load_state_dict` would fail
    half way with a raw error)."""
    if not isinstance(state, dict):
        raise CheckpointMismatchError(
            f"checkpoint '{path}' holds no {what} state")
    own = module.state_dict()
    diff = []
    for key in sorted(set(own) | set(state)):
        if key not in state:
            diff.append(f'{key} missing in the file')
        elif key not in own:
            diff.append(f'{key} unexpected (not in the {what})')
        elif isinstance(state[key], Tensor) and \
                tuple(state[key].shape) != tuple(own[key].shape):
            diff.append(f'{key} {list(state[key].shape)} in the file, '
                        f'{list(own[key].shape)} in the {what}')
    if diff:
        shown = '; '.join(diff[:6]) + (f'; and {len(diff) - 6} more'
                                       if len(diff) > 6 else '')
        raise CheckpointMismatchError(
            f"checkpoint '{path}' does not fit the {what} "
            f"({type(module).__name__}): {shown}",
            hint='it was written by another model or settings')
