r"""Table 2 of the ADAR paper: each model with and without ADAR on Beauty, Toys,
Sports and Yelp, several seeds, mean ± std, relative improvement and the
paired t-test across seeds; test metrics at the validation-selected epoch
(early stopping), seconds per training epoch.

    python benchmarks/table2.py --task cf --seeds 0 1 2 3 4 \
        --out benchmarks/results/table2_cf
    python benchmarks/table2.py --task sr --seeds 0 1 2 3 4 \
        --out benchmarks/results/table2_sr

CF models (``--task cf``): ``lightgcn``, ``ngcf`` (uniform negatives),
``mixgcf`` (LightGCN backbone + MixGCF sampler), ``ahns`` (LightGCN backbone +
AHNS sampler); per-user random split 80/20 seeded by the seed. SR models
(``--task sr``): ``gru4rec``, ``sasrec``, ``cl4srec`` (BPR with one uniform
negative per position), leave-one-out split loaded once per dataset, ADAR with
T = 20 diffusion steps (the paper's SR setting). The +ADAR variant adds the
generated negative of Eq. 12 to the sampler's. The flags of a task are those of
``examples/`` (``--task sr --help`` lists the SR ones).

Resumable: finished ``dataset/model/variant/seedN`` cells of ``<out>.json``
are reused (the file records its task; the default ``<out>`` is
``benchmarks/results/table2_<task>``). ``--quick`` runs a tiny configuration
for the test suite: 1 epoch, 1 seed, Beauty; CF: LightGCN and NGCF with
batches of 8192; SR: the three models on the first 1000 users.

``--ahns-split`` (CF) instead trains MF (LightGCN with 0 layers) + AHNS on the
split published with the AHNS code (Amazon-Sports, no validation file, so the
epoch is selected on the test set as the authors do), to compare with their
Recall@20 = 0.0846, NDCG@20 = 0.0460.

Variants (``--variants``, default ``base transition reweight``): ``base``;
``transition``, +ADAR with the default transition-point setting (Theorem 1's
t*, forward source) at the λ / h / T validated on Beauty for the model
(:obj:`VALIDATED`); ``reweight``, the control that counts the sampled
negative again with weight λ (its own Beauty-validated λ; ``--control-weight``
overrides it); ``adar``, the paper's Eq. 11 selection (the committed Beauty
rows of the first table, ``--variants base adar``).

Each cell trains in its own run directory ``<out>.runs/<cell key>/`` (git
ignores it): a cell interrupted mid-training (a stop, ``kill -9``) continues
from its last evaluation when the same command runs again, with the same
result as an uninterrupted run (:func:`adar_pyg.run.resume`; its inputs are
checked first); a finished cell keeps its ``metrics.jsonl`` and
``config.yaml`` there, its checkpoints are removed.

``--jobs N`` trains the cells in N worker processes, one
``(dataset, model, seed)`` job each (its own shard file under
``<out>.shards/``, merged into ``<out>.json``; an interrupted run continues
where it stopped), seeds in order so that the first seeds of every model
finish first; ``--time-limit S`` starts no job after S seconds and stops the
running ones at S (their finished cells are kept)::

    python benchmarks/table2.py --task cf --datasets toys sports yelp \
        --models lightgcn --jobs 2 --threads 1 --no-progress \
        --out benchmarks/results/table2_cf_3way
"""
import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from adar_variants import VARIANT_SETTINGS
from common import (METRICS, ResultStore, add_store_args, cell_key,
                    command_line, command_lines, open_results, summarize)

from adar_pyg import run, rundir
from adar_pyg.config import (PRESETS, Config, add_config_args,
                             add_output_args, config_from_args,
                             recorded_settings)
from adar_pyg.pipeline import EDGE, RunData, load_sr_data as load_split
from adar_pyg.datasets import default_mirror, read_lightgcn_split
from adar_pyg.io import write_text
from adar_pyg.nn import LightGCN
from adar_pyg.report import paired_note
from adar_pyg.run import write_json
from adar_pyg.rundir import CHECKPOINTS, LAST
from adar_pyg.sequential.data import SequenceSplit


def matrix_factorization(cfg: Config, num_users: int,
                         num_items: int) -> LightGCN:
    r"""MF: LightGCN without propagation (the AHNS split's backbone)."""
    return LightGCN(num_users, num_items, embedding_dim=cfg.model.dim,
                    num_layers=0)


# CF model of the table -> (backbone, sampler)
CF_MODELS = {
    'lightgcn': ('lightgcn', 'uniform'),
    'ngcf': ('ngcf', 'uniform'),
    'mixgcf': ('lightgcn', 'mixgcf'),
    'ahns': ('lightgcn', 'ahns'),
}
#: SR models of the table (built by :func:`build_sr_model`), paper order
SR_MODELS = ('gru4rec', 'sasrec', 'cl4srec')
CF_DATASETS = ('beauty', 'toys', 'sports', 'yelp')
DATASETS = CF_DATASETS  # the same four for SR
VARIANTS = ('base', 'adar', 'transition', 'reweight')
#: the ADAR variants (rows with RelImp and p against the base)
ADAR_VARIANTS = ('adar', 'transition')
#: the control the ``transition`` rows are also tested against
CONTROL = 'reweight'
#: the Beauty-validated ADAR settings (section ``adar``) of the
#: ``transition`` and ``reweight`` rows per model (seed-0 validation sweeps of benchmarks/adar_sweep.py, reported
#: in benchmarks/results/fig2_<model>.md; SASRec's λ of the control:
#: benchmarks/results/table2_sasrec_lambda.md). A model without a sweep runs
#: the defaults of the config (λ 0.7, h 0.5, T 50 for CF / 20 for SR).
VALIDATED: Dict[str, Dict[str, Dict[str, float]]] = {
    'lightgcn': {'transition': {'weight': 0.7, 'hardness': 0.5,
                                'num_steps': 50},
                 'reweight': {'weight': 0.7}},
    'ngcf': {'transition': {'weight': 0.7, 'hardness': 0.5, 'num_steps': 20},
             'reweight': {'weight': 0.7}},
    'gru4rec': {'transition': {'weight': 0.7, 'hardness': 0.5,
                               'num_steps': 20},
                'reweight': {'weight': 1.0}},
}
NAMES = {'lightgcn': 'LightGCN', 'ngcf': 'NGCF', 'mixgcf': 'MixGCF',
         'ahns': 'AHNS', 'gru4rec': 'GRU4Rec', 'sasrec': 'SASRec',
         'cl4srec': 'CL4SRec', 'beauty': 'Amazon-Beauty',
         'toys': 'Amazon-Toys', 'sports': 'Amazon-Sport', 'yelp': 'Yelp',
         'base': 'base', 'adar': '+ADAR (Eq. 11)',
         'transition': '+ADAR', 'reweight': 'control (reweight)'}
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
# Table 2 of the paper, SR rows (models trained on DR4SR-regenerated data)
_PAPER_SR_ROWS = {
    ('gru4rec', 'base'): [(2.79, 4.87, 1.37), (2.24, 3.71, 1.08),
                          (1.81, 3.17, 0.90), (2.30, 3.88, 1.14)],
    ('gru4rec', 'adar'): [(4.34, 6.96, 2.17), (3.78, 5.84, 1.89),
                          (2.55, 4.09, 1.39), (3.21, 5.17, 1.59)],
    ('sasrec', 'base'): [(5.99, 8.82, 3.20), (7.27, 9.95, 4.13),
                         (2.97, 4.72, 1.58), (2.99, 4.99, 1.50)],
    ('sasrec', 'adar'): [(6.32, 9.69, 3.27), (7.72, 10.52, 4.50),
                         (3.62, 5.71, 1.89), (3.30, 5.58, 1.66)],
    ('cl4srec', 'base'): [(7.24, 10.26, 4.20), (7.80, 10.59, 4.54),
                          (4.33, 6.19, 2.37), (3.27, 5.58, 1.60)],
    ('cl4srec', 'adar'): [(7.44, 10.65, 4.31), (8.12, 11.13, 4.73),
                          (4.46, 6.35, 2.50), (3.69, 5.86, 1.82)],
}
_PAPER_SR_RELIMP = {
    'gru4rec': [(55.6, 42.9, 58.4), (68.8, 57.4, 73.4), (40.9, 29.0, 54.4),
                (39.6, 33.2, 39.5)],
    'sasrec': [(5.51, 9.87, 2.19), (6.19, 5.73, 8.96), (21.9, 21.0, 19.6),
               (10.4, 11.8, 10.7)],
    'cl4srec': [(2.76, 3.80, 2.62), (4.10, 5.10, 4.19), (3.00, 2.58, 5.49),
                (12.8, 5.02, 13.8)],
}
PAPER_METRICS = ('recall@10', 'recall@20', 'ndcg@10')
PaperTable = Dict[str, Dict[str, Dict[str, Dict[str, float]]]]


def _paper_table(rows: Dict[Tuple[str, str], List[Tuple[float, ...]]],
                 relimp: Dict[str, List[Tuple[float, ...]]]) -> PaperTable:
    models = list(relimp)
    return {
        d: {m: {**{v: dict(zip(PAPER_METRICS, rows[(m, v)][k]))
                   for v in ('base', 'adar')},
                'transition': dict(zip(PAPER_METRICS, rows[(m, 'adar')][k])),
                'relimp': dict(zip(PAPER_METRICS, relimp[m][k]))}
            for m in models}
        for k, d in enumerate(DATASETS)
    }


#: PAPER_CF[dataset][model][version][metric] in %, version in
#: base / adar / relimp (as printed)
PAPER_CF: PaperTable = _paper_table(_PAPER_ROWS, _PAPER_RELIMP)
#: The same for the SR rows; the paper trained them on DR4SR-regenerated data
#: (not available), so they are not comparable with runs on the original data.
PAPER_SR: PaperTable = _paper_table(_PAPER_SR_ROWS, _PAPER_SR_RELIMP)
SR_PAPER_LABEL = 'paper (DR4SR data)'
SR_PAPER_NOTE = (
    '**The paper column is not comparable.** The paper trained its SR models '
    'on datasets regenerated by DR4SR (Yin et al., KDD 2024), which are not '
    'available; these runs use the original data. Its numbers are shown, '
    f'labelled "{SR_PAPER_LABEL}", only for reference. Compare the base rows '
    'with numbers commonly reported on the original data instead: SASRec on '
    'the original Amazon-Beauty, leave-one-out, full ranking, '
    'R@20 (= HR@20) ≈ 8–10% (a rough range; it depends on the loss, '
    'cross-entropy over all items being on the high side, and on whether the '
    'history is masked). No such reference is given per cell.')
AHNS_PAPER = {'recall@20': 0.0846, 'ndcg@20': 0.0460}



def variant_settings(args: argparse.Namespace, model: str,
                     variant: str) -> Dict[str, Dict[str, Any]]:
    r"""The settings (nested by section) that make a cell of :obj:`model`
    the :obj:`variant`: the augmenter, and for ``transition`` /
    ``reweight`` the strategy and the Beauty-validated λ, h, T
    (:obj:`VALIDATED`; :obj:`--control-weight` overrides the control's λ).
    ``adar`` keeps the Eq. 11 settings of the table's config."""
    if variant in ('base', 'adar'):
        return {'train': {'augmenter': 'none' if variant == 'base'
                          else 'adar'}}
    layer = VARIANT_SETTINGS['transition-forward' if variant ==
                             'transition' else variant]
    out = {key: dict(values) for key, values in layer.items()}
    out.setdefault('adar', {}).update(VALIDATED.get(model, {}).get(variant,
                                                                   {}))
    if variant == CONTROL and args.control_weight is not None:
        out['adar']['weight'] = args.control_weight
    return out


def cell_config(args: argparse.Namespace, dataset: str, model: str,
                variant: str, seed: int) -> Config:
    r"""The config of one cell: the table's (:obj:`args.cfg`) with the
    dataset, the seed, the model (a CF model names its backbone and
    sampler, :obj:`CF_MODELS`) and the variant's settings
    (:func:`variant_settings`)."""
    if args.cfg.run.task == 'cf':
        backbone, sampler = CF_MODELS[model]
        names = {'model': {'model': backbone},
                 'sampler': {'sampler': sampler}}
    else:
        names = {'model': {'model': model}}
    return args.cfg.replace(
        {'data': {'dataset': dataset}, 'run': {'seed': seed}, **names},
        variant_settings(args, model, variant))


def first_users(split: SequenceSplit, num_users: int) -> SequenceSplit:
    r"""The leave-one-out data of the first :obj:`num_users` users (all items
    stay candidates), for smoke tests."""
    n = min(int(num_users), split.num_users)

    def edges(edge_index):
        return edge_index[:, edge_index[0] < n]

    return SequenceSplit(
        num_users=n, num_items=split.num_items, max_len=split.max_len,
        train_seq=split.train_seq[:n], val_seq=split.val_seq[:n],
        test_seq=split.test_seq[:n], val_target=split.val_target[:n],
        test_target=split.test_target[:n],
        train_edge_index=edges(split.train_edge_index),
        val_edge_index=edges(split.val_edge_index),
        test_edge_index=edges(split.test_edge_index))


def load_sr_data(args: argparse.Namespace,
                 dataset: str) -> Tuple[SequenceSplit, Dict[str, Any]]:
    r"""The leave-one-out split of :obj:`dataset`, loaded once and shared by
    all its SR cells (restricted to :obj:`--max-users` users if given)."""
    data = load_split(args.cfg.replace({'data': {'dataset': dataset}}))
    split, stats = data.train, data.statistics
    if getattr(args, 'max_users', None):
        split = first_users(split, args.max_users)
        sizes = split.statistics()
        stats = {**{k: v for k, v in stats.items()  # Of all users:
                    if k != 'evaluated_users'}, 'users': sizes['users'],
                 'interactions': (sizes['train_interactions'] +
                                  sizes['val_interactions'] +
                                  sizes['test_interactions']),
                 'train': sizes['train_interactions'],
                 'train_positions': sizes['train_positions'],
                 'val': sizes['val_interactions'],
                 'test': sizes['test_interactions'],
                 'subset': f'first {sizes["users"]} users'}
    return RunData(split, statistics=stats)


def _fmt(mean_std: Sequence[float]) -> str:
    mean, std = mean_std
    return '' if math.isnan(mean) else f'{100 * mean:.2f} ± {100 * std:.2f}'


def _rel(x) -> str:
    return '' if x is None or math.isnan(x) else f'{100 * x:+.2f}%'


def _p(x) -> str:
    return '' if x is None or math.isnan(x) else f'{x:.3g}'


def _row_lines(label: str, version: str, r: Dict[str, Any],
               paper: Optional[Dict[str, Dict[str, float]]]) -> List[str]:
    cells = [label, NAMES[version], str(len(r['seeds']))]
    cells += [_fmt(r[m]) for m in METRICS]
    cells += [f'{paper[version][m]:.2f}' if paper and version in paper
              else '' for m in PAPER_METRICS]
    cells += ['' if not r['seeds'] else f"{r['seconds_per_epoch'][0]:.2f}",
              '' if not r['seeds'] else f"{r['best_epoch'][0]:.0f}"]
    return cells


def dataset_table(dataset: str, models: List[str],
                  rows: Dict[str, List[Dict[str, Any]]],
                  paper_table: Optional[PaperTable] = None,
                  paper_label: str = 'paper',
                  vs_control: Optional[Dict[str, Dict[str, Any]]] = None,
                  ) -> str:
    r"""One dataset: per model a row per variant (mean ± std over seeds),
    the relative improvement and the paired t-test p-values of each ADAR
    variant against the base (and of ``transition`` against the control,
    :obj:`vs_control[model]`), next to the paper's numbers
    (:obj:`paper_table`, default :obj:`PAPER_CF`, columns headed
    :obj:`paper_label`), with seconds per epoch and the selected epoch."""
    paper_table = PAPER_CF if paper_table is None else paper_table
    vs_control = vs_control or {}
    head = (['Method', 'Version', 'seeds'] +
            [m.replace('recall', 'R').replace('ndcg', 'N') for m in METRICS] +
            [f"{paper_label} {m.replace('recall', 'R').replace('ndcg', 'N')}"
             for m in PAPER_METRICS] + ['s/epoch', 'best epoch'])
    width = len(head)
    lines = [f'### {NAMES[dataset]}', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * width]

    def add(cells: List[str]) -> None:
        lines.append('| ' + ' | '.join(cells + [''] * (width - len(cells)))
                     + ' |')

    for model in models:
        by_variant = {r['group']: r for r in rows[model] if r['seeds']}
        paper = paper_table[dataset][model]
        first = True
        for variant in VARIANTS:
            r = by_variant.get(variant)
            if r is None:
                continue
            add(_row_lines(NAMES[model] if first else '', variant, r, paper))
            first = False
        for variant in ADAR_VARIANTS:
            r = by_variant.get(variant)
            if r is None or 'base' not in by_variant:
                continue
            note = paired_note(r, by_variant['base']['seeds'])
            rel = ['', f'RelImp {NAMES[variant]} vs base{note}', ''] + [
                _rel(r.get(f'{m}_relimp')) for m in METRICS]
            rel += [f"{paper['relimp'][m]:+.2f}%" for m in PAPER_METRICS]
            add(rel)
            add(['', 'p vs base (paired t)', ''] +
                [_p(r.get(f'{m}_p')) for m in METRICS])
        c = vs_control.get(model)
        if c is not None:
            note = paired_note(c, by_variant.get(CONTROL, c)['seeds'])
            add(['', f'RelImp {NAMES["transition"]} vs control{note}', ''] +
                [_rel(c.get(f'{m}_relimp')) for m in METRICS])
            add(['', 'p vs control (paired t)', ''] +
                [_p(c.get(f'{m}_p')) for m in METRICS])
    return '\n'.join(lines) + '\n'


#: minutes per (seed, variant) cell on Beauty, one CPU thread (measured:
#: issue 29); Sports and Yelp cost about twice Beauty
CELL_MINUTES = {'lightgcn': 4, 'gru4rec': 5, 'sasrec': 12, 'ngcf': 13,
                'mixgcf': 11, 'ahns': 10, 'cl4srec': 28}
DATASET_COST = {'beauty': 1.0, 'toys': 1.0, 'sports': 2.0, 'yelp': 2.0}


def missing_cost(dataset: str, model: str, cells: int) -> str:
    r"""The estimated CPU cost of :obj:`cells` missing cells."""
    hours = CELL_MINUTES[model] * DATASET_COST[dataset] * cells / 60
    return f'not run (≈ {hours:.1f} CPU-h)'


def overview_table(datasets: List[str], models: List[str],
                   rows: Dict[str, Dict[str, List[Dict[str, Any]]]],
                   paper_table: Optional[PaperTable] = None,
                   variants: Sequence[str] = VARIANTS,
                   vs_control: Optional[Dict[str, Dict[str, Any]]] = None,
                   num_seeds: int = 5) -> str:
    r"""The paper's layout: datasets side by side (R@10, R@20, N@10), per model
    a row per variant and the RelImp / p rows of the ADAR variants against the
    base and the control; our means, the paper's (:obj:`paper_table`, default
    :obj:`PAPER_CF`) in brackets; a cell not run says what it would cost."""
    paper_table = PAPER_CF if paper_table is None else paper_table
    vs_control = vs_control or {}
    head = ['Method', 'Version'] + [
        f"{NAMES[d]} {m.replace('recall', 'R').replace('ndcg', 'N')}"
        for d in datasets for m in PAPER_METRICS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    shown = [v for v in VARIANTS if v in variants]
    for model in models:
        versions = [(v, None) for v in shown]
        for v in ADAR_VARIANTS:
            if v in shown:
                versions += [(v, 'relimp'), (v, 'p')]
        if 'transition' in shown and CONTROL in shown:
            versions += [('control', 'relimp'), ('control', 'p')]
        for i, (version, stat) in enumerate(versions):
            label = (NAMES[version] if stat is None else
                     f"{'RelImp' if stat == 'relimp' else 'p'} "
                     + ('+ADAR vs control' if version == 'control' else
                        f'{NAMES[version]} vs base'))
            cells = [NAMES[model] if i == 0 else '', label]
            for d in datasets:
                by_variant = {r['group']: r for r in rows[d][model]
                              if r['seeds']}
                paper = paper_table[d][model]
                if stat is None:
                    r = by_variant.get(version)
                    ref = paper.get(version)
                    if r is None:
                        cells += [missing_cost(d, model, num_seeds)] + [''] * (
                            len(PAPER_METRICS) - 1)
                        continue
                    for m in PAPER_METRICS:
                        ours = f'{100 * r[m][0]:.2f}'
                        cells.append(f'{ours} ({ref[m]:.2f})' if ref
                                     else ours)
                    continue
                r = (vs_control.get(d, {}).get(model) if version == 'control'
                     else by_variant.get(version))
                if r is None or ('base' not in by_variant and
                                 version != 'control'):
                    cells += [''] * len(PAPER_METRICS)
                    continue
                ref_seeds = by_variant.get(
                    CONTROL if version == 'control' else 'base', r)['seeds']
                for m in PAPER_METRICS:
                    if stat == 'p':
                        cells.append(_p(r.get(f'{m}_p')))
                        continue
                    ours = _rel(r.get(f'{m}_relimp'))
                    if ours:
                        ours += paired_note(r, ref_seeds)
                    ref = (paper['relimp'][m] if version != 'control'
                           else None)
                    cells.append(ours if ref is None else
                                 f'{ours} ({ref:+.2f}%)')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def speed_table(datasets: List[str], models: List[str],
                rows: Dict[str, Dict[str, List[Dict[str, Any]]]]) -> str:
    r"""Seconds per training epoch, mean over seeds (one value per variant
    run, in the order of the variants)."""
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


#: the training settings of the settings table: (section, setting, header,
#: the variants whose cells it is read from; None: all); the device is the
#: one a cell ran on
SETTINGS = (('train', 'lr', 'lr', None),
            ('train', 'batch_size', 'batch', None),
            ('train', 'epochs', 'max epochs', None),
            ('train', 'eval_every', 'eval every', None),
            ('train', 'patience', 'patience', None),
            ('adar', 'num_steps', 'ADAR T', ADAR_VARIANTS),
            ('adar', 'weight', 'ADAR λ', ADAR_VARIANTS),
            ('adar', 'strategy', 'ADAR t*', ADAR_VARIANTS),
            ('adar', 'hardness', 'ADAR h', ('transition', )),
            ('adar', 'weight', 'control λ', (CONTROL, )),
            ('run', 'device', 'device', None))


def _distinct(values: Sequence[Any]) -> str:
    return ' / '.join('?' if v is None else f'{v:g}' if isinstance(
        v, float) else str(v) for v in dict.fromkeys(values))


def settings_table(datasets: List[str], models: List[str],
                   cells: Dict[str, Dict[str, Any]],
                   seeds: Sequence[int],
                   variants: Sequence[str] = VARIANTS) -> str:
    r"""The training settings of each (dataset, model), read from the
    arguments its cells (of :obj:`variants`) recorded, so a table assembled
    from runs with different flags (e.g. a learning rate per backbone) says
    which cell ran with which; values that differ between a row's cells are
    joined by ``/``."""
    head = ['Dataset', 'Model'] + [h for _, _, h, _ in SETTINGS]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]

    def values(cell: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        out = recorded_settings(cell)
        out['run'] = {**out.get('run', {}), 'device': cell.get('device')}
        return out

    for d in datasets:
        for m in models:
            found = {v: [values(cells[cell_key(d, m, v, s)]) for s in seeds
                         if cell_key(d, m, v, s) in cells]
                     for v in variants}
            if not any(found.values()):
                continue
            row = [NAMES[d], NAMES[m]]
            for section, name, _, only in SETTINGS:
                shown = sum((found[v] for v in variants
                             if only is None or v in only), [])
                row.append(_distinct([c.get(section, {}).get(name)
                                      for c in shown]))
            lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def cell_settings(cfg: Config, cell: Dict[str, Any]
                  ) -> Dict[str, Dict[str, Any]]:
    r"""The settings (nested by section) :obj:`cell` recorded, those of
    :obj:`cfg` where it recorded none (cells of older versions)."""
    out = cfg.to_dict()
    for key, values in recorded_settings(cell).items():
        out[key].update(values)
    return out


def protocol_text(task: 'TableTask', args: argparse.Namespace,
                  cells: List[Dict[str, Any]]) -> str:
    r"""The protocol paragraph of :obj:`task` from the settings the shown
    :obj:`cells` recorded (:func:`cell_settings`); each distinct protocol
    once."""
    texts = list(dict.fromkeys(
        task.protocol(cell_settings(args.cfg, cell), args)
        for cell in cells or [{}]))
    if len(texts) == 1:
        return texts[0]
    return 'Protocols differ between cells: ' + ' / '.join(texts)


@dataclass(frozen=True)
class TableTask:
    r"""What differs between the CF and SR parts of Table 2; the loop over
    (dataset, model, variant, seed) cells, the result file and the markdown
    are shared (:func:`run_table`)."""
    name: str
    title: str
    models: Tuple[str, ...]
    paper: PaperTable
    #: adds the task's flags (those of the examples) to the parser
    add_args: Callable[[argparse.ArgumentParser], None]
    #: parser defaults of the table (override the examples')
    defaults: Dict[str, Any]
    #: --quick: the task's part of the tiny configuration
    quick: Callable[[argparse.Namespace], None]
    #: trains one cell: (the table's args, the cell's config, the data of
    #: its dataset, out=its run directory) -> report
    run_cell: Callable[..., Dict[str, Any]]
    #: the protocol paragraph of the markdown, given the settings of a cell
    #: (nested by section) and the table's arguments (the per-model
    #: settings are in :func:`settings_table`)
    protocol: Callable[[Dict[str, Dict[str, Any]], argparse.Namespace], str]
    #: data shared by all cells of a dataset, loaded at most once (only when
    #: a cell of the dataset is missing); None: every cell loads its own
    load: Optional[Callable[[argparse.Namespace, str], Any]] = None
    paper_label: str = 'paper'
    paper_note: str = ''


def shard_dir(out: str) -> str:
    r"""The folder of the worker shards of :obj:`<out>.json`."""
    return f'{out}.shards'


def merge_shards(store: ResultStore, out: str, command: str) -> int:
    r"""Adds the cells of the worker shards of :obj:`out` (see
    :func:`run_jobs`) to :obj:`store`, recording :obj:`command` (the driver's)
    as the one that computed them; a cell in both must be identical. Removes
    the merged shards. Returns the number of cells added."""
    folder = shard_dir(out)
    if not os.path.isdir(folder):
        return 0
    added = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.json'):
            continue
        path = os.path.join(folder, name)
        with open(path) as f:
            added += store.add_cells(json.load(f).get('cells', {}), path)
    if added:
        commands = store.data['meta'].setdefault('commands', [])
        if command not in commands:
            commands.append(command)
        write_json(store.data, f'{out}.json')
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)
    return added


#: flags of the driver that its workers do not get (with their values)
_DRIVER_FLAGS = ('--jobs', '--time-limit', '--out', '--datasets', '--models',
                 '--seeds', '--merge', '--report-only')


def worker_argv(argv: Sequence[str]) -> List[str]:
    r"""The driver's command-line arguments without the flags a worker gets
    its own values of (:obj:`_DRIVER_FLAGS`)."""
    out: List[str] = []
    skipping = False
    for word in argv:
        if word.startswith('--'):
            skipping = word.split('=')[0] in _DRIVER_FLAGS
        if not skipping:
            out.append(word)
    return out


def run_jobs(args: argparse.Namespace, store: ResultStore,
             argv: Optional[Sequence[str]] = None) -> None:
    r"""Trains the missing cells in :obj:`args.jobs` worker processes, one
    ``(dataset, model, seed)`` job each, seeds in order (the first seeds of
    every model first); each worker writes its own shard
    ``<out>.shards/<dataset>_<model>_<seed>.json`` (and ``.log``), merged
    into :obj:`store` at the end (:func:`merge_shards`; also at the start of
    the next run, so an interrupted run continues). With
    :obj:`args.time_limit`, no job starts after that many seconds and the
    running ones are stopped then."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_line()
    merge_shards(store, args.out, command)
    cells = store.data['cells']
    jobs = [(d, m, s) for s in args.seeds for m in args.models
            for d in args.datasets
            if any(cell_key(d, m, v, s) not in cells for v in args.variants)]
    folder = shard_dir(args.out)
    os.makedirs(folder, exist_ok=True)
    base = [sys.executable, os.path.abspath(__file__)] + worker_argv(argv)
    start, running = time.monotonic(), []
    print(f'[jobs] {len(jobs)} jobs on {args.jobs} workers', flush=True)
    while jobs or running:
        late = (args.time_limit is not None and
                time.monotonic() - start > args.time_limit)
        if late:
            for proc, name, log in running:
                proc.terminate()
            for proc, name, log in running:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
                print(f'[jobs] stopped at the time limit: {name}', flush=True)
            print(f'[jobs] {len(jobs)} jobs not started (time limit)',
                  flush=True)
            break
        while jobs and len(running) < args.jobs:
            d, m, seed = jobs.pop(0)
            name = f'{d}_{m}_{seed}'
            log = open(os.path.join(folder, f'{name}.log'), 'w')
            cmd = base + ['--datasets', d, '--models', m, '--seeds',
                          str(seed), '--out', os.path.join(folder, name)]
            running.append((subprocess.Popen(cmd, stdout=log,
                                             stderr=subprocess.STDOUT),
                            name, log))
            print(f'[jobs] started {name}', flush=True)
        time.sleep(1)
        for item in list(running):
            proc, name, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                print(f'[jobs] {name}: exit {proc.returncode} after '
                      f'{time.monotonic() - start:.0f} s', flush=True)
    # The logs go with the merged shards; keep those of failed workers.
    for name in os.listdir(folder):
        if name.endswith('.log'):
            path = os.path.join(folder, name)
            with open(path) as f:
                text = f.read()
            if 'Traceback' in text:
                print(f'[jobs] {name}:\n{text[-2000:]}', flush=True)
            os.remove(path)
    merge_shards(store, args.out, command)


#: the protocol settings (section, setting) a reused sweep cell must share
#: with the table
PROTOCOL = (('train', 'lr'), ('train', 'l2'), ('train', 'epochs'),
            ('train', 'eval_every'), ('train', 'patience'),
            ('train', 'batch_size'), ('model', 'dim'))


def reuse_sweep_cells(store: ResultStore, path: str,
                      args: argparse.Namespace) -> int:
    r"""Adds the cells of the validation-sweep file :obj:`path`
    (benchmarks/adar_sweep.py, e.g. its 5-seed ``--compare`` runs) that are
    Table 2 cells: a ``transition`` or ``reweight`` cell of one of
    :obj:`args.models` whose settings are exactly the variant's
    (:func:`variant_settings`) and whose protocol (:obj:`PROTOCOL`) is the
    table's. Records the file in :obj:`meta['reused']`. Returns the number
    of cells added."""
    with open(path) as f:
        theirs = json.load(f)
    added = 0
    ours: Dict[str, Dict[str, Any]] = {}
    for section, name in PROTOCOL:
        ours.setdefault(section, {})[name] = getattr(getattr(args.cfg,
                                                             section), name)
    for cell in theirs['cells'].values():
        a = recorded_settings(cell)

        def same(want: Dict[str, Dict[str, Any]]) -> bool:
            return all(a.get(section, {}).get(k) == v  # noqa: B023
                       for section, values in want.items()
                       for k, v in values.items())

        model, seed = a.get('model', {}).get('model'), cell.get('seed')
        if model not in args.models or not same(ours):
            continue
        for variant in ('transition', CONTROL):
            if same(variant_settings(args, model, variant)):
                key = cell_key(a['data']['dataset'], model, variant, seed)
                if key not in store.data['cells']:
                    store.data['cells'][key], added = cell, added + 1
    if added:
        reused = store.data['meta'].setdefault('reused', [])
        if path not in reused:
            reused.append(path)
        write_json(store.data, f'{args.out}.json')
    return added


def run_table(args: argparse.Namespace, task: TableTask) -> str:
    r"""Trains the missing cells of :obj:`task`'s part of Table 2 (in
    :obj:`args.jobs` worker processes when > 1) and returns its markdown."""
    store = open_store(args, task.name)
    for path in args.reuse_sweep:
        print(f'[reuse] {path}: {reuse_sweep_cells(store, path, args)} '
              'cells')
    if args.jobs > 1 and not args.report_only:
        run_jobs(args, store)  # the workers trained what they could
    for dataset in args.datasets if args.jobs == 1 else []:
        shared: List[Any] = []  # the dataset's data once loaded

        def data(dataset: str = dataset, shared: List[Any] = shared) -> Any:
            if task.load is None:
                return None
            if not shared:
                shared.append(task.load(args, dataset))
            return shared[0]

        for model in args.models:
            for variant in args.variants:
                for seed in args.seeds:
                    cfg = cell_config(args, dataset, model, variant, seed)
                    key = cell_key(dataset, model, variant, seed)
                    store.get_or_run(key, lambda: task.run_cell(  # noqa: B023
                        args, cfg, data(),  # noqa: B023
                        out=cell_run_dir(args.out, key)))  # noqa: B023
    store.save()
    write_json(store.data, args.json)
    return table_markdown(args, task, store.data)


def table_markdown(args: argparse.Namespace, task: TableTask,
                   data: Dict[str, Any]) -> str:
    r"""The markdown of :obj:`task`'s part of Table 2 from the result file's
    :obj:`data` (cells of :obj:`args.datasets`, :obj:`models`,
    :obj:`variants`, :obj:`seeds`)."""
    cells = data['cells']
    variants = [v for v in VARIANTS if v in args.variants]

    def key_of(d: str, m: str) -> Callable[[str, int], str]:
        return lambda v, s: cell_key(d, m, v, s)

    rows = {d: {m: summarize(cells, variants, 'base', args.seeds,
                             key_of(d, m))
                for m in args.models} for d in args.datasets}
    vs_control: Dict[str, Dict[str, Any]] = {d: {} for d in args.datasets}
    if 'transition' in variants and CONTROL in variants:
        for d in args.datasets:
            for m in args.models:
                row = summarize(cells, [CONTROL, 'transition'], CONTROL,
                                args.seeds, key_of(d, m))[1]
                if row['seeds'] and any(
                        cell_key(d, m, CONTROL, s) in cells
                        for s in args.seeds):
                    vs_control[d][m] = row
    sections = [dataset_table(d, args.models, rows[d], task.paper,
                              task.paper_label, vs_control[d])
                for d in args.datasets]
    shown = [cells[key] for key in (
        cell_key(d, m, v, s) for d in args.datasets for m in args.models
        for v in variants for s in args.seeds) if key in cells]
    note = f'{task.paper_note}\n\n' if task.paper_note else ''
    devices = sorted({c.get('device', '?') for c in shown}) or ['-']
    return (f'# Table 2 ({task.title})\n\n'
            + command_lines(data['meta']) +
            ''.join(f'Reused: the cells with these settings of `{p}` (its '
                    'commands are listed in its .md)  \n'
                    for p in data['meta'].get('reused', [])) +
            f"Date: {data['meta'].get('updated', '')}  \n"
            f'{protocol_text(task, args, shown)} Mean ± std over seeds; '
            f'RelImp: relative improvement of the means over the seeds '
            f'both rows have (named where fewer than the seeds of the '
            f'means); p: two-sided paired t-test over those seeds '
            f'(+ADAR against the base, and against the control). The paper '
            f'has one ADAR row: its numbers stand beside each of our ADAR '
            f'rows. s/epoch: '
            f'training seconds per epoch (mean over seeds) on '
            f"{' / '.join(devices)} (per cell: the settings table). Training "
            'settings per model: see below (read from the cells).\n\n' +
            note +
            f'## Overview (ours, {task.paper_label} in brackets; its RelImp '
            'as printed)\n\n' +
            overview_table(args.datasets, args.models, rows, task.paper,
                           variants, vs_control, len(args.seeds)) +
            '\n## Seconds per training epoch (one value per variant, in the '
            'order of the rows)\n\n' +
            speed_table(args.datasets, args.models, rows) +
            '\n## Training settings (from the cells)\n\n' +
            settings_table(args.datasets, args.models, cells, args.seeds,
                           variants) +
            '\n## Per dataset\n\n' + '\n'.join(sections))


def _cf_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--ahns-split', action='store_true',
                        help='MF + AHNS on the published AHNS split instead')
    parser.add_argument('--ahns-split-root', default=None,
                        help='folder of its train.txt / test.txt (default: '
                        '<mirror>/amazon-sports-ahns)')


def _cf_quick(args: argparse.Namespace) -> None:
    # larger batches: fewer full-graph propagations
    args.cfg = args.cfg.replace({'train': {'batch_size': 8192}})
    args.models = [m for m in args.models if m in ('lightgcn', 'ngcf')] \
        or ['lightgcn']
    if args.ahns_split:
        args.variants = ['base']


def _cf_protocol(settings: Dict[str, Dict[str, Any]],
                 args: argparse.Namespace) -> str:
    val_ratio = settings['split']['val_ratio']
    return ('Protocol: per-user random split 80/20 (seeded by the seed), '
            f'{100 * val_ratio:.0f}% of each user\'s training part held '
            'out for early stopping (evaluated every *eval every* epochs, '
            'stopped after *patience* evaluations without improvement); test '
            'metrics in % at the validation-selected epoch, full ranking.')


def _sr_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--max-users', type=int, default=None,
                        help='keep only the first N users (smoke tests)')


def _sr_quick(args: argparse.Namespace) -> None:
    args.max_users = args.max_users or 1000


def _sr_protocol(settings: Dict[str, Dict[str, Any]],
                 args: argparse.Namespace) -> str:
    mask = 'masked' if settings['train']['mask_history'] else 'not masked'
    max_users = getattr(args, 'max_users', None)
    subset = (f' Only the first {max_users} users of each dataset.'
              if max_users else '')
    return ('Protocol: leave-one-out on the original data (the last item of '
            "each user's chronological sequence is the test target, the one "
            'before it the validation target, the rest the training '
            'sequence; inputs are the latest N = '
            f"{settings['split']['max_len']} items), "
            'loaded once per dataset for every cell; BPR with one uniform '
            'negative per position (+ADAR adds the generated one of Eq. 12); '
            'early stopping on validation R@20 (evaluated every *eval every* '
            'epochs, stopped after *patience* evaluations without '
            'improvement); test metrics in % at the '
            f'selected epoch, full ranking over all items, user history {mask}.'
            f'{subset}')


def cell_run_dir(out: str, key: str) -> str:
    r"""The run directory of the cell :obj:`key` of the result file
    :obj:`<out>.json`."""
    return os.path.join(f'{out}.runs', *key.split('/'))


def run_cell(args: argparse.Namespace, cfg: Config,
             data: Optional[RunData] = None,
             model_factory: Optional[Callable] = None,
             out: Optional[str] = None) -> Dict[str, Any]:
    r"""Trains one cell of config :obj:`cfg` (on :obj:`data` when given: a
    dataset loaded once for all its cells), with the table's outputs
    (:obj:`--checkpoint`, :obj:`--progress`). With a run directory
    :obj:`out`, the cell continues there from its last evaluation if it was
    interrupted (else it starts afresh there), and its checkpoints are
    removed once it has finished (the report is the caller's to keep)."""
    resume = (out is not None and os.path.exists(os.path.join(out, LAST))
              and not rundir.is_finished(out))  # (killed before its report
    # was stored: trained again)
    if resume:
        print(f'[resume] {out}', flush=True)
    report = run.train(cfg, out, data=data, model_factory=model_factory,
                       checkpoint=args.checkpoint, progress=args.progress,
                       overwrite=True, resume=resume, plot=False)
    if out is not None:
        shutil.rmtree(os.path.join(out, CHECKPOINTS), ignore_errors=True)
    return report


#: --task -> its part of Table 2
TASKS: Dict[str, TableTask] = {
    'cf': TableTask(
        name='cf', title='collaborative filtering', models=tuple(CF_MODELS),
        paper=PAPER_CF, add_args=_cf_args,
        defaults=dict(eval_every=5, patience=10, progress=False),
        # the split depends on the seed: each cell loads it
        quick=_cf_quick, run_cell=run_cell, protocol=_cf_protocol),
    'sr': TableTask(
        name='sr', title='sequential recommendation', models=SR_MODELS,
        paper=PAPER_SR, add_args=_sr_args,
        defaults=dict(eval_every=1, patience=10, progress=False),
        quick=_sr_quick, run_cell=run_cell, protocol=_sr_protocol,
        load=load_sr_data,
        paper_label=SR_PAPER_LABEL, paper_note=SR_PAPER_NOTE),
}


def run_cf_table(args: argparse.Namespace) -> str:
    r"""The CF part of Table 2 (markdown)."""
    return run_table(args, TASKS['cf'])


def run_sr_table(args: argparse.Namespace) -> str:
    r"""The SR part of Table 2 (markdown)."""
    return run_table(args, TASKS['sr'])


def ahns_split_data(root: str):
    r"""The published AHNS split as the data of a run."""
    train, val, test = read_lightgcn_split(root)
    stats = {
        'dataset': 'amazon-sports-ahns',
        'users': int(train['user'].num_nodes),
        'items': int(train['item'].num_nodes),
        'train': int(train[EDGE].edge_label_index.size(1)),
        'val': 0,
        'test': int(test[EDGE].edge_label_index.size(1)),
        'split': 'published (read_lightgcn_split)',
    }
    stats['interactions'] = stats['train'] + stats['test']
    return RunData(train, val, test, stats)


def run_ahns_split(args: argparse.Namespace) -> str:
    r"""MF + AHNS (and optionally +ADAR) on the published AHNS split of
    Amazon-Sports; returns the markdown comparing with the authors' numbers."""
    root = args.ahns_split_root or os.path.join(
        args.cfg.data.mirror or default_mirror() or '', 'amazon-sports-ahns')
    if not os.path.exists(os.path.join(root, 'train.txt')):
        raise SystemExit(f"no AHNS split under '{root}' (use "
                         f"--ahns-split-root)")
    splits = ahns_split_data(root)
    store = open_store(args, 'ahns-split')
    key = lambda v, s: f'ahns-split/mf-ahns/{v}/seed{s}'  # noqa: E731
    for variant in args.variants:
        for seed in args.seeds:
            cfg = args.cfg.replace({
                'run': {'seed': seed}, 'sampler': {'sampler': 'ahns'},
                'train': {'augmenter': 'none' if variant == 'base'
                          else 'adar'}})
            store.get_or_run(key(variant, seed), lambda: run_cell(
                args, cfg, data=splits,  # noqa: B023
                model_factory=matrix_factorization,
                out=cell_run_dir(args.out, key(variant, seed))))  # noqa: B023
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
            + command_lines(store.data['meta']) +
            f"Date: {store.data['meta']['updated']}  \n"
            'No validation file: the epoch is selected on the test set (the '
            "authors' protocol; optimistic). Metrics in %, full ranking, "
            'mean ± std over seeds.\n\n' + '\n'.join(lines) + '\n')


def _meta(args: argparse.Namespace, task: str) -> Dict[str, Any]:
    return {'task': task, 'command': command_line(),
            'updated': datetime.datetime.now().isoformat(timespec='seconds'),
            'device': args.cfg.run.device}


def open_store(args: argparse.Namespace, task: str) -> ResultStore:
    r"""The result file :obj:`<out>.json` of :obj:`task`; refuses a file
    written by another task (files of older versions record no task)."""
    store = open_results(f'{args.out}.json', args)
    found = store.data['meta'].get('task')
    if found is not None and found != task:
        raise SystemExit(f"'{args.out}.json' holds '{found}' results, not "
                         f"'{task}' ones (use another --out)")
    if not args.report_only:
        meta = store.data['meta']
        for old in ('adar_weight', 'adar_num_steps', 'epochs'):
            meta.pop(old, None)  # flat copies of settings of older versions
        meta.update(_meta(args, task))
    return store


def build_parser(task: str = 'cf') -> argparse.ArgumentParser:
    r"""The flags of :obj:`task` (those of the examples) and of the table."""
    spec = TASKS[task]
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description=__doc__.split('\n')[0],
        epilog='The model flags depend on --task (see --task sr --help).')
    add_config_args(parser, config_file=False)  # --task is one of them
    add_output_args(parser, run_dir=False)
    spec.add_args(parser)
    parser.add_argument('--datasets', nargs='+', default=list(DATASETS),
                        choices=DATASETS)
    parser.add_argument('--models', nargs='+', default=list(spec.models),
                        choices=list(spec.models))
    parser.add_argument('--variants', nargs='+',
                        default=['base', 'transition', CONTROL],
                        choices=VARIANTS)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument('--out', default=None,
                        help='writes <out>.json and <out>.md (default: '
                        'benchmarks/results/table2_<task> or ahns_split)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny configuration for the test suite')
    parser.add_argument('--control-weight', type=float, default=None,
                        help="λ of the 'reweight' control (default: its "
                        'Beauty-validated λ per model, VALIDATED)')
    parser.add_argument('--reuse-sweep', nargs='+', default=[],
                        metavar='JSON', help='first add the transition and '
                        'reweight cells of these benchmarks/adar_sweep.py '
                        'result files that have exactly the settings and '
                        'protocol of this table')
    parser.add_argument('--jobs', type=int, default=1,
                        help='worker processes, one (dataset, model, seed) '
                        'job each (shards under <out>.shards/)')
    parser.add_argument('--time-limit', type=float, default=None,
                        metavar='SECONDS', help='--jobs: start no job after '
                        'this many seconds, stop the running ones then')
    add_store_args(parser)
    parser.set_defaults(task=task, **spec.defaults)
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_config_args(pre, config_file=False)  # --task decides the flags
    task = getattr(pre.parse_known_args(argv)[0], 'task', 'cf')
    args = build_parser(task).parse_args(argv)
    # The table's settings; +ADAR is the paper's (Eq. 11's t* on the
    # reverse chain), as in the committed tables:
    args.cfg = config_from_args(args, preset=PRESETS['adar-eq11'])
    args.ahns_split = getattr(args, 'ahns_split', False)
    if args.out is None:
        args.out = os.path.join('benchmarks', 'results', 'ahns_split' if
                                args.ahns_split else f'table2_{args.cfg.run.task}')
    if args.quick:
        args.cfg = args.cfg.replace({'train': {'epochs': 1, 'eval_every': 1}})
        args.seeds, args.datasets = args.seeds[:1], ['beauty']
        TASKS[args.cfg.run.task].quick(args)
    return args


def main() -> None:
    args = parse_args()
    text = (run_ahns_split(args) if args.ahns_split else
            run_table(args, TASKS[args.cfg.run.task]))
    write_text(f'{args.out}.md', text)
    print(text)


if __name__ == '__main__':
    main()
