r"""Where a comparison stands (:obj:`adar-pyg compare ... --status`): read
from its folder while it runs, or between the sessions of a long one,
without training or writing anything.

Per arm: the trials its study holds of the budget (complete, pruned,
failed; killed ones, to be run again; running ones), the best so far, the
seed runs of that best configuration already finished, the CPU seconds
recorded, and an estimate of the CPU seconds left:

.. math::
    \hat{c}_{\textrm{left}} = (N - n)\,\bar{c}_{\textrm{trial}} +
    (K - k)\,\bar{c}_{\textrm{seed}},

with :math:`n` of :math:`N` trials (the arm's budget: :obj:`trials`, or
its grid's size when smaller) and :math:`k` of :math:`K` seed runs
finished, :math:`\bar{c}_{\textrm{trial}}` the mean CPU seconds of the
arm's finished trials (of every arm's, before the arm has one) and
:math:`\bar{c}_{\textrm{seed}}` that of its seed runs (else every arm's,
else of the complete trials: a seed run trains like an unpruned trial). A
running trial counts as left. Trials and seed runs continued after a kill
(their recorded time is that after the kill) are left out of the means;
a killed trial's time is never recorded.
It is an estimate: an arm whose best trial changes trains its seed runs
again, and later trials prune differently.
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from adar_pyg import defaults
from adar_pyg.config import Config
from adar_pyg.tune.arms import Arms
from adar_pyg.tune.comparison import (arm_budget, best_config,
                                      check_folder, check_studies,
                                      resolve_arms, seed_config, seed_dir,
                                      seed_ledger, seed_state, study_dir)

#: The columns of :func:`compare_status`.
COLUMNS = ('trials', 'budget', 'complete', 'pruned', 'failed', 'killed',
           'running', 'best_trial', 'best_val', 'seeds_done', 'seeds',
           'cpu_seconds', 'cpu_seconds_left')


def compare_status(config: Config, arms: Union[Arms, Dict[str, Any], str,
                                               os.PathLike],
                   trials: int, seeds: int = defaults.SEEDS,
                   out: Union[str, os.PathLike] = '', *,
                   controls: Optional[Sequence[str]] = None,
                   prune: Any = True):
    r"""The state of the comparison in :obj:`out` that
    :func:`~adar_pyg.tune.compare` with these arguments runs (a
    :class:`pandas.DataFrame` indexed by arm, columns :data:`COLUMNS`; see
    the module doc). Reads the folder only: nothing is trained or written.

    Args:
        config (Config): The comparison's base config.
        arms (Arms, dict or str): Its arms file, or its content.
        trials (int): Its trials per arm.
        seeds (int, optional): Its seed runs per arm. (default: :obj:`5`)
        out (str): Its folder.
        controls (list of str, optional): Its extra controls.
        prune (bool or str, optional): Its pruner (:obj:`prune` of
            :func:`~adar_pyg.tune.compare`). (default: :obj:`True`)
    """
    import pandas as pd

    from adar_pyg.errors import UsageError
    from adar_pyg.tune import study as tune_study
    out = os.fspath(out)
    check_folder(out, read=True)
    if not out or not os.path.isdir(out):
        raise UsageError(f"no comparison folder '{out}'",
                         hint='start it with the same command without '
                         '--status')
    config, arms = resolve_arms(config, arms, controls)
    if not any(os.path.isdir(study_dir(out, arm.name)) for arm in arms.arms):
        raise UsageError(f"'{out}' holds no study of the arms "
                         f"{', '.join(a.name for a in arms.arms)}: no "
                         f"comparison of them was started there",
                         hint='start it with the same command without '
                         '--status')
    check_studies(arms, trials, out, prune)  # (those compare makes)
    optuna = tune_study.import_optuna()
    seed_list = [config.run.seed + i for i in range(seeds)]
    rows = [_arm(optuna, tune_study, arm, trials, seed_list, out)
            for arm in arms.arms]
    _estimate(rows, trials, seeds)
    return pd.DataFrame(rows, columns=['arm', *COLUMNS]).set_index('arm')


def _arm(optuna: Any, tune_study: Any, arm: Any, trials: int,
         seeds: List[int], out: str) -> Dict[str, Any]:
    r"""The row of :obj:`arm` (its CPU means in :obj:`_trial_cpu`,
    :obj:`_complete_cpu` and :obj:`_seed_cpu`, for :func:`_estimate`)."""
    row: Dict[str, Any] = dict(
        arm=arm.name, trials=0, budget=arm_budget(arm, trials),
        complete=0, pruned=0, failed=0, killed=0, running=0, best_trial=None, best_val=None,
        seeds_done=0, seeds=len(seeds), cpu_seconds=0.0,
        _trial_cpu=[], _complete_cpu=[], _seed_cpu=[])
    folder = study_dir(out, arm.name)
    study = tune_study.load_existing(optuna, folder)
    if study is None:  # Not started.
        return row
    trials = study.get_trials(deepcopy=False)
    summary = tune_study.summary(study)
    counts = summary['counts']
    row.update(complete=counts['complete'], pruned=counts['pruned'],
               failed=counts['fail'], killed=counts['killed'])
    row['trials'] = tune_study.finished(summary)
    for t, r in zip(trials, summary['trials']):
        if r['state'] == 'running':  # (or the trial of a dead process)
            row['killed' if tune_study.is_dead(t, folder) else
                'running'] += 1
        elif r['state'] in tune_study.BUDGET:
            row['cpu_seconds'] += r['cpu_seconds'] or 0.0
            # (a continued trial's CPU time is that after the kill: no mean)
            if r['cpu_seconds'] is not None and not r['continues']:
                row['_trial_cpu'].append(r['cpu_seconds'])
                if r['state'] == 'complete':
                    row['_complete_cpu'].append(r['cpu_seconds'])
        elif r['state'] == 'killed':  # (recorded if stopped by Ctrl-C)
            row['cpu_seconds'] += r['cpu_seconds'] or 0.0
    best = summary['best']
    if best is None:
        return row
    row['best_trial'], row['best_val'] = best['number'], best['value']
    cfg = best_config(arm, best)
    ledger = seed_ledger(out, arm.name)
    for seed in seeds:
        done = seed_state(seed_dir(out, arm.name, seed),
                          seed_config(cfg, seed)) == 'finished'
        row['seeds_done'] += done
        entry = ledger.get(str(seed)) or {}
        if done and entry.get('cpu_seconds') is not None:
            row['cpu_seconds'] += entry['cpu_seconds']
            if not entry.get('continued'):
                row['_seed_cpu'].append(entry['cpu_seconds'])
    return row


def _estimate(rows: List[Dict[str, Any]], trials: int, seeds: int) -> None:
    r"""Fills :obj:`cpu_seconds_left` of each row (see the module doc;
    :obj:`None` where no trial of any arm has a recorded time)."""
    def mean(key: str, row: Dict[str, Any]) -> Optional[float]:
        values = row[key] or [v for r in rows for v in r[key]]
        return sum(values) / len(values) if values else None

    for row in rows:
        trial, seed = mean('_trial_cpu', row), mean('_seed_cpu', row)
        if seed is None:
            seed = mean('_complete_cpu', row)
        left_trials = max(row['budget'] - row['trials'], 0)
        left_seeds = seeds - row['seeds_done']
        parts = [(left_trials, trial), (left_seeds, seed)]
        row['cpu_seconds_left'] = (
            None if any(n and c is None for n, c in parts) else
            sum(n * c for n, c in parts if n))
    for row in rows:
        for key in ('_trial_cpu', '_complete_cpu', '_seed_cpu'):
            del row[key]


def status_lines(table: Any, monitor: str) -> List[str]:
    r"""The lines :obj:`adar-pyg compare --status` prints for the
    :func:`compare_status` table :obj:`table`."""
    import pandas as pd

    def hours(seconds: Optional[float]) -> str:
        return '?' if seconds is None or pd.isna(seconds) else \
            f'{seconds / 3600:.2f}'

    lines = [f"{'arm':12s} {'trials':>7s} {'c/p/f':>9s} {'killed':>6s} "
             f"{'running':>7s} {'best val ' + monitor:>22s} {'seeds':>5s} "
             f"{'CPU h':>6s} {'left (est.)':>11s}"]
    for arm, r in table.iterrows():
        best = ('' if pd.isna(r['best_val']) else
                f"{r['best_val']:.4f} (trial {int(r['best_trial'])})")
        lines.append(
            f"{arm:12s} {int(r['trials']):>3d}/{int(r['budget']):<3d} "
            f"{int(r['complete']):>3d}/{int(r['pruned'])}/{int(r['failed'])} "
            f"{int(r['killed']):>6d} {int(r['running']):>7d} {best:>22s} "
            f"{int(r['seeds_done']):>2d}/{int(r['seeds']):<2d} "
            f"{hours(r['cpu_seconds']):>6s} "
            f"{hours(r['cpu_seconds_left']):>11s}")
    spent = table['cpu_seconds'].sum()
    left = table['cpu_seconds_left']
    left = None if left.isna().any() else left.sum()
    lines.append(f'recorded {hours(spent)} CPU h; left about {hours(left)} '
                 f'CPU h (an estimate from the mean CPU time of the finished '
                 f'trials and seed runs; killed trials are run again)')
    return lines


__all__ = ['compare_status', 'status_lines', 'COLUMNS']
