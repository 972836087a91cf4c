r"""Command-line plumbing of sequential recommendation runs, the counterpart of
:func:`adar_pyg.experiment.run_cf`: the SR flags, the model named by
:obj:`--model`, and the run from data to test metrics. Library users do not
need this module; it only keeps the scripts from repeating each other.

.. code-block:: python

    parser = argparse.ArgumentParser()
    add_common_args(parser)   # from adar_pyg.experiment
    add_sr_args(parser)
    args = parser.parse_args(['--model', 'sasrec', '--augmenter', 'adar'])
    out = run_sr(args)        # JSON-able dict, like run_cf's
"""
import argparse
import time
from typing import Any, Callable, Dict, Optional, Tuple

from adar_pyg.experiment import (DATASETS, EDGE, add_augmenter_args,
                                 fit_and_report,
                                 build_augmenter,
                                 load_dataset, setup)
from adar_pyg.sequential.base import SequentialRecommender
from adar_pyg.sequential.cl4srec import CL4SRec
from adar_pyg.sequential.data import LeaveOneOutSplit, SequenceSplit
from adar_pyg.sequential.gru4rec import GRU4Rec
from adar_pyg.sequential.sasrec import SASRec

SR_MODELS = {'sasrec': SASRec, 'gru4rec': GRU4Rec, 'cl4srec': CL4SRec}

#: Default dropout of each model when :obj:`--dropout` is not given.
DEFAULT_DROPOUT = {'sasrec': 0.5, 'gru4rec': 0.3, 'cl4srec': 0.5}


def add_sr_args(parser: argparse.ArgumentParser) -> None:
    r"""Flags of a sequential-recommendation run (the ADAR paper's SR
    settings by default: dimension 64, batch 256, :math:`N = 50`, Adam with
    learning rate 1e-3, :math:`T = 20` diffusion steps)."""
    parser.add_argument('--dataset', default='beauty', choices=list(DATASETS))
    parser.add_argument('--model', default='sasrec', choices=list(SR_MODELS))
    parser.add_argument('--max-len', type=int, default=50,
                        help='maximum sequence length N')
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--layers', type=int, default=None,
                        help='self-attention blocks (default 2) or GRU layers '
                        '(default 1)')
    parser.add_argument('--heads', type=int, default=1,
                        help='attention heads (SASRec, CL4SRec)')
    parser.add_argument('--dropout', type=float, default=None,
                        help='default: 0.5 for SASRec and CL4SRec, 0.3 for '
                        'GRU4Rec')
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--eval-batch-size', type=int, default=1024)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--l2', type=float, default=0.0,
                        help='weight of the L2 term of the batch item '
                        'embeddings')
    parser.add_argument('--eval-every', type=int, default=1)
    parser.add_argument('--patience', type=int, default=10,
                        help='evaluations without improvement before stopping')
    parser.add_argument('--select-on', default='val', choices=['val', 'test'],
                        help="'test' selects the epoch on the test set "
                        "(optimistic)")
    parser.add_argument('--no-mask-history', action='store_true',
                        help='rank the history items too (not masked)')
    parser.add_argument('--max-batches', type=int, default=None,
                        help='stop every epoch after this many batches '
                        '(smoke tests and timing)')
    parser.add_argument('--cl-weight', type=float, default=0.1,
                        help='CL4SRec: weight of the contrastive loss')
    parser.add_argument('--cl-temperature', type=float, default=1.0,
                        help='CL4SRec: InfoNCE temperature')
    parser.add_argument('--cl-similarity', default='dot',
                        choices=['dot', 'cos'],
                        help='CL4SRec: InfoNCE similarity')
    parser.add_argument('--crop-ratio', type=float, default=0.6)
    parser.add_argument('--mask-ratio', type=float, default=0.3)
    parser.add_argument('--reorder-ratio', type=float, default=0.6)
    parser.add_argument('--checkpoint', default=None,
                        help='write the best state here (atomically)')
    parser.add_argument('--no-progress', action='store_true')
    add_augmenter_args(parser)
    parser.set_defaults(adar_steps=20)  # T = 20 for SR in the ADAR paper.


def build_sr_model(num_items: int,
                   args: argparse.Namespace) -> SequentialRecommender:
    r"""The model named by :obj:`args.model` for :obj:`num_items` items."""
    if args.model not in SR_MODELS:
        raise ValueError(f"unknown model '{args.model}' (choose from "
                         f"{sorted(SR_MODELS)})")
    dropout = (DEFAULT_DROPOUT[args.model]
               if args.dropout is None else args.dropout)
    if args.model == 'gru4rec':
        return GRU4Rec(num_items, args.dim, args.max_len,
                       num_layers=args.layers or 1, dropout=dropout)
    kwargs = dict(num_layers=args.layers or 2, num_heads=args.heads,
                  dropout=dropout)
    if args.model == 'cl4srec':
        kwargs.update(cl_weight=args.cl_weight,
                      temperature=args.cl_temperature,
                      similarity=args.cl_similarity,
                      crop_ratio=args.crop_ratio, mask_ratio=args.mask_ratio,
                      reorder_ratio=args.reorder_ratio)
    return SR_MODELS[args.model](num_items, args.dim, args.max_len, **kwargs)


def load_sr_split(args: argparse.Namespace) -> Tuple[SequenceSplit, Dict]:
    r"""Loads :obj:`args.dataset` and applies the leave-one-out split."""
    dataset = load_dataset(args.dataset, args.data_root, args.mirror)
    data = dataset[0]
    transform = LeaveOneOutSplit(max_len=args.max_len)
    split = transform(data)
    sizes = split.statistics()
    stats = {
        'dataset': args.dataset,
        'users': int(data['user'].num_nodes),
        'items': int(data['item'].num_nodes),
        'interactions': int(data[EDGE].edge_index.size(1)),
        'train': sizes['train_interactions'],
        'train_positions': sizes['train_positions'],
        'val': sizes['val_interactions'],
        'test': sizes['test_interactions'],
        'max_len': args.max_len,
        'split': repr(transform),
    }
    return split, stats


def run_sr(
    args: argparse.Namespace,
    model_factory: Optional[Callable[[int, argparse.Namespace],
                                     SequentialRecommender]] = None,
    split: Optional[Tuple[SequenceSplit, Dict]] = None,
) -> Dict[str, Any]:
    r"""Loads data (or takes :obj:`split`, a :obj:`(split, statistics)` tuple
    as returned by :func:`load_sr_split`, to share one load between runs),
    builds :obj:`model_factory(num_items, args)` (default:
    :func:`build_sr_model`), trains with :class:`~adar_pyg.train.Trainer` on
    :class:`~adar_pyg.sequential.SRTask` and returns a JSON-able dict with
    the statistics, the test metrics of the selected epoch and timings (the
    keys of :func:`adar_pyg.experiment.run_cf`)."""
    from adar_pyg.sequential.task import SRTask
    model_factory = model_factory or build_sr_model
    device = setup(args)
    t0 = time.perf_counter()
    split, stats = split or load_sr_split(args)
    load_seconds = time.perf_counter() - t0
    model = model_factory(stats['items'], args)
    task = SRTask(model, split, batch_size=args.batch_size,
                  eval_batch_size=args.eval_batch_size,
                  mask_history=not args.no_mask_history,
                  max_batches=args.max_batches, device=device)
    augmenter = build_augmenter(args, model.embedding_dim)
    note = (', full ranking, history masked' if not args.no_mask_history
            else ', full ranking, history not masked')
    return fit_and_report(args, task, augmenter, model, stats, load_seconds,
                          device, note, batches_per_epoch=task.num_batches())
