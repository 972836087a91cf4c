r"""The command's failure report: one line, a hint, the exit code of the
error's kind; tracebacks only with --debug."""
import errno
import io
import os

import pytest
import torch

from adar_pyg.cli.errors import describe, output_closed, run_command
from adar_pyg.config import ConfigError
from adar_pyg.errors import (DataError, DivergedError, ResourceError,
                             RunDirError)
from adar_pyg.io import atomic_path, disk_full_error
from adar_pyg.train import save_checkpoint


def report(fn, **kwargs):
    err = io.StringIO()
    code = run_command(fn, stderr=err, **kwargs)
    return code, err.getvalue()


def raiser(error):
    def fn():
        raise error
    return fn


@pytest.mark.parametrize('error,code,text', [
    (ConfigError('train.lr must be positive'), 2,
     'adar-pyg: error: train.lr must be positive\n'),
    (DataError('x.csv:4: not valid UTF-8', hint='save it as UTF-8'), 3,
     'adar-pyg: error: x.csv:4: not valid UTF-8\n  hint: save it as UTF-8\n'),
    (DivergedError('loss became nan in epoch 2, batch 1 of 1'), 4,
     'adar-pyg: error: loss became nan in epoch 2, batch 1 of 1\n'),
    (RunDirError("'r' is not a run directory"), 5,
     "adar-pyg: error: 'r' is not a run directory\n"),
    (OSError(errno.ENOSPC, 'No space left on device', 'r/result.json'), 6,
     "adar-pyg: error: disk full while writing 'r/result.json'\n"),
    (PermissionError(errno.EACCES, 'Permission denied', '/r'), 6,
     "adar-pyg: error: Permission denied: '/r'\n"),
    (FileNotFoundError(errno.ENOENT, 'No such file or directory', 'x.yaml'),
     2, "adar-pyg: error: No such file or directory: 'x.yaml'\n"),
    (MemoryError(), 6, 'adar-pyg: error: out of memory\n'),
    # torch's CPU allocator (a huge --max-len or --eval-batch-size):
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. "
                  "DefaultCPUAllocator: can't allocate memory: you tried to "
                  "allocate 40000000000000 bytes."), 6,
     'adar-pyg: error: out of memory ([enforce fail'),
    (IsADirectoryError(errno.EISDIR, 'Is a directory', '.r.json.1.part',
                       None, 'r.json'), 2,
     "adar-pyg: error: Is a directory: 'r.json'\n"),
])
def test_one_line_and_the_kinds_exit_code(error, code, text, monkeypatch):
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    got, err = report(raiser(error))
    assert got == code
    assert err.startswith(text) and 'Traceback' not in err


def _storage_error(words):
    import sqlite3

    from optuna.exceptions import StorageInternalError
    try:  # (as Optuna's RDB storage raises it, from SQLAlchemy's, from
        try:  # SQLite's)
            raise sqlite3.OperationalError(words)
        except sqlite3.OperationalError as e:
            raise RuntimeError(f'(sqlite3.OperationalError) {words}') from e
    except RuntimeError as e:
        error = StorageInternalError('An exception is raised during the '
                                     'commit. This typically happens due '
                                     'to invalid data in the commit.')
        error.__cause__ = e
        return error


@pytest.mark.parametrize('error,text', [
    (lambda: _storage_error('database or disk is full'),
     "adar-pyg: error: disk full while writing the study's storage"),
    (lambda: _storage_error('database is locked'),
     "adar-pyg: error: the study's storage (study.db) stayed locked"),
    (lambda: _storage_error('no such table: trials'),
     "adar-pyg: error: the study's storage failed (no such table: trials)"),
    (lambda: __import__('concurrent.futures.process').futures.process
     .BrokenProcessPool('A process in the process pool was terminated '
                        'abruptly'),
     'adar-pyg: error: a worker process died (killed, or out of memory)'),
])
def test_a_study_storage_or_worker_failure_is_one_line(error, text,
                                                       monkeypatch):
    r"""What tune and compare meet outside torch: a SQLite study that
    fails (a full disk reaches them as Optuna's StorageInternalError), a
    worker process killed (out of memory)."""
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    got, err = report(raiser(error()))
    assert got == ResourceError.exit_code
    assert err.startswith(text) and 'Traceback' not in err


def test_interrupted_names_the_run_to_resume(tmp_path, monkeypatch):
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    code, err = report(raiser(KeyboardInterrupt()),
                       run_dir=lambda: str(tmp_path))
    assert (code, err) == (130, 'adar-pyg: stopped\n')  # Nothing to resume.
    (tmp_path / 'config.yaml').write_text('run: {}\n')
    code, err = report(raiser(KeyboardInterrupt()),
                       run_dir=lambda: str(tmp_path))
    assert code == 130
    assert err == f'adar-pyg: stopped; continue with `adar-pyg resume ' \
                  f'{tmp_path}`\n'


@pytest.mark.parametrize('where', ['study.db', 'base/study/study.db'])
def test_interrupted_study_or_comparison_says_how_to_continue(
        tmp_path, monkeypatch, where):
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_bytes(b'')
    code, err = report(raiser(KeyboardInterrupt()),
                       run_dir=lambda: str(tmp_path))
    assert code == 130 and err.startswith(
        'adar-pyg: stopped; run the same command again to continue')


def test_debug_and_bugs_keep_the_traceback(monkeypatch):
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    with pytest.raises(DataError):
        report(raiser(DataError('bad')), debug=True)
    monkeypatch.setenv('ADAR_PYG_DEBUG', '1')
    with pytest.raises(DataError):
        report(raiser(DataError('bad')))
    monkeypatch.delenv('ADAR_PYG_DEBUG')
    with pytest.raises(ZeroDivisionError):  # Not a known kind: a bug.
        report(raiser(ZeroDivisionError()))
    assert describe(ZeroDivisionError()) is None


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / 'result.json'
    with pytest.raises(ResourceError, match=f"disk full while writing "
                       f"'{path}' \\(.* MiB left on its disk\\)") as e:
        with atomic_path(path):
            raise OSError(errno.ENOSPC, 'No space left on device')
    assert e.value.errno == errno.ENOSPC and e.value.exit_code == 6
    assert list(tmp_path.iterdir()) == []

    def short_write(obj, f):  # What torch.save says on a full disk:
        raise RuntimeError('[enforce fail at inline_container.cc:672] . '
                           'unexpected pos 704 vs 598')

    monkeypatch.setattr(torch, 'save', short_write)
    with pytest.raises(ResourceError, match='disk full while writing .*'
                       'last.pt'):
        save_checkpoint({'w': torch.zeros(2)}, tmp_path / 'last.pt')
    assert list(tmp_path.iterdir()) == []
    assert 'disk full' in str(disk_full_error('x'))


@pytest.mark.parametrize('where', ['before', 'after'])
def test_debug_flag_before_or_after_the_command(tmp_path, where,
                                                monkeypatch, capsys):
    from adar_pyg.cli import main
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    argv = ['resume', str(tmp_path)]
    argv = ['--debug'] + argv if where == 'before' else argv + ['--debug']
    with pytest.raises(RunDirError, match='not a run directory'):
        main(argv)
    with pytest.raises(SystemExit) as e:
        main(['resume', str(tmp_path)])
    assert e.value.code == 5
    assert capsys.readouterr().err == (f"adar-pyg: error: '{tmp_path}' is "
                                       f"not a run directory (no "
                                       f"config.yaml)\n")


@pytest.mark.parametrize('argv, line', [
    (['train', '--learning-rate', '0.01'], "adar-pyg train: error: unknown "
     "argument '--learning-rate' (did you mean '--lr'?)"),
    (['train', '--epochs', 'x'], "adar-pyg train: error: argument --epochs: "
     "invalid int value: 'x'"),
    # The unknown flag first: it is why the required one is missing.
    (['recommend', 'run', '--users', 'u1'], "adar-pyg recommend: error: "
     "unknown argument '--users' (did you mean '--user'?)"),
    (['recommend', 'run'], 'adar-pyg recommend: error: the following '
     'arguments are required: --user'),
    (['trian'], "adar-pyg: error: argument command: invalid choice: 'trian'"),
])
def test_a_bad_flag_is_one_line_and_a_pointer_to_help(argv, line, capsys):
    from adar_pyg.cli import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    prog = line.split(': error')[0]
    what = 'commands' if prog == 'adar-pyg' else 'options'
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and 'usage:' not in err
    assert err.splitlines()[1:] == [f'  hint: {prog} --help lists the {what}']
    if argv == ['trian']:  # (a mistyped command, as a mistyped flag)
        assert err.splitlines()[0].endswith("(did you mean 'train'?)")


def test_a_closed_output_ends_the_command_quietly(monkeypatch):
    # adar-pyg datasets | head -1: no error, the exit code of SIGPIPE; a
    # broken pipe elsewhere is an error of the machine.
    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    code, err = report(raiser(BrokenPipeError(errno.EPIPE, 'Broken pipe')))
    assert code == 6 and err.startswith('adar-pyg: error: Broken pipe')
    read, write = os.pipe()
    with open(write, 'w') as out:
        monkeypatch.setattr('sys.stdout', out)
        assert not output_closed()  # Its reader is there.
        os.close(read)
        assert output_closed()
        code, err = report(raiser(BrokenPipeError(errno.EPIPE,
                                                  'Broken pipe')))
        assert (code, err) == (141, '')


def test_the_command_starts_before_torch_is_imported():
    # A Ctrl-C in the command's first second is one the command handles:
    # nothing before main() imports torch (adar_pyg's names are lazy).
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, '-c', 'import sys, adar_pyg.cli; '
                           'print("torch" in sys.modules)'],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == 'False', proc.stderr


@pytest.mark.parametrize('target', ['adar_pyg.cli.build_parser',
                                    'adar_pyg.config.parse_args'])
def test_ctrl_c_while_starting_is_stopped_too(target, monkeypatch, capsys):
    # Ctrl-C in the first second (building the parser, parsing the flags,
    # importing the settings) says what it says later:
    from adar_pyg.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.delenv('ADAR_PYG_DEBUG', raising=False)
    monkeypatch.setattr(target, interrupted)
    try:
        with pytest.raises(SystemExit) as e:
            main(['datasets'])
    except KeyboardInterrupt:
        pytest.fail('KeyboardInterrupt escaped (a traceback)')
    assert e.value.code == 130
    assert capsys.readouterr().err == 'adar-pyg: stopped\n'
