import os

import pytest

from adar_pyg.io import atomic_path, write_text


def test_atomic_path_writes_and_leaves_nothing_else(tmp_path):
    path = tmp_path / 'sub' / 'out.txt'  # the folder is created
    with atomic_path(path) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path / 'sub')
        assert tmp != str(path) and not os.path.exists(tmp)
        with open(tmp, 'w') as f:
            f.write('new')
        assert not path.exists()  # not visible before the block ends
    assert path.read_text() == 'new'
    assert os.listdir(tmp_path / 'sub') == ['out.txt']


def test_atomic_path_flushes_the_file_then_its_folder(tmp_path,
                                                     monkeypatch):
    synced, fsync = [], os.fsync

    def record(fd):
        synced.append(os.fstat(fd).st_ino)
        fsync(fd)

    monkeypatch.setattr(os, 'fsync', record)
    write_text(tmp_path / 'out.txt', 'new')
    assert synced == [os.stat(tmp_path / 'out.txt').st_ino,
                      os.stat(tmp_path).st_ino]


def test_file_lock_waits_for_the_holder(tmp_path):
    import threading

    from adar_pyg.io import file_lock
    order = []

    def take():
        with file_lock(tmp_path / '.lock'):
            order.append('b')

    with file_lock(tmp_path / '.lock'):
        other = threading.Thread(target=take)
        other.start()
        other.join(0.3)
        order.append('a')
    other.join(10)
    assert order == ['a', 'b']
    with file_lock(tmp_path / '.lock', exclusive=False), \
            file_lock(tmp_path / '.lock', exclusive=False):
        pass  # (readers share it)


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / 'out.txt'
    path.write_text('old')
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_path(path) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise RuntimeError('boom')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['out.txt']

    with pytest.raises(FileNotFoundError, match='Nothing was written'):
        with atomic_path(path):
            pass
    assert path.read_text() == 'old'


def test_write_text_replaces_the_file_whole(tmp_path):
    path = tmp_path / 'report.md'
    write_text(path, 'old report, longer than the new one\n')
    write_text(path, 'new — ünïcode\n')
    assert path.read_text(encoding='utf-8') == 'new — ünïcode\n'
    assert os.listdir(tmp_path) == ['report.md']


def test_atomic_path_concurrent_writers_do_not_collide(tmp_path):
    path = tmp_path / 'out.txt'
    with atomic_path(path) as first:
        with open(first, 'w') as f:
            f.write('first')
        with atomic_path(path) as second:  # a second writer meanwhile
            assert second != first
            with open(second, 'w') as f:
                f.write('second')
        assert path.read_text() == 'second'
        assert open(first).read() == 'first'  # untouched by the second
    assert path.read_text() == 'first'  # the last one to finish wins
    assert os.listdir(tmp_path) == ['out.txt']
