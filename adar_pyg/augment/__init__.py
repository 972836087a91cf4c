r"""Diffusion-based negative augmentation: a reusable diffusion core
(:func:`beta_schedule`, :func:`timestep_embedding`,
:class:`GaussianDiffusion`, :class:`FiLMDenoiser`), the D-BPR loss and the
ADAR :class:`NegativeAugmenter`."""

from .schedule import beta_schedule
from .diffusion import GaussianDiffusion, timestep_embedding
from .film import FiLMDenoiser
from .dbpr import d_bpr_loss
from .negative_augmenter import NegativeAugmenter

__all__ = [
    'beta_schedule',
    'timestep_embedding',
    'GaussianDiffusion',
    'FiLMDenoiser',
    'd_bpr_loss',
    'NegativeAugmenter',
]
