from adar_pyg.nn.sparse import (BipartiteAdjacency, bipartite_norm_adj,
                                 symmetric_spmm)
from adar_pyg.nn.conv import LightGCNConv, NGCFConv
from adar_pyg.nn.models import BipartiteRecommender, LightGCN, NGCF

__all__ = [
    'BipartiteAdjacency', 'bipartite_norm_adj', 'symmetric_spmm', 'LightGCNConv',
    'NGCFConv', 'BipartiteRecommender', 'LightGCN', 'NGCF'
]
