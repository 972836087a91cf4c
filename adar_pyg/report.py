r"""Comparing runs: mean ± std over seeds, paired t-tests where runs pair up
by seed, markdown tables and plots — behind :obj:`adar-pyg report` and the
benchmark tables.

.. code-block:: python

    from adar_pyg.report import report_runs
    text = report_runs(['runs/base-s0', 'runs/base-s1', 'runs/adar-s0',
                        'runs/adar-s1'], out='runs/report')
"""
import json
import math
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from adar_pyg import defaults

METRICS = ('recall@10', 'recall@20', 'ndcg@10', 'ndcg@20')


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
    import warnings

    from scipy import stats
    if all(x == y for x, y in zip(a, b)):
        return 1.0
    with warnings.catch_warnings():  # Nearly equal differences: scipy warns
        warnings.simplefilter('ignore', RuntimeWarning)  # of its precision.
        return float(stats.ttest_rel(b, a).pvalue)


def holm(pvalues: Sequence[float]) -> List[float]:
    r"""Holm's step-down adjusted p-values (same order as given): the
    :math:`i`-th smallest of :math:`m` p-values is multiplied by
    :math:`m - i + 1`, then made non-decreasing and capped at 1. A NaN
    p-value (too few pairs) stays NaN and does not count in :math:`m`."""
    tested = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    order = sorted(tested, key=lambda i: pvalues[i])
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def paired_note(row: Dict[str, Any], base_seeds: Sequence[int]) -> str:
    r"""What a relative improvement of :obj:`row` (of :func:`summarize`)
    against the base with seeds :obj:`base_seeds` adds: the seeds it pairs
    on, when fewer than those of the two means shown beside it."""
    if 'paired' not in row or \
            list(row['paired']) == list(row['seeds']) == list(base_seeds):
        return ''
    return f" (paired seeds {', '.join(map(str, row['paired']))})"


def summarize(cells: Dict[str, Dict[str, Any]], groups: Iterable[str],
              base: str, seeds: Sequence[int],
              key: Callable[[str, int], str],
              split: str = defaults.SPLIT) -> List[Dict[str, Any]]:
    r"""Mean ± std per group over :obj:`seeds`, and the relative improvement and
    paired t-test p-value of each group against :obj:`base` (seeds present in
    both: :obj:`row['paired']`; :func:`markdown` says so when they are fewer
    than the seeds of the means), on the metrics of :obj:`split` (a key of
    each cell, e.g. :obj:`'test'` or :obj:`'test_ood'`)."""
    rows = []
    for group in groups:
        row: Dict[str, Any] = {'group': group}
        done = [s for s in seeds if key(group, s) in cells]
        row['seeds'] = done
        common = [s for s in done if key(base, s) in cells]
        if group != base:
            row['paired'] = common
        for m in METRICS:
            vals = [cells[key(group, s)][split][m] for s in done]
            row[m] = mean_std(vals)
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
    improvement and p-value against the base row. A relative improvement
    computed on fewer seeds than the means of its row or of the base row
    (only the seeds both have pair up) names its seeds."""
    head = ['variant', 'seeds'] + [m.replace('recall', 'R').replace(
        'ndcg', 'N') for m in METRICS] + ['RelImp R@20', 'p (R@20)',
                                          'p (N@20)', 's/epoch', 'best epoch']
    if paper:
        head.append('paper R@20')
    lines = [f'### {title}', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    base_seeds = next((r['seeds'] for r in rows if 'paired' not in r), [])
    for r in rows:
        cells = [r['group'], str(len(r['seeds']))]
        for m in METRICS:
            mean, std = r[m]
            cells.append(f'{100 * mean:.2f} ± {100 * std:.2f}')
        rel = r.get('recall@20_relimp')
        cells.append('' if rel is None or math.isnan(rel) else
                     f'{100 * rel:+.2f}%{paired_note(r, base_seeds)}')
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


def run_label(config: Dict[str, Dict[str, Any]],
              differing: Sequence[str]) -> str:
    r"""A short name of a run: the settings (:obj:`section.name`) that
    differ between the compared groups, those it does not read left out."""
    from adar_pyg.config.config import unused_settings
    parts, unused = [], unused_settings(config)
    for key in differing:
        if key in unused:  # (not a setting of this run)
            continue
        section, name = key.split('.', 1)
        parts.append(f'{name}={config.get(section, {}).get(name)}')
    return ', '.join(parts) or 'runs'


def group_runs(runs: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    r"""Groups runs (dicts with :obj:`config` and :obj:`result`) whose configs
    are equal up to the seed, to where they ran or found their data
    (:data:`adar_pyg.fingerprint.ENVIRONMENT`: device, threads, the data
    file's path) and to the settings they do not read
    (:func:`~adar_pyg.config.config.unused_settings`: ADAR's without an
    augmenter); each group is named by the settings in which the groups
    differ, in the order the runs were given."""
    from adar_pyg.config.config import unused_settings, with_defaults
    from adar_pyg.fingerprint import computed

    def flat(cfg: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
        cfg = with_defaults(cfg)  # (a run of an older version)
        unused = {'run.seed', 'split.split_seed', *unused_settings(cfg)}
        return {k: json.dumps(v) for k, v in computed(cfg).items()
                if k not in unused}

    flats = [flat(r['config']) for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    # (a setting that some runs do not read differs among those that do)
    differing = [k for k in keys if len({f[k] for f in flats if k in f}) > 1]
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run_label(run['config'], differing), []).append(run)
    return groups


def report_runs(run_dirs: Sequence[str], out: Optional[str] = None,
                split: str = defaults.SPLIT) -> str:
    r"""A markdown report comparing finished run directories, one table per
    dataset (runs of different datasets, trained on different versions of
    a data file, or tested on other test sets — see :func:`test_protocol`
    — are never compared; a run is given once): mean ± std per
    group of runs that differ only in the seed, relative improvement and
    paired t-test against the base group (the one without augmenter, else
    the first), all on the seeds every group has (see :func:`compare`),
    and, with :obj:`out`, :obj:`<out>/report.md` and
    :obj:`<out>/report.png` (one row of panels per dataset)."""

    from adar_pyg import fingerprint
    from adar_pyg.errors import RunDirError, UsageError
    from adar_pyg.io import atomic_path
    from adar_pyg.rundir import (FINGERPRINT, read_result, refuse_foreign,
                                 require_finished, run_files)
    if out and os.path.isdir(out) and run_files(out):
        raise RunDirError(f"--out '{out}' is a run directory: refusing to "
                          f"write a report into it",
                          hint='pass another folder as --out')
    if out:
        refuse_foreign(out, [], 'a report')  # (a file)
    seen = set()
    runs = []
    for d in run_dirs:
        if os.path.realpath(d) in seen:
            raise UsageError(f"run '{d}' is given twice")
        seen.add(os.path.realpath(d))
        require_finished(d)
        config = fingerprint.read_run_config(d)
        # (what it is grouped and labelled by is what it was trained with)
        fp = fingerprint.load(d) if os.path.isfile(
            os.path.join(d, FINGERPRINT)) else None
        if fp is not None:
            fingerprint.check_written(d, config, fp)
        elif 'seed' not in config.get('run', {}):  # (runs pair up by seed)
            raise RunDirError(f"run '{d}': config.yaml has no run.seed")
        result = read_result(d)
        if not result.get(split):  # (none, or empty: no validation split)
            have = [k for k in ('val', 'test', *sorted(
                k for k in result if k.startswith('test_')))
                if isinstance(result.get(k), dict) and result[k]]
            never = (' (a tuning trial is never tested)'
                     if split == 'test' else '')
            raise UsageError(
                f"run '{d}' has no '{split}' metrics",
                hint=f"it has {', '.join(have)} metrics: report them with "
                f"--split {have[0]}{never}" if have else None)
        # (its data files' digests: runs on other data never pair up)
        data = fp and fp.get('data')
        runs.append({'dir': d, 'config': config, 'result': result,
                     'data': data and fingerprint.sha256_json(data)})
    by_dataset: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        by_dataset.setdefault(dataset_of(run['config']), []).append(run)
    for dataset in list(by_dataset):  # One table per version of the data:
        if len({r['data'] for r in by_dataset[dataset]} - {None}) > 1:
            for run in by_dataset.pop(dataset):
                by_dataset.setdefault(f"{dataset} (data " + (
                    f"{run['data'][:8]})" if run['data'] else
                    'not recorded)'), []).append(run)
    for dataset in list(by_dataset):  # One table per test protocol:
        protocols = [test_protocol(r['config']) for r in by_dataset[dataset]]
        keys = sorted(set().union(*protocols))
        differing = [k for k in keys
                     if len({p.get(k) for p in protocols}) > 1]
        if differing:
            for run in by_dataset.pop(dataset):
                name = run_label(run['config'], differing)
                by_dataset.setdefault(f'{dataset} ({name})', []).append(run)
    sections, figures = [], {}
    for dataset, dataset_runs in by_dataset.items():
        text, groups = compare(dataset_runs, split, dataset)
        sections.append(text)
        figures[dataset] = groups
    head = ''
    if len(by_dataset) > 1:
        head = (f"{len(runs)} runs in {len(by_dataset)} tables "
                f"({', '.join(by_dataset)}): runs of different datasets, of "
                'different versions of a data file (the SHA-256 in each '
                'fingerprint.json) or with different test sets (task, test '
                'split, data filters) are never compared.\n\n')
    text = head + '\n'.join(sections)
    if out:
        os.makedirs(out, exist_ok=True)
        with atomic_path(os.path.join(out, 'report.md')) as tmp, \
                open(tmp, 'w') as f:
            f.write(text)
        from adar_pyg.plot import plot_comparison
        plot_comparison(
            {d: {n: [r['result'] for r in rs] for n, rs in groups.items()}
             for d, groups in figures.items()},
            os.path.join(out, 'report.png'), split=split,
            curves={d: {n: [r['result'].get('history', []) for r in rs]
                        for n, rs in groups.items()}
                    for d, groups in figures.items()})
    return text


def test_protocol(config: Dict[str, Dict[str, Any]]) -> Dict[str, str]:
    r"""The settings of a run's :obj:`config.yaml` that decide its test set,
    beyond the dataset and the seed: the task (leave-one-out or a random
    split), a random CF split's :obj:`split.test_ratio` (not a published
    split's), the data settings
    (columns, filters; not where the file lies), and for SR an unmasked
    history (:obj:`train.mask_history` false: seen items ranked too). Runs
    that differ in one are never compared."""
    from adar_pyg.fingerprint import computed
    from adar_pyg.pipeline import published_split
    flat = computed(config)
    random_split = flat.get('run.task', 'cf') == 'cf' and not (
        not config.get('data', {}).get('data') and
        published_split(flat.get('data.dataset')))
    keys = ['run.task'] + (['split.test_ratio'] if random_split
                           else []) + sorted(
        k for k in flat if k.startswith('data.') and k != 'data.dataset')
    out = {k: json.dumps(flat.get(k)) for k in keys}
    if flat.get('run.task', 'cf') == 'sr' and \
            flat.get('train.mask_history') is False:  # Ranks seen items too
        out['train.mask_history'] = json.dumps(False)
    return out


def dataset_of(config: Dict[str, Dict[str, Any]]) -> str:
    r"""The dataset a run was trained on (as in its :obj:`config.yaml`): the
    built-in dataset's name, or the stem of its own data file."""
    data = config.get('data', {})
    if data.get('data'):
        return os.path.basename(str(data['data'])).split('.')[0] or 'data'
    return str(data.get('dataset'))


def compare(runs: List[Dict[str, Any]], split: str, dataset: str) -> tuple:
    r"""The markdown table of runs of one dataset, and its groups of runs
    (those in the table). The means, relative improvements and p-values are
    all computed on the seeds every group has, so that each relative
    improvement is that of the means shown; the runs of other seeds are
    listed as left out. Without such a seed, each group's mean is over its
    own seeds and nothing is compared."""
    from adar_pyg.errors import UsageError
    groups = group_runs(runs)
    for name, rs in groups.items():  # One run per seed and group:
        by_seed: Dict[Any, str] = {}
        for r in rs:
            seed = r['config']['run']['seed']
            if seed in by_seed:
                raise UsageError(
                    f"runs '{by_seed[seed]}' and '{r['dir']}' are the same "
                    f"experiment ({name}) with the same seed {seed}: a mean "
                    f"would count one of them twice or drop one",
                    hint='give one run per seed (runs that differ only in '
                    'device, threads or the data path are one experiment)')
            by_seed[seed] = r['dir']
    # The base of the t-tests: a group without augmenter, else the first.
    names = sorted(groups, key=lambda n: groups[n][0]['config'].get(
        'train', {}).get('augmenter') != 'none')
    seeds_of = {n: {r['config']['run']['seed'] for r in rs}
                for n, rs in groups.items()}
    shared = sorted(set.intersection(*seeds_of.values()))
    left_out = [] if not shared else [
        (n, r) for n, rs in groups.items() for r in rs
        if r['config']['run']['seed'] not in shared]
    if shared and left_out:
        groups = {n: [r for r in rs if r['config']['run']['seed'] in shared]
                  for n, rs in groups.items()}
    cells = {f"{name}/seed{r['config']['run']['seed']}": r['result']
             for name, rs in groups.items() for r in rs}
    seeds = shared or sorted(set.union(*seeds_of.values()))
    rows = summarize(cells, names, names[0], seeds,
                     lambda g, s: f'{g}/seed{s}', split=split)
    if shared:
        protocol = (f"seeds {', '.join(map(str, shared))}, those every "
                    f'group has; p: paired t-test against "{names[0]}"')
    else:
        protocol = ('no seed is shared by all groups: each mean is over its '
                    'own seeds and nothing is compared')
        for row in rows:
            for key in list(row):
                if key.endswith(('_relimp', '_p')):
                    del row[key]
    n_runs = sum(len(rs) for rs in groups.values())
    text = markdown(rows, f'{dataset}: {n_runs} runs, {len(names)} '
                    f"group{'s' if len(names) > 1 else ''} "
                    f'({split} metrics in %; mean ± std, RelImp and p over '
                    f'{protocol})')
    text += '\nRuns:\n\n' + ''.join(
        f"- `{r['dir']}` ({name}, seed {r['config']['run']['seed']})\n"
        for name, rs in groups.items() for r in rs)
    if left_out:
        text += ('\nLeft out (their seed is missing from another group, so '
                 'they cannot be paired):\n\n' + ''.join(
                     f"- `{r['dir']}` ({name}, seed "
                     f"{r['config']['run']['seed']})\n"
                     for name, r in left_out))
    return text, groups
