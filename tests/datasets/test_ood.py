import os
import os.path as osp

import pytest
import torch

from adar_pyg.datasets import (DatasetFormatError, DatasetFormatWarning,
                               OODDataset, OODFood, OODYelp2018,
                               default_mirror, md5sum)

E = ('user', 'rates', 'item')

TINY = {
    'train.txt': '0\n0 1\n0 0 1\n0 2 1\n1 1 1\n2 3 1\n2 0 1\n',
    'valid_iid.txt': '0 1 1\n2 2 1\n',
    'test_iid.txt': '1 0 1\n1 3 1\n',
    'test.txt': '0 4 1\n2 4 1\n3 0 1\n',
}


def write_mirror(tmp_path, monkeypatch, files=TINY, cls=OODYelp2018):
    mirror = tmp_path / 'mirror'
    folder = mirror / cls.folder
    folder.mkdir(parents=True)
    md5 = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        md5[name] = md5sum(str(folder / name))
    monkeypatch.setattr(cls, 'md5', md5)
    monkeypatch.setattr(cls, 'stats', {})  # Tiny files.
    return str(mirror)


def test_tiny_split_with_malformed_lines(tmp_path, monkeypatch):
    mirror = write_mirror(tmp_path, monkeypatch)
    root = str(tmp_path / 'root')
    with pytest.warns(DatasetFormatWarning) as record:
        dataset = OODYelp2018(root, mirror=mirror)
    messages = ' '.join(str(r.message) for r in record)
    assert ("ood-yelp2018/train.txt:1: expected 3 fields 'user item rating', "
            "got 1") in messages
    assert 'ood-yelp2018/train.txt:2: expected 3 fields' in messages
    data = dataset[0]
    assert data['user'].num_nodes == 4 and data['item'].num_nodes == 5
    assert data[E].edge_index.tolist() == [[0, 0, 1, 2, 2],
                                           [0, 2, 1, 0, 3]]
    assert torch.equal(data['item', 'rated_by', 'user'].edge_index,
                       data[E].edge_index.flip(0))
    assert data[E].val_edge_label_index.tolist() == [[0, 2], [1, 2]]
    assert data[E].test_edge_label_index.tolist() == [[1, 1], [0, 3]]
    assert data[E].test_ood_edge_label_index.tolist() == [[0, 2, 3],
                                                          [4, 4, 0]]
    assert len(data.skipped_lines) == 2
    assert str(dataset) == ("OODYelp2018(users=4, items=5, train=5, val=2, "
                            "test=2, test_ood=3, shift='popularity')")

    splits = dataset.splits()
    assert list(splits) == ['train', 'val', 'test', 'test_ood']
    for key, attr in (('val', 'val_edge_label_index'),
                      ('test', 'test_edge_label_index'),
                      ('test_ood', 'test_ood_edge_label_index')):
        assert torch.equal(splits[key][E].edge_label_index, data[E][attr])
        assert torch.equal(splits[key][E].edge_index, data[E].edge_index)
        assert splits[key]['user'].num_nodes == 4
    assert torch.equal(splits['train'][E].edge_label_index,
                       data[E].edge_index)

    # Loading the processed dataset repeats the warning (no silent skip):
    with pytest.warns(DatasetFormatWarning, match='ood-yelp2018/train.txt:1'):
        OODYelp2018(root, mirror=mirror)


def test_too_many_malformed_lines(tmp_path, monkeypatch):
    files = {**TINY, 'test.txt': '0 4\n' * 11}
    mirror = write_mirror(tmp_path, monkeypatch, files, cls=OODFood)
    with pytest.raises(DatasetFormatError,
                       match='ood-food/test.txt:11: .*more than max_skipped'):
        with pytest.warns(DatasetFormatWarning):
            OODFood(str(tmp_path / 'root'), mirror=mirror)


def test_download_urls(tmp_path, monkeypatch):
    src = tmp_path / 'src'
    mirror = write_mirror(src, monkeypatch, cls=OODFood)
    urls = []

    def fake_download_url(url, folder, log=True, filename=None):
        urls.append(url)
        name = url.rsplit('/', 1)[1]
        with open(osp.join(mirror, 'ood-food', name)) as f_in, open(
                osp.join(folder, filename), 'w') as f_out:
            f_out.write(f_in.read())

    monkeypatch.setattr('adar_pyg.datasets.utils.download_url',
                        fake_download_url)
    monkeypatch.delenv('ADAR_PYG_MIRROR', raising=False)
    with pytest.warns(DatasetFormatWarning):
        OODFood(str(tmp_path / 'root'))
    base = ('https://raw.githubusercontent.com/user683/DRGO/'
            'cb213e73b209e16dabc8a9ced98c4f84ce57c9fc/data_for_SELFRec/food/')
    assert urls == [base + name for name in
                    ('train.txt', 'valid_iid.txt', 'test_iid.txt', 'test.txt')]


def test_base_class_is_abstract(tmp_path):
    with pytest.raises(TypeError, match='base class'):
        OODDataset(str(tmp_path))


def has_mirror(folder):
    mirror = default_mirror()
    return mirror is not None and osp.isdir(osp.join(mirror, folder))


@pytest.mark.parametrize('cls', [OODFood, OODYelp2018])
def test_published_splits(tmp_path, cls):
    if not has_mirror(cls.folder):
        pytest.skip('local dataset mirror not found')
    if cls is OODYelp2018:
        with pytest.warns(DatasetFormatWarning,
                          match='ood-yelp2018/train.txt:1: .* got 1; '
                          'ood-yelp2018/train.txt:2: .* got 2'):
            dataset = cls(str(tmp_path), mirror=default_mirror())
    else:
        dataset = cls(str(tmp_path), mirror=default_mirror())
    data, stats = dataset[0], cls.stats
    assert data['user'].num_nodes == stats['users']
    assert data['item'].num_nodes == stats['items']
    sizes = {key: data[E][f'{key}_edge_label_index'].size(1)
             for key in ('val', 'test', 'test_ood')}
    sizes['train'] = data[E].edge_index.size(1)
    assert sizes == {k: stats[k] for k in sizes}
    assert data.num_duplicates_removed == 0
    # The four sets are disjoint:
    keys = [data[E].edge_index] + [data[E][f'{k}_edge_label_index']
                                   for k in ('val', 'test', 'test_ood')]
    flat = torch.cat([k[0] * stats['items'] + k[1] for k in keys])
    assert flat.unique().numel() == flat.numel()
    assert os.listdir(osp.join(str(tmp_path), cls.folder, 'raw'))
