from adar_pyg.nn.models.base import BipartiteRecommender
from adar_pyg.nn.models.lightgcn import LightGCN
from adar_pyg.nn.models.ngcf import NGCF

__all__ = ['BipartiteRecommender', 'LightGCN', 'NGCF']
