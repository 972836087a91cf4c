r"""How the :obj:`adar-pyg` command reports a failure: one line
(``adar-pyg: error: ...``), a hint if there is one, and the exit code of
the error's kind (see :mod:`adar_pyg.errors`).

=========================================  ====
what went wrong                            code
=========================================  ====
a bad flag, setting, config file or path   2
data that cannot be read or trusted        3
training diverged (NaN or infinite)        4
a run directory that does not fit          5
the machine: disk full, permission, memory 6
interrupted (Ctrl-C)                       130
the output closed (``... | head -1``)      141 (and nothing said)
=========================================  ====

With :obj:`--debug` (or :obj:`ADAR_PYG_DEBUG=1` in the environment) the
error is raised again, with its traceback. An error of no known kind is a
bug and keeps its traceback. A bad flag says so in one line too, with a
pointer to :obj:`--help` (:class:`CommandParser`)."""
import argparse
import errno
import os
import re
import shlex
import sys
from typing import Callable, NoReturn, Optional, Tuple

from adar_pyg.errors import (BROKEN_PIPE_EXIT_CODE, INTERRUPTED_EXIT_CODE,
                             AdarError, ResourceError, UsageError)

PROG = 'adar-pyg'
#: The environment variable that shows tracebacks, like :obj:`--debug`.
DEBUG_ENV = 'ADAR_PYG_DEBUG'


def debug_wanted(flag: bool = False) -> bool:
    r"""Whether to show tracebacks: :obj:`--debug` or :obj:`ADAR_PYG_DEBUG`
    set to anything but :obj:`''`, :obj:`0` or :obj:`false`."""
    env = os.environ.get(DEBUG_ENV, '').strip().lower()
    return bool(flag) or env not in ('', '0', 'false', 'no')


def describe(error: BaseException,
             run_dir: Optional[str] = None
             ) -> Optional[Tuple[int, str, Optional[str]]]:
    r"""(exit code, message, hint) of :obj:`error` as the command reports
    it, or :obj:`None` for an error of no known kind (a bug).

    Args:
        error (BaseException): What was raised.
        run_dir (str, optional): The run directory of the command, named in
            the message of an interrupted run.
    """
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED_EXIT_CODE, stopped_message(run_dir), None
    if isinstance(error, AdarError):
        return error.exit_code, str(error), error.hint
    if isinstance(error, MemoryError) or \
            type(error).__name__ == 'OutOfMemoryError' or (
                isinstance(error, RuntimeError) and
                "DefaultCPUAllocator: can't allocate memory" in str(error)):
        first = str(error).strip().splitlines()[:1]
        return (ResourceError.exit_code,
                'out of memory' + (f' ({first[0]})' if first else ''),
                'lower --batch-size or --eval-batch-size, or use a smaller '
                'model')
    if isinstance(error, OSError):
        return describe_os_error(error)
    from concurrent.futures import BrokenExecutor
    if isinstance(error, BrokenExecutor):  # (a worker of tune or compare)
        return (ResourceError.exit_code, 'a worker process died (killed, or '
                'out of memory)', 'run the command again: it continues '
                'from what finished; fewer --workers if memory is short')
    if type(error).__name__ == 'StorageInternalError' and \
            type(error).__module__.startswith('optuna'):
        return describe_storage_error(error)
    return None


def describe_storage_error(error: BaseException
                           ) -> Tuple[int, str, Optional[str]]:
    r"""(exit code, message, hint) of Optuna's :obj:`StorageInternalError`
    (its RDB storage failed): a full disk, a database locked too long, or
    the database's own words."""
    causes = []
    cause: Optional[BaseException] = error
    while cause is not None and len(causes) < 8:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in (
                errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)):
            return describe_os_error(cause)
    text = ' '.join(str(c) for c in causes).lower()
    if 'disk is full' in text:  # (SQLite's words for ENOSPC)
        return (ResourceError.exit_code, "disk full while writing the "
                "study's storage (study.db)",
                'free some space: the command continues where it stopped')
    if 'database is locked' in text:
        return (ResourceError.exit_code, "the study's storage (study.db) "
                'stayed locked by another process', 'run the command again, '
                'or give --storage an RDB server for many workers')
    words = str(causes[-1]).strip().splitlines()[:1]
    return (ResourceError.exit_code, "the study's storage failed" +
            (f' ({words[0]})' if words else ''), None)


def stopped_message(run_dir: Optional[str]) -> str:
    r"""What an interrupted command says: how to continue its run, if it
    wrote one far enough to be resumed, or its study or comparison (the
    folder :obj:`run_dir` of :obj:`tune` or :obj:`compare`)."""
    if run_dir and os.path.isfile(os.path.join(run_dir, 'config.yaml')):
        return f'stopped; continue with `{PROG} resume {shlex.quote(run_dir)}`'
    from adar_pyg.tune.comparison import study_dir
    from adar_pyg.tune.study import STORAGE_FILE
    if run_dir and os.path.isdir(run_dir) and any(  # A study, or an arm's:
            os.path.isfile(os.path.join(folder, STORAGE_FILE))
            for folder in [run_dir] + [study_dir(run_dir, arm)
                                       for arm in os.listdir(run_dir)]):
        return ('stopped; run the same command again to continue (finished '
                'trials and seed runs are kept, the stopped one continues)')
    return 'stopped'


def describe_os_error(error: OSError) -> Tuple[int, str, Optional[str]]:
    r"""(exit code, message, hint) of an :class:`OSError`: a full disk, a
    missing permission, a missing file."""
    # os.replace(tmp, path) and the like: the destination is the file.
    name = error.filename2 or error.filename
    where = f" '{name}'" if name else ''
    if error.errno == errno.ENOSPC:
        return (ResourceError.exit_code,
                f'disk full while writing{where or " a file"}',
                'free some space, or write the run elsewhere (--out)')
    if error.errno == getattr(errno, 'EDQUOT', errno.ENOSPC):
        return (ResourceError.exit_code,
                f'disk quota exceeded while writing{where or " a file"}',
                'free some space, or write the run elsewhere (--out)')
    text = error.strerror or str(error) or type(error).__name__
    message = f'{text}:{where}' if name else text
    if isinstance(error, (FileNotFoundError, IsADirectoryError,
                          NotADirectoryError)):
        return UsageError.exit_code, message, None
    return ResourceError.exit_code, message, None


class CommandParser(argparse.ArgumentParser):
    r"""The parser of the command and its subcommands: a bad flag is one
    line and a pointer to :obj:`--help` (not :mod:`argparse`'s usage
    first, 60 lines for :obj:`train`), with the exit code of a
    :class:`~adar_pyg.errors.UsageError`."""
    def error(self, message: str) -> NoReturn:
        what = 'commands' if self._subparsers is not None else 'options'
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)",
                          message)
        if wrong and self._subparsers is not None:  # (a mistyped command)
            from adar_pyg.config.settings import suggest
            message += suggest(wrong.group(1),
                               re.findall(r"'([^']*)'", wrong.group(2)))
        self.exit(UsageError.exit_code, f'{self.prog}: error: {message}\n'
                  f'  hint: {self.prog} --help lists the {what}\n')


def output_closed() -> bool:
    r"""Whether the standard output is a pipe whose reader went away (a
    broken pipe elsewhere, *e.g.* between processes, is an error)."""
    import select
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # Not a real file.
        return False


def run_command(fn: Callable[[], None], debug: bool = False,
                run_dir: Callable[[], Optional[str]] = lambda: None,
                stderr=None) -> int:
    r"""Calls :obj:`fn` and returns the exit code: :obj:`0`, or the code of
    the error it raised, reported on :obj:`stderr` in one line and a hint.
    A broken pipe on the output (:obj:`adar-pyg datasets | head -1`) ends
    the command quietly.

    Args:
        fn (callable): The command.
        debug (bool, optional): Raise errors again (tracebacks).
        run_dir (callable, optional): The command's run directory, once
            known (named when the command is interrupted).
    """
    try:
        fn()
        sys.stdout.flush()  # A closed output shows here, not at the exit.
        return 0
    except (Exception, KeyboardInterrupt) as e:
        if debug_wanted(debug):
            raise
        if isinstance(e, BrokenPipeError) and output_closed():
            # Its reader went away: what is not written is not wanted.
            # Python's flush at the exit must not fail on it again:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return BROKEN_PIPE_EXIT_CODE
        described = describe(e, run_dir())
        if described is None:  # A bug: its traceback helps.
            raise
        code, message, hint = described
        stderr = stderr or sys.stderr
        print(f'{PROG}: {message}' if isinstance(e, KeyboardInterrupt) else
              f'{PROG}: error: {message}', file=stderr)
        if hint:
            print(f'  hint: {hint}', file=stderr)
        stderr.flush()
        return code


__all__ = ['run_command', 'describe', 'debug_wanted', 'DEBUG_ENV',
           'CommandParser']
