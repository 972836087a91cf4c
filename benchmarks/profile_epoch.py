r"""Where a training epoch goes: one profiled epoch of LightGCN and NGCF
(``Trainer.train_epoch`` of the CF task the config builds), its time grouped
into categories, and the memory-bandwidth bound of the propagation beside it.

    python benchmarks/profile_epoch.py --threads 1           # Beauty, both
    python benchmarks/profile_epoch.py --threads 1 --max-batches 20
    python benchmarks/profile_epoch.py --quick --out quick  # tiny, seconds
    python benchmarks/profile_epoch.py --report-only --analysis FILE.md

(From a second checkout of the repository, e.g. a git worktree, run with
``PYTHONPATH=.``: a script's own folder, not the working directory, is first
on its path, so ``adar_pyg`` would otherwise be the installed one.)

Per model (the config's defaults otherwise: dim 64, 3 layers, batch 2048,
uniform negatives, Adam), after one warm-up epoch: one epoch timed without
the profiler, then one under ``torch.profiler`` (CPU activities,
``record_shapes`` off). With ``--max-batches N`` the warm-up and both timed
epochs are the first N batches of an epoch, and every second is scaled by
(batches per epoch) / N.

The self CPU time of every operator (an event whose name has a namespace,
:obj:`aten::`..., :obj:`torch::autograd::AccumulateGrad`, not
:obj:`autograd::engine`...) is given the *kind* of its
outermost operator (so the :obj:`aten::addmm` and :obj:`aten::zeros` inside
an :obj:`aten::_sparse_mm` are SpMM): sparse propagation (an operator with
:obj:`sparse` in its name), gathers and scatters (:obj:`index`,
:obj:`index_select`, :obj:`embedding`, :obj:`gather`, :obj:`index_put_`,
:obj:`index_add_`, :obj:`scatter*`), dense matmul (:obj:`mm`,
:obj:`addmm`, :obj:`bmm`, :obj:`matmul`, :obj:`linear`, ...) and the rest
(elementwise, reductions, copies, allocation). Its *phase* comes from the
ranges around it: the backward (under an
:obj:`autograd::engine::evaluate_function`), the optimizer
(:obj:`Optimizer.step#Adam.step`, :obj:`Optimizer.zero_grad`), the negative
sampler (``task.sampler.sample``, wrapped here in a :obj:`sampler` range)
and the batching (``task.batches``: the permutation and the batch slices,
wrapped in a :obj:`batching` range); forward otherwise (model, loss, L2).
The self time of the optimizer's own non-operator events (the Python body
of the single-tensor ``Adam.step``, per parameter) is its own category;
the self times of the other non-operator events (autograd nodes and
engine, the Python bodies of custom autograd functions, the ranges) and the
time outside every event make up "other / Python", so that the categories
sum to the profiled wall time.

The bandwidth bound: the machine's one-thread memory bandwidth (copy, add,
sum of 256 MiB tensors, best of 5) and the bytes one propagation must move
(see :func:`propagation_bytes`); each batch of the full-graph
:class:`~adar_pyg.train.CFTask` propagates the whole graph, :math:`L`
sparse products forward and :math:`L` backward.

The profiler's times are wall-clock; on a shared machine they include the
time other jobs took the core, so every category is also given scaled by
the processor / wall seconds of the profiled epoch (``categories_cpu``,
the basis of the bound and the levers), and the bandwidth and the SpMM
timings are per second of processor time.

Writes ``<out>.json`` and ``<out>.md`` (default
``benchmarks/results/profile_epoch``); ``--report-only`` rewrites the
markdown from the JSON, with ``--analysis FILE.md`` putting a written
analysis into both.
"""
import argparse
import copy
import itertools
import json
import os
import platform
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from common import Stopwatch, best_seconds, command_line

from adar_pyg.config import (ConfigError, add_config_args, config_from_args,
                             parse_args)
from adar_pyg.io import write_text
from adar_pyg.pipeline import (EDGE, RunData, build_task, build_trainer,
                               load_cf_data, setup)
from adar_pyg.run import write_json

MODELS = ('lightgcn', 'ngcf')
KINDS = ('spmm', 'gather', 'matmul', 'elementwise')
KIND_LABELS = {'spmm': 'sparse propagation (SpMM)',
               'gather': 'gathers / scatters (index, index_put_)',
               'matmul': 'dense matmul (mm, addmm)',
               'elementwise': 'elementwise, reductions, copies'}
#: The categories of the table, in order: (key, label).
CATEGORIES = (
    [(f'{kind}_{phase}', f'{KIND_LABELS[kind]}, {phase}')
     for kind in KINDS for phase in ('forward', 'backward')] +
    [('optimizer', 'optimizer (Adam step, zero_grad): operators'),
     ('optimizer_python', 'optimizer: Python of Adam.step (per parameter)'),
     ('sampler', 'negative sampler'),
     ('batching', 'batching (permutation, slices)'),
     ('other_autograd', 'other: autograd engine and nodes'),
     ('other_python', 'other: Python in ranges and custom autograd '
      'functions'),
     ('other_outside', 'other: outside every event (loop, Python)')])
GATHER_OPS = ('aten::index', 'aten::index_select', 'aten::embedding',
              'aten::gather', 'aten::index_put_', 'aten::_index_put_impl_',
              'aten::index_put', 'aten::index_add_', 'aten::index_add',
              'aten::take', 'aten::embedding_backward',
              'aten::embedding_dense_backward', 'aten::masked_select')
MATMUL_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::matmul',
              'aten::linear', 'aten::baddbmm', 'aten::addmv', 'aten::mv',
              'aten::dot')
QUICK = dict(users=60, items=80, interactions=900, dim=8, batch_size=64)
BANDWIDTH_BYTES = 2**28  # 256 MiB per tensor


# --- categories of a profile -------------------------------------------------
def is_op(name: str) -> bool:
    r"""An operator (:obj:`aten::...`, :obj:`torch_sparse::...`), not an
    autograd node, engine step or range."""
    return '::' in name and not name.startswith('autograd::')


def op_kind(name: str) -> str:
    r"""The kind of an (outermost) operator, see :data:`KINDS`."""
    if 'sparse' in name or name.startswith(('torch_sparse::', 'pyg::')):
        return 'spmm'
    if name in GATHER_OPS or name.startswith('aten::scatter'):
        return 'gather'
    if name in MATMUL_OPS:
        return 'matmul'
    return 'elementwise'


def phase_of(names: List[str]) -> str:
    r"""The phase of an event given the names of its ancestors."""
    for name in names:
        if name.startswith('Optimizer.'):
            return 'optimizer'
        if name in ('sampler', 'batching'):
            return name
    if any(n.startswith('autograd::engine::evaluate_function') for n in names):
        return 'backward'
    return 'forward'


def top_ops(events: Any, n: int = 12) -> List[Tuple[str, float, int]]:
    r"""The :obj:`n` operators with the most self time: (name, seconds,
    calls)."""
    seconds: Dict[str, float] = {}
    calls: Dict[str, int] = {}
    for e in events:
        if is_op(e.name):
            seconds[e.name] = seconds.get(e.name, 0.0) + \
                e.self_cpu_time_total * 1e-6
            calls[e.name] = calls.get(e.name, 0) + 1
    names = sorted(seconds, key=seconds.get, reverse=True)[:n]
    return [(name, seconds[name], calls[name]) for name in names]


def categorize(events: Any, wall: float) -> Dict[str, float]:
    r"""Seconds per category (:data:`CATEGORIES`) of the profiler
    :obj:`events` of a stretch of :obj:`wall` seconds; they sum to
    :obj:`wall`."""
    out = {key: 0.0 for key, _ in CATEGORIES}
    for e in events:
        chain, parent = [], e.cpu_parent
        while parent is not None:
            chain.append(parent.name)
            parent = parent.cpu_parent
        seconds = e.self_cpu_time_total * 1e-6
        if is_op(e.name):
            phase = phase_of(chain)
            if phase in ('forward', 'backward'):
                outer = [n for n in reversed(chain) if is_op(n)]
                kind = op_kind(outer[0] if outer else e.name)
                out[f'{kind}_{phase}'] += seconds
            else:
                out[phase] += seconds
        elif e.name.startswith('autograd::') or e.name.endswith('Backward0') \
                or e.name.endswith('Backward1'):
            out['other_autograd'] += seconds
        elif phase_of([e.name] + chain) == 'optimizer':
            out['optimizer_python'] += seconds  # Adam.step's own body
        else:  # Ranges, custom autograd functions (Python)
            out['other_python'] += seconds
    out['other_outside'] = wall - sum(out.values())
    return out


def label_calls(task: Any) -> None:
    r"""Wraps the sampler's draws and the task's batching of :obj:`task` in
    :obj:`sampler` and :obj:`batching` profiler ranges (instance attributes:
    the library is unchanged)."""
    sample = task.sampler.sample

    def labelled_sample(*args: Any, **kwargs: Any) -> Any:
        with record_function('sampler'):
            return sample(*args, **kwargs)

    task.sampler.sample = labelled_sample
    batches = task.batches

    def labelled_batches(generator: torch.Generator) -> Iterator[Any]:
        with record_function('batching'):
            it = batches(generator)
        while True:
            with record_function('batching'):
                batch = next(it, None)
            if batch is None:
                return
            yield batch

    task.batches = labelled_batches


def limit_batches(task: Any, n: int) -> None:
    r"""Makes every epoch of :obj:`task` its first :obj:`n` batches."""
    batches = task.batches
    task.batches = lambda generator: itertools.islice(batches(generator), n)


# --- bandwidth ---------------------------------------------------------------
def memory_bandwidth(num_bytes: int = BANDWIDTH_BYTES,
                     repeats: int = 5) -> Dict[str, float]:
    r"""GB/s (10^9 bytes) of a copy (read + write), an add (two reads, one
    write) and a sum (one read) of :obj:`num_bytes` float tensors in this
    process's threads, per second of processor time (so that time sliced
    away by other jobs on a shared machine is not counted; wall-clock GB/s
    under :obj:`'wall'`): the best of :obj:`repeats`. Write-allocate
    traffic is not counted (so these are what a kernel that reads X and
    writes Y bytes can expect)."""
    n = num_bytes // 4
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    moves: Dict[str, Tuple[Callable[[], Any], int]] = {
        'copy': (lambda: c.copy_(a), 2),
        'add': (lambda: torch.add(a, b, out=c), 3),
        'sum': (lambda: a.sum(), 1),
    }
    out: Dict[str, Any] = {'wall': {}}
    for name, (fn, factor) in moves.items():
        fn()
        best = best_wall = float('inf')
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            best = min(best, time.process_time() - c0)
            best_wall = min(best_wall, time.perf_counter() - t0)
        out[name] = factor * num_bytes / best / 1e9
        out['wall'][name] = factor * num_bytes / best_wall / 1e9
    return out


def propagation_bytes(num_users: int, num_items: int, nnz: int, dim: int,
                      index_bytes: int = 4, value_bytes: int = 4,
                      feature_bytes: int = 4) -> Dict[str, float]:
    r"""Bytes one product :math:`\tilde{\mathbf{A}}\mathbf{X}` by the two
    CSR blocks (:obj:`nnz` stored entries each, N = U + I rows in all) must
    move:

    * ``adjacency``: :math:`2\,\mathrm{nnz}\,(b_{idx} + b_{val}) +
      (N + 2)\,b_{idx}` (column indices, values, row pointers);
    * ``features``: :math:`2\,N F b_f` (every input row read once, every
      output row written once: perfect cache reuse of the gathered rows);
    * ``spmm``: their sum, the compulsory traffic of one product;
    * ``spmm_no_reuse``: the adjacency plus one row read per stored entry
      and the output written, :math:`2\,\mathrm{nnz}\,F b_f + N F b_f`
      (no gathered row stays in cache);
    * ``axpy``: one :math:`[N, F]` accumulation :math:`\mathbf{Y} \mathrel{+}=
      a\mathbf{X}` (read Y and X, write Y), :math:`3\,N F b_f`.
    """
    N = num_users + num_items
    adjacency = 2 * nnz * (index_bytes + value_bytes) + (N + 2) * index_bytes
    features = 2 * N * dim * feature_bytes
    return {
        'adjacency': adjacency,
        'features': features,
        'spmm': adjacency + features,
        'spmm_no_reuse': adjacency + (2 * nnz + N) * dim * feature_bytes,
        'axpy': 3 * N * dim * feature_bytes,
    }


def spmm_alone(task: Any, dim: int, repeats: int = 5) -> float:
    r"""Processor seconds of one product by the task's adjacency (its two
    blocks, :obj:`[N, dim]` random input), the best of :obj:`repeats`."""
    from adar_pyg.nn.sparse import bipartite_norm_adj
    adj = bipartite_norm_adj(task.edge_index.cpu(), task.num_users,
                             task.num_items)
    xu, xi = torch.rand(task.num_users, dim), torch.rand(task.num_items, dim)

    def product() -> None:
        torch.sparse.mm(adj.user_item, xi)
        torch.sparse.mm(adj.item_user, xu)

    return best_seconds(product, repeats)


def spmm_variants(task: Any, dim: int, repeats: int = 5) -> Dict[str, float]:
    r"""Processor milliseconds of one product by the two blocks of the
    task's adjacency (best of :obj:`repeats`) in other formulations: CSR
    with int32 indices (what the models run), CSR with int64 indices, COO,
    :obj:`torch_sparse.SparseTensor` (if installed) and a gather /
    scatter-add (:obj:`index_select`, scale, :obj:`index_add_`)."""
    from adar_pyg.nn.sparse import bipartite_norm_adj
    adj = bipartite_norm_adj(task.edge_index.cpu(), task.num_users,
                             task.num_items)
    x = {'item': torch.rand(task.num_items, dim),
         'user': torch.rand(task.num_users, dim)}
    blocks = [(adj.user_item, x['item']), (adj.item_user, x['user'])]

    def coo_of(csr: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        crow = csr.crow_indices().long()
        row = torch.repeat_interleave(torch.arange(csr.size(0)), crow.diff())
        return row, csr.col_indices().long(), csr.values()

    forms: Dict[str, List[Callable[[], Any]]] = {}
    forms['csr_int32'] = [lambda m=m, v=v: torch.sparse.mm(m, v)
                          for m, v in blocks]
    csr64 = [(torch.sparse_csr_tensor(m.crow_indices().long(),
                                      m.col_indices().long(), m.values(),
                                      m.shape, check_invariants=False), v)
             for m, v in blocks]
    forms['csr_int64'] = [lambda m=m, v=v: torch.sparse.mm(m, v)
                          for m, v in csr64]
    coo = [(m.to_sparse_coo().coalesce(), v) for m, v in blocks]
    forms['coo'] = [lambda m=m, v=v: torch.sparse.mm(m, v) for m, v in coo]
    triples = [(coo_of(m), m.size(0), v) for m, v in blocks]
    forms['index_select_index_add'] = [
        lambda t=t, n=n, v=v: v.new_zeros(n, dim).index_add_(
            0, t[0], v.index_select(0, t[1]) * t[2].unsqueeze(1))
        for t, n, v in triples]
    try:
        from torch_sparse import SparseTensor
        sparse = [(SparseTensor(row=t[0], col=t[1], value=t[2],
                                sparse_sizes=(n, v.size(0))), v)
                  for t, n, v in triples]
        forms['torch_sparse'] = [lambda m=m, v=v: m.matmul(v)
                                 for m, v in sparse]
    except ImportError:
        pass
    out = {}
    for name, calls in forms.items():
        def product(calls: List[Callable[[], Any]] = calls) -> None:
            for call in calls:
                call()
        out[name] = best_seconds(product, repeats) * 1e3
    return out


# --- one model ---------------------------------------------------------------
def quick_data(seed: int = 0) -> RunData:
    r"""A tiny random user-item graph split per user (for ``--quick``)."""
    from torch_geometric.data import HeteroData

    from adar_pyg.transforms import PerUserRandomSplit
    U, I = QUICK['users'], QUICK['items']
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.unique(torch.stack([
        torch.randint(U, (QUICK['interactions'], ), generator=g),
        torch.randint(I, (QUICK['interactions'], ), generator=g)]), dim=1)
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = U, I
    data[EDGE].edge_index = edge_index
    train, val, test = PerUserRandomSplit(0.2, 0.1, seed=seed)(data)
    stats = {'dataset': 'quick (random)', 'users': U, 'items': I,
             'interactions': int(edge_index.size(1)),
             'train': int(train[EDGE].edge_label_index.size(1))}
    return RunData(train, val, test, stats)


def profile_model(cfg: Any, data: RunData, device: torch.device,
                  max_batches: int) -> Dict[str, Any]:
    r"""Warm-up, plain and profiled epoch of the model of :obj:`cfg`;
    the row of the result file (seconds scaled to the whole epoch)."""
    torch.manual_seed(cfg.run.seed)
    task = build_task(cfg, data, device)
    trainer = build_trainer(cfg, task, None, progress=False)
    optimizer = torch.optim.Adam(task.model.parameters(), lr=cfg.train.lr)
    epoch_batches = task.num_batches()
    n = min(max_batches, epoch_batches) if max_batches else epoch_batches
    if n < epoch_batches:
        limit_batches(task, n)
    label_calls(task)
    scale = epoch_batches / n
    seed = cfg.run.seed

    def epoch(number: int) -> None:
        trainer.train_epoch(optimizer,
                            torch.Generator().manual_seed(seed + number),
                            number)

    epoch(0)  # warm-up
    load_before = os.getloadavg()
    with Stopwatch(device) as plain:
        epoch(1)
    with profile(activities=[ProfilerActivity.CPU],
                 record_shapes=False) as prof:
        with Stopwatch(device) as profiled:
            epoch(2)
    events = prof.events()
    parts = categorize(events, profiled.seconds)
    weight = task.model.embedding.weight
    grad_rows = (float((weight.grad != 0).any(dim=1).float().mean())
                 if weight.grad is not None else None)
    return {
        'model': cfg.model.model,
        'dim': cfg.model.dim,
        'layers': cfg.resolved().model.layers,
        'batch_size': cfg.train.batch_size,
        'batches_per_epoch': epoch_batches,
        'batches_timed': n,
        'scale_to_epoch': scale,
        'num_ops': sum(1 for e in events if is_op(e.name)),
        'plain_seconds': plain.seconds * scale,
        'plain_cpu_seconds': plain.cpu_seconds * scale,
        'wall_seconds': profiled.seconds * scale,
        'profiled_cpu_seconds': profiled.cpu_seconds * scale,
        'categories': {k: v * scale for k, v in parts.items()},
        # The profiler's times are wall-clock: on a shared machine they
        # include time sliced away by other jobs. Scaled by processor /
        # wall seconds of the profiled epoch (one thread), assuming the
        # slicing hits every category alike:
        'cpu_share': profiled.cpu_seconds / profiled.seconds,
        'categories_cpu': {k: v * scale * profiled.cpu_seconds /
                           profiled.seconds for k, v in parts.items()},
        'embedding_grad_rows_fraction': grad_rows,
        # (name, CPU seconds per epoch, calls per epoch), as the categories
        'top_ops': [(name, sec * scale * profiled.cpu_seconds /
                     profiled.seconds, round(count * scale))
                    for name, sec, count in top_ops(events)],
        'parameters': sum(p.numel() for p in task.model.parameters()),
        'load_average': {'before': list(load_before),
                         'after': list(os.getloadavg())},
        '_task': task,
    }


# --- the analysis ------------------------------------------------------------
def kind_totals(row: Dict[str, Any]) -> Dict[str, float]:
    c = row['categories_cpu']
    out = {kind: c[f'{kind}_forward'] + c[f'{kind}_backward']
           for kind in KINDS}
    out.update(optimizer=c['optimizer'] + c['optimizer_python'], sampler=c['sampler'],
               batching=c['batching'],
               other=c['other_autograd'] + c['other_python'] +
               c['other_outside'])
    return out


def bound_row(row: Dict[str, Any], task: Any, bandwidth: float,
              spmm_seconds: float) -> Dict[str, Any]:
    r"""The bandwidth bound of the propagation per epoch against the
    measured SpMM time of :obj:`row`."""
    nnz = int(task.model.adjacency(task.edge_index).user_item._nnz())
    b = propagation_bytes(task.num_users, task.num_items, nnz, row['dim'])
    L = row['layers']
    passes = 2 * L * row['batches_per_epoch']  # L forward, L backward
    spmm = row['categories_cpu']['spmm_forward'] + \
        row['categories_cpu']['spmm_backward']
    return {
        'nnz_per_block': nnz,
        'bytes_per_product': b,
        'products_per_epoch': passes,
        'bandwidth_gb_s': bandwidth,
        'bound_seconds': passes * b['spmm'] / bandwidth / 1e9,
        'bound_no_reuse_seconds': passes * b['spmm_no_reuse'] / bandwidth /
        1e9,
        'spmm_alone_seconds_per_product': spmm_seconds,
        'spmm_alone_seconds_per_epoch': passes * spmm_seconds,
        'spmm_alone_gb_s': b['spmm'] / spmm_seconds / 1e9,
        'spmm_measured_seconds': spmm,
        'spmm_measured_gb_s': passes * b['spmm'] / spmm / 1e9 if spmm else
        None,
        'gap_to_bound': spmm / (passes * b['spmm'] / bandwidth / 1e9),
    }


def levers(rows: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    r"""Expected savings per epoch (seconds) of each lever, from the table:

    * ``sparse_adam``: sparse embedding gradients + row-wise Adam update
      only the rows with a gradient: optimizer × (1 − fraction of rows with
      a non-zero gradient, measured on the last batch);
    * ``batch_x2``: twice the batch (half the steps): the per-step costs
      halve — everything but the sampler, the batching and the forward
      gathers (the batch's rows; the scatters of their backward fill a
      full [N, F] gradient, so they are per step);
    * ``spmm_at_bound``: the propagation at the bandwidth bound (a better
      or fused SpMM kernel): measured SpMM − bound;
    * ``fuse_elementwise``: fusing the elementwise work (torch.compile or
      a fused layer kernel) and removing the per-op overhead: at most the
      elementwise categories plus the autograd / Python overhead.
    """
    out = {}
    for name, row in rows.items():
        c, k, b = row['categories_cpu'], kind_totals(row), row['bound']
        frac = row['embedding_grad_rows_fraction'] or 1.0
        per_row = c['sampler'] + c['batching'] + c['gather_forward']
        out[name] = {
            'sparse_adam': k['optimizer'] * (1.0 - frac),
            'batch_x2': 0.5 * (row['profiled_cpu_seconds'] - per_row),
            'spmm_at_bound': max(0.0, b['spmm_measured_seconds'] -
                                 b['bound_seconds']),
            'fuse_elementwise': k['elementwise'] + c['other_autograd'] +
            c['other_python'],
        }
    return out


def markdown(result: Dict[str, Any]) -> str:
    rows = result['models']
    names = list(rows)
    lines = [f"# Where the epoch goes: {', '.join(names)} on "
             f"{result['dataset']['dataset']}", '',
             f"Command: `{result['command']}`  ",
             f"Threads: {result['threads']}; torch {result['torch']}; "
             f"{result['machine']}  ",
             'Load average (1, 5, 15 min) before / after each model: ' +
             '; '.join(f"{n} {fmt_load(r['load_average']['before'])} / "
                       f"{fmt_load(r['load_average']['after'])}"
                       for n, r in rows.items()) + '  ',
             f"Graph: {result['dataset']['users']:,} users, "
             f"{result['dataset']['items']:,} items, "
             f"{result['dataset']['train']:,} training interactions", '']
    timed = ', '.join(
        f"{n}: {r['batches_timed']} of {r['batches_per_epoch']} batches"
        + (f" (scaled ×{r['scale_to_epoch']:.2f})"
           if r['batches_timed'] < r['batches_per_epoch'] else '')
        for n, r in rows.items())
    lines += [f'Seconds per epoch of the profiled epoch ({timed}), '
              'self time of the operators by category; "other" is '
              'the profiled wall time not inside any operator. "wall": the '
              "profiler's (wall-clock) times; \"CPU\": the same scaled by "
              'the processor / wall seconds of the profiled epoch ' +
              ', '.join(f"{n} {rows[n]['cpu_share']:.2f}" for n in names) +
              ' (the share of a core this process got beside the other '
              'jobs), the basis of everything below.', '']
    head = '| category | ' + ' | '.join(f'{n} wall s | {n} CPU s | {n} %'
                                         for n in names)
    lines += [head + ' |', '|---|' + '---:|---:|---:|' * len(names)]
    for key, label in CATEGORIES:
        cells = []
        for n in names:
            r = rows[n]
            w, c = r['categories'][key], r['categories_cpu'][key]
            cells.append(f"{w:.3f} | {c:.3f} | "
                         f"{100 * w / r['wall_seconds']:.1f}")
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    lines.append('| **profiled epoch** | ' + ' | '.join(
        f"**{rows[n]['wall_seconds']:.3f}** | "
        f"**{rows[n]['profiled_cpu_seconds']:.3f}** | 100"
        for n in names) + ' |')
    lines.append('| epoch without profiler | ' + ' | '.join(
        f"{rows[n]['plain_seconds']:.3f} | "
        f"{rows[n]['plain_cpu_seconds']:.3f} | "
        f"{100 * rows[n]['plain_cpu_seconds'] / rows[n]['profiled_cpu_seconds']:.0f}"
        for n in names) + ' |')
    lines += ['', 'By kind (forward + backward, CPU seconds):', '',
              '| kind | ' + ' | '.join(f'{n} s' for n in names) +
              (' | ' + ' − '.join(reversed(names[:2])) + ' s |'
               if len(names) >= 2 else ' |'),
              '|---|' + '---:|' * (len(names) + (len(names) >= 2))]
    totals = {n: kind_totals(rows[n]) for n in names}
    for key in totals[names[0]]:
        diff = (f' | {totals[names[1]][key] - totals[names[0]][key]:+.3f}'
                if len(names) >= 2 else '')
        lines.append(f'| {key} | ' + ' | '.join(
            f'{totals[n][key]:.3f}' for n in names) + diff + ' |')
    bw = result['bandwidth_gb_s']
    lines += ['', '## The bandwidth bound of the propagation', '',
              'One-thread memory bandwidth (256 MiB tensors, best of 5, '
              'bytes read + written per second of processor time): ' +
              ', '.join(f'{k} {v:.1f} GB/s' for k, v in bw.items()
                        if k != 'wall') + ' (per wall-clock second: ' +
              ', '.join(f'{k} {v:.1f}' for k, v in bw['wall'].items()) +
              ')' +
              f"; the bound uses {result['bound_bandwidth']} "
              f"({bw[result['bound_bandwidth']]:.1f} GB/s).", '',
              'Bytes of one product by the two CSR blocks (int32 indices, '
              'float32 values and features, N = U + I, F = dim): adjacency '
              '2·nnz·(4 + 4) + 4·(N + 2); features read once and written '
              'once 2·N·F·4 (perfect reuse of the gathered rows); without '
              'reuse 2·nnz·F·4 + N·F·4. An epoch runs batches × 2L '
              'products (L forward, L backward, the whole graph every '
              'batch). SpMM: the CPU seconds of the SpMM categories; '
              '"alone": the two block products timed by themselves (best '
              'of 5, processor time) × products per epoch.', '',
              '| model | nnz per block | MB per product | products per '
              'epoch | bound s | bound s, no reuse | SpMM s (profile) | '
              'GB/s achieved | × bound | SpMM alone s/epoch |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for n in names:
        b = rows[n]['bound']
        lines.append(
            f"| {n} | {b['nnz_per_block']:,} | "
            f"{b['bytes_per_product']['spmm'] / 1e6:.1f} | "
            f"{b['products_per_epoch']:,} | {b['bound_seconds']:.3f} | "
            f"{b['bound_no_reuse_seconds']:.3f} | "
            f"{b['spmm_measured_seconds']:.3f} | "
            f"{b['spmm_measured_gb_s'] or 0:.1f} | "
            f"{b['gap_to_bound']:.1f} | "
            f"{b['spmm_alone_seconds_per_epoch']:.3f} |")
    if result.get('spmm_variants_ms'):
        lines += ['', 'One product by both blocks in other formulations '
                  '(processor ms, best of 5, the same graph, dim ' +
                  f"{rows[names[0]]['dim']}): " + ', '.join(
                      f'{k} {v:.2f}'
                      for k, v in result['spmm_variants_ms'].items()) +
                  '; the bound is ' + f"{1e3 * rows[names[0]]['bound']['bytes_per_product']['spmm'] / result['bandwidth_gb_s'][result['bound_bandwidth']] / 1e9:.2f}" +
                  ' ms.']
    lever = result['levers']
    lines += ['', '## Expected savings per epoch (CPU seconds and share of '
              'the profiled epoch, from the table)',
              '', '| lever | ' + ' | '.join(names) + ' |',
              '|---|' + '---:|' * len(names)]
    labels = {'sparse_adam': 'sparse gradients + row-wise Adam',
              'batch_x2': 'batch ×2 (half the propagations)',
              'spmm_at_bound': 'SpMM at the bandwidth bound',
              'fuse_elementwise': 'fused kernels / torch.compile (at most)'}
    for key, label in labels.items():
        lines.append(f'| {label} | ' + ' | '.join(
            f'{lever[n][key]:.3f} '
            f"({100 * lever[n][key] / rows[n]['profiled_cpu_seconds']:.0f}%)"
            for n in names) + ' |')
    lines += ['', 'Operators with the most self time (CPU s per epoch, '
              'calls per epoch):', '']
    for n in names:
        lines.append(f'- {n}: ' + ', '.join(
            f'`{op}` {sec:.2f} ({calls:,})'
            for op, sec, calls in rows[n].get('top_ops', [])))
    lines += ['', 'Rows of the embedding with a non-zero gradient after '
              'one batch: ' + ', '.join(
                  f"{n} {100 * (rows[n]['embedding_grad_rows_fraction'] or 0):.1f}%"
                  for n in names) + '.', '']
    if result.get('analysis'):
        lines += ['## Analysis', '', result['analysis'], '']
    return '\n'.join(lines)


def fmt_load(load: List[float]) -> str:
    return ', '.join(f'{v:.2f}' for v in load)


def read_text(path: str) -> str:
    with open(path, encoding='utf-8') as f:
        return f.read().strip()


def measure_command() -> str:
    r"""The command line of the measurement, without :obj:`--analysis
    FILE` (the text is in the result files; the file is not)."""
    words = command_line().split(' ')
    if '--analysis' in words:
        i = words.index('--analysis')
        del words[i:i + 2]
    return ' '.join(w for w in words if not w.startswith('--analysis='))


def report_only(out: str, analysis: Optional[str]) -> None:
    r"""Rewrites :obj:`out.md` from :obj:`out.json`, with the analysis of
    the file :obj:`analysis` (if given) put into both."""
    if not os.path.exists(out + '.json'):
        raise SystemExit(f"--report-only: no results file '{out}.json'")
    with open(out + '.json', encoding='utf-8') as f:
        result = json.load(f)
    if analysis:
        result['analysis'] = read_text(analysis)
        write_json(result, out + '.json')
    write_text(out + '.md', markdown(result))


def model_configs(parser: argparse.ArgumentParser, args: Any,
                  names: List[str]) -> Tuple[Any, Dict[str, Any]]:
    r"""The config of the parsed :obj:`args` (``--quick``: dim and batch of
    the tiny graph) and, for each model of :obj:`names`, a resolved copy
    with that model; an invalid setting is the :obj:`parser`'s error."""
    given = {}
    if args.quick:
        given = {'model': {'dim': QUICK['dim']},
                 'train': {'batch_size': QUICK['batch_size']}}
    try:
        base = config_from_args(args, preset=given)
        cfgs = {}
        for name in names:
            cfg = copy.deepcopy(base)
            cfg.model.model = name
            cfgs[name] = cfg.resolved()
    except ConfigError as e:
        parser.error(str(e))
    return base, cfgs


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    # The settings (--dataset, --batch-size, --dim, --layers, --lr, --l2,
    # --threads, --seed, --data-root, the split; --model is --models here;
    # --max-batches N: profile the first N batches, scaled to the epoch).
    add_config_args(parser, config_file=False)
    parser.add_argument('--models', nargs='+', choices=MODELS,
                        default=list(MODELS))
    parser.add_argument('--quick', action='store_true',
                        help='a tiny random graph (dim 8, batch 64): for '
                        'the test, seconds')
    parser.add_argument('--out', default=os.path.join(
        'benchmarks', 'results', 'profile_epoch'),
        help='writes <out>.json and <out>.md')
    parser.add_argument('--analysis', default=None, metavar='FILE.md',
                        help='a written analysis to include in the result '
                        'files (a new measurement drops the old one)')
    parser.add_argument('--report-only', action='store_true',
                        help='measure nothing: rewrite <out>.md (and the '
                        'analysis of <out>.json, with --analysis) from '
                        '<out>.json')
    args = parse_args(parser, argv)
    if args.report_only:
        report_only(args.out, args.analysis)
        return
    base, cfgs = model_configs(parser, args, args.models)
    device = setup(base)
    data = quick_data(base.run.seed) if args.quick else load_cf_data(base)
    stats = data.statistics
    print(f"{stats['dataset']}: {stats['users']} users, {stats['items']} "
          f"items, {stats['train']} training pairs; "
          f'{torch.get_num_threads()} threads', flush=True)
    bandwidth = memory_bandwidth(2**22 if args.quick else BANDWIDTH_BYTES)
    print('bandwidth (GB/s of processor time): ' + ', '.join(
        f'{k} {v:.1f}' for k, v in bandwidth.items() if k != 'wall'),
        flush=True)
    bound_by = 'copy'
    rows: Dict[str, Dict[str, Any]] = {}
    variants: Dict[str, float] = {}
    for name, cfg in cfgs.items():
        row = profile_model(cfg, data, device, cfg.train.max_batches or 0)
        task = row.pop('_task')
        row['bound'] = bound_row(row, task, bandwidth[bound_by],
                                 spmm_alone(task, row['dim']))
        rows[name] = row
        if not variants:
            variants = spmm_variants(task, row['dim'])
            print('one product (both blocks), CPU ms: ' + ', '.join(
                f'{k} {v:.2f}' for k, v in variants.items()), flush=True)
        print(f"{name}: profiled {row['wall_seconds']:.3f} s/epoch "
              f"({row['profiled_cpu_seconds']:.3f} CPU s), plain "
              f"{row['plain_seconds']:.3f} s/epoch "
              f"({row['plain_cpu_seconds']:.3f} CPU s); SpMM CPU "
              f"{row['bound']['spmm_measured_seconds']:.3f} s vs bound "
              f"{row['bound']['bound_seconds']:.3f} s", flush=True)
        del task
    # A new measurement drops the old analysis (its numbers were others):
    # write one for these with --report-only --analysis FILE.
    analysis = read_text(args.analysis) if args.analysis else None
    result = {
        'command': measure_command(),
        'dataset': {k: stats[k] for k in ('dataset', 'users', 'items',
                                           'train')},
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'machine': f'{platform.machine()}, {os.cpu_count()} cores',
        'device': str(device),
        'bandwidth_gb_s': bandwidth,
        'bound_bandwidth': bound_by,
        'spmm_variants_ms': variants,
        'categories': dict(CATEGORIES),
        'models': rows,
        'levers': levers(rows),
        'analysis': analysis,
    }
    text = markdown(result)
    print('\n' + text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(result, args.out + '.json')
    write_text(args.out + '.md', text)


if __name__ == '__main__':
    main()
