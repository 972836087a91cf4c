import os
import os.path as osp

import pytest
import torch

from adar_pyg.datasets import (
    AmazonBeauty,
    AmazonSports,
    AmazonToys,
    ChecksumError,
    DatasetFormatError,
    S3RecDataset,
    Yelp,
    default_mirror,
    md5sum,
)

# User 2 comes before user 1, user 1 repeats item 4, trailing blank lines:
TINY = '2 3 1\n1 4 2 4\n3 5\n\n\n'
TINY_STATS = dict(users=3, items=5, interactions=6)


def write_mirror(root, content, cls=AmazonBeauty):
    mirror = osp.join(str(root), 'mirror')
    os.makedirs(osp.join(mirror, cls.folder), exist_ok=True)
    path = osp.join(mirror, cls.folder, cls.file_name)
    with open(path, 'w') as f:
        f.write(content)
    return mirror, path


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv('ADAR_PYG_MIRROR', raising=False)


def test_tiny_file(tmp_path, monkeypatch):
    mirror, path = write_mirror(tmp_path, TINY)
    monkeypatch.setattr(AmazonBeauty, 'md5', md5sum(path))
    monkeypatch.setattr(AmazonBeauty, 'stats', TINY_STATS)

    dataset = AmazonBeauty(str(tmp_path / 'root'), mirror=mirror)
    assert str(dataset) == 'AmazonBeauty(users=3, items=5, interactions=6)'
    assert len(dataset) == 1
    assert osp.isfile(tmp_path / 'root' / 'amazon-beauty' / 'raw' /
                      'Beauty.txt')

    data = dataset[0]
    assert data['user'].num_nodes == 3
    assert data['item'].num_nodes == 5

    store = data['user', 'rates', 'item']
    assert store.edge_index.dtype == torch.long
    assert store.edge_index.tolist() == [
        [0, 0, 0, 1, 1, 2],
        [3, 1, 3, 2, 0, 4],
    ]
    assert store.time.dtype == torch.long
    assert store.time.tolist() == [0, 1, 2, 0, 1, 0]

    rev_edge_index = data['item', 'rated_by', 'user'].edge_index
    assert torch.equal(rev_edge_index, store.edge_index.flip([0]))

    # Re-loading uses the processed file, without touching the mirror:
    os.remove(path)
    dataset = AmazonBeauty(str(tmp_path / 'root'), mirror=mirror)
    assert torch.equal(dataset[0]['user', 'rates', 'item'].edge_index,
                       store.edge_index)


def test_env_mirror(tmp_path, monkeypatch):
    mirror, path = write_mirror(tmp_path, TINY, cls=Yelp)
    monkeypatch.setattr(Yelp, 'md5', md5sum(path))
    monkeypatch.setattr(Yelp, 'stats', TINY_STATS)
    monkeypatch.setenv('ADAR_PYG_MIRROR', mirror)

    assert default_mirror() == mirror
    data = Yelp(str(tmp_path / 'root'))[0]
    assert data['user', 'rates', 'item'].num_edges == 6


def test_default_mirror():
    mirror = default_mirror()
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    expected = osp.normpath(osp.join(repo_root, '..', 'shared', 'datasets'))
    assert mirror == (expected if osp.isdir(expected) else None)


def test_download_from_url(tmp_path, monkeypatch):
    _, src = write_mirror(tmp_path, TINY, cls=AmazonToys)
    monkeypatch.setattr(AmazonToys, 'md5', md5sum(src))
    monkeypatch.setattr(AmazonToys, 'stats', TINY_STATS)
    urls = []

    def fake_download_url(url, folder, log=True, filename=None):
        urls.append(url)
        path = osp.join(folder, filename)
        with open(src) as f_in, open(path, 'w') as f_out:
            f_out.write(f_in.read())
        return path

    monkeypatch.setattr('adar_pyg.datasets.utils.download_url',
                        fake_download_url)
    dataset = AmazonToys(str(tmp_path / 'root'))
    assert urls == [
        'https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/master/'
        'data/Toys_and_Games.txt'
    ]
    data = dataset[0]
    assert data['user', 'rates', 'item'].num_edges == 6


@pytest.mark.parametrize('content,lineno,message', [
    ('1 2 3\n2 4 x 5\n', 2, "token 3 ('x') is not an integer"),
    ('1 2 3\n2 4 5.0\n', 2, "token 3 ('5.0') is not an integer"),
    ('1 2 3\n2\n3 4\n', 2, 'user 2 has no items'),
    ('1 2 3\n0 4 5\n', 2, 'user id must be >= 1'),
    ('1 2 3\n2 4 5\n3 6 -1\n', 3, 'item id (token 3) must be >= 1'),
    ('1 2 0\n', 1, 'item id (token 3) must be >= 1 (ids are 1-based), got 0'),
    ('1 2 3\n2 4\n1 5\n', 3, 'duplicated user id 1 (first seen on line 1)'),
    ('1 2 3\n\n2 4\n', 2, 'blank line'),
    ('1 2 3\n3 4 5\n', 2, 'user 2 has no line'),
])
def test_format_error(tmp_path, monkeypatch, content, lineno, message):
    mirror, path = write_mirror(tmp_path, content)
    monkeypatch.setattr(AmazonBeauty, 'md5', md5sum(path))

    with pytest.raises(DatasetFormatError) as info:
        AmazonBeauty(str(tmp_path / 'root'), mirror=mirror)
    assert str(info.value).startswith(f'Beauty.txt:{lineno}: ')
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not osp.exists(tmp_path / 'root' / 'amazon-beauty' / 'processed' /
                          'data.pt')


def test_md5_mismatch(tmp_path, monkeypatch):
    mirror, path = write_mirror(tmp_path, TINY)
    monkeypatch.setattr(AmazonBeauty, 'md5', '0' * 32)

    with pytest.raises(ChecksumError) as info:
        AmazonBeauty(str(tmp_path / 'root'), mirror=mirror)
    message = str(info.value)
    assert 'Beauty.txt' in message
    assert '0' * 32 in message
    assert md5sum(path) in message
    assert os.listdir(tmp_path / 'root' / 'amazon-beauty' / 'raw') == []


def test_concurrent_fetch_of_the_same_file(tmp_path, monkeypatch):
    # Two runs fetch the same file into one cache; the second starts while
    # the first is still copying. Neither may remove or rename the other's
    # temporary file.
    import adar_pyg.datasets.utils as utils
    mirror, path = write_mirror(tmp_path, TINY)
    md5 = md5sum(path)
    raw_dir = str(tmp_path / 'root' / 'raw')
    copy, calls = utils.shutil.copyfile, []

    def copy_then_let_another_run_fetch(src, dst):
        copy(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            assert utils.fetch_file('Beauty', 'url', md5, raw_dir,
                                    'Beauty.txt', mirror,
                                    'amazon-beauty/Beauty.txt') == (
                                        osp.join(raw_dir, 'Beauty.txt'))

    monkeypatch.setattr(utils.shutil, 'copyfile',
                        copy_then_let_another_run_fetch)
    out = utils.fetch_file('Beauty', 'url', md5, raw_dir, 'Beauty.txt',
                           mirror, 'amazon-beauty/Beauty.txt')
    assert len(calls) == 2 and calls[0] != calls[1]
    assert md5sum(out) == md5
    assert os.listdir(raw_dir) == ['Beauty.txt']


def test_missing_mirror_file(tmp_path):
    mirror = str(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError) as info:
        AmazonSports(str(tmp_path / 'root'), mirror=mirror)
    message = str(info.value)
    assert osp.join(mirror, 'amazon-sports', 'Sports_and_Outdoors.txt') in (
        message)
    assert 'ADAR_PYG_MIRROR' in message


def test_base_class_is_abstract(tmp_path):
    with pytest.raises(TypeError, match='base class'):
        S3RecDataset(str(tmp_path))


# Statistics from the mirror's README (../shared/datasets/README.md):
REAL = [
    (AmazonBeauty, 22363, 12101, 198502, 0),
    (AmazonToys, 19412, 11924, 167597, 0),
    (AmazonSports, 35598, 18357, 296337, 0),
    (Yelp, 30431, 20033, 316354, 11830),
]


@pytest.mark.parametrize('cls,num_users,num_items,num_edges,num_repeats',
                         REAL)
def test_real_mirror(tmp_path, cls, num_users, num_items, num_edges,
                     num_repeats):
    mirror = default_mirror()
    if mirror is None or not osp.isfile(
            osp.join(mirror, cls.folder, cls.file_name)):
        pytest.skip(f"No local mirror holding '{cls.folder}/"
                    f"{cls.file_name}' (set ADAR_PYG_MIRROR)")

    dataset = cls(str(tmp_path), mirror=mirror)
    assert str(dataset) == (f'{cls.__name__}(users={num_users}, '
                            f'items={num_items}, interactions={num_edges})')
    assert cls.stats == dict(users=num_users, items=num_items,
                             interactions=num_edges)

    data = dataset[0]
    assert data['user'].num_nodes == num_users
    assert data['item'].num_nodes == num_items
    edge_index = data['user', 'rates', 'item'].edge_index
    assert edge_index.size() == (2, num_edges)
    assert edge_index.min() == 0
    assert int(edge_index[0].max()) + 1 == num_users
    assert int(edge_index[1].max()) + 1 == num_items
    assert bool((edge_index[0, 1:] >= edge_index[0, :-1]).all())

    pair = edge_index[0] * num_items + edge_index[1]
    assert num_edges - pair.unique().numel() == num_repeats
