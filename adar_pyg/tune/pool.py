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
"""
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

#: Whether this (spawned) process received Ctrl-C while it waited.
_stopped = False
#: Whether the calling process ignores Ctrl-C (a command started in the
#: background by a script, under ``nohup``): then so do its tasks.
_ignored = False


def _note_interrupt(signum: int, frame: Any) -> None:
    global _stopped
    _stopped = True


def _start() -> None:
    r"""A spawned process of the pool, before its first task: ignores Ctrl-C
    where the calling process does (the spawned one inherits it), else
    notes it (:func:`_waiting`)."""
    global _ignored
    _ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if not _ignored:
        _waiting()


def _waiting() -> None:
    r"""A waiting process notes Ctrl-C instead of dying of it."""
    signal.signal(signal.SIGINT, _note_interrupt)


def spawn_pool(processes: int) -> ProcessPoolExecutor:
    r"""A pool of :obj:`processes` spawned processes (no fork of a process
    holding torch's threads) that run tasks submitted with
    :func:`in_pool`."""
    import multiprocessing
    return ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context('spawn'),
        initializer=_start)


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
