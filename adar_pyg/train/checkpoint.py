import os
from typing import Any, Union

import torch

from adar_pyg.io import atomic_path


def save_checkpoint(obj: Any, path: Union[str, os.PathLike]) -> None:
    r"""Writes :obj:`obj` with :func:`torch.save` atomically (see
    :func:`~adar_pyg.io.atomic_path`), so a crash never leaves a half-written
    checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Union[str, os.PathLike],
                    map_location: Any = 'cpu') -> Any:
    r"""Loads a checkpoint written by :func:`save_checkpoint` with
    :obj:`weights_only=True` (tensors and plain containers only: no pickled
    code is ever executed)."""
    return torch.load(path, map_location=map_location, weights_only=True)
