r"""A run directory knows what it was trained on and has one writer: a
changed split seed, a renamed user, a config cut short, a finished or
foreign resume and a second writer are refused with a
:class:`~adar_pyg.errors.RunDirError` naming the cause, before anything
is written."""
import json
import multiprocessing
import os
import shutil

import pytest
import torch
import yaml

from adar_pyg import fingerprint, run, rundir
from adar_pyg.config import Config
from adar_pyg.errors import RunDirError
from adar_pyg.train import load_checkpoint, save_checkpoint
from adar_pyg.train.checkpoint import CheckpointMismatchError

from scripts import snapshot

QUIET = dict(progress=False, plot=False, log=lambda line: None)


class Killed(Exception):
    pass


def write_csv(path, rename=None):
    r"""40 users in two taste groups, 10 of 16 items each (400 rows, 32
    items)."""
    g = torch.Generator().manual_seed(0)
    lines = ['user,item,timestamp']
    for u in range(40):
        items = torch.randperm(16, generator=g)[:10] + 16 * (u % 2)
        for t, i in enumerate(items.tolist()):
            user = f'u{u:02d}'
            lines.append(f'{rename.get(user, user) if rename else user},'
                         f'i{i},{100 + t}')
    path.write_text('\n'.join(lines) + '\n')
    return path


def config(csv, model='lightgcn', **train):
    return Config.build({
        'run': {'device': 'cpu', 'threads': 1},
        'data': {'data': str(csv)},
        'model': {'model': model, 'dim': 8, 'layers': 1},
        'train': {'epochs': 3, 'batch_size': 64, 'patience': 10, **train}})




@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    r"""A finished 3-epoch run on its own CSV (copied by :func:`copy`)."""
    root = tmp_path_factory.mktemp('finished')
    csv = write_csv(root / 'ratings.csv')
    run.train(config(csv), str(root / 'run'), **QUIET)
    return root


def copy(finished, tmp_path):
    shutil.copy(finished / 'ratings.csv', tmp_path / 'ratings.csv')
    shutil.copytree(finished / 'run', tmp_path / 'run')
    edit_config(tmp_path / 'run', lambda c: c['data'].update(
        data=str(tmp_path / 'ratings.csv')))  # data.data may move.
    return tmp_path / 'run'


def edit_config(out, change):
    path = out / 'config.yaml'
    cfg = yaml.safe_load(path.read_text())
    change(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def interrupted(tmp_path):
    r"""A run killed after the evaluation of epoch 2 of 3."""
    csv = write_csv(tmp_path / 'ratings.csv')

    def log(line):
        if line.startswith('epoch    2'):
            raise Killed(line)

    with pytest.raises(Killed):
        run.train(config(csv), str(tmp_path / 'run'), progress=False,
                  plot=False, log=log)
    return tmp_path / 'run'


def test_fingerprint_is_recorded_and_checked(finished, tmp_path):
    out = copy(finished, tmp_path)
    fp = json.loads((out / 'fingerprint.json').read_text())
    assert set(fp) == {'format', 'adar_pyg', 'config', 'data', 'data_path',
                       'split', 'ids'}
    assert fp['data_path'] == str(finished / 'ratings.csv')
    assert fp['data'] == {'ratings.csv': fingerprint.sha256_file(
        str(finished / 'ratings.csv'))}
    assert fp['config']['settings']['split']['split_seed'] == 0
    for name in ('best.pt', 'last.pt'):
        state = load_checkpoint(out / 'checkpoints' / name)
        assert state['meta']['fingerprint'] == fp, name
    # Unchanged inputs: evaluate re-scores the saved model exactly.
    result = json.loads((out / 'result.json').read_text())
    assert run.evaluate(str(out)) == result['test']


def refused_by_every_reader(out, match, recommend=False):
    r"""evaluate, resume (and recommend) of the run :obj:`out` raise a
    :class:`RunDirError` matching :obj:`match`, and write nothing."""
    before = snapshot(out)
    reads = [lambda: run.evaluate(str(out)),
             lambda: run.resume(str(out), **QUIET)]
    if recommend:
        reads.append(lambda: run.recommend(str(out), 'u03'))
    for read in reads:
        with pytest.raises(RunDirError, match=match):
            read()
    assert snapshot(out) == before


def test_split_seed_changed(finished, tmp_path):
    out = copy(finished, tmp_path)
    edit_config(out, lambda c: c['split'].update(split_seed=1))
    refused_by_every_reader(out, r'config.yaml changed since training: '
                            r'split.split_seed 0 -> 1', recommend=True)


def test_split_differs(finished, tmp_path):
    out = copy(finished, tmp_path)
    fp = json.loads((out / 'fingerprint.json').read_text())
    fp['split'] = '0' * 64  # As if the splitting code had changed.
    (out / 'fingerprint.json').write_text(json.dumps(fp))
    with pytest.raises(RunDirError, match=r'the split differs from the one '
                       r'it was trained on \(split.split_seed'):
        run.evaluate(str(out))


def test_package_version_differs(finished, tmp_path):
    import adar_pyg
    out = copy(finished, tmp_path)
    fp = json.loads((out / 'fingerprint.json').read_text())
    fp['adar_pyg'] = '0.0.1'
    (out / 'fingerprint.json').write_text(json.dumps(fp))
    with pytest.raises(RunDirError, match=r'it was trained with adar_pyg '
                       rf'0.0.1 \(this is {adar_pyg.__version__}\)'):
        run.recommend(str(out), 'u03')


def test_user_renamed_in_the_csv(finished, tmp_path):
    out = copy(finished, tmp_path)
    write_csv(tmp_path / 'ratings.csv', rename={'u03': 'u03-renamed'})
    for read in (lambda: run.evaluate(str(out)),
                 lambda: run.recommend(str(out), 'u03')):
        with pytest.raises(RunDirError, match=r"the data file '.*ratings.csv'"
                           r' differs from the one it was trained on; the '
                           r'user or item ids differ'):
            read()


def test_ids_json_changed(finished, tmp_path):
    out = copy(finished, tmp_path)
    ids = json.loads((out / 'ids.json').read_text())
    ids['user'][3], ids['user'][4] = ids['user'][4], ids['user'][3]
    (out / 'ids.json').write_text(json.dumps(ids))
    with pytest.raises(RunDirError, match='ids.json was changed'):
        run.recommend(str(out), 'u03')


@pytest.mark.parametrize('cut,missing', [
    (lambda c: c.pop('train'), "section 'train'"),
    (lambda c: c['train'].pop('epochs'), "setting 'train.epochs'"),
])
def test_config_cut_short(finished, tmp_path, cut, missing):
    out = copy(finished, tmp_path)
    edit_config(out, cut)
    refused_by_every_reader(out, f'config.yaml lacks {missing}, which the '
                            f'run had')


@pytest.mark.parametrize('stray', ['March export', 3, None])
def test_config_with_a_value_that_is_no_section(finished, tmp_path, stray):
    r"""A top-level value that is no section of settings (an edit) is
    named, not a traceback."""
    out = copy(finished, tmp_path)
    edit_config(out, lambda c: c.update(notes=stray))
    refused_by_every_reader(out, "'notes' is not a section of settings",
                            recommend=True)


def test_config_truncated_file(finished, tmp_path):
    out = copy(finished, tmp_path)
    text = (out / 'config.yaml').read_text()
    (out / 'config.yaml').write_text(text[:len(text) // 3].rsplit('\n',
                                                                1)[0] + '\n')
    with pytest.raises(RunDirError, match="config.yaml lacks sections "
                       "'sampler', 'train', 'adar', 'cnsdiff' and settings "
                       r"'model\.\w+', .* \(of \d+\), which the run had"):
        run.resume(str(out), **QUIET)


def test_resume_of_a_finished_run(finished, tmp_path):
    out = copy(finished, tmp_path)
    before = snapshot(out)
    with pytest.raises(RunDirError, match=r'is finished \(3 epochs, best '
                       r'epoch \d\): nothing to resume'):
        run.resume(str(out), **QUIET)
    assert snapshot(out) == before


def test_a_legacy_run_is_refused(finished, tmp_path):
    out = copy(finished, tmp_path)
    os.remove(out / 'fingerprint.json')
    with pytest.raises(RunDirError, match='has no fingerprint.json'):
        run.evaluate(str(out))


@pytest.mark.parametrize('recorded', [True, False])
def test_a_setting_an_older_version_took_is_named_so(finished, tmp_path,
                                                     recorded):
    r"""A config.yaml as the run wrote it (its fingerprint agrees) that this
    version refuses was written by the older version that took it: the
    error says so, not that the file was damaged; the run's report still
    reads."""
    out = copy(finished, tmp_path)
    edit_config(out, lambda c: c['train'].update(sparse_grad=True))
    if recorded:
        path = out / 'fingerprint.json'
        fp = json.loads(path.read_text())
        fp['config']['settings']['train']['sparse_grad'] = True
        fp['adar_pyg'] = '0.1.0'
        path.write_text(json.dumps(fp))
    refused_by_every_reader(out, (
        r'trained with settings that this adar_pyg refuses \(its '
        r'config.yaml is as the run wrote it, by adar_pyg 0.1.0\): '
        if recorded else r"run '.*': ") + r'.*sparse_grad needs')
    with pytest.raises(RunDirError) as e:
        run.evaluate(str(out))
    assert ('still reads' if recorded else 'restore config.yaml') in \
        e.value.hint
    if recorded:
        from adar_pyg.report import report_runs
        assert f'- `{out}` (' in report_runs([str(out)])


def forget_setting(out, section, name):
    r"""Makes :obj:`out` look recorded by a version without the setting
    :obj:`section.name`: gone from config.yaml, fingerprint.json and the
    checkpoints' records (their digest kept, as that version wrote it)."""
    edit_config(out, lambda c: c[section].pop(name))
    path = out / 'fingerprint.json'
    fp = json.loads(path.read_text())
    fp['config']['settings'][section].pop(name)
    path.write_text(json.dumps(fp))
    for ckpt in (out / 'checkpoints').iterdir():
        state = load_checkpoint(ckpt)
        state['meta']['fingerprint'] = fp
        save_checkpoint(state, ckpt)


@pytest.mark.parametrize('section,name', [('train', 'mask_history'),
                                          ('sampler', 'sampler')])
def test_a_setting_added_later_reads_at_its_default(finished, tmp_path,
                                                    section, name):
    # A run recorded before a setting existed is read (and re-scored
    # exactly) with the setting at its default, not refused as changed:
    out = copy(finished, tmp_path)
    result = json.loads((out / 'result.json').read_text())
    forget_setting(out, section, name)
    assert run.evaluate(str(out)) == result['test']
    assert run.recommend(str(out), 'u03')


def test_a_setting_added_later_resumes_at_its_default(tmp_path):
    out = interrupted(tmp_path)
    forget_setting(out, 'train', 'mask_history')
    result = run.resume(str(out), **QUIET)
    assert result['epochs_run'] == 3
    assert run.evaluate(str(out)) == result['test']


def test_a_setting_added_later_and_changed_is_refused(finished, tmp_path):
    out = copy(finished, tmp_path)
    forget_setting(out, 'sampler', 'sampler')
    # ... but the same run with the new setting away from its default is
    # another run:
    edit_config(out, lambda c: c['sampler'].update(sampler='dns'))
    refused_by_every_reader(out, r'config.yaml changed since training: '
                            r'sampler.sampler "uniform" -> "dns"')


def test_resume_of_an_interrupted_run(tmp_path):
    out = interrupted(tmp_path)
    assert len((out / 'metrics.jsonl').read_text().splitlines()) == 2
    result = run.resume(str(out), **QUIET)
    assert result['epochs_run'] == 3
    assert run.evaluate(str(out)) == result['test']


def test_foreign_last_checkpoint(tmp_path):
    # NGCF's last.pt in a LightGCN run: refused, metrics.jsonl untouched.
    out = interrupted(tmp_path)
    other = tmp_path / 'ngcf'
    run.train(config(tmp_path / 'ratings.csv', 'ngcf'), str(other), **QUIET)
    shutil.copy(other / 'checkpoints' / 'last.pt',
                out / 'checkpoints' / 'last.pt')
    before = snapshot(out)
    with pytest.raises(RunDirError, match=r'checkpoints/last.pt belongs to '
                       r'another run \(the settings differ \(model.model '
                       r'"lightgcn" -> "ngcf"'):
        run.resume(str(out), **QUIET)
    assert snapshot(out) == before


def test_checkpoint_that_does_not_fit(tmp_path):
    out = interrupted(tmp_path)
    last = out / 'checkpoints' / 'last.pt'
    state = load_checkpoint(last)
    key = next(k for k, v in state['model'].items() if v.dim() == 2)
    shape = list(state['model'][key].shape)
    state['model'][key] = torch.zeros(shape[0], shape[1] + 4)
    save_checkpoint(state, last)
    before = snapshot(out)
    with pytest.raises(CheckpointMismatchError, match=(
            rf"last.pt' does not fit the model \(LightGCN\): '{key}' is "
            rf"\[{shape[0]}, {shape[1] + 4}\] there, \[{shape[0]}, "
            rf"{shape[1]}\] here")):
        run.resume(str(out), **QUIET)
    assert snapshot(out) == before


def test_best_checkpoint_that_does_not_fit(finished, tmp_path):
    out = copy(finished, tmp_path)
    best = out / 'checkpoints' / 'best.pt'
    state = load_checkpoint(best)
    state['model'] = {k + '_renamed': v for k, v in state['model'].items()}
    save_checkpoint(state, best)
    with pytest.raises(CheckpointMismatchError, match=r"best.pt' does not "
                       r'fit the model .*it lacks'):
        run.evaluate(str(out))


# -- The run directory: one writer, no foreign files, no empty leftovers ----

def test_overwrite_refuses_foreign_files(tmp_path):
    csv = write_csv(tmp_path / 'ratings.csv')
    folder = tmp_path / 'notes'
    folder.mkdir()
    (folder / 'notes.txt').write_text('mine')
    (folder / 'result.json').write_text('{}')
    with pytest.raises(RunDirError, match=r"holds files that are not a "
                       r"run's \(notes.txt\).*even with --overwrite"):
        run.train(config(csv), str(folder), overwrite=True, **QUIET)
    assert snapshot(folder) == {'notes.txt': b'mine', 'result.json': b'{}'}
    # A stray result.json alone is not replaced without --overwrite:
    os.remove(folder / 'notes.txt')
    with pytest.raises(RunDirError, match='exists already: pass '
                       '--overwrite'):
        run.train(config(csv), str(folder), **QUIET)
    assert snapshot(folder) == {'result.json': b'{}'}


def test_overwrite_replaces_a_run(finished, tmp_path):
    out = copy(finished, tmp_path)
    (out / 'curves.png').write_bytes(b'old')
    run.train(config(tmp_path / 'ratings.csv', epochs=1), str(out),
              overwrite=True, **QUIET)
    assert not (out / 'curves.png').exists()  # plot=False: the old one went
    assert json.loads((out / 'result.json').read_text())['epochs_run'] == 1
    assert run.evaluate(str(out))


def test_failed_start_leaves_nothing(finished, tmp_path):
    csv = write_csv(tmp_path / 'ratings.csv')
    bad = Config.build({**config(csv).to_dict(),
                        'data': {'data': str(csv), 'user_col': 'nobody'}})
    with pytest.raises(Exception, match='nobody'):
        run.train(bad, str(tmp_path / 'new'), **QUIET)
    assert not (tmp_path / 'new').exists()
    # With --overwrite, the old run stays as it was:
    old = tmp_path / 'old'
    shutil.copytree(finished / 'run', old)
    before = snapshot(old)
    with pytest.raises(Exception, match='nobody'):
        run.train(bad, str(old), overwrite=True, **QUIET)
    assert snapshot(old) == before


def _hold_the_run(csv, out, started, release):
    r"""Trains into :obj:`out` and pauses after the first evaluation until
    :obj:`release` is set (60 s at most)."""
    def log(line):
        if line.startswith('epoch    1'):
            started.set()
            release.wait(60)

    torch.set_num_threads(1)
    run.train(config(csv), out, overwrite=True, progress=False, plot=False,
              log=log)


def test_two_writers(tmp_path):
    csv = write_csv(tmp_path / 'ratings.csv')
    out = str(tmp_path / 'run')
    ctx = multiprocessing.get_context('spawn')
    started, release = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_hold_the_run,
                         args=(csv, out, started, release))
    writer.start()
    try:
        assert started.wait(120), 'the first writer did not start'
        busy = f"run directory '{out}' is in use by pid {writer.pid}"
        with pytest.raises(RunDirError, match=busy):
            run.train(config(csv), out, overwrite=True, **QUIET)
        with pytest.raises(RunDirError, match=busy):
            run.resume(out, **QUIET)
        with pytest.raises(RunDirError, match=busy):  # Readers wait too.
            run.evaluate(out)
    finally:
        release.set()
        writer.join(120)
        if writer.is_alive():
            writer.kill()
    assert writer.exitcode == 0
    result = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert result['epochs_run'] == 3
    assert run.evaluate(out) == result['test']


def test_lock_is_reentrant_and_released(tmp_path):
    with rundir.lock(str(tmp_path)):
        with rundir.lock(str(tmp_path)):
            pass
        assert (tmp_path / rundir.LOCK).read_text().strip() == \
            str(os.getpid())
    assert (tmp_path / rundir.LOCK).read_text() == ''
    with rundir.lock(str(tmp_path), shared=True):
        with rundir.lock(str(tmp_path), shared=True):
            pass
        with pytest.raises(RunDirError, match='being read by this process'):
            with rundir.lock(str(tmp_path)):
                pass


@pytest.mark.parametrize('name,files', [
    ('beauty', ['Beauty.txt']),
    ('gowalla', ['test.txt', 'train.txt']),
    ('ood-food', ['test.txt', 'test_iid.txt', 'train.txt', 'valid_iid.txt']),
])
def test_data_files_of_a_built_in_dataset(name, files, tmp_path):
    # The raw files, found without loading (or downloading) the dataset:
    cfg = Config.build({'data': {'dataset': name,
                                 'data_root': str(tmp_path)}})
    paths = fingerprint.data_files(cfg)
    assert sorted(os.path.basename(p) for p in paths) == files
    assert all(p.startswith(str(tmp_path / name)) for p in paths)
    assert fingerprint.data_digest(cfg) is None  # Not there yet.


def test_a_relative_data_path_is_found_from_another_folder(tmp_path,
                                                           monkeypatch):
    r"""A run trained with a relative :obj:`--data` is read (evaluated,
    resumed) from another working directory: its config keeps the path as
    given, its fingerprint where that file lay; and still refused when the
    file changed."""
    (tmp_path / 'work').mkdir()
    csv = write_csv(tmp_path / 'work' / 'ratings.csv')
    monkeypatch.chdir(tmp_path / 'work')
    cfg = Config.build(config('ratings.csv').to_dict(),
                       {'train': {'epochs': 2}})
    result = run.train(cfg, 'run', **QUIET)
    assert yaml.safe_load(open('run/config.yaml'))['data']['data'] == \
        'ratings.csv'
    monkeypatch.chdir(tmp_path)
    assert not os.path.exists('ratings.csv')
    assert run.evaluate('work/run') == result['test']
    # Another file of that name where it is read from: still the training's.
    (tmp_path / 'ratings.csv').write_text(csv.read_text() + 'u00,i31,9\n')
    assert run.evaluate('work/run') == result['test']
    original = csv.read_text()
    csv.write_text(original + 'u00,i31,999\n')
    with pytest.raises(RunDirError, match="data file '.*work/ratings.csv' "
                       "differs"):
        run.evaluate('work/run')
    # ... unless the file of that name here is the data trained on:
    (tmp_path / 'ratings.csv').write_text(original)
    assert run.evaluate('work/run') == result['test']


@pytest.mark.parametrize('read', [
    lambda d: run.evaluate(d), lambda d: run.recommend(d, 'u00'),
    lambda d: run.resume(d), lambda d: run.restore(d)])
def test_a_missing_run_directory_or_a_file_is_named_so(tmp_path, read):
    with pytest.raises(RunDirError, match="no run directory '.*nope' "
                       r"\(it does not exist\)"):
        read(str(tmp_path / 'nope'))
    (tmp_path / 'file').write_text('x')
    with pytest.raises(RunDirError, match="is a file, not a run directory"):
        read(str(tmp_path / 'file'))
    assert sorted(os.listdir(tmp_path)) == ['file']  # Nothing created.


def test_a_run_inside_another_run_directory_is_refused(tmp_path):
    cfg = Config.build(config(write_csv(tmp_path / 'ratings.csv')).to_dict(),
                       {'train': {'epochs': 1}})
    run.train(cfg, str(tmp_path / 'outer'), **QUIET)
    with pytest.raises(RunDirError, match="lies inside the run directory"):
        run.train(cfg, str(tmp_path / 'outer' / 'a' / 'inner'), **QUIET)
    assert not (tmp_path / 'outer' / 'a').exists()


def test_extra_outputs_never_replace_inputs_or_another_run(tmp_path):
    from adar_pyg.errors import UsageError
    csv = write_csv(tmp_path / 'ratings.csv')
    cfg = Config.build(config(csv).to_dict(), {'train': {'epochs': 1}})
    run.train(cfg, str(tmp_path / 'one'), **QUIET)
    (tmp_path / 'link.json').symlink_to(csv)
    for kwargs, match in (
            (dict(json_path=str(csv)), 'is the data file of this run'),
            (dict(json_path=str(tmp_path / 'one' / 'result.json')),
             'lies in the run directory'),
            (dict(checkpoint=str(tmp_path / 'one' / 'x.pt')),
             'lies in the run directory'),
            (dict(json_path=str(tmp_path / 'link.json')),
             'is not a regular file'),
            # The run's own files (the copy would fail on itself, or
            # replace its config with the report):
            (dict(checkpoint=str(tmp_path / 'two' / 'checkpoints' /
                                 'best.pt')),
             "is the run's own checkpoints/best.pt: refusing"),
            (dict(json_path=str(tmp_path / 'two' / 'config.yaml')),
             "is the run's own config.yaml: refusing")):
        before = csv.read_text(), (tmp_path / 'one' / 'result.json').read_text()
        with pytest.raises(UsageError, match=match):
            run.train(cfg, str(tmp_path / 'two'), **kwargs, **QUIET)
        assert (csv.read_text(), (tmp_path / 'one' / 'result.json')
                .read_text()) == before
        assert not (tmp_path / 'two').exists()
    # Into its own run directory: written.
    run.train(cfg, str(tmp_path / 'two'), **QUIET,
              json_path=str(tmp_path / 'two' / 'extra.json'))
    assert (tmp_path / 'two' / 'extra.json').is_file()


def test_a_setting_the_run_does_not_read_is_named_before_training(
        tmp_path):
    r"""Given but not read (ADAR's λ without an augmenter, SASRec's heads on
    LightGCN): the run says so in one line before its first epoch."""
    csv = write_csv(tmp_path / 'ratings.csv')
    cfg = Config.build(config(csv, epochs=1).to_dict(),
                       {'adar': {'weight': 0.5}, 'model': {'heads': 4}})
    lines = []
    run.train(cfg, str(tmp_path / 'run'), progress=False, plot=False,
              log=lines.append)
    notes = [line for line in lines if line.startswith('note: not read')]
    assert notes == ['note: not read by this run (recorded as given): '
                     'adar.weight 0.5 (train.augmenter none), model.heads 4 '
                     '(not read by model.model lightgcn)']
    assert lines.index(notes[0]) < min(
        i for i, line in enumerate(lines) if line.startswith('epoch'))
    lines.clear()  # A run at the defaults says nothing:
    run.train(config(csv, epochs=1), str(tmp_path / 'plain'),
              progress=False, plot=False, log=lines.append)
    assert not [line for line in lines if 'not read' in line]
