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
folder's `sessions.json` (the calls and their cost), and puts them back:

    python benchmarks/compare_carry.py save runs/compare/ngcf_beauty \
        benchmarks/results/compare/carry/ngcf_beauty
    python benchmarks/compare_carry.py restore runs/compare/ngcf_beauty \
        benchmarks/results/compare/carry/ngcf_beauty

`restore` writes nothing where the comparison folder exists already (the
machine kept it: it is newer than any carry). The seed runs of the best
trials are not carried: a lost one is trained again, to the same numbers
(a seed run is deterministic on one machine).
"""
import argparse
import os
import shutil
import sys
import tempfile
from typing import List

from adar_pyg.io import atomic_path
from adar_pyg.tune.comparison import SESSIONS_JSON
from adar_pyg.tune.study import STORAGE_FILE, import_optuna

#: The journal of an arm's study in a carry folder.
JOURNAL = '{arm}.journal'


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
    for arm in arms:
        storage = 'sqlite:///' + os.path.join(folder, arm, 'study',
                                              STORAGE_FILE)
        name, = optuna.get_all_study_names(storage)
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
    sessions = os.path.join(folder, SESSIONS_JSON)
    if os.path.isfile(sessions):
        with atomic_path(os.path.join(carry, SESSIONS_JSON)) as tmp:
            shutil.copyfile(sessions, tmp)
    return arms


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
    staging = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(folder)),
                               prefix='.carry-')
    try:
        for arm in arms:
            journal = _journal(os.path.join(carry, JOURNAL.format(arm=arm)))
            name, = optuna.get_all_study_names(journal)
            study_dir = os.path.join(staging, arm, 'study')
            os.makedirs(study_dir)
            optuna.copy_study(from_study_name=name, from_storage=journal,
                              to_storage='sqlite:///' + os.path.join(
                                  study_dir, STORAGE_FILE), to_study_name=name)
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
