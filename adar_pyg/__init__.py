r"""adar_pyg: diffusion-generated hard negatives for recommendation on PyTorch
Geometric.

.. code-block:: python

    from adar_pyg import NegativeAugmenter, CausalNegativeAugmenter

The names below are imported on first use (:pep:`562`), so that the
:obj:`adar-pyg` command starts, and stops on Ctrl-C, before PyTorch is
imported.
"""
import importlib
from typing import Any, List

__version__ = '0.1.0'

#: The package's names, by the module that defines them.
_LAZY = {name: 'adar_pyg.augment' for name in (
    'NegativeAugmenter', 'CausalNegativeAugmenter', 'ReweightAugmenter',
    'NoiseAugmenter', 'd_bpr_loss')}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adar_pyg' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [*_LAZY, '__version__']
