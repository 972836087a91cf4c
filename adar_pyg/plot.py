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
                title: str = '') -> None:
    r"""Loss and validation Recall/NDCG over epochs (one record per
    evaluation, as in :obj:`metrics.jsonl`), plus the augmenter's
    :math:`t^*` and hardness when present; the selected epoch is marked."""
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
    best = None
    if metric_keys:
        sel = metric_keys[0]
        best = max(history, key=lambda h: h[sel])['epoch']
    for key in metric_keys:
        axes[1].plot(epochs, [100 * h[key] for h in history], marker='.',
                     label=key.replace('_', ' '))
    if best is not None:
        for ax in axes[:2]:
            ax.axvline(best, color='grey', ls=':', lw=1)
    axes[1].set(xlabel='epoch', ylabel='%', title=f'selected: epoch {best}')
    if metric_keys:
        axes[1].legend(fontsize=8)
    for ax, key in zip(axes[2:], diag):
        ax.plot(epochs, [h.get(key, math.nan) for h in history], marker='.')
        ax.set(xlabel='epoch', title=DIAGNOSTICS[key])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_comparison(groups: Dict[str, List[Dict[str, Any]]], path: str,
                    metrics: Sequence[str] = ('recall@20', 'ndcg@20'),
                    split: str = 'test',
                    curves: Optional[Dict[str, List[List[Dict[str, Any]]]]]
                    = None) -> None:
    r"""Bars of the mean test metrics per group of runs (error bars: the
    standard deviation over seeds, dots: the single runs) and, when
    :obj:`curves` are given, the validation Recall@20 of every run over
    epochs, coloured by group."""
    plt = pyplot()
    panels = len(metrics) + (1 if curves else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 3.6))
    axes = list(axes) if panels > 1 else [axes]
    names = list(groups)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, m in zip(axes, metrics):
        for i, name in enumerate(names):
            vals = [100 * r[split][m] for r in groups[name]]
            mean = sum(vals) / len(vals)
            std = (math.sqrt(sum((v - mean)**2 for v in vals) /
                             (len(vals) - 1)) if len(vals) > 1 else 0.0)
            ax.bar(i, mean, yerr=std, color=colors[i % len(colors)],
                   alpha=0.7, capsize=4)
            ax.plot([i] * len(vals), vals, 'k.', ms=4)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha='right', fontsize=8)
        ax.set(ylabel='%', title=f'{split} {m}')
        lo = min(100 * r[split][m] for g in groups.values() for r in g)
        ax.set_ylim(bottom=max(0.0, 0.9 * lo))
    if curves:
        ax = axes[-1]
        for i, name in enumerate(names):
            for j, hist in enumerate(curves.get(name, [])):
                key = next((k for k in (hist[0] if hist else {})
                            if k.endswith('recall@20')), None)
                if key is None:
                    continue
                ax.plot([h['epoch'] for h in hist],
                        [100 * h[key] for h in hist],
                        color=colors[i % len(colors)], alpha=0.7,
                        label=name if j == 0 else None)
        ax.set(xlabel='epoch', ylabel='%', title='validation recall@20')
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
