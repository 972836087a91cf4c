r"""A hyper-parameter study on `Optuna <https://optuna.org>`_: every trial is
an ordinary run directory trained by :func:`adar_pyg.run.train`, scored on
the validation split only.

A study folder :obj:`OUT` holds:

* :obj:`study.db` — the Optuna storage (SQLite; any RDB URL with
  :obj:`storage`): :func:`tune` on the same folder continues the study, and
  :obj:`optuna-dashboard sqlite:///OUT/study.db` browses it;
* :obj:`trial-<number>/` — the run directory of each trial (config,
  :obj:`metrics.jsonl`, curves, checkpoints; see :mod:`adar_pyg.run`),
  without any test metric;
* :obj:`tune.md` and :obj:`tune.json` — the best parameters and value and
  every trial, rewritten (atomically) after each trial and when
  :func:`tune` returns.

**Protocol.** The objective is the best validation value of
:obj:`train.monitor` (*e.g.* :obj:`recall@20`) over the trial's
evaluations; the test split is never read (:obj:`run.train(test=False)`):
score the chosen configuration on test once, afterwards. Each evaluation
reports the validation value to the pruner, which stops trials that fall
behind (:class:`optuna.pruners.MedianPruner` by default). The sampler is
seeded: :class:`optuna.samplers.TPESampler`, or
:class:`optuna.samplers.GridSampler` when every parameter is a
:obj:`choices`.

**Interruptions.** A study killed at any point loses no finished trial:
:func:`tune` again marks the trials its dead process left running (their
run directory unfinished and unlocked, or missing or finished but not
recorded for a minute) as failed, with the user attribute :obj:`killed`,
and queues each again with its values. The retry continues the killed
trial's run from its last evaluation: its run directory moves to the
retry's folder (user attribute :obj:`continues`), the pruner receives the
evaluations before the checkpoint again (without judging those the killed
trial passed), and a run that cannot be continued (its checks fail: its
checkpoint is damaged, say) is trained afresh, with a log line. A trial
stopped by Ctrl-C, or by an error that is not of its values (a full disk,
a bug: the study stops with it, its one line recorded as the trial's
:obj:`error`), is marked and queued again the same way. (Changed data
stop the study before any trial: it continues only on its data.)

**Workers.** :obj:`tune(..., workers=N)` runs the trials in this process
and :obj:`N - 1` spawned ones on the same storage, each trial in one of
them (recorded as the trial's :obj:`worker`). The trials are not dealt out
in advance: a process that finishes a trial starts the next one while the
study holds fewer than :obj:`trials` finished or running ones, so a process
whose trials were pruned early takes more of them instead of waiting for
the others. Two processes that start a trial at the same moment for the
last place are resolved by trial number: the later one is marked failed
with the user attribute :obj:`surplus` (not counted, nothing trained)."""
import json
import logging
import math
import os
import re
import time
from typing import Any, Callable, Dict, List, Optional, Union

from adar_pyg import defaults
from adar_pyg.config import Config, ConfigError
from adar_pyg.errors import DivergedError, UsageError
from adar_pyg.fingerprint import computed, data_digest
from adar_pyg.io import ensure_writable, write_text
from adar_pyg.tune.space import SearchSpace, load_space, parse_space

#: Files of a study folder.
STORAGE_FILE, REPORT_MD, REPORT_JSON = 'study.db', 'tune.md', 'tune.json'

#: User attribute of a trial whose process was killed (run again).
KILLED = 'killed'
#: Seconds after which a running trial without a run directory, or with a
#: finished one, is taken for the trial of a killed process.
STALE_SECONDS = 60.0
#: User attribute of a trial started beyond the budget by a worker that
#: raced another for the last trial (never trained, not counted).
SURPLUS = 'surplus'
#: The states (:func:`_state`) of the trials that count against a study's
#: budget: complete, pruned, and failed (a diverged run).
BUDGET = ('complete', 'pruned', 'fail')

#: User attribute of the retry of a killed trial that continues the killed
#: trial's run directory (moved to the retry's folder) from its checkpoint.
CONTINUES = 'continues'

#: User attribute of a retry that could not continue the killed trial's
#: run (why): it trained afresh.
AFRESH = 'afresh'

#: What :obj:`prune` may name; the first is that of :obj:`prune=True`.
PRUNERS = ('median', 'halving')


def import_optuna():
    r"""The :mod:`optuna` module, or a :class:`UsageError` saying how to
    install it."""
    try:
        import optuna
    except ImportError:
        raise UsageError('adar_pyg.tune needs Optuna, which is not '
                         'installed',
                         hint="pip install -e '.[tune]' (from the checkout)"
                         ) from None
    return optuna


def storage_url(out: str) -> str:
    r"""The default storage of the study in :obj:`out`: its SQLite
    :obj:`study.db`."""
    return f'sqlite:///{os.path.abspath(out)}/{STORAGE_FILE}'


def trial_dir(out: str, number: int) -> str:
    r"""The run directory of trial :obj:`number` of the study in
    :obj:`out`."""
    return os.path.join(out, f'trial-{number}')


def tune(config: Config, space: Union[SearchSpace, Dict[str, Any], str,
                                      os.PathLike],
         trials: int, out: Union[str, os.PathLike], *,
         seed: Optional[int] = None, prune: Union[bool, str, Any] = True,
         storage: Optional[str] = None, progress: bool = False,
         log: Optional[Callable[[str], None]] = None, plot: bool = True,
         on_trial: Optional[Callable[[Dict[str, Any]], None]] = None,
         workers: int = defaults.WORKERS,
         notes: Optional[Callable[[str], None]] = None):
    r"""Runs (or continues) the study of :obj:`space` on :obj:`config` in the
    folder :obj:`out` until it holds :obj:`trials` finished trials, and
    returns the :class:`optuna.study.Study`.

    Args:
        config (Config): The base config of every trial (the space's values
            override it). It must select on a validation split
            (:obj:`train.select_on: val`, and :obj:`split.val_ratio > 0` for
            CF) and run in one process.
        space (SearchSpace, dict or str): The search space, or its YAML
            file (see :mod:`adar_pyg.tune.space`).
        trials (int): The study's budget: the number of finished trials
            (complete, pruned or failed) it should hold. Calling again with
            a larger number continues the study; a finished trial is never
            run again.
        out (str): The study folder (see the module doc).
        seed (int, optional): Seed of the sampler (default:
            :obj:`config.run.seed`, which also seeds every trial). Each
            trial's values depend on :obj:`seed`, the trial's rank (the
            trials before it, the retries of killed trials aside) and the
            trials finished before it, not on the process (see
            :func:`_sampler`): a study continued after a stop or a kill, or
            with a larger budget, draws the values of the uninterrupted one
            (in one process; a grid runs each point once: a budget beyond
            the grid ends with it).
        prune (bool, str or optuna pruner, optional): :obj:`True` or
            :obj:`'median'` (:class:`~optuna.pruners.MedianPruner`),
            :obj:`'halving'` (:class:`~optuna.pruners.
            SuccessiveHalvingPruner`), :obj:`False` (no pruning), or a pruner.
            A study continues only with the pruner it began with (a
            pruner object: of the same class). (default: :obj:`True`)
        storage (str, optional): An RDB URL (default:
            :obj:`sqlite:///OUT/study.db`).
        progress (bool, optional): tqdm bars of each trial.
            (default: :obj:`False`)
        log (callable, optional): Receives the trials' log lines (and the
            study's notes, without :obj:`notes`).
        plot (bool, optional): Draw each trial's :obj:`curves.png`.
        on_trial (callable, optional): Receives the row of each trial that
            finishes (as in :obj:`tune.json`), *e.g.* to print one line per
            trial (see :func:`trial_line`).
        workers (int, optional): Processes that share the study's trials
            on its storage: this one and :obj:`workers - 1` spawned
            processes, each starting a trial whenever it is free and the
            budget is not taken (each trial is run once, by one of them).
            :obj:`log` sees this process's trials; the others' are logged
            by Optuna, at this process's
            :func:`optuna.logging.get_verbosity`. :obj:`on_trial` sees
            every process's trials when it can be pickled (a module-level
            function, or a :func:`functools.partial` of one), else this
            process's. (default: :obj:`1`)
        notes (callable, optional): Receives the study's notes (the
            trials found killed and queued again). (default: :obj:`log`)

    Everything is checked before the first trial, and a refused study
    writes nothing: the space (each key, distribution, range, bound and
    choice, and that some trial reads each key), the config, the device,
    the data file, the folder, the storage, and, for a continued study,
    that its space, config, metric, pruner and data (the SHA-256 of the
    data files, wherever they lie) are those it was started with. A trial
    whose values are refused together, or whose run diverges, fails alone
    (its user attribute :obj:`error` says why).
    """
    optuna = import_optuna()
    out = os.fspath(out)
    space, seed, pruner, settings = _prepare(optuna, config, space, trials,
                                             seed, prune)
    if space.is_grid:  # Each point once, whatever the budget:
        trials = min(trials, space.grid_size())
    if isinstance(workers, bool) or not isinstance(workers, int) or \
            workers < 1:
        raise UsageError(f'workers must be a positive integer (got '
                         f'{workers!r})')
    _check_folder(out, storage)
    url = storage  # Named in the report when not the default.
    # Every check before anything is written: a refused study writes
    # nothing (no folder, no storage, no empty study in a storage).
    name, study = _open_study(optuna, settings, out, storage)
    ensure_writable(out, is_dir=True)
    storage = storage or storage_url(out)
    if study is None:
        study = optuna.create_study(storage=_storage(optuna, storage),
                                    study_name=name, direction='maximize',
                                    load_if_exists=True, pruner=pruner)
        _check_study(study, settings, out)  # (another process's, just made)
    study.pruner = pruner
    for key, value in settings.items():
        if value is not None or key not in study.user_attrs:
            study.set_user_attr(key, value)
    requeued = _requeue_killed(optuna, study, out)
    notes = notes or log
    if requeued and notes is not None:
        notes(f"{trials_were(requeued)} killed while running: queued again "
              f"with the same values")
    study.sampler = _sampler(optuna, space, seed)
    left = trials - _finished(optuna, study)
    # Processes beyond the trials left would have nothing to do:
    spawned = range(1, min(workers, left))
    try:
        if spawned:
            from adar_pyg.tune.pool import in_pool, spawn_pool, stop_event
            stop = stop_event()
            with spawn_pool(len(spawned), stop) as pool:
                futures = [pool.submit(
                    in_pool, _worker, i, config.to_dict(), space.to_dict(),
                    out, name, trials, storage, url, seed, pruner, plot,
                    optuna.logging.get_verbosity(),
                    on_trial if _picklable(on_trial) else None)
                    for i in spawned]
                try:
                    _optimize(optuna, study, config, space, out, trials, url,
                              progress, log, plot, on_trial)
                except BaseException:  # The workers finish the trial they
                    stop.set()  # run and start no other; what stopped
                    for i, future in zip(spawned, futures):  # them is said.
                        error = future.exception()
                        if error is not None and notes is not None and \
                                not isinstance(error, KeyboardInterrupt):
                            notes(f'worker {i}: {_one_line(error)}')
                    raise
                errors = [f.exception() for f in futures]
            for error in errors:
                if error is not None:
                    raise error
        elif left > 0:
            _optimize(optuna, study, config, space, out, trials, url, progress,
                      log, plot, on_trial)
    except BaseException:  # (every process's trial stopped and marked)
        try:  # The report says so; its own failure (a full disk) does not
            write_report(study, out, url)  # hide the error that stopped.
        except Exception:
            pass
        raise
    write_report(study, out, url)
    return study


def trials_were(numbers: List[int], past: bool = True) -> str:
    r"""'trial 1 was' or 'trials 1, 2 were' ('is'/'are' without
    :obj:`past`)."""
    verb = ('was', 'were') if past else ('is', 'are')
    if len(numbers) == 1:
        return f'trial {numbers[0]} {verb[0]}'
    return f"trials {', '.join(map(str, numbers))} {verb[1]}"


def finished(summary: Dict[str, Any]) -> int:
    r"""The trials of a :func:`summary` that count against the budget
    (:data:`BUDGET`; :func:`_finished` on the study)."""
    return sum(summary['counts'][s] for s in BUDGET)


def _sampler(optuna: Any, space: SearchSpace, seed: int) -> Any:
    r"""The sampler of a study seeded with :obj:`seed`, the same in every
    process and continuation: each trial's draw depends on :obj:`seed`,
    its rank (the trials numbered before it, the retries of killed trials
    aside) and the trials finished before it, never on the process, so
    that a study continued after a stop, a kill or with a larger budget
    draws what the uninterrupted one draws (see :func:`_rank`). TPE:
    reseeded before each trial with :obj:`seed` and the rank; a grid
    (every parameter a :obj:`choices`): the grid's order comes from
    :obj:`seed`, and the trial of rank :obj:`r` takes its :obj:`r`-th
    point (each point once; a point a trial left without running it, one
    killed before its values were drawn, is taken by the first trial past
    the grid)."""
    if space.is_grid:
        return _classes(optuna)['grid'](space.grid(), seed=seed)
    return _classes(optuna)['tpe'](seed)


def _rank(study: Any, number: int) -> int:
    r"""The rank of trial :obj:`number` among the trials that draw values:
    those numbered before it that are not queued with fixed values (the
    retries of killed trials) nor surplus (started beyond the budget, not
    run). Uninterrupted, it is the trial's number; a
    continued study's trials have the ranks of the uninterrupted one's."""
    return sum(t.number < number and 'fixed_params' not in t.system_attrs
               and SURPLUS not in t.user_attrs  # (its draw is not run)
               for t in study._storage.get_all_trials(study._study_id,
                                                      deepcopy=False))


def _trial_seed(seed: int, rank: int) -> int:
    import numpy as np
    return int(np.random.SeedSequence([seed % 2 ** 32, rank])
               .generate_state(1)[0])


_CLASSES: Dict[str, Any] = {}


def _classes(optuna: Any) -> Dict[str, Any]:
    r"""The samplers of :func:`_sampler` (defined once Optuna is
    imported)."""
    if _CLASSES:
        return _CLASSES

    class RankSeededTPESampler(optuna.samplers.TPESampler):
        r"""TPE whose random state is seeded before each trial with the
        study's seed and the trial's rank (:func:`_rank`)."""
        def __init__(self, seed: int) -> None:
            super().__init__(seed=seed)
            self._study_seed = seed

        def before_trial(self, study: Any, trial: Any) -> None:
            seed = _trial_seed(self._study_seed, _rank(study, trial.number))
            self._rng.rng.seed(seed)
            self._random_sampler._rng.rng.seed(seed)
            super().before_trial(study, trial)

    class RankGridSampler(optuna.samplers.GridSampler):
        r"""A grid whose trial of rank :obj:`r` (:func:`_rank`) takes the
        :obj:`r`-th point of the seeded order; a point is held by the
        trial that ran or runs it (by its values), or by the retry queued
        for a killed trial."""
        def before_trial(self, study: Any, trial: Any) -> None:
            attrs = trial.system_attrs
            if 'grid_id' in attrs or 'fixed_params' in attrs:
                return
            held = self._held(study, trial.number)
            rank = _rank(study, trial.number)
            free = [i for i in range(len(self._all_grids)) if i not in held]
            # (a free point by rank: processes falling back at once do
            # not all take the first one)
            grid_id = rank if rank < len(self._all_grids) and \
                rank not in held else (free[rank % len(free)] if free else
                                       rank % len(self._all_grids))
            study._storage.set_trial_system_attr(
                trial._trial_id, 'search_space', self._search_space)
            study._storage.set_trial_system_attr(trial._trial_id,
                                                 'grid_id', grid_id)

        def _held(self, study: Any, but: Optional[int] = None) -> set:
            held = set()
            for t in study._storage.get_all_trials(study._study_id,
                                                   deepcopy=False):
                if t.number == but or KILLED in t.user_attrs or \
                        SURPLUS in t.user_attrs:
                    continue  # (a killed trial's retry holds its point)
                values = t.params if len(t.params) == len(
                    self._param_names) else t.system_attrs.get(
                        'fixed_params')
                point = self._point(values)
                if point is not None:
                    held.add(point)
                elif 'grid_id' in t.system_attrs:
                    held.add(t.system_attrs['grid_id'])
            return held

        def _point(self, values: Any) -> Optional[int]:
            if not values or len(values) != len(self._param_names):
                return None
            want = [values.get(n) for n in self._param_names]
            for i, grid in enumerate(self._all_grids):
                if all(self._grid_value_equal(a, b)
                       for a, b in zip(grid, want)):
                    return i
            return None

        def _get_unvisited_grid_ids(self, study: Any) -> List[int]:
            held = self._held(study)
            return [i for i in range(len(self._all_grids)) if i not in held]

    _CLASSES.update(tpe=RankSeededTPESampler, grid=RankGridSampler)
    return _CLASSES


def _worker(worker: int, config: Dict[str, Any], space: Dict[str, Any],
            out: str, name: str, trials: int, storage: str,
            url: Optional[str], seed: int, pruner: Any, plot: bool,
            verbosity: int,
            on_trial: Optional[Callable[[Dict[str, Any]], None]]) -> None:
    r"""A spawned process of :func:`tune` with :obj:`workers > 1`: runs
    trials of the study :obj:`name` on :obj:`storage` while its budget is
    not taken (:func:`_optimize`), with Optuna's logging at the
    :obj:`verbosity` of the process that spawned it, calling
    :obj:`on_trial` after each."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(verbosity)  # Quiet if the caller is.
    config = Config.build(config)
    space = parse_space(space, config)
    study = optuna.load_study(study_name=name, storage=storage,
                              sampler=_sampler(optuna, space, seed),
                              pruner=pruner)
    _optimize(optuna, study, config, space, out, trials, url, False,
              lambda line: None, plot, on_trial, worker)


def _take_over(study: Any, out: str, trial: Any, folder: str
               ) -> Optional[int]:
    r"""For the retry of a killed trial: moves the killed trial's
    unfinished run directory to :obj:`folder` (the retry's), to continue
    it from its last checkpoint (bit-identical to an uninterrupted run; see
    :func:`adar_pyg.run.resume`) instead of from scratch, and records it as
    the user attribute :obj:`continues` (first, under the directory's lock:
    a retry killed before moving it leaves the next retry the way to it).
    Returns the last epoch the killed trials reported (evaluations the
    pruner does not judge again), or :obj:`None` when it took nothing: a
    trial that is no retry, a killed trial that left no run directory or a
    finished one (the retry then trains afresh), or one a live process
    holds."""
    from adar_pyg import rundir
    from adar_pyg.errors import RunDirError
    from adar_pyg.rundir import CONFIG
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    number, chain = trial.user_attrs.get('retry_of'), []
    while number in trials and trials[number] not in chain:
        chain.append(trials[number])
        old = trial_dir(out, number)
        if os.path.isdir(old):
            break
        number = _number(trials[number].user_attrs.get(CONTINUES))
    else:
        return None
    if os.path.exists(folder) or rundir.is_finished(old) or \
            not os.path.isfile(os.path.join(old, CONFIG)):
        return None
    try:
        with rundir.lock(old):  # (free: its writer died)
            trial.set_user_attr(CONTINUES, os.path.basename(old))
            os.rename(old, folder)
    except RunDirError:
        return None
    return max((max(t.intermediate_values, default=0) for t in chain),
               default=0)


def _number(run_dir: Optional[str]) -> Optional[int]:
    r"""The trial number of the run directory name :obj:`trial-N`."""
    return int(run_dir.rsplit('-', 1)[1]) if run_dir else None


class _Surplus(Exception):
    r"""A trial started beyond the budget (see :data:`SURPLUS`)."""


def _optimize(optuna: Any, study: Any, config: Config, space: SearchSpace,
              out: str, trials: int, url: Optional[str],
              progress: bool, log: Optional[Callable[[str], None]],
              plot: bool,
              on_trial: Optional[Callable[[Dict[str, Any]], None]],
              worker: int = 0) -> None:
    r"""Runs trials of :obj:`study` in this process, one after another,
    while the study holds fewer than :obj:`trials` finished or running
    ones (those of the other workers count too) and, in a spawned worker,
    the calling process has not asked it to stop
    (:func:`~adar_pyg.tune.pool.stop_requested`, asked before each)."""
    from adar_pyg import run
    from adar_pyg.errors import RunDirError
    from adar_pyg.io import CorruptFileError
    from adar_pyg.pipeline import load_data
    from adar_pyg.tune.pool import stop_requested
    monitor = config.train.monitor
    shared: Dict[str, Any] = {}  # The data, loaded once for every trial.

    quiet = _NoInterruptTraceback()

    def objective(trial) -> float:
        try:
            return run_trial(trial)
        except KeyboardInterrupt:  # Ctrl-C: as if killed (not counted),
            quiet.stopping = True  # continued by the next command.
            _interrupted(study, trial)
            raise
        except FAILS as e:  # Its values do not train: this trial fails,
            trial.set_user_attr(ERROR, _reason(e))  # the study goes on.
            quiet.failed.add(trial.number)  # (its reason recorded instead)
            raise
        except (optuna.TrialPruned, _Surplus):
            raise
        except Exception as e:  # Not of its values (a full disk, a bug):
            # the study stops, the trial counts as killed, its retry runs
            # with the next call; the command reports the error once.
            quiet.stopping = True
            _interrupted(study, trial, why=_one_line(e))
            raise

    def run_trial(trial) -> float:
        values = space.suggest(trial)  # (a queued trial's values)
        if _surplus(optuna, study, trial, trials):
            raise _Surplus(trial.number)
        t0, c0 = time.perf_counter(), time.process_time()

        def spent() -> None:  # Its seconds, refused or trained.
            trial.set_user_attr('seconds', time.perf_counter() - t0)
            trial.set_user_attr('cpu_seconds', time.process_time() - c0)

        try:
            cfg = Config.build(config.to_dict(), space.layer(values),
                               where=['config', f'trial {trial.number}'])
        except ConfigError:  # Values refused together: nothing trained,
            spent()  # and the budget's CPU seconds stay known.
            raise
        folder = trial_dir(out, trial.number)
        trial.set_user_attr('run_dir', os.path.basename(folder))
        trial.set_user_attr('worker', worker)
        passed = [_take_over(study, out, trial, folder)]
        best = [-math.inf]

        def report(record: Dict[str, Any]) -> None:
            value = record[f'val_{monitor}']
            best[0] = max(best[0], value)
            trial.report(value, record['epoch'])
            if passed[0] is not None and record['epoch'] <= passed[0]:
                return  # The killed trial passed it: not judged again.
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"epoch {record['epoch']}: val {monitor} {value:.4f} "
                    f"(best {best[0]:.4f})")

        train = dict(data=shared['data'], progress=progress, log=log,
                     plot=plot, on_evaluate=report, test=False)
        try:
            try:
                result = run.train(cfg, folder, resume=passed[0] is not None,
                                   **train)
            except (RunDirError, CorruptFileError) as e:
                if passed[0] is None:
                    raise
                # Its checks failed before any evaluation was replayed:
                why = f'{trial.user_attrs[CONTINUES]}: {e}'
                if log is not None:
                    log(f'trial {trial.number}: cannot continue {why}; '
                        f'trained afresh')
                trial.set_user_attr(AFRESH, why)
                trial.set_user_attr(CONTINUES, None)
                passed[0] = None
                result = run.train(cfg, folder, overwrite=True, **train)
        finally:
            spent()
        trial.set_user_attr('best_epoch', result['best_epoch'])
        trial.set_user_attr('epochs_run', result['epochs_run'])
        return result['val'][monitor]

    def record(study: Any, trial: Any) -> None:  # After each trial.
        info = write_report(study, out, url)
        if on_trial is not None:
            on_trial(next(r for r in info['trials']
                          if r['number'] == trial.number))

    logging.getLogger('optuna.study._optimize').addFilter(quiet)
    try:
        while not stop_requested() and _claimed(optuna, study) < trials and not (
                space.is_grid and study.sampler.is_exhausted(study) and
                not _queued(optuna, study)):  # (a retry holds its point)
            if 'data' not in shared:  # Before a trial: data that cannot be
                # trained on (a split without validation items) are refused
                # without failing one. The space never changes data or split.
                shared['data'] = load_data(config.resolved())
            try:
                study.optimize(objective, n_trials=1, callbacks=[record],
                               catch=FAILS)
            except _Surplus:
                break
    finally:
        logging.getLogger('optuna.study._optimize').removeFilter(quiet)


class _NoInterruptTraceback(logging.Filter):
    r"""Drops Optuna's warnings (one with the traceback) that a trial
    stopped by Ctrl-C failed: the trial is queued again (see
    :func:`_interrupted`), and the command says how it stopped; and those
    of a trial that failed by design (:data:`FAILS`): its reason is its
    user attribute :data:`ERROR`, on its line and in the report."""
    stopping = False

    def __init__(self) -> None:
        super().__init__()
        self.failed: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.stopping or (record.exc_info and isinstance(
                record.exc_info[1], (KeyboardInterrupt, *FAILS))):
            return False
        message = record.getMessage()
        return not any(message.startswith(f'Trial {n} failed')
                       for n in self.failed)


#: What fails a trial, not the study: values that do not fit together
#: (a refused combination) or a run that diverged.
FAILS = (DivergedError, FloatingPointError, ConfigError)

#: User attribute of a failed trial: why (one line).
ERROR = 'error'


def _reason(error: BaseException) -> str:
    r"""Why a trial failed, in one line."""
    if isinstance(error, ConfigError):
        return '; '.join(error.errors)
    return _one_line(error)


def _queued(optuna: Any, study: Any) -> bool:
    r"""Whether :obj:`study` holds a queued trial (the retry of a killed
    one)."""
    return bool(study.get_trials(deepcopy=False,
                                 states=(optuna.trial.TrialState.WAITING,)))


def _interrupted(study: Any, trial: Any, why: Optional[str] = None) -> None:
    r"""Marks the running :obj:`trial`, stopped by Ctrl-C or by an error
    that is not of its values (:obj:`why`: a full disk, a bug; recorded as
    its :data:`ERROR`), as a killed one and queues it again with its values
    (as :func:`_requeue_killed` does for a process that died): it does not
    count against the budget, and its retry continues its run directory. A
    trial stopped before its values were drawn, or beyond the budget, is
    not queued."""
    if KILLED in trial.user_attrs or SURPLUS in trial.user_attrs:
        return  # (a second Ctrl-C)
    trial.set_user_attr(KILLED, True)
    if why is not None:
        trial.set_user_attr(ERROR, f'stopped: {why}')
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={
            'retry_of': trial.number}, skip_if_exists=False)


def _claimed(optuna: Any, study: Any) -> int:
    r"""The trials of the budget that are finished (:func:`_finished`) or
    running in some process."""
    return sum(_counts(optuna, t, running=True)
               for t in study.get_trials(deepcopy=False))


def _counts(optuna: Any, t: Any, running: bool = False) -> bool:
    r"""Whether the trial :obj:`t` counts against the budget: its
    :func:`_state` is one of :data:`BUDGET` (a killed trial is run again, a
    surplus one was never trained); with :obj:`running`, a running one
    too."""
    return _state(optuna, t) in (BUDGET + ('running', ) if running
                                 else BUDGET)


def _state(optuna: Any, t: Any) -> str:
    r"""The state of the trial :obj:`t` as reports name it: :obj:`'queued'`
    (the retry of a killed trial, waiting), :obj:`'killed'`,
    :obj:`'surplus'`, or Optuna's state in lower case (:obj:`'complete'`,
    :obj:`'pruned'`, :obj:`'fail'`: a diverged run, :obj:`'running'`)."""
    if t.state == optuna.trial.TrialState.WAITING:
        return 'queued'
    return next((a for a in (KILLED, SURPLUS) if a in t.user_attrs),
                t.state.name.lower())


def _surplus(optuna: Any, study: Any, trial: Any, trials: int) -> bool:
    r"""Whether :obj:`trial`, just started, is beyond the budget of
    :obj:`trials`: the trials of the budget numbered before it (finished,
    or running in another process) already take it. If so it is marked
    with :data:`SURPLUS` (the caller stops before training it, and Optuna
    marks it failed); a queued trial (the retry of a killed one) is queued
    again with its values."""
    before = sum(t.number < trial.number and _counts(optuna, t, running=True)
                 for t in study.get_trials(deepcopy=False))
    if before < trials:
        return False
    if 'retry_of' in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs={
            'retry_of': trial.user_attrs['retry_of']}, skip_if_exists=False)
    trial.set_user_attr(SURPLUS, True)
    return True


def check(config: Config, space: Union[SearchSpace, Dict[str, Any], str,
                                       os.PathLike],
          trials: int, out: Union[str, os.PathLike], *,
          seed: Optional[int] = None, prune: Union[bool, str, Any] = True,
          storage: Optional[str] = None) -> SearchSpace:
    r"""Every check :func:`tune` makes before its first trial (the space,
    the config, the data file, and for a study already in :obj:`out`, that
    its config, space, metric and data are these), without writing anything;
    returns the parsed space. Lets a caller of several studies
    (:func:`~adar_pyg.tune.compare`) refuse a bad one before any trains."""
    optuna = import_optuna()
    out = os.fspath(out)
    space, _, _, settings = _prepare(optuna, config, space, trials, seed,
                                     prune)
    _check_folder(out, storage)
    _open_study(optuna, settings, out, storage)
    return space


def _storage(optuna: Any, url: str) -> Any:
    r"""The Optuna storage of :obj:`url`, or a :class:`UsageError` naming
    it (an unknown scheme, a missing driver, a folder that does not
    exist, a server that does not answer)."""
    try:
        return optuna.storages.get_storage(url)
    except Exception as e:  # (SQLAlchemy's, a driver's ImportError, ...)
        raise UsageError(f"cannot open the storage '{url}': "
                         f"{_one_line(e)}", hint='give an RDB URL, e.g. '
                         'sqlite:///path/to/study.db or '
                         'postgresql://user@host/db') from None


def _one_line(error: BaseException) -> str:
    r"""The first line of :obj:`error`'s message (its type without one)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _own_storage(storage: Optional[str], out: str) -> bool:
    r"""Whether :obj:`storage` is a file of the study folder :obj:`out`
    (the default :obj:`study.db`, or a :obj:`sqlite:///` file in it)."""
    if storage is None:
        return True
    if not storage.startswith('sqlite:///'):
        return False
    path = storage[len('sqlite:///'):]
    return os.path.realpath(os.path.dirname(os.path.abspath(path))) == \
        os.path.realpath(out)


def _study_name(storage: Any, out: str, own: bool) -> str:
    r"""The name of the study of :obj:`out` in :obj:`storage`: the
    folder's name; in a storage of the folder's own (:func:`_own_storage`)
    that holds no study of that name but exactly one other with trials or
    settings, that one (the folder was moved or renamed)."""
    name = _name(out)
    studies = {s.study_name: s for s in storage.get_all_studies()}

    def used(study: Any) -> bool:
        return bool(study.user_attrs or storage.get_all_trials(
            study._study_id, deepcopy=False))

    if name in studies and (used(studies[name]) or not own):
        return name
    others = [n for n, s in studies.items() if used(s)]
    if own and len(others) == 1:
        return others[0]
    return name


def _open_study(optuna: Any, settings: Dict[str, Any], out: str,
                storage: Optional[str]) -> tuple:
    r"""The name of the study of :obj:`out` and the study, or :obj:`None`
    for a new one, checked (:func:`_check_study`; a new one must not find
    trial folders); creates nothing but the tables of a new
    :obj:`storage` (a refused study writes nothing)."""
    path = os.path.join(out, STORAGE_FILE) if storage is None else \
        storage[len('sqlite:///'):] if _own_storage(storage, out) else None
    if path is not None and not os.path.isfile(path):  # (opening would
        _check_new(out)  # create it)
        return _name(out), None
    found = _storage(optuna, storage or storage_url(out))
    name = _study_name(found, out, _own_storage(storage, out))
    try:
        study = optuna.load_study(study_name=name, storage=found)
    except KeyError:  # No such study in the storage yet.
        _check_new(out)
        return name, None
    _check_study(study, settings, out)
    return name, study


def load_existing(optuna: Any, out: str) -> Any:
    r"""The study in the folder :obj:`out` (its :obj:`study.db`), or
    :obj:`None` when it holds none; reads only (for
    :obj:`adar-pyg compare --status`)."""
    if not os.path.isfile(os.path.join(out, STORAGE_FILE)):
        return None  # (loading would create the storage)
    found = _storage(optuna, storage_url(out))
    try:
        return optuna.load_study(study_name=_study_name(found, out, True),
                                 storage=found)
    except KeyError:
        return None


def _check_new(out: str) -> None:
    r"""A new study must not find trial folders of another study."""
    if not os.path.isdir(out):
        return
    stale = sorted(n for n in os.listdir(out) if TRIAL_DIR.fullmatch(n))
    if stale:
        raise UsageError(f"'{out}' holds trial folders ({stale[0]}, ...) "
                         f"but its storage holds no study of them",
                         hint='tune into a new folder, or give the storage '
                         'they were tuned with (--storage)')


def _prepare(optuna: Any, config: Config, space: Any, trials: Any,
             seed: Any, prune: Any) -> tuple:
    r"""The checks of :func:`tune` before any output: (the parsed space,
    the sampler's seed, the pruner, the study's recorded settings)."""
    from adar_pyg.pipeline import check_data, check_device
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f'trials must be a positive integer (got '
                         f'{trials!r})')
    if isinstance(space, (str, os.PathLike)):
        space = load_space(space, config)
    else:
        space = parse_space(space, config)
    _check_config(config)
    seed = config.run.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f'seed must be an integer (got {seed!r})')
    pruner = _pruner(optuna, prune)
    check_device(config)  # (a GPU this machine lacks: before any trial)
    check_data(config)  # A missing data file fails before any output.
    # (the data's digest: a study continues only on the data it began on)
    settings = {'config': config.to_dict(), 'space': space.to_dict(),
                'monitor': config.train.monitor,
                'pruner': _pruner_name(optuna, prune),
                'data': data_digest(config)}
    return space, seed, pruner, settings


#: The run directory of a trial (:func:`trial_dir`).
TRIAL_DIR = re.compile(r'trial-\d+')


def foreign_files(out: str, storage: Optional[str] = None) -> List[str]:
    r"""The entries of the study folder :obj:`out` that are not a study's
    (its SQLite storage, :data:`STORAGE_FILE` or the file of a
    :obj:`sqlite:///` :obj:`storage` in :obj:`out`, and its journal; the
    reports; the :obj:`trial-N/` run directories; a lock file aside),
    relative to it."""
    from adar_pyg.rundir import LOCK, is_own
    if not os.path.isdir(out):
        return []
    databases = [STORAGE_FILE]
    if storage and storage.startswith('sqlite:///') and \
            os.path.realpath(os.path.dirname(os.path.abspath(
                storage[len('sqlite:///'):]))) == os.path.realpath(out):
        databases.append(os.path.basename(storage[len('sqlite:///'):]))
    names = (LOCK, REPORT_MD, REPORT_JSON, *(
        db + end for db in databases for end in ('', '-journal', '-wal',
                                                 '-shm')))
    return [name + ('/' if os.path.isdir(os.path.join(out, name)) else '')
            for name in sorted(os.listdir(out))
            if not (is_own(name, names) or (
                TRIAL_DIR.fullmatch(name) and
                os.path.isdir(os.path.join(out, name))))]


def _name(out: str) -> str:
    r"""The study's name in its storage: the folder's name."""
    return os.path.basename(os.path.abspath(out))


def _picklable(obj: Any) -> bool:
    import pickle
    try:
        pickle.dumps(obj)
    except Exception:  # (a lambda, a closure: of this process only)
        return False
    return True


def print_trial(row: Dict[str, Any], monitor: str) -> None:
    r"""Prints the :func:`trial_line` of :obj:`row` (an :obj:`on_trial` of
    :func:`tune` that every worker can call:
    :obj:`functools.partial(print_trial, monitor='recall@20')`)."""
    print(trial_line(row, monitor), flush=True)


def trial_line(row: Dict[str, Any], monitor: str) -> str:
    r"""One line on a finished trial (a row of :func:`summary`)."""
    value = ('' if row['value'] is None else
             f", val {monitor} {row['value']:.4f}")
    params = ', '.join(f'{k} {_fmt(v)}' for k, v in row['params'].items())
    n = row['epochs_run'] or row['epochs']
    epochs = '' if n is None else f", {n} epoch{'s' if n != 1 else ''}"
    how = (f"; continued {row['continues']}" if row.get('continues') else
           f"; could not continue {row['afresh']}, trained afresh"
           if row.get('afresh') else '')
    why = f"; {row['error']}" if row.get('error') else ''
    return (f"trial {row['number']}: {row['state']}{value}{epochs} "
            f"({params}){how}{why}")


def _finished(optuna: Any, study: Any) -> int:
    r"""The trials that count against the budget (:func:`_counts`)."""
    return sum(_counts(optuna, t) for t in study.get_trials(deepcopy=False))


def _requeue_killed(optuna: Any, study: Any, out: str) -> List[int]:
    r"""Marks failed the trials left running by a killed process and queues
    each again with its values; returns their numbers. A running trial is
    a killed one when its run directory is unfinished and no process holds
    its lock, the lock file naming a process (a killed writer's), or, in
    the states a live process passes through (a run directory whose lock
    names none: not taken yet, or let go by a trial pruned or failed and
    not yet recorded; none: killed before writing it; a finished one:
    killed before recording it), when it has been in that state for
    :data:`STALE_SECONDS` (a live process leaves it within a second): a
    running trial takes a place of the budget, so a dead one must not keep
    it."""
    killed = []
    for t in study.get_trials(deepcopy=False,
                              states=(optuna.trial.TrialState.RUNNING,)):
        if not is_dead(t, out):
            continue
        queued = KILLED in t.user_attrs  # (by Ctrl-C, before it ended)
        study._storage.set_trial_user_attr(t._trial_id, KILLED, True)
        study._storage.set_trial_state_values(
            t._trial_id, optuna.trial.TrialState.FAIL)
        if t.params and not queued:  # (killed before drawing its values:
            study.enqueue_trial(t.params, user_attrs={  # drawn anew)
                'retry_of': t.number}, skip_if_exists=False)
        killed.append(t.number)
    return killed


def is_dead(t: Any, out: str) -> bool:
    r"""Whether the running trial :obj:`t` of the study in :obj:`out` is
    the trial of a killed process (see :func:`_requeue_killed`). Reads: it
    takes no lock where the process id in the run directory's lock file
    (:func:`adar_pyg.rundir.holder`) is gone, and otherwise (alive, or not
    written yet) only tries a shared one, which fails at once while that process holds it,
    so that it never stands in a writer's way (a reader such as
    :obj:`adar-pyg compare --status` may call it at any time)."""
    from adar_pyg import rundir
    from adar_pyg.errors import RunDirError
    from adar_pyg.io import pid_alive
    from adar_pyg.rundir import LOCK, RESULT
    folder = trial_dir(out, t.number)
    if os.path.isdir(folder) and not rundir.is_finished(folder):
        pid = rundir.holder(folder)
        if pid is not None and not pid_alive(pid):
            return True
        try:  # That id is alive (its writer, or a process that reused it),
            # or not written yet (its writer may hold the lock already):
            with rundir.lock(folder, shared=True):
                pass
        except RunDirError:
            return False  # Running in another process.
        if pid is not None:  # (a writer clears it before it lets go)
            return True
        # Not locked yet, or just let go: since the lock file last changed.
        lock = os.path.join(folder, LOCK)
        since = os.path.getmtime(lock if os.path.exists(lock) else folder)
    elif os.path.isdir(folder):
        since = os.path.getmtime(os.path.join(folder, RESULT))
    else:
        since = t.datetime_start.timestamp()
    # (a live process may be about to write it or record it)
    return time.time() - since >= STALE_SECONDS


def _check_folder(out: str, storage: Optional[str]) -> None:
    from adar_pyg.rundir import refuse_foreign
    refuse_foreign(out, foreign_files(out, storage), 'a study')


def _check_config(config: Config) -> None:
    if not isinstance(config, Config):
        raise UsageError(f'config must be an adar_pyg.config.Config (got '
                         f'{type(config).__name__})')
    if config.train.select_on != 'val':
        raise ConfigError("a study selects on the validation split (got "
                         "train.select_on 'test'; the test split is never "
                         "read while tuning)", hint='set train.select_on: '
                         'val')
    if config.run.task == 'cf' and config.split.val_ratio <= 0:
        raise ConfigError('a study needs a validation split (got '
                         'split.val_ratio 0)',
                         hint='set split.val_ratio, e.g. 0.1')
    if config.run.nproc != 1:
        raise ConfigError(f'a trial runs in one process (got run.nproc '
                         f'{config.run.nproc})', hint='set run.nproc: 1')


def _pruner(optuna: Any, prune: Union[bool, str, Any]) -> Any:
    if isinstance(prune, optuna.pruners.BasePruner):
        return prune
    name = prune if isinstance(prune, str) else (
        PRUNERS[0] if prune is True else
        'none' if prune is False or prune is None else prune)
    built = _built_pruners(optuna)
    if name not in built:
        raise UsageError(f"unknown pruner {prune!r} (choose from "
                         f"{', '.join(PRUNERS)}, or no pruning)")
    return built[name]()


def _built_pruners(optuna: Any) -> Dict[str, Any]:
    r"""The pruners named by :obj:`--pruner` (and :obj:`--no-prune`)."""
    return {'median': optuna.pruners.MedianPruner,
            'halving': optuna.pruners.SuccessiveHalvingPruner,
            'none': optuna.pruners.NopPruner}


def _check_study(study: Any, settings: Dict[str, Any], out: str) -> None:
    r"""A continued study must be the one started in :obj:`out`: same
    config (where it runs and where its data lie aside), space, metric and
    data files; a new one must not find trial folders of another study."""
    held = study.user_attrs
    if not study.trials and not held:
        _check_new(out)
        return
    for key in ('monitor', 'space', 'config'):
        was, now = held.get(key), settings[key]
        if key == 'config' and was is not None:  # Where it runs and where
            was, now = computed(was), computed(now)  # its data lie: free.
        if key in held and as_json(was) != as_json(now):
            changed = _changes(was, now) \
                if key != 'monitor' else f'{was} -> {now}'
            raise UsageError(f"the study in '{out}' was started with another "
                             f"{key} ({changed}); a study continues only "
                             f"with the same config, space and metric",
                             hint='tune into a new folder (--out)')
    was, now = held.get('pruner'), settings.get('pruner')
    # (a study of an older version recorded a pruner object by its class
    # name alone: the same class continues it)
    older = '(' not in str(was) and str(now).startswith(f'{was}(')
    if was is not None and now is not None and was != now and not older:
        raise UsageError(f"the study in '{out}' was started with the pruner "
                         f"'{was}' (now '{now}'); a study continues with the "
                         f"pruner it began with, which judged its trials",
                         hint=_pruner_hint(was))
    was, now = held.get('data'), settings['data']
    # (None: files not fetched yet.) The digests are compared, not the
    # names: a data file moved or renamed is the same data.
    if was and now and sorted(was.values()) != sorted(now.values()):
        changed = sorted(n for n, d in now.items()
                         if d not in was.values()) or sorted(
            n for n, d in was.items() if d not in now.values())
        raise UsageError(f"the study in '{out}' was started on other data: "
                         f"{', '.join(changed)} changed since; a study "
                         f"continues only on the data it began on",
                         hint='restore the data, or tune into a new folder '
                         '(--out)')


def _pruner_hint(name: str) -> str:
    if name in ('median', 'halving'):
        return (f'continue with --pruner {name} (pruner={name!r}), or tune '
                f'into a new folder (--out)')
    if name == 'none':
        return 'continue with --no-prune (prune=False), or tune into a new ' \
            'folder (--out)'
    return f'continue with a {name}, or tune into a new folder (--out)'


def _pruner_name(optuna: Any, prune: Any) -> str:
    r"""What :obj:`prune` is, as a study records it: :obj:`'median'`,
    :obj:`'halving'`, :obj:`'none'` (those pruners with Optuna's defaults,
    however given), or a pruner's class and settings,
    :obj:`'MedianPruner(n_startup_trials=2, ...)'`: two pruners of one class
    with other settings judge trials differently."""
    pruner = _pruner(optuna, prune)
    text = _describe_pruner(optuna, pruner)
    return next((name for name, cls in _built_pruners(optuna).items()
                 if type(pruner) is cls and
                 text == _describe_pruner(optuna, cls())), text)


def _describe_pruner(optuna: Any, pruner: Any) -> str:
    r"""A pruner's class and the settings it was built with (its plain
    attributes, and a wrapped pruner's, not the state it gathers)."""
    def text(value: Any) -> Optional[str]:
        if isinstance(value, optuna.pruners.BasePruner):
            return _describe_pruner(optuna, value)
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        return None

    items = [(key.lstrip('_'), text(value))
             for key, value in sorted(vars(pruner).items())]
    return f"{type(pruner).__name__}(" + ', '.join(
        f'{key}={value}' for key, value in items if value is not None) + ')'


def as_json(value: Any) -> Any:
    r""":obj:`value` as JSON reads it back (tuples as lists, keys as
    strings): what a stored value is compared with."""
    return json.loads(json.dumps(value))


def _changes(old: Any, new: Any) -> str:
    old, new = as_json(old), as_json(new)
    if not isinstance(old, dict) or not isinstance(new, dict):
        return f'{old!r} -> {new!r}'
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f'{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}'
                    for k in sorted(set(a) | set(b), key=str)
                    if a.get(k) != b.get(k)]
        else:
            out.append(f'{key}: {a!r} -> {b!r}')
    return ', '.join(out[:3]) + (', ...' if len(out) > 3 else '')


# -- Report -----------------------------------------------------------------

def summary(study: Any, storage: Optional[str] = None) -> Dict[str, Any]:
    r"""The JSON-able summary of :obj:`study` written to :obj:`tune.json`:
    its settings, the best trial and every trial (number, state, value,
    parameters, run directory, epochs, seconds, the validation value at
    each evaluation; a killed trial's run directory that its retry
    continued is :obj:`moved_to` the retry's, which :obj:`continues` it)."""
    rows: List[Dict[str, Any]] = []
    trials = study.get_trials(deepcopy=False)
    moved = {t.user_attrs[CONTINUES]: t.user_attrs.get('run_dir')
             for t in trials if t.user_attrs.get(CONTINUES)}

    def moved_to(run_dir: Optional[str]) -> Optional[str]:
        seen = []  # (a retry of a retry moved it on)
        while run_dir in moved and run_dir not in seen:
            seen.append(run_dir)
            run_dir = moved[run_dir]
        return run_dir if seen else None

    optuna = import_optuna()
    for t in trials:
        state = _state(optuna, t)
        queued = state == 'queued'  # (the retry of a killed trial)
        rows.append({
            'number': t.number, 'state': state,
            'value': t.value,
            # A queued trial's values, drawn when it runs:
            'params': t.system_attrs.get('fixed_params', {}) if queued
            else t.params,
            'run_dir': t.user_attrs.get('run_dir'),
            # A killed trial's run directory that its retry continued:
            'moved_to': moved_to(t.user_attrs.get('run_dir')),
            'continues': t.user_attrs.get(CONTINUES),
            'afresh': t.user_attrs.get(AFRESH),
            'error': t.user_attrs.get(ERROR),
            'best_epoch': t.user_attrs.get('best_epoch'),
            'epochs_run': t.user_attrs.get('epochs_run'),
            'epochs': (max(t.intermediate_values) if t.intermediate_values
                       else None),
            'seconds': t.user_attrs.get('seconds'),
            'cpu_seconds': t.user_attrs.get('cpu_seconds'),
            'retry_of': t.user_attrs.get('retry_of'),
            'worker': t.user_attrs.get('worker'),
            'val': {str(k): v for k, v in
                    sorted(t.intermediate_values.items())}})
    best = _best(study)
    attrs = study.user_attrs
    return {
        'study': study.study_name,
        'storage': storage or f'sqlite:///{STORAGE_FILE} (in this folder)',
        'direction': 'maximize',
        'objective': f"best validation {attrs.get('monitor')} of a trial "
                     f"(test never read)",
        'monitor': attrs.get('monitor'),
        'sampler': _optuna_class(study.sampler),
        'pruner': type(study.pruner).__name__,
        'space': attrs.get('space'),
        'config': attrs.get('config'),
        'best': None if best is None else {
            'number': best.number, 'value': best.value, 'params': best.params,
            'run_dir': best.user_attrs.get('run_dir')},
        'counts': {state: sum(r['state'] == state for r in rows)
                   for state in BUDGET + (KILLED, SURPLUS, 'running',
                                          'queued')},
        'trials': rows,
    }


def _optuna_class(obj: Any) -> str:
    r"""The name of the Optuna class :obj:`obj` is or derives from."""
    return next((c.__name__ for c in type(obj).__mro__
                 if c.__module__.startswith('optuna')), type(obj).__name__)


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # No complete trial.
        return None


def markdown(info: Dict[str, Any]) -> str:
    r"""The :obj:`tune.md` of a :func:`summary`."""
    monitor = info['monitor']
    counts = ', '.join(f'{n} {s}' for s, n in info['counts'].items() if n)
    lines = [f"# Study `{info['study']}`", '',
             f"Objective: {info['objective']}, maximised; "
             f"{info['sampler']}, {info['pruner']}. Trials: "
             f"{counts or 'none'}.", '']
    best = info['best']
    if best is None:
        lines += ['No trial completed yet.', '']
    else:
        lines += [f"## Best: trial {best['number']}, val {monitor} "
                  f"{best['value']:.4f}", '',
                  f"Run directory: `{best['run_dir']}`", '',
                  '| setting | value |', '|---|---|']
        lines += [f'| `{k}` | {_fmt(v)} |' for k, v in best['params'].items()]
        lines.append('')
    keys = list(info['space'] or {})
    lines += ['## Trials', '',
              f"| trial | state | val {monitor} | " +
              ''.join(f'`{k}` | ' for k in keys) +
              'epochs | seconds | run |',
              '|' + '---|' * (6 + len(keys))]
    for r in info['trials']:
        value = '' if r['value'] is None else f"{r['value']:.4f}"
        lines.append(
            f"| {r['number']} | {r['state']} | {value} | " +
            ''.join(f"{_fmt(r['params'].get(k))} | " for k in keys) +
            f"{'' if r['epochs'] is None else r['epochs']} | "
            f"{'' if r['seconds'] is None else format(r['seconds'], '.1f')} "
            f"| {_run_cell(r)} |")
    failed = [r for r in info['trials'] if r.get('error')]
    for killed, title in ((False, 'Failed trials (their values do not '
                           'train; each counts against the budget):'),
                          (True, 'Stopped trials (an error not of their '
                           'values; each is run again, not counted):')):
        these = [r for r in failed if (r['state'] == 'killed') == killed]
        if these:
            lines += ['', title, '']
            lines += [f"- trial {r['number']}: {r['error']}" for r in these]
    url = info['storage'].split(' ')[0]
    lines += ['', f'Browse: `optuna-dashboard {url}`' + (
        ' (from this folder)' if url.endswith(f'///{STORAGE_FILE}') else '') +
        '; continue: `adar-pyg tune` again with the same folder and a '
        'larger `--trials`.', '']
    return '\n'.join(lines)


def _run_cell(row: Dict[str, Any]) -> str:
    r"""The run directory of a trial's row in :obj:`tune.md`."""
    if row.get('moved_to'):
        return f"moved to `{row['moved_to']}`"
    if row['run_dir'] is None:  # Not started yet:
        return '' if row.get('retry_of') is None else \
            f"(retries trial {row['retry_of']})"
    run = f"`{row['run_dir']}`"
    if row.get('continues'):
        run += f" (continues `{row['continues']}`)"
    return run


def _fmt(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return format(value, '.4g')
    return str(value)


def write_report(study: Any, out: str, storage: Optional[str] = None
                 ) -> Dict[str, Any]:
    r"""Writes :obj:`tune.json` and :obj:`tune.md` of :obj:`study` into
    :obj:`out` (atomically) and returns the summary (:obj:`storage`: its
    URL when not the folder's :obj:`study.db`)."""
    info = summary(study, storage)
    write_text(os.path.join(out, REPORT_JSON),
               json.dumps(info, indent=2) + '\n')
    write_text(os.path.join(out, REPORT_MD), markdown(info))
    return info


__all__ = ['tune', 'check', 'summary', 'write_report', 'trial_dir',
           'trial_line', 'print_trial', 'foreign_files', 'import_optuna']
