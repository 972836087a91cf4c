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
cells but never shown in ``<out>.md``: settings are chosen on validation.
``--compare VARIANT:AXIS=VALUE ...`` then trains the chosen settings on every
``--seeds`` and writes ``<out>_test.md``: test metrics, paired t-tests against
the first setting (the base) and against each control::

    python benchmarks/adar_sweep.py --model lightgcn --epochs 50 \
        --eval-every 5 --patience 4 --lr 5e-3 --threads 1 --seeds 0 1 2 3 4 \
        --compare base:lr=0.005 reweight:lambda=0.7 \
        transition-forward:hardness=0.75 --out benchmarks/results/fig2_lightgcn
"""
import argparse
import datetime
import os
from typing import Any, Dict, List, Tuple

from adar_variants import VARIANT_SETTINGS
from common import (add_store_args, cell_key, command_line, command_lines,
                    open_results, summarize)

from adar_pyg import run
from adar_pyg.config import (add_config_args, add_output_args,
                             config_from_args, parse_args, recorded_settings)
from adar_pyg.io import write_text
from adar_pyg.plot import pyplot, save_figure

#: a setting: (section, name), e.g. ('adar', 'weight')
Setting = Tuple[str, str]
LR, L2 = ('train', 'lr'), ('train', 'l2')
#: axis -> (the setting it moves, its label)
AXES: Dict[str, Tuple[Setting, str]] = {
    'lambda': (('adar', 'weight'), 'λ'),
    'T': (('adar', 'num_steps'), 'T'),
    'hardness': (('adar', 'hardness'), 'hardness h'),
    'lr': (LR, 'learning rate'),
    'l2': (L2, 'L2 weight'),
}
METRICS = ('recall@20', 'ndcg@20')


def run_cells(args: argparse.Namespace,
              cells: List[Tuple[str, str, float]]) -> Dict[str, Any]:
    r"""Trains the missing (variant, axis, value) cells of every seed of
    :obj:`args.seeds` (none with :obj:`--report-only`); returns the store's
    cells."""
    store = open_results(f'{args.out}.json', args)
    if not args.report_only:
        meta = store.data['meta']
        meta['updated'] = datetime.datetime.now().isoformat(
            timespec='seconds')
    cfg = args.cfg
    for variant, axis, value in cells:
        section, name = AXES[axis][0]
        now = getattr(getattr(cfg, section), name)
        moved = {section: {name: type(now or value)(value)}}
        for seed in args.seeds:
            cell_cfg = cfg.replace({'run': {'seed': seed}},
                                   VARIANT_SETTINGS[variant], moved)
            store.get_or_run(
                cell_key(cfg.model.model, variant, f'{axis}={value:g}', seed),
                lambda: run.train(cell_cfg,  # noqa: B023
                                  progress=False))
    store.save()
    return store.data['cells']


def parse_compare(spec: str) -> Tuple[str, str, float]:
    r"""``VARIANT:AXIS=VALUE`` (e.g. ``reweight:lambda=0.7``)."""
    try:
        variant, rest = spec.split(':')
        axis, value = rest.split('=')
        out = (variant, axis, float(value))
    except ValueError:
        raise SystemExit(f"--compare: '{spec}' is not VARIANT:AXIS=VALUE")
    if variant not in VARIANT_SETTINGS or axis not in AXES:
        raise SystemExit(f"--compare: unknown variant or axis in '{spec}'")
    return out


def test_report(args: argparse.Namespace, cells: Dict[str, Dict[str, Any]],
                model: str, dataset: str) -> str:
    r"""The settings chosen on validation, compared on test over the seeds:
    mean ± std, and paired t-tests against the first spec, against every
    setting of the base (e.g., the Table 2 base and a base with a tuned L2)
    and against every control (``reweight``, ``noise``) at its chosen
    value."""
    specs = [parse_compare(s) for s in args.compare]
    names = [f'{v}:{a}={x:g}' for v, a, x in specs]
    key = {n: (lambda s, v=v, a=a, x=x:
               cell_key(model, v, f'{a}={x:g}', s))
           for n, (v, a, x) in zip(names, specs)}

    def lookup(group: str, seed: int) -> str:
        return key[group](seed)

    references = list(dict.fromkeys(
        [names[0]] + [n for n, (v, _, _) in zip(names, specs)
                      if v in ('base', 'reweight', 'noise')]))
    lines = [f'# Test comparison: {model} on {dataset}', '',
             'Settings chosen on validation (`<out>.md`); test metrics in %, '
             'mean ± std over seeds; p: two-sided paired t-test over the '
             'seeds against the reference named in the column.', '',
             '| setting | seeds | R@20 | N@20 | ' + ' | '.join(
                 f'vs {r}: ΔR@20, p / ΔN@20, p' for r in references) +
             ' | s/epoch |',
             '|---|---|---|---|' + '---|' * len(references) + '---|']
    base_rows = {r: {row['group']: row for row in summarize(
        cells, names, r, args.seeds, lookup)} for r in references}
    for name in names:
        row = base_rows[references[0]][name]
        cols = [name, str(len(row['seeds'])),
                '%.2f ± %.2f' % tuple(100 * v for v in row['recall@20']),
                '%.2f ± %.2f' % tuple(100 * v for v in row['ndcg@20'])]
        for r in references:
            other = base_rows[r][name]
            if name == r or 'recall@20_p' not in other:
                cols.append('')
                continue
            cols.append(f"{100 * other['recall@20_relimp']:+.2f}%, "
                        f"{other['recall@20_p']:.3g} / "
                        f"{100 * other['ndcg@20_relimp']:+.2f}%, "
                        f"{other['ndcg@20_p']:.3g}")
        cols.append(f"{row['seconds_per_epoch'][0]:.2f}")
        lines.append('| ' + ' | '.join(cols) + ' |')
    return '\n'.join(lines) + '\n'


def depends_on(variant: str) -> Tuple[Setting, ...]:
    r"""The swept settings a variant's result depends on: the base on the
    optimiser's only, the controls also on λ, ADAR also on T (and the
    ``transition`` strategies on the hardness h)."""
    weight, steps, hardness = (AXES[a][0] for a in ('lambda', 'T',
                                                    'hardness'))
    if variant == 'base':
        return (LR, L2)
    if variant in ('reweight', 'noise'):
        return (weight, LR, L2)
    if variant.startswith('transition'):
        return (weight, steps, hardness, LR, L2)
    return (weight, steps, LR, L2)


Settings = Tuple[Tuple[Setting, Any], ...]
Curves = Dict[str, Dict[str, Dict[float, List[Dict[str, float]]]]]


def collect(cells: Dict[str, Dict[str, Any]], model: str, seeds: List[int]
            ) -> Tuple[Curves, Dict[str, Dict[str, List[Dict[str, float]]]]]:
    r"""Places every cell of :obj:`model` (seeds in :obj:`seeds` only) on
    each axis by its settings, not only on the axis it was trained for: the
    sweep of a variant along an axis holds the variant's other settings
    fixed, and any cell with those settings is a point of that curve (the
    λ = 0.7 cell is the T = 50 point of a T sweep at λ = 0.7). Returns
    ``axis -> curve label -> value -> [validation metrics per seed]`` and,
    per axis, the variants that do not depend on it at the sweep's fixed
    settings (``axis -> label -> [metrics per seed]``: flat reference
    lines, e.g., the controls on the T axis)."""
    # (variant, settings it depends on) -> seed -> validation metrics; a
    # setting trained under two keys is one point.
    points: Dict[Tuple[str, Settings], Dict[int, Dict[str, float]]] = {}
    swept: Dict[str, Dict[str, set]] = {}  # axis -> variant -> fixed parts
    for key, cell in cells.items():
        m, variant, axis_value, seed = key.split('/')
        if m != model or int(seed[len('seed'):]) not in seeds:
            continue
        axis = axis_value.split('=')[0]
        found = recorded_settings(cell)
        settings = tuple(((section, name),
                          found.get(section, {}).get(name))
                         for section, name in depends_on(variant))
        points.setdefault((variant, settings), {})[
            int(seed[len('seed'):])] = cell['val']
        setting = AXES[axis][0]
        swept.setdefault(axis, {}).setdefault(variant, set()).add(
            tuple(kv for kv in settings if kv[0] != setting))
    curves: Curves = {}
    flat: Dict[str, Dict[str, List[Dict[str, float]]]] = {}
    for axis, variants in swept.items():
        setting = AXES[axis][0]
        for variant, fixed_sets in variants.items():
            for fixed in sorted(fixed_sets, key=str):
                label = variant if len(fixed_sets) == 1 else \
                    f'{variant} ({describe(fixed)})'
                for (v, settings), by_seed in points.items():
                    rest = tuple(kv for kv in settings if kv[0] != setting)
                    if v == variant and rest == fixed:
                        value = float(dict(settings)[setting])
                        curves.setdefault(axis, {}).setdefault(
                            label, {})[value] = list(by_seed.values())
        # Variants that do not move along this axis, at the settings the
        # first curve holds fixed:
        fixed = dict(sorted(next(iter(variants.values())), key=str)[0])
        for (v, settings), by_seed in points.items():
            if (v not in variants and setting not in depends_on(v)
                    and all(fixed.get(s, x) == x for s, x in settings)):
                shown = tuple(kv for kv in settings if kv[0] not in (LR, L2))
                label = f'{v} ({describe(shown)})' if shown else v
                flat.setdefault(axis, {})[label] = list(by_seed.values())
    return curves, flat


def describe(settings: Settings) -> str:
    labels = {setting: label for setting, label in AXES.values()}
    return ', '.join(f'{labels[s]} {x:g}' for s, x in settings
                     if x is not None)


def mean(values: List[float]) -> float:
    return sum(values) / len(values)


def cell_text(metrics: List[Dict[str, float]], bold: bool = False) -> str:
    means = [100 * mean([c[m] for c in metrics]) for m in METRICS]
    text = '%.2f / %.2f' % tuple(means)
    return f'**{text}**' if bold else text


def report(args: argparse.Namespace, model: str, dataset: str) -> str:
    r"""The validation sweeps of :obj:`model` in :obj:`<out>.json` (its
    cells of :obj:`args.seeds`): a table and a PNG per axis."""
    store = open_results(f'{args.out}.json', argparse.Namespace(
        report_only=True, merge=[]))
    curves, flat = collect(store.data['cells'], model, args.seeds)
    lines = [f'# Validation sweeps: {model} on {dataset}', '',
             command_lines(store.data['meta']),
             'Validation R@20 / N@20 in % at the validation-selected epoch '
             f'(mean over seeds {args.seeds}); **bold**: the best value of each '
             'variant on its axis. A sweep holds the variant\'s other settings '
             'fixed (its command line); every cell with those settings is a '
             'point of the curve, whatever axis it was trained for. No test '
             'metric is shown: settings are chosen here and compared on test '
             'with `--compare` (`<out>_test.md`).', '']
    plt = pyplot()
    for axis, variants in sorted(curves.items()):
        values = sorted({v for by in variants.values() for v in by})
        lines += [f'## {AXES[axis][1]}', '',
                  '| variant | ' + ' | '.join(f'{v:g}' for v in values) +
                  ' |', '|---|' + '---|' * len(values)]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for variant, by in variants.items():
            best = max(by, key=lambda v: mean([c['recall@20']
                                               for c in by[v]]))
            lines.append(f'| {variant} | ' + ' | '.join(
                cell_text(by[v], v == best) if v in by else ''
                for v in values) + ' |')
            xs = sorted(by)
            for ax, m in zip(axes, METRICS):
                ax.plot(xs, [100 * mean([c[m] for c in by[x]]) for x in xs],
                        marker='o', label=variant)
        if flat.get(axis):
            lines += ['', f'Independent of {AXES[axis][1]} (dashed in the '
                      'figure): ' + '; '.join(
                          f'{label} {cell_text(by)}'
                          for label, by in flat[axis].items()) + '.']
        for i, (label, by) in enumerate(flat.get(axis, {}).items()):
            for ax, m in zip(axes, METRICS):
                ax.axhline(100 * mean([c[m] for c in by]), ls='--',
                           color=f'C{len(variants) + i}', label=label)
        for ax, m in zip(axes, METRICS):
            ax.set(xlabel=AXES[axis][1], ylabel='%',
                   title=f'validation {m} ({model})')
            if axis in ('lr', 'l2'):
                ax.set_xscale('log')
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        png = f'{args.out}_{axis}.png'
        save_figure(fig, png, tight=False)
        lines += ['', f'![{axis}]({os.path.basename(png)})', '']
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    add_output_args(parser, run_dir=False)
    parser.add_argument('--axis', choices=list(AXES), default='lambda')
    parser.add_argument('--values', nargs='+', type=float, default=[])
    parser.add_argument('--variants', nargs='+', default=['reweight'],
                        choices=list(VARIANT_SETTINGS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--compare', nargs='+', default=[],
                        metavar='VARIANT:AXIS=VALUE',
                        help='train these settings on every --seed and write '
                        '<out>_test.md (test metrics, paired t-tests against '
                        'the first and against the controls)')
    parser.add_argument('--out', default='benchmarks/results/fig2_lightgcn',
                        help='writes <out>.json, <out>.md, <out>_<axis>.png')
    add_store_args(parser)
    parser.set_defaults(eval_every=5, patience=4, progress=False)
    args = parse_args(parser)
    args.cfg = config_from_args(args)
    names = args.cfg.model.model, args.cfg.data.dataset
    if args.merge:  # Adds the cells of the other result files, then saves:
        open_results(f'{args.out}.json', args)
        args.merge = []
    if args.compare:
        cells = run_cells(args, [parse_compare(c) for c in args.compare])
        meta = open_results(f'{args.out}.json', argparse.Namespace(
            report_only=True, merge=[])).data['meta']
        text = test_report(args, cells, *names).replace(
            '\n\n', '\n\n' + command_lines(meta) +
            f'Report: `{command_line()}`  \n', 1)
        write_text(f'{args.out}_test.md', text)
        print(text)
        return
    if not args.report_only:
        if not args.values:
            parser.error('--values is required to train')
        run_cells(args, [(v, args.axis, x) for v in args.variants
                         for x in args.values])
    text = report(args, *names)
    write_text(f'{args.out}.md', text)
    print(text)


if __name__ == '__main__':
    main()
