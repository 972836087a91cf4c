r"""The equal-budget protocol in one call: every arm (a base configuration
and named variants, see :mod:`~adar_pyg.tune.arms`) is tuned on validation
with the same number of trials over its own space, the best trial of each
arm is trained again over several seeds and tested once, and the arms are
compared on those test metrics with paired t-tests and a Holm correction.

The folder :obj:`OUT` holds:

* :obj:`ARM/study/` — the arm's study (:func:`~adar_pyg.tune.tune`:
  :obj:`study.db`, :obj:`trial-N/`, :obj:`tune.md`); no trial reads the
  test split;
* :obj:`ARM/seed-S/` — the run directory of the arm's best configuration
  with :obj:`run.seed` :obj:`S` (ordinary run directories, test metrics in
  :obj:`result.json`), and :obj:`ARM/seeds.json`, the CPU time of each;
* :obj:`compare.md`, :obj:`compare.json` — the test metrics of each arm
  (mean ± std over the seeds), the paired t-tests of every arm against the
  base and each control (Holm-corrected over the comparisons, per metric),
  the best settings and the budget each arm spent (trials, epochs trained,
  CPU seconds), written atomically;
* :obj:`compare.png` — the test metrics of each arm's seed runs;
* :obj:`sessions.json` — every call on the folder (command, start, wall
  and CPU seconds), written at the call's start and brought up to date at
  each of its trials and seed runs, so that a call stopped before its
  report (killed, the end of a working session) is counted up to its last
  one; the report lists them;
* :obj:`tuning-ARM.png` — the validation metric of each trial against each
  tuned setting.

**Protocol.** The seeds are :obj:`run.seed`, :obj:`run.seed + 1`, ...;
every trial and every seed run uses the split of :obj:`run.seed` (unless
:obj:`split.split_seed` is set), the one whose validation part chose the
configuration, so that the seeds vary the model's randomness and never put
a tuning interaction into a test split. The seed runs of the arms pair up
by seed.

**Continuing.** :func:`compare` again on the same folder reuses every
finished trial (each study continues, up to :obj:`trials`) and every
finished seed run of the arm's current best configuration; a seed run of
another configuration (the best trial changed with more trials) is
trained again, and an unfinished one (killed) continues from its last
evaluation."""
import json
import math
import os
import re
import time
from typing import (Any, Callable, Dict, List, Optional, Sequence,
                    Tuple, Union)

from adar_pyg import defaults
from adar_pyg.config import Config
from adar_pyg.errors import RunDirError, UsageError
from adar_pyg.io import ensure_writable, file_lock, write_text
from adar_pyg.report import METRICS, holm, mean_std, paired_ttest
from adar_pyg.tune import study as tune_study
from adar_pyg.tune.arms import Arms, load_arms, parse_arms

#: Files of a comparison folder.
REPORT_MD, REPORT_JSON, SEEDS_JSON = 'compare.md', 'compare.json', \
    'seeds.json'
#: The ledger of the calls on a comparison folder.
SESSIONS_JSON = 'sessions.json'
#: The plot of the arms' test metrics in a comparison folder.
REPORT_PNG = 'compare.png'


#: Entries of a comparison folder besides the report files (by pattern):
#: the tuning plots, and in each arm's folder its study, seed runs and
#: ledger.
TUNING_PNG = re.compile(r'tuning-.+\.png')
ARM_DIRS = re.compile(r'study|seed-\d+')


def foreign_files(out: str) -> List[str]:
    r"""The entries of the comparison folder :obj:`out` that are not a
    comparison's (see the module doc; what the studies and seed runs hold
    is checked by their own checks; a lock file aside), relative to it."""
    from adar_pyg.rundir import LOCK, is_own
    if not os.path.isdir(out):
        return []
    found = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if os.path.isdir(path):  # An arm's folder.
            found += [os.path.join(name, n) + (
                '/' if os.path.isdir(os.path.join(path, n)) else '')
                for n in sorted(os.listdir(path))
                if not (is_own(n, (LOCK, SEEDS_JSON)) or (
                    ARM_DIRS.fullmatch(n) and
                    os.path.isdir(os.path.join(path, n))))]
        elif not is_own(name, (LOCK, REPORT_MD, REPORT_JSON, REPORT_PNG,
                               SESSIONS_JSON), TUNING_PNG):
            found.append(name)
    return found


def check_folder(out: str, read: bool = False) -> None:
    r"""Raises a :class:`~adar_pyg.errors.RunDirError` if :obj:`out` is a
    file or holds files that are not a comparison's
    (:func:`foreign_files`), to write there (or, with :obj:`read`, to read
    it as a comparison), or ledgers that cannot be read (of the calls,
    :func:`read_sessions`; of each arm's seed runs, :func:`seed_ledger`)."""
    from adar_pyg.rundir import refuse_foreign
    refuse_foreign(out, foreign_files(out), 'a comparison', read=read)
    read_sessions(out)
    for name in sorted(os.listdir(out)) if os.path.isdir(out) else ():
        if os.path.isdir(os.path.join(out, name)):
            seed_ledger(out, name)


def check_studies(arms: Arms, trials: int, out: str,
                  prune: Any = True) -> None:
    r"""Every check of the arms' studies before any trains: those of
    :func:`~adar_pyg.tune.study.check` (the space, config and data, and
    that a study already in :obj:`out` has them and the pruner
    :obj:`prune`), and that none holds more trials than its budget of
    :obj:`trials` (:func:`arm_budget`): its best would be chosen among more
    trials than the others', and the arms not tuned at an equal budget."""
    optuna = tune_study.import_optuna()
    for arm in arms.arms:
        folder = study_dir(out, arm.name)
        tune_study.check(arm.config, arm.space, trials, folder, prune=prune)
        study = tune_study.load_existing(optuna, folder)
        if study is None:
            continue
        held = tune_study.finished(tune_study.summary(study))
        budget = arm_budget(arm, trials)
        if held > budget:
            raise UsageError(
                f"arm '{arm.name}' holds {held} finished trials, more than "
                f"its budget of {budget} (--trials {trials}): the arms "
                f"would not be tuned at an equal budget",
                hint=f'continue the comparison with --trials {held} or '
                'more, or start another in a new folder')


def study_dir(out: str, arm: str) -> str:
    r"""The study folder of :obj:`arm`."""
    return os.path.join(out, arm, 'study')


def seed_dir(out: str, arm: str, seed: int) -> str:
    r"""The run directory of :obj:`arm`'s best configuration with seed
    :obj:`seed`."""
    return os.path.join(out, arm, f'seed-{seed}')


def compare(config: Config, arms: Union[Arms, Dict[str, Any], str,
                                        os.PathLike],
            trials: int, seeds: int = defaults.SEEDS,
            out: Union[str, os.PathLike] = '',
            *, controls: Optional[Sequence[str]] = None,
            prune: Union[bool, str, Any] = True, plot: bool = True,
            progress: bool = False,
            log: Optional[Callable[[str], None]] = None,
            workers: int = defaults.WORKERS,
            command: Optional[str] = None):
    r"""Tunes every arm with :obj:`trials` trials, trains the best trial of
    each over :obj:`seeds` seeds, tests each once, and returns the table of
    the comparison (a :class:`pandas.DataFrame`, one row per arm); see the
    module doc for the protocol and the folder.

    Args:
        config (Config): The base config of every arm (it must select on a
            validation split and run in one process, as for
            :func:`~adar_pyg.tune.tune`).
        arms (Arms, dict or str): The arms file, or its content (see
            :mod:`~adar_pyg.tune.arms`).
        trials (int): Trials of each arm's study (the equal budget).
        seeds (int, optional): Seed runs of each arm's best configuration:
            seeds :obj:`config.run.seed` to :obj:`config.run.seed + seeds -
            1`. (default: :obj:`5`)
        out (str): The comparison folder.
        controls (list of str, optional): Arms every other arm is also
            tested against (added to the file's :obj:`controls`).
        prune (bool, str or optuna pruner, optional): The pruner of each
            study (see :func:`~adar_pyg.tune.tune`). (default: :obj:`True`)
        plot (bool, optional): Draw the :obj:`curves.png` of each trial and
            seed run (each arm's :obj:`tuning-ARM.png` is always drawn).
            (default: :obj:`True`)
        progress (bool, optional): tqdm bars of each training.
        log (callable, optional): Receives one line per finished trial and
            seed run (with :obj:`workers`, in each worker process its own
            trials' lines where :obj:`log` can be pickled, as :func:`print`;
            else the trials of this process only).
        workers (int, optional): Processes sharing each arm's trials (see
            :func:`~adar_pyg.tune.tune`) and then its seed runs (one seed
            run per process at a time). (default: :obj:`1`)
        command (str, optional): The command that ran this call, recorded
            in the report with its wall and CPU seconds (its own and its
            worker processes'), after those of the earlier calls on the
            folder (the :obj:`sessions` of :obj:`compare.json`).
            (default: :obj:`None`: recorded as :obj:`'python'`)

    The DataFrame is indexed by arm; its columns: :obj:`seeds` (seed runs),
    the mean and :obj:`<metric>_std` of each test metric, for each
    reference arm :obj:`<metric>_p_vs_<ref>` and
    :obj:`<metric>_holm_vs_<ref>`, :obj:`best_trial`,
    :obj:`best_val` (the best trial's validation :obj:`train.monitor`),
    and the budget: :obj:`trials`, :obj:`epochs`, :obj:`cpu_seconds`.

    Everything is checked before the first training (the arms, each arm's
    space and config, the data, each study already in the folder), and a
    refused comparison writes nothing.
    """
    import pandas as pd

    out = os.fspath(out)
    if not out:
        raise UsageError('compare needs an output folder (out)')
    for name, value in (('trials', trials), ('seeds', seeds),
                        ('workers', workers)):
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < 1:
            raise UsageError(f'{name} must be a positive integer (got '
                             f'{value!r})')
    config, arms = resolve_arms(config, arms, controls)
    check_folder(out)
    check_studies(arms, trials, out, prune)
    ensure_writable(out, is_dir=True)

    session = Sessions(out, command)

    def say(line: str) -> None:  # (a trial or seed run finished)
        session.update()
        if log is not None:
            log(line)

    optuna = tune_study.import_optuna()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # Ours instead.
    try:
        result = _run(config, arms, trials, seeds, out, prune, plot,
                      progress, say, workers, session, log)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return pd.DataFrame(table(result)).set_index('arm')


class TrialSaid:
    r"""The :obj:`on_trial` of an arm's study in :func:`compare`: the
    trial's line to :obj:`log` (if any), prefixed by the arm, after the
    :class:`Sessions` ledger is brought up to date. It goes to the workers
    too (where :obj:`log` can be pickled, as :func:`print`), which say
    their trials' lines but leave the ledger to the calling process.

    Args:
        arm (str): The arm's name.
        monitor (str): The validation metric of the lines.
        log (callable, optional): Receives each line. (default: :obj:`None`)
        session (Sessions, optional): The call's ledger entry (of the
            calling process only). (default: :obj:`None`)
    """
    def __init__(self, arm: str, monitor: str,
                 log: Optional[Callable[[str], None]] = None,
                 session: Optional['Sessions'] = None) -> None:
        self.arm, self.monitor, self.log = arm, monitor, log
        self.session = session

    def __call__(self, row: Dict[str, Any]) -> None:
        if self.session is not None:
            self.session.update()
        if self.log is not None:
            self.log(f'{self.arm}: ' + tune_study.trial_line(row,
                                                             self.monitor))

    def __reduce__(self) -> Any:  # (to a worker: without the ledger)
        return TrialSaid, (self.arm, self.monitor, self.log)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.arm!r})'


def _run(config: Config, arms: Arms, trials: int, seeds: int, out: str,
         prune: Any, plot: bool, progress: bool,
         say: Callable[[str], None], workers: int,
         session: 'Sessions', log: Optional[Callable[[str], None]]
         ) -> Dict[str, Any]:
    r"""The trainings and the report of :func:`compare`, once checked."""

    def quiet(line: str) -> None:  # The epoch lines of the trainings.
        pass

    monitor = config.train.monitor
    seed_list = [config.run.seed + i for i in range(seeds)]
    shared: Dict[str, Any] = {}
    info: Dict[str, Any] = {}
    for arm in arms.arms:
        study = tune_study.tune(
            arm.config, arm.space, trials, study_dir(out, arm.name),
            prune=prune, progress=progress, log=quiet, plot=plot,
            workers=workers, on_trial=TrialSaid(arm.name, monitor, log,
                                                session))
        summary = tune_study.summary(study)
        running = [t['number'] for t in summary['trials']
                   if t['state'] == 'running']
        if running:  # Its best is not known yet: no seed run, no report.
            raise UsageError(
                f"arm '{arm.name}': "
                f"{tune_study.trials_were(running, past=False)} still "
                f"running, in another process or killed under "
                f"{tune_study.STALE_SECONDS:.0f} s ago (before its run "
                f"directory or its result was recorded), so the arm's best "
                f"trial is not known yet",
                hint=f'run the command again when it has finished (a '
                f'killed trial is run again from '
                f'{tune_study.STALE_SECONDS:.0f} s after its kill)')
        best = summary['best']
        if best is None:
            raise UsageError(
                f"arm '{arm.name}': none of its {arm_budget(arm, trials)} "
                f"trials completed ({_counts(summary)}), so it has no "
                f"configuration to test",
                hint=f'see {study_dir(out, arm.name)}/tune.md; more '
                '--trials, or another space')
        best_cfg = best_config(arm, best)
        runs = _seed_runs(arm.name, best_cfg, best['number'], seed_list, out,
                          shared, plot, progress, say, workers)
        from adar_pyg.plot import plot_tuning
        plot_tuning(summary['trials'], summary['space'] or {}, monitor,
                    os.path.join(out, f'tuning-{arm.name}.png'),
                    title=arm.name)
        info[arm.name] = {**arm.to_dict(), 'best': {
            **best, 'run_dir': os.path.join(arm.name, 'study',
                                            best['run_dir'])},
            'counts': summary['counts'], **runs,
            'budget': _budget(summary, runs),
            'trials_budget': arm_budget(arm, trials),
            'tuning_plot': f'tuning-{arm.name}.png'}
    result = _result(config, arms, trials, seed_list, info)
    result['sessions'] = session.update(finished=True)
    write_text(os.path.join(out, REPORT_JSON),
               json.dumps(result, indent=2) + '\n')
    plot_result(result, os.path.join(out, REPORT_PNG))
    write_text(os.path.join(out, REPORT_MD), markdown(result))
    return result


def _cpu_seconds() -> float:
    r"""CPU seconds of this process and of its finished child processes."""
    import resource
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Sessions:
    r"""This call's entry in the ledger of the calls on the comparison
    folder :obj:`out` (:obj:`sessions.json`): the command, its start (UTC),
    its wall seconds and the CPU seconds of this process and of its finished
    worker processes, and whether it wrote its report (:obj:`finished`);
    :obj:`call` tells apart two calls of one process started in one second.
    The entry is written at once and brought up to date by :meth:`update`
    (after each trial and seed run), so that a call stopped before its
    report still counts, up to its last update. The ledger is read again at
    each update, under the folder's lock (:func:`ledger_lock`), so that
    calls running at once on the folder keep each other's entries; a folder
    written before the ledger existed starts it with the :obj:`sessions` of
    its :obj:`compare.json`."""

    def __init__(self, out: str, command: Optional[str]) -> None:
        import datetime
        import uuid
        self.path = os.path.join(out, SESSIONS_JSON)
        self.out = out
        self.key = {'command': command or 'python',
                    'started': datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec='seconds'), 'pid': os.getpid(),
                    # Two calls of one process may start in one second:
                    'call': uuid.uuid4().hex[:12]}
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        self.update()

    def update(self, finished: bool = False) -> List[Dict[str, Any]]:
        r"""Writes this call's entry as it stands; returns the ledger."""
        entry = {**self.key,
                 'wall_seconds': round(time.perf_counter() - self._wall, 1),
                 'cpu_seconds': round(_cpu_seconds() - self._cpu, 1),
                 'finished': finished}
        same = list(self.key)
        with ledger_lock(self.out):
            ledger = [s for s in read_sessions(self.out) if
                      [s.get(k) for k in same] != [entry[k] for k in same]]
            ledger = sorted(ledger + [entry],
                            key=lambda s: str(s.get('started')))
            write_text(self.path, json.dumps(ledger, indent=2) + '\n')
        return ledger


def ledger_lock(out: str):
    r"""The lock of the ledgers of the comparison folder :obj:`out`
    (:obj:`sessions.json`, each arm's :obj:`seeds.json`), held while one is
    read and written again (:func:`~adar_pyg.io.file_lock`)."""
    from adar_pyg.rundir import LOCK
    return file_lock(os.path.join(out, LOCK))


def read_ledger(path: str, kind: type, lost: str) -> Any:
    r"""The JSON document of the ledger file :obj:`path`, of type
    :obj:`kind`, or :obj:`None` if it is missing; one that cannot be read,
    or of another type, raises a :class:`~adar_pyg.errors.RunDirError`
    (rather than being written again without what it held: :obj:`lost`)."""
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        doc = e
    if not isinstance(doc, kind):
        why = (doc if isinstance(doc, Exception) else
               f'not a JSON {"list" if kind is list else "mapping"}')
        raise RunDirError(f"cannot read the ledger '{path}' ({why})",
                          hint=f'restore it, or delete it to go on without '
                          f'{lost}')
    return doc


def read_sessions(out: str) -> List[Dict[str, Any]]:
    r"""The ledger of the calls on the comparison folder :obj:`out`
    (:class:`Sessions`), in order of their start: :obj:`sessions.json`,
    else the :obj:`sessions` of its :obj:`compare.json` (a folder of an
    older version); none where both are missing. A file that exists but
    cannot be read raises a :class:`~adar_pyg.errors.RunDirError`."""
    lost = 'the calls it records (their budget is kept in the runs)'
    sessions = read_ledger(os.path.join(out, SESSIONS_JSON), list, lost)
    if sessions is None:
        report = read_ledger(os.path.join(out, REPORT_JSON), dict, lost)
        sessions = (report or {}).get('sessions') or []
    return sorted((s for s in sessions if isinstance(s, dict)),
                  key=lambda s: str(s.get('started')))


def plot_result(result: Dict[str, Any], path: str) -> None:
    r"""The test metrics of each arm of a :func:`compare` result (its
    :obj:`compare.json`): the seed runs as dots, the mean ± std beside them
    (:func:`~adar_pyg.plot.plot_comparison`), Recall@20 and NDCG@20 (else
    the first two metrics every seed run measured)."""
    from adar_pyg.plot import plot_comparison
    groups = {name: [{'test': t} for t in a['test'].values()]
              for name, a in result['arms'].items()}
    metrics = [m for m in ('recall@20', 'ndcg@20') if m in result['metrics']]
    metrics = metrics or result['metrics'][:2]
    if metrics:  # (every arm's seed runs measured them)
        plot_comparison(groups, path, metrics=metrics)


def resolve_arms(config: Config, arms: Union[Arms, Dict[str, Any], str,
                                            os.PathLike],
                 controls: Optional[Sequence[str]] = None
                 ) -> Tuple[Config, Arms]:
    r"""The comparison's config (its split pinned, :func:`pinned_split`)
    and its parsed arms (a file, or its content), checked."""
    if not isinstance(config, Config):
        raise UsageError(f'config must be an adar_pyg.config.Config (got '
                         f'{type(config).__name__})')
    config = pinned_split(config)
    if isinstance(arms, (str, os.PathLike)):
        return config, load_arms(arms, config, controls)
    return config, parse_arms(arms, config, controls=controls)


def arm_budget(arm: Any, trials: int) -> int:
    r"""The trials :obj:`arm`'s study runs of :obj:`trials`: a grid (every
    tuned setting a :obj:`choices`) runs each point once, so at most its
    size."""
    if arm.space.is_grid:
        return min(trials, arm.space.grid_size())
    return trials


def best_config(arm: Any, best: Dict[str, Any]) -> Config:
    r"""The configuration of :obj:`arm`'s best trial (a row of
    :func:`~adar_pyg.tune.study.summary`)."""
    return Config.build(arm.config.to_dict(), arm.space.layer(best['params']))


def seed_config(cfg: Config, seed: int) -> Config:
    r"""The seed run of the configuration :obj:`cfg` with :obj:`seed`."""
    return Config.build(cfg.to_dict(), {'run': {'seed': seed}})


def seed_state(folder: str, cfg: Config) -> str:
    r"""What the seed run folder :obj:`folder` holds for the seed run
    :obj:`cfg`: :obj:`'finished'` (its run, reused), :obj:`'unfinished'`
    (its run, killed: continued), :obj:`'outdated'` (a finished run of
    another configuration: the best trial changed) or :obj:`'new'`
    (nothing, or an unfinished run of another configuration)."""
    from adar_pyg.fingerprint import computed
    from adar_pyg.rundir import CONFIG, is_finished
    def key(config: Config) -> Any:  # (where it runs and where its data
        return tune_study.as_json(  # lie aside, as for the study)
            computed(config.resolved().to_dict()))

    saved = os.path.join(folder, CONFIG)
    same = os.path.isfile(saved) and key(Config.load(saved)) == key(cfg)
    if is_finished(folder):
        return 'finished' if same else 'outdated'
    return 'unfinished' if same else 'new'


def pinned_split(config: Config) -> Config:
    r""":obj:`config` with :obj:`split.split_seed` set to the seed it
    splits with (:obj:`run.seed` unless set): the split stays that of the
    tuning when the seed runs change :obj:`run.seed`."""
    if config.split.split_seed is not None:
        return config
    return Config.build(config.to_dict(),
                        {'split': {'split_seed': config.run.seed}})


#: What :func:`compare` does with a seed run, by its :func:`seed_state`.
SEED_HOW = {'finished': 'reused',
            'outdated': 'trained again (its best trial changed)',
            'unfinished': 'continued from its last evaluation',
            'new': 'trained'}


def _seed_runs(name: str, cfg: Config, trial: int, seeds: List[int],
               out: str, shared: Dict[str, Any], plot: bool, progress: bool,
               say: Callable[[str], None],
               workers: int = defaults.WORKERS
               ) -> Dict[str, Any]:
    r"""Trains (or reuses) the seed runs of one arm's best configuration
    :obj:`cfg` (of trial :obj:`trial`), in :obj:`workers` processes at a
    time (spawned ones, each loading the data, when > 1); returns their
    folders, test metrics, epochs and CPU seconds, by seed."""
    from adar_pyg.pipeline import load_data
    from adar_pyg.rundir import read_result
    runs: Dict[str, Any] = {'runs': {}, 'test': {}, 'epochs': {},
                            'cpu_seconds': {}}
    how: Dict[int, str] = {}
    todo: Dict[int, Config] = {}  # The seed runs to train.
    resume: Dict[int, bool] = {}  # (an unfinished one of this config)
    for seed in seeds:
        cfg_s = seed_config(cfg, seed)
        state = seed_state(seed_dir(out, name, seed), cfg_s)
        how[seed] = SEED_HOW[state]
        if state != 'finished':
            resume[seed] = state == 'unfinished'  # Killed: continued.
            todo[seed] = cfg_s

    results: Dict[int, Dict[str, Any]] = {}  # (each read once, when told)

    def said(seed: int) -> None:  # (its line, and the session's update)
        result = results[seed] = read_result(seed_dir(out, name, seed))
        shown = ', '.join(f'{m} {v:.4f}' for m, v in result['test'].items()
                          if m in METRICS)
        say(f'{name}: seed {seed} (trial {trial}): {how[seed]}; test '
            f'{shown}')

    def trained(seed: int, seconds: Dict[str, Any]) -> None:
        if resume[seed] and not seconds['continued']:
            how[seed] = 'trained afresh (it could not be continued)'
        with ledger_lock(out):  # Another call may have written meanwhile.
            ledger = seed_ledger(out, name)
            ledger[str(seed)] = {'trial': trial, **seconds}
            write_text(os.path.join(out, name, SEEDS_JSON),
                       json.dumps(ledger, indent=2) + '\n')
        said(seed)  # As it finishes, so that a stopped call counts it.

    for seed in seeds:
        if seed not in todo:
            said(seed)

    if workers > 1 and len(todo) > 1:  # One seed run per process at a time:
        from concurrent.futures import as_completed

        from adar_pyg.tune.pool import in_pool, spawn_pool
        with spawn_pool(min(workers, len(todo))) as pool:
            futures = {pool.submit(in_pool, _train_seed, c.to_dict(),
                                   seed_dir(out, name, seed), plot,
                                   resume=resume[seed]): seed
                       for seed, c in todo.items()}
            try:
                for future in as_completed(futures):
                    trained(futures[future], future.result())
            except BaseException:  # The seed runs not started: none; those
                pool.shutdown(cancel_futures=True)  # running end, and each
                for future, seed in futures.items():  # finished one counts.
                    if seed not in results and not future.cancelled() and \
                            future.exception() is None:
                        trained(seed, future.result())
                raise
    else:
        for seed, cfg_s in todo.items():
            if 'data' not in shared:  # Every seed run has the same split.
                shared['data'] = load_data(cfg_s.resolved())
            trained(seed, _train_seed(cfg_s, seed_dir(out, name, seed), plot,
                                      data=shared['data'], progress=progress,
                                      resume=resume[seed]))
    ledger = seed_ledger(out, name)
    for seed in seeds:
        result = results[seed]
        key = str(seed)
        runs['runs'][key] = os.path.join(name, f'seed-{seed}')
        runs['test'][key] = result['test']
        runs['epochs'][key] = result['epochs_run']
        runs['cpu_seconds'][key] = (ledger.get(key) or {}).get('cpu_seconds')
    return runs


def _train_seed(cfg: Union[Config, Dict[str, Any]], folder: str, plot: bool,
                data: Any = None, progress: bool = False,
                resume: bool = False) -> Dict[str, float]:
    r"""Trains the seed run :obj:`cfg` (a config or its dict, from another
    process) in :obj:`folder`: continues the interrupted run there
    (:obj:`resume`: of this config, killed) from its last evaluation (or
    trains it afresh if its checks fail), or replaces an outdated one;
    returns its CPU and wall seconds (of this call: a continued run's
    are those after the kill) and whether it :obj:`continued`."""
    from adar_pyg import run
    if not isinstance(cfg, Config):
        cfg = Config.build(cfg)
    from adar_pyg.errors import RunDirError
    from adar_pyg.io import CorruptFileError
    t0, c0 = time.perf_counter(), time.process_time()
    train = dict(data=data, progress=progress, log=lambda line: None,
                 plot=plot)
    try:
        run.train(cfg, folder, resume=resume,
                  overwrite=not resume and os.path.exists(folder), **train)
    except (RunDirError, CorruptFileError):
        if not resume:
            raise
        resume = False  # Its checks failed (the data changed, say):
        run.train(cfg, folder, overwrite=True, **train)
    return {'cpu_seconds': time.process_time() - c0,
            'seconds': time.perf_counter() - t0, 'continued': resume}


def _budget(summary: Dict[str, Any], runs: Dict[str, Any]
            ) -> Dict[str, Any]:
    r"""What an arm spent: finished trials, epochs trained and CPU seconds
    (:obj:`None` where not recorded), tuning and seed runs. A killed
    trial's CPU seconds count where it recorded them (stopped by Ctrl-C or
    an error), and are left out where its process died before it could (a
    signal); it is counted in :obj:`killed`; its epochs
    count when its retry trained them again, not when the retry continued
    its run (the retry's epochs hold them)."""
    rows = [t for t in summary['trials']
            if t['state'] not in ('running', 'surplus', 'queued')]
    tuning_epochs = sum(t['epochs_run'] or t['epochs'] or 0 for t in rows
                        if not t.get('moved_to'))
    cpu = [t['cpu_seconds'] for t in rows
           if t['state'] != 'killed' or t['cpu_seconds'] is not None]
    seed_cpu = list(runs['cpu_seconds'].values())
    tuning_cpu = None if None in cpu else sum(cpu)
    seeds_cpu = None if None in seed_cpu else sum(seed_cpu)
    return {
        'trials': tune_study.finished(summary),
        'killed': summary['counts']['killed'],
        'tuning_epochs': tuning_epochs,
        'seed_epochs': sum(runs['epochs'].values()),
        'epochs': tuning_epochs + sum(runs['epochs'].values()),
        'tuning_cpu_seconds': tuning_cpu,
        'seed_cpu_seconds': seeds_cpu,
        'cpu_seconds': (None if tuning_cpu is None or seeds_cpu is None
                        else tuning_cpu + seeds_cpu),
    }


def _result(config: Config, arms: Arms, trials: int, seeds: List[int],
            info: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    r"""The JSON-able comparison: per arm its best trial, seed runs,
    means and budget; the paired tests, Holm-corrected per metric."""
    metrics = [m for m in METRICS
               if all(m in t for a in info.values()
                      for t in a['test'].values())]
    for a in info.values():
        a['mean'], a['std'] = {}, {}
        for m in metrics:
            a['mean'][m], a['std'][m] = mean_std(
                [t[m] for t in a['test'].values()])
    tests = []
    for name, ref in arms.comparisons():
        common = [s for s in map(str, seeds)
                  if s in info[name]['test'] and s in info[ref]['test']]
        row: Dict[str, Any] = {'arm': name, 'against': ref,
                               'seeds': [int(s) for s in common],
                               'metrics': {}}
        for m in metrics if common else ():
            a = [info[ref]['test'][s][m] for s in common]
            b = [info[name]['test'][s][m] for s in common]
            mean_a = sum(a) / len(a)
            row['metrics'][m] = {
                'diff': sum(b) / len(b) - mean_a,
                'relimp': sum(b) / len(b) / mean_a - 1 if mean_a > 0
                else math.nan,
                'p': paired_ttest(a, b)}
        tests.append(row)
    for m in metrics:  # One family per metric: all the comparisons.
        tested = [r for r in tests if m in r['metrics']]
        for row, q in zip(tested, holm([r['metrics'][m]['p']
                                        for r in tested])):
            row['metrics'][m]['p_holm'] = q
    grids = [f'{a.name} {arm_budget(a, trials)}' for a in arms.arms
             if arm_budget(a, trials) < trials]
    capped = (f" (a grid runs each point once: {', '.join(grids)})"
              if grids else '')
    return {
        'monitor': config.train.monitor,
        'protocol': (f'each arm tuned with {trials} trials{capped} on '
                     f'validation '
                     f'{config.train.monitor} (test never read), its best '
                     f'trial trained again with seeds '
                     f"{', '.join(map(str, seeds))} and tested once (split "
                     f'seed {config.split.split_seed} for all); two-sided '
                     f'paired t-tests over the seeds, Holm-corrected over '
                     f'the {len(tests)} comparisons of each metric'),
        'trials': trials, 'seeds': seeds, 'base': arms.base,
        'controls': list(arms.controls), 'metrics': metrics,
        'config': config.to_dict(), 'arms': info, 'comparisons': tests,
    }


def table(result: Dict[str, Any]) -> List[Dict[str, Any]]:
    r"""One row per arm of :obj:`compare.json` (the columns of the
    DataFrame :func:`compare` returns)."""
    rows = []
    refs = list(dict.fromkeys(t['against'] for t in result['comparisons']))
    for name, a in result['arms'].items():
        row: Dict[str, Any] = {'arm': name, 'seeds': len(a['test'])}
        for m in result['metrics']:
            row[m], row[f'{m}_std'] = a['mean'][m], a['std'][m]
        for ref in refs:  # NaN where the arm is not tested against ref.
            for m in result['metrics']:
                row[f'{m}_p_vs_{ref}'] = row[f'{m}_holm_vs_{ref}'] = math.nan
        for t in result['comparisons']:
            if t['arm'] == name:
                for m in result['metrics']:
                    row[f"{m}_p_vs_{t['against']}"] = t['metrics'][m]['p']
                    row[f"{m}_holm_vs_{t['against']}"] = \
                        t['metrics'][m]['p_holm']
        row.update(best_trial=a['best']['number'],
                   best_val=a['best']['value'], trials=a['budget']['trials'],
                   epochs=a['budget']['epochs'],
                   cpu_seconds=a['budget']['cpu_seconds'])
        rows.append(row)
    return rows


def markdown(result: Dict[str, Any]) -> str:
    r"""The :obj:`compare.md` of a :func:`compare` result."""
    metrics, monitor = result['metrics'], result['monitor']
    arms = result['arms']
    lines = [f"# {len(arms)} arms at equal budget", '',
             f"Protocol: {result['protocol']}. Base: `{result['base']}`" +
             (f"; controls: {', '.join(f'`{c}`' for c in result['controls'])}"
              if result['controls'] else '') + '.', '',
             f"## Test metrics (%, mean ± std over "
             f"{len(result['seeds'])} seeds)", '',
             '| arm | seeds | ' + ' | '.join(metrics) +
             f' | best trial | val {monitor} |',
             '|' + '---|' * (4 + len(metrics))]
    for name, a in arms.items():
        lines.append(
            f"| {name} | {len(a['test'])} | " + ' | '.join(
                f"{100 * a['mean'][m]:.2f} ± {100 * a['std'][m]:.2f}"
                for m in metrics) +
            f" | {a['best']['number']} | {a['best']['value']:.4f} |")
    lines += ['', f'![test metrics of each seed run]({REPORT_PNG})']
    lines += ['', '## Paired t-tests', '',
              'p (Holm-corrected p) of each arm against its reference, on '
              'the seeds both have; Δ: difference of the means, in points.',
              '', '| arm | against | pairs | ' + ' | '.join(
                  f'Δ {m} | p {m}' for m in metrics) + ' |',
              '|' + '---|' * (3 + 2 * len(metrics))]
    for t in result['comparisons']:
        cells = []
        for m in metrics:
            c = t['metrics'][m]
            cells += [f"{100 * c['diff']:+.2f}",
                      f"{_p(c['p'])} ({_p(c['p_holm'])})"]
        lines.append(f"| {t['arm']} | {t['against']} | {len(t['seeds'])} | "
                     + ' | '.join(cells) + ' |')
    lines += ['', '## Budget', '',
              'Trials (complete / pruned / failed), epochs trained and CPU '
              'seconds of the tuning and of the seed runs.', '',
              '| arm | trials | tuning epochs | seed-run epochs | tuning CPU '
              's | seed-run CPU s | total CPU s |', '|' + '---|' * 7]
    for name, a in arms.items():
        b, c = a['budget'], a['counts']
        lines.append(
            f"| {name} | {b['trials']} ({c['complete']} / {c['pruned']} / "
            f"{c['fail']}) | {b['tuning_epochs']} | {b['seed_epochs']} | "
            f"{_s(b['tuning_cpu_seconds'])} | {_s(b['seed_cpu_seconds'])} | "
            f"{_s(b['cpu_seconds'])} |")
    killed = {name: a['budget'].get('killed') for name, a in arms.items()
              if a['budget'].get('killed')}
    if killed:
        lines += ['', 'Killed trials (run again, not counted in the trials): '
                  + ', '.join(f'{name} {n}' for name, n in killed.items()) +
                  '. Their CPU seconds before the kill count where they '
                  'were recorded (a trial stopped by Ctrl-C or an error) and '
                  'are left out where not (killed by a signal); their epochs '
                  'count once where the retry '
                  'continued the run, twice where it trained it again.']
    lines += ['', '## Best settings', '']
    for name, a in arms.items():
        chosen = ', '.join(f'`{k}` {_v(v)}'
                           for k, v in a['best']['params'].items())
        fixed = ', '.join(f'`{k}` {_v(v)}' for k, v in a['set'].items())
        lines.append(f"- **{name}** (trial {a['best']['number']}, "
                     f"`{a['best']['run_dir']}`): {chosen}" +
                     (f'; set: {fixed}' if fixed else ''))
    lines += ['', '## Tuning curves', '',
              f'Validation {monitor} of each trial against each tuned '
              'setting.', '']
    lines += [f"![{n}]({a['tuning_plot']})" for n, a in arms.items()]
    lines += ['', 'Runs: `ARM/seed-S/` (test metrics in `result.json`); '
              'studies: `ARM/study/` (browse one with `optuna-dashboard '
              'sqlite:///ARM/study/study.db`, from this folder).', '']
    sessions = result.get('sessions') or []
    if sessions:
        lines += ['## Commands', '',
                  'Each call on this folder, in order (wall and CPU seconds '
                  'of the call, its worker processes included; a later call '
                  'reuses every finished trial and seed run; a call stopped '
                  'before its report, *stopped*, up to its last finished '
                  'trial or seed run).', '',
                  '| command | started (UTC) | wall | CPU s |', '|---|---|---|---|']
        lines += [f"| `{s.get('command')}` | {s.get('started')} | "
                  f"{_hms(s.get('wall_seconds'))}"
                  f"{'' if s.get('finished', True) else ' *stopped*'} | "
                  f"{_s(s.get('cpu_seconds'))} |" for s in sessions]
        lines.append('')
    return '\n'.join(lines)


def _hms(seconds: Optional[float]) -> str:
    r"""Seconds as :obj:`h:mm:ss`."""
    if not isinstance(seconds, (int, float)):
        return ''
    s = int(round(seconds))
    return f'{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}'


def _p(p: float) -> str:
    return '' if p is None or math.isnan(p) else f'{p:.3g}'


def _s(seconds: Optional[float]) -> str:
    return '?' if seconds is None else f'{seconds:.1f}'


def _v(value: Any) -> str:
    return format(value, '.4g') if isinstance(value, float) else str(value)


def _counts(summary: Dict[str, Any]) -> str:
    return ', '.join(f'{n} {s}' for s, n in summary['counts'].items() if n)


def seed_ledger(out: str, arm: str) -> Dict[str, Any]:
    r"""The :obj:`ARM/seeds.json` of :obj:`arm` (seed -> the trial of its
    run, its CPU and wall seconds); empty if missing. One that cannot be
    read raises a :class:`~adar_pyg.errors.RunDirError`."""
    return read_ledger(os.path.join(out, arm, SEEDS_JSON), dict,
                       'the CPU seconds of its seed runs') or {}


__all__ = ['compare', 'study_dir', 'seed_dir', 'seed_ledger', 'seed_state',
           'best_config', 'seed_config', 'resolve_arms', 'pinned_split',
           'table', 'markdown', 'plot_result']
