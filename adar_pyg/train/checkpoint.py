import os
import tempfile
from typing import Any, Union

import torch


def save_checkpoint(obj: Any, path: Union[str, os.PathLike]) -> None:
    r"""Writes :obj:`obj` with :func:`torch.save` atomically: to a temporary file
    in the same folder, flushed to disk, then renamed over :obj:`path`, so a
    crash never leaves a half-written checkpoint."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pt', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Union[str, os.PathLike],
                    map_location: Any = 'cpu') -> Any:
    r"""Loads a checkpoint written by :func:`save_checkpoint` with
    :obj:`weights_only=True` (tensors and plain containers only: no pickled
    code is ever executed)."""
    return torch.load(path, map_location=map_location, weights_only=True)
