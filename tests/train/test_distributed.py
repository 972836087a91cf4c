r"""Data-parallel training (2 gloo processes on 127.0.0.1, one thread each):
the same global batch on 2 ranks as on 1 gives the same parameters, sharded
evaluation equals the single-process evaluator exactly, and a dying rank
stops the run with a clear error in bounded time. Column-parallel training
(the ranks split the embedding columns) gives the parameters and metrics of
one process exactly."""
import json
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist

from adar_pyg.augment import NegativeAugmenter
from adar_pyg.metrics import FullRankingEvaluator
from adar_pyg.sequential import GRU4Rec
from adar_pyg.train import Trainer
from adar_pyg.train.trainer import TrainResult
from adar_pyg.train.distributed import check_port, launch

from tiny_data import cf_task, chain_graph, clustered_graph, sr_task

EPOCHS = 2  # 2 x 6 steps (CF) and 2 x 5 steps (SR)
CASES = ['cf', 'cf-adar', 'sr-adar']
COLUMN_CASES = ['cf', 'cf-adar']


def make_trainer(case, batch_size, parallel='data', **kwargs):
    torch.manual_seed(0)
    if case.startswith('cf'):
        data = clustered_graph(60, 40, per_user=10, clusters=4, time=True)
        task = cf_task(data, dim=16, layers=2, batch_size=batch_size,
                       eval_batch_size=7)
    else:
        # GRU4Rec: the key bias of attention (SASRec) has a zero gradient
        # in exact arithmetic, which Adam turns into lr-sized steps of
        # rounding noise: not comparable within a float tolerance.
        task = sr_task(chain_graph(),
                       lambda: GRU4Rec(30, 16, 8, dropout=0.0), max_len=8,
                       batch_size=batch_size, eval_batch_size=7)
    aug = NegativeAugmenter(16, num_steps=10) if 'adar' in case else None
    return Trainer(task, aug, lr=0.05, progress=False, log=lambda s: None,
                   parallel=parallel, **kwargs)


def train_steps(trainer):
    r"""The first :obj:`EPOCHS` epochs of :meth:`Trainer.fit`, then the
    parameters and the validation metrics."""
    torch.manual_seed(trainer.seed)
    generator = torch.Generator().manual_seed(trainer.seed)
    opt = torch.optim.Adam(trainer.task.model.parameters(), lr=trainer.lr)
    for epoch in range(1, EPOCHS + 1):
        trainer.train_epoch(opt, generator, epoch)
    state = {f'model.{k}': v.detach().clone()
             for k, v in trainer.task.model.state_dict().items()}
    if trainer.augmenter is not None:
        state.update({f'aug.{k}': v.detach().clone() for k, v in
                      trainer.augmenter.state_dict().items()})
    return state, trainer.task.evaluate('val')


def _equivalence(rank, world_size):
    out = {}
    for case in CASES:
        global_batch = 64 if case.startswith('cf') else 16
        trainer = make_trainer(case, global_batch // world_size)
        state, metrics = train_steps(trainer)
        # Every rank holds the same parameters:
        flat = torch.cat([v.flatten().double() for v in state.values()])
        every = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(every, flat)
        assert all(torch.equal(every[0], x) for x in every), case
        out[case] = (state, metrics)
    for case in COLUMN_CASES:  # The batch of one process, split by columns:
        trainer = make_trainer(case, 64, parallel='columns')
        assert trainer.column_parallel and trainer.step_module is None
        model, widths = trainer.task.model, set()
        propagate = model.propagate
        model.propagate = lambda xu, xi, adj, f=propagate, w=widths: (
            w.add((xu.size(1), xi.size(1))) or f(xu, xi, adj))
        state = train_steps(trainer)
        assert widths == {(8, 8)}  # Each rank propagates 16 / 2 columns.
        flat = torch.cat([v.flatten().double() for v in state[0].values()])
        every = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(every, flat)
        assert all(torch.equal(every[0], x) for x in every), case
        out[f'columns-{case}'] = state
    # A NaN in one rank's columns of the gradients stops every rank at the
    # same batch:
    trainer = make_trainer('cf', 64, parallel='columns')
    model = trainer.task.model
    hook = model.embedding.weight.register_hook(
        lambda g: g.index_fill(1, torch.tensor([9]), float('nan'))
        if rank == 1 and trainer.task._steps == 2 else g)
    forward = trainer.task.forward

    def counted(batch, generator=None):
        trainer.task._steps += 1
        return forward(batch, generator)
    trainer.task._steps, trainer.task.forward = 0, counted
    try:
        train_steps(trainer)
        out['nan'] = None
    except Exception as e:  # noqa: BLE001
        out['nan'] = (type(e).__name__, str(e))
    hook.remove()
    # Column-parallel fit, and its resumption from an evaluation's state:
    folder = os.environ['ADAR_TEST_TMP']
    last = os.path.join(folder, 'last.pt')
    whole = make_trainer('cf-adar', 64, 'columns', epochs=3).fit()
    make_trainer('cf-adar', 64, 'columns', epochs=2,
                 last_checkpoint=last).fit()
    dist.barrier()  # Rank 0 wrote it.
    trainer = make_trainer('cf-adar', 64, 'columns', epochs=3)
    epochs, train_epoch = [], trainer.train_epoch
    trainer.train_epoch = lambda *a: epochs.append(a[-1]) or train_epoch(*a)
    resumed = trainer.fit(resume_from=last)
    assert epochs == [3]  # It went on from the state of epoch 2.
    out['columns-fit'] = whole, resumed
    # Sharded evaluation of given embeddings (odd number of blocks):
    g = torch.Generator().manual_seed(1)
    target = torch.stack([torch.randint(50, (300, ), generator=g),
                          torch.randint(40, (300, ), generator=g)])
    exclude = torch.stack([torch.randint(50, (200, ), generator=g),
                           torch.randint(40, (200, ), generator=g)])
    ev = FullRankingEvaluator(target, 50, 40, exclude, (5, 20), batch_size=10)
    user, item = torch.randn(50, 8, generator=g), torch.randn(40, 8,
                                                               generator=g)
    out['eval'] = ev.distributed()(user, item)
    return out


@pytest.fixture(scope='module')
def ddp_results(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv('ADAR_TEST_TMP',
                              str(tmp_path_factory.mktemp('ddp')))
    return launch(_equivalence, 2, threads=1, timeout=60, deadline=240,
                  safe_globals=[TrainResult])


@pytest.fixture(scope='module')
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize('case', CASES)
def test_two_ranks_follow_one_with_the_same_global_batch(ddp_results, case):
    global_batch = 64 if case.startswith('cf') else 16
    state, _ = train_steps(make_trainer(case, global_batch))
    ddp_state, _ = ddp_results[case]
    assert ddp_state.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(ddp_state[key], value, atol=2e-5,
                                   rtol=1e-4, msg=key)
    # The training moved the parameters (the comparison is not trivial):
    fresh = make_trainer(case, global_batch).task.model.state_dict()
    assert any(not torch.allclose(fresh[k[6:]], v) for k, v in state.items()
               if k.startswith('model.'))


@pytest.mark.parametrize('case', COLUMN_CASES)
def test_column_parallel_is_the_one_process_run(ddp_results, case):
    state, metrics = train_steps(make_trainer(case, 64))
    col_state, col_metrics = ddp_results[f'columns-{case}']
    assert col_state.keys() == state.keys()
    for key, value in state.items():  # Bit for bit:
        assert torch.equal(col_state[key], value), key
    assert col_metrics == metrics
    fresh = make_trainer(case, 64).task.model.state_dict()
    assert any(not torch.allclose(fresh[k[6:]], v) for k, v in state.items()
               if k.startswith('model.'))


def test_column_parallel_nan_stops_every_rank(ddp_results):
    name, message = ddp_results['nan']  # Rank 0's, whose columns are fine:
    assert name == 'DivergedError'
    assert "another process's columns of the gradients" in message
    assert 'in epoch 1, batch 2 of' in message


def test_column_parallel_fit_and_resume(ddp_results):
    whole, resumed = ddp_results['columns-fit']
    one = make_trainer('cf-adar', 64, epochs=3).fit()
    for result in (whole, resumed):  # Exactly the one-process run:
        assert (result.val, result.test, result.best_epoch) == \
            (one.val, one.test, one.best_epoch)
        assert [h['loss'] for h in result.history] == \
            [h['loss'] for h in one.history]


def test_sharded_evaluation_equals_one_process(ddp_results):
    g = torch.Generator().manual_seed(1)
    target = torch.stack([torch.randint(50, (300, ), generator=g),
                          torch.randint(40, (300, ), generator=g)])
    exclude = torch.stack([torch.randint(50, (200, ), generator=g),
                           torch.randint(40, (200, ), generator=g)])
    ev = FullRankingEvaluator(target, 50, 40, exclude, (5, 20), batch_size=10)
    user, item = torch.randn(50, 8, generator=g), torch.randn(40, 8,
                                                               generator=g)
    assert ev.num_blocks % 2 == 1
    assert ddp_results['eval'] == ev(user, item)  # Exactly.


def _dying(rank, world_size):
    trainer = make_trainer('cf', 32)
    forward = trainer.task.forward
    steps = []

    def dying_forward(batch, generator=None):
        steps.append(1)
        if rank == 1 and len(steps) == 3:
            os._exit(3)
        return forward(batch, generator)

    trainer.task.forward = dying_forward
    trainer.epochs = 50
    trainer.fit()


def test_a_dying_rank_stops_the_run_with_a_clear_error():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r'rank 1 of 2 died \(exit code 3'):
        launch(_dying, 2, threads=1, timeout=30, deadline=120)
    assert time.monotonic() - t0 < 90


def _data_error(rank, world_size):
    from adar_pyg.errors import DataError
    if rank == 1:
        raise DataError("ratings.csv:3: time 'soon' is not a number",
                        hint='fix the line')
    time.sleep(30)


def test_a_ranks_own_error_is_raised_as_it_is(capfd):
    r"""An error of the package in a rank (bad data, a diverged run)
    reaches the caller with its message, hint and exit code."""
    from adar_pyg.errors import AdarError
    with pytest.raises(AdarError, match="^ratings.csv:3: time 'soon'") as e:
        launch(_data_error, 2, threads=1, timeout=30, deadline=120)
    assert (e.value.exit_code, e.value.hint) == (3, 'fix the line')
    assert 'Terminating process' not in capfd.readouterr().err


class _Opaque:
    pass


def _opaque(rank, world_size):
    return {'model': _Opaque()} if rank == 0 else None


def test_rank_0_result_is_loaded_as_weights_only():
    r"""Rank 0's result is read back with :obj:`weights_only=True`:
    tensors and containers come back, an arbitrary object is refused."""
    with pytest.raises(RuntimeError, match="rank 0.s result holds objects.*_Opaque"):
        launch(_opaque, 2, threads=1, timeout=30, deadline=120)


def _pid_then_sleep(rank, world_size, folder):
    with open(os.path.join(folder, f'rank{rank}'), 'w') as f:
        f.write(str(os.getpid()))
    time.sleep(120)


KILLED_LAUNCHER = '''
import sys
from adar_pyg.train.distributed import launch
from test_distributed import _pid_then_sleep
launch(_pid_then_sleep, 2, args=(sys.argv[1], ), threads=1, timeout=30,
       deadline=150)
'''


@pytest.mark.skipif(not os.path.exists('/proc/self'), reason='Linux only')
def test_ranks_die_with_a_killed_launcher(tmp_path):
    r"""kill -9 of the command leaves no rank running (it would go on
    writing the run directory whose lock died with the command), also when
    the command ignores SIGINT (started with `&` by a script, or under
    nohup), torch's own signal to the ranks of a dead parent."""
    import signal
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [here, os.path.dirname(here), os.environ.get('PYTHONPATH', '')])}
    proc = subprocess.Popen(
        [sys.executable, '-c', KILLED_LAUNCHER, str(tmp_path)], env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 90
        while len(list(tmp_path.glob('rank*'))) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        pids = [int(p.read_text()) for p in tmp_path.glob('rank*')]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, 'a rank outlived the command'
            time.sleep(0.2)
    finally:
        proc.kill()


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[1][0] != 'Z'  # (a zombie is dead)
    except OSError:
        return False


def test_bad_input():
    trainer = make_trainer('cf', 64)
    n = trainer.task.train_pairs.size(1)
    with pytest.raises(ValueError, match='processes need at least'):
        trainer.task.shard(0, n // 64 + 1)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(RuntimeError, match=f'port {port} .* in use'):
            check_port(port)


def tiny_train_args(tmp_path):
    r"""``adar-pyg train`` on a tiny CSV (two clusters of users), 2 epochs,
    ADAR, one thread."""
    lines = ['user,item,timestamp']
    g = torch.Generator().manual_seed(0)
    for u in range(30):
        items = torch.randperm(12, generator=g)[:9] + 12 * (u % 2)
        lines += [f'u{u},i{i},{t}' for t, i in enumerate(items.tolist())]
    csv = tmp_path / 'ratings.csv'
    csv.write_text('\n'.join(lines) + '\n')
    return ['train', '--data', str(csv), '--dim', '8', '--batch-size', '16',
            '--epochs', '2', '--threads', '1', '--no-progress', '--device',
            'cpu', '--augmenter', 'adar', '--adar-num-steps', '5']


def test_cli_nproc(tmp_path, capsys):
    from adar_pyg.cli import main
    tiny = tiny_train_args(tmp_path) + ['--nproc', '2']
    out = tmp_path / 'run'
    main(tiny + ['--out', str(out)])
    result = json.loads((out / 'result.json').read_text())
    assert result['nproc'] == 2 and result['global_batch_size'] == 32
    assert len((out / 'metrics.jsonl').read_text().splitlines()) == 2
    # More processes than batches: a clear error, nothing trained.
    with pytest.raises(SystemExit) as e:
        main(tiny[:5] + ['--batch-size', '200'] + tiny[7:] +
             ['--out', str(tmp_path / 'bad')])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert 'processes need at least' in err and 'Traceback' not in err


def test_cli_parallel_columns(tmp_path, capsys):
    from adar_pyg.cli import main
    tiny = tiny_train_args(tmp_path)
    results = {}
    for name, extra in (('one', []),
                        ('columns', ['--nproc', '2', '--parallel', 'columns'])):
        main(tiny + extra + ['--out', str(tmp_path / name)])
        results[name] = json.loads((tmp_path / name / 'result.json').read_text())
    one, columns = results['one'], results['columns']
    assert columns['nproc'] == 2 and columns['global_batch_size'] == 16
    assert columns['settings']['run']['parallel'] == 'columns'
    # The one-process run, evaluation and selection included, exactly:
    for key in ('test', 'val', 'best_epoch'):
        assert columns[key] == one[key], key
    assert [h['loss'] for h in columns['history']] == \
        [h['loss'] for h in one['history']]
    # What cannot be split by columns is refused before anything runs:
    for extra, message in (
            (['--model', 'ngcf'], "'NGCF' mixes the columns"),
            (['--sampler', 'dns'], "'DNSSampler' scores candidates"),
            (['--dim', '7'], 'must divide it'),
            (['--lr-scaling', 'linear'], "lr_scaling must be 'none'")):
        bad = tmp_path / f'bad{len(message)}'
        with pytest.raises(SystemExit) as e:
            main(tiny + ['--nproc', '2', '--parallel', 'columns', '--out',
                         str(bad)] + extra)
        assert e.value.code != 0
        err = capsys.readouterr().err
        assert message in err and 'Traceback' not in err, err
        assert not bad.exists()


def test_a_dead_rank_says_how_to_resume(tmp_path, monkeypatch):
    r"""A rank killed after an evaluation: the error says how to continue
    the run (its latest checkpoint is there)."""
    import adar_pyg.train.distributed as distributed
    from adar_pyg import run
    from adar_pyg.config import Config
    from adar_pyg.errors import AdarError

    def died(*args, **kwargs):
        raise RuntimeError('rank 1 of 2 died (exit code -9, signal SIGKILL); '
                           'the other ranks were stopped')

    monkeypatch.setattr(distributed, 'launch', died)
    out = tmp_path / 'run'
    (out / 'checkpoints').mkdir(parents=True)
    cfg = Config.build({'run': {'nproc': 2}})
    with pytest.raises(AdarError, match='rank 1 of 2 died') as e:
        run._launch(cfg, str(out), {})
    assert e.value.hint is None  # Nothing to resume from yet.
    (out / 'checkpoints' / 'last.pt').write_bytes(b'')
    with pytest.raises(AdarError) as e:
        run._launch(cfg, str(out), {})
    assert e.value.hint == (f'continue from its latest evaluation with '
                            f'`adar-pyg resume {out}`')


@pytest.mark.skipif(not os.path.exists('/proc/self'), reason='Linux only')
def test_ctrl_c_of_a_two_process_run(tmp_path):
    r"""Ctrl-C (SIGINT to the terminal's process group: the command and
    its ranks) stops the run with the resume line alone: no traceback, no
    rank left, no 'leaked semaphore' lines of the resource tracker (ranks
    stopped by SIGTERM used to die without releasing theirs)."""
    import signal
    import subprocess
    import sys
    args = tiny_train_args(tmp_path)
    args[args.index('--epochs') + 1] = '500'
    args[args.index('--no-progress')] = '--progress'  # (tqdm's lock too)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'adar_pyg', *args, '--nproc', '2', '--out',
         str(tmp_path / 'run')], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / 'run' / 'checkpoints' / 'last.pt').exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert 'stopped; continue with `adar-pyg resume' in err
    assert 'Traceback' not in err and 'leaked' not in err, err
