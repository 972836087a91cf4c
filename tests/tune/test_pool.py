import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from adar_pyg.tune.pool import in_pool, spawn_pool


@pytest.fixture
def ctrl_c():
    r"""Ctrl-C reaches this process as in a terminal (a pytest-xdist worker
    ignores SIGINT, and the pool's processes would inherit that)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(os.name != 'posix', reason='SIGINT to one process')
def test_ctrl_c_stops_the_task_and_is_noted_by_a_waiting_process(
        capfd, ctrl_c):
    with spawn_pool(1) as pool:
        child = pool.submit(in_pool, os.getpid).result(timeout=120)
        # Ctrl-C while it runs a task: the task stops, as in the caller.
        sleeping = pool.submit(in_pool, time.sleep, 60)
        time.sleep(1.0)
        t0 = time.perf_counter()
        os.kill(child, signal.SIGINT)
        assert isinstance(sleeping.exception(timeout=30), KeyboardInterrupt)
        assert time.perf_counter() - t0 < 30
        # Ctrl-C while it waits: noted, not a traceback; the process lives
        # on, and a task queued after it is not run.
        os.kill(child, signal.SIGINT)
        time.sleep(0.5)
        late = pool.submit(in_pool, os.getpid)
        assert isinstance(late.exception(timeout=30), KeyboardInterrupt)
        assert set(pool._processes) == {child}
    assert 'Traceback' not in capfd.readouterr().err


@pytest.mark.skipif(os.name != 'posix', reason='SIGINT to one process')
def test_tasks_queued_behind_a_stopped_one_do_not_run(ctrl_c):
    with spawn_pool(1) as pool:
        child = pool.submit(in_pool, os.getpid).result(timeout=120)
        tasks = [pool.submit(in_pool, time.sleep, 3) for _ in range(3)]
        time.sleep(1.0)
        t0 = time.perf_counter()
        os.kill(child, signal.SIGINT)  # (while the first one runs)
        for task in tasks:
            assert isinstance(task.exception(timeout=30), KeyboardInterrupt)
        assert time.perf_counter() - t0 < 2.5  # Not 3 + 3 seconds more.


@pytest.mark.skipif(os.name != 'posix', reason='SIGINT to one process')
def test_a_caller_that_ignores_ctrl_c_has_tasks_that_do_too():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # (as under nohup, or started in the background by a script)
        with spawn_pool(1) as pool:
            child = pool.submit(in_pool, os.getpid).result(timeout=120)
            sleeping = pool.submit(in_pool, time.sleep, 2)
            time.sleep(0.5)
            os.kill(child, signal.SIGINT)
            assert sleeping.result(timeout=30) is None
    finally:
        signal.signal(signal.SIGINT, previous)


#: A command that runs a task in its pool, says the task's process, waits.
PARENT = textwrap.dedent("""
    import os, sys, time
    from adar_pyg.tune.pool import in_pool, spawn_pool
    if __name__ == '__main__':
        with spawn_pool(1) as pool:
            pool.submit(in_pool, time.sleep, 0).result(timeout=120)
            child, = pool._processes
            print(child, flush=True)
            pool.submit(in_pool, time.sleep, 600)
            time.sleep(600)
""")


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='the parent-death signal is Linux\'s')
def test_a_process_of_the_pool_dies_with_the_command():
    r"""kill -9 of the command alone (not of its process group): its pool's
    process, running a task, dies too, instead of running on unseen."""
    parent = subprocess.Popen([sys.executable, '-c', PARENT],
                              stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        try:  # (whatever is left of the command's process group)
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
