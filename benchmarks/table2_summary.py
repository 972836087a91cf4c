r"""Table 2 of the ADAR paper on all four datasets, with the control beside
ADAR: ``benchmarks/results/table2.md`` assembled from the result files of
``benchmarks/table2.py`` (CPU and GPU runs), and the answer to how many
cells ADAR wins against the base and against the control.

    python benchmarks/table2_summary.py

Each (dataset, model) row is taken whole from one result file (the one with
the most ``transition`` / ``reweight`` cells for it, the first listed on a
tie), so that the variants of a row ran on one device with one protocol; the
file and device of every row are named. The answer counts the rows with at
least two seeds of the base, +ADAR and the control: +ADAR ahead with
p < 0.05 (two-sided paired t over seeds, R@20 and N@20), before and after a
Holm correction over all the rows' tests of one comparison. The figure
``table2.png`` shows the same rows at a glance: each row's change over the
base of +ADAR and of the control, with its 95% paired-t interval.
"""
import argparse
import json
import os
from typing import Any, Dict, List, Sequence, Tuple

from table2 import CONTROL, DATASETS, TASKS, cell_key, table_markdown

from adar_pyg.config import Config
from adar_pyg.pipeline import DATASETS as DATASET_CLASSES
from adar_pyg.io import write_text
from adar_pyg.report import holm, paired_ttest

#: the result files per task, in order of preference (see the module doc)
SOURCES = {
    'cf': ['benchmarks/results/table2_cf.json',
           'benchmarks/results/table2_cf_cuda.json'],
    'sr': ['benchmarks/results/table2_sr.json',
           'benchmarks/results/table2_sr_cuda.json'],
}
SHOWN = ('base', 'transition', CONTROL)
TESTED = ('recall@20', 'ndcg@20')


#: Table 1 of the paper: users, items, interactions (as printed, in
#: millions), average length, density (%)
PAPER_TABLE1 = {'beauty': (22363, 12101, 0.2, 8.9, 0.05),
                'toys': (19412, 11924, 0.17, 8.6, 0.07),
                'sports': (35598, 18357, 0.3, 8.3, 0.05),
                'yelp': (30431, 20033, 0.3, 8.3, 0.05)}


def statistics_table() -> str:
    r"""The four datasets' statistics (declared on the dataset classes and
    checked whenever one is loaded) beside Table 1 of the paper."""
    lines = ['| dataset | users (paper) | items (paper) | interactions '
             '(paper) | avg. length (paper) | density % (paper) | counts '
             'match |',
             '|---|---|---|---|---|---|---|']
    for name, (users, items, inter, length, density) in PAPER_TABLE1.items():
        st = DATASET_CLASSES[name].stats
        ours = (st['users'], st['items'], st['interactions'])
        our_len = ours[2] / ours[0]
        our_density = 100 * ours[2] / (ours[0] * ours[1])
        match = (ours[:2] == (users, items)
                 and round(ours[2] / 1e6, 2 if inter < 0.2 else 1) == inter)
        notes = [what for what, same in (
            ('avg. length', round(our_len, 1) == length),
            ('density', round(our_density, 2) == density)) if not same]
        lines.append(
            f'| {name} | {ours[0]:,} ({users:,}) | {ours[1]:,} ({items:,}) '
            f'| {ours[2]:,} ({inter}m) | {our_len:.1f} ({length}) | '
            f'{our_density:.3f} ({density}) | '
            f"{'yes' if match else 'no'}"
            f"{'; printed ' + ' and '.join(notes) + ': differs' if notes else ''}"
            ' |')
    return '\n'.join(lines) + '\n'


def load(paths: Sequence[str]) -> List[Tuple[str, Dict[str, Any]]]:
    r"""The result files of :obj:`paths` that exist, as (path, data)."""
    out = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                out.append((path, json.load(f)))
    return out


def pick_rows(files: List[Tuple[str, Dict[str, Any]]], models: Sequence[str],
              seeds: Sequence[int]) -> Dict[Tuple[str, str], str]:
    r"""(dataset, model) -> the path of the file its row is taken from (the
    one with the most ``transition`` / ``reweight`` cells; rows no file ran
    those variants for are left out)."""
    out = {}
    for d in DATASETS:
        for m in models:
            best, count = None, 0
            for path, data in files:
                n = sum(cell_key(d, m, v, s) in data['cells']
                        for v in ('transition', CONTROL) for s in seeds)
                if n > count:
                    best, count = path, n
            if best is not None:
                out[(d, m)] = best
    return out


def row_tests(cells: Dict[str, Any], d: str, m: str, seeds: Sequence[int],
              other: str) -> Dict[str, Tuple[float, float]]:
    r"""Per tested metric: (relative improvement of +ADAR's mean over
    :obj:`other`'s, paired-t p) on the seeds both have."""
    common = [s for s in seeds if cell_key(d, m, 'transition', s) in cells
              and cell_key(d, m, other, s) in cells]
    out = {}
    if len(common) < 2:
        return out
    for metric in TESTED:
        a = [cells[cell_key(d, m, other, s)]['test'][metric] for s in common]
        b = [cells[cell_key(d, m, 'transition', s)]['test'][metric]
             for s in common]
        out[metric] = (paired_interval(a, b)[0], paired_ttest(a, b))
    return out


def paired_interval(a: Sequence[float], b: Sequence[float],
                    level: float = 0.95) -> Tuple[float, float]:
    r"""The relative change of :obj:`b` over :obj:`a` (paired seeds): the
    mean of :math:`b - a` over the mean of :obj:`a` (RelImp, as in the
    tables) and the half-width of its :obj:`level` paired-t interval, on the
    same scale."""
    import numpy as np
    from scipy import stats
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    scale = float(np.mean(a))
    half = (stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) /
            np.sqrt(d.size))
    return float(d.mean()) / scale, float(half) / scale


def plot_changes(rows: List[Tuple[str, str, str, Dict[str, Any]]],
                 seeds: Sequence[int], path: str) -> int:
    r"""Writes the figure of the rows with at least two seeds of all three
    variants: per task (one x scale each: the SR gains are ten times the CF
    ones) and tested metric, the change of +ADAR and of the control over
    the base in % (marker: RelImp; bar: the 95% paired-t interval).
    Returns the number of rows drawn (none: no figure)."""
    drawn: Dict[str, List[Tuple[str, Dict[str, Any]]]] = {}
    for task, d, m, cells in rows:
        common = [s for s in seeds if all(cell_key(d, m, v, s) in cells
                                          for v in SHOWN)]
        if len(common) < 2:
            continue
        changes = {v: {metric: paired_interval(
            [cells[cell_key(d, m, 'base', s)]['test'][metric]
             for s in common],
            [cells[cell_key(d, m, v, s)]['test'][metric] for s in common])
            for metric in TESTED} for v in SHOWN[1:]}
        drawn.setdefault(task, []).append(
            (f'{m} / {d} ({len(common)} seeds)', changes))
    if not drawn:
        return 0
    from adar_pyg.plot import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(
        len(drawn), len(TESTED), squeeze=False,
        gridspec_kw={'height_ratios': [len(r) for r in drawn.values()]},
        figsize=(5 * len(TESTED),
                 0.45 * sum(map(len, drawn.values())) + 1.4 * len(drawn)))
    names = {'transition': '+ADAR', CONTROL: f'control ({CONTROL})'}
    for row, (task, items) in zip(axes, drawn.items()):
        for ax, metric in zip(row, TESTED):
            for k, (v, marker) in enumerate(zip(SHOWN[1:], 'os')):
                ax.errorbar([100 * c[v][metric][0] for _, c in items],
                            [i + 0.15 * (2 * k - 1) for i in
                             range(len(items))],
                            xerr=[100 * c[v][metric][1] for _, c in items],
                            fmt=marker, capsize=3, ms=5, label=names[v])
            ax.axvline(0, color='grey', lw=1)
            ax.set_yticks(range(len(items)))
            ax.set_yticklabels([label for label, _ in items], fontsize=8)
            ax.set_ylim(len(items) - 0.5, -0.5)
            ax.set(xlabel=f'test {metric}: change over the base (%)',
                   title=f'{task.upper()}: {metric}')
            ax.grid(axis='x', alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='upper center', ncol=2, fontsize=8,
               title='RelImp over the base; bars: 95% paired-t interval',
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    save_figure(fig, path, tight=False)
    return sum(map(len, drawn.values()))


def answer(rows: List[Tuple[str, str, str, Dict[str, Any]]],
           seeds: Sequence[int]) -> str:
    r"""The markdown answer: in how many rows +ADAR beats the base, and the
    control, with p < 0.05 (raw and Holm-corrected over the rows' tests),
    then every test's RelImp, p and Holm-adjusted p, one line per row."""
    lines, detail = [], {}
    for other in ('base', CONTROL):
        tests = []  # (row name, metric, relimp, p)
        for task, d, m, cells in rows:
            for metric, (rel, p) in row_tests(cells, d, m, seeds,
                                              other).items():
                tests.append((f'{m}/{d}', metric, rel, p))
        rows_tested = sorted({t[0] for t in tests})
        if not tests:
            lines.append(f'- vs {other}: no row has two paired seeds yet.')
            continue
        adjusted = holm([t[3] for t in tests])
        for t, q in zip(tests, adjusted):
            detail.setdefault(t[0], {})[(other, t[1])] = (t[2], t[3], q)
        wins = {t[0] for t in tests if t[2] > 0 and t[3] < 0.05}
        wins_holm = {t[0] for t, q in zip(tests, adjusted)
                     if t[2] > 0 and q < 0.05}
        losses = {t[0] for t in tests if t[2] < 0 and t[3] < 0.05}
        lines.append(
            f'- **+ADAR vs {other}**: {len(rows_tested)} rows with ≥ 2 '
            f'paired seeds; +ADAR ahead with p < 0.05 on R@20 or N@20 in '
            f'**{len(wins)}** ({", ".join(sorted(wins)) or "none"}), after a '
            f'Holm correction over the {len(tests)} tests in '
            f'**{len(wins_holm)}** ({", ".join(sorted(wins_holm)) or "none"})'
            f'; behind with p < 0.05 in {len(losses)}'
            f'{" (" + ", ".join(sorted(losses)) + ")" if losses else ""}.')
    if detail:
        columns = [(o, m) for o in ('base', CONTROL) for m in TESTED]
        short = {'recall@20': 'R@20', 'ndcg@20': 'N@20'}
        lines += ['', 'Each test: RelImp of +ADAR over the base or the '
                  'control, paired-t p, and p after the Holm correction '
                  '(over the tests against the same variant); **bold**: '
                  'Holm p < 0.05, either way.', '',
                  '| row | ' + ' | '.join(f'vs {o} {short.get(m, m)}'
                                         for o, m in columns) + ' |',
                  '|---|' + '---|' * len(columns)]
        for name in sorted(detail):
            cells = []
            for key in columns:
                if key not in detail[name]:
                    cells.append('')
                    continue
                rel, p, q = detail[name][key]
                text = f'{rel * 100:+.2f}%, p {p:.2g}, Holm {q:.2g}'
                cells.append(f'**{text}**' if q < 0.05 else text)
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--seeds', nargs='+', type=int,
                        default=[0, 1, 2, 3, 4])
    parser.add_argument('--out', default='benchmarks/results/table2')
    args = parser.parse_args()
    sections, rows, origin = [], [], []
    for task_name, paths in SOURCES.items():
        task = TASKS[task_name]
        files = load(paths)
        picked = pick_rows(files, task.models, args.seeds)
        by_path = dict(files)
        cells: Dict[str, Any] = {}
        for (d, m), path in picked.items():
            theirs = by_path[path]['cells']
            count = {v: sum(cell_key(d, m, v, s) in theirs
                            for s in args.seeds) for v in SHOWN}
            # A variant with a single seed beside others with more is left
            # out of the row (not run yet) rather than cutting it to 1 seed:
            ran = [v for v in SHOWN if count[v] >= min(
                2, max(count.values()))]
            # Means, RelImp and p on the same seeds: those all variants have.
            common = [s for s in args.seeds
                      if all(cell_key(d, m, v, s) in theirs for v in ran)]
            for v in ran:
                for s in common:
                    cells[cell_key(d, m, v, s)] = theirs[cell_key(d, m, v, s)]
            devices = sorted({cells[k].get('device', '?') for k in cells
                              if k.startswith(f'{d}/{m}/')})
            origin.append(f'| {task_name} | {m} | {d} | `{path}` | '
                          f"{' / '.join(devices)} | {len(common)} |")
            rows.append((task_name, d, m, cells))
        models = [m for m in task.models if any((d, m) in picked
                                                for d in DATASETS)]
        if not models:
            continue
        meta = {'commands': [], 'merges': []}
        for _, data in files:
            for k in ('commands', 'merges'):
                meta[k] += [c for c in data['meta'].get(k, [])
                            if c not in meta[k]]
            meta.setdefault('reused', [])
            meta['reused'] += data['meta'].get('reused', [])
        # the defaults: the settings of cells that recorded none
        view = argparse.Namespace(
            datasets=list(DATASETS), models=models, variants=list(SHOWN),
            seeds=args.seeds, max_users=None,
            cfg=Config.build({'run': {'task': task_name}}))
        text = table_markdown(view, task, {'meta': meta, 'cells': cells})
        sections.append(text.replace('# Table 2', '## Table 2', 1).replace(
            '\n## ', '\n### ').replace('\n### Table 2', '\n## Table 2'))
    head = ('# Table 2 on four datasets: base, +ADAR and the control\n\n'
            'Built by `python benchmarks/table2_summary.py` from the result '
            'files of `benchmarks/table2.py` (commands in each section). '
            '+ADAR: the transition point of Theorem 1 (forward source) at '
            'the λ / h / T validated on Beauty per model; control: '
            '`reweight` (the sampled negative counted again with weight λ) '
            'at its own Beauty-validated λ (`VALIDATED` in '
            'benchmarks/table2.py). Test metrics at the validation-selected '
            'epoch. Every row shows the seeds all its variants have (means, '
            'RelImp and p on the same seeds; the count is in the per-dataset '
            'tables); a variant with one seed beside others with more is '
            'shown as not run. A cell not run says its estimated cost on one CPU '
            'thread (5 seeds).\n\n## The answer so far\n\n' +
            answer(rows, args.seeds) +
            '\n## The datasets against Table 1 of the paper\n\n' +
            statistics_table() +
            '\nYelp is the paper\'s Yelp: users, items and interactions '
            'match; its printed average length 8.3 does not follow from its '
            'own counts (316,354 / 30,431 = 10.4), nor does Beauty\'s printed '
            'density. Yelp repeats '
            '11,830 (user, item) pairs (repeat visits): the CF split keeps '
            'each pair once (train + val + test = 304,524 in every Yelp '
            'cell), the sequences keep them all.\n' +
            '\n## Where each row comes from\n\n| task | model | dataset | '
            'file | device | seeds |\n|---|---|---|---|---|---|\n' +
            '\n'.join(origin) + '\n\n')
    if plot_changes(rows, args.seeds, f'{args.out}.png'):
        name = os.path.basename(args.out)
        head = head.replace(
            '\n## The datasets against', f'\n![Each row\'s change over the '
            f'base]({name}.png)\n\n## The datasets against', 1)
    write_text(f'{args.out}.md', head + '\n'.join(sections))
    print(head)


if __name__ == '__main__':
    main()
