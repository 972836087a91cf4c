r"""Carry the studies of unfinished comparisons between machines, in git.

An equal-budget comparison of issue 27 (`adar-pyg compare`, 20 trials an
arm) takes more CPU hours than one working session has, and a session's
machine may come back empty (only what git holds survives). What a
comparison needs to continue is its arms' Optuna studies: every finished
trial (its values, its validation curve, its budget: epochs and CPU
seconds) is in `ARM/study/study.db`, and `compare` reuses a finished trial
from the study alone (its run directory is not read again; a trial that was
running is queued again). This script writes each study as an Optuna
journal, a few KiB of JSON lines per arm that git diffs as text, beside the
folder's `sessions.json` (the calls and their cost), with the record of
each finished seed run (its `config.yaml`, `fingerprint.json`,
`metrics.jsonl` and `result.json`, a few KiB; not its checkpoints) and
the arm's `seeds.json`, and puts them back:

    python benchmarks/compare_carry.py save runs/compare/ngcf_beauty \
        benchmarks/results/compare/carry/ngcf_beauty
    python benchmarks/compare_carry.py restore runs/compare/ngcf_beauty \
        benchmarks/results/compare/carry/ngcf_beauty

`restore` writes nothing where the comparison folder exists already (the
machine kept it: it is newer than any carry). A carried seed run is
reused by `compare` as it is (its test metrics are in its `result.json`;
`adar-pyg recommend` needs its checkpoint, which stays behind); one that
was running is not carried, and is trained again (a seed run is
deterministic on one machine).
"""
import argparse
import os
import shutil
import sys
import tempfile
from typing import List

from adar_pyg.io import atomic_path
from adar_pyg.rundir import CONFIG, FINGERPRINT, METRICS, RESULT, is_finished
from adar_pyg.tune.comparison import SEEDS_JSON, SESSIONS_JSON
from adar_pyg.tune.study import STORAGE_FILE, import_optuna

#: The journal of an arm's study in a carry folder.
JOURNAL = '{arm}.journal'
#: What is carried of a finished seed run (in a carry folder's ARM/seed-S/).
SEED_FILES = (CONFIG, FINGERPRINT, METRICS, RESULT)


def _copy(source: str, target: str) -> None:
    r""":obj:`source` copied to :obj:`target` (atomically; its folder made)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _seed_runs(arm_dir: str) -> List[str]:
    r"""The finished seed runs (their folder names) in :obj:`arm_dir`."""
    return sorted(n for n in os.listdir(arm_dir) if n.startswith('seed-')
                  and is_finished(os.path.join(arm_dir, n))) \
        if os.path.isdir(arm_dir) else []


def _carry_seed_runs(source: str, target: str) -> None:
    r"""The finished seed runs' records and the :obj:`seeds.json` of the arm
    folder :obj:`source` copied into :obj:`target`."""
    for run in _seed_runs(source):
        for name in SEED_FILES:
            if os.path.isfile(os.path.join(source, run, name)):
                _copy(os.path.join(source, run, name),
                      os.path.join(target, run, name))
    if os.path.isfile(os.path.join(source, SEEDS_JSON)):
        _copy(os.path.join(source, SEEDS_JSON),
              os.path.join(target, SEEDS_JSON))


def _journal(path: str):
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from optuna.storages.journal import JournalFileBackend
    return optuna.storages.JournalStorage(JournalFileBackend(path))


def arms_of(folder: str) -> List[str]:
    r"""The arms of the comparison folder :obj:`folder` that have a study."""
    if not os.path.isdir(folder):
        return []
    return sorted(a for a in os.listdir(folder) if os.path.isfile(
        os.path.join(folder, a, 'study', STORAGE_FILE)))


def save(folder: str, carry: str) -> List[str]:
    r"""Each study of the comparison :obj:`folder` as a journal in
    :obj:`carry` (replacing the journals there), and its
    :obj:`sessions.json`; returns the arms saved."""
    optuna = import_optuna()
    arms = arms_of(folder)
    if not arms:
        raise SystemExit(f'compare_carry: no study in {folder}')
    os.makedirs(carry, exist_ok=True)
    saved = []
    for arm in arms:
        storage = 'sqlite:///' + os.path.join(folder, arm, 'study',
                                              STORAGE_FILE)
        names = optuna.get_all_study_names(storage)
        if not names:  # (killed as it created its study: nothing to carry)
            continue
        name, = names
        saved.append(arm)
        # Written whole in a temporary file, then moved into place:
        fd, tmp = tempfile.mkstemp(dir=carry, suffix='.tmp')
        os.close(fd)
        os.remove(tmp)  # (the journal backend creates its file)
        try:
            optuna.copy_study(from_study_name=name, from_storage=storage,
                              to_storage=_journal(tmp))
            os.replace(tmp, os.path.join(carry, JOURNAL.format(arm=arm)))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        _carry_seed_runs(os.path.join(folder, arm), os.path.join(carry, arm))
    sessions = os.path.join(folder, SESSIONS_JSON)
    if os.path.isfile(sessions):
        _copy(sessions, os.path.join(carry, SESSIONS_JSON))
    return saved


def restore(folder: str, carry: str) -> List[str]:
    r"""The studies (and :obj:`sessions.json`) saved in :obj:`carry` put back
    as the comparison :obj:`folder`, which must not exist; returns the arms
    restored (none where the folder exists or nothing was carried)."""
    optuna = import_optuna()
    suffix = JOURNAL.format(arm='')
    arms = sorted(n[:-len(suffix)] for n in os.listdir(carry)
                  if n.endswith(suffix)) if os.path.isdir(carry) else []
    if os.path.exists(folder) or not arms:
        return []
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)  # a fresh machine has no runs/
    staging = tempfile.mkdtemp(dir=parent, prefix='.carry-')
    try:
        for arm in arms:
            journal = _journal(os.path.join(carry, JOURNAL.format(arm=arm)))
            name, = optuna.get_all_study_names(journal)
            study_dir = os.path.join(staging, arm, 'study')
            os.makedirs(study_dir)
            optuna.copy_study(from_study_name=name, from_storage=journal,
                              to_storage='sqlite:///' + os.path.join(
                                  study_dir, STORAGE_FILE), to_study_name=name)
            _carry_seed_runs(os.path.join(carry, arm),
                             os.path.join(staging, arm))
        if os.path.isfile(os.path.join(carry, SESSIONS_JSON)):
            shutil.copyfile(os.path.join(carry, SESSIONS_JSON),
                            os.path.join(staging, SESSIONS_JSON))
        os.replace(staging, folder)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    return arms


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('action', choices=['save', 'restore'])
    parser.add_argument('folder', help='the comparison folder (--out)')
    parser.add_argument('carry', help='the folder of the journals')
    args = parser.parse_args(argv)
    if args.action == 'save':
        arms = save(args.folder, args.carry)
        print(f'saved {", ".join(arms)}: {args.folder} -> {args.carry}')
    else:
        arms = restore(args.folder, args.carry)
        print(f'restored {", ".join(arms)}: {args.carry} -> {args.folder}'
              if arms else f'nothing restored ({args.folder} exists, or no '
              f'journal in {args.carry})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
