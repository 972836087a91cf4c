import os
import os.path as osp
import uuid
from contextlib import contextmanager
from typing import Iterator, Union


@contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[str]:
    r"""Yields a temporary path for writing :obj:`path` atomically: a name
    unique to this call (process id and a random suffix) in the folder of
    :obj:`path`. When the block exits without error, the file written there
    is flushed to disk and renamed over :obj:`path` with :func:`os.replace`;
    when it raises, the temporary file is removed.

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
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
