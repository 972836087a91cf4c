from adar_pyg.registry import Registry
from adar_pyg.sampling.base import NegativeSampler, NoNegativeError
from adar_pyg.sampling.uniform import UniformSampler
from adar_pyg.sampling.dns import DNSSampler
from adar_pyg.sampling.mixgcf import MixGCFSampler
from adar_pyg.sampling.ahns import AHNSSampler

#: The negative samplers by name (:obj:`--sampler`), each called as
#: :obj:`cls(edge_index, num_users, num_items, **kwargs)`.
SAMPLERS: Registry[type] = Registry('sampler')
SAMPLERS.register('uniform', UniformSampler)
SAMPLERS.register('dns', DNSSampler)
SAMPLERS.register('mixgcf', MixGCFSampler)
SAMPLERS.register('ahns', AHNSSampler)

__all__ = [
    'NegativeSampler', 'NoNegativeError', 'UniformSampler', 'DNSSampler',
    'MixGCFSampler', 'AHNSSampler', 'SAMPLERS'
]
