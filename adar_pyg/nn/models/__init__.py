from adar_pyg.nn.models.base import BipartiteRecommender
from adar_pyg.nn.models.lightgcn import LightGCN

__all__ = ['BipartiteRecommender', 'LightGCN']
