r"""Cost of the divergence guards of ``Trainer`` (``check_finite=True``) on a
LightGCN epoch on Beauty.

    python benchmarks/guards_cost.py --threads 1 --json benchmarks/results/guards_cost.json

Epochs with and without the guards alternate on one model (``--pairs``
pairs, after one warm-up epoch each); the overhead is the median of the
paired epochs' ratios, minus one. A guarded epoch checks the loss and all
gradients before every optimizer step (one host sync per batch, the one the
loop needs anyway to read the loss) and all parameters once at its end.
Also timed: the per-call finiteness check of the augmenters' inputs (one
fused reduction; on CUDA without host sync) on a batch of
:obj:`--batch-size` rows, and one write of the full-state ``last``
checkpoint (what ``adar-pyg train`` adds at every evaluation for resume).
"""
import argparse
import os
import statistics
import tempfile
import time
from typing import List, Optional

import torch

from adar_pyg.augment import NegativeAugmenter
from adar_pyg.config import (ConfigError, add_config_args, config_from_args,
                             parse_args)
from adar_pyg.pipeline import build_task, load_cf_data, setup
from adar_pyg.run import write_json
from adar_pyg.train import Trainer, save_checkpoint
from adar_pyg.train.checkpoint import FitState


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    parser.add_argument('--pairs', type=int, default=3,
                        help='timed (guarded, unguarded) epoch pairs')
    parser.add_argument('--json', metavar='PATH', default=None)
    args = parse_args(parser, argv)
    try:
        cfg = config_from_args(args, {'model': {'model': 'lightgcn'}}
                               ).resolved()
    except ConfigError as e:
        parser.exit(2, f'error: {e}\n')
    device = setup(cfg)
    data = load_cf_data(cfg)
    task = build_task(cfg, data, device)
    t = cfg.train
    trainers = {
        guarded: Trainer(task, lr=t.lr, l2=t.l2, epochs=1000, progress=False,
                         seed=cfg.run.seed, check_finite=guarded)
        for guarded in (True, False)
    }
    optimizer = torch.optim.Adam(task.model.parameters(), lr=t.lr)
    generator = torch.Generator().manual_seed(cfg.run.seed)
    times = {True: [], False: []}
    epoch = 0
    for round in range(args.pairs + 1):  # The first pair warms up.
        for guarded in ((True, False) if round % 2 else (False, True)):
            epoch += 1
            t0 = time.perf_counter()
            trainers[guarded].train_epoch(optimizer, generator, epoch)
            if guarded:  # What fit adds at the end of a guarded epoch:
                assert trainers[guarded]._nonfinite_parameters() is None
            seconds = time.perf_counter() - t0
            if round:
                times[guarded].append(seconds)
            print(f'epoch {epoch}: {"guarded  " if guarded else "unguarded"} '
                  f'{seconds:.3f} s', flush=True)
    ratios = [g / u for g, u in zip(times[True], times[False])]
    overhead = statistics.median(ratios) - 1

    # The guards' own work, timed alone (less noisy than whole epochs on a
    # shared machine): the per-batch check of the loss and the gradients
    # (without its host sync, which the unguarded loop does too) and the
    # end-of-epoch check of the parameters.
    params = list(task.model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    loss = torch.tensor(0.5, device=device)
    guard = trainers[True]
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        guard._finite_loss(loss, params, 1, 1, 1, None)
    batch_check = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(5):
        guard._nonfinite_parameters()
    param_check = (time.perf_counter() - t0) / 5
    isolated = (batch_check * task.num_batches() + param_check) / \
        statistics.mean(times[False])

    # The augmenters' per-call check, alone and within an ADAR step:
    dim, rows = cfg.model.dim, t.batch_size
    aug = NegativeAugmenter(dim, num_steps=cfg.adar.num_steps,
                            weight=0.5).to(device)
    u, i, j = (torch.randn(rows, dim, device=device) for _ in range(3))
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        aug._check(user_emb=u, pos_emb=i, neg_emb=j)
    check_us = (time.perf_counter() - t0) / reps * 1e6
    t0 = time.perf_counter()
    for _ in range(20):
        aug.step(u, i, j)
        aug(u, i, j)
    adar_us = (time.perf_counter() - t0) / 20 * 1e6

    # One write of the full-state checkpoint:
    state = trainers[True].full_state(FitState(epoch=epoch), optimizer,
                                      generator)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'last.pt')
        t0 = time.perf_counter()
        save_checkpoint(state, path)
        save_seconds = time.perf_counter() - t0
        size_mb = os.path.getsize(path) / 2**20

    out = {
        'dataset': data.statistics['dataset'], 'model': repr(task.model),
        'batches_per_epoch': task.num_batches(), 'threads':
        torch.get_num_threads(), 'device': str(device), 'torch':
        torch.__version__, 'pairs': args.pairs,
        'seconds_guarded': times[True], 'seconds_unguarded': times[False],
        'paired_ratios': ratios,
        'guard_overhead_median': overhead,
        'guard_overhead_of_means': statistics.mean(times[True]) /
        statistics.mean(times[False]) - 1,
        'guard_check_seconds_per_batch': batch_check,
        'parameter_check_seconds_per_epoch': param_check,
        'guard_overhead_isolated': isolated,
        'augmenter_check_us_per_call': check_us,
        'adar_step_and_forward_us': adar_us,
        'augmenter_check_share_of_adar_call': check_us / adar_us,
        'last_checkpoint_mb': size_mb,
        'last_checkpoint_write_seconds': save_seconds,
        'target': 'guards < 2% of a LightGCN epoch',
    }
    print(f"guards: {100 * overhead:+.2f}% of a LightGCN epoch (median of "
          f"{args.pairs} paired ratios; mean epochs "
          f"{statistics.mean(times[True]):.3f} s guarded, "
          f"{statistics.mean(times[False]):.3f} s unguarded)")
    print(f'guards timed alone: {1e3 * batch_check:.3f} ms per batch x '
          f'{task.num_batches()} batches + {1e3 * param_check:.3f} ms per '
          f'epoch = {100 * isolated:.2f}% of an unguarded epoch')
    print(f'augmenter input check: {check_us:.0f} us per call '
          f'({100 * check_us / adar_us:.2f}% of an ADAR step + forward of '
          f'{rows} rows)')
    print(f'last.pt: {size_mb:.1f} MB written in {save_seconds:.3f} s')
    write_json(out, args.json)


if __name__ == '__main__':
    main()
