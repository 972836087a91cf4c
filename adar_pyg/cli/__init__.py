r"""The :obj:`adar-pyg` command (also :obj:`python -m adar_pyg`)::

    adar-pyg train [--config FILE.yaml] [flags...] [--out RUN_DIR]
    adar-pyg resume RUN_DIR
    adar-pyg evaluate RUN_DIR [--split test|val|test_ood]
    adar-pyg report RUN_DIR... [--out DIR]
    adar-pyg recommend RUN_DIR --user ID [--k 10]
    adar-pyg tune --space SPACE.yaml --trials N [--config FILE.yaml]
                  [flags...] --out DIR [--workers N]
    adar-pyg compare --arms ARMS.yaml --trials N [--seeds K]
                     [--controls ARM...] [--config FILE.yaml] [flags...]
                     --out DIR
    adar-pyg datasets

Errors are reported in one line and an exit code per kind (see
:mod:`adar_pyg.cli.errors`); :obj:`adar-pyg --debug ...` shows the
traceback. Every flag of :obj:`train` is generated from
:mod:`adar_pyg.config`; see :obj:`adar-pyg train --help`."""
import argparse
import math
import os
import sys
from typing import List, Optional

from adar_pyg import defaults
from adar_pyg.cli.errors import CommandParser, run_command

# The settings (adar_pyg.config) are imported in the functions, so that a
# Ctrl-C while they are imported stops the command as cleanly as later.


def _train(args: argparse.Namespace) -> None:
    from adar_pyg import run
    from adar_pyg.config import config_from_args
    cfg = config_from_args(args)
    # Named if the run is interrupted:
    out = args.out = args.out or run.default_out(cfg)
    result = run.train(cfg, out, json_path=args.json,
                       checkpoint=args.checkpoint, progress=args.progress,
                       overwrite=args.overwrite)
    print_summary(result)
    print(f'run directory: {out} (config.yaml, metrics.jsonl, result.json, '
          f'curves.png, checkpoints/best.pt)')


def _resume(args: argparse.Namespace) -> None:
    from adar_pyg import run
    result = run.resume(args.run_dir, json_path=args.json,
                        checkpoint=args.checkpoint, progress=args.progress)
    print_summary(result)
    print(f'run directory: {args.run_dir} (resumed)')


def print_summary(out: dict) -> None:
    r"""The closing lines of a run: data, model, protocol, test metrics,
    timings."""
    s = out['statistics']
    print(f"{s['dataset']}: {s['users']} users, {s['items']} items, "
          f"{s['interactions']} interactions (train {s['train']} / val "
          f"{s['val']} / test {s['test']}" + (
              f"; {s['repeated']} repeated user-item pairs counted once"
              if s.get('repeated') else '') + (
              f"; {s['repeated_rows']} rows repeat an earlier one (user, "
              f"item and time), kept" if s.get('repeated_rows') else '') +
          ')')
    if s.get('order'):
        print(f"sequences: {s['order']}; name the time column with "
              f"--time-col")
    covered = s.get('evaluated_users')
    if covered:
        print('evaluated users: ' + '; '.join(
            f"{name} {c['evaluated']} of {covered['users']}" +
            (f" ({c['left_out']} left out: {c['why']})" if c['left_out']
             else '') for name, c in covered.items() if name != 'users'))
    print(f"{out['model']} + {out['augmenter']}, {out['protocol']}, "
          f"best epoch {out['best_epoch']} of {out['epochs_run']}")
    print('test: ' + ', '.join(f'{k} {v:.4f}' for k, v in out['test'].items()))
    for name in ('test_ood', ):
        if name in out:
            print(f'{name}: ' + ', '.join(f'{k} {v:.4f}'
                                          for k, v in out[name].items()))
    print(f"{out['seconds_per_epoch']:.2f} s/epoch, "
          f"{out['seconds_per_eval']:.2f} s/evaluation")


def _evaluate(args: argparse.Namespace) -> None:
    from adar_pyg import run
    metrics = run.evaluate(args.run_dir, args.split)
    print(f'{args.split}: ' + ', '.join(f'{k} {v:.4f}'
                                        for k, v in metrics.items()))


def _report(args: argparse.Namespace) -> None:
    from adar_pyg.report import report_runs
    print(report_runs(args.run_dirs, out=args.out, split=args.split))
    if args.out:
        print(f'written: {args.out}/report.md, {args.out}/report.png')


def _recommend(args: argparse.Namespace) -> None:
    from adar_pyg import run
    items = run.recommend(args.run_dir, args.user, args.k)
    if not items:
        print(f'user {args.user} has interacted with every item: nothing '
              f'left to recommend')
        return
    print(f'top {len(items)} items for user {args.user} (seen items '
          f'excluded' + (f'; only {len(items)} not seen' if len(items) <
                         args.k else '') + '):')
    for rank, (item, score) in enumerate(items, 1):
        print(f'{rank:3d}. {item}  (score {score:.4f})')


def _tune(args: argparse.Namespace) -> None:
    from adar_pyg.config import config_from_args
    import functools

    from adar_pyg.tune import tune
    from adar_pyg.tune.study import (REPORT_MD, STORAGE_FILE, import_optuna,
                                     print_trial)
    cfg = config_from_args(args)
    # One line per trial, of every worker (the epochs with --progress):
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = tune(cfg, args.space, args.trials, args.out,
                 prune=_prune(args),
                 storage=args.storage, progress=args.progress,
                 workers=args.workers,
                 log=None if args.progress else (lambda line: None),
                 on_trial=functools.partial(print_trial,
                                            monitor=cfg.train.monitor),
                 notes=print)
    try:
        best = study.best_trial
        print(f'best: trial {best.number}, val {cfg.train.monitor} '
              f'{best.value:.4f}, ' + ', '.join(
                  f'{k} {v}' for k, v in best.params.items()))
    except ValueError:
        print('no trial completed')
    print(f'study: {args.out} ({REPORT_MD}, tune.json, trial-*/, '
          f'{STORAGE_FILE}); browse it with optuna-dashboard '
          f'{args.storage or "sqlite:///" + args.out + "/" + STORAGE_FILE}')


def _compare(args: argparse.Namespace) -> None:
    import functools

    from adar_pyg.config import config_from_args
    from adar_pyg.tune import compare
    from adar_pyg.tune.comparison import REPORT_JSON, REPORT_MD, REPORT_PNG
    cfg = config_from_args(args)
    if args.status:
        from adar_pyg.tune.status import compare_status, status_lines
        table = compare_status(cfg, args.arms, args.trials, args.seeds,
                               args.out, controls=args.controls,
                               prune=_prune(args))
        print('\n'.join(status_lines(table, cfg.train.monitor)))
        return
    table = compare(cfg, args.arms, args.trials, args.seeds, args.out,
                    controls=args.controls,
                    prune=_prune(args),
                    log=functools.partial(print, flush=True)
                    if args.progress else None,  # (to the workers too)
                    workers=args.workers, command=args.command_line)
    monitor = cfg.train.monitor
    refs = [c.rsplit('_vs_', 1)[1] for c in table.columns
            if c.startswith(f'{monitor}_p_vs_')]
    for arm, row in table.iterrows():
        tests = ', '.join(
            f"vs {ref} p {row[f'{monitor}_p_vs_{ref}']:.3g} (Holm "
            f"{row[f'{monitor}_holm_vs_{ref}']:.3g})" for ref in refs
            if not math.isnan(row[f'{monitor}_p_vs_{ref}']))
        seeds = int(row['seeds'])
        spread = (f"± {row[monitor + '_std']:.4f} over {seeds} seeds"
                  if seeds > 1 else 'over 1 seed (no spread, no test)')
        print(f"{arm}: test {monitor} {row[monitor]:.4f} {spread}" +
              (f'; {tests}' if tests else ''))
    print(f'comparison: {args.out} ({REPORT_MD}, {REPORT_JSON}, '
          f'{REPORT_PNG}, tuning-ARM.png, ARM/study/, ARM/seed-S/)')


def _datasets(args: argparse.Namespace) -> None:
    from adar_pyg.pipeline import DATASETS
    print(f"{'name':14s} {'class':14s} statistics")
    for name, cls in DATASETS.items():
        stats = ', '.join(f'{k} {v:,}' for k, v in cls.stats.items())
        print(f'{name:14s} {cls.__name__:14s} {stats}')
    print('\nYour own data: adar-pyg train --data FILE.csv [--user-col ... '
          '--item-col ... --time-col ...]')


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got "
                                         f"'{text}')")
    return value


def _prune(args: argparse.Namespace):
    r"""The pruner of :obj:`--pruner` and :obj:`--no-prune` (which refuse
    each other)."""
    if args.pruner is not None and not args.prune:
        from adar_pyg.errors import UsageError
        raise UsageError(f'--pruner {args.pruner} and --no-prune contradict '
                         f'each other', hint='give one of them')
    return (args.pruner or True) if args.prune else False


def _add_study_args(group: argparse._ArgumentGroup, shared: str) -> None:
    r"""The flags :obj:`tune` and :obj:`compare` share: pruning, workers
    (sharing :obj:`shared`) and the preset."""
    from adar_pyg.config import PRESETS
    from adar_pyg.tune.study import PRUNERS
    group.add_argument('--no-prune', dest='prune', action='store_false',
                       help='never stop a trial early')
    group.add_argument('--pruner', default=None, choices=PRUNERS,
                       help='stops trials behind on validation (default: '
                       f'{PRUNERS[0]}; a study continues only with the one '
                       'it began with)')
    workers = defaults.WORKERS
    group.add_argument('--workers', default=workers, type=positive_int,
                       metavar='N', help=f'processes sharing {shared} '
                       f'(default: {workers})')
    group.add_argument('--preset', default=None, choices=sorted(PRESETS),
                       help='a named protocol applied before the config '
                       'file and the flags')


def build_parser() -> argparse.ArgumentParser:
    from adar_pyg.config import add_config_args, add_output_args
    from adar_pyg.config.config import path_arg
    parser = CommandParser(
        prog='adar-pyg', allow_abbrev=False, description='Recommendation on '
        'PyTorch Geometric with diffusion-generated hard negatives (ADAR, '
        'CNSDiff).')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of an error (also: '
                        'ADAR_PYG_DEBUG=1)')
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('train', allow_abbrev=False,
                       help='train a model (CF or SR) into a run '
                       'directory')
    add_config_args(p)
    add_output_args(p)
    p.set_defaults(fn=_train)
    p = sub.add_parser('resume', allow_abbrev=False,
                       help='continue an interrupted run from its '
                       'latest evaluation (checkpoints/last.pt); the result '
                       'is that of the uninterrupted run')
    p.add_argument('run_dir', metavar='RUN_DIR', type=path_arg)
    add_output_args(p, run_dir=False, preset=False)
    p.set_defaults(fn=_resume)
    p = sub.add_parser('evaluate', allow_abbrev=False,
                       help="re-score a saved run's model")
    p.add_argument('run_dir', metavar='RUN_DIR', type=path_arg)
    split = defaults.SPLIT
    p.add_argument('--split', default=split,
                   help="'test', 'val' or a further test split (test_ood; "
                   f'default: {split})')
    p.set_defaults(fn=_evaluate)
    p = sub.add_parser('report', allow_abbrev=False,
                       help='compare runs: markdown table (mean ± '
                       'std, paired t-tests) and plots')
    p.add_argument('run_dirs', nargs='+', metavar='RUN_DIR', type=path_arg)
    p.add_argument('--out', default=None, metavar='DIR',
                   type=path_arg,
                   help='write report.md and report.png here')
    split = defaults.SPLIT
    p.add_argument('--split', default=split,
                   help="the metrics compared: 'test', 'val', or a further "
                   f'test split (test_ood) the runs recorded (default: '
                   f'{split})')
    p.set_defaults(fn=_report)
    p = sub.add_parser('recommend', allow_abbrev=False,
                       help="a user's top-k items (original "
                       'ids of your own data, 0-based indices of a built-in '
                       'dataset), seen items excluded')
    p.add_argument('run_dir', metavar='RUN_DIR', type=path_arg)
    p.add_argument('--user', required=True,
                   help='user id (original id of your own data; 0-based '
                   'index for a built-in dataset)')
    k = defaults.TOP_K
    p.add_argument('--k', type=int, default=k,
                   help=f'how many items (default: {k})')
    p.set_defaults(fn=_recommend)
    p = sub.add_parser('tune', allow_abbrev=False,
                       help='tune settings on validation with Optuna '
                       '(trials are run directories; test is never read)',
                       description='A study of SPACE.yaml on the config of '
                       'the flags, in DIR; --seed seeds the trials and the '
                       'sampler. See docs/tune.md.')
    add_config_args(p)
    group = p.add_argument_group('study')
    group.add_argument('--space', required=True, metavar='SPACE.yaml',
                       type=path_arg,
                       help="search space: 'section.setting: {log_uniform|"
                       "uniform|int|choices: [...]}' (see docs/tune.md)")
    group.add_argument('--trials', required=True, type=positive_int,
                       metavar='N', help="the study's number of trials; "
                       'again with the same --out continues it up to N')
    group.add_argument('--out', required=True, metavar='DIR',
                       type=path_arg,
                       help='study folder (study.db, trial-*/, tune.md)')
    group.add_argument('--storage', default=None, metavar='URL',
                       help='Optuna RDB storage (default: sqlite:///DIR/'
                       'study.db)')
    group.add_argument('--progress', default=False,
                       action=argparse.BooleanOptionalAction,
                       help="progress bars of each trial (default: off)")
    _add_study_args(group, 'the trials on the storage')
    p.set_defaults(fn=_tune)
    p = sub.add_parser('compare', allow_abbrev=False,
                       help='compare arms at equal budget: each tuned with '
                       'the same trials, its best trained over seeds and '
                       'tested once; paired t-tests (Holm)',
                       description='Each arm of ARMS.yaml (a base and '
                       'variants: config overrides and a search space) is '
                       'tuned with --trials trials on the config of the '
                       'flags; its best trial is trained with seeds --seed '
                       'to --seed + K - 1 and tested once. See docs/tune.md.')
    add_config_args(p)
    group = p.add_argument_group('comparison')
    group.add_argument('--arms', required=True, metavar='ARMS.yaml',
                       type=path_arg,
                       help="'arms: {NAME: {set: {section.setting: value}, "
                       "space: {...}}}', with a 'base' arm (see "
                       'docs/tune.md)')
    group.add_argument('--trials', required=True, type=positive_int,
                       metavar='N', help='trials of each arm (again with the '
                       'same --out continues each study up to N)')
    seeds = defaults.SEEDS
    group.add_argument('--seeds', default=seeds, type=positive_int,
                       metavar='K', help="seed runs of each arm's best "
                       f'configuration (default: {seeds})')
    group.add_argument('--controls', nargs='+', default=None, metavar='ARM',
                       help='arms every other arm is also tested against '
                       "(added to the file's controls)")
    group.add_argument('--out', required=True, metavar='DIR',
                       type=path_arg,
                       help='comparison folder (compare.md, compare.json, '
                       'ARM/study/, ARM/seed-S/)')
    group.add_argument('--progress', default=True,
                       action=argparse.BooleanOptionalAction,
                       help='one line per finished trial and seed run '
                       '(default: on)')
    group.add_argument('--status', action='store_true',
                       help='print where the comparison in --out stands '
                       '(trials, best, seed runs, CPU hours spent and left) '
                       'and exit: nothing is trained or written')
    _add_study_args(group, "each arm's trials, then its seed runs")
    p.set_defaults(fn=_compare)
    p = sub.add_parser('datasets', allow_abbrev=False,
                       help='list the built-in datasets')
    p.set_defaults(fn=_datasets)
    for p in sub.choices.values():  # --debug after the command too:
        p.add_argument('--debug', action='store_true',
                       default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def command_line(argv: List[str]) -> str:
    r"""The command :obj:`adar-pyg ARGV`, as a result file records it: each
    word shell-quoted, an absolute path made relative to the working
    directory (committed results never carry a machine's paths)."""
    import shlex
    return ' '.join(['adar-pyg'] + [shlex.quote(
        os.path.relpath(w) if os.path.isabs(w) else w) for w in argv])


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parsed: List[argparse.Namespace] = []

    def start() -> None:
        # Unknown flags are named with the nearest known one (per
        # subcommand), before missing ones:
        from adar_pyg.config import parse_args
        parsed.append(parse_args(build_parser(), argv))
        parsed[0].command_line = command_line(argv)

    code = run_command(start)  # A Ctrl-C while starting too.
    if not code:
        args = parsed[0]
        code = run_command(lambda: args.fn(args), debug=args.debug,
                           run_dir=lambda: (getattr(args, 'out', None) if
                                            args.command in ('train', 'tune',
                                                             'compare') else
                                            getattr(args, 'run_dir', None)))
    if code:
        sys.exit(code)


__all__ = ['main', 'build_parser', 'print_summary']
