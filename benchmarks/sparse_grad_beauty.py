r"""Accuracy at equal epochs of the sampled path with dense Adam and with
sparse embedding gradients (SparseAdam, ``--sparse-grad``) on Beauty:
``adar-pyg train --dataset beauty --sampled`` both ways, same seed and
settings, one after the other; writes the test and validation metrics,
seconds per epoch and the commands to ``<out>/sparse_grad_beauty.json`` and
``.md``.

    python benchmarks/sparse_grad_beauty.py --train-epochs 5
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict

from adar_pyg.io import write_text
from adar_pyg.run import write_json

METRICS = ('recall@20', 'ndcg@20', 'recall@10', 'ndcg@10')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--train-epochs', type=int, default=5,
                        help='epochs of each run (evaluated at the last)')
    parser.add_argument('--out', default='benchmarks/results')
    parser.add_argument('--runs', default=None,
                        help='folder of the two run directories (default: '
                        'a temporary one)')
    args = parser.parse_args()
    runs = args.runs or tempfile.mkdtemp(prefix='adar-sparse-beauty-')
    result: Dict[str, Any] = {'meta': {
        # (--runs, a folder of this machine, left out:)
        'command': 'python benchmarks/sparse_grad_beauty.py '
        f'--train-epochs {args.train_epochs}',
        'load_start': [round(x, 2) for x in os.getloadavg()]}, 'rows': []}
    for name, extra in (('dense', []), ('sparse', ['--sparse-grad'])):
        out = os.path.join(runs, name)
        flags = ['train', '--dataset', 'beauty', '--sampled', *extra,
                 '--epochs', str(args.train_epochs), '--eval-every',
                 str(args.train_epochs), '--threads', '1', '--no-progress',
                 '--out', out]
        print('python -m adar_pyg ' + ' '.join(flags), flush=True)
        subprocess.run([sys.executable, '-m', 'adar_pyg', *flags],
                       check=True)
        with open(os.path.join(out, 'result.json')) as f:
            run = json.load(f)
        result['rows'].append({
            'optimizer': ('SparseAdam + Adam (--sparse-grad)' if extra else
                          'Adam'),
            'command': 'python -m adar_pyg ' + ' '.join(
                flags[:-1] + ['<run>']),
            'epochs': run['epochs_run'], 'best_epoch': run['best_epoch'],
            'seconds_per_epoch': run['seconds_per_epoch'],
            'val': run['val'], 'test': run['test'],
            'loss': [h['loss'] for h in run['history']]})
    result['meta']['load_end'] = [round(x, 2) for x in os.getloadavg()]
    write_json(result, os.path.join(args.out, 'sparse_grad_beauty.json'))
    lines = ['# Sampled path on Beauty: dense Adam vs sparse gradients',
             '', f"Command: `{result['meta']['command']}` (load average "
             f"{result['meta']['load_start']} at the start, "
             f"{result['meta']['load_end']} at the end).", '',
             '| optimiser | epochs | loss (last) | s/epoch | ' +
             ' | '.join(f'test {m}' for m in METRICS) + ' | val recall@20 |',
             '|---|---|---|---|' + '---|' * len(METRICS) + '---|']
    for r in result['rows']:
        lines.append(
            f"| {r['optimizer']} | {r['epochs']} | {r['loss'][-1]:.4f} | "
            f"{r['seconds_per_epoch']:.1f} | " + ' | '.join(
                f"{r['test'][m]:.4f}" for m in METRICS) +
            f" | {r['val'].get('recall@20', float('nan')):.4f} |")
    lines += ['', 'Runs:', ''] + [f"- `{r['command']}`"
                                  for r in result['rows']]
    write_text(os.path.join(args.out, 'sparse_grad_beauty.md'),
               '\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
