r"""A processed cache is data, never code: pickles planted in a processed
folder do not run, another dataset's cache is rebuilt or refused naming the
file, a cache whose digest does not match its sidecar is rebuilt, and an
untouched cache is loaded as is."""
import hashlib
import json
import os
import os.path as osp
import shutil
import warnings

import pytest
import torch

from adar_pyg.datasets import AmazonBeauty, AmazonToys, default_mirror, md5sum
from adar_pyg.datasets.utils import CACHE_RECORD_FILE, file_digests
from adar_pyg.errors import DataError
from adar_pyg.io import CorruptFileError

BEAUTY = '1 1 2 3\n2 2 3\n3 1 3\n'  # 3 users, 3 items, 7 interactions.
TOYS = '1 1 2 3 4\n2 2 3\n3 1 3\n4 4 1\n'  # 4 users, 4 items, 10.


class Payload:
    r"""A pickle that creates :obj:`marker` when it is loaded, by
    :obj:`open` or by a shell command."""
    def __init__(self, marker, how='open'):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        if self.how == 'system':
            return (os.system, (f"touch '{self.marker}'", ))
        return (open, (self.marker, 'w'))


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch):
    monkeypatch.delenv('ADAR_PYG_MIRROR', raising=False)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    r"""A mirror with tiny Beauty and Toys files (their MD5 and statistics
    declared on the classes)."""
    for cls, text, stats in ((AmazonBeauty, BEAUTY, (3, 3, 7)),
                             (AmazonToys, TOYS, (4, 4, 10))):
        folder = tmp_path / 'mirror' / cls.folder
        folder.mkdir(parents=True)
        (folder / cls.file_name).write_text(text)
        monkeypatch.setattr(cls, 'md5', md5sum(str(folder / cls.file_name)))
        monkeypatch.setattr(cls, 'stats', dict(
            users=stats[0], items=stats[1], interactions=stats[2]))
    return str(tmp_path / 'mirror')


def processed(root, cls=AmazonBeauty):
    return osp.join(str(root), cls.folder, 'processed')


def read_record(root, cls=AmazonBeauty):
    with open(osp.join(processed(root, cls), CACHE_RECORD_FILE)) as f:
        return json.load(f)


def write_record(root, record, cls=AmazonBeauty):
    with open(osp.join(processed(root, cls), CACHE_RECORD_FILE), 'w') as f:
        json.dump(record, f)


def plant(path, marker, how='open'):
    torch.save(Payload(marker, how), path)
    # The payload is real: an unsafe load runs it.
    torch.load(path, weights_only=False)
    assert osp.exists(marker)
    os.remove(marker)


def count_process(monkeypatch, cls=AmazonBeauty):
    calls = []
    process = cls.process

    def spy(self):
        calls.append(1)
        process(self)

    monkeypatch.setattr(cls, 'process', spy)
    return calls


def test_sidecar_records_raw_and_processed_digests(tmp_path, mirror):
    root = tmp_path / 'root'
    AmazonBeauty(str(root), mirror=mirror)
    record = read_record(root)
    raw = osp.join(str(root), 'amazon-beauty', 'raw', 'Beauty.txt')
    data = osp.join(processed(root), 'data.pt')
    assert record['dataset'] == 'AmazonBeauty'
    assert record['raw'] == {'Beauty.txt': file_digests(raw)}
    assert record['raw']['Beauty.txt']['md5'] == AmazonBeauty.md5
    assert record['processed'] == {
        'data.pt': {'sha256': file_digests(data)['sha256']}}
    assert record['pre_transform'] == 'None'
    # Written atomically, and PyG's pickled side files are not written:
    assert sorted(os.listdir(processed(root))) == ['.lock', 'cache.json',
                                                   'data.pt']


def test_untouched_cache_is_loaded_without_rebuild(tmp_path, mirror,
                                                   monkeypatch):
    root = str(tmp_path / 'root')
    calls = count_process(monkeypatch)
    AmazonBeauty(root, mirror=mirror)
    assert len(calls) == 1
    data = osp.join(processed(root), 'data.pt')
    mtime = os.stat(data).st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        dataset = AmazonBeauty(root, mirror=mirror)
    assert len(calls) == 1 and os.stat(data).st_mtime_ns == mtime
    assert str(dataset) == 'AmazonBeauty(users=3, items=3, interactions=7)'
    assert dataset.cache_record == read_record(root)


@pytest.mark.parametrize('name', ['pre_transform.pt', 'pre_filter.pt'])
def test_pickled_side_files_are_never_read(tmp_path, mirror, monkeypatch,
                                           name):
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    marker = tmp_path / 'marker'
    plant(osp.join(processed(root), name), marker)
    calls = count_process(monkeypatch)
    for force_reload in (False, True):
        dataset = AmazonBeauty(root, mirror=mirror, force_reload=force_reload)
        assert not osp.exists(marker)
        assert dataset[0]['user'].num_nodes == 3
    assert len(calls) == 1  # The forced rebuild; it removes the side file:
    assert not osp.exists(osp.join(processed(root), name))


@pytest.mark.parametrize('how', ['open', 'system'])
def test_pickled_cache_is_rebuilt_and_never_loaded(tmp_path, mirror,
                                                   monkeypatch, how):
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    marker = tmp_path / 'marker'
    for name in ('data.pt', 'pre_transform.pt', 'pre_filter.pt'):
        plant(osp.join(processed(root), name), marker, how)
    calls = count_process(monkeypatch)
    with pytest.warns(UserWarning, match=r"'.*data.pt' does not match its "
                      r"recorded digest .*rebuilding it from the raw files"):
        dataset = AmazonBeauty(root, mirror=mirror)
    assert not osp.exists(marker)
    assert len(calls) == 1
    assert str(dataset) == 'AmazonBeauty(users=3, items=3, interactions=7)'

    # Also without a sidecar (a folder from elsewhere):
    plant(osp.join(processed(root), 'data.pt'), marker, how)
    os.remove(osp.join(processed(root), CACHE_RECORD_FILE))
    with pytest.warns(UserWarning, match='no readable digest record'):
        AmazonBeauty(root, mirror=mirror)
    assert not osp.exists(marker) and len(calls) == 2


def test_pickled_cache_with_forged_digest_is_refused(tmp_path, mirror):
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    marker = tmp_path / 'marker'
    path = osp.join(processed(root), 'data.pt')
    plant(path, marker)
    record = read_record(root)  # Whoever planted it also fixed the digest:
    record['processed']['data.pt']['sha256'] = file_digests(path)['sha256']
    write_record(root, record)
    with pytest.raises(CorruptFileError, match=r"AmazonBeauty: cannot read "
                       r"the processed cache '.*data.pt' \(UnpicklingError"):
        AmazonBeauty(root, mirror=mirror)
    assert not osp.exists(marker)


def test_swapped_cache_is_rebuilt(tmp_path, mirror, monkeypatch):
    root = tmp_path / 'root'
    AmazonToys(str(root), mirror=mirror)
    AmazonBeauty(str(root), mirror=mirror)
    calls = count_process(monkeypatch)

    # Toys' data.pt copied into Beauty's folder:
    shutil.copyfile(osp.join(processed(root, AmazonToys), 'data.pt'),
                    osp.join(processed(root), 'data.pt'))
    with pytest.warns(UserWarning, match="does not match its recorded"):
        dataset = AmazonBeauty(str(root), mirror=mirror)
    assert str(dataset) == 'AmazonBeauty(users=3, items=3, interactions=7)'

    # Toys' whole processed folder (data.pt and its sidecar):
    shutil.rmtree(processed(root))
    shutil.copytree(processed(root, AmazonToys), processed(root))
    with pytest.warns(UserWarning, match='not built from the raw files now'):
        dataset = AmazonBeauty(str(root), mirror=mirror)
    assert str(dataset) == 'AmazonBeauty(users=3, items=3, interactions=7)'
    assert len(calls) == 2


def test_swapped_cache_with_forged_record_is_refused(tmp_path, mirror):
    root = tmp_path / 'root'
    AmazonToys(str(root), mirror=mirror)
    AmazonBeauty(str(root), mirror=mirror)
    path = osp.join(processed(root), 'data.pt')
    shutil.copyfile(osp.join(processed(root, AmazonToys), 'data.pt'), path)
    record = read_record(root)
    record['processed']['data.pt']['sha256'] = file_digests(path)['sha256']
    write_record(root, record)
    with pytest.raises(DataError) as info:
        AmazonBeauty(str(root), mirror=mirror)
    assert str(info.value) == (
        f"AmazonBeauty: the processed cache '{path}' does not hold "
        f"AmazonBeauty's data: expected {{'users': 3, 'items': 3, "
        f"'interactions': 7}}, found {{'users': 4, 'items': 4, "
        f"'interactions': 10}}")
    assert 'force_reload=True' in info.value.hint
    dataset = AmazonBeauty(str(root), mirror=mirror, force_reload=True)
    assert str(dataset) == 'AmazonBeauty(users=3, items=3, interactions=7)'


@pytest.mark.parametrize('tamper', ['processed', 'raw', 'garbage', 'list'])
def test_tampered_record_is_rebuilt(tmp_path, mirror, monkeypatch, tamper):
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    record = read_record(root)
    if tamper == 'processed':
        record['processed']['data.pt']['sha256'] = '0' * 64
        write_record(root, record)
    elif tamper == 'raw':
        record['raw']['Beauty.txt']['sha256'] = hashlib.sha256(
            TOYS.encode()).hexdigest()
        write_record(root, record)
    else:
        path = osp.join(processed(root), CACHE_RECORD_FILE)
        with open(path, 'w') as f:
            f.write('{"processed": ' if tamper == 'garbage' else '[1, 2]')
    calls = count_process(monkeypatch)
    with pytest.warns(UserWarning, match='rebuilding it'):
        dataset = AmazonBeauty(root, mirror=mirror)
    assert len(calls) == 1
    assert dataset[0]['user'].num_nodes == 3
    with warnings.catch_warnings():  # Recorded again: loaded as is.
        warnings.simplefilter('error')
        AmazonBeauty(root, mirror=mirror)
    assert len(calls) == 1


def test_other_pre_transform_is_rebuilt(tmp_path, mirror, monkeypatch):
    root = str(tmp_path / 'root')
    AmazonBeauty(root, mirror=mirror)
    calls = count_process(monkeypatch)

    def drop_time(data):
        del data['user', 'rates', 'item'].time
        return data

    with pytest.warns(UserWarning, match="built with pre_transform 'None'"):
        dataset = AmazonBeauty(root, mirror=mirror, pre_transform=drop_time)
    assert 'time' not in dataset[0]['user', 'rates', 'item']
    assert len(calls) == 1
    assert read_record(root)['pre_transform'] != 'None'


def test_real_swapped_cache_is_refused(tmp_path):
    r"""The case of the report: Toys' cache in Beauty's folder, here with
    the sidecar forged too, names the file and both statistics."""
    mirror = default_mirror()
    if mirror is None or not all(osp.isfile(osp.join(
            mirror, cls.folder, cls.file_name))
            for cls in (AmazonBeauty, AmazonToys)):
        pytest.skip('No local mirror holding Beauty and Toys')
    root = tmp_path / 'root'
    AmazonToys(str(root), mirror=mirror)
    AmazonBeauty(str(root), mirror=mirror)
    path = osp.join(processed(root), 'data.pt')
    shutil.copyfile(osp.join(processed(root, AmazonToys), 'data.pt'), path)
    with pytest.warns(UserWarning, match='does not match its recorded'):
        assert AmazonBeauty(str(root), mirror=mirror)[0][
            'user'].num_nodes == 22363
    shutil.copyfile(osp.join(processed(root, AmazonToys), 'data.pt'), path)
    record = read_record(root)
    record['processed']['data.pt']['sha256'] = file_digests(path)['sha256']
    write_record(root, record)
    with pytest.raises(DataError, match=r"'users': 22363.*found \{'users': "
                       r"19412"):
        AmazonBeauty(str(root), mirror=mirror)
