from adar_pyg.nn.sparse import (BipartiteAdjacency, DroppedBipartiteAdjacency,
                                 bipartite_norm_adj, bipartite_spmm,
                                 edge_dropout, is_symmetric, symmetric_spmm,
                                 transpose_perm)
from adar_pyg.nn.conv import LightGCNConv, NGCFConv
from adar_pyg.nn.models import BipartiteRecommender, LightGCN, NGCF

__all__ = [
    'BipartiteAdjacency', 'DroppedBipartiteAdjacency', 'bipartite_norm_adj',
    'bipartite_spmm', 'edge_dropout', 'is_symmetric', 'symmetric_spmm',
    'transpose_perm', 'LightGCNConv', 'NGCFConv', 'BipartiteRecommender',
    'LightGCN', 'NGCF'
]
