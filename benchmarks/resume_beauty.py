r"""Exact resume after ``kill -9`` on Beauty: LightGCN for ``--epochs`` epochs
uninterrupted, against the same run killed with SIGKILL once its
``metrics.jsonl`` holds ``--kill-after`` records and continued with
``adar-pyg resume``.

    python benchmarks/resume_beauty.py --threads 1 --json benchmarks/results/resume_beauty.json

Any setting flag of ``adar-pyg train`` applies (defaults here: Beauty,
LightGCN, 6 epochs, CPU). Both runs are ``adar-pyg train`` subprocesses on
the same ``config.yaml``. Compared:
every record of ``metrics.jsonl`` and every field of ``result.json`` but
the timings (``seconds`` of a record, ``seconds_per_epoch``,
``seconds_per_eval``, ``seconds_load``). Resume continues from the latest
evaluation written to ``checkpoints/last.pt`` (here: every epoch), so the
epoch that was running at the kill is run again.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMINGS = {'seconds_per_epoch', 'seconds_per_eval', 'seconds_load'}


def command(*args: str) -> List[str]:
    return [sys.executable, '-m', 'adar_pyg', *args]


def records(out: str) -> List[Dict[str, Any]]:
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f]


def untimed(out: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    metrics = [{k: v for k, v in r.items() if k != 'seconds'}
               for r in records(out)]
    with open(os.path.join(out, 'result.json')) as f:
        result = json.load(f)
    result = {k: v for k, v in result.items() if k not in TIMINGS}
    result['history'] = [{k: v for k, v in r.items() if k != 'seconds'}
                         for r in result['history']]
    return metrics, result


def main(argv: Optional[List[str]] = None) -> None:
    from adar_pyg.config import (ConfigError, add_config_args,
                                 config_from_args, parse_args)
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    add_config_args(parser, config_file=False)
    parser.add_argument('--kill-after', type=int, default=3,
                        help='evaluations in metrics.jsonl before the kill')
    parser.add_argument('--work', default=None, metavar='DIR',
                        help='folder of the two run directories (default: a '
                        'temporary one, removed at the end)')
    parser.add_argument('--json', metavar='PATH', default=None)
    args = parse_args(parser, argv)
    try:
        cfg = config_from_args(args, {
            'data': {'dataset': 'beauty'}, 'model': {'model': 'lightgcn'},
            'train': {'epochs': 6}, 'run': {'threads': 1, 'device': 'cpu'}
        }).resolved()
    except ConfigError as e:
        parser.exit(2, f'error: {e}\n')
    epochs, threads = cfg.train.epochs, cfg.run.threads
    if not 0 < args.kill_after < epochs // cfg.train.eval_every:
        parser.error('need 0 < --kill-after < the number of evaluations')

    work = args.work or tempfile.mkdtemp(prefix='resume-beauty-')
    os.makedirs(work, exist_ok=True)
    config = os.path.join(work, 'config.yaml')
    cfg.save(config)
    flags = ['--config', config, '--no-progress']
    env = {**os.environ, 'PYTHONPATH': ROOT,
           'OMP_NUM_THREADS': str(threads or 1)}
    full, killed = os.path.join(work, 'full'), os.path.join(work, 'killed')
    seconds = {}

    t0 = time.perf_counter()
    subprocess.run(command('train', *flags, '--out', full, '--overwrite'),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    seconds['uninterrupted'] = time.perf_counter() - t0
    print(f"uninterrupted: {seconds['uninterrupted']:.0f} s", flush=True)

    t0 = time.perf_counter()
    proc = subprocess.Popen(command('train', *flags, '--out', killed,
                                    '--overwrite'), env=env,
                            stdout=subprocess.DEVNULL)
    metrics = os.path.join(killed, 'metrics.jsonl')
    while proc.poll() is None:
        if os.path.exists(metrics) and len(records(killed)) >= \
                args.kill_after:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        raise SystemExit('the run ended before it could be killed')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    seconds['killed_run'] = time.perf_counter() - t0
    at_kill = len(records(killed))
    from adar_pyg.train import load_checkpoint
    last_epoch = load_checkpoint(os.path.join(
        killed, 'checkpoints', 'last.pt'))['epoch']
    print(f'killed (SIGKILL) with {at_kill} records in metrics.jsonl, '
          f'last.pt at epoch {last_epoch}', flush=True)

    t0 = time.perf_counter()
    subprocess.run(command('resume', killed, '--no-progress'), env=env,
                   check=True, stdout=subprocess.DEVNULL)
    seconds['resume'] = time.perf_counter() - t0
    print(f"resumed: {seconds['resume']:.0f} s", flush=True)

    expected, got = untimed(full), untimed(killed)
    same_metrics = expected[0] == got[0]
    same_test = expected[1]['test'] == got[1]['test']
    same_result = expected[1] == got[1]
    out = {
        'dataset': cfg.dataset_name(), 'model': cfg.model.model,
        'augmenter': cfg.train.augmenter, 'epochs': epochs,
        'threads': threads,
        'killed_with_records': at_kill, 'last_checkpoint_epoch': last_epoch,
        'metrics_jsonl_identical': same_metrics,
        'result_test_identical': same_test,
        'result_identical_except_timings': same_result,
        'test': got[1]['test'], 'test_uninterrupted': expected[1]['test'],
        'best_epoch': got[1]['best_epoch'],
        'records': len(got[0]), 'seconds': seconds,
        'command': 'python ' + ' '.join(
            [os.path.relpath(sys.argv[0])] + sys.argv[1:]),
    }
    print(f'metrics.jsonl identical (timings aside): {same_metrics}')
    print(f'result.json test metrics identical: {same_test} '
          f"({', '.join(f'{k} {v:.6f}' for k, v in got[1]['test'].items())})")
    print(f'result.json identical except timings: {same_result}')
    if args.json:
        from adar_pyg.run import write_json
        write_json(out, args.json)
    if args.work is None:
        shutil.rmtree(work)
    if not (same_metrics and same_result):
        raise SystemExit(1)


if __name__ == '__main__':
    main()
