r"""Splits and graph preparation as
:class:`~torch_geometric.transforms.BaseTransform` objects."""

from .per_user_split import PerUserRandomSplit

__all__ = [
    'PerUserRandomSplit',
]
