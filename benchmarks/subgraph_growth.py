r"""How the sampled path's subgraph grows with the graph, per fan-out and
batch size: the nodes and edges that
:class:`~adar_pyg.train.neighbor_sampler.TorchNeighborSampler` draws around
the seeds of one training batch (its users, positives and as many uniform
negatives, as ``SampledCFTask`` seeds it) on the synthetic power-law graphs
of ``benchmarks/scaling.py``. A step's cost follows its subgraph, so the
growth of the subgraph from the smallest to the largest size bounds the
log-log slope of the epoch from below (an epoch has E / B steps):
``1 + log(nodes_large / nodes_small) / log(E_large / E_small)``. No model
is trained: sampling only, seconds per size.

    python benchmarks/subgraph_growth.py --sizes 1000000 10000000 \
        --fanouts 10,5,2 5,3,1 3,2,1 10,5 5,2 --batch-sizes 2048 512

Writes ``<out>/subgraph_growth.json`` and ``.md``.
"""
import argparse
import math
import os
import sys
from typing import Any, Dict, List

import torch
from torch_geometric.data import HeteroData

from scaling import SHARED_CACHE

from adar_pyg.checks import fanout_per_layer
from adar_pyg.io import atomic_path
from adar_pyg.run import write_json
from adar_pyg.train.neighbor_sampler import TorchNeighborSampler
from adar_pyg.train.sampled_task import loader_graph

EDGE = ('user', 'rates', 'item')
#: The seed of the synthetic graphs (as ``scaling.py``'s) and of the draws.
SEED = 0


def fanout(text: str) -> List[int]:
    try:  # (one layer per number)
        out = [int(k) for k in text.split(',')]
        return fanout_per_layer(out, len(out))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a fan-out is positive numbers (or -1) joined by commas, one "
            f"per layer, e.g. 10,5,2 (got '{text}')") from None


def measure(train: HeteroData, fanouts: List[List[int]],
            batch_sizes: List[int], draws: int, seed: int
            ) -> List[Dict[str, Any]]:
    r"""Mean subgraph nodes and edges of :obj:`draws` batches per fan-out
    and batch size on the training graph :obj:`train`."""
    U, I = train['user'].num_nodes, train['item'].num_nodes
    graph = loader_graph(train[EDGE].edge_index, U, I, EDGE)
    pairs = train[EDGE].edge_label_index
    rows = []
    for k in fanouts:
        sampler = TorchNeighborSampler(graph, k)
        for batch_size in batch_sizes:
            torch.manual_seed(seed)
            nodes = edges = 0
            for _ in range(draws):
                idx = torch.randint(0, pairs.size(1), (batch_size, ))
                out = sampler._sample({
                    'user': pairs[0, idx].unique(),
                    'item': torch.cat([pairs[1, idx], torch.randint(
                        0, I, (batch_size, ))]).unique()})
                nodes += sum(v.numel() for v in out.node.values())
                edges += sum(v.numel() for v in out.row.values())
            rows.append({'fanout': k, 'batch_size': batch_size,
                         'interactions': int(pairs.size(1)),
                         'graph_nodes': U + I,
                         'subgraph_nodes': nodes / draws,
                         'subgraph_edges': edges / draws})
    return rows


def slopes(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""Per fan-out and batch size, the subgraph's growth from the smallest
    to the largest graph and the epoch slope it implies."""
    out = []
    keys = list(dict.fromkeys((tuple(r['fanout']), r['batch_size'])
                              for r in rows))
    for k, b in keys:
        mine = sorted((r for r in rows
                       if tuple(r['fanout']) == k and r['batch_size'] == b),
                      key=lambda r: r['interactions'])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        growth = large['subgraph_nodes'] / small['subgraph_nodes']
        out.append({'fanout': list(k), 'batch_size': b,
                    'node_growth': growth,
                    'epoch_slope_bound': 1 + math.log(growth) / math.log(
                        large['interactions'] / small['interactions'])})
    return out


def markdown(result: Dict[str, Any]) -> str:
    meta = result['meta']
    sizes = sorted({r['interactions'] for r in result['rows']})
    lines = ['# Subgraph growth of the sampled path', '',
             f"Command: `{meta['command']}`", '',
             f"Mean over {meta['draws']} batches (seed {meta['seed']}) of "
             f"the nodes (share of the graph) and edges "
             f"TorchNeighborSampler draws around a batch's users, positives "
             f"and uniform negatives. Epoch slope bound: 1 + log(node "
             f"growth) / log(interaction growth), from the smallest to the "
             f"largest graph (an epoch has E / B steps, a step costs what "
             f"its subgraph holds).", '',
             '| fan-out | batch | ' + ' | '.join(
                 f'{s:,} interactions' for s in sizes) +
             ' | node growth | epoch slope bound |',
             '|---|---|' + '---|' * len(sizes) + '---|---|']
    for s in result['slopes']:
        cells = []
        for size in sizes:
            r = next(r for r in result['rows']
                     if r['fanout'] == s['fanout'] and
                     r['batch_size'] == s['batch_size'] and
                     r['interactions'] == size)
            cells.append(f"{r['subgraph_nodes']:,.0f} "
                         f"({100 * r['subgraph_nodes'] / r['graph_nodes']:.0f}"
                         f"%) / {r['subgraph_edges']:,.0f}")
        lines.append(f"| {', '.join(map(str, s['fanout']))} | "
                     f"{s['batch_size']} | " + ' | '.join(cells) +
                     f" | {s['node_growth']:.2f}× | "
                     f"{s['epoch_slope_bound']:.2f} |")
    return '\n'.join(lines) + '\n'


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     allow_abbrev=False)
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[1_000_000, 10_000_000])
    parser.add_argument('--fanouts', type=fanout, nargs='+',
                        default=[[10, 5, 2], [5, 3, 1], [3, 2, 1], [10, 5],
                                 [5, 2]])
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[2048, 512])
    parser.add_argument('--draws', type=int, default=5)
    parser.add_argument('--cache', default=SHARED_CACHE,
                        help='folder of the generated graphs, reused '
                        '(default: adar-pyg-scaling-cache in the temporary '
                        'folder)')
    parser.add_argument('--out', default='benchmarks/results')
    args = parser.parse_args()
    if any(b < 1 for b in args.batch_sizes) or args.draws < 1:
        parser.error('--batch-sizes and --draws must be positive')
    torch.set_num_threads(1)
    os.makedirs(args.cache, exist_ok=True)
    from common import command_line
    from scaling import synthetic_splits
    result: Dict[str, Any] = {'meta': {
        'command': command_line(), 'draws': args.draws, 'seed': SEED,
        'torch': torch.__version__}, 'rows': [], 'slopes': []}
    for size in args.sizes:
        train, _, _ = synthetic_splits(size, SEED, args.cache)
        result['rows'] += measure(train, args.fanouts, args.batch_sizes,
                                  args.draws, SEED)
        result['slopes'] = slopes(result['rows'])
        write_json(result, os.path.join(args.out, 'subgraph_growth.json'))
        with atomic_path(os.path.join(args.out, 'subgraph_growth.md')) as \
                tmp, open(tmp, 'w') as f:
            f.write(markdown(result))
    print(markdown(result))


if __name__ == '__main__':
    main()
