r"""Deprecated location of :func:`~adar_pyg.datasets.read_lightgcn_split`,
kept so that :obj:`from adar_pyg.datasets.ahns_split import read_ahns_split`
keeps working."""

from adar_pyg.datasets.lightgcn_format import read_lightgcn_split

#: Alias of :func:`~adar_pyg.datasets.read_lightgcn_split` (the AHNS code
#: uses the LightGCN folder format).
read_ahns_split = read_lightgcn_split

__all__ = ['read_ahns_split']
