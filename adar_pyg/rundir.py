r"""The guards of a run directory: one writer at a time, no run written over
files that are not a run's, and no empty directory left by a failed start.

* :func:`lock` takes an exclusive (writers: :obj:`train`, :obj:`resume`) or
  shared (readers: :obj:`evaluate`, :obj:`recommend`) :func:`fcntl.flock`
  on the run directory's :obj:`.lock` file, without waiting: a second
  writer fails at once with a :class:`~adar_pyg.errors.RunDirError`
  naming the process that holds it. The lock is re-entrant within a process
  and released with the process, even on :obj:`kill -9`.
* :func:`claim` checks that a folder can become a new run directory (it
  holds no run, unless :obj:`overwrite`, and nothing that is not a run's)
  and locks it; :func:`clear` removes the old run's files, right before the
  new run writes its first file.
* :func:`guarded` wraps a function that claims run directories: their
  locks are released when it returns, and a folder it created is removed
  if it fails before writing anything there.
"""
import errno
import fcntl
import functools
import glob
import json
import os
import shutil
import threading
from contextlib import ExitStack, contextmanager
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Pattern, TypeVar)

from adar_pyg.errors import ResourceError, RunDirError
from adar_pyg.io import PART_PATTERN

CONFIG, METRICS, RESULT = 'config.yaml', 'metrics.jsonl', 'result.json'
CURVES, CHECKPOINT, IDS = 'curves.png', 'checkpoints/best.pt', 'ids.json'
LAST, FINGERPRINT, LOCK = 'checkpoints/last.pt', 'fingerprint.json', '.lock'
CHECKPOINTS = 'checkpoints'
#: The files of a run directory (its top level and :obj:`checkpoints/`).
RUN_FILES = (CONFIG, FINGERPRINT, METRICS, RESULT, CURVES, IDS)
CHECKPOINT_FILES = (os.path.basename(CHECKPOINT), os.path.basename(LAST))

#: The environment variable naming the run directory that a parent process
#: holds locked for its workers (see :func:`lend`).
LENT = 'ADAR_PYG_RUN_DIR_LENT'
_held: Dict[str, List[Any]] = {}  # real path -> [fd, shared, count]
_held_guard = threading.Lock()


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode('ascii', 'replace').strip()
    except OSError:
        pid = ''
    return f'pid {pid}' if pid.isdigit() else 'another process'


def holder(run_dir: str) -> Optional[int]:
    r"""The process id that the exclusive holder of :obj:`run_dir`'s lock
    wrote into the lock file (a writer clears it when it lets go; a killed
    one leaves it), or :obj:`None`. Reads only: it takes no lock, so that
    it never stands in the way of a writer taking it."""
    try:
        with open(os.path.join(run_dir, LOCK), 'rb') as f:
            pid = f.read(32).decode('ascii', 'replace').strip()
    except OSError:
        return None
    return int(pid) if pid.isdigit() else None


@contextmanager
def lock(run_dir: str, shared: bool = False) -> Iterator[None]:
    r"""Holds the lock of :obj:`run_dir` (exclusive, or :obj:`shared` for
    readers) for the block; raises a :class:`~adar_pyg.errors.RunDirError`
    at once if another process holds it in the other mode (or exclusively).
    Re-entrant within a process (in the mode first taken). A reader of a
    run directory that was never locked, or that it cannot open (read-only
    storage), goes without the lock."""
    key = os.path.realpath(run_dir)
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            if entry[1] and not shared:
                raise RunDirError(f"run directory '{run_dir}' is being read "
                                  f"by this process; it cannot write it")
            entry[2] += 1
    if entry is not None:  # Re-entrant: this process holds it already.
        try:
            yield
        finally:
            with _held_guard:
                entry[2] -= 1
        return
    path = os.path.join(run_dir, LOCK)
    if os.environ.get(LENT) == key or (shared and not os.path.exists(path)):
        yield  # Held by the parent process, or never written (readers).
        return
    try:
        fd = os.open(path, os.O_RDONLY if shared else
                     os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if shared:  # Read-only storage: nobody writes there.
            yield
            return
        raise ResourceError(f"cannot lock the run directory '{run_dir}': "
                            f"{e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) |
                        fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise RunDirError(
                f"run directory '{run_dir}' is in use by {_holder(fd)}",
                hint='wait until it is done, or use another run directory'
            ) from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        with _held_guard:
            _held[key] = entry = [fd, shared, 1]
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
            if not shared:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # Releases the lock.


@contextmanager
def lend(run_dir: Optional[str]) -> Iterator[None]:
    r"""Lets the worker processes started in the block use :obj:`run_dir`,
    whose lock this process holds for them (they inherit the environment
    variable :obj:`LENT`)."""
    if not run_dir:
        yield
        return
    before = os.environ.get(LENT)
    os.environ[LENT] = os.path.realpath(run_dir)
    try:
        yield
    finally:
        if before is None:
            del os.environ[LENT]
        else:
            os.environ[LENT] = before


def is_own(name: str, names: Iterable[str],
           pattern: Optional[Pattern[str]] = None) -> bool:
    r"""Whether the folder entry :obj:`name` is one of the files
    :obj:`names` (or matches :obj:`pattern`), a temporary file of one of
    them (see :func:`adar_pyg.io.write_text`), or a write test
    (:func:`adar_pyg.io.ensure_writable`)."""
    def named(n: str) -> bool:
        return n in names or (pattern is not None and
                              pattern.fullmatch(n) is not None)

    match = PART_PATTERN.match(name)
    return named(name) or (match is not None and
                           named(match.group('name'))) or \
        name.startswith('.write-test-')


def foreign_files(folder: str) -> List[str]:
    r"""The entries of :obj:`folder` that are not a run directory's files
    (nor their temporary files), relative to it."""
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name == CHECKPOINTS and os.path.isdir(path):
            out += [os.path.join(name, n) for n in sorted(os.listdir(path))
                    if not is_own(n, CHECKPOINT_FILES)]
        elif name != LOCK and not is_own(name, RUN_FILES):
            out.append(name + ('/' if os.path.isdir(path) else ''))
    return out


def refuse_foreign(out: str, foreign: List[str], what: str,
                   also: str = '', read: bool = False) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` if :obj:`out` is a
    file, or if it holds the entries :obj:`foreign` that are not
    :obj:`what`'s (*e.g.* :obj:`'a run'`): no output is written among other
    files (with :obj:`read`, nothing is read as :obj:`what` from them)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunDirError(f"--out '{out}' is a file, not a directory")
    if foreign:
        shown = ', '.join(foreign[:5]) + (', ...' if len(foreign) > 5 else '')
        if read:
            raise RunDirError(
                f"'{out}' holds files that are not {what}'s ({shown}): it "
                f"is not {what}'s folder", hint=f"pass the --out of {what}")
        raise RunDirError(
            f"'{out}' holds files that are not {what}'s ({shown}): refusing "
            f"to write {what} there{also}",
            hint='pass a new or empty folder as --out')


def run_files(folder: str) -> List[str]:
    r"""The run files that :obj:`folder` holds (relative paths)."""
    names = list(RUN_FILES) + [os.path.join(CHECKPOINTS, n)
                               for n in CHECKPOINT_FILES]
    return [n for n in names if os.path.exists(os.path.join(folder, n))]


class _Session:
    def __init__(self) -> None:
        self.stack = ExitStack()
        self.created: List[str] = []


_local = threading.local()
F = TypeVar('F', bound=Callable[..., Any])


def guarded(fn: F) -> F:
    r"""Releases the locks that :obj:`fn` takes with :func:`claim` and
    :func:`hold` when it returns or raises; if it raises, first removes each
    folder :func:`claim` created that holds no file yet."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sessions = _local.__dict__.setdefault('sessions', [])
        session = _Session()
        sessions.append(session)
        try:
            with session.stack:  # Releases the locks on the way out.
                try:
                    return fn(*args, **kwargs)
                except BaseException:
                    for folder in session.created:  # Still locked by us.
                        _remove_if_empty(folder)
                    raise
        finally:
            sessions.pop()

    return wrapper  # type: ignore[return-value]


def _session() -> _Session:
    sessions = getattr(_local, 'sessions', None)
    if not sessions:
        raise RuntimeError('run directories are claimed inside a function '
                           'decorated with adar_pyg.rundir.guarded')
    return sessions[-1]


def _remove_if_empty(folder: str) -> None:
    try:
        sub = os.path.join(folder, CHECKPOINTS)
        if os.path.isdir(sub) and not os.listdir(sub):
            os.rmdir(sub)
        if set(os.listdir(folder)) <= {LOCK}:
            shutil.rmtree(folder)
    except OSError:
        pass


def enclosing_run(folder: str) -> Optional[str]:
    r"""The run directory (a folder holding a :obj:`config.yaml` and a
    :obj:`fingerprint.json`) that is :obj:`folder` or holds it, else
    :obj:`None`."""
    folder = os.path.realpath(folder)
    while True:
        if os.path.isfile(os.path.join(folder, CONFIG)) and \
                os.path.isfile(os.path.join(folder, FINGERPRINT)):
            return folder
        if folder == os.path.dirname(folder):
            return None
        folder = os.path.dirname(folder)


def require(run_dir: str) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` if :obj:`run_dir`
    is not a folder (does not exist, or is a file), before a command reads
    it as a run directory."""
    if not os.path.isdir(run_dir):
        raise RunDirError(
            f"'{run_dir}' is a file, not a run directory"
            if os.path.exists(run_dir) else
            f"no run directory '{run_dir}' (it does not exist)")


def hold(run_dir: str, shared: bool = False) -> None:
    r""":func:`lock` :obj:`run_dir` until the :func:`guarded` function
    returns."""
    _session().stack.enter_context(lock(run_dir, shared))


def claim(out: str, overwrite: bool = False) -> None:
    r"""Makes :obj:`out` the run directory of a new run of this
    (:func:`guarded`) call: creates it if needed and locks it. Refuses
    (:class:`~adar_pyg.errors.RunDirError`) a path that is a file, a folder
    holding files that are not a run's (even with :obj:`overwrite`), and,
    unless :obj:`overwrite`, one holding a run's files already, and a
    folder inside another run directory (which it would make foreign to
    that run's :obj:`--overwrite`). Nothing is removed here (see
    :func:`clear`)."""
    refuse_foreign(out, [], 'a run')  # (a file)
    parent = enclosing_run(os.path.dirname(os.path.abspath(out)))
    if parent is not None:
        raise RunDirError(f"--out '{out}' lies inside the run directory "
                          f"'{parent}'", hint='pass a folder outside it')
    created = not os.path.exists(out)
    if created:
        try:
            os.makedirs(out)
        except FileExistsError:  # Created meanwhile by another process.
            created = False
        except OSError as e:
            raise ResourceError(f"cannot write to '{out}': "
                                f"{e.strerror or e}") from None
    hold(out)
    if created:  # Removed again if the start fails (while locked).
        _session().created.append(out)
    refuse_foreign(out, foreign_files(out), 'a run',
                   ' (even with --overwrite)' if overwrite else '')
    if run_files(out) and not overwrite:
        raise RunDirError(f"run directory '{out}' exists already: pass "
                          f"--overwrite to replace it, or another --out",
                          hint=None if is_finished(out) else
                          _not_finished_hint(out, RESULT))


def clear(out: str) -> None:
    r"""Removes the files of the run that :obj:`out` held (after
    :func:`claim` with :obj:`overwrite`)."""
    for name in run_files(out):
        os.remove(os.path.join(out, name))


def require_finished(run_dir: str) -> None:
    r""":func:`require`, and a :class:`~adar_pyg.errors.RunDirError` if
    :obj:`run_dir` lacks the :obj:`config.yaml` or :obj:`result.json` of a
    finished run."""
    require(run_dir)
    for name in (CONFIG, RESULT):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise RunDirError(f"'{run_dir}' is not a finished run "
                              f"directory (no {name})",
                              hint=_not_finished_hint(run_dir, name))


def _not_finished_hint(folder: str, missing: str) -> Optional[str]:
    r"""What to do with the folder :obj:`folder` that lacks :obj:`missing`
    of a finished run: wait (a run in progress), resume it (an interrupted
    run), or pass the run directories it holds (a study's or a comparison's
    folder)."""
    if missing == RESULT:
        try:  # (fails at once while a writer holds it; ours is re-entrant)
            with lock(folder, shared=True):
                pass
        except RunDirError:
            return 'a run in progress in another process: wait for it'
        if os.path.isfile(os.path.join(folder, LAST)):
            return (f"an interrupted run: continue it with 'adar-pyg resume "
                    f"{folder}'")
        return ("an unfinished run without a checkpoint to resume from: "
                "train it again with --overwrite")
    inner = sorted(glob.glob(os.path.join(glob.escape(folder), '*', CONFIG))
                   + glob.glob(os.path.join(glob.escape(folder), '*', '*',
                                            CONFIG)))
    if inner:
        return (f"it holds run directories (a study's or a comparison's "
                f"folder): pass those, e.g. '{os.path.dirname(inner[0])}'")
    return None


def read_result(run_dir: str) -> Dict[str, Any]:
    r"""The :obj:`result.json` of the finished run :obj:`run_dir`; a
    missing, unreadable or damaged one raises a
    :class:`~adar_pyg.errors.RunDirError`."""
    path = os.path.join(run_dir, RESULT)
    if not os.path.isfile(path):
        raise RunDirError(f"'{run_dir}' is not a finished run directory "
                          f"(no {RESULT})")
    try:
        with open(path, encoding='utf-8') as f:
            result = json.load(f)
    except (OSError, ValueError) as e:
        raise RunDirError(f"run '{run_dir}': cannot read {RESULT} ({e})",
                          hint='train it again (adar-pyg train --config '
                          f"{os.path.join(run_dir, CONFIG)} --out NEW)"
                          ) from None
    if not isinstance(result, dict):
        raise RunDirError(f"run '{run_dir}': {RESULT} is damaged (not a "
                          f"mapping)")
    return result


def is_finished(run_dir: str) -> bool:
    r"""Whether the run of :obj:`run_dir` wrote its :obj:`result.json`."""
    return os.path.isfile(os.path.join(run_dir, RESULT))
