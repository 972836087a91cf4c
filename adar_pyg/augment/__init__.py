r"""Diffusion-based negative augmentation: a reusable diffusion core
(:func:`beta_schedule`, :func:`timestep_embedding`,
:class:`GaussianDiffusion`, :class:`FiLMDenoiser`, :class:`MLPDenoiser`), the
D-BPR and contrastive losses, the ADAR :class:`NegativeAugmenter`, the
CNSDiff :class:`CausalNegativeAugmenter`, and the controls
:class:`ReweightAugmenter` and :class:`NoiseAugmenter`."""

from .schedule import beta_schedule, linear_variance_betas
from .diffusion import GaussianDiffusion, timestep_embedding
from .film import FiLMDenoiser
from .mlp_denoiser import MLPDenoiser
from .dbpr import d_bpr_loss
from .base import Augmenter
from .contrastive import cosine_contrastive_loss
from .negative_augmenter import NegativeAugmenter
from .controls import NoiseAugmenter, ReweightAugmenter
from .causal_negative_augmenter import CausalNegativeAugmenter

__all__ = [
    'Augmenter',
    'beta_schedule',
    'linear_variance_betas',
    'timestep_embedding',
    'GaussianDiffusion',
    'FiLMDenoiser',
    'MLPDenoiser',
    'd_bpr_loss',
    'cosine_contrastive_loss',
    'NegativeAugmenter',
    'ReweightAugmenter',
    'NoiseAugmenter',
    'CausalNegativeAugmenter',
]
