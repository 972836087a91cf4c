r"""adar_pyg: diffusion-generated hard negatives for recommendation on PyTorch
Geometric.

.. code-block:: python

    from adar_pyg import NegativeAugmenter, CausalNegativeAugmenter
"""
from adar_pyg.augment import (CausalNegativeAugmenter, NegativeAugmenter,
                              NoiseAugmenter, ReweightAugmenter, d_bpr_loss)

__version__ = '0.1.0'

__all__ = ['NegativeAugmenter', 'CausalNegativeAugmenter',
           'ReweightAugmenter', 'NoiseAugmenter', 'd_bpr_loss', '__version__']
