r"""The optimiser step alone: :class:`torch.optim.SparseAdam` on a sparse
gradient of a share of an embedding table's rows (as
:class:`~adar_pyg.train.SampledCFTask` with ``sparse_grad`` makes it: one
``F.embedding(..., sparse=True)`` of unique rows) against
:class:`torch.optim.Adam` on the dense gradient, for a table of
``--nodes`` rows (default: the 10M-interaction synthetic graph of
``scaling.py``, 861,380 users and items) and dimension 64: where SparseAdam
starts to pay.

    OMP_NUM_THREADS=1 python benchmarks/sparse_adam_cost.py

Writes ``<out>/sparse_adam_cost.json`` and ``.md``.
"""
import argparse
import os
import time
from typing import Any, Dict

import torch
import torch.nn.functional as F

from adar_pyg.io import write_text
from adar_pyg.run import write_json


def seconds_per_step(weight: torch.Tensor, rows: torch.Tensor,
                     optimizer: torch.optim.Optimizer, sparse: bool,
                     steps: int) -> float:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.embedding(rows, weight, sparse=sparse).sum().backward()
        optimizer.step()

    step()  # warm-up (the moments are allocated)
    # The optimiser step only:
    total = 0.0
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.embedding(rows, weight, sparse=sparse).sum().backward()
        start = time.perf_counter()
        optimizer.step()
        total += time.perf_counter() - start
    return total / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--nodes', type=int, default=861_380)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--shares', type=float, nargs='+',
                        default=[0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8])
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    result: Dict[str, Any] = {'meta': {
        'command': 'OMP_NUM_THREADS=1 python benchmarks/sparse_adam_cost.py',
        'nodes': args.nodes, 'width': args.width,
        'steps': args.steps, 'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'load_start': [round(x, 2) for x in os.getloadavg()]}, 'rows': []}
    weight = torch.nn.Parameter(torch.randn(args.nodes, args.width,
                                            generator=g))
    dense_rows = torch.randperm(args.nodes, generator=g)
    adam = seconds_per_step(weight, dense_rows[:args.nodes // 2],
                            torch.optim.Adam([weight], lr=1e-3), False,
                            args.steps)
    for share in args.shares:
        rows = torch.randperm(args.nodes, generator=g)[
            :max(1, round(share * args.nodes))]
        sparse = seconds_per_step(weight, rows,
                                  torch.optim.SparseAdam([weight], lr=1e-3),
                                  True, args.steps)
        result['rows'].append({'share': share, 'rows': rows.numel(),
                               'sparse_adam_seconds': sparse,
                               'adam_seconds': adam,
                               'speedup': adam / sparse})
        print(result['rows'][-1], flush=True)
    rows = result['rows']
    even = next((r['share'] for r in reversed(rows) if r['speedup'] >= 1),
                None)
    result['break_even_share'] = even
    result['meta']['load_end'] = [round(x, 2) for x in os.getloadavg()]
    write_json(result, os.path.join(args.out, 'sparse_adam_cost.json'))
    lines = ['# SparseAdam vs Adam: the optimiser step alone', '',
             f"Command: `{result['meta']['command']}`; a table of "
             f"{args.nodes:,} × {args.width} (float32), "
             f"{torch.get_num_threads()} thread(s), mean of {args.steps} "
             f"steps after a warm-up; load average "
             f"{result['meta']['load_start']} at the start. Adam (dense "
             f"gradient, whole table): {adam:.3f} s per step.", '',
             '| share of rows in the gradient | rows | SparseAdam s/step | '
             'Adam s/step | Adam ÷ SparseAdam |', '|---|---|---|---|---|']
    lines += [f"| {r['share']:.0%} | {r['rows']:,} | "
              f"{r['sparse_adam_seconds']:.3f} | {r['adam_seconds']:.3f} | "
              f"{r['speedup']:.2f}x |" for r in rows]
    lines += ['', f"SparseAdam is faster up to a share of {even:.0%} of the "
              f"rows (of those measured)." if even is not None else
              'SparseAdam is slower at every share measured.']
    write_text(os.path.join(args.out, 'sparse_adam_cost.md'),
               '\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
