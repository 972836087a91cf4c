r"""Floors under two per-epoch targets of the scale work, measured: NGCF's
epoch against LightGCN's (target ≤ 2×) and data-parallel training on two
processes (target ≥ 1.6× per epoch), with torch.compile as a lever.

    python benchmarks/step_floors.py --threads 1              # Beauty
    python benchmarks/step_floors.py --quick --out quick      # tiny, seconds

(From a second checkout of the repository, run with ``PYTHONPATH=.``.)

Parts (``--parts``, all by default), one thread, processor time:

* ``steps``: a training step (forward, loss, backward, Adam) of LightGCN
  and of NGCF on the dataset, :meth:`Trainer.train_epoch` over the first
  ``--batches`` batches after a warm-up over the same batches.
* ``gemms``: NGCF's dense products alone, with its shapes: per layer and
  block (user rows, item rows) the forward :math:`\mathbf{X}\mathbf{W}^\top`
  of :math:`\mathbf{W}_1` and :math:`\mathbf{W}_2` and, in the backward,
  the gradient of each input and of each weight: six products of
  :math:`[n, F] \times [F, F]` size per layer and block (best of 5).
  LightGCN's step already holds everything else NGCF's step must do at the
  least (the sparse products forward and backward, the batch's gathers,
  the loss, Adam on the same table), so **LightGCN's step + NGCF's
  products, with none of NGCF's elementwise work** (its LeakyReLU, message
  dropout, normalisation, products with :math:`\mathbf{H}`) is a floor
  under NGCF's step, and floor / LightGCN's step a floor under the ratio
  of the epochs.
* ``compile``: NGCF's training step (as ``steps``) with each layer's dense
  part compiled (:func:`torch.compile` of :meth:`NGCFConv._combine`) and
  with the whole propagation compiled (of :meth:`NGCF._layers`), set on
  the instance; and, alone, one layer's dense part on the user block
  (:math:`\mathrm{LeakyReLU}(\mathbf{W}_1(\mathbf{x} + \mathbf{h}) +
  \mathbf{W}_2(\mathbf{x} \odot \mathbf{h}) + \mathbf{b})` and its
  normalisation, both used), forward and backward, eager and compiled
  (best of 3 × 10 calls, after the compilation), and an elementwise chain
  with one output.
* ``allreduce``: what data-parallel training adds to every step: the
  all-reduce (gloo, two processes on 127.0.0.1, one thread each) of the
  embedding table's gradient, which full propagation makes dense. With
  :math:`t_1` the one-process step, two processes take half the steps, so
  the epoch is ≥ 1.6× faster only if their step is at most
  :math:`2 t_1 / 1.6 = 1.25\,t_1`: the all-reduce and every other cost of
  the second process (the two share one memory system) must fit in
  :math:`0.25\,t_1`.

Writes ``<out>.json`` and ``<out>.md`` (default
``benchmarks/results/step_floors``). No accuracy is involved: nothing here
trains to an evaluation.
"""
import argparse
import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

from common import Stopwatch, best_seconds, command_line
from profile_epoch import fmt_load, limit_batches, model_configs, quick_data

from adar_pyg.config import add_config_args, parse_args
from adar_pyg.io import write_text
from adar_pyg.pipeline import build_task, build_trainer, load_cf_data, setup
from adar_pyg.run import write_json
from adar_pyg.train.distributed import launch

PARTS = ('steps', 'gemms', 'compile', 'allreduce')


def step_seconds(cfg: Any, data: Any, device: torch.device, batches: int,
                 prepare: Optional[Callable[[Any], None]] = None
                 ) -> Dict[str, Any]:
    r"""Processor seconds per training step of the model of :obj:`cfg`
    over the first :obj:`batches` batches of an epoch (after a warm-up
    over the same batches, whose wall-clock seconds are recorded), with
    :obj:`prepare(model)` applied to the model first."""
    torch.manual_seed(cfg.run.seed)
    task = build_task(cfg, data, device)
    if prepare is not None:
        prepare(task.model)
    trainer = build_trainer(cfg, task, None, progress=False)
    optimizer = trainer.make_optimizer()
    n = min(batches, task.num_batches())
    limit_batches(task, n)

    def epoch(number: int) -> None:
        trainer.train_epoch(optimizer, torch.Generator().manual_seed(
            cfg.run.seed + number), number)

    with Stopwatch(device) as warm_up:
        epoch(0)
    with Stopwatch(device) as watch:
        epoch(1)
    return {'model': repr(task.model), 'batches_timed': n,
            'warm_up_wall_seconds': warm_up.seconds,
            'batches_per_epoch': task.num_batches(),
            'seconds_per_step': watch.cpu_seconds / n,
            'wall_seconds_per_step': watch.seconds / n}


def gemm_seconds(num_users: int, num_items: int, dim: int,
                 layers: int) -> Dict[str, float]:
    r"""Processor seconds per step of NGCF's dense products alone (see the
    module documentation), by block and in all."""
    w = torch.randn(dim, dim)
    out = {}
    for name, rows in (('users', num_users), ('items', num_items)):
        x, g = torch.randn(rows, dim), torch.randn(rows, dim)
        forward = best_seconds(lambda x=x: x @ w.t())           # X W^T
        grad_input = best_seconds(lambda g=g: g @ w)             # G W
        grad_weight = best_seconds(lambda g=g, x=x: g.t() @ x)  # G^T X
        # two weights (W1, W2) per layer, each: forward, both gradients
        out[name] = layers * 2 * (forward + grad_input + grad_weight)
    out['total'] = out['users'] + out['items']
    return out


def ngcf_dense(x: torch.Tensor, h: torch.Tensor, w1: torch.Tensor,
               w2: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""One NGCF layer's dense part given :math:`\mathbf{H} =
    \tilde{\mathbf{A}}\mathbf{X}` (as :class:`~adar_pyg.nn.conv.NGCFConv`
    computes it) and its row normalisation; as in the model, both the
    layer's output (the next layer's input) and its normalisation (a part
    of the final representation) are used: their sum."""
    out = F.leaky_relu(F.linear(x + h, w1) + F.linear(x * h, w2) + b, 0.2)
    return out + F.normalize(out, p=2., dim=-1)


def ngcf_elementwise(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    r"""An elementwise chain like :func:`ngcf_dense`'s without its products
    and with one output (the normalised rows)."""
    return F.normalize(F.leaky_relu(x * h + x + h, 0.2), p=2., dim=-1)


def compile_seconds(rows: int, dim: int) -> Dict[str, Dict[str, float]]:
    r"""Processor seconds of a forward and backward of :func:`ngcf_dense`
    and :func:`ngcf_elementwise` on :obj:`rows` rows, eager and compiled,
    and the compilation's wall-clock seconds."""
    g = torch.Generator().manual_seed(0)
    x, h = (torch.randn(rows, dim, generator=g).requires_grad_()
            for _ in range(2))
    w1, w2 = (torch.randn(dim, dim, generator=g).div_(dim ** 0.5)
              .requires_grad_() for _ in range(2))
    b = torch.zeros(dim, requires_grad=True)
    out = {}
    for name, fn, args in (('layer', ngcf_dense, (x, h, w1, w2, b)),
                           ('elementwise', ngcf_elementwise, (x, h))):
        def call(f: Callable = fn, args: tuple = args) -> None:
            f(*args).sum().backward()
        torch._dynamo.reset()
        compiled = torch.compile(fn, dynamic=False)
        start = time.perf_counter()
        compiled(*args).sum().backward()  # compiles forward and backward
        compile_wall = time.perf_counter() - start
        eager = best_seconds(call, repeats=3, calls=10)
        fast = best_seconds(lambda f=compiled: call(f), repeats=3, calls=10)
        same = torch.allclose(fn(*args), compiled(*args), rtol=1e-4,
                              atol=1e-6)
        out[name] = {'eager': eager, 'compiled': fast,
                     'speedup': eager / fast,
                     'compile_wall_seconds': compile_wall,
                     'values_close': bool(same)}
    torch._dynamo.reset()
    return out


def compile_convs(model: Any) -> None:
    r"""Compiles the dense part of each NGCF layer (:meth:`NGCFConv._combine`:
    the two products, the bias and the LeakyReLU), on the instance."""
    for conv in model.convs:
        conv._combine = torch.compile(conv._combine, dynamic=False)


def compile_layers(model: Any) -> None:
    r"""Compiles NGCF's whole propagation (:meth:`NGCF._layers`: the sparse
    products, the layers, both dropouts, the normalisation and the
    concatenation), on the instance."""
    model._layers = torch.compile(model._layers, dynamic=False)


#: The training steps of NGCF timed under torch.compile (part ``compile``).
COMPILED = {'ngcf, layers compiled': compile_convs,
            'ngcf, propagation compiled': compile_layers}


def _allreduce_rank(rank: int, world_size: int, numel: int,
                    calls: int) -> List[float]:
    import torch.distributed as dist
    x = torch.randn(numel)
    for _ in range(3):
        dist.all_reduce(x)
    times = []
    for _ in range(calls):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(x)
        times.append(time.perf_counter() - start)
    return times


def allreduce_seconds(numel: int, calls: int) -> Dict[str, float]:
    r"""Wall-clock seconds of one gloo all-reduce of :obj:`numel` floats
    between two processes on 127.0.0.1 (median and least of
    :obj:`calls`)."""
    times = launch(_allreduce_rank, 2, args=(numel, calls), threads=1,
                   timeout=120, deadline=300)
    return {'median': statistics.median(times), 'least': min(times),
            'calls': calls, 'megabytes': numel * 4 / 1e6}


def analysis(result: Dict[str, Any]) -> List[str]:
    r"""What the numbers say, as markdown bullets."""
    lines = []
    steps = result.get('steps')
    if steps and 'gemms' in result:
        lg = steps['lightgcn']['seconds_per_step']
        ng = steps['ngcf']['seconds_per_step']
        floor = lg + result['gemms']['total']
        lines.append(
            f"- **NGCF ≤ 2× LightGCN**: NGCF's step {1e3 * ng:.1f} ms is "
            f"{ng / lg:.2f}× LightGCN's {1e3 * lg:.1f} ms. Its dense "
            f"products alone cost {1e3 * result['gemms']['total']:.1f} ms "
            f"a step, so LightGCN's step plus them, with none of NGCF's "
            f"elementwise work, is {1e3 * floor:.1f} ms: "
            f"{floor / lg:.2f}× LightGCN's step "
            + ('(above 2×: the target is out of reach for this model on '
               'this processor, whatever the elementwise work costs).'
               if floor / lg > 2 else
               f'(2× leaves {1e3 * (2 * lg - floor):.1f} ms a step for '
               f"the elementwise work, which costs "
               f"{1e3 * (ng - floor):.1f} ms now)."))
    comp = result.get('compile')
    compiled = result.get('compiled_steps', {})
    if compiled and steps:
        ng = steps['ngcf']['seconds_per_step']
        lines.append(
            "- **torch.compile in NGCF's training step**: " + '; '.join(
                f"{name} {1e3 * row['seconds_per_step']:.1f} ms "
                f"({ng / row['seconds_per_step']:.2f}× the eager step's "
                f"speed; first epoch {row['warm_up_wall_seconds']:.0f} s "
                f"wall-clock with the compilation)"
                for name, row in compiled.items()) + '.')
    if comp:
        lines.append(
            f"- **torch.compile on one layer alone** (NGCF's dense part "
            f"and its normalisation, user block, forward and backward): "
            f"{1e3 * comp['layer']['eager']:.1f} ms eager, "
            f"{1e3 * comp['layer']['compiled']:.1f} ms compiled "
            f"({comp['layer']['speedup']:.2f}×); an elementwise chain with "
            f"one output {1e3 * comp['elementwise']['eager']:.1f} → "
            f"{1e3 * comp['elementwise']['compiled']:.1f} ms "
            f"({comp['elementwise']['speedup']:.2f}×). Compiled values "
            f"differ from eager ones in rounding (and a compiled dropout "
            f"draws other masks), so a compiled path could only be an "
            f"option beside the bit-identical default.")
    ar = result.get('allreduce')
    if ar and steps:
        lg = steps['lightgcn']['seconds_per_step']
        budget = 0.25 * lg
        lines.append(
            f"- **DDP ≥ 1.6×**: two processes may add at most 0.25 × "
            f"{1e3 * lg:.1f} = {1e3 * budget:.1f} ms to the one-process "
            f"step. The all-reduce of the table's gradient "
            f"({ar['megabytes']:.1f} MB) alone takes "
            f"{1e3 * ar['median']:.1f} ms (median; least "
            f"{1e3 * ar['least']:.1f} ms), "
            f"{100 * ar['median'] / budget:.0f}% of that budget, before the "
            f"two processes' competition for memory bandwidth (the "
            f"propagation is memory-bound) and the wait for the slower "
            f"rank.")
    return lines


def markdown(result: Dict[str, Any]) -> str:
    lines = ['# Floors under the per-epoch targets: NGCF / LightGCN and '
             'two processes', '',
             f"Command: `{result['command']}`  ",
             f"Threads: {result['threads']}; torch {result['torch']}; "
             f"load average before / after: "
             f"{fmt_load(result['load_average']['before'])} / "
             f"{fmt_load(result['load_average']['after'])}  ",
             f"Graph: {result['dataset']['dataset']}, "
             f"{result['dataset']['users']:,} users, "
             f"{result['dataset']['items']:,} items, "
             f"{result['dataset']['train']:,} training interactions, "
             f"dim {result['dim']}, {result['layers']} layers, batch "
             f"{result['batch_size']}", '']
    if 'steps' in result:
        lines += ['| step | ms (processor) | × LightGCN |', '|---|---:|---:|']
        lg = result['steps']['lightgcn']['seconds_per_step']
        for name, row in {**result['steps'],
                          **result.get('compiled_steps', {})}.items():
            s = row['seconds_per_step']
            lines.append(f"| {name} ({row['batches_timed']} batches) | "
                         f"{1e3 * s:.1f} | {s / lg:.2f} |")
        if 'gemms' in result:
            g = result['gemms']
            lines.append(f"| NGCF's dense products alone (users "
                         f"{1e3 * g['users']:.1f} + items "
                         f"{1e3 * g['items']:.1f}) | {1e3 * g['total']:.1f}"
                         f" | {g['total'] / lg:.2f} |")
            lines.append(f"| floor: LightGCN + NGCF's products | "
                         f"{1e3 * (lg + g['total']):.1f} | "
                         f"{(lg + g['total']) / lg:.2f} |")
        lines.append('')
    if 'compile' in result:
        lines += ['| torch.compile, forward + backward | eager ms | '
                  'compiled ms | speed-up | compilation s |',
                  '|---|---:|---:|---:|---:|']
        for name, row in result['compile'].items():
            lines.append(f"| {name} ({result['compile_rows']:,} rows) | "
                         f"{1e3 * row['eager']:.2f} | "
                         f"{1e3 * row['compiled']:.2f} | "
                         f"{row['speedup']:.2f}× | "
                         f"{row['compile_wall_seconds']:.1f} |")
        lines.append('')
    if 'allreduce' in result:
        ar = result['allreduce']
        lines += [f"All-reduce of the table's gradient ({ar['megabytes']:.1f}"
                  f" MB, gloo, 2 processes, {ar['calls']} calls): median "
                  f"{1e3 * ar['median']:.2f} ms, least "
                  f"{1e3 * ar['least']:.2f} ms (wall-clock).", '']
    lines += ['## What it says', ''] + result['analysis'] + ['']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    parser.add_argument('--parts', nargs='+', choices=PARTS,
                        default=list(PARTS))
    parser.add_argument('--batches', type=int, default=20,
                        help='training steps timed per model')
    parser.add_argument('--allreduce-calls', type=int, default=30)
    parser.add_argument('--quick', action='store_true',
                        help='a tiny random graph (dim 8, batch 64): for '
                        'the test, seconds')
    parser.add_argument('--out', default=os.path.join(
        'benchmarks', 'results', 'step_floors'),
        help='writes <out>.json and <out>.md')
    args = parse_args(parser, argv)
    base, cfgs = model_configs(parser, args, ['lightgcn', 'ngcf'])
    device = setup(base)
    if device.type != 'cpu':
        parser.error('the floors are measured on the CPU (--device cpu)')
    data = quick_data(base.run.seed) if args.quick else load_cf_data(base)
    stats = data.statistics
    resolved = cfgs['ngcf']
    result: Dict[str, Any] = {
        'command': command_line(argv),
        'dataset': {k: stats[k] for k in ('dataset', 'users', 'items',
                                           'train')},
        'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'dim': resolved.model.dim, 'layers': resolved.model.layers,
        'batch_size': resolved.train.batch_size,
        'load_average': {'before': list(os.getloadavg())}}
    U, I, dim = stats['users'], stats['items'], resolved.model.dim
    if 'steps' in args.parts:
        result['steps'] = {}
        for name, cfg in cfgs.items():
            row = step_seconds(cfg, data, device, args.batches)
            result['steps'][name] = row
            print(f"{name}: {1e3 * row['seconds_per_step']:.1f} ms/step "
                  f"(processor)", flush=True)
    if 'gemms' in args.parts:
        result['gemms'] = gemm_seconds(U, I, dim, resolved.model.layers)
        print(f"NGCF's dense products: "
              f"{1e3 * result['gemms']['total']:.1f} ms/step", flush=True)
    if 'compile' in args.parts:
        for name, prepare in COMPILED.items():
            row = step_seconds(cfgs['ngcf'], data, device, args.batches,
                               prepare)
            result.setdefault('compiled_steps', {})[name] = row
            print(f"{name}: {1e3 * row['seconds_per_step']:.1f} ms/step",
                  flush=True)
        result['compile_rows'] = U
        result['compile'] = compile_seconds(U, dim)
        print('compile: ' + ', '.join(
            f"{k} {v['speedup']:.2f}×" for k, v in result['compile'].items()),
            flush=True)
    if 'allreduce' in args.parts:
        result['allreduce'] = allreduce_seconds((U + I) * dim,
                                                args.allreduce_calls)
        print(f"all-reduce: {1e3 * result['allreduce']['median']:.2f} ms",
              flush=True)
    result['load_average']['after'] = list(os.getloadavg())
    result['analysis'] = analysis(result)
    write_json(result, args.out + '.json')
    write_text(args.out + '.md', markdown(result))
    print('\n'.join(result['analysis']))
    print(f'wrote {args.out}.json, {args.out}.md')


if __name__ == '__main__':
    main()
