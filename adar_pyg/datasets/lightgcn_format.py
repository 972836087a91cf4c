import os.path as osp
from typing import Tuple

import torch

from torch_geometric.data import HeteroData

from adar_pyg.datasets.interactions import read_interactions, split_views
from adar_pyg.datasets.utils import DatasetFormatError


def read_lightgcn_split(
    root: str,
    train_file: str = 'train.txt',
    test_file: str = 'test.txt',
) -> Tuple[HeteroData, HeteroData, HeteroData]:
    r"""Reads a published collaborative-filtering split in the folder format
    of the `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_ code (shared with
    NGCF, MixGCF and `"Adaptive Hardness Negative Sampling for Collaborative
    Filtering" <https://arxiv.org/abs/2401.05191>`_ (AHNS)), *e.g.*, the
    LightGCN authors' Gowalla split: one line per user,
    :obj:`user_id item_1 item_2 ...`, with 0-based ids, in
    :obj:`root/train.txt` and :obj:`root/test.txt`.
    There is no validation file.
    Other files of the folder (*e.g.*, Gowalla's :obj:`user_list.txt` and
    :obj:`item_list.txt`, mapping original ids) are not read.

    Returns the training, validation and test
    :class:`~torch_geometric.data.HeteroData` objects in the form of
    :class:`~adar_pyg.transforms.PerUserRandomSplit`: all three hold the
    training interactions in :obj:`data['user', 'rates', 'item'].edge_index`
    (and flipped in :obj:`data['item', 'rated_by', 'user'].edge_index`) and
    their own split's interactions in :obj:`edge_label_index`; the validation
    split holds none (:obj:`[2, 0]`). The numbers of users and items are the
    largest ids of both files plus one. Repeated (user, item) pairs within a
    file are merged (as the reference loader does); their number is stored in
    :obj:`num_duplicates_removed`. A line with a user id only is allowed.

    .. code-block:: python

        from adar_pyg.datasets import read_lightgcn_split

        train_data, val_data, test_data = read_lightgcn_split('gowalla/')

    Args:
        root (str): Folder of the two files.
        train_file (str, optional): Training file name.
            (default: :obj:`'train.txt'`)
        test_file (str, optional): Test file name. (default: :obj:`'test.txt'`)

    Raises:
        DatasetFormatError: On a non-integer token or a negative id (the
            message reads :obj:`"<file name>:<line number>: <what is
            wrong>"`), or if neither file holds an interaction.
    """
    train, dup_train, _ = read_interactions(osp.join(root, train_file))
    test, dup_test, _ = read_interactions(osp.join(root, test_file))
    both = torch.cat([train, test], dim=1)
    if both.size(1) == 0:
        raise DatasetFormatError(f"{train_file}:1: no interactions")
    num_users, num_items = (int(m) + 1 for m in both.max(dim=1).values)
    views = split_views(num_users, num_items, train, {
        'train': train,
        'val': train.new_empty(2, 0),
        'test': test
    })
    for data in views.values():
        data.num_duplicates_removed = dup_train + dup_test
    return views['train'], views['val'], views['test']
