r"""Exact resume: a run interrupted at any point (between batches, during an
evaluation, during a checkpoint write, a real ``kill -9``) and continued
from its ``last`` checkpoint gives the history and result of the
uninterrupted run, bit for bit (timings aside), for CF and SR, with and
without ADAR / CNSDiff."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from adar_pyg.augment import CausalNegativeAugmenter, NegativeAugmenter
from adar_pyg.io import CorruptFileError
from adar_pyg.sequential import SASRec
from adar_pyg.nn import NGCF, LightGCN
from adar_pyg.train import SampledCFTask, Trainer, load_checkpoint

from tiny_data import cf_task, clustered_graph, sr_task

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
KINDS = ['cf', 'cf-adar', 'cf-cnsdiff', 'sr', 'sr-adar', 'cf-sparse',
         'cf-sparse-ngcf']


class Killed(Exception):
    pass


def interactions():
    """Two taste groups; a per-user order for the sequential split."""
    return clustered_graph(40, 24, per_user=8, clusters=2, time=True,
                           reverse=True)


def build(kind, init_seed=0):
    r"""The task and augmenter of :obj:`kind`; :obj:`init_seed` seeds the
    initial weights (a resumed run must not depend on them)."""
    torch.manual_seed(init_seed)
    if kind.startswith('cf-sparse'):  # Sampled, SparseAdam (+ Adam: NGCF):
        task = cf_task(interactions(), dim=8, layers=2, init_seed=init_seed,
                       batch_size=32, task=SampledCFTask, num_neighbors=2,
                       sparse_grad=True,
                       model=NGCF if kind.endswith('ngcf') else LightGCN)
    elif kind.startswith('cf'):
        task = cf_task(interactions(), dim=8, layers=1, init_seed=init_seed,
                       batch_size=32)
    else:
        task = sr_task(interactions(), lambda: SASRec(24, 8, 6, dropout=0.3),
                       max_len=6, batch_size=8)
    aug = None
    if kind.endswith('adar'):
        aug = NegativeAugmenter(8, num_steps=5)
    elif kind.endswith('cnsdiff'):
        aug = CausalNegativeAugmenter(8, num_steps=5, start_steps=(1, 3))
    return task, aug


def trainer(task, aug, tmp_path, records, **kwargs):
    kwargs = {'lr': 0.05, 'epochs': 6, 'patience': 10, 'seed': 3,
              **kwargs}
    return Trainer(task, aug, progress=False, log=lambda s: None,
                   on_evaluate=records.append,
                   checkpoint=str(tmp_path / 'best.pt'),
                   last_checkpoint=str(tmp_path / 'last.pt'), **kwargs)


def strip(history):
    return [{k: v for k, v in r.items() if k != 'seconds'} for r in history]


def summary(result):
    return dict(test=result.test, val=result.val, best=result.best_epoch,
                score=result.best_score, epochs=result.epochs_run,
                stopped=result.stopped_early, history=strip(result.history))


def reference(kind, tmp_path, **kwargs):
    folder = tmp_path / 'reference'
    folder.mkdir()
    records = []
    task, aug = build(kind)
    result = trainer(task, aug, folder, records, **kwargs).fit()
    assert strip(records) == strip(result.history)
    return summary(result), load_checkpoint(folder / 'best.pt')


def interrupt_and_resume(kind, tmp_path, point, monkeypatch, **kwargs):
    r"""Runs :obj:`kind` until the hook of :obj:`point` raises, then resumes
    with objects built afresh (other initial weights, other global RNG
    state); returns the combined history and the resumed result."""
    folder = tmp_path / 'interrupted'
    folder.mkdir()
    task, aug = build(kind)
    calls = {'n': 0}

    def tick(limit):
        calls['n'] += 1
        if calls['n'] == limit:
            raise Killed(point)

    if point == 'batch':  # Mid-epoch 3 (after 2 evaluations at least):
        limit = 2 * task.num_batches() + task.num_batches() // 2 + 1
        forward = task.forward
        task.forward = lambda *a: (tick(limit), forward(*a))[1]
    elif point == 'evaluation':
        evaluate = task.evaluate
        task.evaluate = lambda *a: (tick(3), evaluate(*a))[1]
    elif point == 'checkpoint':  # The 3rd write of `last`, half written:
        save = torch.save

        def torn_save(obj, path, *args, **kw):
            if 'last.pt' in str(path):
                calls['n'] += 1
                if calls['n'] == 3:
                    with open(path, 'wb') as f:
                        f.write(b'PK\x03\x04 half a checkpoint')
                    raise Killed(point)
            return save(obj, path, *args, **kw)

        monkeypatch.setattr(torch, 'save', torn_save)
    records = []
    with pytest.raises(Killed):
        trainer(task, aug, folder, records, **kwargs).fit()
    monkeypatch.undo()
    assert not [p for p in os.listdir(folder) if p.endswith('.part')]
    state = load_checkpoint(folder / 'last.pt')
    assert state['epoch'] >= 1
    assert strip(state['history']) == strip(records)[:len(state['history'])]

    task, aug = build(kind, init_seed=123)  # Other weights, other RNG state.
    torch.rand(7)
    resumed = []
    result = trainer(task, aug, folder, resumed, **kwargs).fit(
        resume_from=str(folder / 'last.pt'))
    assert strip(state['history'] + resumed) == strip(result.history)
    return summary(result), load_checkpoint(folder / 'best.pt')


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('point', ['batch', 'evaluation', 'checkpoint'])
def test_resume_is_exact(kind, point, tmp_path, monkeypatch):
    expected, best = reference(kind, tmp_path)
    got, got_best = interrupt_and_resume(kind, tmp_path, point, monkeypatch)
    assert got == expected
    assert got_best['epoch'] == best['epoch']
    for key, value in best['model'].items():
        assert torch.equal(got_best['model'][key], value), key


def test_resume_with_eval_every_and_early_stopping(tmp_path, monkeypatch):
    # Evaluations every 2 epochs (the epoch after the last one is run again)
    # and a patience that stops the run: the stopping state is restored.
    kwargs = dict(epochs=12, eval_every=2, patience=1, lr=0.2)
    expected, _ = reference('cf-adar', tmp_path, **kwargs)
    assert expected['stopped'] and expected['epochs'] < 12
    got, _ = interrupt_and_resume('cf-adar', tmp_path, 'batch', monkeypatch,
                                  **kwargs)
    assert got == expected


def test_resume_a_finished_run(tmp_path):
    expected, _ = reference('cf', tmp_path)
    task, aug = build('cf', init_seed=5)
    result = trainer(task, aug, tmp_path / 'reference', []).fit(
        resume_from=str(tmp_path / 'reference' / 'last.pt'))
    assert summary(result) == expected
    assert result.epochs_run == 6


def test_resume_replaces_a_best_checkpoint_the_state_has_not_seen(
        tmp_path):
    # Killed after the best checkpoint of an evaluation was written and
    # before the last one: on replay that evaluation may not improve again
    # (other threads, a GPU), so the best checkpoint left behind would
    # disagree with the result. Resume writes it from the restored state.
    expected, best = reference('cf', tmp_path)
    folder = tmp_path / 'reference'
    stale = {**best, 'epoch': best['epoch'] + 1, 'score': 2.0,
             'model': {k: v + 1 for k, v in best['model'].items()}}
    torch.save(stale, folder / 'best.pt')
    task, aug = build('cf', init_seed=5)
    result = trainer(task, aug, folder, []).fit(
        resume_from=str(folder / 'last.pt'))
    assert summary(result) == expected
    got = load_checkpoint(folder / 'best.pt')
    assert got['epoch'] == best['epoch'] == result.best_epoch
    assert got['score'] == best['score']
    for key, value in best['model'].items():
        assert torch.equal(got['model'][key], value), key


def test_resume_checks_the_checkpoint(tmp_path):
    reference('cf', tmp_path)
    last = tmp_path / 'reference' / 'last.pt'
    task, aug = build('cf')
    with pytest.raises(ValueError, match=r"lr=0.05 \(now 0.01\)"):
        trainer(task, aug, tmp_path, [], lr=0.01).fit(resume_from=str(last))
    with pytest.raises(ValueError, match='without an augmenter'):
        trainer(*build('cf-adar'), tmp_path, []).fit(resume_from=str(last))
    with pytest.raises(ValueError, match='not a full-state checkpoint'):
        trainer(task, aug, tmp_path, []).fit(
            resume_from=str(tmp_path / 'reference' / 'best.pt'))
    damaged = tmp_path / 'damaged.pt'
    damaged.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match='damaged.pt.*Delete it'):
        trainer(task, aug, tmp_path, []).fit(resume_from=str(damaged))


def test_stale_part_files_are_removed(tmp_path):
    folder = tmp_path / 'reference'
    folder.mkdir()
    dead = [folder / f'.{name}.999999999-0123abcd.part'  # No such process.
            for name in ('last.pt', 'best.pt')]
    alive = folder / f'.last.pt.{os.getpid()}-0123abcd.part'
    others = [folder / '.notes.part',
              folder / '.other.json.999999999-0123abcd.part']
    for path in dead + others + [alive]:
        path.write_bytes(b'x')
    task, aug = build('cf')
    trainer(task, aug, folder, [], epochs=1).fit()
    assert not any(p.exists() for p in dead)
    assert alive.exists() and all(p.exists() for p in others)


# A real kill -9 of the command line, then `adar-pyg resume`:
def write_csv(path):
    g = torch.Generator().manual_seed(0)
    lines = ['user_id,item_id,ts']
    for u in range(30):
        items = torch.randperm(12, generator=g)[:9] + 12 * (u % 2)
        for t, i in enumerate(items.tolist()):
            lines.append(f'u{u:02d},item-{i},{1000 + 7 * t}')
    path.write_text('\n'.join(lines) + '\n')


def cli(*args):
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'}
    return [sys.executable, '-m', 'adar_pyg', *args], env


TIMINGS = {'seconds_per_epoch', 'seconds_per_eval', 'seconds_load'}


def read_run(out):
    records = [json.loads(line) for line in open(out / 'metrics.jsonl')]
    result = json.load(open(out / 'result.json'))
    result = {k: v for k, v in result.items() if k not in TIMINGS}
    result['history'] = strip(result['history'])
    return strip(records), result


def test_kill_9_and_resume_from_the_command_line(tmp_path):
    csv = tmp_path / 'r.csv'
    write_csv(csv)
    flags = ['--data', str(csv), '--user-col', 'user_id', '--item-col',
             'item_id', '--time-col', 'ts', '--dim', '8', '--batch-size',
             '16', '--epochs', '30', '--patience', '30', '--threads', '1',
             '--no-progress', '--device', 'cpu', '--augmenter', 'adar',
             '--adar-num-steps', '5']
    args, env = cli('train', *flags, '--out', str(tmp_path / 'full'))
    subprocess.run(args, env=env, check=True, capture_output=True)

    out = tmp_path / 'killed'
    args, env = cli('train', *flags, '--out', str(out))
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = out / 'metrics.jsonl'
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, 'the run ended before it could be killed'
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / 'result.json').exists()
    killed_at = len(metrics.read_text().splitlines())
    assert killed_at < 30

    args, env = cli('resume', str(out), '--no-progress')
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'resumed from epoch' in proc.stdout + proc.stderr
    assert read_run(out) == read_run(tmp_path / 'full')
    assert not [p for p in os.listdir(out / 'checkpoints')
                if p.endswith('.part')]


def test_resume_needs_a_run_directory(tmp_path, capsys):
    from adar_pyg import run
    from adar_pyg.cli import main
    from adar_pyg.errors import RunDirError
    with pytest.raises(RunDirError, match='not a run directory'):
        run.resume(str(tmp_path))
    with pytest.raises(SystemExit) as e:
        main(['resume', str(tmp_path)])
    assert e.value.code == RunDirError.exit_code
    assert 'not a run directory' in capsys.readouterr().err


@pytest.mark.parametrize('task,augmenter', [('cf', 'cnsdiff'),
                                            ('sr', 'adar')])
def test_run_directory_resume(task, augmenter, tmp_path):
    # Killed right after metrics.jsonl got epoch 3's record but before
    # last.pt did: resume cuts metrics.jsonl back to epoch 2 and goes on.
    from adar_pyg import run
    from adar_pyg.config import Config
    csv = tmp_path / 'r.csv'
    write_csv(csv)
    cfg = Config.build({
        'run': {'task': task, 'threads': 1, 'device': 'cpu', 'seed': 2},
        'data': {'data': str(csv), 'user_col': 'user_id',
                 'item_col': 'item_id', 'time_col': 'ts'},
        'model': {'dim': 8},
        'split': {'max_len': 6} if task == 'sr' else {},
        'train': {'augmenter': augmenter, 'epochs': 5, 'batch_size': 16},
        'adar': {'num_steps': 5}})
    run.train(cfg, str(tmp_path / 'full'), progress=False, plot=False,
              log=lambda s: None)

    def log(line):
        if line.startswith('epoch    3'):
            raise Killed(line)

    out = tmp_path / 'killed'
    with pytest.raises(Killed):
        run.train(cfg, str(out), progress=False, plot=False, log=log)
    assert len((out / 'metrics.jsonl').read_text().splitlines()) == 3
    assert load_checkpoint(out / 'checkpoints' / 'last.pt')['epoch'] == 2
    # What a writer killed mid-write leaves (its process is gone):
    stale = [out / '.metrics.jsonl.999999999-0123abcd.part',
             out / 'checkpoints' / '.last.pt.999999999-0123abcd.part']
    for path in stale:
        path.write_bytes(b'half')
    run.resume(str(out), progress=False, plot=False, log=lambda s: None)
    assert read_run(out) == read_run(tmp_path / 'full')
    assert not any(path.exists() for path in stale)
