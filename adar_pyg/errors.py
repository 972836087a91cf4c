r"""The typed errors of adar_pyg and the exit code of each kind.

The library raises these (never :class:`SystemExit`); the :obj:`adar-pyg`
command turns one into a single ``adar-pyg: error: ...`` line (plus the
error's :attr:`hint`, if any) and exits with the kind's :attr:`exit_code`
(``--debug`` or ``ADAR_PYG_DEBUG=1`` shows the traceback instead).

======================  ====  =========================================
kind                    code  raised for
======================  ====  =========================================
:class:`UsageError`     2     a bad flag, setting or config file
:class:`DataError`      3     data that cannot be read or trusted
:class:`DivergedError`  4     a loss or gradient that is not finite
:class:`RunDirError`    5     a run directory that does not fit (in use,
                              changed inputs, not a run, foreign files)
:class:`ResourceError`  6     the machine: disk full, permissions
(interrupted)           130   Ctrl-C (``KeyboardInterrupt``)
(output closed)         141   the reader of the output went away
                              (``adar-pyg datasets | head -1``), quietly
======================  ====  =========================================
"""
from typing import Optional


class AdarError(Exception):
    r"""Base class of the errors the command reports in one line.

    Args:
        message (str): what went wrong, naming the file, setting or value.
        hint (str, optional): what to do about it (one line).
            (default: :obj:`None`)
    """
    exit_code: int = 1

    def __init__(self, message: str = '', hint: Optional[str] = None):
        super().__init__(message)
        self.hint = hint


class UsageError(AdarError):
    r"""A bad flag, setting or config file (exit code 2)."""
    exit_code = 2


class DataError(AdarError):
    r"""Data that cannot be read or trusted (exit code 3)."""
    exit_code = 3


class DivergedError(AdarError, FloatingPointError):
    r"""Training diverged: a loss or gradient is NaN or infinite (exit
    code 4)."""
    exit_code = 4


class RunDirError(AdarError):
    r"""A run directory that cannot be used as asked: in use by another
    process, its inputs changed since training, not a run directory, or
    holding files that are not a run's (exit code 5)."""
    exit_code = 5


class ResourceError(AdarError, OSError):
    r"""The machine refused: the disk is full, a permission is missing
    (exit code 6)."""
    exit_code = 6


#: exit code of an interrupted command (Ctrl-C), as shells report SIGINT
INTERRUPTED_EXIT_CODE = 130
#: exit code of a command whose output was closed by its reader (a broken
#: pipe), as shells report SIGPIPE
BROKEN_PIPE_EXIT_CODE = 141

__all__ = ['AdarError', 'UsageError', 'DataError', 'DivergedError',
           'RunDirError', 'ResourceError', 'INTERRUPTED_EXIT_CODE',
           'BROKEN_PIPE_EXIT_CODE']
