r"""Pictures of runs (matplotlib, written as PNG without a display): the
training curves of one run and the comparison of several."""
import math
from typing import Any, Dict, List, Optional, Sequence

from adar_pyg.io import atomic_path

#: Augmenter diagnostics worth a panel, with their labels.
DIAGNOSTICS = {
    'aug_t_star': 'mean t*',
    'aug_gen_above_pos': 'share of generated negatives above the positive',
}


def pyplot():
    r""":obj:`matplotlib.pyplot` on the file-only Agg backend (no display
    needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str, tight: bool = True) -> None:
    r"""Writes a matplotlib figure to :obj:`path` as PNG, atomically, and
    closes it (:obj:`tight`: crop to the drawn area)."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        fig.savefig(f, format='png', dpi=110,
                    bbox_inches='tight' if tight else None)
    pyplot().close(fig)


def plot_curves(history: List[Dict[str, Any]], path: str,
                title: str = '', best_epoch: Optional[int] = None) -> None:
    r"""Loss and validation Recall/NDCG over epochs (one record per
    evaluation, as in :obj:`metrics.jsonl`), plus the augmenter's
    :math:`t^*` and hardness when present; the selected epoch is marked.

    Args:
        history (list): The records of the evaluations.
        path (str): The PNG file to write.
        title (str, optional): The figure's title. (default: :obj:`''`)
        best_epoch (int, optional): The selected epoch (the run's, which
            its monitored metric chose). If set to :obj:`None`, the epoch of
            the highest first Recall@20/NDCG@20 record is marked.
            (default: :obj:`None`)
    """
    plt = pyplot()
    diag = [k for k in DIAGNOSTICS if any(k in h for h in history)]
    panels = 2 + len(diag)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4))
    epochs = [h['epoch'] for h in history]
    metric_keys = [k for k in (history[0] if history else {})
                   if k.split('_', 1)[-1] in ('recall@20', 'ndcg@20')
                   and k.split('_', 1)[0] in ('val', 'test')]
    axes[0].plot(epochs, [h['loss'] for h in history], marker='.')
    axes[0].set(xlabel='epoch', ylabel='mean training loss', title='loss')
    best = best_epoch
    if best is None and metric_keys:
        sel = metric_keys[0]
        best = max(history, key=lambda h: h[sel])['epoch']
    for key in metric_keys:
        axes[1].plot(epochs, [100 * h[key] for h in history], marker='.',
                     label=key.replace('_', ' '))
    if best is not None:
        for ax in axes[:2]:
            ax.axvline(best, color='grey', ls=':', lw=1)
    names = list(dict.fromkeys(k.split('_', 1)[-1] for k in metric_keys))
    axes[1].set(xlabel='epoch', ylabel=' / '.join(names or ['metric']) +
                ' (%)', title=f'selected: epoch {best}')
    if metric_keys:
        axes[1].legend(fontsize=8)
    for ax, key in zip(axes[2:], diag):
        ax.plot(epochs, [h.get(key, math.nan) for h in history], marker='.')
        ax.set(xlabel='epoch', title=DIAGNOSTICS[key])
        ax.set_ylabel(DIAGNOSTICS[key], fontsize=8)
    for ax in axes:
        integer_epochs(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def integer_epochs(ax) -> None:
    r"""Epochs are whole numbers: ticks on integers only."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_comparison(groups: Dict[str, Any], path: str,
                    metrics: Sequence[str] = ('recall@20', 'ndcg@20'),
                    split: str = 'test',
                    curves: Optional[Dict[str, Any]] = None) -> None:
    r"""A dot plot of the test metrics per group of runs (dots: the single
    runs; the larger marker and its bar: the mean ± the standard deviation
    over seeds; a dot plot need not start at zero, unlike a bar) and, when
    :obj:`curves` are given, the validation Recall@20 of every run over
    epochs, coloured by group.

    :obj:`groups` maps each group's name to its runs' results, or each
    dataset to such a mapping (one row of panels per dataset: runs of
    different datasets share no axis); :obj:`curves` likewise, to the runs'
    histories."""
    if all(isinstance(v, list) for v in groups.values()):
        groups, curves = {'': groups}, None if curves is None else {
            '': curves}
    plt = pyplot()
    rows = len(groups)
    panels = len(metrics) + (1 if curves else 0)
    fig, axes = plt.subplots(rows, panels, figsize=(4.4 * panels, 3.6 * rows),
                             squeeze=False)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for row, (dataset, by_group) in zip(axes, groups.items()):
        names = list(by_group)
        prefix = f'{dataset}: ' if dataset else ''
        for ax, m in zip(row, metrics):
            for i, name in enumerate(names):
                vals = [100 * r[split][m] for r in by_group[name]]
                mean = sum(vals) / len(vals)
                std = (math.sqrt(sum((v - mean)**2 for v in vals) /
                                 (len(vals) - 1)) if len(vals) > 1 else 0.0)
                color = colors[i % len(colors)]
                ax.plot([i] * len(vals), vals, '.', color=color, alpha=0.6,
                        ms=6)
                ax.errorbar(i + 0.15, mean, yerr=std, fmt='D', color=color,
                            ms=6, capsize=4)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha='right', fontsize=8)
            ax.set_xlim(-0.5, len(names) - 0.5)
            ax.set(ylabel=f'{split} {m} (%)',
                   title=f'{prefix}{split} {m} (mean ± std, dots: runs)')
            ax.grid(axis='y', alpha=0.3)
        if curves:
            ax = row[-1]
            for i, name in enumerate(names):
                for j, hist in enumerate((curves.get(dataset) or {}).get(
                        name, [])):
                    key = next((k for k in (hist[0] if hist else {})
                                if k.endswith('recall@20')), None)
                    if key is None:
                        continue
                    ax.plot([h['epoch'] for h in hist],
                            [100 * h[key] for h in hist],
                            color=colors[i % len(colors)], alpha=0.7,
                            label=name if j == 0 else None)
            ax.set(xlabel='epoch', ylabel='validation recall@20 (%)',
                   title=f'{prefix}validation recall@20')
            integer_epochs(ax)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_tuning(trials: List[Dict[str, Any]], space: Dict[str, Any],
                monitor: str, path: str, title: str = '') -> None:
    r"""The tuning curves of a study: one panel per tuned setting, the
    validation :obj:`monitor` of each trial against the trial's value of
    the setting (a log axis for :obj:`log_uniform`, one tick per choice
    for :obj:`choices`); complete trials as dots, the best one ringed,
    pruned trials hollow at their last reported value.

    Args:
        trials (list): The rows of :func:`adar_pyg.tune.summary`
            (:obj:`state`, :obj:`value`, :obj:`params`, :obj:`val`).
        space (dict): The study's space (:obj:`SearchSpace.to_dict`).
        monitor (str): The validation metric, for the axis.
        path (str): The PNG to write.
        title (str, optional): Put before each panel's title.
    """
    plt = pyplot()
    keys = list(space) or ['(none)']
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4),
                             squeeze=False)
    done = [t for t in trials if t['state'] == 'complete'
            and t['value'] is not None]
    pruned = [t for t in trials if t['state'] == 'pruned' and t['val']]
    best = max(done, key=lambda t: t['value'], default=None)
    for ax, key in zip(axes[0], keys):
        kind = next(iter(space.get(key, {'': None})))
        choices = [str(c) for c in space[key]['choices']] \
            if kind == 'choices' else None

        def x_of(t: Dict[str, Any], key: str = key,
                 choices: Optional[List[str]] = choices) -> Any:
            value = t['params'].get(key)
            return choices.index(str(value)) if choices else value

        for rows, style in ((done, dict(marker='o', ls='', alpha=0.8,
                                        label='complete')),
                            (pruned, dict(marker='o', ls='', mfc='none',
                                          alpha=0.6, label='pruned'))):
            rows = [t for t in rows if key in t['params']]
            if not rows:
                continue
            ys = [100 * (t['value'] if t['state'] == 'complete' else
                         list(t['val'].values())[-1]) for t in rows]
            ax.plot([x_of(t) for t in rows], ys, color='C0', **style)
        if best is not None and key in best['params']:
            ax.plot([x_of(best)], [100 * best['value']], marker='o', ms=12,
                    mfc='none', mec='C3', ls='', label=f"best (trial "
                    f"{best['number']})")
        if kind == 'log_uniform':
            ax.set_xscale('log')
        if choices:
            ax.set_xticks(range(len(choices)))
            ax.set_xticklabels(choices, rotation=30, ha='right', fontsize=8)
            ax.set_xlim(-0.5, len(choices) - 0.5)
        ax.set(xlabel=key, ylabel=f'validation {monitor} (%)',
               title=f'{title}: {key}' if title else key)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
