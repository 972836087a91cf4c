r"""Data-parallel training on :mod:`torch.distributed`: the pieces
:class:`~adar_pyg.train.Trainer` uses when it runs in a process group of
several ranks (see :meth:`Trainer.fit`), and nothing else of the loop.

* :class:`TaskForward` makes a task's :meth:`~adar_pyg.train.RecTask.forward`
  a module, so that :class:`~torch.nn.parallel.DistributedDataParallel`
  wraps the whole of it: every parameter the loss uses (the embedding tables,
  the layer-0 L2 term, the sampler's negatives) goes through the wrapped
  forward, and its (dense) gradients are averaged over the ranks.
* :func:`gather_rows` concatenates, in rank order, the rows every rank holds
  (the global batch, as one process would see it), for the augmenter.
* :func:`broadcast_rng` gives every rank rank 0's random state, so that the
  augmenter, run on the gathered global batch by every rank, stays
  identical on all of them (the "equivalent of DDP" for its parameters:
  the same inputs, the same draws, the same Adam step everywhere).
* Column-parallel training (:obj:`Trainer(parallel='columns')`) splits the
  embedding *columns* instead of the batch: :func:`column_slice` is a
  rank's columns, :func:`gather_columns` puts the ranks' column blocks of
  the batch's rows side by side (its backward keeps the rank's own
  columns), and :func:`sync_columns` gives every rank the whole model
  and optimiser state from the ranks' own columns.
"""
import json
import os
import pickle
import signal
from typing import Any, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.adam import adam

from adar_pyg.errors import AdarError
from adar_pyg.io import atomic_path, write_text


def world() -> tuple:
    r"""(rank, world size) of the default process group, (0, 1) without
    one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _comm_device() -> torch.device:
    if dist.get_backend() == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


class TaskForward(torch.nn.Module):
    r"""A task's :meth:`forward` as a module whose parameters are the task's
    model's, for :class:`~torch.nn.parallel.DistributedDataParallel`."""
    def __init__(self, task: Any) -> None:
        super().__init__()
        self.model = task.model
        self._task = [task]  # Not a submodule.

    def forward(self, batch: Any, generator: Optional[torch.Generator] = None):
        return self._task[0].forward(batch, generator)


def wrap(task: Any) -> torch.nn.parallel.DistributedDataParallel:
    r"""The DDP-wrapped :class:`TaskForward` of :obj:`task`."""
    device = next(task.model.parameters()).device
    kwargs = {}
    if device.type == 'cuda':
        kwargs = dict(device_ids=[device.index], output_device=device.index)
    import warnings
    with warnings.catch_warnings():  # Renamed in torch 2.13, same meaning.
        warnings.simplefilter('ignore', FutureWarning)
        return torch.nn.parallel.DistributedDataParallel(
            TaskForward(task), broadcast_buffers=False, **kwargs)


def prepare(task: Any, rank: int, world_size: int
            ) -> torch.nn.parallel.DistributedDataParallel:
    r"""Makes :obj:`task` one rank's part of a data-parallel run: its
    training batches :meth:`~adar_pyg.train.RecTask.shard` ed, its
    evaluators reducing over the ranks; returns its DDP-wrapped forward
    (see :func:`wrap`)."""
    task.shard(rank, world_size)
    module = wrap(task)
    distribute_evaluators(task)
    return module


def distribute_evaluators(task: Any) -> None:
    r"""Makes :obj:`task`'s evaluators rank their share of the users and
    reduce the metrics over the ranks."""
    device = next(task.model.parameters()).device
    for evaluator in task.evaluators.values():
        evaluator.distributed(
            device='cuda' if device.type == 'cuda' else 'cpu')


def column_slice(dim: int, rank: int, world_size: int) -> slice:
    r"""The columns of :obj:`dim` that rank :obj:`rank` of
    :obj:`world_size` computes in column-parallel training: contiguous
    blocks of :obj:`dim // world_size`, in rank order."""
    if dim % world_size:
        raise ValueError(f"column-parallel training splits the {dim} "
                         f"embedding columns evenly over the processes; "
                         f"{world_size} does not divide {dim} (choose --dim "
                         f"or --nproc so that it does)")
    width = dim // world_size
    return slice(rank * width, (rank + 1) * width)


def _gather_cat(x: Tensor, dim: int) -> Tensor:
    r"""Every rank's :obj:`x` (the same shape on all), concatenated along
    :obj:`dim` in rank order, on :obj:`x`'s device."""
    y = x.to(_comm_device()).contiguous()
    parts = [torch.empty_like(y) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, y)
    return torch.cat(parts, dim=dim).to(x.device)


class _GatherColumns(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, rank: int,  # type: ignore
                world_size: int) -> Tensor:
        ctx.rank, ctx.world_size = rank, world_size
        return _gather_cat(x.detach(), dim=1)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore
        # Every rank computes the same loss from the same gathered rows, so
        # the gradient of its own block is its columns of the whole one.
        width = grad.size(1) // ctx.world_size
        start = ctx.rank * width
        return grad[:, start:start + width], None, None


def gather_columns(*blocks: Tensor) -> tuple:
    r"""The ranks' column blocks of each of :obj:`blocks` (the same rows on
    every rank, this rank's columns) side by side, in rank order: the
    whole rows, as one process computes them (one
    :func:`~torch.distributed.all_gather` for all blocks). Differentiable:
    the gradient of a rank's block is its columns of the gradient of the
    whole rows, which every rank computes identically."""
    rank, world_size = world()
    sizes = [b.size(0) for b in blocks]
    whole = _GatherColumns.apply(torch.cat(blocks, dim=0), rank, world_size)
    return tuple(whole.split(sizes, dim=0))


def sync_columns(tensors: Any, rank: int, world_size: int) -> None:
    r"""Column-parallel training: a rank keeps only its own columns
    (:func:`column_slice` of the last dimension) of the model's parameters
    and of their optimiser state up to date, since it reads no others;
    this writes every rank's own columns of each of :obj:`tensors` into
    all ranks (in place), so that every rank holds the whole model and
    optimiser state, as one process does."""
    for x in tensors:
        cols = column_slice(x.size(-1), rank, world_size)
        with torch.no_grad():
            x.copy_(_gather_cat(x.detach()[..., cols], dim=-1))


def adam_moments(optimizer: torch.optim.Adam, p: Tensor) -> List[Tensor]:
    r"""The moments :obj:`optimizer` keeps for :obj:`p`, each of its
    shape: :obj:`exp_avg`, :obj:`exp_avg_sq` and, with :obj:`amsgrad`,
    :obj:`max_exp_avg_sq` (none before its first step)."""
    state = optimizer.state.get(p, {})
    return [state[k] for k in ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')
            if k in state]


def broadcast_parameters(module: torch.nn.Module) -> None:
    r"""Sets every parameter and buffer of :obj:`module` to rank 0's."""
    for x in list(module.parameters()) + list(module.buffers()):
        y = x.detach().to(_comm_device())
        dist.broadcast(y, 0)
        with torch.no_grad():
            x.copy_(y.to(x.device))


def column_adam_step(optimizer: torch.optim.Adam, rank: int,
                     world_size: int) -> None:
    r"""Column-parallel training: :obj:`optimizer`'s step on this rank's
    own columns only (its gradients are exact there, and zero elsewhere),
    by :func:`torch.optim.adam.adam` on column views of the parameters and
    of their moments (:func:`adam_moments`), with the group's settings, so
    the arithmetic of :meth:`torch.optim.Adam.step`. The first step is
    Adam's own (it creates the state; whatever it does to the other
    columns, which this rank does not read, :func:`sync_columns`
    overwrites)."""
    if not isinstance(optimizer, torch.optim.Adam):
        raise TypeError(f"column-parallel training steps torch.optim.Adam "
                        f"(got {type(optimizer).__name__})")
    groups = optimizer.param_groups
    if any(p.grad is not None and not optimizer.state.get(p)
           for group in groups for p in group['params']):
        optimizer.step()
        return
    for group in groups:
        for p in group['params']:
            if p.grad is None:
                continue
            cols = column_slice(p.size(-1), rank, world_size)
            amsgrad = group['amsgrad']
            moments = [m[..., cols] for m in adam_moments(optimizer, p)]
            decoupled = ({} if 'decoupled_weight_decay' not in group else {
                'decoupled_weight_decay': group['decoupled_weight_decay']})
            with torch.no_grad():
                adam([p[..., cols]], [p.grad[..., cols]], moments[:1],
                     moments[1:2], moments[2:], [optimizer.state[p]['step']],
                     foreach=group['foreach'], fused=group['fused'],
                     differentiable=group['differentiable'],
                     capturable=group['capturable'], **decoupled,
                     amsgrad=amsgrad, beta1=group['betas'][0],
                     beta2=group['betas'][1], lr=group['lr'],
                     weight_decay=group['weight_decay'], eps=group['eps'],
                     maximize=group['maximize'])


def gather_rows(x: Tensor) -> tuple:
    r"""The rows of :obj:`x` of every rank (their number may differ),
    concatenated in rank order, and the number of rows of each rank."""
    size = torch.tensor([x.size(0)], device=_comm_device())
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    counts = [int(s) for s in sizes]
    dev = x.device
    y = x.to(_comm_device())
    pad = y.new_zeros((max(counts) - y.size(0), ) + tuple(y.shape[1:]))
    if pad.size(0):
        y = torch.cat([y, pad])
    parts = [torch.empty_like(y) for _ in counts]
    dist.all_gather(parts, y.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)]).to(dev), counts


def broadcast_state(state: Tensor) -> Tensor:
    r"""Rank 0's :obj:`state` (a CPU byte tensor of the same size on every
    rank, *e.g.* a random state)."""
    y = state.to(_comm_device())
    dist.broadcast(y, 0)
    return y.cpu()


def broadcast_rng(generator: Optional[torch.Generator] = None
                  ) -> List[Any]:
    r"""Sets the global CPU (and current CUDA) random state, or that of
    :obj:`generator`, to rank 0's; returns this rank's states before, for
    :func:`restore_rng`."""
    if generator is not None:
        before = [generator.get_state()]
        generator.set_state(broadcast_state(before[0]))
        return before
    before = [torch.get_rng_state()]
    torch.set_rng_state(broadcast_state(before[0]))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        before.append(torch.cuda.get_rng_state())
        torch.cuda.set_rng_state(broadcast_state(before[1]))
    return before


def restore_rng(before: List[Any]) -> None:
    torch.set_rng_state(before[0])
    if len(before) > 1:
        torch.cuda.set_rng_state(before[1])


def all_sum(values: Tensor) -> Tensor:
    r"""The sum over the ranks of :obj:`values`."""
    y = values.to(_comm_device()).clone()
    dist.all_reduce(y)
    return y.to(values.device)


def free_port(host: str = '127.0.0.1') -> int:
    r"""A TCP port free on :obj:`host` now."""
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port(port: int, host: str = '127.0.0.1') -> None:
    r"""Raises a :class:`RuntimeError` if :obj:`port` is in use on
    :obj:`host`."""
    import socket
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise RuntimeError(f"port {port} on {host} is in use ({e.strerror}"
                               f"); choose another --port or leave it unset "
                               f"for a free one") from None


def init_process_group(rank: int, world_size: int, backend: str,
                       addr: str, port: int, timeout: float) -> None:
    r"""Joins the default process group (TCP rendezvous at
    :obj:`addr:port`; collectives that wait longer than :obj:`timeout`
    seconds fail instead of hanging)."""
    import datetime
    dist.init_process_group(
        backend, init_method=f'tcp://{addr}:{port}', rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout))


class RankError(AdarError):
    r"""An :class:`~adar_pyg.errors.AdarError` of a rank of :func:`launch`
    (a data error, a diverged run, ...), raised in the calling process with
    its message, hint and exit code."""
    def __init__(self, message: str, hint: Optional[str] = None,
                 exit_code: int = 1) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


def _die_with_parent(parent: int) -> None:
    r"""Linux: this process is killed when the one that spawned it dies
    (:obj:`kill -9` of the command): a rank left running would go on
    writing the run directory whose lock died with the command. (torch's
    :func:`spawn` asks for SIGINT instead, which a command started in the
    background by a script, or under :obj:`nohup`, ignores, and so do its
    ranks.) Where :obj:`prctl` is missing, nothing is done.

    Args:
        parent (int): The process id of the spawning process (a rank whose
            parent is no longer it exits at once).
    """
    import ctypes
    import ctypes.util
    import signal
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                           use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # (it died before the call: stop)
        raise KeyboardInterrupt


def _stop(signum: int, frame: Any) -> None:
    # As a Ctrl-C: torch's wrapper of a rank takes KeyboardInterrupt for
    # "stopped by the launcher" and lets the process end as Python does.
    raise KeyboardInterrupt


def _worker(rank: int, fn: Any, args: tuple, world_size: int, backend: str,
            addr: str, port: int, timeout: float, threads: Optional[int],
            results: str, parent: int) -> None:
    _die_with_parent(parent)
    # Ctrl-C is the launcher's to handle (it stops the ranks); stopped, a
    # rank exits as Python does, releasing what it holds (a SIGTERM that
    # killed it outright left semaphores the resource tracker then
    # reported as leaked).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), MASTER_ADDR=addr,
                      MASTER_PORT=str(port))
    if threads:
        torch.set_num_threads(threads)
    if backend == 'nccl':
        torch.cuda.set_device(rank)
    init_process_group(rank, world_size, backend, addr, port, timeout)
    try:
        out = fn(rank, world_size, *args)
        if rank == 0:  # To a file: shared tensors die with the process.
            with atomic_path(results) as tmp:
                torch.save(out, tmp)
    except AdarError as e:  # For the caller to raise it as it is:
        error = {'message': str(e), 'hint': e.hint,
                 'exit_code': e.exit_code}
        write_text(f'{results}.error{rank}', json.dumps(error))
        raise
    finally:
        dist.destroy_process_group()


def launch(fn: Any, nproc: int, args: tuple = (), backend: str = 'gloo',
           port: Optional[int] = None, timeout: float = 300.0,
           threads: Optional[int] = None,
           deadline: Optional[float] = None,
           safe_globals: Sequence[type] = ()) -> Any:
    r"""Runs :obj:`fn(rank, world_size, *args)` in :obj:`nproc` fresh
    processes (:func:`torch.multiprocessing.spawn`) joined in one process
    group on 127.0.0.1 (gloo, or NCCL with one GPU per rank) and returns
    rank 0's result (:obj:`fn` must be picklable, and its result made of
    tensors, numbers, strings, containers of them and the classes of
    :obj:`safe_globals`: it is loaded with
    :obj:`torch.load(..., weights_only=True)`).

    The processes are watched: if one fails or dies, the others are
    stopped and a :class:`RuntimeError` says which rank and why; a
    collective that waits more than :obj:`timeout` seconds fails; with
    :obj:`deadline` (seconds), all are stopped after it.

    Args:
        fn (callable): A module-level function.
        nproc (int): Number of processes.
        args (tuple, optional): Further arguments of :obj:`fn`.
        backend (str, optional): :obj:`'gloo'` or :obj:`'nccl'`.
        port (int, optional): Rendezvous port (default: a free one; one in
            use is an error).
        timeout (float, optional): Collective timeout in seconds.
        threads (int, optional): torch threads per process.
        deadline (float, optional): Wall-clock limit in seconds.
        safe_globals (sequence of types, optional): Classes of the result
            to load besides tensors, numbers, strings and containers
            (e.g. :class:`~adar_pyg.train.trainer.TrainResult`).
    """
    import logging
    import time

    import torch.multiprocessing as mp
    # (its 'Terminating process N via signal SIGTERM' of the other ranks,
    # when one fails: the error says so)
    logging.getLogger('torch.multiprocessing.spawn').setLevel(logging.ERROR)
    if backend == 'nccl' and nproc > torch.cuda.device_count():
        raise RuntimeError(f"{nproc} processes on CUDA need {nproc} GPUs "
                           f"(one each); this machine has "
                           f"{torch.cuda.device_count()}")
    if port is None:
        port = free_port()
    else:
        check_port(port)
    import tempfile
    folder = tempfile.TemporaryDirectory(prefix='adar-pyg-launch-')
    results = os.path.join(folder.name, 'result.pt')
    context = mp.spawn(_worker, args=(fn, args, nproc, backend, '127.0.0.1',
                                      port, timeout, threads, results,
                                      os.getpid()),
                       nprocs=nproc, join=False)
    start = time.monotonic()
    try:
        while not context.join(timeout=0.5):
            if deadline is not None and time.monotonic() - start > deadline:
                raise RuntimeError(f"the {nproc} processes did not finish "
                                   f"within {deadline:.0f} s; stopped them")
    except mp.ProcessExitedException as e:
        raise RuntimeError(
            f"rank {e.error_index} of {nproc} died (exit code {e.exit_code}"
            f"{', signal ' + e.signal_name if e.signal_name else ''}); the "
            f"other ranks were stopped") from None
    except mp.ProcessRaisedException as e:
        error = f'{results}.error{e.error_index}'
        if os.path.exists(error):  # One of ours: the same in this process.
            with open(error) as f:
                raise RankError(**json.load(f)) from None
        raise RuntimeError(f"rank {e.error_index} of {nproc} failed; the "
                           f"other ranks were stopped. Its error:\n{e}"
                           ) from None
    finally:
        for p in context.processes:
            if p.is_alive():
                p.terminate()
        for p in context.processes:
            p.join(5)
            if p.is_alive():
                p.kill()
    with folder:
        if not os.path.exists(results):
            return None
        try:
            with torch.serialization.safe_globals(list(safe_globals)):
                return torch.load(results, weights_only=True)
        except pickle.UnpicklingError as e:
            why = str(e).partition('WeightsUnpickler error: ')[2]
            why = why.partition(' was not an allowed global')[0] or str(e)
            raise RuntimeError(
                f"rank 0's result holds objects other than tensors, numbers, "
                f"strings, containers of them and safe_globals ({why}); "
                f"pass its classes as launch(..., safe_globals=[...])"
                ) from None
