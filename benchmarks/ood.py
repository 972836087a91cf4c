r"""Out-of-distribution benchmark: LightGCN, +ADAR, +CNSDiff on OOD splits.

LightGCN, +ADAR, +CNSDiff and +CNSDiff with the reference code's untrained
denoiser (ablation) on OOD-Food (temporal shift) and OOD-Yelp2018 (popularity shift), several
seeds; the epoch is selected on IID-validation Recall@20, and the IID-test and
OOD-test Recall/NDCG@10/20 of that epoch are reported as mean ± std with the
relative improvement and the paired t-test (across seeds) against LightGCN,
plus the trained-vs-untrained denoiser comparison and per-variant diagnostics
of the generated negatives.

    python benchmarks/ood.py --seeds 0 1 2 3 4 --out benchmarks/results/ood

Defaults: the CNSDiff reference configuration (2-layer LightGCN, dim 64,
batches of 2048, Adam lr 0.01, L2 1e-4, 120 epochs, evaluated every epoch, no
early stopping; see ``adar_pyg.config.PRESETS['ood']``), the same for every
variant; the flags of ``adar-pyg train`` (``--help`` lists them) override it.
Resumable: finished ``dataset/variant/seedN`` cells of ``<out>.json`` are
reused. ``--quick`` runs a tiny configuration for the test suite (1 epoch,
1 seed, OOD-Food restricted to its first 500 users, LightGCN and +CNSDiff
unless ``--variants`` says otherwise).
"""
import argparse
import datetime
import functools
import math
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from common import (add_store_args, cell_key, command_lines, markdown,
                    mean_std, open_results, paired_ttest,
                    summarize)

from adar_pyg import run
from adar_pyg.config import (PRESETS, Config, ConfigError, add_config_args,
                             add_output_args, config_from_args, parse_args,
                             recorded_settings)
from adar_pyg.pipeline import DATASETS, EDGE, RunData, load_cf_data
from adar_pyg.datasets import OODDataset, split_views
from adar_pyg.io import write_text
from adar_pyg.run import write_json

#: The datasets with published OOD splits (train, IID validation and test,
#: OOD test): the :class:`~adar_pyg.datasets.OODDataset` ones (Gowalla's
#: published split has no OOD test)
OOD_DATASETS = tuple(name for name, cls in DATASETS.items()
                     if issubclass(cls, OODDataset))
#: variant -> (--augmenter, --cnsdiff-frozen-denoiser)
VARIANTS: Dict[str, Tuple[str, bool]] = {
    'base': ('none', False),
    'adar': ('adar', False),
    'cnsdiff': ('cnsdiff', False),
    'cnsdiff-frozen': ('cnsdiff', True),
}
NAMES = {'base': 'LightGCN', 'adar': '+ADAR', 'cnsdiff': '+CNSDiff',
         'cnsdiff-frozen': '+CNSDiff (untrained denoiser, as the reference)',
         'ood-food': 'OOD-Food (temporal shift)',
         'ood-yelp2018': 'OOD-Yelp2018 (popularity shift)'}
SPLITS = {'test': 'IID test', 'test_ood': 'OOD test'}
#: Per-epoch diagnostics of the generated negatives (Trainer history keys)
DIAGNOSTICS = {
    'aug_t_star': 't* (ADAR) / start step of the hardest level (CNSDiff)',
    'aug_gen_above_pos': 'share of generated negatives scored above the '
    'positive',
    'aug_score_pos': 'mean e_u·e_i',
    'aug_score_gen': 'mean e_u·e_gen',
    'aug_gen_norm_ratio': 'mean norm of the generated negatives over that '
    'of the positives',
    'aug_mix_ratio': 'mean mixing ratio r',
    'aug_diff_loss': 'diffusion loss',
}


def cell_config(cfg: Config, dataset: str, variant: str,
                seed: int) -> Config:
    r"""The config of one cell: :obj:`cfg` with its dataset, seed and the
    variant's augmenter (:obj:`VARIANTS`)."""
    augmenter, frozen = VARIANTS[variant]
    return cfg.replace({'data': {'dataset': dataset}, 'run': {'seed': seed},
                        'train': {'augmenter': augmenter},
                        'cnsdiff': {'frozen_denoiser': frozen}})


def first_users(data: RunData, num: int) -> RunData:
    r"""The data of :func:`~adar_pyg.pipeline.load_cf_data` (published
    splits) restricted to the users :obj:`0, ..., num - 1` (all items kept):
    a small problem for ``--quick``."""
    stats, extra = data.statistics, data.extra_tests
    views = {'train': data.train, 'val': data.val, 'test': data.test,
             **extra}
    keep = {key: d[EDGE].edge_label_index[:, d[EDGE].edge_label_index[0]
                                         < num]
            for key, d in views.items()}
    num_items = int(data.train['item'].num_nodes)
    views = split_views(num, num_items, keep['train'], keep)
    stats = {**stats, 'users': num,
             **{key: int(label.size(1)) for key, label in keep.items()},
             'split': f"{stats['split']}, first {num} users only"}
    stats['interactions'] = sum(int(v.size(1)) for v in keep.values())
    return RunData(views['train'], views['val'], views['test'], stats,
                   {key: views[key] for key in extra})


def data_loader(args: argparse.Namespace,
                dataset: str) -> Callable[[], RunData]:
    r"""A function returning the published splits of :obj:`dataset`
    (restricted to :obj:`--max-users`), loaded at its first call only."""
    cache: Dict[str, RunData] = {}

    def load() -> RunData:
        if not cache:
            data = load_cf_data(args.cfg.replace(
                {'data': {'dataset': dataset}}))
            if args.max_users:
                data = first_users(data, args.max_users)
            cache['data'] = data
        return cache['data']

    return load


def run_cell(args: argparse.Namespace, cfg: Config,
             load: Callable[[], RunData]) -> Dict[str, Any]:
    r"""Trains one cell of config :obj:`cfg` (the data of its dataset loaded
    once for all) with the outputs of :obj:`args`."""
    return run.train(cfg, data=load(), checkpoint=args.checkpoint,
                     progress=args.progress)


def last_entry(cell: Dict[str, Any]) -> Dict[str, Any]:
    r"""The history entry of the last epoch."""
    return (cell.get('history') or [{}])[-1]


def selected_entry(cell: Dict[str, Any]) -> Dict[str, Any]:
    r"""The history entry of the selected epoch."""
    return next((h for h in cell.get('history', [])
                 if h['epoch'] == cell['best_epoch']), {})


def diagnostics_table(cells: Dict[str, Any], dataset: str,
                      variants: List[str], seeds: List[int]) -> str:
    r"""Mean over seeds of the generated-negative diagnostics at the selected
    epoch and at the last epoch (augmenter variants only)."""
    cols = list(DIAGNOSTICS)
    head = ['variant', 'epoch'] + cols
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for variant in variants:
        if VARIANTS[variant][0] == 'none':
            continue
        done = [cells[cell_key(dataset, variant, s)] for s in seeds
                if cell_key(dataset, variant, s) in cells]
        if not done:
            continue
        for label, pick in (('selected', selected_entry),
                            ('last', last_entry)):
            row = [NAMES[variant], label]
            for col in cols:
                values = [pick(c)[col] for c in done if col in pick(c)]
                row.append(f'{mean_std(values)[0]:.4g}' if values else '')
            lines.append('| ' + ' | '.join(row) + ' |')
    legend = '; '.join(f'`{k}`: {v}' for k, v in DIAGNOSTICS.items())
    return '\n'.join(lines) + f'\n\n{legend}.\n'


def _p(x: float) -> str:
    return 'n/a' if x is None or math.isnan(x) else f'{x:.3g}'


def comparison_lines(cells: Dict[str, Any], dataset: str,
                     seeds: List[int]) -> List[str]:
    r"""The issue's target (CNSDiff above LightGCN on OOD-test Recall@20 with
    p < 0.05) and the trained-vs-untrained denoiser ablation."""
    lines = []
    pairs = (('cnsdiff', 'base'), ('cnsdiff-frozen', 'base'),
             ('cnsdiff', 'cnsdiff-frozen'))
    for variant, other in pairs:
        common = [s for s in seeds if cell_key(dataset, variant, s) in cells
                  and cell_key(dataset, other, s) in cells]
        if not common:
            continue
        for split in SPLITS:
            a = [cells[cell_key(dataset, other, s)][split]['recall@20']
                 for s in common]
            b = [cells[cell_key(dataset, variant, s)][split]['recall@20']
                 for s in common]
            diff = sum(b) / len(b) - sum(a) / len(a)
            p = paired_ttest(a, b)
            verdict = ''
            if (variant, other, split) == ('cnsdiff', 'base', 'test_ood'):
                met = diff > 0 and not math.isnan(p) and p < 0.05
                verdict = (' — target (higher, p < 0.05): ' +
                           ('**met**' if met else '**not met**'))
            lines.append(
                f'- {NAMES[variant]} vs {NAMES[other]}, {SPLITS[split]} '
                f'R@20: {100 * diff:+.2f} points over {len(common)} seeds, '
                f'paired t-test p = {_p(p)}{verdict}')
    return lines


def budget_text(cells: List[Dict[str, Any]]) -> str:
    r"""The training budget of :obj:`cells`, from the settings each one
    recorded (one per distinct budget, should they differ)."""
    budgets = []
    for cell in cells:
        a = recorded_settings(cell).get('train', {})
        budget = (a.get('epochs'), a.get('eval_every'), a.get('patience'))
        if budget not in budgets:
            budgets.append(budget)
    texts = []
    for epochs, every, patience in budgets:
        if None in (epochs, every, patience):
            texts.append('budget not recorded')
            continue
        stopping = ('no early stopping' if patience * every >= epochs else
                    f'early stopping after {patience} evaluations without '
                    'improvement')
        texts.append(f'evaluated every {every} epoch(s), at most {epochs} '
                     f'epochs, {stopping}')
    return '; '.join(texts) if texts else 'no cells'


def run_table(args: argparse.Namespace) -> str:
    r"""Trains the missing cells (none with :obj:`--report-only`) and
    returns the markdown report of the cells of :obj:`args`' datasets,
    variants and seeds that are in :obj:`<out>.json`."""
    store = open_results(f'{args.out}.json', args)
    meta = store.data['meta']
    if not args.report_only:
        for old in ('epochs', 'lr', 'layers', 'dim', 'batch_size'):
            meta.pop(old, None)  # flat copies of settings of older versions
        meta.update({
            'command': store.command,
            'updated': datetime.datetime.now().isoformat(timespec='seconds'),
            'device': args.cfg.device_name(), 'quick': args.quick})
    for dataset in args.datasets:
        load = data_loader(args, dataset)  # Only if a cell has to run.
        for variant in args.variants:
            for seed in args.seeds:
                cfg = cell_config(args.cfg, dataset, variant, seed)
                store.get_or_run(cell_key(dataset, variant, seed),
                                 functools.partial(run_cell, args, cfg, load))
    store.save()
    write_json(store.data, args.json)

    cells = store.data['cells']
    shown = [cells[cell_key(d, v, s)] for d in args.datasets
             for v in args.variants for s in args.seeds
             if cell_key(d, v, s) in cells]
    sections = []
    for dataset in args.datasets:
        key = (lambda v, s, d=dataset: cell_key(d, v, s))
        parts = [f'## {NAMES[dataset]}\n']
        for split, title in SPLITS.items():
            rows = summarize(cells, args.variants, 'base', args.seeds, key,
                             split=split)
            rows = [{**r, 'group': NAMES[r['group']]} for r in rows
                    if r['seeds']]
            parts.append(markdown(rows, title))
        comparison = comparison_lines(cells, dataset, args.seeds)
        if comparison:
            parts.append('### CNSDiff: target and denoiser ablation\n\n' +
                         '\n'.join(comparison) + '\n')
        parts.append('### Generated negatives (mean over seeds)\n\n' +
                     diagnostics_table(cells, dataset, args.variants,
                                       args.seeds))
        sections.append('\n'.join(parts))
    return ('# Out-of-distribution recommendation: LightGCN, +ADAR, '
            '+CNSDiff\n\n'
            + command_lines(meta) +
            f"Date: {meta['updated']}  \n"
            'Protocol: the published splits (train / IID validation / IID '
            'test / OOD test); the epoch is selected on IID-validation '
            f'Recall@20 ({budget_text(shown)}; the CNSDiff curriculum '
            'spans the epoch budget), and both test sets are reported at '
            'that epoch, in %, full ranking with training and validation items masked. Mean ± std '
            'over seeds; RelImp: relative improvement of the means over '
            'LightGCN; p: two-sided paired t-test over seeds. s/epoch: '
            f"training seconds per epoch on {meta['device']}. The CNSDiff "
            "reference code never steps its denoiser's optimiser and picks "
            'its epoch on the OOD test set; ours trains the denoiser and '
            'selects on validation; the untrained-denoiser row is the '
            "reference's generator.\n\n" + '\n'.join(sections))


def build_parser() -> argparse.ArgumentParser:
    r"""The settings' flags (those of ``adar-pyg train``, on top of the
    ``ood`` preset) and the benchmark's own."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    add_output_args(parser, run_dir=False)
    parser.add_argument('--datasets', nargs='+', default=list(OOD_DATASETS),
                        choices=list(OOD_DATASETS))
    parser.add_argument('--variants', nargs='+', default=None,
                        choices=list(VARIANTS),
                        help='default: all (--quick: base and cnsdiff)')
    parser.add_argument('--seeds', nargs='+', type=int,
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--max-users', type=int, default=None,
                        help='keep only the first N users (a small problem '
                        'for smoke tests; set by --quick)')
    parser.add_argument('--out', default=os.path.join('benchmarks', 'results',
                                                      'ood'),
                        help='writes <out>.json and <out>.md')
    parser.add_argument('--quick', action='store_true',
                        help='tiny configuration for the test suite')
    add_store_args(parser)
    parser.set_defaults(progress=False)
    return parser


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    r"""The arguments, with the config of the table on :obj:`args.cfg` (the
    ``ood`` preset, then the flags) and the ``--quick`` configuration
    applied."""
    parser = build_parser()
    args = parse_args(parser, argv)
    try:
        args.cfg = config_from_args(args, preset=[PRESETS['ood'],
                                                  PRESETS['adar-eq11']])
    except ConfigError as e:
        parser.error(str(e))
    if args.quick:
        args.cfg = args.cfg.replace({'train': {'epochs': 1, 'eval_every': 1}})
        args.seeds = args.seeds[:1]
        args.datasets = ['ood-food']
        args.variants = args.variants or ['base', 'cnsdiff']
        args.max_users = args.max_users or 500
    args.variants = args.variants or list(VARIANTS)
    return args


def main() -> None:
    args = parse()
    text = run_table(args)
    write_text(f'{args.out}.md', text)
    print(text)


if __name__ == '__main__':
    main()
