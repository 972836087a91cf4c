r"""One run from a :class:`~adar_pyg.config.Config` to a run directory — the
API behind :obj:`adar-pyg train / evaluate / recommend` and the benchmarks.

A run directory holds (paths inside are relative to it):

* :obj:`config.yaml` — the fully resolved config; :obj:`adar-pyg train
  --config RUN_DIR/config.yaml --out OTHER` reproduces the run;
* :obj:`metrics.jsonl` — one JSON object per evaluation (epoch, mean loss,
  seconds, validation metrics, augmenter diagnostics), written as it comes;
* :obj:`result.json` — statistics, the test metrics of the selected epoch,
  the selected epoch, timings and the history;
* :obj:`curves.png` — loss and validation Recall/NDCG over epochs (and the
  augmenter's diagnostics);
* :obj:`checkpoints/best.pt` — the selected epoch's weights;
* :obj:`checkpoints/last.pt` — the full state of the run at its latest
  evaluation (weights, optimisers, random states, early stopping, history),
  written atomically at every evaluation: :func:`resume` (:obj:`adar-pyg
  resume RUN_DIR`) continues an interrupted run from it, with the same
  :obj:`metrics.jsonl` and :obj:`result.json` as the uninterrupted run
  (bit for bit on CPU, timings aside); the epochs since the last
  evaluation are run again;
* :obj:`ids.json` — the original user and item ids of your own data;
* :obj:`fingerprint.json` — what the run was trained on (digests of the
  data, the split, the ids and the settings, the package version; also
  stored in each checkpoint): :func:`evaluate`, :func:`recommend` and
  :func:`resume` check it first and refuse a run whose inputs changed,
  naming what changed (see :mod:`adar_pyg.fingerprint`);
* :obj:`.lock` — locked by the one process writing the run (:func:`train`,
  :func:`resume`) and shared by its readers: a second writer fails at once
  (see :mod:`adar_pyg.rundir`).

.. code-block:: python

    from adar_pyg.config import Config
    from adar_pyg import run

    cfg = Config.build({'data': {'data': 'my.csv'},
                        'train': {'augmenter': 'adar', 'epochs': 20}})
    result = run.train(cfg, out='runs/my-first')
    print(result['test'], run.recommend('runs/my-first', user='alice'))
"""
import datetime
import json
import os
import platform
import shlex
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from adar_pyg import defaults, fingerprint, rundir
from adar_pyg.config import Config
from adar_pyg.config.config import ignored_settings
from adar_pyg.errors import AdarError, DataError, RunDirError, UsageError
from adar_pyg.io import (DISK_FULL, atomic_path, disk_full_error,
                         ensure_writable, remove_stale_parts)
from adar_pyg.pipeline import (RunData, augmented_dim,
                               build_augmenter, build_task, build_trainer,
                               check_data, check_parallel, load_data,
                               setup, threads_of)
from adar_pyg.rundir import (CHECKPOINT, CONFIG, CURVES, IDS, LAST,  # noqa
                             METRICS, RESULT)
from adar_pyg.train import check_fits, load_checkpoint


def default_out(cfg: Config, root: str = 'runs') -> str:
    r""":obj:`runs/<dataset>-<model>[-<augmenter>]-<timestamp>`."""
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    aug = cfg.train.augmenter
    parts = [cfg.dataset_name(), cfg.model.model] + (
        [aug] if aug != 'none' else []) + [stamp]
    return os.path.join(root, '-'.join(parts))


def cpu_info() -> Dict[str, str]:
    r"""The processor a run ran on: its model name and the vector
    instruction set torch dispatches to (e.g. :obj:`'AVX512'`). Dense
    products (NGCF's layers, the diffusion MLP) may round differently on
    another instruction set, so a re-run is bit-identical only where these
    match."""
    model = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f
                          if line.startswith('model name')), model)
    except OSError:
        pass
    return {'model': model,
            'capability': torch.backends.cpu.get_cpu_capability()}


def write_json(obj: Any, path: Optional[str]) -> None:
    r"""Writes :obj:`obj` as indented JSON to :obj:`path` (atomically)."""
    if not path:
        return
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def check_output_file(path: str, cfg: Config, out: Optional[str]) -> None:
    r"""Refuses (:class:`~adar_pyg.errors.UsageError`) an extra output file
    of a run (:obj:`--json`, :obj:`--checkpoint`) that would replace its
    data file, a file of another run directory, or something that is not a
    regular file (a link, a pipe, a device)."""
    real = os.path.realpath(path)
    if os.path.lexists(path) and (os.path.islink(path) or
                                  not os.path.isfile(path)):
        raise UsageError(f"'{path}' exists and is not a regular file: "
                         f"refusing to replace it", hint='pass a new path')
    if cfg.data.data and real == os.path.realpath(cfg.data.data):
        raise UsageError(f"'{path}' is the data file of this run: refusing "
                         f"to replace it", hint='pass another path')
    own = out and real.startswith(os.path.realpath(out) + os.sep)
    name = own and os.path.relpath(real, os.path.realpath(out))
    if name and (name in rundir.RUN_FILES or name == rundir.LOCK or
                 name.split(os.sep)[0] == rundir.CHECKPOINTS):
        raise UsageError(f"'{path}' is the run's own {name}: refusing to "
                         f"replace it", hint='pass another name, or a path '
                         'outside the run directory')
    folder = None if own else rundir.enclosing_run(os.path.dirname(real))
    if folder is not None:
        raise UsageError(f"'{path}' lies in the run directory '{folder}': "
                         f"refusing to write into another run",
                         hint='pass a path outside it')


def prepare_out(out: str, overwrite: bool = False) -> None:
    r"""Checks that :obj:`out` can become a run directory and locks it for
    the calling :func:`train` (see :func:`adar_pyg.rundir.claim`): it must
    not hold a run already (unless :obj:`overwrite`) nor files that are not
    a run's, and must be writable. The old run's files are removed only
    when the new run writes its first file."""
    rundir.claim(out, overwrite)


def prepare_resume(out: str, lock: bool = True
                   ) -> Optional[Dict[str, Any]]:
    r"""Locks :obj:`out` for the calling :func:`train`, checks that it is an
    unfinished run directory, removes the temporary files its killed writers
    left, and returns the full state of :obj:`checkpoints/last.pt`
    (:obj:`None` if the run was interrupted before its first evaluation: it
    then starts afresh), checked to be this run's. Ranks other than 0 of a
    process group read it without the lock (:obj:`lock=False`)."""
    rundir.require(out)
    if not os.path.exists(os.path.join(out, CONFIG)):
        raise RunDirError(f"'{out}' is not a run directory (no {CONFIG})")
    if lock:
        rundir.hold(out)
    recorded = fingerprint.load(out)
    if rundir.is_finished(out):
        try:
            done = rundir.read_result(out)
            how = (f" ({done['epochs_run']} epochs, best epoch "
                   f"{done['best_epoch']})")
        except (RunDirError, KeyError):
            how = ''
        raise RunDirError(
            f"run '{out}' is finished{how}: nothing to resume",
            hint=f'its result is in {os.path.join(out, RESULT)}; re-score it '
            f'with adar-pyg evaluate {shlex.quote(out)}, or train again '
            f'with --overwrite')
    ensure_writable(out, is_dir=True)
    for folder in (out, os.path.dirname(os.path.join(out, LAST))):
        remove_stale_parts(folder)
    path = os.path.join(out, LAST)
    if not os.path.exists(path):
        return None
    state = load_checkpoint(path)  # A damaged one: CorruptFileError.
    fingerprint.check_checkpoint(out, LAST, state, recorded)
    return state


@rundir.guarded
def train(cfg: Config, out: Optional[str] = None, *,
          json_path: Optional[str] = None, checkpoint: Optional[str] = None,
          progress: bool = True, overwrite: bool = False,
          data: Optional[RunData] = None,
          model_factory: Optional[Callable[..., torch.nn.Module]] = None,
          log: Optional[Callable[[str], None]] = None,
          args: Optional[Dict[str, Any]] = None,
          plot: bool = True, resume: bool = False,
          save_last: bool = True,
          on_evaluate: Optional[Callable[[Dict[str, Any]], None]] = None,
          test: bool = True) -> Dict[str, Any]:
    r"""Trains the run of :obj:`cfg` and returns its JSON-able result.

    Args:
        cfg (Config): The run's settings.
        out (str, optional): Run directory to write (see the module doc);
            nothing is written there if :obj:`None`. (default: :obj:`None`)
        json_path (str, optional): Also write the result here.
        checkpoint (str, optional): Also write the best state here.
        progress (bool, optional): tqdm bars. (default: :obj:`True`)
        overwrite (bool, optional): Replace an existing run directory.
        data (RunData, optional): Data loaded already (shared between runs).
        model_factory (callable, optional): :obj:`(cfg, num_users,
            num_items) -> model` instead of the configured backbone.
        args (dict, optional): Deprecated and ignored (with a warning): the
            result records the settings under :obj:`'settings'`, by the
            config's names (see :func:`~adar_pyg.config.recorded_settings`).
        plot (bool, optional): Draw :obj:`curves.png`. (default: :obj:`True`)
        resume (bool, optional): Continue the interrupted run in :obj:`out`
            from its :obj:`checkpoints/last.pt` (see :func:`resume`).
            (default: :obj:`False`)
        save_last (bool, optional): Write :obj:`checkpoints/last.pt` at
            every evaluation (needed to resume). (default: :obj:`True`)
        on_evaluate (callable, optional): Receives the record of each
            evaluation (as written to :obj:`metrics.jsonl`); an exception
            it raises stops the run (*e.g.* a pruned trial of
            :mod:`adar_pyg.tune`). On resume it first receives the records
            of the evaluations before the checkpoint. Not with
            :obj:`run.nproc > 1`. (default: :obj:`None`)
        test (bool, optional): Score the selected epoch on the test split;
            with :obj:`False` the test split is never read and the result
            has no :obj:`'test'` (tuning on validation). (default:
            :obj:`True`)

    The run directory is locked while the run writes it; everything is
    checked (the run directory, on resume the fingerprint of the inputs and
    the fit of :obj:`checkpoints/last.pt`) before anything is written there.
    """
    if args is not None:
        import warnings
        warnings.warn("train(args=...) is deprecated and ignored: the result "
                      "records every setting under 'settings'",
                      DeprecationWarning, stacklevel=3)
    cfg = cfg.resolved()
    if data is None:
        check_data(cfg)  # A missing file or dataset fails before any output.
    check_parallel(cfg)
    rank, world_size = _join_launcher(cfg)
    # Every output location is checked before any data are loaded:
    state = None
    if resume:
        if not out:
            raise UsageError('resuming needs the run directory')
        state = prepare_resume(out, lock=rank == 0)
    elif out and rank == 0:
        prepare_out(out, overwrite)
    if json_path and checkpoint and \
            os.path.realpath(json_path) == os.path.realpath(checkpoint):
        raise UsageError(f"--json and --checkpoint name one file "
                         f"'{json_path}': the report would replace the "
                         f"checkpoint", hint='give each its own path')
    for path in (json_path, checkpoint):
        if path and rank == 0:
            check_output_file(path, cfg, out)
            ensure_writable(path)
    if world_size == 1 and cfg.run.nproc > 1:
        if on_evaluate is not None:
            raise UsageError('train(on_evaluate=...) runs in one process '
                             '(got run.nproc > 1)')
        return _launch(cfg, out, dict(
            json_path=json_path, checkpoint=checkpoint, progress=progress,
            overwrite=overwrite, data=data, model_factory=model_factory,
            plot=plot, resume=resume, save_last=save_last,
            test=test))
    if rank > 0:  # Rank 0 alone writes the run directory and logs.
        out = json_path = checkpoint = None
        progress = plot = False
    device = setup(cfg)
    t0 = time.perf_counter()
    data = data or load_data(cfg)
    load_seconds = time.perf_counter() - t0
    task = build_task(cfg, data, device, model_factory)
    model = task.model
    augmenter = build_augmenter(cfg, augmented_dim(task)) \
        if cfg.train.augmenter != 'none' else None

    meta = None
    if out:  # What this run is trained on, checked on resume:
        meta = {'fingerprint': fingerprint.fingerprint(cfg, data)}
        if resume:
            fingerprint.check_inputs(out, fingerprint.load(out), cfg, data)
    ckpt = os.path.join(out, CHECKPOINT) if out else checkpoint
    last = os.path.join(out, LAST) if out and save_last else None
    trainer = build_trainer(cfg, task, augmenter, progress=progress,
                            checkpoint=ckpt, log=log, last_checkpoint=last,
                            meta=meta, on_evaluate=on_evaluate)
    if data.statistics.get('order'):  # Said before the first epoch:
        trainer.log(f"note: sequences in {data.statistics['order']}; name "
                    f"the time column with --time-col")
    if trainer.select_on != cfg.train.select_on and not resume and test:
        literal = (" (split.val_ratio 0: the paper's literal protocol)" if
                   cfg.split.val_ratio == 0 else '')
        trainer.log(f"note: the split holds no validation interactions"
                    f"{literal}: the epoch is selected on test (optimistic), "
                    f"not on train.select_on 'val'")
    used = threads_of(cfg)
    if cfg.run.threads and used < cfg.run.threads:
        trainer.log(f'note: run.threads {cfg.run.threads} exceeds the {used} '
                    f'CPUs of this machine: {used} are used')
    ignored = ignored_settings(cfg.to_dict())
    if ignored and not resume:  # Given, but nothing this run does reads
        trainer.log('note: not read by this run (recorded as given): ' +
                    ', '.join(f'{k} {v}' for k, v in ignored.items()))
    if not test and trainer.select_on != 'val':
        raise UsageError('train(test=False) selects the epoch on the '
                         'validation split, but this run has none (or '
                         "train.select_on is 'test')",
                         hint='set split.val_ratio > 0 and train.select_on '
                         'val')
    if state is not None:  # Before any write: does the state fit the run?
        try:
            trainer.check_state(state, os.path.join(out or '', LAST))
        except ValueError as e:
            if isinstance(e, RunDirError):
                raise
            raise RunDirError(str(e)) from None

    if out:
        if not resume:
            rundir.clear(out)  # The old run's files (--overwrite) go now.
            fingerprint.save(out, meta['fingerprint'])
            cfg.save(os.path.join(out, CONFIG))
        if data.raw_ids is not None:
            write_json(data.raw_ids, os.path.join(out, IDS))
        metrics = os.path.join(out, METRICS)
        # On resume, the records of the checkpoint's evaluations only (those
        # written after it are written again):
        with atomic_path(metrics) as tmp, open(tmp, 'w') as f:
            for record in (state['history'] if state else []):
                f.write(json.dumps(record) + '\n')
        metrics_file = open(metrics, 'a')

        def record_evaluation(record: Dict[str, Any]) -> None:
            try:
                metrics_file.write(json.dumps(record) + '\n')
                metrics_file.flush()
            except OSError as e:
                if e.errno in DISK_FULL:
                    raise disk_full_error(metrics, e) from e
                raise
            if on_evaluate is not None:
                on_evaluate(record)

        trainer.on_evaluate = record_evaluation
    try:
        if on_evaluate is not None and state is not None:
            for record in state['history']:  # The evaluations resumed from.
                on_evaluate(record)
        # The model then holds the selected state:
        result = trainer.fit(resume_from=state, test=test)
    finally:
        if out:
            metrics_file.close()
    extra_tests = {name: task.evaluate(name) for name in (
        task.extra_test_splits if test else [])}
    protocol = ('validation-selected' if result.selected_on == 'val' else
                'test-selected (optimistic: epoch chosen on the test set)')
    if not test:
        protocol += ', test not read'
    if cfg.run.task == 'sr':
        protocol += (', full ranking, history masked' if
                     cfg.train.mask_history else
                     ', full ranking, history not masked')
    report: Dict[str, Any] = {
        'statistics': data.statistics,
        'model': repr(model),
        'sampler': repr(task.sampler),
        'augmenter': cfg.train.augmenter,
        'protocol': protocol,
        **({'test': result.test} if test else {}),
        **extra_tests,
        'val': result.val,
        'best_epoch': result.best_epoch,
        'epochs_run': result.epochs_run,
        'stopped_early': result.stopped_early,
        'seconds_per_epoch': result.seconds_per_epoch,
        'seconds_per_eval': result.seconds_per_eval,
        'seconds_load': load_seconds,
        **({'batches_per_epoch': task.num_batches()}
           if cfg.run.task == 'sr' else {}),
        'seed': cfg.run.seed,
        'nproc': world_size,
        'global_batch_size': cfg.train.batch_size * (
            world_size if cfg.run.parallel == 'data' else 1),
        'device': str(device),
        'torch': str(torch.__version__),
        'threads': torch.get_num_threads(),
        'host': platform.node(),
        'cpu': cpu_info(),
        'history': result.history,
        # Every setting once, by the config's names (as config.yaml):
        'settings': cfg.to_dict(),
    }
    if out:
        if checkpoint and os.path.exists(ckpt):
            import shutil
            with atomic_path(checkpoint) as tmp:
                shutil.copyfile(ckpt, tmp)
        write_json({**report, 'checkpoint': CHECKPOINT,
                    'config': CONFIG}, os.path.join(out, RESULT))
        if plot:
            from adar_pyg.plot import plot_curves
            plot_curves(result.history, os.path.join(out, CURVES),
                        title=f"{data.statistics['dataset']}: "
                        f"{cfg.model.model} + {cfg.train.augmenter}",
                        best_epoch=result.best_epoch)
    write_json(report, json_path)
    return report


def _join_launcher(cfg: Config) -> Tuple[int, int]:
    r"""(rank, world size): of the process group already initialised, or
    of the one :obj:`torchrun` describes in the environment (joined here),
    else (0, 1)."""
    import torch.distributed as dist
    from adar_pyg.train.distributed import world
    if not dist.is_initialized() and int(os.environ.get('WORLD_SIZE',
                                                        '1')) > 1:
        backend = 'nccl' if cfg.device_name() == 'cuda' else 'gloo'
        if backend == 'nccl':
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group(backend, init_method='env://',
                                timeout=datetime.timedelta(
                                    seconds=cfg.run.dist_timeout))
    return world()


def _rank_train(rank: int, world_size: int, cfg: Config, out: Optional[str],
                kwargs: Dict[str, Any]) -> Dict[str, Any]:
    return train(cfg, out, **kwargs)


def _launch(cfg: Config, out: Optional[str],
            kwargs: Dict[str, Any]) -> Dict[str, Any]:
    r""":func:`train` in :obj:`cfg.run.nproc` processes (see
    :func:`adar_pyg.train.distributed.launch`); rank 0's result."""
    from adar_pyg.train.distributed import launch
    nproc, device = cfg.run.nproc, cfg.device_name()
    if device == 'cuda' and nproc > torch.cuda.device_count():
        raise UsageError(f"--nproc {nproc} on CUDA needs {nproc} GPUs (one "
                         f"per process); this machine has "
                         f"{torch.cuda.device_count()}")
    if device == 'cpu' and nproc > (os.cpu_count() or 1):
        raise UsageError(f"--nproc {nproc} exceeds the {os.cpu_count()} CPU "
                         f"cores of this machine")
    try:
        with rundir.lend(out):  # Its lock is this process's, held for them.
            return launch(_rank_train, nproc, args=(cfg, out, kwargs),
                          backend='nccl' if device == 'cuda' else 'gloo',
                          port=cfg.run.port, timeout=cfg.run.dist_timeout)
    except AdarError:  # A rank's, as it said it (message, hint, exit code).
        raise
    except RuntimeError as e:  # Which rank failed, and its error's line:
        first, _, rest = str(e).partition('\n')
        last = [line for line in rest.splitlines() if line.strip()][-1:]
        hint = None
        if out and os.path.isfile(os.path.join(out, rundir.LAST)) and \
                not rundir.is_finished(out):
            hint = (f'continue from its latest evaluation with '
                    f'`adar-pyg resume {shlex.quote(out)}`')
        raise AdarError(' '.join([first] + last), hint=hint) from None


@rundir.guarded
def resume(run_dir: str, *, json_path: Optional[str] = None,
           checkpoint: Optional[str] = None, progress: bool = True,
           log: Optional[Callable[[str], None]] = None,
           plot: bool = True) -> Dict[str, Any]:
    r"""Continues the run directory :obj:`run_dir` of an interrupted
    :func:`train` (killed, out of time, ...) from its latest evaluation
    (:obj:`checkpoints/last.pt`), with its :obj:`config.yaml`:
    :obj:`metrics.jsonl` is cut back to that evaluation and continued, and
    :obj:`result.json`, :obj:`curves.png` and the checkpoints are written
    as by :func:`train`. On CPU the result is bit-identical to the
    uninterrupted run (timings aside).

    Refused (:class:`~adar_pyg.errors.RunDirError`, nothing written) when
    another process writes :obj:`run_dir`, when the run is finished, and
    when its inputs (:obj:`config.yaml`, data, split, ids) or
    :obj:`checkpoints/last.pt` differ from those it was trained with."""
    rundir.require(run_dir)
    if not os.path.exists(os.path.join(run_dir, CONFIG)):
        raise RunDirError(f"'{run_dir}' is not a run directory (no "
                          f"{CONFIG})")
    if int(os.environ.get('RANK', '0')) == 0:  # Rank 0 alone writes.
        rundir.hold(run_dir)
    cfg = fingerprint.load_config(run_dir, fingerprint.load(run_dir))
    return train(cfg, run_dir, json_path=json_path, checkpoint=checkpoint,
                 progress=progress, log=log, plot=plot, resume=True)


def read_run(run_dir: str) -> Tuple[Config, Dict[str, Any]]:
    r"""The config and the result of a finished run directory (the config
    checked against the run's :obj:`fingerprint.json`, if it has one)."""
    rundir.require_finished(run_dir)
    raw = fingerprint.read_run_config(run_dir)
    result = rundir.read_result(run_dir)
    if not os.path.exists(os.path.join(run_dir, fingerprint.FINGERPRINT)):
        with fingerprint.damaged(run_dir):
            return Config.build(raw, where=[os.path.join(run_dir, CONFIG)]), \
                result
    return fingerprint.load_config(run_dir,
                                   fingerprint.load(run_dir)), result


@rundir.guarded
def restore(run_dir: str, data: Optional[RunData] = None):
    r"""The config, data and task of a run directory, with the model holding
    the selected epoch's weights (:obj:`checkpoints/best.pt`). The run's
    inputs are checked first (see :mod:`adar_pyg.fingerprint`): a run whose
    config, data, split or ids changed since training, or one being
    written by another process, raises a
    :class:`~adar_pyg.errors.RunDirError`."""
    rundir.require(run_dir)
    rundir.hold(run_dir, shared=True)  # Until it returns.
    cfg, _ = read_run(run_dir)
    recorded = fingerprint.load(run_dir)
    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise RunDirError(f"'{run_dir}' has no checkpoint ({CHECKPOINT})")
    if cfg.device_name() == 'cuda' and not torch.cuda.is_available():
        raise UsageError(
            f"run '{run_dir}' runs on CUDA (run.device in its {CONFIG}), "
            f"which this machine lacks", hint=f"set 'device: cpu' under "
            f"'run:' in {os.path.join(run_dir, CONFIG)} (the device is not "
            f"part of what the run computes)")
    device = setup(cfg)
    data = data or load_data(cfg)
    fingerprint.check_inputs(run_dir, recorded, cfg, data)
    task = build_task(cfg, data, device)
    state = load_checkpoint(path, map_location=device)
    fingerprint.check_checkpoint(run_dir, CHECKPOINT, state, recorded)
    check_fits(task.model, state.get('model') if isinstance(state, dict)
               else state, f"'{path}'")
    task.model.load_state_dict(state['model'])
    return cfg, data, task


def evaluate(run_dir: str, split: str = defaults.SPLIT) -> Dict[str, float]:
    r"""Re-scores the saved model of :obj:`run_dir` on :obj:`split`
    (:obj:`'test'`, :obj:`'val'` or a further test split such as
    :obj:`'test_ood'`)."""
    _, _, task = restore(run_dir)
    names = ['val', 'test'] + list(task.extra_test_splits)
    if split not in names:
        raise UsageError(f"unknown split '{split}' (choose from "
                         f"{', '.join(names)})")
    if not task.has_split(split) and split in ('val', 'test'):
        raise DataError(f"split '{split}' of this run holds no "
                        f"interactions")
    return task.evaluate(split)


def recommend(run_dir: str, user: Any, k: int = defaults.TOP_K
              ) -> List[Tuple[Any, float]]:
    r"""The top-:obj:`k` items (ids, scores) for :obj:`user`, excluding every
    item the user interacted with. Users and items are named by their original
    ids for your own data, by 0-based indices for a built-in dataset (whose
    files number them already; e.g. Beauty's item index is its file id
    minus 1)."""
    if k < 1:
        raise UsageError(f'--k must be positive (got {k})')
    cfg, data, task = restore(run_dir)
    ids = data.raw_ids
    index = _user_index(user, ids, data.statistics['users'])
    with torch.no_grad():
        if cfg.run.task == 'cf':
            user_emb, item_emb = task.embeddings()
            seen = _seen_cf(data, index)
        else:
            # After the whole history (not the test input, seq[:-1]):
            user_emb, item_emb = task.history_embeddings(
                torch.tensor([index]))
            seen = _seen_sr(data.train, index)
        scores = item_emb @ user_emb[index]
        scores[seen] = -float('inf')
        k = min(k, int(torch.isfinite(scores).sum()))
        top = scores.topk(k)
    names = ids['item'] if ids else list(range(item_emb.size(0)))
    return [(names[i], float(s)) for s, i in zip(top.values.tolist(),
                                                   top.indices.tolist())]


def _user_index(user: Any, ids: Optional[Dict[str, List[Any]]],
                num_users: int) -> int:
    if ids is None:
        try:
            index = int(user)
        except ValueError:
            raise UsageError(f"--user must be a 0-based user index for a "
                             f"built-in dataset (got '{user}')") from None
        if not 0 <= index < num_users:
            raise UsageError(f'--user {index} is out of range (0 to '
                             f'{num_users - 1})')
        return index
    lookup = {str(raw): i for i, raw in enumerate(ids['user'])}
    if str(user) not in lookup:
        raise UsageError(f"unknown user '{user}' (not in this run's data)")
    return lookup[str(user)]


def _seen_cf(data: RunData, index: int) -> torch.Tensor:
    edge = ('user', 'rates', 'item')
    items = []
    for part in (data.train, data.val, data.test,
                 *data.extra_tests.values()):
        if part is None:
            continue
        src, dst = part[edge].edge_label_index
        items.append(dst[src == index])
    return torch.cat(items).unique()


def _seen_sr(split, index: int) -> torch.Tensor:
    edge_index = torch.cat([split.train_edge_index, split.val_edge_index,
                            split.test_edge_index], dim=1)
    return edge_index[1, edge_index[0] == index].unique()
