r"""Files on disk are verified at load: a raw file already present is
MD5-checked before processing, a processed cache built from other raw files
or damaged is rebuilt, and a cache or checkpoint that cannot be read names
the file and the fix."""
import hashlib
import json
import os
import os.path as osp
import warnings

import pytest
import torch

from adar_pyg.datasets import (AmazonBeauty, ChecksumError, OODYelp2018,
                               md5sum)
from adar_pyg.datasets.utils import CACHE_RECORD_FILE
from adar_pyg.io import CorruptFileError
from adar_pyg.train import load_checkpoint, save_checkpoint

A = '1 1 2 3\n2 2 3\n3 1 3\n'
B = '1 1 2 3 4\n2 2 3\n3 1 3\n4 4 1\n'


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv('ADAR_PYG_MIRROR', raising=False)


def mirror_with(tmp_path, monkeypatch, text, cls=AmazonBeauty):
    folder = tmp_path / 'mirror' / cls.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / cls.file_name).write_text(text)
    monkeypatch.setattr(cls, 'md5', md5sum(str(folder / cls.file_name)))
    monkeypatch.setattr(cls, 'stats', {})  # Tiny files.
    return str(tmp_path / 'mirror')


def paths(root, cls=AmazonBeauty):
    raw = osp.join(root, cls.folder, 'raw', cls.file_name)
    return raw, osp.join(root, cls.folder, 'processed', 'data.pt')


def test_raw_file_present_is_checked_before_processing(tmp_path,
                                                       monkeypatch):
    mirror = mirror_with(tmp_path, monkeypatch, A)
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    raw, processed = paths(root)
    with open(raw, 'a') as f:  # Altered after it was fetched:
        f.write('5 1 2\n')
    for force_reload in (False, True):
        with pytest.raises(ChecksumError, match=r"AmazonBeauty: the raw file "
                           r"'.*Beauty.txt' has MD5 .* truncated or altered. "
                           r"Delete it"):
            AmazonBeauty(root, mirror=mirror, force_reload=force_reload)
    assert osp.exists(raw)  # The user's file is not deleted behind them.
    with open(raw, 'w') as f:  # Truncated:
        f.write(A[:7])
    with pytest.raises(ChecksumError, match='truncated or altered'):
        AmazonBeauty(root, mirror=mirror)


def test_cache_of_another_raw_file_is_rebuilt(tmp_path, monkeypatch):
    mirror = mirror_with(tmp_path, monkeypatch, A)
    root = str(tmp_path / 'root')
    assert str(AmazonBeauty(root, mirror=mirror)) == (
        'AmazonBeauty(users=3, items=3, interactions=7)')
    raw, processed = paths(root)
    record = osp.join(osp.dirname(processed), CACHE_RECORD_FILE)
    assert osp.isfile(record)
    # The raw file is replaced (and is the expected one now); the cache
    # still holds the old data:
    mirror_with(tmp_path, monkeypatch, B)
    with open(raw, 'w') as f:
        f.write(B)
    with pytest.warns(UserWarning, match='not built from the raw files now'):
        dataset = AmazonBeauty(root, mirror=mirror)
    assert str(dataset) == 'AmazonBeauty(users=4, items=4, interactions=10)'
    with warnings.catch_warnings():  # Now recorded: no warning, no rebuild.
        warnings.simplefilter('error')
        AmazonBeauty(root, mirror=mirror)

    # A cache without a record (built by an older version) is rebuilt too:
    os.remove(record)
    with pytest.warns(UserWarning, match='no readable digest record.*'
                      'rebuilding it'):
        AmazonBeauty(root, mirror=mirror)
    assert osp.isfile(record)


def test_damaged_cache_is_rebuilt_or_names_the_file(tmp_path, monkeypatch):
    mirror = mirror_with(tmp_path, monkeypatch, A)
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    _, processed = paths(root)
    with open(processed, 'rb') as f:
        content = f.read()
    with open(processed, 'wb') as f:
        f.write(content[:len(content) // 2])
    with pytest.warns(UserWarning, match=r"'.*data.pt' does not match its "
                      r"recorded digest.*rebuilding it"):
        dataset = AmazonBeauty(root, mirror=mirror)
    assert dataset[0]['user'].num_nodes == 3

    # Damaged, with a record that matches it (written by hand): named.
    with open(processed, 'wb') as f:
        f.write(content[:len(content) // 2])
    record = osp.join(osp.dirname(processed), CACHE_RECORD_FILE)
    with open(record) as f:
        digests = json.load(f)
    digests['processed']['data.pt']['sha256'] = hashlib.sha256(
        content[:len(content) // 2]).hexdigest()
    with open(record, 'w') as f:
        json.dump(digests, f)
    with pytest.raises(CorruptFileError,
                       match=r"cannot read the processed cache '.*data.pt'.*"
                       r"Pass force_reload=True or delete it"):
        AmazonBeauty(root, mirror=mirror)
    dataset = AmazonBeauty(root, mirror=mirror, force_reload=True)
    assert dataset[0]['user'].num_nodes == 3


def test_ood_raw_files_are_checked(tmp_path, monkeypatch):
    files = {
        'train.txt': '0 0 1\n0 2 1\n1 1 1\n2 3 1\n2 0 1\n',
        'valid_iid.txt': '0 1 1\n2 2 1\n',
        'test_iid.txt': '1 0 1\n1 3 1\n',
        'test.txt': '0 4 1\n2 4 1\n',
    }
    folder = tmp_path / 'mirror' / OODYelp2018.folder
    folder.mkdir(parents=True)
    md5 = {}
    for name, text in files.items():
        (folder / name).write_text(text)
        md5[name] = md5sum(str(folder / name))
    monkeypatch.setattr(OODYelp2018, 'md5', md5)
    monkeypatch.setattr(OODYelp2018, 'stats', {})  # Tiny files.
    root = tmp_path / 'root'
    OODYelp2018(str(root), mirror=str(tmp_path / 'mirror'))
    raw = root / OODYelp2018.folder / 'raw' / 'test_iid.txt'
    raw.write_text('1 0 1\n')
    with pytest.raises(ChecksumError, match="'.*test_iid.txt' has MD5"):
        OODYelp2018(str(root), mirror=str(tmp_path / 'mirror'))


def test_damaged_checkpoint_names_the_file(tmp_path):
    path = tmp_path / 'best.pt'
    save_checkpoint({'model': {'w': torch.ones(100)}}, path)
    content = path.read_bytes()
    for damaged in (content[:len(content) // 2], b'', b'not a checkpoint'):
        path.write_bytes(damaged)
        with pytest.raises(CorruptFileError,
                           match=r"cannot read the checkpoint '.*best.pt'.*"
                           r"truncated, damaged or not a checkpoint"):
            load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match='no checkpoint at'):
        load_checkpoint(tmp_path / 'missing.pt')


def test_failed_download_is_a_one_line_data_error(tmp_path, monkeypatch):
    import urllib.error

    from adar_pyg.cli.errors import describe
    from adar_pyg.datasets import DownloadError
    from adar_pyg.datasets import utils

    def offline(url, folder, filename=None):
        raise urllib.error.URLError('[Errno -3] Temporary failure in name '
                                    'resolution')

    monkeypatch.setattr(utils, 'download_url', offline)
    raw_dir = tmp_path / 'raw'
    raw_dir.mkdir()
    with pytest.raises(DownloadError, match=r"Could not download 'https://"
                       r"example.org/Beauty.txt' .* set ADAR_PYG_MIRROR to "
                       r"a local folder holding 'amazon-beauty/Beauty.txt'"
                       ) as info:
        utils.fetch_file('AmazonBeauty', 'https://example.org/Beauty.txt',
                         '0' * 32, str(raw_dir), 'Beauty.txt',
                         mirror_path='amazon-beauty/Beauty.txt')
    code, message, _ = describe(info.value)  # Not a traceback (a bug):
    assert code == 3 and message.startswith('Could not download')
    assert os.listdir(raw_dir) == []  # Nothing half-written is left.
