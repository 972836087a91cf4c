from adar_pyg.nn.conv.lightgcn_conv import LightGCNConv
from adar_pyg.nn.conv.ngcf_conv import NGCFConv

__all__ = ['LightGCNConv', 'NGCFConv']
