r"""What the sampled path's speed costs in accuracy: ``adar-pyg train`` with
full propagation (``full``), on ``LinkNeighborLoader`` subgraphs
(``sampled``, ``--sampled``) and on subgraphs with sparse embedding
gradients (``sampled_sparse``, ``--sampled --sparse-grad``), one after the
other, with the same seed and every other flag forwarded unchanged (the
dataset, epochs, evaluation cadence, learning rate, ...): equal epochs,
equal settings. Writes the validation curves, the test metrics of the
epoch selected on validation, seconds per epoch and the commands to
``<out>/sampled_accuracy_<name>.json`` / ``.md`` and the validation
Recall@20 against epochs and against training seconds to ``.png``.

    python benchmarks/sampled_accuracy.py --dataset beauty --epochs 30 \
        --eval-every 5 --patience 100 --lr 5e-3 --threads 1
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

from adar_pyg.io import write_text
from adar_pyg.run import write_json

METRICS = ('recall@20', 'ndcg@20', 'recall@10', 'ndcg@10')
#: The paths and the flags each adds to the forwarded ones.
PATHS = {'full': [], 'sampled': ['--sampled'],
         'sampled_sparse': ['--sampled', '--sparse-grad']}


def run_path(path: str, forwarded: List[str], out: str) -> Dict[str, Any]:
    r"""Trains one path (:obj:`adar-pyg train` in a subprocess) and returns
    its row."""
    flags = ['train', *forwarded, *PATHS[path], '--no-progress', '--out',
             out]
    print('python -m adar_pyg ' + ' '.join(flags), flush=True)
    subprocess.run([sys.executable, '-m', 'adar_pyg', *flags], check=True)
    with open(os.path.join(out, 'result.json')) as f:
        run = json.load(f)
    return {
        'path': path,
        'command': 'python -m adar_pyg ' + ' '.join(flags[:-1] + ['<run>']),
        'epochs': run['epochs_run'], 'best_epoch': run['best_epoch'],
        'seconds_per_epoch': run['seconds_per_epoch'],
        'val': run['val'], 'test': run['test'],
        'curve': [{'epoch': h['epoch'], 'loss': h['loss'],
                   'val_recall@20': h.get('val_recall@20')}
                  for h in run['history']]}


def markdown(result: Dict[str, Any]) -> str:
    meta = result['meta']
    lines = [f"# Sampled path against full propagation: {meta['name']}", '',
             f"Command: `{meta['command']}` (load average "
             f"{meta['load_start']} at the start, {meta.get('load_end')} at "
             f"the end). Test metrics at the epoch selected on validation.",
             '', '| path | epochs | best epoch | loss (last) | s/epoch | ' +
             ' | '.join(f'test {m}' for m in METRICS) + ' | val recall@20 |',
             '|---|---|---|---|---|' + '---|' * len(METRICS) + '---|']
    for r in result['rows']:
        lines.append(
            f"| {r['path']} | {r['epochs']} | {r['best_epoch']} | "
            f"{r['curve'][-1]['loss']:.4f} | {r['seconds_per_epoch']:.1f} | "
            + ' | '.join(f"{r['test'][m]:.4f}" for m in METRICS) +
            f" | {r['val'].get('recall@20', float('nan')):.4f} |")
    lines += ['', 'Runs:', ''] + [f"- `{r['command']}`"
                                  for r in result['rows']]
    return '\n'.join(lines) + '\n'


def plot(result: Dict[str, Any], path: str) -> None:
    r"""Validation Recall@20 against epochs and against training seconds
    (epochs × seconds per epoch), one line per path."""
    from adar_pyg.plot import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for r in result['rows']:
        points = [(p['epoch'], p['val_recall@20']) for p in r['curve']
                  if p['val_recall@20'] is not None]
        if not points:
            continue
        epochs, recall = zip(*points)
        axes[0].plot(epochs, recall, marker='o', label=r['path'])
        axes[1].plot([e * r['seconds_per_epoch'] for e in epochs], recall,
                     marker='o', label=r['path'])
    axes[0].set_xlabel('epoch')
    axes[1].set_xlabel('training seconds (epochs × s/epoch)')
    axes[0].set_ylabel('validation Recall@20')
    axes[0].legend()
    fig.suptitle(f"{result['meta']['name']}: sampled vs full propagation")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], allow_abbrev=False,
        epilog='Every other flag is forwarded to adar-pyg train.')
    parser.add_argument('--paths', nargs='+', choices=list(PATHS),
                        default=list(PATHS))
    parser.add_argument('--name', default=None,
                        help="suffix of the result files (default: the "
                        "value of --dataset, else 'data')")
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--runs', default=None,
                        help='folder of the run directories (default: a '
                        'temporary one)')
    args, forwarded = parser.parse_known_args()
    if '--out' in forwarded or '--sampled' in forwarded:
        parser.error('--out and --sampled are set per path by this script')
    name = args.name or (forwarded[forwarded.index('--dataset') + 1]
                         if '--dataset' in forwarded[:-1] else 'data')
    runs = args.runs or tempfile.mkdtemp(prefix='adar-sampled-accuracy-')
    from common import command_line
    # (--runs, a folder of this machine, left out:)
    argv = [a for i, a in enumerate(sys.argv) if a != '--runs' and
            (i == 0 or sys.argv[i - 1] != '--runs')]
    result: Dict[str, Any] = {'meta': {
        'name': name, 'command': command_line(argv),
        'load_start': [round(x, 2) for x in os.getloadavg()]}, 'rows': []}
    stem = os.path.join(args.out, f'sampled_accuracy_{name}')
    for path in args.paths:
        result['rows'].append(run_path(path, forwarded,
                                       os.path.join(runs, path)))
        result['meta']['load_end'] = [round(x, 2) for x in os.getloadavg()]
        write_json(result, stem + '.json')
        write_text(stem + '.md', markdown(result))
        plot(result, stem + '.png')
    print(markdown(result))


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
