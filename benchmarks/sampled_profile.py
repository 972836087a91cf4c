r"""Where a step of the sampled path spends its time as the graph grows:
:class:`~adar_pyg.train.SampledCFTask` (LightGCN, uniform negatives, the
optimiser of :meth:`Trainer.make_optimizer <adar_pyg.train.Trainer.
make_optimizer>`) on the synthetic graphs of ``benchmarks/scaling.py``,
``--steps`` steps after one warm-up step, each step timed by phase (wall
clock): ``sample`` (the ``LinkNeighborLoader`` batch), ``forward``
(subgraph adjacency, propagation, loss), ``backward`` and ``optimizer``,
with the sampled subgraph's size, for each neighbour sampler of
``--subgraph-samplers`` side by side (``torch``: adar_pyg's vectorised
:class:`~adar_pyg.train.neighbor_sampler.TorchNeighborSampler`, the
default; ``pyg``: PyG's kernels, torch-sparse here); at ``--ops-sizes``, one more step under
:mod:`torch.profiler` (phases as ``record_function``) lists the operators
with the most self CPU time (slow: the sampler's per-draw operators make
GBs of events).

    python benchmarks/sampled_profile.py --sizes 100000 1000000 --threads 1
    python benchmarks/sampled_profile.py --sizes 100000 1000000 --threads 1 \
        --sampled --sparse-grad

Writes ``<out>/sampled_profile[_sparse].json`` and ``.md``.
"""
import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

import torch

from scaling import SHARED_CACHE

from adar_pyg.io import atomic_path
from adar_pyg.run import write_json
from adar_pyg.checks import fanout_per_layer
from adar_pyg.train.sampled_task import SUBGRAPH_SAMPLERS

if TYPE_CHECKING:
    from adar_pyg.config import Config

PHASES = ('sample', 'forward', 'backward', 'optimizer')
#: The settings unless given as flags: LightGCN, lr 1e-3 (and, as in
#: ``adar-pyg train --sampled``, the library's fan-out for its layers).
PRESET = {'model': {'model': 'lightgcn'}, 'train': {'lr': 1e-3}}


def profile_size(size: int, cfg: 'Config', args: argparse.Namespace,
                 subgraph_sampler: str = 'torch') -> Dict[str, Any]:
    r"""The timings of :obj:`args.steps` steps on the synthetic graph of
    :obj:`size` training interactions, with the seed, dimension, fan-out,
    batch size and gradients of :obj:`cfg`, the neighbours drawn by
    :obj:`subgraph_sampler`."""
    import warnings

    from torch.profiler import ProfilerActivity, profile, record_function

    from adar_pyg import pipeline
    from adar_pyg.augment.dbpr import d_bpr_loss
    from scaling import synthetic_splits
    warnings.filterwarnings('ignore', message=".*without a 'pyg-lib'")
    seed = cfg.run.seed
    train, val, test = synthetic_splits(size, seed, args.cache)
    U, I = train['user'].num_nodes, train['item'].num_nodes
    torch.manual_seed(seed)
    cfg = cfg.replace({'train': {'sampled': True}})
    task = pipeline.build_task(
        cfg, pipeline.RunData(train, val, test, statistics={
            'dataset': 'synthetic', 'users': U, 'items': I}),
        torch.device('cpu'), subgraph_sampler=subgraph_sampler)
    optimizer = pipeline.build_trainer(cfg, task, None,
                                       progress=False).make_optimizer()
    generator = torch.Generator().manual_seed(seed)
    it = task.batches(generator)
    nodes: List[int] = []
    clock = {p: 0.0 for p in PHASES}

    def phase(name: str, start: float) -> float:
        now = time.perf_counter()
        clock[name] += now - start
        return now

    def step() -> None:
        t = time.perf_counter()
        with record_function('sample'):
            batch = next(it)
        t = phase('sample', t)
        nodes.append(sum(batch[k].num_nodes for k in batch.node_types))
        with record_function('forward'):
            out = task.forward(batch, generator)
            loss = d_bpr_loss(out.user, out.pos, out.neg) + \
                cfg.train.l2 * out.reg
        t = phase('forward', t)
        with record_function('backward'):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        t = phase('backward', t)
        with record_function('optimizer'):
            optimizer.step()
        phase('optimizer', t)

    step()  # warm-up
    nodes.clear()
    clock.update({p: 0.0 for p in PHASES})
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - start) / args.steps
    phases = {p: v / args.steps for p, v in clock.items()}
    ops = []
    if size in args.ops_sizes:  # One more step, under the profiler:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        ops = sorted((e for e in prof.key_averages() if e.key not in PHASES),
                     key=lambda e: -e.self_cpu_time_total)[:args.top]
    return {
        'size': size, 'users': U, 'items': I,
        'subgraph_sampler': subgraph_sampler,
        'interactions': int(task.train_pairs.size(1)),
        'sparse_grad': cfg.train.sparse_grad,
        'seconds_per_step': seconds,
        'phase_seconds_per_step': phases,
        'subgraph_nodes': sum(nodes) / len(nodes),
        'top_ops': [{'op': e.key, 'calls_per_step': e.count,
                     'self_seconds_per_step': e.self_cpu_time_total / 1e6}
                    for e in ops],
    }


def markdown(result: Dict[str, Any]) -> str:
    meta = result['meta']
    kind = ('sparse gradients, SparseAdam' if meta['sparse_grad'] else
            'dense Adam')
    lines = [f"# Sampled path per step, by phase ({kind})",
             '', f"Command: `{meta['command']}`", '',
             f"Wall seconds per step and per phase, mean of {meta['steps']} "
             f"steps after a warm-up, {meta['threads']} thread(s), LightGCN "
             f"dim {meta['dim']}, batch {meta['batch_size']}, fan-out "
             f"{meta['fanout']}; load average {meta['load_start']} at the "
             f"start (other jobs on the machine). The operators: one more "
             f"step under torch.profiler (CPU), self time.", '',
             '| interactions | nodes | sampler | subgraph nodes | s/step | ' +
             ' | '.join(PHASES) + ' |', '|---|---|---|---|---|' +
             '---|' * len(PHASES)]
    for r in result['rows']:
        n = r['users'] + r['items']
        lines.append(
            f"| {r['interactions']:,} | {n:,} | "
            f"{r.get('subgraph_sampler', 'pyg')} | "
            f"{r['subgraph_nodes']:,.0f} "
            f"({100 * r['subgraph_nodes'] / n:.0f}%) | "
            f"{r['seconds_per_step']:.3f} | " + ' | '.join(
                f"{r['phase_seconds_per_step'].get(p, 0):.3f}"
                for p in PHASES) + ' |')
    for r in result['rows']:
        if not r['top_ops']:
            continue
        lines += ['', f"Top operators by self CPU time, "
                  f"{r['interactions']:,} interactions, sampler "
                  f"{r.get('subgraph_sampler', 'pyg')} (s/step, calls/step): " +
                  ', '.join(f"`{o['op']}` {o['self_seconds_per_step']:.3f} "
                            f"({o['calls_per_step']:.0f})"
                            for o in r['top_ops']) + '.']
    return '\n'.join(lines) + '\n'


def parse_args() -> Tuple[argparse.Namespace, 'Config']:
    r"""The script's own flags and the resolved config of the settings
    (:obj:`train.fanout` one number per layer:
    :obj:`adar_pyg.checks.DEFAULT_FANOUT` unless given)."""
    from adar_pyg.config import (ConfigError, add_config_args,
                                 config_from_args, parse_args as parse_flags)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     allow_abbrev=False)
    # The settings of `adar-pyg train`: --sparse-grad (with --sampled),
    # --fanout, --batch-size, --dim, --threads, --seed.
    add_config_args(parser, config_file=False)
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[100_000, 1_000_000])
    parser.add_argument('--subgraph-samplers', nargs='+',
                        choices=SUBGRAPH_SAMPLERS,
                        default=list(SUBGRAPH_SAMPLERS),
                        help='neighbour samplers, profiled side by side')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--top', type=int, default=8)
    parser.add_argument('--ops-sizes', type=int, nargs='*',
                        default=[100_000],
                        help='sizes whose operators are listed (one more '
                        'step under torch.profiler: slow, GBs of events)')
    parser.add_argument('--cache', default=SHARED_CACHE,
                        help='folder of the generated graphs, reused '
                        '(default: adar-pyg-scaling-cache in the temporary '
                        'folder)')
    parser.add_argument('--out', default='benchmarks/results')
    args = parse_flags(parser)
    try:
        cfg = config_from_args(args, PRESET).resolved()
        cfg = cfg.replace({'train': {'fanout': fanout_per_layer(
            cfg.train.fanout, cfg.model.layers)}})
    except (ConfigError, ValueError) as e:
        parser.error(str(e))
    return args, cfg


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    args, cfg = parse_args()
    torch.set_num_threads(cfg.run.threads or 1)
    os.makedirs(args.cache, exist_ok=True)
    from common import command_line
    result: Dict[str, Any] = {'meta': {
        'command': command_line(), 'steps': args.steps,
        'ops_sizes': args.ops_sizes,
        'sparse_grad': cfg.train.sparse_grad, 'fanout': cfg.train.fanout,
        'batch_size': cfg.train.batch_size, 'dim': cfg.model.dim,
        'seed': cfg.run.seed,
        'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'load_start': [round(x, 2) for x in os.getloadavg()]}, 'rows': []}
    name = 'sampled_profile' + ('_sparse' if cfg.train.sparse_grad else '')
    for size in args.sizes:
        for sampler in args.subgraph_samplers:
            row = profile_size(size, cfg, args, sampler)
            result['rows'].append(row)
            print(json.dumps({k: v for k, v in row.items()
                              if k != 'top_ops'}), flush=True)
        write_json(result, os.path.join(args.out, name + '.json'))
        with atomic_path(os.path.join(args.out, name + '.md')) as tmp, \
                open(tmp, 'w') as f:
            f.write(markdown(result))
    print(markdown(result))


if __name__ == '__main__':
    main()
