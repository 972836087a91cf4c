r"""The sparse product the CF models run, against :func:`torch.sparse.mm`:
one product by the two CSR blocks of the training adjacency, and whole
LightGCN training epochs, side by side in one run.

    python benchmarks/spmm_speed.py --threads 1 --out benchmarks/results/spmm_speed
    python benchmarks/spmm_speed.py --quick --out quick    # tiny, seconds

:func:`adar_pyg.nn.sparse._spmm` computes :math:`\mathbf{A}\mathbf{X}` of a
CPU CSR matrix with :func:`torch.addmm` (:obj:`beta=0`) into an
uninitialised output, and the Horner backward writes its last product into
the gradient's rows instead of concatenating two halves. The previous form,
:func:`torch.sparse.mm` per block and a concatenation, is what this script
measures it against:

* product: the two block products of one propagation step, both forms
  alternating (ABBA), :obj:`--repeats` times; the median and the minimum
  (processor-independent wall seconds; a shared machine is noisy), and
  whether the outputs are equal bit for bit;
* epoch: one LightGCN training run (the config's settings: Amazon-Beauty,
  batch 2048, dim 64, 3 layers, uniform negatives, Adam) whose epochs, after
  an untimed one, alternate between the forms in ABBA order, :obj:`--rounds`
  times (2 epochs of each form a round); the median epoch of each form and
  their ratio; then :obj:`--epochs` epochs with each form from the same seed,
  and whether both end with the same parameters bit for bit.

Writes ``<out>.json`` and ``<out>.md``.
"""
import argparse
import contextlib
import os
import statistics
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch

from common import command_line

import adar_pyg.nn.sparse as sparse
from adar_pyg.config import (ConfigError, add_config_args, config_from_args,
                             parse_args)
from adar_pyg.io import write_text
from adar_pyg.pipeline import build_task, build_trainer, load_cf_data, setup
from adar_pyg.run import write_json


def _sparse_mm_block(adj, xu, xi, out=None):
    # The previous product: torch.sparse.mm per block (a zero-filled output).
    yu = torch.sparse.mm(adj.user_item, xi)
    yi = torch.sparse.mm(adj.item_user, xu)
    if out is not None:
        out[:adj.num_users], out[adj.num_users:] = yu, yi
    return yu, yi


def _sparse_mm_horner(adj, hu, hi, terms):
    # The previous backward: the two halves concatenated at the end.
    for gu, gi, a in terms:
        hu, hi = _sparse_mm_block(adj, hu, hi)
        hu.add_(gu, alpha=a)
        hi.add_(gi, alpha=a)
    return torch.cat([hu, hi], dim=0)


@contextlib.contextmanager
def previous_form() -> Iterator[None]:
    r"""Runs the block products and the Horner backward as
    :func:`torch.sparse.mm` and a concatenation (the code before
    :func:`adar_pyg.nn.sparse._spmm`) while inside."""
    saved = sparse._block_mm, sparse._horner
    sparse._block_mm, sparse._horner = _sparse_mm_block, _sparse_mm_horner
    try:
        yield
    finally:
        sparse._block_mm, sparse._horner = saved


def time_products(adj: Any, dim: int, repeats: int) -> Dict[str, Any]:
    xi = torch.rand(adj.num_items, dim)
    xu = torch.rand(adj.num_users, dim)
    forms = {'sparse.mm': lambda: _sparse_mm_block(adj, xu, xi),
             'addmm': lambda: sparse._block_mm(adj, xu, xi)}
    seconds: Dict[str, List[float]] = {k: [] for k in forms}
    for r in range(repeats):  # ABBA: neither form always runs second
        for name in (('sparse.mm', 'addmm') if r % 2 == 0 else
                     ('addmm', 'sparse.mm')):
            t0 = time.perf_counter()
            forms[name]()
            seconds[name].append(time.perf_counter() - t0)
    a, b = forms['sparse.mm'](), forms['addmm']()
    out = {f'{k}_ms': {'median': statistics.median(v) * 1e3,
                       'min': min(v) * 1e3} for k, v in seconds.items()}
    out['equal'] = all(torch.equal(x, y) for x, y in zip(a, b))
    return out


def _form(name: str):
    return previous_form() if name == 'sparse.mm' else \
        contextlib.nullcontext()


def _trainer(cfg: Any, data: Any, device: torch.device):
    torch.manual_seed(cfg.run.seed)
    task = build_task(cfg, data, device)
    trainer = build_trainer(cfg, task, None, progress=False)
    return task, trainer, trainer.make_optimizer()


def _epoch(cfg: Any, trainer: Any, opt: Any, epoch: int) -> float:
    t0 = time.perf_counter()
    trainer.train_epoch(opt, torch.Generator().manual_seed(cfg.run.seed +
                                                           epoch), epoch)
    return time.perf_counter() - t0


def time_epochs(cfg: Any, data: Any, device: torch.device, rounds: int,
                epochs: int) -> Dict[str, Any]:
    r"""One training run whose epochs alternate between the two forms in
    ABBA order (so that a drifting machine load falls on both alike),
    after one untimed epoch; then, for the bit-for-bit check, one run of
    :obj:`epochs` epochs with each form from the same seed."""
    seconds: Dict[str, List[float]] = {'sparse.mm': [], 'addmm': []}
    task, trainer, opt = _trainer(cfg, data, device)
    _epoch(cfg, trainer, opt, 0)
    for r in range(rounds):
        for form in ('sparse.mm', 'addmm', 'addmm', 'sparse.mm'):
            with _form(form):
                seconds[form].append(_epoch(cfg, trainer, opt,
                                            1 + len(seconds['addmm']) +
                                            len(seconds['sparse.mm'])))
        print(f"round {r}: " + ', '.join(
            f"{k} {' '.join(f'{x:.2f}' for x in v[-2:])}"
            for k, v in seconds.items()) + ' s/epoch', flush=True)
    params = {}
    for form in seconds:
        with _form(form):
            task, trainer, opt = _trainer(cfg, data, device)
            for epoch in range(epochs):
                _epoch(cfg, trainer, opt, epoch)
        params[form] = torch.cat([p.detach().flatten()
                                  for p in task.model.parameters()])
    median = {k: statistics.median(v) for k, v in seconds.items()}
    return {'seconds': seconds, 'median': median,
            'speedup': median['sparse.mm'] / median['addmm'],
            'batches_per_epoch': task.num_batches(),
            'same_parameters': torch.equal(params['sparse.mm'],
                                           params['addmm'])}


def markdown(result: Dict[str, Any]) -> str:
    p, e, s = result['product'], result['epoch'], result['settings']
    return '\n'.join([
        '# The sparse product: torch.addmm (beta=0) against torch.sparse.mm',
        '',
        f"Command: `{result['command']}`  ",
        f"Threads: {s['threads']}; torch {result['torch']}; load average "
        f"before {result['load_before']}, after {result['load_after']}  ",
        f"Graph: {s['users']:,} users, {s['items']:,} items, "
        f"{s['train']:,} training interactions; dim {s['dim']}",
        '',
        '| measure | torch.sparse.mm (before) | addmm, beta=0 (now) | '
        'ratio | bit for bit |',
        '|---|---|---|---|---|',
        f"| one product by both blocks, median (min) of {s['repeats']}, ms "
        f"| {p['sparse.mm_ms']['median']:.2f} ({p['sparse.mm_ms']['min']:.2f}) "
        f"| {p['addmm_ms']['median']:.2f} ({p['addmm_ms']['min']:.2f}) "
        f"| {p['sparse.mm_ms']['median'] / p['addmm_ms']['median']:.2f}× "
        f"| {'yes' if p['equal'] else 'no'} |",
        f"| LightGCN training epoch ({e['batches_per_epoch']} batches), "
        f"median of {len(e['seconds']['addmm'])}, s "
        f"| {e['median']['sparse.mm']:.2f} | {e['median']['addmm']:.2f} "
        f"| {e['speedup']:.2f}× "
        f"| {'yes' if e['same_parameters'] else 'no'} (parameters after "
        f"{s['epochs']} epochs) |",
        ''])


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    parser.add_argument('--repeats', type=int, default=60,
                        help='timed products of each form (default 60)')
    parser.add_argument('--rounds', type=int, default=4,
                        help='ABBA rounds of timed epochs (default 4)')
    parser.add_argument('--quick', action='store_true',
                        help='a tiny random graph: for the test, seconds')
    parser.add_argument('--out', default='benchmarks/results/spmm_speed',
                        help='writes <out>.json and <out>.md')
    args = parse_args(parser, argv)
    try:  # --epochs: of the bit-for-bit check (default 2 here)
        cfg = config_from_args(args, {'train': {'epochs': 2}}).resolved()
    except ConfigError as e:
        parser.error(str(e))
    if cfg.run.task != 'cf' or cfg.model.model != 'lightgcn':
        parser.error('spmm_speed times LightGCN (--task cf --model lightgcn)')
    if min(args.repeats, args.rounds, cfg.train.epochs) < 1:
        parser.error('need --repeats, --rounds and --epochs >= 1')
    device = setup(cfg)
    if device.type != 'cpu':
        parser.error('the addmm form is the CPU path (--device cpu)')
    if args.quick:
        from profile_epoch import quick_data
        data = quick_data(cfg.run.seed)
        cfg = cfg.replace({'model': {'dim': 8}, 'train': {'batch_size': 64}})
    else:
        data = load_cf_data(cfg)
    load_before = [round(x, 2) for x in os.getloadavg()]
    task = build_task(cfg, data, device)
    adj = task.model.adjacency(task.edge_index)
    product = time_products(adj, cfg.model.dim, args.repeats)
    print(f"product: sparse.mm {product['sparse.mm_ms']['median']:.2f} ms, "
          f"addmm {product['addmm_ms']['median']:.2f} ms (medians), equal: "
          f"{product['equal']}", flush=True)
    epoch = time_epochs(cfg, data, device, args.rounds, cfg.train.epochs)
    stats = data.statistics
    result = {
        'command': command_line(argv and ['benchmarks/spmm_speed.py',
                                          *argv]),
        'torch': torch.__version__,
        'load_before': load_before,
        'load_after': [round(x, 2) for x in os.getloadavg()],
        'settings': {'dataset': stats['dataset'], 'users': stats['users'],
                     'items': stats['items'], 'train': stats['train'],
                     'dim': cfg.model.dim, 'threads': torch.get_num_threads(),
                     'repeats': args.repeats, 'rounds': args.rounds,
                     'epochs': cfg.train.epochs},
        'product': product, 'epoch': epoch}
    text = markdown(result)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(result, f'{args.out}.json')
    write_text(f'{args.out}.md', text)


if __name__ == '__main__':
    main()
