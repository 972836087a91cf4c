r"""`adar-pyg` end to end on a tiny CSV with string ids: train (CF and SR,
with ADAR) -> evaluate -> report -> recommend, reproduction from a saved
config.yaml, and errors before any training."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

from adar_pyg.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def csv_path(tmp_path_factory):
    r"""30 users in two taste groups over 24 items, 8-10 interactions each,
    string ids, a timestamp and a rating column."""
    g = torch.Generator().manual_seed(0)
    lines = ['user_id,item_id,ts,stars']
    for u in range(30):
        group = u % 2
        items = torch.randperm(12, generator=g)[:9] + 12 * group
        for t, i in enumerate(items.tolist()):
            lines.append(f'u{u:02d},item-{i},{1000 + 7 * t},{1 + (u + t) % 5}')
    path = tmp_path_factory.mktemp('data') / 'ratings.csv'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


TINY = ['--user-col', 'user_id', '--item-col', 'item_id', '--time-col', 'ts',
        '--dim', '8', '--batch-size', '32', '--epochs', '3', '--threads', '1',
        '--no-progress', '--device', 'cpu']


def train(csv, out, *extra):
    main(['train', '--data', csv, *TINY, '--out', str(out), *extra])


def fails(capsys, code, match, argv):
    r"""`main(argv)` exits with `code` and one `adar-pyg: error:` line
    matching `match` on stderr, without a traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == code, err
    assert re.match(r'adar-pyg( [a-z]+)?: error: ', err), err
    assert 'Traceback' not in err
    assert re.search(match, err), err


def test_train_evaluate_report_recommend(csv_path, tmp_path, capsys):
    runs = []
    for variant in (['--augmenter', 'none'],
                    ['--augmenter', 'adar', '--adar-num-steps', '5']):
        for seed in (0, 1):
            out = tmp_path / f'{variant[1]}-{seed}'
            train(csv_path, out, '--seed', str(seed), '--layers', '1',
                  *variant)
            runs.append(str(out))
    run = runs[-1]
    for name in ('config.yaml', 'metrics.jsonl', 'result.json', 'curves.png',
                 'checkpoints/best.pt', 'ids.json'):
        assert os.path.exists(os.path.join(run, name)), name
    result = json.load(open(os.path.join(run, 'result.json')))
    assert result['statistics']['users'] == 30
    assert result['statistics']['items'] == 24
    assert result['statistics']['interactions'] == 270
    # Every setting once, under the config's names: result.json's
    # 'settings' is the saved config.yaml (no flat 'args', no copies).
    assert result['settings'] == yaml.safe_load(
        open(os.path.join(run, 'config.yaml')))
    assert result['settings']['adar']['num_steps'] == 5
    assert 'args' not in result and 'num_steps' not in result
    assert set(result['test']) == {'recall@10', 'recall@20', 'ndcg@10',
                                   'ndcg@20'}
    assert result['checkpoint'] == 'checkpoints/best.pt'  # relative
    assert not any(os.path.isabs(str(v)) for v in (result['checkpoint'],
                                                   result['config']))
    records = [json.loads(line) for line in
               open(os.path.join(run, 'metrics.jsonl'))]
    assert [r['epoch'] for r in records] == [1, 2, 3]
    assert {'loss', 'seconds', 'val_recall@20', 'aug_t_star'} <= set(
        records[0])
    assert records == result['history']
    ids = json.load(open(os.path.join(run, 'ids.json')))
    assert ids['user'][0] == 'u00' and len(ids['item']) == 24
    capsys.readouterr()

    # evaluate re-scores the saved model exactly:
    main(['evaluate', run, '--split', 'test'])
    printed = capsys.readouterr().out
    assert f"recall@20 {result['test']['recall@20']:.4f}" in printed
    fails(capsys, 2, "unknown split 'foo'",
          ['evaluate', run, '--split', 'foo'])

    # report: two groups of two seeds, paired t-test, table and plot:
    report_dir = tmp_path / 'report'
    main(['report', *runs, '--out', str(report_dir)])
    text = open(report_dir / 'report.md').read()
    assert 'augmenter=none' in text and 'augmenter=adar' in text
    assert '4 runs, 2 groups' in text
    assert os.path.getsize(report_dir / 'report.png') > 1000

    # recommend: original ids, seen items excluded:
    capsys.readouterr()
    main(['recommend', run, '--user', 'u03', '--k', '5'])
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.strip()[:2].rstrip('.').isdigit()]
    assert len(lines) == 5
    seen = {line.split(',')[1] for line in open(csv_path).read().splitlines()
            if line.startswith('u03,')}
    recommended = {line.split('. ')[1].split()[0] for line in lines}
    assert recommended and not recommended & seen
    assert all(r.startswith('item-') for r in recommended)
    fails(capsys, 2, "unknown user 'nobody'",
          ['recommend', run, '--user', 'nobody'])
    # More than the items not seen: says how many there are.
    main(['recommend', run, '--user', 'u03', '--k', '100'])
    assert f'top {24 - len(seen)} items for user u03 (seen items excluded; ' \
        f'only {24 - len(seen)} not seen)' in capsys.readouterr().out


def test_repeated_pairs_are_counted_once_and_said(csv_path, tmp_path,
                                                  capsys):
    data = tmp_path / 'twice.csv'
    rows = open(csv_path).read().splitlines()
    data.write_text('\n'.join(rows + rows[1:11]) + '\n')  # 10 rows again
    capsys.readouterr()
    train(str(data), tmp_path / 'run', '--epochs', '1')
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith('twice:'))
    assert line.startswith('twice: 30 users, 24 items, 280 interactions '
                           '(train ') and line.endswith(
        '; 10 repeated user-item pairs counted once)')


def test_saved_config_reproduces_the_run(csv_path, tmp_path):
    first = tmp_path / 'first'
    train(csv_path, first, '--augmenter', 'adar', '--adar-num-steps', '5',
          '--adar-strategy', 'transition', '--adar-source', 'forward')
    again = tmp_path / 'again'
    main(['train', '--config', str(first / 'config.yaml'), '--out',
          str(again), '--no-progress'])
    a = json.load(open(first / 'result.json'))
    b = json.load(open(again / 'result.json'))
    assert a['test'] == b['test'] and a['val'] == b['val']
    assert [h['loss'] for h in a['history']] == \
        [h['loss'] for h in b['history']]
    assert open(first / 'config.yaml').read() == \
        open(again / 'config.yaml').read()


def test_curves_mark_the_epoch_the_monitor_chose(csv_path, tmp_path,
                                                  monkeypatch):
    from adar_pyg import plot
    marked = []
    monkeypatch.setattr(plot, 'plot_curves', lambda history, path, **kw:
                        marked.append(kw['best_epoch']))
    train(csv_path, tmp_path / 'run', '--monitor', 'ndcg@10', '--layers', '1')
    result = json.load(open(tmp_path / 'run' / 'result.json'))
    assert marked == [result['best_epoch']]


def test_sr_run(csv_path, tmp_path):
    out = tmp_path / 'sr'
    train(csv_path, out, '--task', 'sr', '--model', 'gru4rec', '--max-len',
          '5', '--augmenter', 'adar')
    result = json.load(open(out / 'result.json'))
    assert result['statistics']['users'] == 30
    assert 'history masked' in result['protocol']
    main(['recommend', str(out), '--user', 'u01', '--k', '3'])


@pytest.mark.parametrize('user', ['u01', 'new'])
def test_sr_recommends_after_the_whole_history(csv_path, tmp_path, user):
    r"""A sequential run recommends from every item of the user's history,
    its latest (the test target) included, also for a user with too few
    interactions for a test target: equal to encoding the user's items,
    read from the file in time order, with the model."""
    import pandas as pd

    from adar_pyg import run
    data = tmp_path / 'ratings.csv'
    text = open(csv_path).read()
    data.write_text(text + 'new,item-3,5000,1\nnew,item-5,5001,1\n')
    out = tmp_path / 'sr'
    train(str(data), out, '--task', 'sr', '--model', 'gru4rec',
          '--max-len', '5')
    got = run.recommend(str(out), user, k=4)
    _, loaded, task = run.restore(str(out))
    names = loaded.raw_ids['item']
    rows = pd.read_csv(data).query('user_id == @user').sort_values('ts')
    items = [names.index(i) for i in rows['item_id']]
    seq = torch.tensor([[0] * (5 - len(items[-5:])) +
                        [i + 1 for i in items[-5:]]])
    with torch.no_grad():
        task.model.eval()
        scores = task.model.item_embeddings()[1:] @ task.model.encode(
            seq)[0]
    scores[items] = -float('inf')
    top = scores.topk(4)
    assert [n for n, _ in got] == [names[i] for i in top.indices.tolist()]
    assert [s for _, s in got] == pytest.approx(top.values.tolist())


def test_errors_before_training(csv_path, tmp_path, capsys):
    out = tmp_path / 'run'
    train(csv_path, out, '--epochs', '1')
    # an existing run directory is refused (before any data are loaded):
    fails(capsys, 5, 'exists already: pass --overwrite',
          ['train', '--data', csv_path, *TINY, '--out', str(out)])
    train(csv_path, out, '--epochs', '1', '--overwrite')
    # a data file with the wrong columns, naming the nearest:
    fails(capsys, 3, "did you mean 'user_id' for 'user_idd'",
          ['train', '--data', csv_path, '--user-col', 'user_idd',
           '--out', str(tmp_path / 'x'), '--no-progress'])
    # unknown flags and config keys, with suggestions:
    with pytest.raises(SystemExit):
        main(['train', '--data', csv_path, '--adar-wieght', '0.1'])
    assert "did you mean '--adar-weight'" in capsys.readouterr().err
    bad = tmp_path / 'bad.yaml'
    bad.write_text('adar: {wieght: 0.1}\n')
    with pytest.raises(SystemExit):
        main(['train', '--config', str(bad), '--data', csv_path])
    assert "unknown setting 'adar.wieght'" in capsys.readouterr().err
    fails(capsys, 6, 'cannot write',
          ['train', '--data', csv_path, *TINY, '--out', str(tmp_path / 'y'),
           '--json', '/proc/nope/result.json'])
    assert not os.path.exists(tmp_path / 'y' / 'metrics.jsonl')


@pytest.mark.parametrize('flags, config, match', [
    (['--user-col', 'item_id', '--item-col', 'item_id'], None,
     r"data.user_col \(--user-col\) and data.item_col \(--item-col\) name "
     r"the same column 'item_id'"),
    (['--time-col', 'stars', '--rating-col', 'stars'], None,
     r"data.time_col \(--time-col\) and data.rating_col \(--rating-col\) "
     r"name the same column 'stars'"),
    ([], 'train: {epochs: 1}\ntrain: {lr: 0.5}\n',
     r"c.yaml:2: repeated key 'train' \(first on line 1\)"),
])
def test_settings_are_checked_before_the_data(csv_path, tmp_path, capsys,
                                              flags, config, match):
    if config is not None:
        (tmp_path / 'c.yaml').write_text(config)
        flags = flags + ['--config', str(tmp_path / 'c.yaml')]
    fails(capsys, 2, match, ['train', '--data', csv_path, *TINY, *flags,
                             '--out', str(tmp_path / 'run')])
    assert not (tmp_path / 'run').exists()


def test_mistakes_are_refused_not_recorded(csv_path, tmp_path, capsys):
    r"""What a user's slips once did silently (an empty --data trained on
    the built-in Beauty, a k-core filter of a built-in dataset was recorded
    but not applied, an empty --out wrote to the default folder, a CF run
    took an SR length) is refused in one line before anything is read or
    written."""
    run = str(tmp_path / 'run')
    for code, match, argv in [
            (2, r"data.data \(--data\) must name a file \(got ''",
             ['--data', '']),
            (2, r"data.k_core \(--k-core\) filters your own data",
             ['--dataset', 'beauty', '--k-core', '5']),
            (2, r"data.min_rating .* filters your own data",
             ['--rating-col', 'r', '--min-rating', '3']),
            (2, r'--out: an empty path', ['--data', csv_path, '--out', '']),
            (2, r'--config: an empty path', ['--config', '']),
            (2, r"split.max_len \(--max-len\) is for SR only",
             ['--data', csv_path, *TINY, '--max-len', '5']),
            ]:
        fails(capsys, code, match, ['train', *argv] + (
            [] if '--out' in argv else ['--out', run]))
        assert not os.path.exists(run)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(['train', '--data', csv_path, *TINY, '--checkpoint',
              str(tmp_path)])
    assert os.path.join(str(tmp_path), 'best.pt') in capsys.readouterr().err
    for argv in (['report', ''], ['recommend', '', '--user', '1'],
                 ['report', run, '--out', '']):
        fails(capsys, 2, 'an empty path', argv)


def test_unread_data_settings_are_noted(csv_path, tmp_path, capsys):
    r"""A built-in dataset beside --data is read by nothing, an epoch
    selected on test for want of a validation split is optimistic, and
    more threads than CPUs are more than are used (a huge number was a
    traceback): the run says so before it trains."""
    train(csv_path, tmp_path / 'run', '--epochs', '1', '--dataset', 'toys',
          '--val-ratio', '0', '--threads', '100000')
    err = ''.join(capsys.readouterr())  # (the run's log: stdout)
    assert "data.dataset 'toys' (data.data is read instead)" in err
    cpus = os.cpu_count()
    assert (f'run.threads 100000 exceeds the {cpus} CPUs of this machine: '
            f'{cpus} are used') in err
    result = json.load(open(tmp_path / 'run' / 'result.json'))
    assert result['protocol'].startswith('test-selected (optimistic')
    assert ("the epoch is selected on test (optimistic), not on "
            "train.select_on 'val'") in err


def test_unfinished_folders_say_what_to_do(csv_path, tmp_path, capsys):
    r"""A folder that is not a finished run says what it is: an interrupted
    run (resume it), or a folder of run directories (pass those)."""
    out = tmp_path / 'runs' / 'a'
    train(csv_path, out, '--epochs', '1')
    os.remove(out / 'result.json')  # (killed before its end)
    fails(capsys, 5, r"hint: an interrupted run: continue it with "
          r"'adar-pyg resume ", ['evaluate', str(out)])
    fails(capsys, 5, r"(?s)exists already.*interrupted run",
          ['train', '--data', csv_path, *TINY, '--out', str(out)])
    # (its writer alive in another process: not an interrupted run)
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import fcntl, sys, time; f = open(sys.argv[1]'
         ', "a"); fcntl.flock(f, fcntl.LOCK_EX); print(1, flush=True); '
         'time.sleep(60)', str(out / '.lock')], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b'1'  # (it holds it)
        fails(capsys, 5, r"hint: a run in progress in another process",
              ['report', str(out)])
        fails(capsys, 5, r"in use by another process", ['evaluate', str(out)])
    finally:
        holder.kill()
        holder.wait()
    os.remove(out / 'checkpoints' / 'last.pt')
    fails(capsys, 5, r"hint: an unfinished run without a checkpoint",
          ['report', str(out)])
    fails(capsys, 5, r"(?s)no config.yaml.*holds run directories.*runs.a'",
          ['report', str(tmp_path)])


def test_datasets_and_module_entry_point(capsys):
    main(['datasets'])
    out = capsys.readouterr().out
    assert 'beauty' in out and '22,363' in out and 'ood-yelp2018' in out
    proc = subprocess.run([sys.executable, '-m', 'adar_pyg', '--help'],
                          capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0 and 'recommend' in proc.stdout


@pytest.mark.parametrize('sparse', [False, True])
def test_sampled_path_from_the_command_line(csv_path, tmp_path, sparse):
    out = tmp_path / 'sampled'
    train(csv_path, out, '--sampled', '--fanout', '-1', '--layers', '2',
          *(['--sparse-grad'] if sparse else []))
    result = json.load(open(out / 'result.json'))
    assert result['statistics']['users'] == 30
    cfg = yaml.safe_load(open(out / 'config.yaml'))
    assert cfg['train']['sampled'] and cfg['train']['fanout'] == [-1]
    assert cfg['train']['sparse_grad'] is sparse


def test_sparse_grad_needs_sampled(csv_path, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train(csv_path, tmp_path / 'run', '--sparse-grad')
    assert 'train.sparse_grad needs train.sampled' in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()


def test_missing_data_fails_before_any_output(tmp_path, capsys):
    for flags, match in ((['--dataset', 'beuaty'], "did you mean 'beauty'"),
                         (['--data', str(tmp_path / 'no.csv')], 'no file')):
        with pytest.raises(SystemExit):
            main(['train', *flags, '--out', str(tmp_path / 'run')])
        assert match in capsys.readouterr().err
        assert not (tmp_path / 'run').exists()
