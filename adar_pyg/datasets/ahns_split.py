import os.path as osp
from typing import List, Tuple

import torch
from torch import Tensor

from torch_geometric.data import HeteroData

from adar_pyg.datasets.utils import DatasetFormatError

EDGE_TYPE = ('user', 'rates', 'item')
REV_EDGE_TYPE = ('item', 'rated_by', 'user')


def _read_pairs(path: str) -> Tuple[Tensor, int]:
    r"""Reads :obj:`u i1 i2 ...` lines into unique (user, item) pairs
    :obj:`[2, E]` (sorted) and the number of repeated pairs removed."""
    name = osp.basename(path)
    users: List[int] = []
    items: List[int] = []
    with open(path, 'rb') as f:
        for lineno, line in enumerate(f, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                ids = [int(t) for t in tokens]
            except ValueError:
                bad = next(t for t in tokens if not t.lstrip(b'-').isdigit())
                raise DatasetFormatError(
                    f"{name}:{lineno}: token '{bad.decode(errors='replace')}'"
                    f" is not an integer") from None
            if min(ids) < 0:
                raise DatasetFormatError(
                    f"{name}:{lineno}: ids must be >= 0 (0-based), got "
                    f"{min(ids)}")
            users += [ids[0]] * (len(ids) - 1)
            items += ids[1:]
    pairs = torch.tensor([users, items], dtype=torch.long).view(2, -1)
    num = pairs.size(1)
    if num:
        pairs = torch.unique(pairs, dim=1)
    return pairs, num - pairs.size(1)


def read_ahns_split(
    root: str,
    train_file: str = 'train.txt',
    test_file: str = 'test.txt',
) -> Tuple[HeteroData, HeteroData, HeteroData]:
    r"""Reads a published collaborative-filtering split in the format of the
    `"Adaptive Hardness Negative Sampling for Collaborative Filtering"
    <https://arxiv.org/abs/2401.05191>`_ code (and of NGCF / LightGCN /
    MixGCF): one line per user, :obj:`user_id item_1 item_2 ...`, with 0-based
    ids, in :obj:`root/train.txt` and :obj:`root/test.txt`. There is no
    validation file.

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

    Args:
        root (str): Folder of the two files.
        train_file (str, optional): Training file name.
            (default: :obj:`'train.txt'`)
        test_file (str, optional): Test file name. (default: :obj:`'test.txt'`)

    Raises:
        DatasetFormatError: On a non-integer token or a negative id.
    """
    train, dup_train = _read_pairs(osp.join(root, train_file))
    test, dup_test = _read_pairs(osp.join(root, test_file))
    both = torch.cat([train, test], dim=1)
    if both.size(1) == 0:
        raise DatasetFormatError(f"{train_file}:1: no interactions")
    num_users, num_items = (int(m) + 1 for m in both.max(dim=1).values)
    out = []
    for label in (train, train.new_empty(2, 0), test):
        data = HeteroData()
        data['user'].num_nodes = num_users
        data['item'].num_nodes = num_items
        data[EDGE_TYPE].edge_index = train
        data[EDGE_TYPE].edge_label_index = label
        data[REV_EDGE_TYPE].edge_index = train.flip([0])
        data.num_duplicates_removed = dup_train + dup_test
        out.append(data)
    return out[0], out[1], out[2]
