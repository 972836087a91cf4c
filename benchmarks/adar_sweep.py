r"""Validation sweeps of ADAR against its controls (Figure 2 of the ADAR paper,
plus the hardness curve of the ``transition`` strategy): one axis at a time —
λ, T, the hardness h, or the base's own learning rate / L2 — for several
variants (``base``, ``adaptive``, ``mixed``, ``transition``,
``transition-forward``, and the controls ``reweight`` and ``noise``; see
``adar_variants.VARIANT_SETTINGS``), on the validation split only.

    python benchmarks/adar_sweep.py --model lightgcn --axis lambda \
        --values 0.1 0.3 0.5 0.7 1.0 --variants reweight transition-forward \
        --epochs 50 --eval-every 5 --patience 4 --lr 5e-3 --threads 1 \
        --out benchmarks/results/fig2_lightgcn

Every (variant, axis value, seed) cell is kept in ``<out>.json`` (resumable;
``--merge`` adds cells of runs on other cores); ``--report-only`` writes
``<out>.md`` (validation R@20 / N@20 per cell and the best value per variant)
and one PNG per axis, ``<out>_<axis>.png``. Test metrics are stored in the
cells but never shown here: settings are chosen on validation, and the
5-seed test comparison is ``adar_variants.py``'s.
"""
import argparse
import copy
import datetime
import os
import sys
from typing import Any, Dict, List

from adar_variants import VARIANT_SETTINGS
from common import add_store_args, command_lines, open_results

from adar_pyg import run
from adar_pyg.config import (Config, add_config_args, add_output_args,
                             config_from_args, parse_args)

#: axis -> (the setting it moves, by flag name; its label)
AXES = {
    'lambda': ('adar_weight', 'λ'),
    'T': ('adar_steps', 'T'),
    'hardness': ('adar_hardness', 'hardness h'),
    'lr': ('lr', 'learning rate'),
    'l2': ('l2', 'L2 weight'),
}
METRICS = ('recall@20', 'ndcg@20')


def cell_key(model: str, variant: str, axis: str, value: Any,
             seed: int) -> str:
    return f'{model}/{variant}/{axis}={value:g}/seed{seed}'


def run_sweep(args: argparse.Namespace) -> None:
    store = open_results(f'{args.out}.json', args)
    if not args.report_only:
        meta = store.data['meta']
        meta['updated'] = datetime.datetime.now().isoformat(
            timespec='seconds')
    setting = AXES[args.axis][0]
    for variant in args.variants:
        for value in args.values:
            for seed in args.seeds:
                run_args = copy.copy(args)
                run_args.seed = seed
                vars(run_args).update(VARIANT_SETTINGS[variant])
                setattr(run_args, setting, type(getattr(args, setting) or
                                                value)(value))
                store.get_or_run(
                    cell_key(args.model, variant, args.axis, value, seed),
                    lambda: run.train(  # noqa: B023
                        Config.from_namespace(run_args), progress=False,
                        args=vars(run_args)))
    store.save()


def collect(cells: Dict[str, Dict[str, Any]], model: str
            ) -> Dict[str, Dict[str, Dict[float, List[Dict[str, float]]]]]:
    r"""axis -> variant -> value -> the validation metrics of its seeds."""
    out: Dict[str, Dict[str, Dict[float, List[Dict[str, float]]]]] = {}
    for key, cell in cells.items():
        m, variant, axis_value, _ = key.split('/')
        if m != model:
            continue
        axis, value = axis_value.split('=')
        out.setdefault(axis, {}).setdefault(variant, {}).setdefault(
            float(value), []).append(cell['val'])
    return out


def mean(values: List[float]) -> float:
    return sum(values) / len(values)


def report(args: argparse.Namespace) -> str:
    store = open_results(f'{args.out}.json', argparse.Namespace(
        report_only=True, merge=[]))
    data = collect(store.data['cells'], args.model)
    lines = [f'# Validation sweeps: {args.model} on {args.dataset}', '',
             command_lines(store.data['meta']),
             'Validation R@20 / N@20 in % at the validation-selected epoch '
             '(mean over the seeds run); **bold**: the best value of each '
             'variant on its axis. No test metric is shown: settings are '
             'chosen here, compared on test in `adar_variants.py`.', '']
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    for axis, variants in sorted(data.items()):
        values = sorted({v for by in variants.values() for v in by})
        lines += [f'## {AXES[axis][1]}', '',
                  '| variant | ' + ' | '.join(f'{v:g}' for v in values) +
                  ' |', '|---|' + '---|' * len(values)]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for variant, by in variants.items():
            means = {v: {m: 100 * mean([c[m] for c in by[v]])
                         for m in METRICS} for v in by}
            best = max(means, key=lambda v: means[v]['recall@20'])
            row = [(f"**{means[v]['recall@20']:.2f} / "
                    f"{means[v]['ndcg@20']:.2f}**" if v == best else
                    f"{means[v]['recall@20']:.2f} / "
                    f"{means[v]['ndcg@20']:.2f}") if v in means else ''
                   for v in values]
            lines.append(f'| {variant} | ' + ' | '.join(row) + ' |')
            xs = sorted(means)
            for ax, m in zip(axes, METRICS):
                ax.plot(xs, [means[x][m] for x in xs], marker='o',
                        label=variant)
        for ax, m in zip(axes, METRICS):
            ax.set(xlabel=AXES[axis][1], ylabel='%',
                   title=f'validation {m} ({args.model})')
            if axis in ('lr', 'l2'):
                ax.set_xscale('log')
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        png = f'{args.out}_{axis}.png'
        fig.savefig(png, dpi=110)
        plt.close(fig)
        lines += ['', f'![{axis}]({os.path.basename(png)})', '']
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_config_args(parser, config_file=False)
    add_output_args(parser, run_dir=False)
    parser.add_argument('--axis', choices=list(AXES), default='lambda')
    parser.add_argument('--values', nargs='+', type=float, default=[])
    parser.add_argument('--variants', nargs='+', default=['reweight'],
                        choices=list(VARIANT_SETTINGS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--out', default='benchmarks/results/fig2_lightgcn',
                        help='writes <out>.json, <out>.md, <out>_<axis>.png')
    add_store_args(parser)
    parser.set_defaults(eval_every=5, patience=4, progress=False)
    args = parse_args(parser)
    config_from_args(args)  # Checks the settings, fills in every default.
    if not args.report_only:
        if not args.values:
            parser.error('--values is required to train')
        run_sweep(args)
    text = report(args)
    with open(f'{args.out}.md', 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    sys.exit(main())
