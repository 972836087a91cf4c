from adar_pyg.sampling.base import NegativeSampler
from adar_pyg.sampling.uniform import UniformSampler
from adar_pyg.sampling.dns import DNSSampler
from adar_pyg.sampling.mixgcf import MixGCFSampler
from adar_pyg.sampling.ahns import AHNSSampler

SAMPLERS = {
    'uniform': UniformSampler,
    'dns': DNSSampler,
    'mixgcf': MixGCFSampler,
    'ahns': AHNSSampler,
}

__all__ = [
    'NegativeSampler', 'UniformSampler', 'DNSSampler', 'MixGCFSampler',
    'AHNSSampler', 'SAMPLERS'
]
