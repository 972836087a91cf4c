from adar_pyg.sampling.base import NegativeSampler
from adar_pyg.sampling.uniform import UniformSampler

SAMPLERS = {'uniform': UniformSampler}

__all__ = ['NegativeSampler', 'UniformSampler', 'SAMPLERS']
