r"""What ``adar-pyg tune`` costs beyond the training it runs, and what
``--workers 2`` buys, on Amazon-Beauty with LightGCN.

    python benchmarks/tune_speed.py --out benchmarks/results/tune_speed

* **overhead**: a study of ``--trials`` short trials (the flags' config:
  by default 2 full epochs, evaluated after each, one thread, no pruning),
  timed as a whole (:class:`common.Stopwatch` around
  :func:`adar_pyg.tune.tune`). Each trial's own compute is read from its run
  directory (``result.json``: seconds per epoch x epochs + seconds per
  evaluation x evaluations); what is left of the study's wall time is the
  overhead: Optuna's sampler and SQLite storage, ``tune.md`` / ``tune.json``
  after each trial, and each trial's run-directory bookkeeping (model
  build, ``config.yaml``, fingerprint, ``metrics.jsonl``, checkpoints,
  ``curves.png``). The data set is loaded once per study (as by any
  training): its load, timed alone in this process, is reported apart. The
  overhead per trial is compared with a full Table 2 trial
  (``--full-epochs`` 50 at ``--full-eval-every`` 5), estimated from the
  seconds per epoch and per evaluation measured in the same study. The
  in-trial part grows with the evaluations (a checkpoint per evaluation):
  the upper bound scales it by the full trial's evaluations over the short
  trial's.
* **workers**: the same study of ``--worker-trials`` trials of
  ``--worker-epochs`` epochs, on one SQLite storage, with one process and
  with ``--workers 2`` (``--repeats`` times, alternating which runs first);
  the ratio is the wall time with two workers over the time with one. The
  load average (``os.getloadavg``) is recorded before and after each: the
  ratio means something only on an otherwise idle machine with 2 free
  cores.

``--quick`` runs both parts on a tiny generated CSV in seconds (the test
suite's configuration). Study folders go to ``--work`` (default: a temporary
folder, removed). Writes ``<out>.json`` and ``<out>.md`` (atomically).
"""
import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import tempfile
from typing import Any, Dict, List, Optional

import torch

from common import Stopwatch, command_line

from adar_pyg.config import (Config, ConfigError, add_config_args,
                             config_from_args, parse_args)
from adar_pyg.io import write_text
from adar_pyg.run import write_json

#: The space of every study here: the learning rate (what any tuning varies;
#: its value does not change the time of an epoch).
SPACE = {'train.lr': {'log_uniform': [1.0e-3, 1.0e-2]}}

#: The defaults of the trials (the flags override them).
DEFAULTS = {'run': {'device': 'cpu', 'threads': 1},
            'model': {'model': 'lightgcn'},
            'train': {'epochs': 2, 'eval_every': 1}}


def load() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_tiny_csv(path: str, users: int = 60, items: int = 40,
                   per_user: int = 10) -> str:
    r"""A tiny interactions file: :obj:`users` users with :obj:`per_user`
    items each, drawn from two taste groups."""
    g = torch.Generator().manual_seed(0)
    lines = ['user,item,timestamp']
    half = items // 2
    for u in range(users):
        chosen = torch.randperm(half, generator=g)[:per_user] + half * (u % 2)
        lines += [f'u{u},i{i},{100 + t}' for t, i in
                  enumerate(chosen.tolist())]
    write_text(path, '\n'.join(lines) + '\n')
    return path


def study(cfg: Config, trials: int, out: str, workers: int = 1):
    r"""Runs a study of :obj:`SPACE` without pruning and returns its
    :class:`Stopwatch` and :obj:`tune.json`."""
    from adar_pyg.tune import tune
    with Stopwatch() as watch:
        tune(cfg, SPACE, trials, out, prune=False, workers=workers,
             log=lambda line: None)
    with open(os.path.join(out, 'tune.json')) as f:
        return watch, json.load(f)


def overhead(cfg: Config, trials: int, folder: str, full_epochs: int,
             full_eval_every: int) -> Dict[str, Any]:
    r"""Part (a): the study's wall time minus its trials' compute."""
    from adar_pyg.pipeline import load_data
    with Stopwatch() as loading:
        load_data(cfg.resolved())
    watch, info = study(cfg, trials, os.path.join(folder, 'overhead'))
    rows = []
    for row in info['trials']:
        with open(os.path.join(folder, 'overhead', row['run_dir'],
                               'result.json')) as f:
            result = json.load(f)
        evals = len(result['history'])
        compute = (result['seconds_per_epoch'] * result['epochs_run'] +
                   result['seconds_per_eval'] * evals)
        rows.append({'number': row['number'], 'state': row['state'],
                     'trial_seconds': row['seconds'],
                     'epochs': result['epochs_run'], 'evaluations': evals,
                     'seconds_per_epoch': result['seconds_per_epoch'],
                     'seconds_per_eval': result['seconds_per_eval'],
                     'compute_seconds': compute})
    n = len(rows)
    compute = sum(r['compute_seconds'] for r in rows)
    in_trials = sum(r['trial_seconds'] for r in rows) - compute
    outside = watch.seconds - sum(r['trial_seconds'] for r in rows)
    per_trial = (watch.seconds - compute - loading.seconds) / n
    per_epoch = statistics.median(r['seconds_per_epoch'] for r in rows)
    per_eval = statistics.median(r['seconds_per_eval'] for r in rows)
    full_evals = math.ceil(full_epochs / full_eval_every)
    full = full_epochs * per_epoch + full_evals * per_eval
    short_evals = statistics.mean(r['evaluations'] for r in rows)
    upper = ((outside - loading.seconds) / n + in_trials / n *
             max(1.0, full_evals / short_evals))
    return {
        'trials': n, 'epochs_per_trial': cfg.train.epochs,
        'eval_every': cfg.train.eval_every,
        'study_seconds': watch.seconds,
        'study_cpu_seconds': watch.cpu_seconds,
        'data_load_seconds': loading.seconds,
        'compute_seconds': compute,
        'outside_trials_seconds': outside,
        'in_trials_overhead_seconds': in_trials,
        'overhead_seconds_per_trial': per_trial,
        'overhead_seconds_per_trial_with_load':
            per_trial + loading.seconds / n,
        'overhead_seconds_per_trial_upper': upper,
        'seconds_per_epoch': per_epoch, 'seconds_per_eval': per_eval,
        'full_trial': {'epochs': full_epochs, 'eval_every': full_eval_every,
                       'evaluations': full_evals, 'seconds': full},
        'overhead_share': per_trial / full,
        'overhead_share_upper': upper / full,
        'target_share': 0.01,
        'per_trial': rows,
    }


def workers(cfg: Config, trials: int, repeats: int, folder: str
            ) -> Dict[str, Any]:
    r"""Part (b): the same study with one process and with two."""
    runs = []
    for repeat in range(repeats):
        times: Dict[int, Any] = {}
        for n in ((1, 2) if repeat % 2 == 0 else (2, 1)):
            before = load()
            watch, info = study(cfg, trials, os.path.join(
                folder, f'workers{n}-{repeat}'), workers=n)
            shares: Dict[str, int] = {}
            for row in info['trials']:
                key = str(row['worker'])
                shares[key] = shares.get(key, 0) + 1
            times[n] = {'seconds': watch.seconds,
                        'cpu_seconds': watch.cpu_seconds,
                        'trials': len(info['trials']),
                        'trials_per_worker': shares,
                        'trial_seconds': [r['seconds']
                                          for r in info['trials']],
                        'load_before': before, 'load_after': load()}
            print(f'  repeat {repeat}, {n} worker{"s" * (n > 1)}: '
                  f'{watch.seconds:.1f} s for {len(info["trials"])} trials '
                  f'(load {before[0]:.2f} -> {times[n]["load_after"][0]:.2f})'
                  , flush=True)
        runs.append({'one': times[1], 'two': times[2],
                     'ratio': times[2]['seconds'] / times[1]['seconds']})
    return {'trials': trials, 'epochs_per_trial': cfg.train.epochs,
            'repeats': runs,
            'ratio_median': statistics.median(r['ratio'] for r in runs),
            'target_ratio': 0.6}


def markdown(result: Dict[str, Any]) -> str:
    meta = result['meta']
    lines = ['# `adar-pyg tune`: overhead per trial and two workers', '',
             f"Command: `{meta['command']}`  ",
             f"Date: {meta['date']}; data: {meta['data']}; "
             f"{meta['cpu_count']} CPU cores; torch {meta['torch']}, "
             f"optuna {meta['optuna']}; one thread per trial.", '']
    a = result.get('overhead')
    if a:
        full = a['full_trial']
        lines += [
            '## Overhead of a study per trial', '',
            f"{a['trials']} trials of {a['epochs_per_trial']} epochs "
            f"(evaluated every {a['eval_every']}), no pruning; a full "
            f"trial: {full['epochs']} epochs, evaluated every "
            f"{full['eval_every']}, estimated from the seconds per epoch "
            f"and per evaluation measured in the same study. Overhead = "
            f"the study's wall time minus the trials' epochs and "
            f"evaluations minus one data load.", '',
            '| | value |', '|---|---|',
            f"| study wall time (s) | {a['study_seconds']:.2f} |",
            f"| trials' epochs + evaluations (s) | "
            f"{a['compute_seconds']:.2f} |",
            f"| outside the trials: Optuna, SQLite, tune.md/json, data "
            f"load (s) | {a['outside_trials_seconds']:.2f} |",
            f"| inside the trials: run directory, model build, "
            f"checkpoints, curves.png (s) | "
            f"{a['in_trials_overhead_seconds']:.2f} |",
            f"| data load, once per study (s) | "
            f"{a['data_load_seconds']:.2f} |",
            f"| seconds per epoch / per evaluation | "
            f"{a['seconds_per_epoch']:.2f} / {a['seconds_per_eval']:.2f} |",
            f"| full trial, estimated (s) | {full['seconds']:.1f} |",
            f"| **overhead per trial (s)** | "
            f"**{a['overhead_seconds_per_trial']:.2f}** "
            f"({a['overhead_seconds_per_trial_with_load']:.2f} with the "
            f"data load) |",
            f"| **share of a full trial** (target < 1%) | "
            f"**{100 * a['overhead_share']:.2f}%** |",
            f"| upper bound: in-trial part x {full['evaluations']} / "
            f"{a['per_trial'][0]['evaluations']} evaluations | "
            f"{a['overhead_seconds_per_trial_upper']:.2f} s, "
            f"{100 * a['overhead_share_upper']:.2f}% |", '']
    b = result.get('workers')
    if b:
        lines += [
            '## Two workers on one SQLite study', '',
            f"{b['trials']} trials of {b['epochs_per_trial']} epoch(s), "
            f"no pruning; `--workers 2` against one process, the wall time "
            f"of the whole study (the spawned worker's start and data load "
            f"included). Target: ratio <= {b['target_ratio']}.", '',
            '| repeat | 1 worker (s) | 2 workers (s) | ratio | trials per '
            'worker | load before / after (1-min avg) |',
            '|---|---|---|---|---|---|']
        for i, r in enumerate(b['repeats']):
            one, two = r['one'], r['two']
            lines.append(
                f"| {i} | {one['seconds']:.1f} | {two['seconds']:.1f} | "
                f"{r['ratio']:.2f} | " + ', '.join(
                    f'{k}: {v}' for k, v in
                    sorted(two['trials_per_worker'].items())) +
                f" | {one['load_before'][0]:.2f} / {one['load_after'][0]:.2f}"
                f", {two['load_before'][0]:.2f} / "
                f"{two['load_after'][0]:.2f} |")
        lines += ['', f"Median ratio: **{b['ratio_median']:.2f}**. The ratio "
                  f"needs an idle machine with 2 free cores: on a machine "
                  f"where other jobs hold a core (see the load), two "
                  f"workers share what is left and the ratio says little. "
                  f"Repeat it there with `--parts workers --repeats 3`.",
                  '']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    # The trials' settings (--dataset or --data, --epochs, --eval-every,
    # --threads, --max-batches, ...; defaults: DEFAULTS).
    add_config_args(parser, config_file=False)
    group = parser.add_argument_group('benchmark')
    group.add_argument('--parts', nargs='+', default=['overhead', 'workers'],
                       choices=('overhead', 'workers'))
    group.add_argument('--trials', type=int, default=4,
                       help='trials of the overhead study (default: 4)')
    group.add_argument('--full-epochs', type=int, default=50)
    group.add_argument('--full-eval-every', type=int, default=5)
    group.add_argument('--worker-trials', type=int, default=6,
                       help='trials of each workers study (default: 6)')
    group.add_argument('--worker-epochs', type=int, default=1,
                       help='epochs of each trial of the workers studies '
                       '(default: 1)')
    group.add_argument('--repeats', type=int, default=1,
                       help='(1 worker, 2 workers) pairs (default: 1)')
    group.add_argument('--quick', action='store_true',
                       help='a tiny generated CSV, 3 + 4 trials: seconds')
    group.add_argument('--work', default=None, metavar='DIR',
                       help='folder of the studies (default: a temporary '
                       'one, removed at the end)')
    group.add_argument('--out', default='benchmarks/results/tune_speed',
                       metavar='PREFIX', help='writes PREFIX.json and '
                       'PREFIX.md')
    args = parse_args(parser, argv)
    work = args.work or tempfile.mkdtemp(prefix='tune_speed-')
    try:
        preset = DEFAULTS
        if args.quick:
            csv = write_tiny_csv(os.path.join(work, 'tiny.csv'))
            preset = {**DEFAULTS, 'data': {'data': csv},
                      'model': {'model': 'lightgcn', 'dim': 8, 'layers': 1},
                      'train': {**DEFAULTS['train'], 'batch_size': 64}}
            args.trials, args.worker_trials = 3, 4
        try:
            cfg = config_from_args(args, preset)
        except ConfigError as e:
            parser.exit(2, f'error: {e}\n')
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        result: Dict[str, Any] = {'meta': {
            'command': command_line(argv if argv is None else
                                    ['benchmarks/tune_speed.py', *argv]),
            'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'data': ('tiny generated CSV' if args.quick else
                     cfg.data.data or cfg.data.dataset),
            'model': cfg.model.model, 'cpu_count': os.cpu_count(),
            'torch': torch.__version__, 'optuna': optuna.__version__,
            'threads': cfg.run.threads, 'quick': args.quick,
            'load_before': load()}}
        if 'overhead' in args.parts:
            print(f'overhead: {args.trials} trials of {cfg.train.epochs} '
                  f'epochs', flush=True)
            a = overhead(cfg, args.trials, work, args.full_epochs,
                         args.full_eval_every)
            result['overhead'] = a
            print(f"  study {a['study_seconds']:.1f} s, trials' compute "
                  f"{a['compute_seconds']:.1f} s, data load "
                  f"{a['data_load_seconds']:.2f} s: overhead "
                  f"{a['overhead_seconds_per_trial']:.2f} s per trial = "
                  f"{100 * a['overhead_share']:.2f}% of a full trial "
                  f"({a['full_trial']['seconds']:.0f} s; upper bound "
                  f"{100 * a['overhead_share_upper']:.2f}%)", flush=True)
        if 'workers' in args.parts:
            short = Config.build(cfg.to_dict(), {'train': {
                'epochs': args.worker_epochs,
                'eval_every': min(cfg.train.eval_every,
                                  args.worker_epochs)}})
            print(f'workers: {args.worker_trials} trials of '
                  f'{args.worker_epochs} epoch(s), 1 and 2 workers, '
                  f'{args.repeats} repeat(s)', flush=True)
            b = workers(short, args.worker_trials, args.repeats, work)
            result['workers'] = b
            print(f"  two workers / one: {b['ratio_median']:.2f} (median "
                  f"of {args.repeats}; target <= 0.6 on an idle machine)")
        result['meta']['load_after'] = load()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    write_json(result, f'{args.out}.json')
    write_text(f'{args.out}.md', markdown(result))
    print(f'wrote {args.out}.json, {args.out}.md')


if __name__ == '__main__':
    main()
