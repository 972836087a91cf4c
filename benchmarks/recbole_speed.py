r"""Training-epoch and evaluation speed of RecBole's LightGCN (RecBole 1.2.1)
against ours on Amazon-Beauty, side by side in one run, per thread count.

    python benchmarks/recbole_speed.py --thread-counts 1 2 \
        --out benchmarks/results/recbole_speed

RecBole is not a dependency of adar_pyg: it runs in its own virtual
environment (its pins clash with ours, see benchmarks/README.md), whose
Python is ``--recbole-python``, else ``$RECBOLE_PYTHON``, else
``../recbole-venv/bin/python`` beside the repository. Without it the script
says so and exits 0 (nothing is measured).

Both sides get the *same* training interactions: our per-user random split
of the run (``--dataset``, ``--test-ratio``, ``--val-ratio``, ``--seed``, as
in ``benchmarks/train_speed.py``) is written as RecBole atomic files
(``<name>.train.inter``, ``.valid.inter``, ``.test.inter``, read through
RecBole's ``benchmark_filename``) into a temporary folder, so RecBole splits
nothing. Same batch size, embedding size, layers, learning rate, L2 weight,
one uniform negative per positive, Adam, and the same thread count
(:obj:`torch.set_num_threads` in both processes).

* train: ours is :meth:`adar_pyg.train.Trainer.train_epoch` of a
  :class:`~adar_pyg.train.CFTask` (the product path, as in
  ``train_speed.py``); RecBole's is its ``Trainer._train_epoch`` (its
  dataloader with negative sampling, ``LightGCN.calculate_loss``, Adam).
  After ``--warmup`` untimed epochs each, ``--epochs`` epochs are timed;
  reported: the median.
* eval: full ranking of every test user (training and validation items
  masked, Recall and NDCG@10/20), forward propagation included: ours is
  ``CFTask.evaluate('test')``; RecBole's is ``Trainer.evaluate`` on its
  full-sort test loader, in blocks of the same number of users as ours
  (``--eval-batch-size``, default 2048;
  RecBole's ``eval_batch_size`` = users per block x items) and with its
  cached embeddings cleared before each pass. After one untimed pass,
  ``--repeats`` passes are timed; reported: the fastest.

RecBole's dataset loading and data preparation are timed apart and reported
only for information (``recbole_setup_seconds``). RecBole's quick start
(``run_recbole``) is not used (its ``ray`` import breaks on today's stack):
the worker builds ``Config``, ``create_dataset``, ``data_preparation``,
``LightGCN`` and ``Trainer`` itself, in a temporary working folder (RecBole
writes ``log_tensorboard/`` and ``saved/`` into the working folder).

Cells are kept in ``<out>.json`` (``threads<N>/ours``,
``threads<N>/recbole``; an interrupted run resumes, a cell that is there is
not measured again: delete the file or pick another ``--out`` to measure
afresh) and summarised in ``<out>.md``. The same file is the RecBole worker
(``--worker SPEC.json``, run by the RecBole Python): its module level
imports nothing beyond the standard library.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import (TYPE_CHECKING, Any, Dict, List, Optional, Sequence,
                    Tuple)

if TYPE_CHECKING:  # The module level imports only the standard library.
    from adar_pyg.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The conventional place of the RecBole environment, relative to the
#: repository root (used when neither the flag nor the variable is set).
DEFAULT_RECBOLE_PYTHON = os.path.join('..', 'recbole-venv', 'bin', 'python')
RECBOLE_VERSION = '1.2.1'
#: The name of the dataset in RecBole's data folder.
RECBOLE_DATASET = 'adar'
RESULT = 'RECBOLE_RESULT '


# --- the worker: runs in the RecBole environment -----------------------------

def write_atomic_json(obj: Any, path: str) -> None:
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def time_side(train_epoch, evaluate, sync, warmup: int, epochs: int,
              repeats: int) -> Dict[str, Any]:
    r"""The timings of one side (RecBole's or ours, the same protocol):
    :obj:`train_epoch(epoch)` -> mean loss, timed after :obj:`warmup`
    untimed epochs (the median counts), then :obj:`evaluate()` -> metrics,
    once untimed and :obj:`repeats` times timed (the fastest counts);
    :obj:`sync()` waits for the device. Standard library only (it also runs
    in RecBole's environment)."""
    times: List[float] = []
    losses: List[float] = []
    for epoch in range(warmup + epochs):
        sync()
        t0 = time.perf_counter()
        losses.append(float(train_epoch(epoch)))
        sync()
        if epoch >= warmup:
            times.append(time.perf_counter() - t0)
    metrics = evaluate()  # warm-up
    eval_times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        evaluate()
        sync()
        eval_times.append(time.perf_counter() - t0)
    return {'seconds_per_epoch': statistics.median(times),
            'epoch_seconds': times, 'eval_seconds': min(eval_times),
            'eval_times': eval_times, 'mean_batch_loss': losses,
            'test_metrics': metrics}


def recbole_worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    r"""Times RecBole's LightGCN as :obj:`spec` says (run by the RecBole
    Python, in a scratch working folder)."""
    import torch
    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    threads = spec['threads']
    torch.set_num_threads(threads)
    config_dict = {
        'data_path': spec['data_path'],
        'benchmark_filename': ['train', 'valid', 'test'],
        'field_separator': '\t',
        'USER_ID_FIELD': 'user_id',
        'ITEM_ID_FIELD': 'item_id',
        'load_col': {'inter': ['user_id', 'item_id']},
        'user_inter_num_interval': '[0,inf)',
        'item_inter_num_interval': '[0,inf)',
        'eval_args': {'group_by': 'user', 'order': 'RO', 'mode': 'full'},
        'train_neg_sample_args': {'distribution': 'uniform',
                                  'sample_num': 1},
        'embedding_size': spec['dim'],
        'n_layers': spec['layers'],
        'reg_weight': spec['l2'],
        'require_pow': True,  # the squared L2 norm, as ours
        'learner': 'adam',
        'learning_rate': spec['lr'],
        'weight_decay': 0.0,
        'train_batch_size': spec['batch_size'],
        'epochs': spec['warmup'] + spec['epochs'],
        'metrics': ['Recall', 'NDCG'],
        'topk': [10, 20],
        'valid_metric': 'Recall@20',
        'seed': spec['seed'],
        'reproducibility': True,
        'gpu_id': '0' if spec['device'] == 'cuda' else '',
        'use_gpu': spec['device'] == 'cuda',
        'worker': 0,
        'show_progress': False,
        'checkpoint_dir': os.path.join(os.getcwd(), 'saved'),
        'state': 'WARNING',
    }
    t0 = time.perf_counter()
    config = Config(model='LightGCN', dataset=RECBOLE_DATASET,
                    config_dict=config_dict)
    init_seed(config['seed'], config['reproducibility'])
    torch.set_num_threads(threads)  # Whatever RecBole's set-up did.
    dataset = create_dataset(config)
    # Full-sort test blocks of the same number of users as ours:
    config['eval_batch_size'] = spec['eval_users'] * dataset.item_num
    train_data, _, test_data = data_preparation(config, dataset)
    init_seed(config['seed'], config['reproducibility'])
    model = LightGCN(config, train_data.dataset).to(config['device'])
    trainer = Trainer(config, model)
    setup = time.perf_counter() - t0

    def sync() -> None:
        if config['device'].type == 'cuda':
            torch.cuda.synchronize()

    def evaluate() -> Dict[str, float]:
        model.restore_user_e = model.restore_item_e = None  # no cache
        result = trainer.evaluate(test_data, load_best_model=False,
                                  show_progress=False)
        return {k.lower(): float(v) for k, v in result.items()}

    timings = time_side(
        lambda epoch: trainer._train_epoch(train_data, epoch,
                                           show_progress=False)
        / len(train_data), evaluate, sync, spec['warmup'], spec['epochs'],
        spec['repeats'])
    return {
        **timings,
        'setup_seconds': setup,
        'batches_per_epoch': len(train_data),
        'eval_batches': len(test_data),
        'users': int(dataset.user_num) - 1,  # less the padding id 0
        'items': int(dataset.item_num) - 1,
        'train_interactions': len(train_data.dataset),
        'threads': torch.get_num_threads(),
        'device': str(config['device']),
        'torch': torch.__version__,
        'recbole': recbole.__version__,
        'parameters': sum(p.numel() for p in model.parameters()),
    }


def worker_main(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    sys.argv = sys.argv[:1]  # RecBole's Config reads flags from sys.argv.
    write_atomic_json(recbole_worker(spec), spec['out'])


# --- the benchmark: runs in our environment ----------------------------------

def recbole_python(flag: Optional[str]) -> str:
    r"""The RecBole environment's Python: :obj:`flag`, else
    :obj:`$RECBOLE_PYTHON`, else :obj:`DEFAULT_RECBOLE_PYTHON` relative to the
    repository root."""
    return flag or os.environ.get('RECBOLE_PYTHON') or \
        os.path.normpath(os.path.join(ROOT, DEFAULT_RECBOLE_PYTHON))


def probe_recbole(python: str) -> Optional[Dict[str, str]]:
    r"""The versions of RecBole and torch in the environment of
    :obj:`python`, or :obj:`None` (with the reason printed) when there is no
    usable RecBole there."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        print(f"recbole_speed: skipped: no RecBole environment at "
              f"'{python}' (pass --recbole-python or set "
              f"RECBOLE_PYTHON; benchmarks/README.md says how to build it)",
              flush=True)
        return None
    code = ('import json, torch, recbole; print(json.dumps({"recbole": '
            'recbole.__version__, "torch": torch.__version__}))')
    proc = subprocess.run([python, '-c', code], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [''])[-1]
        print(f"recbole_speed: skipped: '{python}' cannot "
              f"import RecBole and torch ({tail})", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_inter_files(data, folder: str) -> Dict[str, int]:
    r"""Our train / validation / test interactions as RecBole atomic files
    :obj:`folder/<RECBOLE_DATASET>/<RECBOLE_DATASET>.{train,valid,test}.inter`
    (tokens: our user and item indices). Returns the rows per file."""
    from adar_pyg.pipeline import EDGE
    out = os.path.join(folder, RECBOLE_DATASET)
    os.makedirs(out, exist_ok=True)
    rows = {}
    for name, split in (('train', data.train), ('valid', data.val),
                        ('test', data.test)):
        pairs = split[EDGE].edge_label_index.t().tolist()
        path = os.path.join(out, f'{RECBOLE_DATASET}.{name}.inter')
        with open(path, 'w') as f:
            f.write('user_id:token\titem_id:token\n')
            f.writelines(f'{u}\t{i}\n' for u, i in pairs)
        rows[name] = len(pairs)
    return rows


def run_recbole(python: str, spec: Dict[str, Any],
                folder: str) -> Dict[str, Any]:
    r"""One RecBole cell: the worker in the RecBole environment, in a scratch
    working folder under :obj:`folder`."""
    work = tempfile.mkdtemp(prefix=f"t{spec['threads']}-", dir=folder)
    spec = {**spec, 'out': os.path.join(work, 'result.json')}
    spec_path = os.path.join(work, 'spec.json')
    write_atomic_json(spec, spec_path)
    threads = str(spec['threads'])
    env = {**os.environ, 'OMP_NUM_THREADS': threads,
           'MKL_NUM_THREADS': threads,
           # RecBole's own checkpoints are not weights-only pickles:
           'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'}
    proc = subprocess.run([python, os.path.abspath(__file__), '--worker',
                           spec_path], cwd=work, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(spec['out']):
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"recbole_speed: the RecBole worker failed "
                         f"(exit {proc.returncode}, {spec['threads']} "
                         f"thread(s)); its output is above")
    with open(spec['out']) as f:
        return json.load(f)


def run_ours(data, spec: Dict[str, Any], threads: int,
             device) -> Dict[str, Any]:
    r"""One cell of ours: LightGCN through the library's CFTask + Trainer
    (as ``benchmarks/train_speed.py``), with the settings of :obj:`spec`,
    the one the RecBole worker gets (:obj:`'seed'`, :obj:`'dim'`,
    :obj:`'layers'`, :obj:`'batch_size'`, :obj:`'eval_users'`,
    :obj:`'l2'`, :obj:`'lr'`, :obj:`'warmup'`, :obj:`'epochs'`,
    :obj:`'repeats'`)."""
    import torch
    from common import sync as sync_device

    from adar_pyg.config import Config
    from adar_pyg.pipeline import build_task, build_trainer

    def sync() -> None:
        sync_device(device)

    torch.set_num_threads(threads)
    seed = spec['seed']
    cfg = Config.build({
        'run': {'seed': seed},
        'model': {'model': 'lightgcn', 'dim': spec['dim'],
                  'layers': spec['layers']},
        'train': {'batch_size': spec['batch_size'],
                  'eval_batch_size': spec['eval_users'], 'lr': spec['lr'],
                  'l2': spec['l2']}})
    torch.manual_seed(seed)
    task = build_task(cfg, data, device)
    model = task.model
    trainer = build_trainer(cfg, task, None, progress=False)
    opt = trainer.make_optimizer()
    timings = time_side(
        lambda epoch: trainer.train_epoch(
            opt, torch.Generator().manual_seed(seed + epoch), epoch),
        lambda: {k: float(v) for k, v in task.evaluate('test').items()},
        sync, spec['warmup'], spec['epochs'], spec['repeats'])
    return {
        **timings,
        'batches_per_epoch': task.num_batches(),
        'eval_users': task.evaluators['test'].num_eval_users,
        'threads': torch.get_num_threads(),
        'device': str(device),
        'torch': torch.__version__,
        'model': repr(model),
        'parameters': sum(p.numel() for p in model.parameters()),
    }


def fmt(x: Optional[float], digits: int = 2) -> str:
    return '—' if x is None else f'{x:.{digits}f}'


def markdown(data: Dict[str, Any], threads: Sequence[int]) -> str:
    from common import command_lines
    meta, cells = data['meta'], data['cells']
    s = meta['settings']
    lines = [
        f"# RecBole {meta.get('recbole', RECBOLE_VERSION)} LightGCN vs ours "
        f"on {s['dataset']}", '',
        command_lines(meta) +
        f"Date: {meta.get('updated', '')}, host {meta.get('host', '')}, "
        f"load average at the start {meta.get('load_start')}  ",
        f"torch {meta.get('torch')} (ours), {meta.get('recbole_torch')} "
        f"(RecBole's environment); device {s['device']}", '',
        f"Same training interactions ({s['train_interactions']:,}, our "
        f"per-user random split, test ratio {s['test_ratio']}, validation "
        f"ratio {s['val_ratio']}, split seed {s['split_seed']}), batch "
        f"{s['batch_size']}, dim {s['dim']}, {s['layers']} layers, lr "
        f"{s['lr']}, L2 {s['l2']}, one uniform negative, Adam. Train: median "
        f"of {s['epochs']} epoch(s) after {s['warmup']} warm-up epoch(s). "
        f"Eval: full ranking of the test users with propagation, blocks of "
        f"{s['eval_users']} users, fastest of {s['repeats']} pass(es) after "
        f"one warm-up pass.", '',
        '| threads | RecBole s/epoch | ours s/epoch | speed-up | RecBole '
        'eval s | ours eval s | eval speed-up | test R@20 after the '
        'epochs (RecBole / ours) |',
        '|---|---|---|---|---|---|---|---|']
    speedups = []
    for n in threads:
        rb, ours = cells.get(f'threads{n}/recbole'), cells.get(
            f'threads{n}/ours')
        if rb is None and ours is None:
            continue
        get = lambda c, k: None if c is None else c[k]  # noqa: E731
        speed = eval_speed = None
        if rb and ours:
            speed = rb['seconds_per_epoch'] / ours['seconds_per_epoch']
            eval_speed = rb['eval_seconds'] / ours['eval_seconds']
            speedups.append(speed)
        r20 = lambda c: fmt(None if c is None else  # noqa: E731
                            100 * c['test_metrics']['recall@20'])
        lines.append(
            f"| {n} | {fmt(get(rb, 'seconds_per_epoch'))} | "
            f"{fmt(get(ours, 'seconds_per_epoch'))} | "
            f"{'—' if speed is None else f'{speed:.1f}x'} | "
            f"{fmt(get(rb, 'eval_seconds'))} | "
            f"{fmt(get(ours, 'eval_seconds'))} | "
            f"{'—' if eval_speed is None else f'{eval_speed:.2f}x'} | "
            f"{r20(rb)} / {r20(ours)} |")
    if speedups:
        met = all(x >= 4 for x in speedups)
        lines += ['', f"Target: ours >= 4x RecBole per epoch at every thread "
                  f"count: **{'met' if met else 'not met'}** (lowest "
                  f"{min(speedups):.1f}x)."]
    setups = [f"{n} thread(s) "
              f"{cells[f'threads{n}/recbole']['setup_seconds']:.1f} s"
              for n in threads if f'threads{n}/recbole' in cells]
    if setups:
        lines += ['', "RecBole's dataset loading and data preparation (not "
                  f"in the table): {', '.join(setups)}."]
    return '\n'.join(lines) + '\n'


def parse_args(argv: Optional[Sequence[str]] = None
               ) -> Tuple[argparse.Namespace, 'Config']:
    r"""The script's own flags and the resolved config of the settings."""
    from adar_pyg.config import (ConfigError, add_config_args,
                                 config_from_args, parse_args as parse_flags)
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        description=' '.join(__doc__.split('\n')[:2]))
    # The settings (--dataset, --batch-size, --dim, --layers, --lr, --l2,
    # --seed, --device, --data-root, --mirror, the split); --epochs: timed
    # epochs. The backbone is LightGCN with the uniform sampler whatever
    # --model and --sampler say.
    add_config_args(parser, config_file=False)
    parser.add_argument('--thread-counts', type=int, nargs='+', default=[1, 2],
                        dest='thread_counts',
                        help='torch CPU thread counts, one pair of cells each '
                        '(default: 1 2)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed epochs of each side first (default 1)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='timed evaluation passes (the fastest counts)')
    parser.add_argument('--recbole-python', default=None, metavar='PATH',
                        help="the RecBole environment's Python (default: "
                        "$RECBOLE_PYTHON, else "
                        f"{DEFAULT_RECBOLE_PYTHON} from the repository "
                        'root)')
    parser.add_argument('--out', default='benchmarks/results/recbole_speed',
                        help='writes <out>.json and <out>.md')
    parser.add_argument('--keep-data', default=None, metavar='DIR',
                        help='write the atomic files and scratch folders '
                        'here and keep them (default: a temporary folder, '
                        'removed)')
    parser.set_defaults(epochs=3)
    args = parse_flags(parser, argv)
    try:
        cfg = config_from_args(args).resolved()
    except ConfigError as e:
        parser.error(str(e))
    if cfg.train.epochs < 1 or args.warmup < 0 or args.repeats < 1 or \
            min(args.thread_counts) < 1:
        parser.error('need --epochs >= 1, --warmup >= 0, --repeats >= 1 '
                     'and thread counts >= 1')
    return args, cfg


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['--worker']:
        worker_main(argv[1])
        return
    args, cfg = parse_args(argv)
    python = recbole_python(args.recbole_python)
    versions = probe_recbole(python)
    if versions is None:
        return
    if versions['recbole'] != RECBOLE_VERSION:
        print(f"recbole_speed: note: RecBole {versions['recbole']} found, "
              f"the benchmark is written for {RECBOLE_VERSION}", flush=True)

    import torch

    from common import ResultStore
    from adar_pyg.pipeline import load_cf_data, setup
    device = setup(cfg)
    data = load_cf_data(cfg)
    stats = data.statistics
    train, model = cfg.train, cfg.model
    settings = {
        'dataset': stats['dataset'], 'users': stats['users'],
        'items': stats['items'], 'train_interactions': stats['train'],
        'test_ratio': cfg.split.test_ratio, 'val_ratio': cfg.split.val_ratio,
        'split_seed': cfg.split.split_seed, 'batch_size': train.batch_size,
        'dim': model.dim, 'layers': model.layers, 'lr': train.lr,
        'l2': train.l2, 'seed': cfg.run.seed, 'epochs': train.epochs,
        'warmup': args.warmup, 'repeats': args.repeats,
        'eval_users': train.eval_batch_size, 'device': str(device),
    }
    path = f'{args.out}.json'
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f).get('meta', {}).get('settings')
        if old is not None and old != settings:
            changed = sorted(k for k in settings if old.get(k) !=
                             settings[k])
            raise SystemExit(f"recbole_speed: '{path}' holds cells measured "
                             f"with other settings ({', '.join(changed)}); "
                             f"pass another --out or delete it")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    store = ResultStore(path, meta={
        'settings': settings,
        'updated': datetime.datetime.now().isoformat(timespec='seconds'),
        'host': platform.node(),
        'load_start': [round(x, 2) for x in os.getloadavg()],
        'torch': torch.__version__,
        'recbole': versions['recbole'],
        'recbole_torch': versions['torch'],
        'statistics': stats,
    })
    print(f"{stats['dataset']}: {stats['users']} users, {stats['items']} "
          f"items, {stats['train']} training pairs, batch "
          f"{train.batch_size}, dim {model.dim}, {model.layers} layers, "
          f"device {device}; RecBole "
          f"{versions['recbole']} at {python}", flush=True)

    folder = args.keep_data or tempfile.mkdtemp(prefix='adar-recbole-')
    try:
        rows = write_inter_files(data, folder)
        spec = {'data_path': os.path.abspath(folder), 'dim': model.dim,
                'layers': model.layers, 'l2': train.l2, 'lr': train.lr,
                'batch_size': train.batch_size, 'epochs': train.epochs,
                'warmup': args.warmup, 'repeats': args.repeats,
                'eval_users': train.eval_batch_size, 'seed': cfg.run.seed,
                'device': device.type}
        for n in args.thread_counts:
            ours = store.get_or_run(
                f'threads{n}/ours',
                lambda: run_ours(data, spec, n, device))  # noqa: B023
            rb = store.get_or_run(
                f'threads{n}/recbole',
                lambda: run_recbole(python, {**spec, 'threads': n},  # noqa
                                    folder))
            if rb['train_interactions'] != rows['train']:
                raise SystemExit(
                    f"recbole_speed: RecBole trained on "
                    f"{rb['train_interactions']} interactions, ours on "
                    f"{rows['train']}")
            print(f"{n} thread(s): RecBole {rb['seconds_per_epoch']:6.2f} "
                  f"s/epoch, eval {rb['eval_seconds']:5.2f} s | ours "
                  f"{ours['seconds_per_epoch']:6.2f} s/epoch, eval "
                  f"{ours['eval_seconds']:5.2f} s | "
                  f"{rb['seconds_per_epoch'] / ours['seconds_per_epoch']:.1f}"
                  f"x per epoch, "
                  f"{rb['eval_seconds'] / ours['eval_seconds']:.2f}x eval",
                  flush=True)
    finally:
        if args.keep_data is None:
            shutil.rmtree(folder, ignore_errors=True)
    store.data['meta']['load_end'] = [round(x, 2) for x in os.getloadavg()]
    store.save()
    text = markdown(store.data, args.thread_counts)
    from adar_pyg.io import atomic_path
    with atomic_path(f'{args.out}.md') as tmp, open(tmp, 'w') as f:
        f.write(text)
    print('\n' + text)


if __name__ == '__main__':
    main()
