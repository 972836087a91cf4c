import errno
import os
import os.path as osp
import re
import shutil
import uuid
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Union

from adar_pyg.errors import DataError, ResourceError

try:
    import fcntl
except ImportError:  # pragma: no cover (not POSIX)
    fcntl = None

#: The errors numbers of a full disk (and of an exceeded quota).
DISK_FULL = (errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC))


def disk_full_error(path: Union[str, os.PathLike],
                    cause: Optional[BaseException] = None) -> ResourceError:
    r"""The :class:`~adar_pyg.errors.ResourceError` (:obj:`errno`
    :obj:`ENOSPC`) for a file that could not be written because the disk
    (or the quota) is full, naming the file and the space left."""
    path = os.fspath(path)
    try:
        free = shutil.disk_usage(osp.dirname(osp.abspath(path))).free
        left = f' ({free / 2**20:.1f} MiB left on its disk)'
    except OSError:
        left = ''
    quota = getattr(cause, 'errno', None) == getattr(errno, 'EDQUOT', None)
    error = ResourceError(
        f"{'disk quota exceeded' if quota else 'disk full'} while writing "
        f"'{path}'{left}", hint='free some space, or write elsewhere '
        '(another --out)')
    error.errno = errno.ENOSPC
    return error


@contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[str]:
    r"""Yields a temporary path for writing :obj:`path` atomically: a name
    unique to this call (process id and a random suffix) in the folder of
    :obj:`path`. When the block exits without error, the file written there
    is flushed to disk and renamed over :obj:`path` with :func:`os.replace`,
    and the folder is flushed too (the rename survives a power loss); when
    it raises, the temporary file is removed.

    Readers therefore see the old file or the complete new one, never a
    partial one, and concurrent writers of the same path (two runs fetching
    the same dataset into a shared cache, say) never touch each other's
    temporary file: the last one to finish wins.

    .. code-block:: python

        with atomic_path('results.json') as tmp:
            with open(tmp, 'w') as f:
                json.dump(results, f)

    Args:
        path (str or os.PathLike): The final path. Its folder is created if
            needed.

    A writer killed before the rename (:obj:`kill -9`) leaves its temporary
    file behind; :func:`remove_stale_parts` removes those of dead writers.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(
        folder,
        f'.{osp.basename(path)}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part')
    try:
        yield tmp
        if not osp.isfile(tmp):
            raise FileNotFoundError(
                f"Nothing was written to the temporary file of '{path}'")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_folder(folder)
    except OSError as e:  # A full disk names the file, not the temporary:
        if e.errno in DISK_FULL and not isinstance(e, ResourceError):
            raise disk_full_error(path, e) from e
        raise
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _fsync_folder(folder: str) -> None:
    r"""Flushes the entries of :obj:`folder` to disk, where the file system
    can (not every one can flush a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: Union[str, os.PathLike], text: str) -> None:
    r"""Writes :obj:`text` to :obj:`path` atomically (see
    :func:`atomic_path`), in UTF-8: a report is either the old one or the
    new one."""
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)


#: The name :func:`atomic_path` gives its temporary file: the final name,
#: the writer's process id and a random suffix.
PART_PATTERN = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.part$')


class CorruptFileError(DataError, RuntimeError):
    r"""Raised when a file written by :obj:`adar_pyg` (a processed dataset
    cache, a checkpoint) cannot be read back; the message names the file and
    the fix."""


def pid_alive(pid: int) -> bool:
    r"""Whether a process :obj:`pid` exists on this machine (one of another
    user counts as alive)."""
    if pid <= 0:
        return True  # Not a real writer's id: never assume it is gone.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # E.g. platforms without signal 0: keep the file.
        return True
    return True


def remove_stale_parts(folder: Union[str, os.PathLike],
                       names: Optional[Iterable[str]] = None) -> List[str]:
    r"""Removes the temporary files that :func:`atomic_path` writers left in
    :obj:`folder` when they were killed (:obj:`kill -9`, power loss): those
    whose process id, encoded in the name, no longer exists on this machine.
    Files of live writers (or of a process that reuses the id) are kept, so
    only provably stale files go. Returns the removed paths.

    Only call it on folders written from this machine (a run directory):
    the process ids of writers on other hosts sharing the folder cannot be
    checked. With :obj:`names`, only temporary files of these final file
    names are considered.
    """
    folder = os.fspath(folder)
    removed: List[str] = []
    if names is not None:
        names = set(names)
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        match = PART_PATTERN.match(name)
        if match is None or (names is not None and
                             match.group('name') not in names):
            continue
        if pid_alive(int(match.group('pid'))):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
        except FileNotFoundError:  # Removed by someone else meanwhile.
            continue
        removed.append(path)
    return removed


@contextmanager
def file_lock(path: Union[str, os.PathLike], exclusive: bool = True
              ) -> Iterator[None]:
    r"""Holds the :func:`fcntl.flock` lock of the file :obj:`path` (created
    if missing) for the block, waiting for it: exclusive, or shared with
    other readers. Without :mod:`fcntl` (not POSIX), or for a shared lock in
    a folder that cannot be written (where nobody writes), nothing is
    locked.

    Args:
        path (str): The lock file.
        exclusive (bool, optional): An exclusive lock, else a shared one.
            (default: :obj:`True`)
    """
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            if exclusive:
                raise
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # Releases the lock.


def ensure_writable(path: Union[str, os.PathLike], is_dir: bool = False
                    ) -> None:
    r"""Creates the folder of :obj:`path` (or :obj:`path` itself, with
    :obj:`is_dir`) and tests that a file can be written there, so that a run
    fails before any compute rather than after it. Raises a
    :class:`~adar_pyg.errors.ResourceError` (an :class:`OSError`) naming
    the folder, or an :class:`IsADirectoryError` for a file path that is a
    folder."""
    path = os.fspath(path)
    folder = path if is_dir else osp.dirname(osp.abspath(path))
    if not is_dir and osp.isdir(path):
        raise IsADirectoryError(f"'{path}' is a directory, not a file path")
    try:
        os.makedirs(folder, exist_ok=True)
        probe = osp.join(folder, f'.write-test-{os.getpid()}-'
                         f'{uuid.uuid4().hex[:8]}')
        with open(probe, 'w'):
            pass
        os.remove(probe)
    except OSError as e:
        raise ResourceError(f"cannot write to '{folder}': "
                            f"{e.strerror or e}") from None
