r"""Data-parallel training on the CPU: how much faster an epoch is with 2
processes than with 1, and what the doubled global batch, with and without
the linear learning-rate scaling, does to Recall@20 and NDCG@20. LightGCN on
Amazon-Beauty (CF) or, with ``--task sr``, GRU4Rec on Amazon-Beauty (SR).

    python benchmarks/ddp_speed.py                  # CF, seed 0
    python benchmarks/ddp_speed.py --task sr        # SR, seed 0
    python benchmarks/ddp_speed.py --quick          # smoke test (1 epoch)

Configurations, each a whole run of :func:`adar_pyg.run.train` (what
``adar-pyg train`` calls), early-stopped on validation Recall@20:

* ``1rank``: one process, ``--batch-size`` B;
* ``2ranks``: ``--nproc 2``, B per process, so the global batch is 2B and an
  epoch has half as many steps; the learning rate unchanged;
* ``2ranks-linear``: the same with ``--lr-scaling linear`` (the learning rate
  times 2, the usual rule for a batch twice as large);
* ``2ranks-columns`` (CF): ``--nproc 2 --parallel columns``, the processes
  split the embedding columns instead: the batches of one process (global
  batch B), each process propagating half the columns; the run is the
  1-process run, so its metrics equal ``1rank``'s.

Measured per cell: seconds per training epoch (``seconds_per_epoch`` of the
run's result: the mean over its epochs, evaluations excluded), the epoch
speed-up of each 2-process configuration over ``1rank`` of the same seed
(the target: at least 1.6x), validation and test Recall@20 / NDCG@20 at the
validation-selected epoch, the epochs run and the selected one.

Every process uses ``--threads`` torch threads (default 1), so the 2-process
cells need two idle cores: on a 2-core machine, run nothing else meanwhile.
The load average before and after each cell is kept in it and shown in the
report; a warning is printed when the machine is busy at the start.

Protocols (the defaults; any setting flag overrides them, e.g. ``--epochs 10``
for a shorter variant):

* CF: ``--epochs 50 --eval-every 5 --patience 4 --lr 5e-3 --threads 1``
  (batch 2048, LightGCN);
* SR: ``--task sr --model gru4rec --epochs 150 --eval-every 5 --patience 4
  --threads 1`` (batch 256, lr 1e-3).

``--quick`` (a smoke test): 1 epoch, evaluated, batch 8192 (CF) or 2048 (SR),
the first seed, written to ``benchmarks/results/ddp_speed_quick`` unless
``--out`` says otherwise.

Resumable: each ``<task>/<model>/<dataset>/<configuration>/seed<N>`` cell of
``<out>.json`` (default ``benchmarks/results/ddp_speed``; CF and SR cells in
one file) is trained once; a cell found there with other settings than the
current ones is an error (choose another ``--out``). ``--report-only``
writes ``<out>.md`` from the cells there, ``--merge`` first adds the cells of
other result files.
"""
import argparse
import datetime
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common import (add_store_args, cell_key, command_lines, mean_std,
                    open_results, resolved, summarize)

from adar_pyg import run
from adar_pyg.config import (Config, ConfigError, add_config_args,
                             config_from_args, parse_args as parse_flags,
                             recorded_settings)
from adar_pyg.io import atomic_path

#: configuration -> (label, the settings it changes, as a layer of
#: :meth:`Config.replace`)
CONFIGS = {
    '1rank': ('1 process', {'run': {'nproc': 1, 'parallel': 'data'},
                            'train': {'lr_scaling': 'none'}}),
    '2ranks': ('2 processes', {'run': {'nproc': 2, 'parallel': 'data'},
                               'train': {'lr_scaling': 'none'}}),
    '2ranks-linear': ('2 processes, linear lr', {
        'run': {'nproc': 2, 'parallel': 'data'},
        'train': {'lr_scaling': 'linear'}}),
    '2ranks-columns': ('2 processes, by columns', {
        'run': {'nproc': 2, 'parallel': 'columns'},
        'train': {'lr_scaling': 'none'}}),
}
BASE = '1rank'
#: The epoch speed-up 2 processes are asked for.
TARGET = 1.6
PROTOCOLS = {
    'cf': dict(model='lightgcn', epochs=50, eval_every=5, patience=4, lr=5e-3,
               threads=1),
    'sr': dict(model='gru4rec', epochs=150, eval_every=5, patience=4,
               threads=1),
}
QUICK = {'cf': dict(epochs=1, eval_every=1, batch_size=8192),
         'sr': dict(epochs=1, eval_every=1, batch_size=2048)}
#: Settings that may differ between the cells of one table (the others must
#: be equal to reuse a cell).
FREE = (('run', 'nproc'), ('run', 'parallel'), ('train', 'lr_scaling'),
        ('run', 'seed'),
        ('run', 'port'), ('run', 'dist_timeout'), ('data', 'data_root'),
        ('data', 'mirror'))
NAMES = {'lightgcn': 'LightGCN', 'ngcf': 'NGCF', 'gru4rec': 'GRU4Rec',
         'sasrec': 'SASRec', 'cl4srec': 'CL4SRec'}


def group_key(cfg: Config) -> str:
    r""":obj:`<task>/<model>/<dataset>` of the settings :obj:`cfg`."""
    return f'{cfg.run.task}/{cfg.model.model}/{cfg.dataset_name()}'


def cell_config(cfg: Config, config: str, seed: int) -> Config:
    r""":obj:`cfg` with the seed and the settings of :obj:`config`."""
    return cfg.replace({'run': {'seed': seed}}, CONFIGS[config][1])


def load_average() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


def train_cell(cfg: Config, config: str, seed: int) -> Dict[str, Any]:
    r"""One run of :obj:`config` with the settings :obj:`cfg`
    (:func:`adar_pyg.run.train`, nothing written), its result with the load
    average before and after it."""
    run_cfg = cell_config(cfg, config, seed)
    before, start = load_average(), time.perf_counter()
    result = run.train(run_cfg, progress=False)
    return {**result, 'configuration': config,
            'wall_seconds': time.perf_counter() - start,
            'load_before': before, 'load_after': load_average()}


def check_cells(cells: Dict[str, Dict[str, Any]], group: str,
                cfg: Config) -> None:
    r"""Stops if a cell of :obj:`group` was trained with other settings than
    :obj:`cfg` (but those of :data:`FREE`), both resolved as a run
    resolves them (with the cell's own :data:`FREE` settings: its seed is
    its split's seed)."""
    for key, cell in cells.items():
        if not key.startswith(group + '/'):
            continue
        mine = recorded_settings(cell)
        saved = resolved(mine)
        free: Dict[str, Dict[str, Any]] = {}
        for section, name in FREE:
            if name in mine.get(section, {}):
                free.setdefault(section, {})[name] = mine[section][name]
        now = cfg.replace(free).resolved().to_dict()
        differ = [f'{section}.{name} {value!r} (cell: '
                  f'{saved[section].get(name)!r})'
                  for section, values in now.items()
                  for name, value in values.items()
                  if (section, name) not in FREE and
                  saved[section].get(name) != value]
        if differ:
            raise SystemExit(f"cell '{key}' of the results file was trained "
                             f"with other settings: {', '.join(differ)}; "
                             f"use them, or another --out")


def speedups(cells: Dict[str, Dict[str, Any]], group: str,
             config: str) -> List[float]:
    r"""Per seed with both cells: the seconds per epoch of :data:`BASE` over
    those of :obj:`config`."""
    out = []
    for seed in group_seeds(cells, group):
        base = cells.get(cell_key(group, BASE, seed))
        other = cells.get(cell_key(group, config, seed))
        if base and other:
            out.append(base['seconds_per_epoch'] / other['seconds_per_epoch'])
    return out


def group_seeds(cells: Dict[str, Dict[str, Any]], group: str) -> List[int]:
    return sorted({int(k.rsplit('/seed', 1)[1]) for k in cells
                   if k.startswith(group + '/')})


def pct(value: tuple) -> str:
    mean, std = value
    return '' if math.isnan(mean) else f'{100 * mean:.2f} ± {100 * std:.2f}'


def group_table(cells: Dict[str, Dict[str, Any]], group: str) -> str:
    r"""The markdown section of one task / model / dataset."""
    task, model, dataset = group.split('/')
    seeds = group_seeds(cells, group)
    configs = [c for c in CONFIGS if any(
        cell_key(group, c, s) in cells for s in seeds)]

    def key(config: str, seed: int) -> str:
        return cell_key(group, config, seed)

    test = {r['group']: r for r in summarize(cells, configs, BASE, seeds, key)}
    val = {r['group']: r for r in summarize(cells, configs, BASE, seeds, key,
                                            split='val')}
    first = next(cells[key(c, s)] for c in configs for s in seeds
                 if key(c, s) in cells)
    recorded = recorded_settings(first)
    a = {**recorded['train'], 'dim': recorded['model']['dim'],
         'threads': recorded['run']['threads']}
    lines = [f'## {NAMES.get(model, model)} on {dataset} ({task.upper()})', '',
             f"Protocol: at most {a['epochs']} epochs, evaluated every "
             f"{a['eval_every']}, patience {a['patience']}, batch "
             f"{a['batch_size']} per process, lr {a['lr']:g} (times the "
             f"processes with linear scaling), dim {a['dim']}, "
             f"{a['threads']} thread(s) per process, device "
             f"{first['device']}.",
             '',
             '| configuration | processes | global batch | lr | seeds | '
             's/epoch | speed-up | epochs run | best epoch | val R@20 | '
             'val N@20 | test R@20 | test N@20 | Δ test R@20 (p) | '
             'load before |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for config in configs:
        done = [cells[key(config, s)] for s in seeds
                if key(config, s) in cells]
        c, t, v = done[0], test[config], val[config]
        changes = CONFIGS[config][1]
        nproc = c.get('nproc', changes['run']['nproc'])
        lr = a['lr'] * (nproc if changes['train']['lr_scaling'] == 'linear'
                        else 1)
        up = mean_std(speedups(cells, group, config)) \
            if config != BASE else None
        rel, p = t.get('recall@20_relimp'), t.get('recall@20_p')
        delta = '' if rel is None or math.isnan(rel) else (
            f'{100 * rel:+.2f}%' + ('' if p is None or math.isnan(p) else
                                    f' ({p:.3g})'))
        runs = mean_std([d['epochs_run'] for d in done])[0]
        loads = [d['load_before'][0] for d in done if 'load_before' in d]
        lines.append(
            f"| {CONFIGS[config][0]} | {nproc} | "
            f"{c.get('global_batch_size', a['batch_size'] * nproc)} | "
            f"{lr:g} | {len(done)} | {t['seconds_per_epoch'][0]:.2f} | " +
            (f'{up[0]:.2f}x' if up else '') +
            f" | {runs:.0f} | {t['best_epoch'][0]:.0f} | "
            f"{pct(v['recall@20'])} | {pct(v['ndcg@20'])} | "
            f"{pct(t['recall@20'])} | {pct(t['ndcg@20'])} | {delta} | " +
            (f'{max(loads):.2f}' if loads else '') + ' |')
    ups = {c: mean_std(speedups(cells, group, c))[0]
           for c in configs if c != BASE}
    ups = {c: u for c, u in ups.items() if not math.isnan(u)}
    if ups:
        met = all(u >= TARGET for u in ups.values())
        lines += ['', f"Epoch speed-up of 2 processes (target ≥ {TARGET}x): "
                  + ', '.join(f'{CONFIGS[c][0]} {u:.2f}x'
                              for c, u in ups.items()) +
                  (' — met.' if met else ' — not met.')]
    return '\n'.join(lines) + '\n'


def report(data: Dict[str, Any]) -> str:
    r"""The markdown of a results file: one section per task / model /
    dataset."""
    cells = data['cells']
    groups = sorted({k.rsplit('/', 2)[0] for k in cells})
    meta = data['meta']
    text = ['# Data-parallel training: 1 vs 2 processes', '',
            command_lines(meta),
            'Each row: whole runs of `adar_pyg.run.train` (early stopping on '
            'validation Recall@20) in 1 or 2 processes (gloo on 127.0.0.1), '
            'with the threads per process given below; 2 processes with '
            '`--batch-size` B each train on global batches of 2B (half the '
            'steps per epoch), except "by columns" (`--parallel columns`: '
            'the batches of one process, each process propagating half '
            'the embedding columns). s/epoch: training seconds per epoch '
            '(evaluations excluded), mean over the seeds; speed-up: the '
            '1-process s/epoch over the row\'s, per seed, then averaged. '
            'Metrics in %, mean ± std over the seeds, at the '
            'validation-selected epoch; Δ test R@20: relative to 1 process '
            '(p: paired t-test over the seeds, from 2 seeds on). Load '
            'before: the highest 1-minute load average of the machine before '
            'the row\'s runs (the 2-process rows need 2 idle cores; the '
            f"machine has {meta.get('cpu_count', '?')}).", '']
    text += [group_table(cells, g) for g in groups]
    return '\n'.join(text)


def parse_args(argv: Optional[Sequence[str]] = None
               ) -> Tuple[argparse.Namespace, Config]:
    r"""The script's own flags and the config of the settings (the protocol
    of the task, with :obj:`--quick`'s, then the flags)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_config_args(pre, config_file=False)  # --task decides the protocol
    task = getattr(pre.parse_known_args(argv)[0], 'task', 'cf')
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description=__doc__.split('\n\n')[0],
        epilog='The protocol depends on --task (see --task sr --help).')
    add_config_args(parser, config_file=False)
    parser.add_argument('--configs', nargs='+', default=[
        c for c, (_, changes) in CONFIGS.items()
        if task == 'cf' or changes['run']['parallel'] != 'columns'],
                        choices=list(CONFIGS),
                        help='the configurations to train (default: all '
                        "of the task; 'by columns' is CF only)")
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--out', default=None,
                        help='writes <out>.json and <out>.md (default: '
                        'benchmarks/results/ddp_speed, with --quick '
                        'ddp_speed_quick)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: 1 epoch, large batches, one seed')
    add_store_args(parser)
    parser.set_defaults(**{**PROTOCOLS.get(task, {}), **(
        QUICK.get(task, {}) if '--quick' in argv else {})})
    args = parse_flags(parser, argv)
    try:
        cfg = config_from_args(args)
    except ConfigError as e:
        parser.error(str(e))
    if args.quick:
        args.seeds = args.seeds[:1]
    if args.out is None:
        args.out = os.path.join('benchmarks', 'results', 'ddp_speed' + (
            '_quick' if args.quick else ''))
    return args, cfg


def main(argv: Optional[Sequence[str]] = None) -> str:
    args, cfg = parse_args(argv)
    store = open_results(f'{args.out}.json', args)
    if not args.report_only:
        group = group_key(cfg)
        check_cells(store.data['cells'], group, cfg)
        load = load_average()
        if load[0] > 0.5:
            print(f'warning: load average {load} at the start: other jobs '
                  f'are running, the 2-process speed-up measured now is not '
                  f'that of an idle machine', file=sys.stderr, flush=True)
        meta = store.data['meta']
        meta['updated'] = datetime.datetime.now().isoformat(
            timespec='seconds')
        meta['cpu_count'] = os.cpu_count()
        for seed in args.seeds:
            for config in args.configs:
                store.get_or_run(
                    cell_key(group, config, seed),
                    lambda: train_cell(cfg, config, seed))  # noqa: B023
        store.save()
    text = report(store.data)
    with atomic_path(f'{args.out}.md') as tmp, open(tmp, 'w') as f:
        f.write(text)
    print(text)
    return text


if __name__ == '__main__':
    main()
