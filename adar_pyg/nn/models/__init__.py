from adar_pyg.nn.models.base import BipartiteRecommender, TableRecommender
from adar_pyg.nn.models.lightgcn import LightGCN
from adar_pyg.nn.models.ngcf import NGCF

__all__ = ['BipartiteRecommender', 'TableRecommender', 'LightGCN', 'NGCF']
