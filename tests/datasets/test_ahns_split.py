import os

import pytest
import torch

from adar_pyg.datasets import (
    DatasetFormatError,
    default_mirror,
    read_lightgcn_split,
)
from adar_pyg.datasets.ahns_split import read_ahns_split

E = ('user', 'rates', 'item')


def write(folder, train, test):
    (folder / 'train.txt').write_text(train)
    (folder / 'test.txt').write_text(test)


def test_old_name():
    assert read_ahns_split is read_lightgcn_split


def test_read_tiny_split(tmp_path):
    write(tmp_path, '0 0 3 5\n1 2\n2 1 1 4\n3\n', '0 1\n2 6\n4 0 2\n')
    train, val, test = read_lightgcn_split(str(tmp_path))
    for data in (train, val, test):
        assert data['user'].num_nodes == 5 and data['item'].num_nodes == 7
        assert data[E].edge_index.tolist() == [[0, 0, 0, 1, 2, 2],
                                               [0, 3, 5, 2, 1, 4]]
        assert torch.equal(data['item', 'rated_by', 'user'].edge_index,
                           data[E].edge_index.flip(0))
        assert data.num_duplicates_removed == 1  # "2 1 1"
    assert torch.equal(train[E].edge_label_index, train[E].edge_index)
    assert val[E].edge_label_index.shape == (2, 0)
    assert test[E].edge_label_index.tolist() == [[0, 2, 4, 4], [1, 6, 0, 2]]
    assert val[E].edge_label_index.dtype == torch.long


def test_bad_files(tmp_path):
    write(tmp_path, '0 1\n1 x\n', '0 2\n')
    with pytest.raises(DatasetFormatError, match=r"train.txt:2: token 'x'"):
        read_lightgcn_split(str(tmp_path))
    write(tmp_path, '0 1\n', '0 -2\n')
    with pytest.raises(DatasetFormatError, match=r'test.txt:1: ids must be'):
        read_lightgcn_split(str(tmp_path))
    write(tmp_path, '\n', '0\n')
    with pytest.raises(DatasetFormatError, match=r'train.txt:1: no inter'):
        read_lightgcn_split(str(tmp_path))


def test_gowalla_layout(tmp_path):
    # The LightGCN authors' folder: every user on a line of both files, items
    # sorted by id, and id maps (`org_id remap_id`) that are not read.
    write(tmp_path, '0 0 1 2\n1 3 4\n2 0 5\n', '0 3\n1 1 5\n2 2\n')
    (tmp_path / 'user_list.txt').write_text('org_id remap_id\n343 0\n')
    (tmp_path / 'item_list.txt').write_text('org_id remap_id\n8975 0\n')
    train, val, test = read_lightgcn_split(str(tmp_path))
    assert train['user'].num_nodes == 3 and train['item'].num_nodes == 6
    assert train[E].edge_label_index.size(1) == 7
    assert test[E].edge_label_index.tolist() == [[0, 1, 1, 2], [3, 1, 5, 2]]
    assert train.num_duplicates_removed == 0


@pytest.mark.skipif(
    default_mirror() is None or not os.path.exists(
        os.path.join(str(default_mirror()), 'amazon-sports-ahns')),
    reason='local dataset mirror not found')
def test_published_sports_split():
    train, val, test = read_lightgcn_split(
        os.path.join(default_mirror(), 'amazon-sports-ahns'))
    # the interactions of Sports_and_Outdoors.txt, other ids
    assert train[E].edge_label_index.size(1) + \
        test[E].edge_label_index.size(1) == 296337
    assert train['user'].num_nodes == 35598
    assert train['item'].num_nodes == 18357
