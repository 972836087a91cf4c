from adar_pyg.nn.sparse import (BipartiteAdjacency, bipartite_norm_adj,
                                 symmetric_spmm)
from adar_pyg.nn.conv import LightGCNConv
from adar_pyg.nn.models import BipartiteRecommender, LightGCN

__all__ = [
    'BipartiteAdjacency', 'bipartite_norm_adj', 'symmetric_spmm', 'LightGCNConv',
    'BipartiteRecommender', 'LightGCN'
]
