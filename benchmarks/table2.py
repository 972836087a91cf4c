r"""Table 2 of the ADAR paper: each model with and without ADAR on Beauty, Toys,
Sports and Yelp, several seeds, mean ± std, relative improvement and the
paired t-test across seeds; test metrics at the validation-selected epoch
(early stopping), seconds per training epoch.

    python benchmarks/table2.py --task cf --seeds 0 1 2 3 4 \
        --out benchmarks/results/table2_cf

CF models: ``lightgcn``, ``ngcf`` (uniform negatives), ``mixgcf`` (LightGCN
backbone + MixGCF sampler), ``ahns`` (LightGCN backbone + AHNS sampler); the
+ADAR variant adds the generated negative of Eq. 12 to the sampler's.
Resumable: finished ``dataset/model/variant/seedN`` cells of ``<out>.json``
are reused. ``--quick`` runs a tiny configuration (1 epoch of batches of 8192,
1 seed, Beauty, LightGCN and NGCF, base and +ADAR) for the test suite.

``--ahns-split`` instead trains MF (LightGCN with 0 layers) + AHNS on the
split published with the AHNS code (Amazon-Sports, no validation file, so the
epoch is selected on the test set as the authors do), to compare with their
Recall@20 = 0.0846, NDCG@20 = 0.0460.
"""
import argparse
import copy
import datetime
import math
import os
import sys
from typing import Any, Callable, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import METRICS, ResultStore, summarize  # noqa: E402

from adar_pyg.datasets import default_mirror  # noqa: E402
from adar_pyg.datasets.ahns_split import read_ahns_split  # noqa: E402
from adar_pyg.experiment import (EDGE, add_cf_args, add_common_args,  # noqa
                                 run_cf, write_json)
from adar_pyg.nn import NGCF, LightGCN  # noqa: E402

BACKBONES: Dict[str, Callable] = {
    'lightgcn': lambda U, I, a: LightGCN(U, I, embedding_dim=a.dim,
                                         num_layers=a.layers),
    'ngcf': lambda U, I, a: NGCF(U, I, embedding_dim=a.dim,
                                 num_layers=a.layers,
                                 node_dropout=a.ngcf_node_dropout,
                                 message_dropout=a.ngcf_message_dropout),
    'mf': lambda U, I, a: LightGCN(U, I, embedding_dim=a.dim, num_layers=0),
}
# CF model of the table -> (backbone, sampler)
CF_MODELS = {
    'lightgcn': ('lightgcn', 'uniform'),
    'ngcf': ('ngcf', 'uniform'),
    'mixgcf': ('lightgcn', 'mixgcf'),
    'ahns': ('lightgcn', 'ahns'),
}
CF_DATASETS = ('beauty', 'toys', 'sports', 'yelp')
VARIANTS = ('base', 'adar')
NAMES = {'lightgcn': 'LightGCN', 'ngcf': 'NGCF', 'mixgcf': 'MixGCF',
         'ahns': 'AHNS', 'beauty': 'Amazon-Beauty', 'toys': 'Amazon-Toys',
         'sports': 'Amazon-Sport', 'yelp': 'Yelp', 'base': 'base',
         'adar': '+ADAR'}
# Table 2 of the paper, CF rows: (R@10, R@20, N@10) in %
_PAPER_ROWS = {
    ('ngcf', 'base'): [(6.37, 9.50, 4.11), (5.94, 8.50, 3.92),
                       (3.92, 6.21, 2.50), (4.27, 6.92, 2.73)],
    ('ngcf', 'adar'): [(8.13, 11.76, 5.21), (7.82, 11.39, 5.08),
                       (5.29, 8.11, 3.35), (5.06, 8.19, 3.24)],
    ('lightgcn', 'base'): [(8.69, 12.40, 5.77), (8.22, 11.50, 5.55),
                           (5.96, 8.62, 3.82), (5.27, 8.33, 3.39)],
    ('lightgcn', 'adar'): [(8.99, 12.88, 6.05), (8.46, 11.93, 5.84),
                           (6.32, 9.08, 4.11), (5.55, 8.81, 3.58)],
    ('mixgcf', 'base'): [(9.82, 13.67, 6.63), (9.05, 12.82, 6.19),
                         (6.25, 8.98, 4.21), (5.80, 9.01, 3.72)],
    ('mixgcf', 'adar'): [(10.01, 14.10, 6.90), (9.25, 13.09, 6.39),
                         (6.31, 9.13, 4.32), (5.95, 9.31, 3.86)],
    ('ahns', 'base'): [(9.66, 13.50, 6.51), (8.89, 12.55, 6.06),
                       (6.69, 9.70, 4.39), (5.53, 8.88, 3.60)],
    ('ahns', 'adar'): [(10.05, 14.04, 6.89), (9.15, 12.91, 6.21),
                       (6.84, 9.85, 4.52), (5.82, 9.19, 3.80)],
}
# RelImp rows as printed (%); a few differ from the ratio of the printed means,
# e.g. LightGCN on Beauty, R@20: 12.88 / 12.40 - 1 = 3.87%, printed 3.55%
_PAPER_RELIMP = {
    'ngcf': [(27.6, 23.8, 26.8), (31.6, 34.0, 29.6), (34.9, 30.6, 34.0),
             (18.5, 18.3, 18.7)],
    'lightgcn': [(3.45, 3.55, 4.85), (2.92, 3.74, 5.23), (6.04, 5.34, 7.59),
                 (5.31, 5.76, 5.60)],
    'mixgcf': [(1.93, 3.15, 4.07), (2.21, 2.11, 3.23), (0.96, 1.67, 2.61),
               (2.59, 3.33, 3.76)],
    'ahns': [(4.04, 4.00, 5.84), (2.92, 2.87, 2.48), (2.24, 1.55, 2.96),
             (5.24, 3.49, 5.56)],
}
PAPER_METRICS = ('recall@10', 'recall@20', 'ndcg@10')
#: PAPER_CF[dataset][model][version][metric] in %, version in
#: base / adar / relimp (as printed)
PAPER_CF: Dict[str, Dict[str, Dict[str, Dict[str, float]]]] = {
    d: {m: {**{v: dict(zip(PAPER_METRICS, _PAPER_ROWS[(m, v)][k]))
               for v in VARIANTS},
            'relimp': dict(zip(PAPER_METRICS, _PAPER_RELIMP[m][k]))}
        for m in CF_MODELS}
    for k, d in enumerate(CF_DATASETS)
}
AHNS_PAPER = {'recall@20': 0.0846, 'ndcg@20': 0.0460}


def cf_key(dataset: str, model: str, variant: str, seed: int) -> str:
    return f'{dataset}/{model}/{variant}/seed{seed}'


def cf_run_args(args: argparse.Namespace, dataset: str, model: str,
                variant: str, seed: int) -> argparse.Namespace:
    r"""The arguments of one cell."""
    run_args = copy.copy(args)
    run_args.dataset, run_args.seed = dataset, seed
    run_args.sampler = CF_MODELS[model][1]
    run_args.augmenter = 'none' if variant == 'base' else 'adar'
    return run_args


def _fmt(mean_std: Sequence[float]) -> str:
    mean, std = mean_std
    return '' if math.isnan(mean) else f'{100 * mean:.2f} ± {100 * std:.2f}'


def _rel(x) -> str:
    return '' if x is None else f'{100 * x:+.2f}%'


def _p(x) -> str:
    return '' if x is None or math.isnan(x) else f'{x:.3g}'


def dataset_table(dataset: str, models: List[str],
                  rows: Dict[str, List[Dict[str, Any]]]) -> str:
    r"""One dataset: per model the base and +ADAR rows (mean ± std over
    seeds), the relative improvement and the paired t-test p-values, next to
    the paper's numbers, with seconds per epoch."""
    head = (['Method', 'Version', 'seeds'] +
            [m.replace('recall', 'R').replace('ndcg', 'N') for m in METRICS] +
            [f"paper {m.replace('recall', 'R').replace('ndcg', 'N')}"
             for m in PAPER_METRICS] + ['s/epoch', 'best epoch'])
    lines = [f'### {NAMES[dataset]}', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for model in models:
        by_variant = {r['group']: r for r in rows[model]}
        paper = PAPER_CF[dataset][model]
        for variant in VARIANTS:
            r = by_variant.get(variant)
            if r is None:
                continue
            cells = [NAMES[model] if variant == 'base' else '',
                     NAMES[variant], str(len(r['seeds']))]
            cells += [_fmt(r[m]) for m in METRICS]
            cells += [f'{paper[variant][m]:.2f}' for m in PAPER_METRICS]
            cells += ['' if not r['seeds'] else
                      f"{r['seconds_per_epoch'][0]:.2f}",
                      '' if not r['seeds'] else f"{r['best_epoch'][0]:.0f}"]
            lines.append('| ' + ' | '.join(cells) + ' |')
        adar = by_variant.get('adar')
        if adar is not None and 'base' in by_variant:
            rel = ['', 'RelImp', ''] + [_rel(adar.get(f'{m}_relimp'))
                                        for m in METRICS]
            rel += [f"{paper['relimp'][m]:+.2f}%"
                    for m in PAPER_METRICS] + ['', '']
            pval = ['', 'p (paired t)', ''] + [_p(adar.get(f'{m}_p'))
                                               for m in METRICS]
            pval += [''] * (len(PAPER_METRICS) + 2)
            lines += ['| ' + ' | '.join(rel) + ' |',
                      '| ' + ' | '.join(pval) + ' |']
    return '\n'.join(lines) + '\n'


def overview_table(datasets: List[str], models: List[str],
                   rows: Dict[str, Dict[str, List[Dict[str, Any]]]]) -> str:
    r"""The paper's layout: datasets side by side (R@10, R@20, N@10), per model
    the base, +ADAR and RelImp rows; our means, the paper's in brackets."""
    head = ['Method', 'Version'] + [
        f"{NAMES[d]} {m.replace('recall', 'R').replace('ndcg', 'N')}"
        for d in datasets for m in PAPER_METRICS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for model in models:
        for version in VARIANTS + ('relimp', ):
            cells = [NAMES[model] if version == 'base' else '',
                     'RelImp' if version == 'relimp' else NAMES[version]]
            for d in datasets:
                by_variant = {r['group']: r for r in rows[d][model]}
                paper = PAPER_CF[d][model]
                for m in PAPER_METRICS:
                    if version == 'relimp':
                        ours = by_variant.get('adar', {}).get(f'{m}_relimp')
                        ref = paper['relimp'][m]
                        cells.append(f'{_rel(ours)} ({ref:+.2f}%)')
                        continue
                    r = by_variant.get(version)
                    ours = ('' if r is None or not r['seeds'] else
                            f'{100 * r[m][0]:.2f}')
                    cells.append(f'{ours} ({paper[version][m]:.2f})')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def speed_table(datasets: List[str], models: List[str],
                rows: Dict[str, Dict[str, List[Dict[str, Any]]]]) -> str:
    r"""Seconds per training epoch, mean over seeds (base / +ADAR)."""
    head = ['Model'] + [NAMES[d] for d in datasets]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for model in models:
        cells = [NAMES[model]]
        for d in datasets:
            parts = []
            for r in rows[d][model]:
                if r['seeds']:
                    parts.append(f"{r['seconds_per_epoch'][0]:.2f}")
            cells.append(' / '.join(parts))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def run_cf_table(args: argparse.Namespace) -> str:
    r"""Trains the missing cells of the CF part of Table 2 and returns its
    markdown."""
    store = ResultStore(f'{args.out}.json', meta=_meta(args))
    for dataset in args.datasets:
        for model in args.models:
            factory = BACKBONES[CF_MODELS[model][0]]
            for variant in args.variants:
                for seed in args.seeds:
                    run_args = cf_run_args(args, dataset, model, variant, seed)
                    store.get_or_run(
                        cf_key(dataset, model, variant, seed),
                        lambda: run_cf(run_args, factory))
    store.save()
    write_json(store.data, args.json)
    cells = store.data['cells']
    rows = {d: {m: summarize(cells, args.variants, 'base', args.seeds,
                             lambda v, s: cf_key(d, m, v, s))  # noqa: B023
                for m in args.models} for d in args.datasets}
    sections = [dataset_table(d, args.models, rows[d]) for d in args.datasets]
    return ('# Table 2 (collaborative filtering)\n\n'
            f"Command: `{store.data['meta']['command']}`  \n"
            f"Date: {store.data['meta']['updated']}  \n"
            f'Protocol: per-user random split 80/20 (seeded by the seed), '
            f'{100 * args.val_ratio:.0f}% of each user\'s training part held '
            f'out for early stopping (evaluated every {args.eval_every} '
            f'epochs, patience {args.patience}); test metrics in % at the '
            f'validation-selected epoch, full ranking. Mean ± std over seeds; '
            f'RelImp: relative improvement of the means; p: two-sided paired '
            f't-test of +ADAR against base over seeds. s/epoch: training '
            f"seconds per epoch on {store.data['meta']['device']}.\n\n"
            '## Overview (ours, paper in brackets; its RelImp as printed)\n\n' +
            overview_table(args.datasets, args.models, rows) +
            '\n## Seconds per training epoch (base / +ADAR)\n\n' +
            speed_table(args.datasets, args.models, rows) +
            '\n## Per dataset\n\n' + '\n'.join(sections))


def ahns_split_data(root: str):
    r"""The published AHNS split as :func:`~adar_pyg.experiment.run_cf`'s
    :obj:`splits` tuple."""
    train, val, test = read_ahns_split(root)
    stats = {
        'dataset': 'amazon-sports-ahns',
        'users': int(train['user'].num_nodes),
        'items': int(train['item'].num_nodes),
        'train': int(train[EDGE].edge_label_index.size(1)),
        'val': 0,
        'test': int(test[EDGE].edge_label_index.size(1)),
        'split': f'published (read_ahns_split({root!r}))',
    }
    stats['interactions'] = stats['train'] + stats['test']
    return train, val, test, stats


def run_ahns_split(args: argparse.Namespace) -> str:
    r"""MF + AHNS (and optionally +ADAR) on the published AHNS split of
    Amazon-Sports; returns the markdown comparing with the authors' numbers."""
    root = args.ahns_split_root or os.path.join(
        args.mirror or default_mirror() or '', 'amazon-sports-ahns')
    if not os.path.exists(os.path.join(root, 'train.txt')):
        raise SystemExit(f"no AHNS split under '{root}' (use "
                         f"--ahns-split-root)")
    splits = ahns_split_data(root)
    store = ResultStore(f'{args.out}.json', meta=_meta(args))
    key = lambda v, s: f'ahns-split/mf-ahns/{v}/seed{s}'  # noqa: E731
    for variant in args.variants:
        for seed in args.seeds:
            run_args = copy.copy(args)
            run_args.seed, run_args.sampler = seed, 'ahns'
            run_args.augmenter = 'none' if variant == 'base' else 'adar'
            store.get_or_run(key(variant, seed),
                             lambda: run_cf(run_args, BACKBONES['mf'], splits))
    store.save()
    write_json(store.data, args.json)
    rows = summarize(store.data['cells'], args.variants, 'base', args.seeds,
                     key)
    head = ['Model', 'Version', 'seeds', 'R@20', 'N@20', 'authors R@20',
            'authors N@20', 's/epoch', 'best epoch']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        if not r['seeds']:
            continue
        lines.append('| ' + ' | '.join([
            'MF + AHNS', NAMES[r['group']], str(len(r['seeds'])),
            _fmt(r['recall@20']), _fmt(r['ndcg@20']),
            f"{100 * AHNS_PAPER['recall@20']:.2f}",
            f"{100 * AHNS_PAPER['ndcg@20']:.2f}",
            f"{r['seconds_per_epoch'][0]:.2f}",
            f"{r['best_epoch'][0]:.0f}"]) + ' |')
    return ('# MF + AHNS on the published AHNS split (Amazon-Sports)\n\n'
            f"Command: `{store.data['meta']['command']}`  \n"
            f"Date: {store.data['meta']['updated']}  \n"
            'No validation file: the epoch is selected on the test set (the '
            "authors' protocol; optimistic). Metrics in %, full ranking, "
            'mean ± std over seeds.\n\n' + '\n'.join(lines) + '\n')


def _meta(args: argparse.Namespace) -> Dict[str, Any]:
    return {'command': ' '.join(['python'] + sys.argv),
            'updated': datetime.datetime.now().isoformat(timespec='seconds'),
            'device': args.device, 'adar_weight': args.adar_weight,
            'adar_steps': args.adar_steps, 'epochs': args.epochs}


#: --task -> function returning the markdown
TASKS: Dict[str, Callable[[argparse.Namespace], str]] = {'cf': run_cf_table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    add_cf_args(parser)
    parser.add_argument('--task', default='cf', choices=list(TASKS))
    parser.add_argument('--datasets', nargs='+', default=list(CF_DATASETS),
                        choices=CF_DATASETS)
    parser.add_argument('--models', nargs='+', default=list(CF_MODELS),
                        choices=list(CF_MODELS))
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=VARIANTS)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument('--ngcf-node-dropout', type=float, default=0.1)
    parser.add_argument('--ngcf-message-dropout', type=float, default=0.1)
    parser.add_argument('--ahns-split', action='store_true',
                        help='MF + AHNS on the published AHNS split instead')
    parser.add_argument('--ahns-split-root', default=None,
                        help='folder of its train.txt / test.txt (default: '
                        '<mirror>/amazon-sports-ahns)')
    parser.add_argument('--out', default=None,
                        help='writes <out>.json and <out>.md (default: '
                        'benchmarks/results/table2_<task> or ahns_split)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny configuration for the test suite')
    parser.set_defaults(eval_every=5, patience=10, no_progress=True)
    args = parser.parse_args()
    if args.out is None:
        args.out = os.path.join('benchmarks', 'results', 'ahns_split' if
                                args.ahns_split else f'table2_{args.task}')
    if args.quick:  # larger batches: fewer full-graph propagations
        args.epochs, args.eval_every, args.seeds = 1, 1, args.seeds[:1]
        args.batch_size = 8192
        args.datasets, args.models = ['beauty'], ['lightgcn', 'ngcf']
        args.variants = ['base'] if args.ahns_split else ['base', 'adar']
    text = run_ahns_split(args) if args.ahns_split else TASKS[args.task](args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(f'{args.out}.md', 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
