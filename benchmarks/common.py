r"""Shared by the table benchmarks: resumable result cells, mean ± std and paired
t-tests across seeds, markdown tables."""
import argparse
import json
import math
import os
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adar_pyg.experiment import write_json  # noqa: E402

METRICS = ('recall@10', 'recall@20', 'ndcg@10', 'ndcg@20')


class ResultStore:
    r"""A JSON file of finished cells keyed by name: a cell that is already there
    is not recomputed (so an interrupted table resumes where it stopped).

    :obj:`meta['commands']` lists every command that computed a cell of the
    file (a table may be assembled from several runs, e.g. one per core,
    merged with :meth:`merge`), see :func:`command_lines`. With
    :obj:`train=False` (``--report-only``, see :func:`add_store_args`)
    missing cells are not computed."""
    def __init__(self, path: str, meta: Optional[Dict[str, Any]] = None,
                 train: bool = True):
        if not train and not os.path.exists(path):
            raise SystemExit(f"--report-only: no results file '{path}'")
        self.path, self.train, self.changed = path, train, False
        self.command = ' '.join(['python'] + sys.argv)
        self.data: Dict[str, Any] = {'meta': meta or {}, 'cells': {}}
        if os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)
            self.data.setdefault('cells', {})
            old = self.data['meta']
            if self.data['cells'] and 'commands' not in old and 'command' in old:
                old['commands'] = [old['command']]  # Files of older versions.
        if meta:
            self.data['meta'].update(meta)

    def get_or_run(
        self,
        key: str,
        fn: Callable[[], Dict[str, Any]],
        log: Callable[[str], None] = print,
    ) -> Optional[Dict[str, Any]]:
        r"""The cell :obj:`key`, computed by :obj:`fn` and saved if missing
        (:obj:`None` if missing and :obj:`train=False`)."""
        if key in self.data['cells']:
            log(f'[cached] {key}')
            return self.data['cells'][key]
        if not self.train:  # --report-only: the cell stays missing.
            log(f'[missing] {key}')
            return None
        log(f'[run] {key}')
        out = fn()
        self.data['cells'][key] = out
        commands = self.data['meta'].setdefault('commands', [])
        if self.command not in commands:
            commands.append(self.command)
        write_json(self.data, self.path)
        return out

    def merge(self, path: str) -> int:
        r"""Adds the cells of the result file :obj:`path` (e.g., of a run on
        another core or machine) and the commands that computed them; a cell
        in both files must be identical. Records the merge command in
        :obj:`meta['merges']`. Returns the number of cells added."""
        if not os.path.exists(path):
            raise SystemExit(f"--merge: no results file '{path}'")
        with open(path) as f:
            other = json.load(f)
        meta, theirs = self.data['meta'], other.get('meta', {})
        if meta.get('task') and theirs.get('task') not in (None,
                                                            meta['task']):
            raise SystemExit(f"--merge: '{path}' holds '{theirs['task']}' "
                             f"results, not '{meta['task']}' ones")
        for key in ('task', 'device'):
            if key in theirs:
                meta.setdefault(key, theirs[key])
        added = 0
        for key, cell in other.get('cells', {}).items():
            mine = self.data['cells'].get(key)
            if mine is None:
                self.data['cells'][key], added = cell, added + 1
            elif mine != cell:
                raise SystemExit(f"--merge: cell '{key}' differs between "
                                 f"'{self.path}' and '{path}'")
        commands = meta.setdefault('commands', [])
        for command in theirs.get('commands') or [theirs.get('command')]:
            if command and command not in commands:
                commands.append(command)
        meta['updated'] = max(meta.get('updated', ''),
                              theirs.get('updated', ''))
        merges = meta.setdefault('merges', [])
        if self.command not in merges:
            merges.append(self.command)
        self.changed = True
        return added

    def save(self) -> None:
        r"""Writes the file (with :obj:`train=False`, only after a
        :meth:`merge`: otherwise nothing changed)."""
        if self.train or self.changed:
            write_json(self.data, self.path)


def add_store_args(parser: argparse.ArgumentParser) -> None:
    r"""The ``--report-only`` and ``--merge`` flags of the table benchmarks
    (see :func:`open_results`)."""
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: write <out>.md from the cells '
                        'already in <out>.json (missing ones are left out)')
    parser.add_argument('--merge', nargs='+', default=[], metavar='JSON',
                        help='first add the cells of these result files '
                        '(runs split over cores or machines, each with its '
                        'own --out) to <out>.json; a cell in two files must '
                        'be identical')


def open_results(path: str, args: argparse.Namespace) -> ResultStore:
    r"""The result file :obj:`path` as a :class:`ResultStore` (read-only
    with :obj:`args.report_only`), with the files :obj:`args.merge` (if
    any) merged in (and saved)."""
    merge = getattr(args, 'merge', None) or []
    if merge and not os.path.exists(path):
        write_json({'meta': {}, 'cells': {}}, path)
    store = ResultStore(path, train=not args.report_only)
    for other in merge:
        print(f'[merge] {other}: {store.merge(other)} new cells')
    if store.changed:
        store.save()
    return store


def command_lines(meta: Dict[str, Any]) -> str:
    r"""The markdown lines naming the commands that computed the cells of a
    result file (:obj:`meta['command']` for files of older versions) and
    those that merged result files into it."""
    commands = meta.get('commands') or [meta.get('command', '')]
    return (''.join(f'Command: `{c}`  \n' for c in commands) +
            ''.join(f'Merged: `{c}`  \n' for c in meta.get('merges', [])))


def mean_std(values: Sequence[float]) -> tuple:
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    var = sum((v - mean)**2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> float:
    r"""Two-sided p-value of the paired t-test of :obj:`b` against :obj:`a`
    (same seeds, same order); NaN with fewer than 2 pairs."""
    if len(a) != len(b) or len(a) < 2:
        return math.nan
    from scipy import stats
    if all(x == y for x, y in zip(a, b)):
        return 1.0
    return float(stats.ttest_rel(b, a).pvalue)


def summarize(cells: Dict[str, Dict[str, Any]], groups: Iterable[str],
              base: str, seeds: Sequence[int],
              key: Callable[[str, int], str],
              split: str = 'test') -> List[Dict[str, Any]]:
    r"""Mean ± std per group over :obj:`seeds`, and the relative improvement and
    paired t-test p-value of each group against :obj:`base` (seeds present in
    both), on the metrics of :obj:`split` (a key of each cell, e.g.
    :obj:`'test'` or :obj:`'test_ood'`)."""
    rows = []
    for group in groups:
        row: Dict[str, Any] = {'group': group}
        done = [s for s in seeds if key(group, s) in cells]
        row['seeds'] = done
        for m in METRICS:
            vals = [cells[key(group, s)][split][m] for s in done]
            row[m] = mean_std(vals)
            common = [s for s in done if key(base, s) in cells]
            if group != base and common:
                a = [cells[key(base, s)][split][m] for s in common]
                b = [cells[key(group, s)][split][m] for s in common]
                mean_a = sum(a) / len(a)  # 0 for untrained (--quick) models
                row[f'{m}_relimp'] = ((sum(b) / len(b)) / mean_a - 1
                                      if mean_a > 0 else math.nan)
                row[f'{m}_p'] = paired_ttest(a, b)
        row['seconds_per_epoch'] = mean_std(
            [cells[key(group, s)]['seconds_per_epoch'] for s in done])
        row['best_epoch'] = mean_std(
            [cells[key(group, s)]['best_epoch'] for s in done])
        rows.append(row)
    return rows


def markdown(rows: List[Dict[str, Any]], title: str,
             paper: Optional[Dict[str, Dict[str, float]]] = None) -> str:
    r"""A table in percent (as in the paper) with mean ± std, relative
    improvement and p-value against the base row."""
    head = ['variant', 'seeds'] + [m.replace('recall', 'R').replace(
        'ndcg', 'N') for m in METRICS] + ['RelImp R@20', 'p (R@20)',
                                          'p (N@20)', 's/epoch', 'best epoch']
    if paper:
        head.append('paper R@20')
    lines = [f'### {title}', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['group'], str(len(r['seeds']))]
        for m in METRICS:
            mean, std = r[m]
            cells.append(f'{100 * mean:.2f} ± {100 * std:.2f}')
        rel = r.get('recall@20_relimp')
        cells.append('' if rel is None or math.isnan(rel) else
                     f'{100 * rel:+.2f}%')
        for m in ('recall@20', 'ndcg@20'):
            p = r.get(f'{m}_p')
            cells.append('' if p is None or math.isnan(p) else f'{p:.3g}')
        cells.append(f"{r['seconds_per_epoch'][0]:.2f}")
        cells.append(f"{r['best_epoch'][0]:.0f}")
        if paper:
            v = paper.get(r['group'], {}).get('recall@20')
            cells.append('' if v is None else f'{v:.2f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'
