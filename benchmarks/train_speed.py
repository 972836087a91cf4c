r"""Training-epoch and evaluation speed of adar_pyg's LightGCN, side by side in one
run with PyG's stock ``torch_geometric.nn.models.LightGCN``.

    python benchmarks/train_speed.py --json benchmarks/results/train_speed.json

* train: one epoch of our product path (``Trainer.train_epoch``: batching, uniform
  negatives with rejection, propagation, BPR + L2, Adam) vs. PyG's ``LightGCN``
  trained on the *same* triplets (same batch plan and negatives, pre-drawn so
  PyG's time excludes sampling — in its favour) with the same loss and optimiser.
* +ADAR: the same epoch of LightGCN + ``NegativeAugmenter`` (diffusion step,
  reverse chain, D-BPR), for the ADAR-overhead target (<= 1.5x the base epoch).
  Base and +ADAR epochs alternate (``--epochs`` pairs, after one warm-up epoch
  each); the ratio is the median of the paired epochs' ratios.
* eval: our full-ranking evaluation of every test user (masking, top-K, Recall
  and NDCG@10/20) vs. the bare score matmul + top-20 on the same embeddings.
"""
import argparse
import resource
import statistics
from typing import Dict, List, Optional

import torch

from common import Stopwatch, command_line, pyg_lightgcn_step

from adar_pyg.config import (ConfigError, add_config_args, config_from_args,
                             parse_args)
from adar_pyg.pipeline import (EDGE, build_augmenter, build_task,
                               build_trainer, load_cf_data, setup)
from adar_pyg.run import write_json


def peak_mb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    # The settings (--dataset, --batch-size, --seed, --device, --threads,
    # --data-root, the split, --dim, --layers, --lr, --l2, --adar-*; the
    # backbone is LightGCN whatever --model says); --epochs: timed epochs
    # (default 3 here: a preset layer, which the flags override).
    add_config_args(parser, config_file=False)
    parser.add_argument('--json', metavar='PATH', default=None,
                        help='write the timings here')
    parser.add_argument('--pyg-batches', type=int, default=0,
                        help='time only this many PyG batches and extrapolate '
                        'to the epoch (0 = the whole epoch)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed repetitions of the evaluation')
    parser.add_argument('--no-adar', action='store_true',
                        help='skip timing the LightGCN + ADAR epoch')
    args = parse_args(parser, argv)
    try:
        cfg = config_from_args(args, {'train': {'epochs': 3}}).resolved()
    except ConfigError as e:
        parser.error(str(e))
    dim, layers = cfg.model.dim, cfg.model.layers
    seed, batch_size, epochs = (cfg.run.seed, cfg.train.batch_size,
                                cfg.train.epochs)
    lr, l2 = cfg.train.lr, cfg.train.l2
    device = setup(cfg)
    data = load_cf_data(cfg)
    train, stats = data.train, data.statistics
    U, I = stats['users'], stats['items']
    print(f"{stats['dataset']}: {U} users, {I} items, {stats['train']} "
          f"training pairs, batch {batch_size}, device {device}, "
          f"{torch.get_num_threads()} threads", flush=True)

    # --- ours, and ours + ADAR: epochs alternate so that machine noise hits
    # both; the same start and the same warm-up ------------------------------
    def make_trainer(run_cfg):
        torch.manual_seed(seed)
        task = build_task(run_cfg, data, device)
        trainer = build_trainer(run_cfg, task,
                                build_augmenter(run_cfg, dim), progress=False)
        opt = trainer.make_optimizer()
        trainer.train_epoch(opt, torch.Generator().manual_seed(99), 0)
        return task, trainer, opt

    def timed_epoch(trainer, opt, epoch) -> float:
        with Stopwatch(device) as watch:
            trainer.train_epoch(opt, torch.Generator().manual_seed(
                seed + epoch), epoch)
        return watch.seconds

    base_cfg = cfg.replace({'model': {'model': 'lightgcn'},
                            'train': {'augmenter': 'none'}})
    task, trainer, opt = make_trainer(base_cfg)
    ours_mem = peak_mb(device)
    runs = {'base': (trainer, opt)}
    if not args.no_adar:
        runs['adar'] = make_trainer(
            base_cfg.replace({'train': {'augmenter': 'adar'}}))[1:]
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for epoch in range(1, epochs + 1):
        for name, (tr, op) in runs.items():
            times[name].append(timed_epoch(tr, op, epoch))
    ours_epoch = statistics.median(times['base'])
    print(f'ours  : {ours_epoch:8.2f} s/epoch ({task.num_batches()} batches, '
          f'median of {epochs})', flush=True)
    adar_epoch = adar_ratio = None
    if 'adar' in runs:
        adar_epoch = statistics.median(times['adar'])
        adar_ratio = statistics.median(
            [a / b for a, b in zip(times['adar'], times['base'])])
        diag = runs['adar'][0].epoch_diagnostics
        print(f'+ADAR : {adar_epoch:8.2f} s/epoch ({adar_ratio:.2f}x base, '
              f"median of paired epochs; mean t* {diag.get('t_star', 0):.1f} "
              f'of {cfg.adar.num_steps})', flush=True)

    # --- PyG's stock LightGCN on the same triplets -----------------------------
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for batch in task.batches(gen):
        neg = task.sampler.sample(batch[0], batch[1], generator=gen)
        batches.append((batch[0], batch[1], neg))
    pyg_step = pyg_lightgcn_step(train[EDGE].edge_index, U, I, dim, layers,
                                 lr, l2, device)

    pyg_step(*batches[0])  # warm-up
    n = len(batches) if args.pyg_batches <= 0 else min(args.pyg_batches,
                                                       len(batches))
    with Stopwatch(device) as watch:
        for b in batches[:n]:
            pyg_step(*b)
    pyg_batch = watch.seconds / n
    pyg_epoch = pyg_batch * len(batches)
    pyg_mem = peak_mb(device)
    print(f'PyG   : {pyg_epoch:8.2f} s/epoch ({pyg_batch * 1e3:.1f} ms/batch, '
          f'{n} of {len(batches)} batches timed)', flush=True)

    # --- evaluation -------------------------------------------------------------
    user_emb, item_emb = task.embeddings()
    evaluator = task.evaluators['test']
    evaluator(user_emb, item_emb)  # warm-up
    eval_times, bare_times = [], []
    users = torch.arange(U, device=device)
    for _ in range(args.repeats):
        with Stopwatch(device) as watch:
            evaluator(user_emb, item_emb)
        eval_times.append(watch.seconds)
        with Stopwatch(device) as watch:
            for s in range(0, U, evaluator.batch_size):
                (user_emb[users[s:s + evaluator.batch_size]]
                 @ item_emb.t()).topk(max(evaluator.ks), dim=1)
        bare_times.append(watch.seconds)
    ev, bare = min(eval_times), min(bare_times)
    print(f'eval  : {ev:8.3f} s for {evaluator.num_eval_users} users; bare '
          f'matmul + top-{max(evaluator.ks)} for {U} users {bare:.3f} s',
          flush=True)

    out = {
        'statistics': stats,
        'device': str(device),
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'batches_per_epoch': len(batches),
        'ours_seconds_per_epoch': ours_epoch,
        'pyg_seconds_per_epoch': pyg_epoch,
        'pyg_batches_timed': n,
        'train_speedup_vs_pyg': pyg_epoch / ours_epoch,
        'eval_seconds': ev,
        'bare_matmul_topk_seconds': bare,
        'eval_overhead_vs_bare': ev / bare,
        'adar_seconds_per_epoch': adar_epoch,
        'adar_epoch_ratio_vs_base': adar_ratio,
        'epoch_seconds': times,
        'peak_memory_mb_after_ours': ours_mem,
        'peak_memory_mb_after_pyg': pyg_mem,
        'command': command_line(),
    }
    print(f"\n| measure | ours | reference | ratio |\n|---|---|---|---|\n"
          f"| train epoch (s) | {ours_epoch:.2f} | {pyg_epoch:.2f} (PyG LightGCN)"
          f" | {out['train_speedup_vs_pyg']:.1f}x faster |\n"
          + (f"| +ADAR epoch (s) | {adar_epoch:.2f} | {ours_epoch:.2f} (ours, "
             f"base) | {adar_ratio:.2f}x |\n" if adar_epoch else '')
          + f"| full eval (s) | {ev:.3f} | {bare:.3f} (bare matmul+top-k) | "
          f"{out['eval_overhead_vs_bare']:.2f}x |\n"
          f"| peak memory (MB) | {ours_mem:.0f} | {pyg_mem:.0f} (after PyG) | |")
    write_json(out, args.json)


if __name__ == '__main__':
    main()
