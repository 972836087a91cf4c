r"""Sequential recommendation: leave-one-out sequences, GRU4Rec, SASRec and
CL4SRec, trained by :class:`adar_pyg.train.SRTask` with the one loop of
:class:`adar_pyg.train.Trainer` (with or without an augmenter).

Item ids: the datasets and every edge index use 0-based items, as on the
collaborative filtering side; sequence tensors and the item tables of the
sequential models use **1-based** ids with :obj:`0` as padding (item
:math:`i` is id :math:`i + 1`).
"""
from adar_pyg.sequential.data import (PAD, LeaveOneOutSplit, SequenceSplit,
                                      chronological_order, padded_sequences)
from adar_pyg.sequential.base import SequentialRecommender
from adar_pyg.sequential.gru4rec import GRU4Rec
from adar_pyg.sequential.sasrec import SASRec, causal_attention_mask
from adar_pyg.sequential.cl4srec import (CL4SRec, augment, info_nce,
                                         item_crop, item_mask, item_reorder)

__all__ = [
    'PAD',
    'LeaveOneOutSplit',
    'SequenceSplit',
    'chronological_order',
    'padded_sequences',
    'SequentialRecommender',
    'GRU4Rec',
    'SASRec',
    'CL4SRec',
    'causal_attention_mask',
    'augment',
    'item_crop',
    'item_mask',
    'item_reorder',
    'info_nce',
]
