from adar_pyg.nn.conv.lightgcn_conv import LightGCNConv

__all__ = ['LightGCNConv']
