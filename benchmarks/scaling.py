r"""How training cost grows with the graph: seconds per epoch, evaluation
seconds and peak memory of four paths on synthetic power-law bipartite graphs
(0.2M to 5M training interactions by default) and on Amazon-Beauty and
Gowalla.

    python benchmarks/scaling.py --threads 1                 # the full range
    python benchmarks/scaling.py --sizes 200000 1000000 --datasets none
    python benchmarks/scaling.py --quick                     # tiny, seconds
    python benchmarks/scaling.py --quick --paths ddp2        # the same, ddp2
    python benchmarks/scaling.py --paths ddp2 --merge --threads 1 \
        --sizes 200000 1000000 --datasets beauty gowalla     # add ddp2 rows

Paths (LightGCN, BPR with uniform negatives, Adam, ``--batch-size`` pairs per
step):

* ``full``: :class:`~adar_pyg.train.CFTask`, every step propagates over the
  whole training graph (cost per epoch ~ E^2 / B).
* ``sampled``: :class:`~adar_pyg.train.SampledCFTask`, every step propagates
  over the subgraph that ``LinkNeighborLoader(neg_sampling='triplet')``
  samples around its triplets with ``--fanout`` per layer (cost per step
  bounded by the subgraph's cap, so per epoch ~ E once the graph is far
  larger than it; below, the subgraph grows with the graph: the measured
  slope is in the summary).
* ``sampled_sparse``: the ``sampled`` path with sparse embedding
  gradients (``SampledCFTask(sparse_grad=True)``, ``--sparse-grad`` of
  ``adar-pyg train --sampled``): ``torch.optim.SparseAdam`` updates the
  subgraph's rows only (lazy Adam), so that the optimiser's cost per step
  is that of the subgraph's rows, not of the whole table.
* ``pyg``: PyG's stock ``torch_geometric.nn.models.LightGCN`` on the same
  triplets (as in ``benchmarks/train_speed.py``), up to
  ``--pyg-max-interactions`` (it stores one message per edge and layer).

* ``ddp2``: the ``full`` path trained data-parallel by 2 processes
  (:func:`adar_pyg.train.distributed.launch`: gloo on 127.0.0.1, one torch
  thread each; NCCL with one GPU each on CUDA), each holding the whole graph
  and a :meth:`~adar_pyg.train.RecTask.shard` ed :class:`~adar_pyg.train.
  CFTask` driven by :class:`~adar_pyg.train.Trainer` in its multi-process
  mode (the gradients averaged by DDP every step). ``--batch-size`` is per
  rank, so the global batch is twice the other paths' and an epoch has half
  as many steps (E / 2B). Two ranks need two idle cores: on a machine busy
  with other jobs the row measures the contention, not the method.

``--paths`` measures some paths only; with ``--merge`` the rows measured are
merged into the existing ``<out>/scaling.json`` (replacing rows of the same
graph and path, keeping all others and the file's settings, which must match)
instead of starting a new file, e.g. to add the ``ddp2`` rows to a table
measured earlier.

Every path runs in its own process (one per graph and path), so that its peak
memory is its own: the peak resident set size on the CPU (``ru_maxrss``:
data, evaluator, model, optimiser and Python included), the peak allocated
memory on CUDA; for ``ddp2``, the sum over its 2 ranks (each a process of
its own). Seconds per epoch are **not** full epochs: ``--batches``
training steps (``--pyg-batches`` for PyG) of ``Trainer.train_epoch``
(sampling, forward, loss, backward, Adam; for ``ddp2`` also the all-reduce
of the gradients) are timed after one warm-up step, and the mean step (for
``ddp2``, of the slower rank) is scaled to the epoch's number of batches
(for ``ddp2``, of global steps); the processor time of ``ddp2`` is that of
both ranks. Evaluation is the full-ranking test evaluation of ``CFTask``
(full propagation + ranking every item for every test user), with the
ranking timed on ``--eval-users`` test users and scaled to all of them (not
timed for ``pyg`` and ``ddp2``).

Synthetic graphs follow Gowalla's degree distribution: users and items in
Gowalla's proportions (34.4 interactions per user, 25.1 per item), user
degrees drawn from a discrete Pareto law with minimum 10 and exponent 2.41,
at most Gowalla's largest (1,014), each interaction's item from Pareto
weights with exponent 2.67 (Gowalla: minimum 9 / 10, medians 20 / 15, 99th
percentiles 228 / 173), repeated pairs merged, then
split per user 80/20 (:class:`~adar_pyg.transforms.PerUserRandomSplit`);
the sizes are the training interactions (what an epoch iterates over).

Writes ``<out>/scaling.json`` (``rows``: one object per graph and path with
``interactions``, ``path``, ``seconds_per_epoch``, ``peak_memory_mb``, ...),
``scaling.md`` and ``scaling.png`` (log-log), with the crossover where the
sampled path starts to win, the epoch speed-up of ``ddp2`` over ``full`` per
graph and the largest graph that trains within ``--memory-budget-gib``
(24 GiB) per path.
"""
import argparse
import copy
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import (TYPE_CHECKING, Any, Dict, Iterator, List, Optional,
                    Sequence, Tuple)

import torch

from common import Stopwatch, pyg_lightgcn_step

from adar_pyg.io import atomic_path
from adar_pyg.run import write_json
from adar_pyg.train import RecTask
from adar_pyg.checks import fanout_per_layer

if TYPE_CHECKING:
    from adar_pyg.config import Config

EDGE = ('user', 'rates', 'item')
PATHS = ('full', 'sampled', 'pyg', 'ddp2', 'sampled_sparse')
#: The paths of SampledCFTask (``sampled_sparse``: ``sparse_grad=True``).
SAMPLED = ('sampled', 'sampled_sparse')
DDP_RANKS = 2  # the processes of the ddp2 path
DATASETS = ('beauty', 'gowalla')
DEFAULT_SIZES = [200_000, 500_000, 1_000_000, 2_000_000, 5_000_000]
#: --quick; ``ddp2`` (two processes to start per cell: slower than the
#: cell's work) only if asked for (``--quick --paths ddp2``).
QUICK = dict(sizes=[2_000, 8_000], datasets=['none'], batches=2,
             pyg_batches=1, eval_users=128,
             paths=['full', 'sampled', 'pyg'])
QUICK_BATCH_SIZE, QUICK_DIM = 256, 16
#: The fan-out of the sampled paths unless ``--fanout`` is given: the
#: library's (:obj:`adar_pyg.checks.DEFAULT_FANOUT`), or with
#: --quick a smaller one.
QUICK_FANOUT = [5, 3, 2]
#: The folder of the generated graphs that the profiling scripts reuse
#: between runs unless ``--cache`` is given.
SHARED_CACHE = os.path.join(tempfile.gettempdir(), 'adar-pyg-scaling-cache')
#: The settings of --quick, as a preset layer (flags override them).
QUICK_SETTINGS = {'train': {'batch_size': QUICK_BATCH_SIZE,
                            'fanout': QUICK_FANOUT},
                  'model': {'dim': QUICK_DIM}}
#: Gowalla (train + test): interactions per user and per item, and the
#: Pareto laws of the synthetic degrees (minimum, exponent).
PER_USER, PER_ITEM = 34.4, 25.1
USER_DEGREE, ITEM_WEIGHT = (10, 2.41), (10, 2.67)
MAX_USER_DEGREE = 1014  # Gowalla's largest
RESULT = 'RESULT '
DDP_NOTE = ('ddp2: the full path in 2 processes (one torch thread each), '
            '--batch-size per process (the global batch is twice it)')


# --- synthetic graphs --------------------------------------------------------
def pareto(n: int, minimum: float, exponent: float,
           generator: torch.Generator) -> torch.Tensor:
    r""":obj:`n` draws of a Pareto law with density
    :math:`\propto x^{-a}` on :math:`[x_{min}, \infty)`."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return minimum * (1.0 - u).pow(-1.0 / (exponent - 1.0))


def power_law_graph(num_interactions: int, seed: int = 0):
    r"""A user-item graph of :obj:`num_interactions` unique pairs with
    Gowalla-like degrees: returns :obj:`(edge_index, num_users, num_items)`
    (the pairs sorted by user, then item)."""
    g = torch.Generator().manual_seed(seed)
    num_users = max(2, round(num_interactions / PER_USER))
    num_items = max(20, round(num_interactions / PER_ITEM))
    degree = pareto(num_users, *USER_DEGREE, g).floor()
    degree = degree.clamp(max=min(MAX_USER_DEGREE, num_items // 2))
    degree = (degree * num_interactions / degree.sum()).round().long()
    degree = degree.clamp(min=2, max=num_items // 2)
    weight = pareto(num_items, *ITEM_WEIGHT, g)
    user = torch.repeat_interleave(torch.arange(num_users), degree)
    item = torch.multinomial(weight, user.numel(), replacement=True,
                             generator=g)
    key = torch.unique(user * num_items + item)
    for _ in range(10):  # Repeated pairs were merged: draw the missing ones.
        missing = num_interactions - key.numel()
        if missing <= 0:
            break
        user = torch.multinomial(degree.double(), missing, replacement=True,
                                 generator=g)
        item = torch.multinomial(weight, missing, replacement=True,
                                 generator=g)
        key = torch.unique(torch.cat([key, user * num_items + item]))
    if key.numel() > num_interactions:
        keep = torch.randperm(key.numel(), generator=g)[:num_interactions]
        key = key[keep.sort().values]
    return torch.stack([key // num_items, key % num_items]), num_users, \
        num_items


def synthetic_splits(train_interactions: int, seed: int, cache: str):
    r"""The 80/20 per-user split of a :func:`power_law_graph` with about
    :obj:`train_interactions` training pairs, cached in :obj:`cache`."""
    from torch_geometric.data import HeteroData

    from adar_pyg.datasets.interactions import split_views
    from adar_pyg.transforms import PerUserRandomSplit
    path = os.path.join(cache, f'synthetic-{train_interactions}-{seed}.pt')
    if os.path.exists(path):
        saved = torch.load(path, weights_only=True)
    else:
        edge_index, U, I = power_law_graph(round(train_interactions / 0.8),
                                           seed)
        data = HeteroData()
        data['user'].num_nodes, data['item'].num_nodes = U, I
        data[EDGE].edge_index = edge_index
        train, _, test = PerUserRandomSplit(0.2, 0.0, seed=seed)(data)
        saved = dict(users=U, items=I, train=train[EDGE].edge_label_index,
                     test=test[EDGE].edge_label_index)
        with atomic_path(path) as tmp:
            torch.save(saved, tmp)
    views = split_views(saved['users'], saved['items'], saved['train'], {
        'train': saved['train'],
        'val': saved['train'].new_empty(2, 0),
        'test': saved['test']
    })
    return views['train'], views['val'], views['test']


def dataset_splits(name: str, cfg: 'Config'):
    r"""Beauty (per-user 80/20, no validation) or Gowalla (published), from
    the data folder and mirror of :obj:`cfg` with its seed."""
    from adar_pyg.config import Config
    from adar_pyg.pipeline import load_cf_data
    data = {'dataset': name, 'data_root': cfg.data.data_root}
    if cfg.data.mirror:
        data['mirror'] = cfg.data.mirror
    run_data = load_cf_data(Config.build({
        'data': data, 'split': {'val_ratio': 0.0},
        'run': {'seed': cfg.run.seed}}))
    return run_data.train, run_data.val, run_data.test


# --- one cell: one graph, one path, in its own process -----------------------
class FirstBatches(RecTask):
    r"""A :class:`~adar_pyg.train.RecTask` view of :obj:`task` whose epoch is
    one warm-up batch and :obj:`n` timed ones; :obj:`seconds` is the time
    from the end of the warm-up step to the end of the last step, and
    :obj:`cpu_seconds` the processor time of the process meanwhile (less
    sensitive to other jobs on a shared machine); :obj:`sample_seconds`
    the part of :obj:`seconds` spent drawing the batches (for the sampled
    paths: ``LinkNeighborLoader``'s sampling and collation), and
    :obj:`subgraphs` the (nodes, edges) of each timed sampled subgraph."""
    def __init__(self, task, n: int, device: torch.device) -> None:
        self.task, self.n, self.device = task, n, device
        self.model, self.batch_size = task.model, task.batch_size
        self.evaluators = task.evaluators
        self.extra_test_splits, self.sampler = (task.extra_test_splits,
                                                task.sampler)
        self.seconds = self.cpu_seconds = self.sample_seconds = math.nan
        self.subgraphs: List[Tuple[int, int]] = []

    def sparse_parameters(self) -> List[torch.Tensor]:
        return self.task.sparse_parameters()

    def representation_dim(self) -> Optional[int]:
        return self.task.representation_dim()

    def num_batches(self) -> int:
        return self.n + 1

    def batches(self, generator: torch.Generator) -> Iterator[Any]:
        it = self.task.batches(generator)
        yield next(it)
        self.sample_seconds = 0.0
        with Stopwatch(self.device) as watch:
            for _ in range(self.n):
                start = time.perf_counter()
                batch = next(it)
                self.sample_seconds += time.perf_counter() - start
                if hasattr(batch, 'edge_types'):  # A sampled subgraph:
                    self.subgraphs.append((
                        sum(batch[t].num_nodes for t in batch.node_types),
                        sum(batch[t].edge_index.size(1)
                            for t in batch.edge_types)))
                yield batch
        self.seconds, self.cpu_seconds = watch.seconds, watch.cpu_seconds

    def forward(self, batch, generator=None):
        return self.task.forward(batch, generator)

    def has_split(self, split: str) -> bool:
        return self.task.has_split(split)

    def evaluate(self, split: str) -> Dict[str, float]:
        return self.task.evaluate(split)

    def shard(self, rank: int, world_size: int) -> None:
        self.task.shard(rank, world_size)  # As before it (idempotent).


def peak_memory_mb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_steps(task, batches: int) -> int:
    r"""The steps timed of an epoch of :obj:`task`: at most :obj:`batches`,
    after its first (a warm-up); an epoch of one step is refused."""
    if task.num_batches() < 2:
        raise ValueError(f'an epoch of this graph is {task.num_batches()} '
                         f'step at this batch size: nothing to time after '
                         f'the warm-up step (use a smaller --batch-size)')
    return min(batches, task.num_batches() - 1)


def time_ours(task, cfg: 'Config', batches: int, device: torch.device,
              details: Optional[Dict[str, Any]] = None
              ) -> Tuple[float, float, int]:
    r"""Seconds and processor seconds per timed step and the steps timed
    (at most :obj:`batches`), with the learning rate, L2 weight and seed of
    :obj:`cfg`; :obj:`details` (if given) receives the sampling seconds per
    step and the mean size of the sampled subgraphs."""
    from adar_pyg.train import Trainer
    view = FirstBatches(task, timed_steps(task, batches), device)
    seed = cfg.run.seed
    trainer = Trainer(view, lr=cfg.train.lr, l2=cfg.train.l2,
                      progress=False, seed=seed)
    optimizer = trainer.make_optimizer()  # Adam; SparseAdam + Adam (sparse)
    trainer.train_epoch(optimizer, torch.Generator().manual_seed(seed), 1)
    if details is not None:
        details['sample_seconds_per_batch'] = view.sample_seconds / view.n
        if view.subgraphs:
            nodes, edges = zip(*view.subgraphs)
            details['subgraph_nodes'] = sum(nodes) / len(nodes)
            details['subgraph_edges'] = sum(edges) / len(edges)
    return view.seconds / view.n, view.cpu_seconds / view.n, view.n


def time_pyg(task, cfg: 'Config', batches: int,
             device: torch.device) -> Tuple[float, float, int]:
    r"""As :func:`time_ours` (without details), for PyG's LightGCN on the
    triplets of :obj:`task` (the batch size, dimension, layers, learning
    rate, L2 weight and seed of :obj:`cfg`)."""
    U, I = task.num_users, task.num_items
    n = timed_steps(task, batches)
    seed, size = cfg.run.seed, cfg.train.batch_size
    gen = torch.Generator().manual_seed(seed)
    sampler = copy.copy(task.sampler).to('cpu')
    pairs = task.train_pairs.cpu()
    perm = torch.randperm(pairs.size(1), generator=gen)
    triplets = []
    for k in range(n + 1):
        batch = pairs[:, perm[k * size:(k + 1) * size]]
        neg = sampler.sample(batch[0], batch[1], generator=gen)
        triplets.append(tuple(t.to(device) for t in (batch[0], batch[1],
                                                     neg)))
    torch.manual_seed(seed)
    step = pyg_lightgcn_step(task.edge_index, U, I, cfg.model.dim,
                             cfg.model.layers, cfg.train.lr, cfg.train.l2,
                             device)
    step(*triplets[0])  # warm-up
    with Stopwatch(device) as watch:
        for triplet in triplets[1:]:
            step(*triplet)
    return watch.seconds / n, watch.cpu_seconds / n, n


def time_evaluation(task, eval_users: int,
                    device: torch.device) -> Tuple[float, int]:
    r"""Full propagation plus the ranking of :obj:`eval_users`
    (:obj:`--eval-users`; 0: all) test users scaled to all of them;
    returns the seconds and the users timed."""
    with Stopwatch(device) as propagation:
        user_emb, item_emb = task.embeddings()
    evaluator = copy.copy(task.evaluators['test'])
    users = evaluator.users
    total = users.numel()
    if eval_users and total > eval_users:
        stride = total // eval_users
        evaluator.users = users[::stride][:eval_users]
    timed = evaluator.users.numel()
    with Stopwatch(device) as ranking:
        evaluator(user_emb, item_emb)
    return propagation.seconds + ranking.seconds * total / timed, timed


def load_splits(spec: Dict[str, Any], cfg: 'Config', cache: str):
    r"""The train / val / test views of the graph of :obj:`spec` (a
    synthetic one generated in, or read from, :obj:`cache`)."""
    if spec['graph'] == 'synthetic':
        return synthetic_splits(spec['size'], cfg.run.seed, cache)
    return dataset_splits(spec['graph'], cfg)


def build_task(spec: Dict[str, Any], cfg: 'Config', cache: str,
               device: torch.device) -> Tuple[Any, Dict[str, Any]]:
    r"""The task of one cell (LightGCN on the graph of :obj:`spec` with the
    settings of :obj:`cfg`, the path's task) and the row's description of
    it."""
    import warnings

    from adar_pyg import pipeline
    warnings.filterwarnings('ignore', message=".*without a 'pyg-lib'")
    t0 = time.perf_counter()
    train, val, test = load_splits(spec, cfg, cache)
    U, I = train['user'].num_nodes, train['item'].num_nodes
    torch.manual_seed(cfg.run.seed)
    path_cfg = cfg.replace({
        'model': {'model': 'lightgcn'},
        'train': {'sampled': spec['path'] in SAMPLED,
                  'sparse_grad': spec['path'] == 'sampled_sparse'}})
    task = pipeline.build_task(
        path_cfg, pipeline.RunData(train, val, test, statistics={
            'dataset': spec['graph'], 'users': U, 'items': I}), device)
    row: Dict[str, Any] = {
        'graph': spec['graph'],
        'size': spec.get('size'),
        'interactions': int(task.train_pairs.size(1)),
        'users': U,
        'items': I,
        'test_interactions': int(test[EDGE].edge_label_index.size(1)),
        'path': spec['path'],
        'fanout': cfg.train.fanout if spec['path'] in SAMPLED else None,
        'batch_size': cfg.train.batch_size,
        'setup_seconds': time.perf_counter() - t0,
    }
    return task, row


def run_cell(spec: Dict[str, Any], cfg: 'Config',
             args: argparse.Namespace) -> Dict[str, Any]:
    r"""Times one path on one graph (in this process; ``ddp2`` in
    :data:`DDP_RANKS` processes started from it) with the settings of
    :obj:`cfg` and the script's own flags :obj:`args`."""
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    if spec['path'] == 'ddp2':
        return ddp_cell(spec, cfg, args)
    device = torch.device(cfg.run.device)
    task, row = build_task(spec, cfg, args.cache, device)
    row['batches_per_epoch'] = task.num_batches()
    if spec['path'] == 'pyg':
        seconds, cpu, timed = time_pyg(task, cfg, args.pyg_batches, device)
        evaluation: Optional[float] = None
        eval_users = None
    else:
        seconds, cpu, timed = time_ours(task, cfg, args.batches, device,
                                        row)
        evaluation, eval_users = time_evaluation(task, args.eval_users,
                                                 device)
    row.update({
        'batches_timed': timed,
        'seconds_per_batch': seconds,
        'seconds_per_epoch': seconds * task.num_batches(),
        'cpu_seconds_per_epoch': cpu * task.num_batches(),
        'eval_seconds': evaluation,
        'eval_users_timed': eval_users,
        'eval_users': int(task.evaluators['test'].num_eval_users),
        'peak_memory_mb': peak_memory_mb(device),
    })
    return row


def ddp_rank(rank: int, world_size: int, spec: Dict[str, Any],
             cfg: 'Config', args: argparse.Namespace) -> Dict[str, Any]:
    r"""One rank of a ``ddp2`` cell (in a process of its own): the
    ``full`` path's task, sharded, timed by :func:`time_ours` with the
    :class:`~adar_pyg.train.Trainer` in its multi-process mode; returns the
    row, with the timings and peak memories of every rank."""
    from adar_pyg.train import distributed as ddp
    device = (torch.device('cuda', rank) if cfg.run.device == 'cuda' else
              torch.device('cpu'))
    task, row = build_task({**spec, 'path': 'full'}, cfg, args.cache, device)
    task.shard(rank, world_size)  # num_batches(): the global steps.
    seconds, cpu, timed = time_ours(task, cfg, args.batches, device)
    ranks, _ = ddp.gather_rows(torch.tensor(
        [[seconds, cpu, peak_memory_mb(device)]], dtype=torch.float64))
    seconds, cpu = float(ranks[:, 0].max()), float(ranks[:, 1].sum())
    steps = task.num_batches()
    row.update({
        'path': spec['path'],
        'ranks': world_size,
        'threads_per_rank': torch.get_num_threads(),
        'global_batch_size': cfg.train.batch_size * world_size,
        'batches_per_epoch': steps,
        'batches_timed': timed,
        'seconds_per_batch': seconds,
        'seconds_per_epoch': seconds * steps,
        'cpu_seconds_per_epoch': cpu * steps,
        'eval_seconds': None,
        'eval_users_timed': None,
        'eval_users': int(task.evaluators['test'].num_eval_users),
        'peak_memory_mb': float(ranks[:, 2].sum()),
        'peak_memory_mb_per_rank': ranks[:, 2].tolist(),
    })
    return row


def ddp_cell(spec: Dict[str, Any], cfg: 'Config',
             args: argparse.Namespace) -> Dict[str, Any]:
    r"""A ``ddp2`` cell: :func:`ddp_rank` in :data:`DDP_RANKS` processes
    (:func:`adar_pyg.train.distributed.launch`: 127.0.0.1, a free port
    unless ``--port``, collectives bounded by ``--dist-timeout``, all
    stopped before ``--cell-timeout``), one torch thread each."""
    from adar_pyg.train.distributed import launch
    start = time.perf_counter()
    # Generated or processed once, not per rank:
    load_splits(spec, cfg, args.cache)
    deadline = args.cell_timeout - (time.perf_counter() - start) - 15.0
    return launch(ddp_rank, DDP_RANKS, args=(spec, cfg, args),
                  backend='nccl' if cfg.run.device == 'cuda' else 'gloo',
                  port=cfg.run.port, timeout=cfg.run.dist_timeout,
                  threads=1, deadline=max(deadline, 10.0))


def cell_process(spec: Dict[str, Any], argv: List[str],
                 timeout: float) -> Dict[str, Any]:
    r"""Runs :func:`run_cell` in a fresh process (its own peak memory) and
    returns its row, or a row holding the error."""
    cmd = [sys.executable, os.path.abspath(__file__), *argv, '--cell',
           json.dumps(spec)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**spec, 'error': f'timed out after {timeout:.0f} s'}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            row = json.loads(line[len(RESULT):])
            row['wall_seconds'] = time.perf_counter() - start
            return row
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {**spec, 'error': f'exit {proc.returncode}: ' + ' | '.join(tail)}


# --- the report --------------------------------------------------------------
def fit_loglog(rows: List[Dict[str, Any]], key: str = 'seconds_per_epoch'
               ) -> Optional[Tuple[float, float]]:
    r"""Least-squares :math:`\log t = a + b \log E` over :obj:`rows`
    (:math:`t`: :obj:`row[key]`); returns :obj:`(a, b)` or :obj:`None` for
    fewer than two sizes."""
    pts = [(math.log(r['interactions']), math.log(r[key]))
           for r in rows if r.get(key)]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sum(
        (x - mx)**2 for x, _ in pts)
    return my - b * mx, b


def fit_memory(rows: List[Dict[str, Any]]) -> Optional[Tuple[float, float]]:
    r"""Least-squares :math:`m = c + d E` (MB) over the two largest
    :obj:`rows` (the per-interaction slope at scale)."""
    pts = sorted((r['interactions'], r['peak_memory_mb']) for r in rows
                 if r.get('peak_memory_mb'))[-2:]
    if len(pts) < 2 or pts[1][0] == pts[0][0]:
        return None
    d = (pts[1][1] - pts[0][1]) / (pts[1][0] - pts[0][0])
    return pts[1][1] - d * pts[1][0], d


def summarize(rows: List[Dict[str, Any]],
              budget_gib: float) -> Dict[str, Any]:
    r"""Slopes, the crossover of the sampled path and the largest graph per
    path within the memory budget."""
    synthetic = [r for r in rows if r['graph'] == 'synthetic'
                 and 'error' not in r]
    by_path = {p: sorted((r for r in synthetic if r['path'] == p),
                         key=lambda r: r['interactions']) for p in PATHS}
    out: Dict[str, Any] = {'slopes': {}, 'largest_within_budget': {}}
    out['slopes_largest_two'] = {}
    out['step_slopes'] = {}  # of seconds per step (0 = constant)
    for path, prs in by_path.items():
        fit = fit_loglog(prs)
        if fit is not None:
            out['slopes'][path] = round(fit[1], 3)
            out['slopes_largest_two'][path] = round(
                fit_loglog(prs[-2:])[1], 3)
            step = fit_loglog(prs, 'seconds_per_batch')
            if step is not None:
                out['step_slopes'][path] = round(step[1], 3)
            cpu = fit_loglog([{**r, 'cpu_step': r['cpu_seconds_per_epoch'] /
                               r['batches_per_epoch']} for r in prs
                              if r.get('cpu_seconds_per_epoch')],
                             'cpu_step')
            if cpu is not None:  # Less sensitive to other jobs:
                out.setdefault('cpu_step_slopes', {})[path] = round(cpu[1],
                                                                    3)
    # The crossover: the smallest size from which the sampled path is faster
    # than the full path at every measured size.
    full_rows = {r['size']: r for r in by_path['full']}
    sampled_rows = {r['size']: r for r in by_path['sampled']}
    full = {s: r['seconds_per_epoch'] for s, r in full_rows.items()}
    sampled = {s: r['seconds_per_epoch'] for s, r in sampled_rows.items()}
    common = sorted(set(full) & set(sampled))
    wins = [s for s in common if sampled[s] < full[s]]
    crossover: Dict[str, Any] = {}
    first = next((s for i, s in enumerate(common)
                  if all(c in wins for c in common[i:])), None)
    if first is not None:
        row = next(r for r in by_path['sampled'] if r['size'] == first)
        crossover = {'measured': True, 'interactions': row['interactions'],
                     'speedup_there': full[first] / sampled[first],
                     'same_run': all(same_run(full_rows[s], sampled_rows[s])
                                     for s in common)}
    else:
        fs, fx = fit_loglog(by_path['full']), fit_loglog(by_path['sampled'])
        crossover = {'measured': False, 'interactions': None}
        largest = max(full, default=0)
        if fs and fx and fs[1] > fx[1]:
            at = math.exp((fx[0] - fs[0]) / (fs[1] - fx[1]))  # extrapolated
            if at <= 100 * largest:  # Farther out, the fits say nothing.
                crossover['interactions'] = round(at)
    out['crossover'] = crossover
    out['ddp2_vs_full'] = ddp_vs_full(rows)
    out['sparse_vs_dense'] = sparse_vs_dense(rows)
    budget = budget_gib * 1024
    for path, prs in by_path.items():
        inside = [r for r in prs if r['peak_memory_mb'] <= budget]
        fit = fit_memory(prs)
        entry: Dict[str, Any] = {
            'largest_measured_within': max(
                (r['interactions'] for r in inside), default=None)}
        if fit is not None and fit[1] > 0 and len(inside) == len(prs):
            entry['extrapolated_interactions'] = int((budget - fit[0]) /
                                                     fit[1])
        out['largest_within_budget'][path] = entry
    return out


def paired_rows(rows: List[Dict[str, Any]], base: str, other: str,
                field: str) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    r"""The (:obj:`other` row, :obj:`base` row) pairs of the same graph (and
    size) whose :obj:`field` is set in both, in the order of :obj:`rows`."""
    def graph(r: Dict[str, Any]) -> tuple:
        return r['graph'], r.get('size')

    bases = {graph(r): r for r in rows if r['path'] == base and r.get(field)}
    return [(r, bases[graph(r)]) for r in rows
            if r['path'] == other and r.get(field) and graph(r) in bases]


def same_run(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    r"""Whether the rows :obj:`a` and :obj:`b` were measured by one run (a
    row added by ``--merge`` holds the index of its run)."""
    return a.get('merged') == b.get('merged')


def _pair(r: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    return {'graph': r['graph'], 'size': r.get('size'),
            'interactions': r['interactions'], 'same_run': same_run(r, b)}


def ddp_vs_full(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""Per graph with both rows: the epoch speed-up of ``ddp2`` over
    ``full`` (full's seconds per epoch over ddp2's) and the ratio of their
    peak memories; :obj:`same_run` says whether both rows come from one run
    (a row added by ``--merge`` holds the index of its run)."""
    return [{**_pair(r, f),
             'speedup': f['seconds_per_epoch'] / r['seconds_per_epoch'],
             'memory_ratio': r['peak_memory_mb'] / f['peak_memory_mb']}
            for r, f in paired_rows(rows, 'full', 'ddp2',
                                    'seconds_per_epoch')]


def sparse_vs_dense(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""Per graph with both rows: the step speed-up of ``sampled_sparse``
    over ``sampled`` (seconds per step of the dense one over the sparse
    one), and the same in processor seconds."""
    return [{**_pair(r, d),
             'speedup': d['seconds_per_batch'] / r['seconds_per_batch'],
             'cpu_speedup': (d['cpu_seconds_per_epoch'] /
                             r['cpu_seconds_per_epoch']
                             if r.get('cpu_seconds_per_epoch') and
                             d.get('cpu_seconds_per_epoch') else None)}
            for r, d in paired_rows(rows, 'sampled', 'sampled_sparse',
                                    'seconds_per_batch')]


def fmt(x: Optional[float], digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ''
    return f'{x:.{digits}f}' if x < 1000 else f'{x:,.0f}'


def graph_name(row: Dict[str, Any]) -> str:
    return row['graph'] if row['graph'] != 'synthetic' else \
        f"synthetic {row['size']:,}"


def markdown(result: Dict[str, Any]) -> str:
    meta, summary = result['meta'], result['summary']
    memory = ('allocated CUDA memory' if meta['device'] == 'cuda' else
              'resident set of the process (data, evaluator, model, '
              'optimiser, Python)')
    from common import command_lines
    ddp = [r for r in result['rows'] if r['path'] == 'ddp2']
    lines = [
        '# Scaling: full vs sampled vs data-parallel path vs PyG LightGCN',
        '', command_lines(meta),
        f"Device {meta['device']}, {meta['threads']} thread(s), "
        f"torch {meta['torch']}, torch_geometric {meta['torch_geometric']}; "
        f"load average {meta['load_start']} at the start, "
        f"{meta['load_end']} at the end (other jobs on the machine). "
        f"LightGCN dim {meta['dim']}, {meta['layers']} layers, batch "
        f"{meta['batch_size']}, sampled fan-out {meta['fanout']}.", '',
        '**Seconds per epoch are scaled, not measured over whole epochs**: '
        f"{meta['batches']} steps ({meta['pyg_batches']} for PyG) timed "
        'after a warm-up step, times the batches per epoch. Evaluation: '
        'full propagation + full ranking, the ranking timed on '
        f"{meta['eval_users']} test users and scaled to all. Memory: peak "
        f"{memory}, one process per row. " + (
            f"`ddp2`: the full path in {ddp[0].get('ranks', DDP_RANKS)} "
            f"processes with {ddp[0].get('threads_per_rank', 1)} thread(s) "
            f"each, batch {meta['batch_size']} per process (global "
            f"{ddp[0].get('global_batch_size')}), so its batches are global "
            'steps; its s/batch is that of the slower process, its CPU time '
            'and peak memory the sum of both; evaluation not timed.'
            if ddp else 'No `ddp2` row (data-parallel path not measured).'),
        '',
        *[f"Rows of {', '.join(f'`{p}`' for p in run['paths'])} measured "
          f"by a later run merged in (`--merge`, `{run['command']}`): "
          f"{run['batches']} steps timed, load average {run['load_start']} "
          f"at its start, {run['load_end']} at its end."
          for run in meta.get('merged_runs', [])],
        '' if meta.get('merged_runs') else None,
        *[f'Note: {note}.' for note in meta.get('notes', [])[2:]],
        '' if len(meta.get('notes', [])) > 2 else None,
    ]
    # Processor time of the timed steps (rows of newer runs only):
    cpu = any('cpu_seconds_per_epoch' in r for r in result['rows'])
    lines += ['| graph | interactions | users | items | path | batches | '
              's/batch | s/epoch |' + (' CPU s/epoch |' if cpu else '') +
              ' eval s | peak MB |',
              '|---|---|---|---|---|---|---|---|' + ('---|' if cpu else '') +
              '---|---|']
    for r in result['rows']:
        name = graph_name(r)
        if 'error' in r:
            lines.append(f"| {name} | | | | {r['path']} | | | "
                         f"{r['error']} | | |" + (' |' if cpu else ''))
            continue
        lines.append(
            f"| {name} | {r['interactions']:,} | {r['users']:,} | "
            f"{r['items']:,} | {r['path']} | {r['batches_per_epoch']} | "
            f"{fmt(r['seconds_per_batch'], 3)} | "
            f"{fmt(r['seconds_per_epoch'], 1)} | " +
            (f"{fmt(r.get('cpu_seconds_per_epoch'), 1)} | " if cpu else '') +
            f"{fmt(r['eval_seconds'], 1)} | {fmt(r['peak_memory_mb'], 0)} |")
    lines += ['', '## Findings', '']
    slopes = summary['slopes']
    if slopes:
        lines.append('Log-log slope of seconds per epoch over the synthetic '
                     'sizes (1 = linear, 2 = quadratic): ' + ', '.join(
                         f'{p} {s}' for p, s in slopes.items()) + '; '
                     'between the two largest sizes: ' + ', '.join(
                         f'{p} {s}' for p, s in
                         summary['slopes_largest_two'].items()) + '.')
    c = summary['crossover']
    if c.get('measured'):
        lines.append(f"\nCrossover: the sampled path is faster than the full "
                     f"path from {c['interactions']:,} training interactions "
                     f"on (measured; {c['speedup_there']:.2f}x there) on the "
                     f"synthetic graphs." + (
                         '' if c.get('same_run', True) else
                         ' Some sizes have their full and sampled rows from '
                         'different runs (see their load averages above): '
                         'the load of the machine shows in the comparison.'))
    elif c.get('interactions'):
        lines.append(f"\nCrossover: not reached at the measured sizes; the "
                     f"fitted power laws cross at about "
                     f"{c['interactions']:,} training interactions "
                     f"(extrapolated).")
    else:
        lines.append('\nCrossover: not reached; the fitted power laws do '
                     'not cross within 100x the largest size.')
    versus = summary.get('ddp2_vs_full', [])
    if versus:
        lines.append(
            '\nData parallel: `ddp2` (2 processes, global batch twice as '
            'large, half the steps) against `full` (1 process) on the same '
            'graph, epoch speed-up (full s/epoch ÷ ddp2 s/epoch) and peak '
            'memory ratio: ' + ', '.join(
                f"{graph_name(v)} {v['speedup']:.2f}x (memory "
                f"{v['memory_ratio']:.2f}x)" for v in versus) + '.' + (
                '' if all(v['same_run'] for v in versus) else
                ' The two rows of a graph were measured by different runs '
                '(see their load averages above): a difference in the load '
                'of the machine shows in the ratio.'))
    lines += sampled_section(result)
    budget = meta['memory_budget_gib']
    for path, e in summary['largest_within_budget'].items():
        if e.get('largest_measured_within') is None and \
                'extrapolated_interactions' not in e:
            continue
        text = (f"\nLargest graph within {budget:g} GiB, {path}: "
                f"{e['largest_measured_within'] or 0:,} measured")
        if 'extrapolated_interactions' in e:
            text += (f"; about {e['extrapolated_interactions']:,} "
                     f"interactions extrapolated linearly from the two "
                     f"largest measured sizes")
        lines.append(text + '.')
    return '\n'.join(line for line in lines if line is not None) + '\n'


def sampled_section(result: Dict[str, Any]) -> List[str]:
    r"""The per-step table of the sampled paths: seconds per step, the part
    spent sampling, the sampled subgraph's size, and the speed-up of sparse
    gradients."""
    rows = [r for r in result['rows'] if r['path'] in SAMPLED
            and 'error' not in r and 'sample_seconds_per_batch' in r]
    if not rows:
        return []
    summary = result['summary']
    lines = ['', '### Sampled paths per step', '',
             'Sampling: `LinkNeighborLoader` drawing and collating the '
             'step\'s subgraph (in the timed seconds); rest: forward, loss, '
             'backward, optimiser. Subgraph: mean nodes (users + items, % '
             'of the graph\'s) and edges (both directions) of the timed '
             'steps.', '',
             '| graph | interactions | path | s/step | CPU s/step | '
             'sampling s/step | rest s/step | subgraph nodes | '
             'subgraph edges |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in sorted(rows, key=lambda r: (r['graph'] != 'synthetic',
                                         r['interactions'], r['path'])):
        nodes = r.get('subgraph_nodes') or 0
        share = 100 * nodes / (r['users'] + r['items'])
        lines.append(
            f"| {graph_name(r)} | {r['interactions']:,} | {r['path']} | "
            f"{fmt(r['seconds_per_batch'], 3)} | "
            f"{fmt(r['cpu_seconds_per_epoch'] / r['batches_per_epoch'], 3)}"
            f" | {fmt(r['sample_seconds_per_batch'], 3)} | "
            f"{fmt(r['seconds_per_batch'] - r['sample_seconds_per_batch'], 3)}"
            f" | {nodes:,.0f} ({share:.0f}%) | "
            f"{r.get('subgraph_edges') or 0:,.0f} |")
    steps = summary.get('step_slopes', {})
    cpu = summary.get('cpu_step_slopes', {})
    if any(p in steps for p in SAMPLED):
        lines.append('\nLog-log slope of seconds per step over the synthetic '
                     'sizes (0 = constant): ' + ', '.join(
                         f'{p} {steps[p]}' for p in SAMPLED if p in steps) +
                     '; of processor seconds per step: ' + ', '.join(
                         f'{p} {cpu[p]}' for p in SAMPLED if p in cpu) +
                     '.')
    versus = summary.get('sparse_vs_dense', [])
    if versus:
        lines.append('\nSparse gradients: step speed-up of `sampled_sparse` '
                     'over `sampled` (s/step ÷ s/step; in processor '
                     'seconds): ' + ', '.join(
                         f"{graph_name(v)} {v['speedup']:.2f}x" + (
                             f" ({v['cpu_speedup']:.2f}x)"
                             if v.get('cpu_speedup') else '')
                         for v in versus) + '.')
    return lines


def plot(result: Dict[str, Any], path: str) -> None:
    from adar_pyg.plot import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {'full': 'C0', 'sampled': 'C1', 'pyg': 'C2', 'ddp2': 'C3',
              'sampled_sparse': 'C4'}
    markers = {'beauty': 's', 'gowalla': 'D'}
    for ax, key, label in ((axes[0], 'seconds_per_epoch', 'seconds per epoch'),
                           (axes[1], 'peak_memory_mb', 'peak memory (MB)')):
        for p in PATHS:
            rows = sorted((r for r in result['rows'] if r['path'] == p
                           and r['graph'] == 'synthetic' and r.get(key)),
                          key=lambda r: r['interactions'])
            if rows:
                ax.plot([r['interactions'] for r in rows],
                        [r[key] for r in rows], 'o-', color=colors[p],
                        label=f'{p} (synthetic)')
            for name, m in markers.items():
                pts = [r for r in result['rows'] if r['path'] == p
                       and r['graph'] == name and r.get(key)]
                if pts:
                    ax.plot([r['interactions'] for r in pts],
                            [r[key] for r in pts], m, color=colors[p],
                            markersize=8, markerfacecolor='none',
                            label=f'{p} ({name})')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel('training interactions')
        ax.set_ylabel(label)
        ax.grid(True, which='both', alpha=0.3)
    axes[0].legend(fontsize=7)
    meta = result['meta']
    fig.suptitle(f"LightGCN, batch {meta['batch_size']}, {meta['device']}, "
                 f"{meta['threads']} thread(s); s/epoch scaled from "
                 f"{meta['batches']} steps", fontsize=9)
    save_figure(fig, path)


def parse_args(argv: Optional[Sequence[str]] = None
               ) -> Tuple[argparse.Namespace, 'Config']:
    r"""The script's own flags (the defaults of :obj:`--quick` filled in)
    and the resolved config of the settings: LightGCN's layers made
    concrete and :obj:`train.fanout` one number per layer (default
    :obj:`adar_pyg.checks.DEFAULT_FANOUT`; :obj:`--quick`:
    :obj:`QUICK_SETTINGS`)."""
    from adar_pyg.config import (ConfigError, add_config_args,
                                 config_from_args, parse_args as parse_flags)
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], allow_abbrev=False)
    # The settings (those of `adar-pyg train`): --batch-size, --dim,
    # --layers, --lr, --l2, --fanout, --device, --threads, --seed, --port,
    # --dist-timeout, --data-root, --mirror; the model is LightGCN, the
    # sampler uniform, no augmenter.
    add_config_args(parser, config_file=False)
    parser.add_argument('--sizes', type=int, nargs='*', default=None,
                        help='training interactions of the synthetic graphs '
                        '(default: 0.2M 0.5M 1M 2M 5M)')
    parser.add_argument('--datasets', nargs='*', default=None,
                        choices=[*DATASETS, 'none'],
                        help='real graphs too (default: beauty gowalla)')
    parser.add_argument('--paths', nargs='+', default=None, choices=PATHS,
                        help='the paths to measure (default: all; --quick: '
                        'all but ddp2)')
    parser.add_argument('--merge', action='store_true',
                        help='add the rows measured to <out>/scaling.json '
                        '(replacing those of the same graph and path, '
                        'keeping the others) instead of a new file')
    parser.add_argument('--batches', type=int, default=None,
                        help='timed training steps per cell (default 3)')
    parser.add_argument('--pyg-batches', type=int, default=None,
                        help='timed PyG steps per cell (default 2)')
    parser.add_argument('--pyg-max-interactions', type=int,
                        default=2_000_000, help='skip PyG above this size')
    parser.add_argument('--eval-users', type=int, default=None,
                        help='test users whose ranking is timed (default '
                        '4096; 0: all)')
    parser.add_argument('--memory-budget-gib', type=float, default=24.0)
    parser.add_argument('--cell-timeout', type=float, default=900.0,
                        help='seconds before a cell is given up')
    parser.add_argument('--cache', default=None,
                        help='folder of the generated graphs (default: a '
                        'temporary one)')
    parser.add_argument('--out', default='benchmarks/results',
                        help='folder of scaling.json / .md / .png')
    parser.add_argument('--quick', action='store_true',
                        help='tiny graphs and few steps (seconds): a smoke '
                        'test (batch 256, dim 16 unless given)')
    parser.add_argument('--report-only', action='store_true',
                        help='rewrite the summary, scaling.md and .png from '
                        'the rows of <out>/scaling.json (no timing)')
    parser.add_argument('--cell', default=None, help=argparse.SUPPRESS)
    args = parse_flags(parser, argv)
    try:
        cfg = config_from_args(args, QUICK_SETTINGS if args.quick else
                               {}).resolved()
    except ConfigError as e:
        parser.error(str(e))
    defaults = dict(sizes=DEFAULT_SIZES, datasets=list(DATASETS), batches=3,
                    pyg_batches=2, eval_users=4096, paths=list(PATHS))
    for key, value in (QUICK if args.quick else defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key, value in defaults.items():  # What --quick does not set.
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.datasets = [d for d in args.datasets if d != 'none']
    try:  # (recorded per layer)
        cfg = cfg.replace({'train': {'fanout': fanout_per_layer(
            cfg.train.fanout, cfg.model.layers)}})
    except ValueError as e:
        parser.error(f'--fanout: {e}')
    for flag, value, least in [('--batches', args.batches, 1),
                               ('--pyg-batches', args.pyg_batches, 1),
                               ('--eval-users', args.eval_users, 0),
                               ('--sizes', min(args.sizes, default=1), 1)]:
        if value < least:
            parser.error(f'{flag} must be at least {least} (got {value})')
    for flag, value in [('--memory-budget-gib', args.memory_budget_gib),
                        ('--cell-timeout', args.cell_timeout)]:
        if not value > 0:
            parser.error(f'{flag} must be positive (got {value})')
    if cfg.run.device == 'cuda' and args.cell is None and \
            not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    return args, cfg


def write_results(result: Dict[str, Any], out: str,
                  keep_load: bool = False) -> str:
    r"""Writes :obj:`out`/scaling.json, .md and .png; returns the markdown.
    The load average at the end is now's unless :obj:`keep_load`."""
    result['summary'] = summarize(result['rows'],
                                  result['meta']['memory_budget_gib'])
    if not keep_load:
        result['meta']['load_end'] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(out, exist_ok=True)
    write_json(result, os.path.join(out, 'scaling.json'))
    text = markdown(result)
    with atomic_path(os.path.join(out, 'scaling.md')) as tmp, \
            open(tmp, 'w') as f:
        f.write(text)
    if any('error' not in r for r in result['rows']):
        plot(result, os.path.join(out, 'scaling.png'))
    return text


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, cfg = parse_args(argv)
    if args.cell is not None:
        row = run_cell(json.loads(args.cell), cfg, args)
        print(RESULT + json.dumps(row), flush=True)
        return row

    if args.report_only:
        with open(os.path.join(args.out, 'scaling.json')) as f:
            result = json.load(f)
        text = write_results(result, args.out, keep_load=True)
        print(text)
        return result

    import torch_geometric

    from common import command_line
    paths = list(args.paths)
    notes = ['seconds_per_epoch: scaled from the timed steps, not measured '
             'over whole epochs', DDP_NOTE]
    if 'ddp2' in paths:
        cuda = cfg.run.device == 'cuda'
        have = torch.cuda.device_count() if cuda else os.cpu_count() or 1
        if have < DDP_RANKS:
            paths.remove('ddp2')
            notes.append(f"ddp2: skipped, {DDP_RANKS} processes need "
                         f"{DDP_RANKS} {'GPUs' if cuda else 'CPU cores'} "
                         f"and this machine has {have}")
            print(notes[-1], flush=True)
    cache = args.cache or tempfile.mkdtemp(prefix='adar-scaling-')
    child = argv + ['--cache', cache] if args.cache is None else argv
    specs = [{'graph': 'synthetic', 'size': s} for s in args.sizes]
    specs += [{'graph': d} for d in args.datasets]
    meta = {
        'command': command_line(),
        'device': cfg.run.device,
        'threads': cfg.run.threads or torch.get_num_threads(),
        'torch': torch.__version__,
        'torch_geometric': torch_geometric.__version__,
        'host': platform.node(),
        'load_start': [round(x, 2) for x in os.getloadavg()],
        'seed': cfg.run.seed,
        'batch_size': cfg.train.batch_size,
        'dim': cfg.model.dim,
        'layers': cfg.model.layers,
        'fanout': cfg.train.fanout,
        'batches': args.batches,
        'pyg_batches': args.pyg_batches,
        'pyg_max_interactions': args.pyg_max_interactions,
        'eval_users': args.eval_users,
        'memory_budget_gib': args.memory_budget_gib,
        'notes': notes,
    }
    merged: Optional[Dict[str, Any]] = None
    if args.merge:
        result, merged = open_merge(args.out, meta, paths)
    else:
        result = {'meta': meta, 'rows': []}
    text = write_results(result, args.out, keep_load=merged is not None)
    for spec in specs:
        for path in paths:
            if path == 'pyg' and spec.get('size', 0) > \
                    args.pyg_max_interactions:
                print(f"skip pyg on {spec['size']:,} (> "
                      f"--pyg-max-interactions)", flush=True)
                continue
            row = cell_process({**spec, 'path': path}, child,
                               args.cell_timeout)
            if merged is not None:
                row['merged'] = len(result['meta']['merged_runs']) - 1
                merge_row(result['rows'], row)
                merged['load_end'] = [round(x, 2) for x in os.getloadavg()]
            else:
                result['rows'].append(row)
            if 'error' in row:
                print(f"{spec} {path}: {row['error']}", flush=True)
            else:
                print(f"{row['graph']:9s} {row['interactions']:>10,} "
                      f"{path:8s} {row['seconds_per_batch']:8.3f} s/batch "
                      f"{row['seconds_per_epoch']:10.1f} s/epoch (scaled "
                      f"from {row['batches_timed']}) eval "
                      f"{fmt(row['eval_seconds'], 1):>7s} s peak "
                      f"{row['peak_memory_mb']:8.0f} MB", flush=True)
            # Written after every cell: a run cut short keeps its rows.
            text = write_results(result, args.out,
                                 keep_load=merged is not None)
    print('\n' + text)
    return result


#: The settings rows merged into a file must share with it (``--merge``);
#: the seed is missing from files of older versions (which used 0).
MERGE_SETTINGS = ('device', 'threads', 'seed', 'batch_size', 'dim', 'layers')


def open_merge(out: str, meta: Dict[str, Any], paths: Sequence[str]
               ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    r"""The result file :obj:`out`/scaling.json that ``--merge`` adds rows
    to, with the record of this run appended to its
    :obj:`meta['merged_runs']` (returned too) and this command to its
    :obj:`meta['commands']`; its settings must be those of :obj:`meta`."""
    path = os.path.join(out, 'scaling.json')
    if not os.path.exists(path):
        raise SystemExit(f"--merge: no results file '{path}' (run without "
                         f"--merge first)")
    with open(path) as f:
        result = json.load(f)
    old = result['meta']
    keys = list(MERGE_SETTINGS)
    if set(SAMPLED) & set(paths):
        keys.append('fanout')
    if {'full', *SAMPLED} & set(paths):
        keys.append('eval_users')
    differ = [f"{k} {meta[k]} (file: {old.get(k, 0 if k == 'seed' else None)})"
              for k in keys
              if meta[k] != old.get(k, 0 if k == 'seed' else None)]
    if differ:
        raise SystemExit(f"--merge: the settings differ from those of "
                         f"'{path}': {', '.join(differ)}; pass the file's "
                         f"settings or write another --out")
    commands = old.setdefault('commands', [old['command']])
    if meta['command'] not in commands:
        commands.append(meta['command'])
    notes = old.setdefault('notes', [])
    if len(notes) > 1:
        notes[1] = DDP_NOTE  # The files of older versions: "not built".
    notes += [n for n in meta['notes'][2:] if n not in notes]
    run = {k: meta[k] for k in ('command', 'torch', 'torch_geometric', 'host',
                                'load_start', 'batches', 'pyg_batches')}
    run.update(paths=list(paths), load_end=meta['load_start'])
    old.setdefault('merged_runs', []).append(run)
    return result, run


def merge_row(rows: List[Dict[str, Any]], row: Dict[str, Any]) -> None:
    r"""Puts :obj:`row` in :obj:`rows`: in place of the row of the same
    graph and path, else after the last row of its graph, else last."""
    def graph(r: Dict[str, Any]) -> tuple:
        return r['graph'], r.get('size')

    for i, r in enumerate(rows):
        if graph(r) == graph(row) and r['path'] == row['path']:
            rows[i] = row
            return
    same = [i for i, r in enumerate(rows) if graph(r) == graph(row)]
    rows.insert(same[-1] + 1 if same else len(rows), row)


if __name__ == '__main__':
    main()
