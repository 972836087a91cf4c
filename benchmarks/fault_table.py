r"""The fault and bad-input table: every case runs through
``python -m adar_pyg ...`` in a temporary folder; its exit code and the first
lines of its error output are recorded, and none may show a traceback.

    python benchmarks/fault_table.py        # all cases -> docs/faults.md
    python benchmarks/fault_table.py --only empty-file,not-utf8 --out -

A case is one :class:`Case` in :data:`CASES`: a name, the arguments after
``adar-pyg``, the expected exit code, optionally a ``setup`` writing files
into the case's folder, a regex the error output must match, and, for faults
the machine cannot make on demand (a full disk, a Ctrl-C), ``inject``:
Python run before the command that makes the fault happen. To add a case,
append one. ``pending`` marks a case that the code does not handle yet (it
is run and shown, and does not fail the table).

The script exits with 1 if a case that is not pending shows a traceback,
exits with another code than expected or does not match its regex; the
table is written all the same.
"""
import argparse
import gzip
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, 'docs', 'faults.md')

# Small and fast: 30 users, 40 items, 8 interactions each.
TINY = ['--epochs', '1', '--dim', '8', '--layers', '1', '--threads', '1',
        '--no-progress', '--device', 'cpu']


def ratings(users: int = 30, per_user: int = 8, items: int = 40) -> str:
    lines = ['user,item,timestamp']
    for u in range(users):
        lines += [f'u{u},i{(7 * u + 3 * j) % items},{j}'
                  for j in range(per_user)]
    return '\n'.join(lines) + '\n'


def write(name: str, content) -> Callable[[str], None]:
    r"""A setup writing :obj:`content` (text, or bytes) to :obj:`name`."""
    def setup(folder: str) -> None:
        mode = 'wb' if isinstance(content, bytes) else 'w'
        with open(os.path.join(folder, name), mode) as f:
            f.write(content)
    return setup


def steps(*setups: Callable[[str], None]) -> Callable[[str], None]:
    def setup(folder: str) -> None:
        for s in setups:
            s(folder)
    setup.trains = any(getattr(s, 'trains', False) for s in setups)
    return setup


def mkdir(name: str) -> Callable[[str], None]:
    return lambda folder: os.makedirs(os.path.join(folder, name))


def trained(name: str = 'run', *flags: str) -> Callable[[str], None]:
    r"""A setup training a tiny run into :obj:`name` (once per table and
    flags; copied into each case's folder)."""
    def setup(folder: str) -> None:
        key = os.path.join(os.path.dirname(folder), '.runs',
                           re.sub(r'\W+', '_', '-'.join(flags) or 'base'))
        if not os.path.isdir(key):
            os.makedirs(os.path.dirname(key), exist_ok=True)
            data = os.path.join(os.path.dirname(key), 'ratings.csv')
            write(data, ratings())(folder)
            proc = adar_pyg(['train', '--data', data, *TINY, '--out', key,
                             *flags], folder)
            if proc.returncode:
                raise RuntimeError(f'training the fixture run failed:\n'
                                   f'{proc.stderr}')
        shutil.copytree(key, os.path.join(folder, name))
        write('ratings.csv', ratings())(folder)
    setup.trains = True  # Slow: a training process of its own.
    return setup


def truncate(path: str, keep: int = 100, lines: bool = False
             ) -> Callable[[str], None]:
    r"""A setup cutting the file :obj:`path` to :obj:`keep` bytes (with
    :obj:`lines`, back to the end of its last whole line: the cut then
    does not depend on where a key happens to lie)."""
    def setup(folder: str) -> None:
        with open(os.path.join(folder, path), 'r+b') as f:
            head = f.read(keep)
            f.truncate(head.rfind(b'\n') + 1 if lines else keep)
    return setup


def edit(path: str, old: str, new: str) -> Callable[[str], None]:
    r"""A setup replacing :obj:`old` by :obj:`new` in the file :obj:`path`
    (which must hold it)."""
    def setup(folder: str) -> None:
        with open(os.path.join(folder, path)) as f:
            text = f.read()
        if old not in text:
            raise RuntimeError(f"'{old}' is not in {path}")
        with open(os.path.join(folder, path), 'w') as f:
            f.write(text.replace(old, new))
    return setup


def remove(path: str) -> Callable[[str], None]:
    return lambda folder: os.remove(os.path.join(folder, path))


def copy(src: str, dst: str) -> Callable[[str], None]:
    return lambda folder: shutil.copyfile(os.path.join(folder, src),
                                          os.path.join(folder, dst))


@dataclass
class Case:
    name: str
    what: str
    argv: List[str]
    code: int
    setup: Optional[Callable[[str], None]] = None
    expect: str = ''
    inject: str = ''
    fast: bool = False  # In the unit test's subset of processes.
    pending: str = ''
    applies: Optional[Callable[[], bool]] = None  # On this machine.

    def in_process(self) -> bool:
        r"""Whether the case can run through :func:`adar_pyg.cli.main` in
        this process (a quick check of the error; the table runs them all
        as processes)."""
        return not (self.inject or self.pending or
                    getattr(self.setup, 'trains', False))


def no_gpu() -> bool:
    import torch
    return not torch.cuda.is_available()


def train(*flags: str) -> List[str]:
    return ['train', '--data', 'ratings.csv', *TINY, *flags, '--out', 'run']


TRAIN = train()
GOOD = write('ratings.csv', ratings())

CASES: List[Case] = [
    # Bad data files:
    Case('empty-file', 'an empty data file', TRAIN, 3,
         write('ratings.csv', ''), 'the file is empty'),
    Case('header-only', 'a header and no rows', TRAIN, 3,
         write('ratings.csv', 'user,item\n'), 'no rows after the header'),
    Case('missing-column', 'a missing column (the nearest is named)',
         TRAIN, 3, write('ratings.csv', 'userId,item\n1,2\n'),
         "missing column.*did you mean 'userId'"),
    Case('not-utf8', 'a file that is not UTF-8 (Latin-1)', TRAIN, 3,
         write('ratings.csv', b'user,item\nu1,i1\nu2,caf\xe9\n'),
         r'ratings.csv:3: not valid UTF-8', fast=True),
    Case('bad-time', 'a timestamp that is not a number', TRAIN, 3,
         write('ratings.csv', 'user,item,timestamp\nu1,i1,1\nu2,i2,soon\n'),
         r"ratings.csv:3: time 'soon' is not a number"),
    Case('infinite-time', 'a timestamp that is not finite', TRAIN, 3,
         write('ratings.csv', 'user,item,timestamp\nu1,i1,1\nu2,i2,inf\n'),
         r"ratings.csv:3: time 'inf' is not finite"),
    Case('number-among-dates', 'a bare number in a column of dates',
         TRAIN, 3, write('ratings.csv', 'user,item,timestamp\n'
                         'u1,i1,2020-01-02\nu2,i2,1010\n'),
         r"ratings.csv:3: time '1010' is a number"),
    Case('date-out-of-range', 'a placeholder date beyond the year 2262',
         TRAIN, 3, write('ratings.csv', 'user,item,timestamp\n'
                         'u1,i1,2020-01-02\nu2,i2,9999-12-31\n'),
         r"ratings.csv:3: time '9999-12-31' is outside the dates that can "
         r"be ordered"),
    Case('blank-first-line', 'a blank first line before the header',
         TRAIN, 3, write('ratings.csv', '\nuser,item\nu1,i1\n'),
         'the file is empty or its first line is blank'),
    Case('gz-cut-short', 'a .csv.gz cut short (an interrupted download)',
         ['train', '--data', 'ratings.csv.gz', *TINY, '--out', 'run'], 3,
         lambda folder: write('ratings.csv.gz', gzip.compress(
             ratings(users=200).encode())[:300])(folder),
         r'ratings.csv.gz: could not be decompressed as its extension says '
         r'\(EOFError'),
    Case('xz-not-compressed', 'a plain CSV named .csv.xz',
         ['train', '--data', 'ratings.csv.xz', *TINY, '--out', 'run'], 3,
         write('ratings.csv.xz', ratings()),
         r'ratings.csv.xz: could not be decompressed as its extension says'),
    Case('empty-column-name', "an empty column name (--time-col '')",
         train('--time-col', ''), 2, GOOD,
         r"data.time_col \(--time-col\) must name a column \(got ''\)"),
    Case('extra-field', 'a row with more fields than the header', TRAIN, 3,
         write('ratings.csv', 'user,item\nu1,i1\nu2,i2,7\n'),
         r'ratings.csv:3: could not be parsed'),
    Case('missing-id', 'a row without an item id', TRAIN, 3,
         write('ratings.csv', 'user,item\nu1,i1\nu2,\n'),
         r"ratings.csv:3: missing value in column 'item'"),
    Case('unknown-format', 'a file of an unknown format (.json)',
         ['train', '--data', 'ratings.json', *TINY, '--out', 'run'], 3,
         write('ratings.json', '[]'), "Unknown format of 'ratings.json'"),
    Case('data-is-a-directory', 'a directory passed as --data',
         ['train', '--data', 'folder', *TINY, '--out', 'run'], 3,
         mkdir('folder'), 'is a directory'),
    Case('data-missing', 'a --data file that does not exist',
         ['train', '--data', 'nothing.csv', *TINY, '--out', 'run'], 2, None,
         "no file 'nothing.csv'"),
    Case('nothing-left', '--k-core filtering out every row',
         train('--k-core', '100'), 3, GOOD, 'No interactions .* left'),
    # Degenerate data:
    Case('one-row-per-user', '50 users with one interaction each (no test '
         'item)', TRAIN, 3,
         write('ratings.csv', 'user,item\n' + ''.join(
             f'u{u},i{u}\n' for u in range(50))),
         'holds no test interactions.*\n.*--k-core', fast=True),
    Case('sr-every-item', 'sequences: a user who saw every item in '
         'training (no negative to draw)',
         train('--task', 'sr', '--model', 'gru4rec'), 3,
         write('ratings.csv', ratings() + ''.join(
             f'all,i{i},{100 * r + i}\n' for r in range(2)
             for i in range(40))),
         "user 'all' interacted with every item"),
    Case('too-few-items', '10 items, fewer than the cut-off 20', TRAIN, 3,
         write('ratings.csv', ratings(items=10)), 'has 10 items'),
    Case('no-validation-item', '200 users with two interactions each (a '
         'test item, no validation one)', TRAIN, 3,
         write('ratings.csv', ratings(users=200, per_user=2)),
         'holds no validation interactions'),
    Case('parquet-no-engine', 'a Parquet file without pyarrow installed',
         ['train', '--data', 'r.parquet', *TINY, '--out', 'run'], 3,
         write('r.parquet', b'PAR1'), "needs 'pyarrow'",
         applies=lambda: not any(importlib.util.find_spec(m) for m in (
             'pyarrow', 'fastparquet'))),
    # Flags and settings:
    Case('unknown-flag', 'an unknown flag (the nearest is named)',
         train('--adar-wieght', '0.1'), 2, GOOD,
         "did you mean '--adar-weight'"),
    Case('bad-flag-type', 'a flag of the wrong type',
         train('--epochs', 'x'), 2, GOOD, "invalid int value: 'x'"),
    Case('unknown-dataset', 'an unknown built-in dataset',
         ['train', '--dataset', 'beuaty', *TINY, '--out', 'run'], 2, None,
         "did you mean 'beauty'"),
    Case('config-unknown-key', 'a config file with an unknown setting',
         ['train', '--config', 'c.yaml', '--data', 'ratings.csv', *TINY],
         2, steps(GOOD, write('c.yaml', 'adar: {wieght: 0.1}\n')),
         "unknown setting 'adar.wieght'"),
    Case('config-repeated-key', 'a config file with a repeated key',
         ['train', '--config', 'c.yaml', '--data', 'ratings.csv', *TINY],
         2, steps(GOOD, write('c.yaml', 'train: {epochs: 1}\n'
                              'train: {lr: 0.5}\n')),
         "c.yaml:2: repeated key 'train'"),
    Case('same-column', 'two column options naming one column',
         train('--user-col', 'item'), 2, GOOD, 'name the same column'),
    Case('config-missing', 'a config file that does not exist',
         ['train', '--config', 'nothing.yaml'], 2, None, 'does not exist'),
    Case('lr-zero', 'a learning rate of 0', train('--lr', '0'), 2, GOOD,
         '--lr must be greater than 0'),
    Case('lr-nan', 'a learning rate of .nan in a config file',
         ['train', '--config', 'c.yaml', '--data', 'ratings.csv', *TINY],
         2, steps(GOOD, write('c.yaml', 'train: {lr: .nan}\n')),
         'finite'),
    Case('dropout-2', 'NGCF node dropout 2.0',
         train('--model', 'ngcf', '--ngcf-node-dropout', '2.0'), 2, GOOD,
         'dropout'),
    Case('abbreviated-flag', 'an abbreviated flag (--thread for --threads)',
         ['train', '--data', 'ratings.csv', '--thread', '1'], 2, GOOD,
         '--threads'),
    Case('sr-sampler', 'a CF negative sampler with --task sr',
         train('--task', 'sr', '--model', 'gru4rec', '--sampler', 'dns'), 2,
         GOOD, "sampler.sampler 'dns' is for CF only"),
    Case('mixgcf-ngcf', 'MixGCF negatives for a backbone without layers',
         train('--model', 'ngcf', '--sampler', 'mixgcf'), 2, GOOD,
         'needs a model with per-layer representations'),
    Case('json-folder', '--json naming a folder', train('--json', '.'), 2,
         GOOD, 'folder|directory'),
    Case('json-is-checkpoint', '--json and --checkpoint naming one file',
         train('--json', 'out.bin', '--checkpoint', 'out.bin'), 2, GOOD,
         '--json and --checkpoint name one file'),
    Case('heads-dim', 'SASRec heads that do not divide the dimension',
         train('--task', 'sr', '--model', 'sasrec', '--heads', '3'), 2,
         GOOD, r'model.heads \(3\) must divide model.dim \(8\)'),
    Case('seed-too-large', 'a seed beyond 64 bits',
         train('--seed', str(2 ** 64)), 2, GOOD,
         r'--seed must be in \[0, 9223372036854775807\]'),
    Case('no-cuda', '--device cuda without a GPU',
         ['train', '--data', 'ratings.csv', '--device', 'cuda'], 2, GOOD,
         'CUDA is not available', applies=no_gpu),
    # Run directories:
    Case('out-exists', 'an existing run directory without --overwrite',
         TRAIN, 5, trained(), 'exists already: pass --overwrite'),
    Case('tune-into-a-run', 'tune with a run directory as --out',
         ['tune', '--space', 's.yaml', '--trials', '1', '--data',
          'ratings.csv', *TINY, '--out', 'run'], 5,
         steps(trained(), write('s.yaml', 'train.lr: {choices: [0.01]}\n')),
         "holds files that are not a study's"),
    Case('resume-not-a-run', 'resume of a folder that is no run',
         ['resume', 'folder'], 5, mkdir('folder'), 'not a run directory',
         fast=True),
    Case('evaluate-missing', 'evaluate of a folder that does not exist',
         ['evaluate', 'nothing'], 5, None, "no run directory 'nothing'",
         fast=True),
    Case('evaluate-not-a-run', 'evaluate of a folder that is no run',
         ['evaluate', 'folder'], 5, mkdir('folder'),
         'not a finished run directory'),
    Case('report-not-a-run', 'report over a folder that is no run',
         ['report', 'folder'], 5, mkdir('folder'),
         'not a finished run directory'),
    Case('evaluate-gpu-run', 'evaluate of a run trained on CUDA, on a '
         'machine without', ['evaluate', 'run'], 2,
         steps(trained(), edit('run/config.yaml', 'device: cpu',
                               'device: cuda')),
         r"runs on CUDA \(run.device in its config.yaml\)(.|\n)*set "
         r"'device: cpu'", applies=no_gpu),
    Case('evaluate-unknown-split', 'evaluate of an unknown split',
         ['evaluate', 'run', '--split', 'foo'], 2, trained(),
         "unknown split 'foo'"),
    Case('recommend-unknown-user', 'recommend for an unknown user',
         ['recommend', 'run', '--user', 'nobody'], 2, trained(),
         "unknown user 'nobody'"),
    Case('foreign-last-pt', "another model's last.pt in a run (resume)",
         ['resume', 'run'], 5,
         steps(trained(), trained('other', '--model', 'ngcf', '--dim', '16'),
               copy('other/checkpoints/last.pt', 'run/checkpoints/last.pt'),
               remove('run/result.json')),  # as if killed before the end
         r'last.pt belongs to another run \(the settings differ .*'
         r'model.model "lightgcn" -> "ngcf"'),
    Case('split-seed-changed', 'evaluate after split.split_seed changed in '
         'config.yaml', ['evaluate', 'run'], 5,
         steps(trained(), edit('run/config.yaml', 'split_seed: 0',
                               'split_seed: 1')),
         'split_seed'),
    Case('config-cut-short', 'evaluate with a config.yaml cut short',
         ['evaluate', 'run'], 5,
         steps(trained(), truncate('run/config.yaml', 200, lines=True)),
         'config.yaml lacks'),
    Case('older-version-setting', 'evaluate of a run whose recorded '
         'settings (config.yaml and fingerprint.json agree) hold one this '
         'version refuses', ['evaluate', 'run'], 5,
         steps(trained(), edit('run/config.yaml', 'sparse_grad: false',
                               'sparse_grad: true'),
               edit('run/fingerprint.json', '"sparse_grad": false',
                    '"sparse_grad": true')),
         'trained with settings that this adar_pyg refuses'),
    Case('report-config-edited', 'report of a run whose config.yaml was '
         'edited since training', ['report', 'run'], 5,
         steps(trained(), edit('run/config.yaml', 'split_seed: 0',
                               'split_seed: 1')),
         'changed since training: split.split_seed 0 -> 1'),
    Case('config-stray-value', 'evaluate of a run whose config.yaml gained '
         'a top-level value that is no section', ['evaluate', 'run'], 5,
         steps(trained(), edit('run/config.yaml', '\nrun:\n',
                               '\nnotes: March export\nrun:\n')),
         "'notes' is not a section of settings"),
    Case('config-not-yaml', 'report of a run whose config.yaml is not '
         'valid YAML', ['report', 'run'], 5,
         steps(trained(), write('run/config.yaml', 'train: [1, 2\n')),
         'not valid YAML'),
    Case('result-damaged', 'evaluate of a run whose result.json is cut',
         ['evaluate', 'run'], 5,
         steps(trained(), truncate('run/result.json', 20)),
         'cannot read result.json'),
    Case('resume-finished', 'resume of a finished run', ['resume', 'run'],
         5, trained(), 'is finished'),
    Case('overwrite-foreign', '--overwrite of a folder holding other files',
         ['train', '--data', 'ratings.csv', *TINY, '--out', 'folder',
          '--overwrite'], 5,
         steps(GOOD, mkdir('folder'), write('folder/notes.txt', 'mine')),
         'not a run'),
    Case('truncated-best-pt', 'a truncated best.pt (evaluate)',
         ['evaluate', 'run'], 3,
         steps(trained(), truncate('run/checkpoints/best.pt')),
         'cannot read the checkpoint'),
    # The machine and the run:
    Case('diverged-adar', 'ADAR diverging (learning rate 1e30)',
         train('--epochs', '2', '--augmenter', 'adar', '--lr', '1e30'), 4,
         GOOD,
         r'NaN or infinite values in epoch \d+, batch \d+ of \d+'),
    Case('unwritable-json', '--json in a folder that cannot be created',
         train('--json', '/proc/nope/result.json'), 6, GOOD,
         "cannot write to '/proc/nope'"),
    Case('disk-full', 'the disk fills up while writing a checkpoint',
         TRAIN, 6, GOOD, r"disk full while writing '.*\.pt'",
         inject=('import torch\n'
                 'def save(obj, f, *a, **k):\n'
                 '    raise RuntimeError("[enforce fail at '
                 'inline_container.cc:672] . unexpected pos 704 vs 598")\n'
                 'torch.save = save\n')),
    Case('ctrl-c', 'Ctrl-C during the second epoch',
         train('--epochs', '3'), 130, GOOD,
         r'stopped; continue with `adar-pyg resume run`',
         inject=('from adar_pyg.train import Trainer\n'
                 'epoch = Trainer.train_epoch\n'
                 'def interrupted(self, optimizer, generator, e):\n'
                 '    if e == 2:\n'
                 '        raise KeyboardInterrupt\n'
                 '    return epoch(self, optimizer, generator, e)\n'
                 'Trainer.train_epoch = interrupted\n')),
]


def adar_pyg(argv: List[str], folder: str, inject: str = '',
             timeout: float = 300) -> subprocess.CompletedProcess:
    r"""Runs :obj:`python -m adar_pyg argv` in :obj:`folder` (with
    :obj:`inject` run first)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get(
        'PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('ADAR_PYG_DEBUG', None)
    if inject:
        command = [sys.executable, '-c',
                   inject + '\nimport sys\nfrom adar_pyg.cli import main\n'
                   "sys.argv[0] = 'adar-pyg'\nmain()\n", *argv]
    else:
        command = [sys.executable, '-m', 'adar_pyg', *argv]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)


def in_process(argv: List[str], folder: str) -> subprocess.CompletedProcess:
    r""":func:`adar_pyg.cli.main` on :obj:`argv` in :obj:`folder`, in this
    process: its exit code and error output (an exception that escapes is
    raised)."""
    import contextlib
    import io

    from adar_pyg.cli import main
    err, code, cwd = io.StringIO(), 0, os.getcwd()
    debug = os.environ.pop('ADAR_PYG_DEBUG', None)
    try:
        os.chdir(folder)
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(cwd)
        if debug is not None:
            os.environ['ADAR_PYG_DEBUG'] = debug
    return subprocess.CompletedProcess(argv, code, '', err.getvalue())


def run_case(case: Case, root: str,
             process: bool = True) -> Dict[str, object]:
    r"""Runs :obj:`case` in a folder of its own under :obj:`root` (as a
    process, or through :func:`in_process`); returns what the user sees and
    whether it is what the case expects."""
    folder = os.path.join(root, case.name)
    os.makedirs(folder)
    if case.setup is not None:
        case.setup(folder)
    proc = (adar_pyg(case.argv, folder, case.inject) if process else
            in_process(case.argv, folder))
    err = proc.stderr.strip()
    lines = [line for line in err.splitlines() if line.strip()]
    # The error lines (argparse's usage lines are left out):
    shown = [line for line in lines if line.startswith(('adar-pyg', '  hint'))
             ] or lines[-2:]
    problems = []
    if 'Traceback' in err:
        problems.append('traceback')
    if proc.returncode != case.code:
        problems.append(f'exit code {proc.returncode}, expected {case.code}')
    if case.expect and not re.search(case.expect, '\n'.join(shown)):
        problems.append(f'no match for {case.expect!r}')
    return {'case': case, 'code': proc.returncode, 'shown': shown,
            'stderr': err, 'problems': problems}


def run_cases(cases: List[Case], root: Optional[str] = None
              ) -> List[Dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix='adar-pyg-faults-') as tmp:
        return [run_case(case, root or tmp) for case in cases]


def _cell(text: str) -> str:
    return text.replace('|', '\\|').replace('\n', '<br>')


def _code(text: str) -> str:
    r"""A markdown code span of :obj:`text` (which may hold backticks)."""
    return f'`` {text} ``' if '`' in text else f'`{text}`'


def _steady(line: str) -> str:
    r"""The line without what changes from one run to the next (the free
    space of a disk)."""
    return re.sub(r'\(\d+(\.\d+)? MiB left', '(N MiB left', line.strip())


def table(results: List[Dict[str, object]]) -> str:
    rows = ['# What `adar-pyg` says when something is wrong', '',
            'Generated by `python benchmarks/fault_table.py` (do not edit: '
            'run it again). Each case runs `python -m adar_pyg ...` in a '
            'fresh folder; the exit codes are those of '
            '`adar_pyg/errors.py` (2 usage, 3 data, 4 diverged, 5 run '
            'directory, 6 the machine, 130 interrupted, 141 output closed). '
            '`--debug` (or '
            '`ADAR_PYG_DEBUG=1`) shows the traceback instead.', '',
            '| case | command | exit | what the user sees |',
            '|---|---|---|---|']
    for r in results:
        case = r['case']
        what = case.what + (' *(fault injected)*' if case.inject else '')
        if case.pending:
            what += f' — **not handled yet** ({case.pending})'
        command = ('adar-pyg ' + shlex.join(case.argv)).replace(
            ' ' + shlex.join(TINY), '')
        seen = '\n'.join(_code(_steady(line)) for line in r['shown'])
        rows.append(f"| {_cell(what)} | {_cell(_code(command))} | "
                    f"{r['code']} | {_cell(seen)} |")
    rows += ['', 'The tiny-run flags (`--epochs 1 --dim 8 --layers 1 '
             '--threads 1 --no-progress --device cpu`) are left out of the '
             'commands above.', '']
    return '\n'.join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__.split('\n')[0])
    parser.add_argument('--only', default=None,
                        help='comma-separated case names')
    parser.add_argument('--out', default=DOC,
                        help="the markdown file ('-': print it)")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if c.applies is None or c.applies()]
    if args.only:
        names = args.only.split(',')
        cases = [c for c in cases if c.name in names]
    results = run_cases(cases)
    text = table(results)
    if args.out == '-':
        print(text)
    else:
        from adar_pyg.io import write_text
        write_text(args.out, text)
        print(f'written: {args.out} ({len(results)} cases)')
    failed = [r for r in results if r['problems'] and not r['case'].pending]
    for r in failed:
        print(f"FAILED {r['case'].name}: {'; '.join(r['problems'])}\n"
              f"{r['stderr'][-2000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
