r"""Command-line plumbing shared by the examples and benchmarks: the common flags
(:obj:`--device`, :obj:`--seed`, :obj:`--epochs`, :obj:`--data-root`,
:obj:`--json`, ...), dataset loading and the collaborative-filtering run from
data to test metrics. Library users do not need this module; it only keeps the
scripts from repeating each other."""
import argparse
import json
import os
import platform
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from adar_pyg.datasets import (AmazonBeauty, AmazonSports, AmazonToys,
                               OODFood, OODYelp2018, Yelp, default_mirror)
from adar_pyg.io import atomic_path
from adar_pyg.transforms import PerUserRandomSplit

DATASETS = {
    'beauty': AmazonBeauty,
    'toys': AmazonToys,
    'sports': AmazonSports,
    'yelp': Yelp,
}
#: Datasets with published splits (train, IID validation and test, OOD test)
OOD_DATASETS = {
    'ood-food': OODFood,
    'ood-yelp2018': OODYelp2018,
}
#: Flag defaults of the OOD scripts: the CNSDiff reference configuration
#: (2-layer LightGCN, dim 64, batches of 2048, Adam lr 0.01, L2 1e-4, 120
#: epochs), evaluated every epoch without early stopping, so that the
#: easy-to-hard curriculum runs to its end; the epoch is selected on the IID
#: validation set.
OOD_DEFAULTS = dict(layers=2, dim=64, batch_size=2048, lr=0.01, l2=1e-4,
                    epochs=120, eval_every=1, patience=120)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EDGE = ('user', 'rates', 'item')


def default_device() -> str:
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def add_common_args(parser: argparse.ArgumentParser) -> None:
    r"""The flags every script takes."""
    parser.add_argument('--device', default=default_device(),
                        choices=['cpu', 'cuda'],
                        help='default: cuda when available')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--epochs', type=int, default=1000,
                        help='maximum number of training epochs')
    parser.add_argument('--data-root', default=os.path.join(
        REPO_ROOT, 'datasets'), help='download / processed-cache folder')
    parser.add_argument('--mirror', default=None,
                        help='local mirror folder laid out like '
                        '../shared/datasets (default: $ADAR_PYG_MIRROR, else '
                        '../shared/datasets when present, else download)')
    parser.add_argument('--json', default=None, metavar='PATH',
                        help='write the final metrics and timings here')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch decides)')


def add_cf_args(parser: argparse.ArgumentParser,
                datasets: Optional[Sequence[str]] = None) -> None:
    r"""Flags of a collaborative-filtering run; :obj:`--dataset` chooses
    from :obj:`datasets` (default: :obj:`DATASETS`), the first by default."""
    datasets = list(datasets or DATASETS)
    parser.add_argument('--dataset', default=datasets[0], choices=datasets)
    parser.add_argument('--val-ratio', type=float, default=0.1,
                        help="share of each user's training part held out "
                        "for early stopping; 0 = the paper's literal protocol")
    parser.add_argument('--test-ratio', type=float, default=0.2)
    parser.add_argument('--select-on', default='val', choices=['val', 'test'],
                        help="'test' selects the epoch on the test set "
                        "(optimistic; the literal protocol of the paper)")
    parser.add_argument('--split-seed', type=int, default=None,
                        help='seed of the split (default: --seed)')
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--layers', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=2048)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--l2', type=float, default=1e-4)
    parser.add_argument('--eval-every', type=int, default=1)
    parser.add_argument('--patience', type=int, default=10,
                        help='evaluations without improvement before stopping')
    parser.add_argument('--sampler', default='uniform')
    parser.add_argument('--checkpoint', default=None,
                        help='write the best state here (atomically)')
    parser.add_argument('--no-progress', action='store_true')
    add_sampler_args(parser)
    add_augmenter_args(parser)


def add_sampler_args(parser: argparse.ArgumentParser) -> None:
    r"""Hyper-parameters of the score-aware samplers of
    :mod:`adar_pyg.sampling` (used by :func:`build_sampler`)."""
    parser.add_argument('--num-candidates', type=int, default=None,
                        help='candidates per row of dns / mixgcf / ahns '
                        "(default: the sampler's, 32 for dns and ahns, 16 "
                        'for mixgcf)')
    parser.add_argument('--ahns-alpha', type=float, default=1.0)
    parser.add_argument('--ahns-beta', type=float, default=0.1)
    parser.add_argument('--ahns-p', type=float, default=-2.0)


def build_sampler(args: argparse.Namespace, train_data, num_users: int,
                  num_items: int):
    r"""The :class:`~adar_pyg.sampling.NegativeSampler` named by
    :obj:`--sampler`, with the flags of :func:`add_sampler_args`, on the
    training positives of :obj:`train_data`."""
    from adar_pyg.sampling import SAMPLERS
    name = args.sampler
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}' (choose from "
                         f"{sorted(SAMPLERS)})")
    kwargs: Dict[str, Any] = {}
    num = getattr(args, 'num_candidates', None)
    if num is not None and name in ('dns', 'mixgcf', 'ahns'):
        kwargs['num_candidates'] = num
    if name == 'ahns':
        kwargs.update(alpha=getattr(args, 'ahns_alpha', 1.0),
                      beta=getattr(args, 'ahns_beta', 0.1),
                      p=getattr(args, 'ahns_p', -2.0))
    return SAMPLERS[name](train_data[EDGE].edge_label_index, num_users,
                          num_items, **kwargs)


def add_augmenter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--augmenter', default='none',
                        choices=['none', 'adar', 'cnsdiff'])
    add_cnsdiff_args(parser)
    parser.add_argument('--adar-weight', type=float, default=0.5,
                        help='lambda of Eq. 12')
    parser.add_argument('--adar-steps', type=int, default=50,
                        help='diffusion steps T')
    parser.add_argument('--adar-strategy', default='adaptive',
                        choices=['adaptive', 'random', 'fixed', 'mixed'])
    parser.add_argument('--adar-schedule', default='linear',
                        choices=['linear', 'cosine', 'sigmoid'])
    parser.add_argument('--adar-omega', type=float, default=1.0)
    parser.add_argument('--adar-k', type=float, default=1.0)
    parser.add_argument('--adar-lr', type=float, default=1e-3)
    parser.add_argument('--adar-score', default='cosine',
                        choices=['cosine', 'dot'],
                        help='positive score p_s of Eq. 11 (dot: as printed; '
                        'cosine: scale-free, the default)')
    parser.add_argument('--adar-clip-x0', type=float, default=5.0,
                        help='clamp of the predicted x_0 in reverse steps '
                        '(<= 0: none, as printed)')


def add_cnsdiff_args(parser: argparse.ArgumentParser) -> None:
    r"""Hyper-parameters of :class:`~adar_pyg.CausalNegativeAugmenter`
    (:obj:`--augmenter cnsdiff`); the defaults are the reference code's."""
    parser.add_argument('--cnsdiff-steps', type=int, default=20,
                        help='diffusion steps T (linear-variance schedule)')
    parser.add_argument('--cnsdiff-start-steps', type=int, nargs='+',
                        default=[10, 14, 18],
                        help='start steps of the hardness levels')
    parser.add_argument('--cnsdiff-hidden', type=int, default=64,
                        help='hidden size of the denoiser MLP')
    parser.add_argument('--cnsdiff-cl-weight', type=float, default=0.3)
    parser.add_argument('--cnsdiff-temperature', type=float, default=2.0,
                        help='temperature of the contrastive loss')
    parser.add_argument('--cnsdiff-causal-weight', type=float, default=0.1,
                        help='weight of the KL term of the diffusion loss')
    parser.add_argument('--cnsdiff-diff-weight', type=float, default=1e-6,
                        help="weight of the diffusion loss in the encoder's "
                        'loss')
    parser.add_argument('--cnsdiff-lr', type=float, default=1e-3,
                        help="learning rate of the denoiser's Adam")
    parser.add_argument('--cnsdiff-curriculum-epochs', type=int, default=None,
                        help='epochs of the easy-to-hard curriculum '
                        '(default: --epochs)')
    parser.add_argument('--cnsdiff-frozen-denoiser', action='store_true',
                        help='never train the denoiser (as the reference '
                        'code, whose optimiser is never stepped): ablation')


def build_cnsdiff(args: argparse.Namespace, embedding_dim: int):
    r"""The :class:`~adar_pyg.CausalNegativeAugmenter` of the
    :obj:`--cnsdiff-*` flags."""
    from adar_pyg.augment import CausalNegativeAugmenter
    return CausalNegativeAugmenter(
        embedding_dim, num_steps=args.cnsdiff_steps,
        start_steps=args.cnsdiff_start_steps,
        hidden_channels=args.cnsdiff_hidden,
        curriculum_epochs=args.cnsdiff_curriculum_epochs,
        cl_weight=args.cnsdiff_cl_weight,
        cl_temperature=args.cnsdiff_temperature,
        causal_weight=args.cnsdiff_causal_weight,
        diff_weight=args.cnsdiff_diff_weight, lr=args.cnsdiff_lr,
        train_denoiser=not args.cnsdiff_frozen_denoiser)


def cnsdiff_settings(args: argparse.Namespace) -> Dict[str, Any]:
    return {'augmenter': 'cnsdiff', 'num_steps': args.cnsdiff_steps,
            'start_steps': list(args.cnsdiff_start_steps),
            'hidden': args.cnsdiff_hidden,
            'cl_weight': args.cnsdiff_cl_weight,
            'temperature': args.cnsdiff_temperature,
            'causal_weight': args.cnsdiff_causal_weight,
            'diff_weight': args.cnsdiff_diff_weight, 'lr': args.cnsdiff_lr,
            'curriculum_epochs': args.cnsdiff_curriculum_epochs,
            'train_denoiser': not args.cnsdiff_frozen_denoiser}


def setup(args: argparse.Namespace) -> torch.device:
    r"""Seeds, threads and the device (with a clear error for a missing GPU)."""
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda was asked for but CUDA is not '
                         'available; use --device cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


def load_dataset(name: str, root: str, mirror: Optional[str] = None):
    r"""The dataset :obj:`name` (of :obj:`DATASETS` or :obj:`OOD_DATASETS`)
    under :obj:`root/<name>`, from :obj:`mirror` (default:
    :func:`adar_pyg.datasets.default_mirror`) or its canonical URL."""
    registry = {**DATASETS, **OOD_DATASETS}
    if name not in registry:
        raise ValueError(f"unknown dataset '{name}' (choose from "
                         f"{sorted(registry)})")
    mirror = mirror or default_mirror()
    return registry[name](os.path.join(root, name), mirror=mirror)


def load_cf_splits(args: argparse.Namespace) -> Tuple[Any, Any, Any, Dict]:
    r"""Loads :obj:`args.dataset` and applies the per-user random split."""
    dataset = load_dataset(args.dataset, args.data_root, args.mirror)
    data = dataset[0]
    seed = args.seed if args.split_seed is None else args.split_seed
    split = PerUserRandomSplit(test_ratio=args.test_ratio,
                               val_ratio=args.val_ratio, seed=seed)
    train, val, test = split(data)
    stats = {
        'dataset': args.dataset,
        'users': int(data['user'].num_nodes),
        'items': int(data['item'].num_nodes),
        'interactions': int(data[EDGE].edge_index.size(1)),
        'train': int(train[EDGE].edge_label_index.size(1)),
        'val': int(val[EDGE].edge_label_index.size(1)),
        'test': int(test[EDGE].edge_label_index.size(1)),
        'split': repr(split),
    }
    return train, val, test, stats


def load_ood_splits(
        args: argparse.Namespace) -> Tuple[Any, Any, Any, Dict, Dict]:
    r"""Loads the published splits of the OOD dataset :obj:`args.dataset`
    (see :obj:`OOD_DATASETS`): returns the training, IID validation and IID
    test splits and the statistics, as :func:`load_cf_splits` does, and the
    further test splits :obj:`{'test_ood': ...}` for :func:`run_cf`'s
    :obj:`extra_tests`."""
    if args.dataset not in OOD_DATASETS:
        raise ValueError(f"unknown OOD dataset '{args.dataset}' (choose from "
                         f"{sorted(OOD_DATASETS)})")
    dataset = load_dataset(args.dataset, args.data_root, args.mirror)
    views = dataset.splits()
    sizes = {key: int(data[EDGE].edge_label_index.size(1))
             for key, data in views.items()}
    stats = {
        'dataset': args.dataset,
        'users': int(views['train']['user'].num_nodes),
        'items': int(views['train']['item'].num_nodes),
        'interactions': sum(sizes.values()),
        **sizes,
        'split': f'published ({dataset.__class__.__name__}: train, IID '
        f'validation and test, OOD test with a {dataset.shift} shift)',
        'skipped_lines': list(dataset[0].skipped_lines),
    }
    return (views['train'], views['val'], views['test'], stats,
            {'test_ood': views['test_ood']})


def build_augmenter(args: argparse.Namespace, embedding_dim: int):
    r"""The augmenter asked for by :obj:`--augmenter` (or :obj:`None`)."""
    if args.augmenter == 'none':
        return None
    if args.augmenter == 'cnsdiff':
        return build_cnsdiff(args, embedding_dim)
    from adar_pyg.augment import NegativeAugmenter
    return NegativeAugmenter(embedding_dim, num_steps=args.adar_steps,
                             weight=args.adar_weight,
                             strategy=args.adar_strategy,
                             omega=args.adar_omega, k=args.adar_k,
                             schedule=args.adar_schedule, lr=args.adar_lr,
                             score=args.adar_score,
                             clip_x0=(args.adar_clip_x0
                                      if args.adar_clip_x0 > 0 else None))


def augmenter_settings(args: argparse.Namespace) -> Dict[str, Any]:
    if args.augmenter == 'none':
        return {'augmenter': 'none'}
    if args.augmenter == 'cnsdiff':
        return cnsdiff_settings(args)
    return {'augmenter': args.augmenter, 'weight': args.adar_weight,
            'num_steps': args.adar_steps, 'strategy': args.adar_strategy,
            'schedule': args.adar_schedule, 'omega': args.adar_omega,
            'k': args.adar_k, 'lr': args.adar_lr, 'score': args.adar_score,
            'clip_x0': args.adar_clip_x0}


def run_cf(args: argparse.Namespace, model_factory,
           splits: Optional[Tuple[Any, Any, Any, Dict]] = None,
           extra_tests: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    r"""Loads data (or takes :obj:`splits`, a :obj:`(train, val, test,
    statistics)` tuple as returned by :func:`load_cf_splits`), builds
    :obj:`model_factory(num_users, num_items, args)`, trains with
    :class:`~adar_pyg.train.Trainer` and returns a JSON-able dict with the
    statistics, the test metrics of the selected epoch and timings, and
    the metrics of each further test split of :obj:`extra_tests` (by name,
    *e.g.*, :obj:`'test_ood'` of :func:`load_ood_splits`) at the same
    epoch."""
    from adar_pyg.train import CFTask
    device = setup(args)
    t0 = time.perf_counter()
    train, val, test, stats = splits or load_cf_splits(args)
    load_seconds = time.perf_counter() - t0
    model = model_factory(stats['users'], stats['items'], args)
    sampler = build_sampler(args, train, stats['users'], stats['items'])
    task = CFTask(model, train, val, test, sampler=sampler,
                  batch_size=args.batch_size, device=device,
                  extra_test_data=extra_tests)
    # the augmenter works on the final representations (NGCF: F * (L + 1))
    augmenter = build_augmenter(
        args, getattr(model, 'out_channels', model.embedding_dim))
    return fit_and_report(args, task, augmenter, model, stats, load_seconds,
                          device)


def fit_and_report(args: argparse.Namespace, task, augmenter, model,
                   stats: Dict[str, Any], load_seconds: float,
                   device: torch.device, protocol_note: str = '',
                   **extra: Any) -> Dict[str, Any]:
    r"""Trains :obj:`task` with :class:`~adar_pyg.train.Trainer` (flags of
    :obj:`args`) and returns the JSON-able report shared by every script."""
    from adar_pyg.train import Trainer
    trainer = Trainer(task, augmenter, lr=args.lr, l2=args.l2,
                      epochs=args.epochs, eval_every=args.eval_every,
                      patience=args.patience, select_on=args.select_on,
                      seed=args.seed, progress=not args.no_progress,
                      checkpoint=args.checkpoint)
    result = trainer.fit()  # The model now holds the selected epoch's state.
    extra_tests = {name: task.evaluate(name)
                   for name in getattr(task, 'extra_test_splits', [])}
    protocol = ('validation-selected' if result.selected_on == 'val' else
                'test-selected (optimistic: epoch chosen on the test set)')
    return {
        'statistics': stats,
        'model': repr(model),
        'sampler': repr(task.sampler),
        **augmenter_settings(args),
        'protocol': protocol + protocol_note,
        'test': result.test,
        **extra_tests,
        'val': result.val,
        'best_epoch': result.best_epoch,
        'epochs_run': result.epochs_run,
        'stopped_early': result.stopped_early,
        'seconds_per_epoch': result.seconds_per_epoch,
        'seconds_per_eval': result.seconds_per_eval,
        'seconds_load': load_seconds,
        **extra,
        'seed': args.seed,
        'device': str(device),
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'host': platform.node(),
        'history': result.history,
        'args': vars(args),
    }


def print_summary(out: Dict[str, Any], data_line: str) -> None:
    r"""The closing lines of an example: data, model, protocol, test metrics,
    timings."""
    print(data_line)
    print(f"{out['model']} + {out['augmenter']}, {out['protocol']}, "
          f"best epoch {out['best_epoch']} of {out['epochs_run']}")
    print('test: ' + ', '.join(f'{k} {v:.4f}' for k, v in out['test'].items()))
    print(f"{out['seconds_per_epoch']:.2f} s/epoch, "
          f"{out['seconds_per_eval']:.2f} s/evaluation")


def write_json(obj: Any, path: Optional[str]) -> None:
    r"""Writes :obj:`obj` as indented JSON to :obj:`path` (atomically)."""
    if not path:
        return
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
