import os.path as osp

import pytest
import torch

from adar_pyg.datasets import ChecksumError, Gowalla, default_mirror, md5sum
from adar_pyg.transforms.per_user_split import round_half_up

E = ('user', 'rates', 'item')

# User 2 has no training item, users 3 and 4 repeat an item, user 4 has no
# test item:
TINY = {
    'train.txt': ('0 0 1 2 3 4 5\n1 1 2 3 0\n2\n3 4 0 4 5 1\n'
                  '4 2 3 5 0 1 4 6 5\n'),
    'test.txt': '0 6\n1 5\n2 0 1\n3 2\n4 \n',
}
TRAIN = [[0] * 6 + [1] * 4 + [3] * 4 + [4] * 8,
         [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1, 4, 5, 0, 1, 2, 3, 4, 5, 6, 5]]


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv('ADAR_PYG_MIRROR', raising=False)


def write_mirror(tmp_path, monkeypatch, files=TINY):
    folder = tmp_path / 'mirror' / 'gowalla'
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    monkeypatch.setattr(Gowalla, 'md5', {
        name: md5sum(str(folder / name)) for name in files})
    monkeypatch.setattr(Gowalla, 'stats', {})  # Tiny files.
    return str(tmp_path / 'mirror')


def pair_keys(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def test_tiny_split(tmp_path, monkeypatch):
    mirror = write_mirror(tmp_path, monkeypatch)
    root = str(tmp_path / 'root')
    dataset = Gowalla(root, mirror=mirror)
    assert str(dataset) == 'Gowalla(users=5, items=7, train=21, test=5)'
    data = dataset[0]
    assert data['user'].num_nodes == 5 and data['item'].num_nodes == 7
    # Sorted by user, then item; the repeated (3, 4) and (4, 5) merged:
    train = sorted(set(zip(*TRAIN)))
    assert data[E].edge_index.t().tolist() == [list(p) for p in train]
    assert data.num_duplicates_removed == 2
    assert torch.equal(data['item', 'rated_by', 'user'].edge_index,
                       data[E].edge_index.flip(0))
    assert data[E].test_edge_label_index.tolist() == [[0, 1, 2, 2, 3],
                                                      [6, 5, 0, 1, 2]]
    assert osp.isfile(osp.join(root, 'gowalla', 'raw', 'train.txt'))

    views = dataset.splits()
    assert list(views) == ['train', 'val', 'test']
    for view in views.values():
        assert torch.equal(view[E].edge_index, data[E].edge_index)
        assert view['user'].num_nodes == 5 and view['item'].num_nodes == 7
    assert torch.equal(views['train'][E].edge_label_index, data[E].edge_index)
    assert views['val'][E].edge_label_index.size() == (2, 0)
    assert torch.equal(views['test'][E].edge_label_index,
                       data[E].test_edge_label_index)

    # Re-loading uses the processed file, without the mirror:
    again = Gowalla(root, mirror=str(tmp_path / 'nowhere'))
    assert torch.equal(again[0][E].edge_index, data[E].edge_index)


@pytest.mark.parametrize('val_ratio', [0.2, 0.5])
@pytest.mark.parametrize('seed', [0, 1])
def test_validation_carved_from_train(tmp_path, monkeypatch, val_ratio,
                                      seed):
    dataset = Gowalla(str(tmp_path / 'root'),
                      mirror=write_mirror(tmp_path, monkeypatch))
    full = dataset[0][E].edge_index
    views = dataset.splits(val_ratio=val_ratio, seed=seed)
    train = views['train'][E].edge_label_index
    val = views['val'][E].edge_label_index
    # A partition of the published training pairs, the graph is the rest:
    assert pair_keys(train) | pair_keys(val) == pair_keys(full)
    assert not pair_keys(train) & pair_keys(val)
    assert train.size(1) + val.size(1) == full.size(1)
    for view in views.values():
        assert torch.equal(view[E].edge_index, train)
        assert torch.equal(view['item', 'rated_by', 'user'].edge_index,
                           train.flip(0))
    assert torch.equal(views['test'][E].edge_label_index,
                       dataset[0][E].test_edge_label_index)
    # Per user: max(round(n r), 1) validation pairs, at most n - 1:
    n = torch.bincount(full[0], minlength=5)
    expected = torch.minimum(round_half_up(n * val_ratio).clamp(min=1),
                             n - 1).clamp(min=0)
    assert torch.equal(torch.bincount(val[0], minlength=5), expected)
    # Seeded: the same seed gives the same split.
    again = dataset.splits(val_ratio=val_ratio, seed=seed)
    assert torch.equal(again['val'][E].edge_label_index, val)


def test_validation_seed_matters(tmp_path, monkeypatch):
    dataset = Gowalla(str(tmp_path / 'root'),
                      mirror=write_mirror(tmp_path, monkeypatch))
    draws = {tuple(map(tuple, dataset.splits(0.5, seed)['val'][E]
                       .edge_label_index.t().tolist())) for seed in range(8)}
    assert len(draws) > 1


@pytest.mark.parametrize('val_ratio', [-0.1, 1.0])
def test_bad_val_ratio(tmp_path, monkeypatch, val_ratio):
    dataset = Gowalla(str(tmp_path / 'root'),
                      mirror=write_mirror(tmp_path, monkeypatch))
    with pytest.raises(ValueError, match="'val_ratio' must lie in"):
        dataset.splits(val_ratio=val_ratio)


def test_download_urls(tmp_path, monkeypatch):
    mirror = write_mirror(tmp_path, monkeypatch)
    urls = []

    def fake_download_url(url, folder, log=True, filename=None):
        urls.append(url)
        name = url.rsplit('/', 1)[1]
        with open(osp.join(mirror, 'gowalla', name)) as f_in, open(
                osp.join(folder, filename), 'w') as f_out:
            f_out.write(f_in.read())

    monkeypatch.setattr('adar_pyg.datasets.utils.download_url',
                        fake_download_url)
    Gowalla(str(tmp_path / 'root'))
    base = ('https://raw.githubusercontent.com/kuandeng/LightGCN/master/'
            'Data/gowalla/')
    assert urls == [base + 'train.txt', base + 'test.txt']


def test_md5_mismatch(tmp_path, monkeypatch):
    mirror = write_mirror(tmp_path, monkeypatch)
    monkeypatch.setattr(Gowalla, 'md5', {**Gowalla.md5,
                                         'test.txt': '0' * 32})
    with pytest.raises(ChecksumError, match="MD5 mismatch for 'test.txt'"):
        Gowalla(str(tmp_path / 'root'), mirror=mirror)


def test_published_split(tmp_path):
    mirror = default_mirror()
    if mirror is None or not osp.isdir(osp.join(mirror, 'gowalla')):
        pytest.skip('local dataset mirror not found')
    dataset = Gowalla(str(tmp_path), mirror=mirror)
    data, stats = dataset[0], Gowalla.stats
    assert data['user'].num_nodes == stats['users']
    assert data['item'].num_nodes == stats['items']
    assert data[E].edge_index.size(1) == stats['train']
    assert data[E].test_edge_label_index.size(1) == stats['test']
    assert data.num_duplicates_removed == 0
    # Training and test pairs are disjoint; 1,027,370 interactions in all:
    keys = torch.cat([k[0] * stats['items'] + k[1] for k in (
        data[E].edge_index, data[E].test_edge_label_index)])
    assert keys.unique().numel() == keys.numel() == 1027370


def test_load_cf_data(tmp_path, monkeypatch):
    from adar_pyg.config import Config
    from adar_pyg.pipeline import DATASETS, load_cf_data
    assert DATASETS['gowalla'] is Gowalla
    mirror = write_mirror(tmp_path, monkeypatch)
    cfg = Config.build({'data': {'dataset': 'gowalla', 'mirror': mirror,
                                 'data_root': str(tmp_path / 'root')},
                        'split': {'val_ratio': 0.5, 'split_seed': 3}})
    data = load_cf_data(cfg)
    views = Gowalla(str(tmp_path / 'root' / 'gowalla')).splits(0.5, seed=3)
    for key in ('train', 'val', 'test'):
        assert torch.equal(getattr(data, key)[E].edge_label_index,
                           views[key][E].edge_label_index)
    stats = data.statistics
    assert (stats['users'], stats['items'], stats['interactions']) == (
        5, 7, 26)
    assert stats['train'] + stats['val'] == 21 and stats['test'] == 5
    assert 'val_ratio=0.5' in stats['split'] and 'seed=3' in stats['split']
    assert data.extra_tests == {}
