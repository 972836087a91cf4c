r"""The process pool of :func:`adar_pyg.tune.tune` (its workers) and of
:func:`adar_pyg.tune.compare` (its seed runs), quiet on Ctrl-C.

A shell's Ctrl-C reaches every process of the command. A spawned process
that runs a task stops it as the calling process does (the
:class:`KeyboardInterrupt` travels back to the caller with the task's
result); one that waits for a task only notes it: without that, it died
printing a traceback of :mod:`concurrent.futures`' internals, and a task
already queued to it still ran after the Ctrl-C (the caller waits for it).
A task a process receives after a Ctrl-C raises :class:`KeyboardInterrupt`
without running.

A pool may share a stop event with its processes (:func:`stop_event`):
the calling process sets it when it fails, and a task that runs one unit
of work after another (the trials of a worker) asks :func:`stop_requested`
before each, so that it finishes the one it runs and takes no other,
rather than going on until its budget is spent while the command waits.

A spawned process dies with the calling one (on Linux: the parent-death
signal, :obj:`PR_SET_PDEATHSIG`): :obj:`kill -9` of the command alone (not
of its process group) would otherwise leave its processes running trials
of the study, unseen and uncounted, beside the command run again.
"""
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Optional

#: Whether this (spawned) process received Ctrl-C while it waited.
_stopped = False
#: Whether the calling process ignores Ctrl-C (a command started in the
#: background by a script, under ``nohup``): then so do its tasks.
_ignored = False
#: The stop event this (spawned) process shares with the calling one.
_stop: Optional[Any] = None


def _note_interrupt(signum: int, frame: Any) -> None:
    global _stopped
    _stopped = True


#: Linux's :obj:`prctl` option that signals a process when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> bool:
    r"""Asks Linux to kill this process when its parent :obj:`parent` (a
    process id) dies, and kills it now if the parent died already; returns
    whether it could ask (not on other systems)."""
    if not sys.platform.startswith('linux'):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # It died before the request: as if after.
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def _start(stop: Optional[Any] = None, parent: Optional[int] = None) -> None:
    r"""A spawned process of the pool, before its first task: dies with the
    calling process :obj:`parent` (:func:`die_with_parent`), keeps the
    pool's stop event, and ignores Ctrl-C where the calling process does
    (the spawned one inherits it), else notes it (:func:`_waiting`)."""
    global _ignored, _stop
    if parent is not None:
        die_with_parent(parent)
    _stop = stop
    _ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if not _ignored:
        _waiting()


def _waiting() -> None:
    r"""A waiting process notes Ctrl-C instead of dying of it."""
    signal.signal(signal.SIGINT, _note_interrupt)


def _context() -> Any:
    import multiprocessing
    return multiprocessing.get_context('spawn')


def stop_event() -> Any:
    r"""An event to share with the processes of a :func:`spawn_pool`
    (:obj:`stop`): set by the calling process, seen by
    :func:`stop_requested` in theirs."""
    return _context().Event()


def stop_requested() -> bool:
    r"""Whether the calling process set the stop event of the pool this
    process belongs to (:obj:`False` outside a pool)."""
    return _stop is not None and _stop.is_set()


def spawn_pool(processes: int, stop: Optional[Any] = None
               ) -> ProcessPoolExecutor:
    r"""A pool of :obj:`processes` spawned processes (no fork of a process
    holding torch's threads) that run tasks submitted with
    :func:`in_pool`, sharing the event :obj:`stop` (:func:`stop_event`),
    if given; they die with the calling process."""
    return ProcessPoolExecutor(processes, mp_context=_context(),
                               initializer=_start,
                               initargs=(stop, os.getpid()))


def in_pool(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    r"""Calls :obj:`fn` in a process of :func:`spawn_pool`: Ctrl-C stops it
    with :class:`KeyboardInterrupt`, as in the calling process; after a
    Ctrl-C, :obj:`fn` is not called."""
    if _ignored:
        return fn(*args, **kwargs)
    global _stopped
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _stopped:  # (checked once Ctrl-C can no longer be missed)
            raise KeyboardInterrupt
        return fn(*args, **kwargs)
    except KeyboardInterrupt:  # The next tasks queued to it are not run.
        _stopped = True
        raise
    finally:
        _waiting()
