"""adar_pyg.report (adar-pyg report): one table per dataset, the means,
relative improvements and p-values on the same seeds, and plots with
labelled axes, integer epochs and no truncated bars."""
import json
import math
import os

import pytest
import yaml

from adar_pyg import plot
from adar_pyg.report import holm, markdown, report_runs, summarize

METRICS = ('recall@10', 'recall@20', 'ndcg@10', 'ndcg@20')


def make_run(root, name, dataset, augmenter, seed, recall, data=None,
             digest=None):
    d = root / name
    d.mkdir()
    config = {'run': {'task': 'cf', 'seed': seed},
              'data': {'dataset': dataset, 'data': data},
              'split': {'split_seed': seed},
              'train': {'augmenter': augmenter}}
    if digest is not None:  # The data file's SHA-256, in fingerprint.json:
        (d / 'fingerprint.json').write_text(json.dumps({
            'format': 1, 'config': {'settings': config},
            'data': {'ratings.csv': digest}}))
    history = [{'epoch': e, 'loss': 1.0 / e, 'val_recall@20': recall * e / 3}
               for e in (1, 2, 3)]
    result = {'test': {m: recall for m in METRICS}, 'seconds_per_epoch': 1.0,
              'best_epoch': 3, 'history': history}
    (d / 'config.yaml').write_text(yaml.safe_dump(config))
    (d / 'result.json').write_text(json.dumps(result))
    return str(d)


def rows_of(text):
    return [line for line in text.splitlines() if line.startswith('| ')
            and not line.startswith('| variant')]


def test_runs_of_different_datasets_are_never_compared(tmp_path):
    runs = [make_run(tmp_path, f'{ds}-{aug}-{s}', ds, aug, s, r)
            for ds, base in (('beauty', 0.10), ('toys', 0.03))
            for aug, r in (('none', base), ('adar', base * 1.1))
            for s in (0, 1)]
    # A run on its own data file counts as the dataset of the file's stem:
    runs.append(make_run(tmp_path, 'own', 'beauty', 'none', 0, 0.5,
                         data='/x/ratings.csv'))
    text = report_runs(runs, out=str(tmp_path / 'report'))
    assert text.startswith('9 runs in 3 tables (beauty, toys, ratings)')
    tables = text.split('### ')[1:]
    assert [t.split(':')[0] for t in tables] == ['beauty', 'toys', 'ratings']
    for table in tables[:2]:
        assert '4 runs, 2 groups' in table
        rel = [r.split(' | ')[6] for r in rows_of(table)]
        assert rel == ['', '+10.00%']  # not +206.84% across datasets
    assert '1 runs, 1 group ' in tables[2]
    assert os.path.getsize(tmp_path / 'report' / 'report.png') > 1000
    assert open(tmp_path / 'report' / 'report.md').read() == text


def test_runs_on_other_versions_of_a_data_file_are_never_paired(tmp_path):
    r"""Runs of one data file name whose recorded SHA-256 differ (the file
    was edited between them) are in separate tables, never paired."""
    runs = [make_run(tmp_path, f'{aug}-{s}', 'x', aug, s, r,
                     data='ratings.csv', digest=digest)
            for aug, r, digest in (('none', 0.1, 'a' * 64),
                                   ('adar', 0.2, 'b' * 64))
            for s in (0, 1)]
    text = report_runs(runs)
    tables = text.split('### ')[1:]
    assert len(tables) == 2 and 'never compared' in text
    assert all('2 runs, 1 group ' in t for t in tables)
    assert not any(r.split(' | ')[6] for r in rows_of(text))  # No RelImp.
    # The same digests pair up as before:
    same = [make_run(tmp_path, f's{aug}-{s}', 'x', aug, s, r,
                     data='ratings.csv', digest='a' * 64)
            for aug, r in (('none', 0.1), ('adar', 0.2)) for s in (0, 1)]
    assert '4 runs, 2 groups' in report_runs(same)


def test_where_a_run_ran_or_found_its_data_does_not_split_a_group(
        tmp_path):
    r"""Runs that differ in their device, threads or the data file's path
    (the same file: its digest) are one group, named by what they
    compute."""
    runs = []
    for aug, r in (('none', 0.1), ('adar', 0.2)):
        for s, folder, threads in ((0, 'a', 1), (1, 'b', 2)):
            runs.append(make_run(tmp_path, f'{aug}-{s}', 'x', aug, s, r,
                                 data=f'{folder}/ratings.csv',
                                 digest='a' * 64))
            path = tmp_path / f'{aug}-{s}' / 'config.yaml'
            config = yaml.safe_load(path.read_text())
            config['run'].update(threads=threads, device=f'cpu:{s}')
            path.write_text(yaml.safe_dump(config))
    text = report_runs(runs)
    assert '4 runs, 2 groups' in text
    assert [r.split(' | ')[0] for r in rows_of(text)] == [
        '| augmenter=none', '| augmenter=adar']


def test_settings_a_run_does_not_read_neither_split_nor_name_a_group(
        tmp_path):
    r"""ADAR's settings do not split the runs without an augmenter (nor
    name their group); they do split ADAR's own runs."""
    runs = []
    for aug, weight, r, seeds in (('none', 0.7, 0.1, [0]),
                                  ('none', 0.5, 0.1, [1]),
                                  ('adar', 0.7, 0.2, [0, 1]),
                                  ('adar', 0.5, 0.3, [0, 1])):
        for s in seeds:
            d = make_run(tmp_path, f'{aug}-{weight}-{s}', 'x', aug, s,
                         r + s / 100)
            path = os.path.join(d, 'config.yaml')
            config = yaml.safe_load(open(path))
            config['adar'] = {'weight': weight, 'num_steps': 20}
            open(path, 'w').write(yaml.safe_dump(config))
            runs.append(d)
    text = report_runs(runs)
    assert '6 runs, 3 groups' in text
    assert [r.split(' | ')[0] for r in rows_of(text)] == [
        '| augmenter=none', '| weight=0.7, augmenter=adar',
        '| weight=0.5, augmenter=adar']


def test_runs_with_other_test_sets_are_never_paired(tmp_path):
    r"""Runs of one dataset tested on other test sets (leave-one-out and a
    random split, two test ratios, a k-core filter) are in separate
    tables, never paired."""
    runs = []
    for name, change in (('cf', {}), ('sr', {'run': {'task': 'sr'}}),
                         ('half', {'split': {'test_ratio': 0.5}}),
                         ('core', {'data': {'k_core': 5}})):
        for aug, r in (('none', 0.1), ('adar', 0.2)):
            for s in (0, 1):
                d = make_run(tmp_path, f'{name}-{aug}-{s}', 'x', aug, s, r)
                path = os.path.join(d, 'config.yaml')
                config = yaml.safe_load(open(path))
                config['split'].setdefault('test_ratio', 0.2)
                for section, body in change.items():
                    config[section].update(body)
                open(path, 'w').write(yaml.safe_dump(config))
                runs.append(d)
    text = report_runs(runs)
    tables = text.split('### ')[1:]
    assert [t.split(':')[0] for t in tables] == [
        'x (k_core=None, task=cf, test_ratio=0.2)',
        'x (k_core=None, task=sr)',  # (SR reads no test_ratio)
        'x (k_core=None, task=cf, test_ratio=0.5)',
        'x (k_core=5, task=cf, test_ratio=0.2)']
    assert all('4 runs, 2 groups' in t for t in tables)
    assert text.startswith('16 runs in 4 tables')


def test_two_runs_of_one_experiment_and_seed_are_refused(tmp_path):
    from adar_pyg.errors import UsageError
    runs = [make_run(tmp_path, f'r-{device}', 'x', 'none', 0, r)
            for device, r in (('cpu', 0.1), ('cuda', 0.3))]
    path = os.path.join(runs[1], 'config.yaml')
    config = yaml.safe_load(open(path))
    config['run']['device'] = 'cuda'
    open(path, 'w').write(yaml.safe_dump(config))
    with pytest.raises(UsageError, match="runs '.*r-cpu' and '.*r-cuda' are "
                       "the same experiment .* with the same seed 0"):
        report_runs(runs)


def test_a_run_given_twice_or_a_run_directory_as_out_is_refused(tmp_path):
    from adar_pyg.errors import RunDirError, UsageError
    run = make_run(tmp_path, 'r', 'beauty', 'none', 0, 0.1)
    with pytest.raises(UsageError, match='given twice'):
        report_runs([run, str(tmp_path / '.' / 'r')])
    with pytest.raises(RunDirError, match='is a run directory'):
        report_runs([run], out=run)
    (tmp_path / 'file').write_text('x')
    with pytest.raises(RunDirError, match='is a file'):
        report_runs([run], out=str(tmp_path / 'file'))


def test_relimp_and_means_use_the_same_seeds(tmp_path):
    # base on seeds 0, 1, 2; adar on 0, 1: every number over seeds 0 and 1.
    base = {0: 0.10, 1: 0.12, 2: 0.50}
    adar = {0: 0.11, 1: 0.13}
    runs = [make_run(tmp_path, f'base-{s}', 'beauty', 'none', s, r)
            for s, r in base.items()]
    runs += [make_run(tmp_path, f'adar-{s}', 'beauty', 'adar', s, r)
             for s, r in adar.items()]
    text = report_runs(runs)
    assert 'over seeds 0, 1, those every group has' in text
    assert '4 runs, 2 groups' in text
    base_row, adar_row = rows_of(text)
    cells = base_row.split(' | ')
    assert cells[1] == '2' and cells[3].startswith('11.00 ±')  # not 24.00
    cells = adar_row.split(' | ')
    assert cells[1] == '2' and cells[3].startswith('12.00 ±')
    assert cells[6] == f'{100 * (0.12 / 0.11 - 1):+.2f}%'  # the means shown
    left = text.split('Left out')[1]
    assert 'base-2' in left and 'seed 2' in left


def test_no_shared_seed_compares_nothing(tmp_path):
    runs = [make_run(tmp_path, 'base-0', 'beauty', 'none', 0, 0.1),
            make_run(tmp_path, 'adar-1', 'beauty', 'adar', 1, 0.2)]
    text = report_runs(runs)
    assert 'no seed is shared by all groups' in text
    assert all(r.split(' | ')[6] == '' for r in rows_of(text))


def test_summarize_labels_a_relimp_on_fewer_seeds():
    cells = {f'{g}/{s}': {'test': {m: v for m in METRICS},
                          'seconds_per_epoch': 1.0, 'best_epoch': 1}
             for g, seeds in (('base', (0, 1, 2)), ('adar', (0, 1)))
             for s, v in zip(seeds, (0.1, 0.2, 0.3))}
    rows = summarize(cells, ['base', 'adar'], 'base', [0, 1, 2],
                     lambda g, s: f'{g}/{s}')
    assert rows[1]['paired'] == [0, 1] and 'paired' not in rows[0]
    assert math.isclose(rows[1]['recall@20_relimp'], 0.0)
    text = markdown(rows, 't')
    assert '+0.00% (paired seeds 0, 1)' in text
    # All seeds paired: no label.
    rows = summarize(cells, ['base', 'adar'], 'base', [0, 1],
                     lambda g, s: f'{g}/{s}')
    assert '(paired seeds' not in markdown(rows, 't')


@pytest.fixture
def figures(monkeypatch):
    saved = []
    monkeypatch.setattr(plot, 'save_figure',
                        lambda fig, path, tight=True: saved.append(fig))
    return saved


def check_axes(fig):
    for ax in fig.axes:
        assert ax.get_ylabel(), ax.get_title()
        if ax.get_xlabel() == 'epoch':
            ticks = [t for t in ax.get_xticks()
                     if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert not ax.patches  # no bars: a dot plot needs no zero baseline


def test_plots_label_every_axis_with_integer_epochs(figures):
    history = [{'epoch': e, 'loss': 1.0 / e, 'val_recall@20': 0.1 * e,
                'test_recall@20': 0.1 * e, 'aug_t_star': 10.0 + e,
                'aug_gen_above_pos': 0.1} for e in (1, 2, 3)]
    plot.plot_curves(history, 'unused.png')
    results = [{'test': {'recall@20': 0.1 * s, 'ndcg@20': 0.05 * s},
                'history': history} for s in (1, 2)]
    plot.plot_comparison({'beauty': {'base': results, 'adar': results},
                          'toys': {'base': results}}, 'unused.png',
                         curves={'beauty': {'base': [history]},
                                 'toys': {'base': [history]}})
    plot.plot_comparison({'base': results}, 'unused.png')  # one dataset
    assert len(figures) == 3
    for fig in figures:
        check_axes(fig)
    assert len(figures[1].axes) == 6  # 2 datasets x (2 metrics + curves)


def test_curves_mark_the_run_s_selected_epoch(figures):
    # Selected on NDCG@10 (`train.monitor`): epoch 2, not Recall@20's 3.
    history = [{'epoch': e, 'loss': 1.0, 'val_recall@20': 0.1 * e,
                'val_ndcg@10': [0.1, 0.3, 0.2][e - 1]} for e in (1, 2, 3)]
    plot.plot_curves(history, 'unused.png', best_epoch=2)
    plot.plot_curves(history, 'unused.png')
    assert [f.axes[1].get_title() for f in figures] == [
        'selected: epoch 2', 'selected: epoch 3']
    marks = [line.get_xdata()[0] for line in figures[0].axes[0].lines
             if line.get_linestyle() == ':']
    assert marks == [2]


def test_holm_step_down_and_nan():
    # Sorted 0.01 < 0.03 < 0.04: times 3, 2, 1, made non-decreasing:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    # A test without enough pairs is left out of the family:
    out = holm([math.nan, 0.02, 0.04])
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.04])


def test_a_published_split_ignores_test_ratio(tmp_path):
    runs = []
    for ratio, aug, r in ((0.2, 'none', 0.1), (0.5, 'adar', 0.2)):
        for s in (0, 1):
            d = make_run(tmp_path, f'{aug}-{s}', 'ood-food', aug, s, r)
            path = os.path.join(d, 'config.yaml')
            config = yaml.safe_load(open(path))
            config['split']['test_ratio'] = ratio  # (not read: published)
            open(path, 'w').write(yaml.safe_dump(config))
            runs.append(d)
    assert '4 runs, 2 groups' in report_runs(runs)


def test_a_run_without_the_split_hints_the_other(tmp_path):
    from adar_pyg.errors import UsageError
    d = make_run(tmp_path, 'trial-0', 'x', 'none', 0, 0.1)
    result = json.loads(open(os.path.join(d, 'result.json')).read())
    result['val'] = result.pop('test')  # (a tuning trial: never tested)
    open(os.path.join(d, 'result.json'), 'w').write(json.dumps(result))
    with pytest.raises(UsageError, match="has no 'test' metrics") as e:
        report_runs([d])
    assert e.value.hint == ('it has val metrics: report them with --split '
                            'val (a tuning trial is never tested)')


def test_a_run_with_an_empty_validation_split_hints_the_test(tmp_path):
    from adar_pyg.errors import UsageError
    d = make_run(tmp_path, 'no-val', 'x', 'none', 0, 0.1)
    result = json.loads(open(os.path.join(d, 'result.json')).read())
    result['val'] = {}  # (trained with split.val_ratio 0)
    open(os.path.join(d, 'result.json'), 'w').write(json.dumps(result))
    with pytest.raises(UsageError, match="has no 'val' metrics") as e:
        report_runs([d], split='val')
    assert e.value.hint == 'it has test metrics: report them with --split test'
    result['test_ood'] = result['test']
    open(os.path.join(d, 'result.json'), 'w').write(json.dumps(result))
    with pytest.raises(UsageError, match="has no 'foo' metrics") as e:
        report_runs([d], split='foo')  # (a split no run records)
    assert e.value.hint == ('it has test, test_ood metrics: report them '
                            'with --split test')


def test_a_run_is_grouped_by_what_it_was_trained_with(tmp_path):
    r"""A config.yaml edited, cut short or damaged since training (its
    settings recorded in fingerprint.json) is refused by name: the run's
    metrics are never filed under settings it was not trained with."""
    from adar_pyg.errors import RunDirError
    runs = [make_run(tmp_path, f'{aug}-{s}', 'x', aug, s, 0.1,
                     digest='a' * 64)
            for aug in ('none', 'adar') for s in (0, 1)]
    assert '4 runs, 2 groups' in report_runs(runs)
    path = os.path.join(runs[0], 'config.yaml')
    written = open(path).read()
    for edit, match in (
            (lambda c: c['train'].update(augmenter='adar'),
             'changed since training: train.augmenter "none" -> "adar"'),
            (lambda c: c['train'].update(lr=0.5),
             'changed since training: train.lr 0.001 -> 0.5'),
            (lambda c: c['run'].pop('seed'), "lacks setting 'run.seed'"),
            (lambda c: c.update(notes='March export'),
             "'notes' is not a section of settings \\(got str\\)")):
        config = yaml.safe_load(written)
        edit(config)
        open(path, 'w').write(yaml.safe_dump(config))
        with pytest.raises(RunDirError, match=match) as e:
            report_runs(runs)
        assert 'restore config.yaml' in e.value.hint
    open(path, 'w').write(written)
    # A run without fingerprint.json (an older version's) needs its seed:
    old = make_run(tmp_path, 'old', 'x', 'none', 0, 0.1)
    config = yaml.safe_load(open(os.path.join(old, 'config.yaml')))
    del config['run']['seed']
    open(os.path.join(old, 'config.yaml'), 'w').write(yaml.safe_dump(config))
    with pytest.raises(RunDirError, match='has no run.seed'):
        report_runs([old])


def test_sr_runs_with_and_without_history_masking_are_never_compared():
    r"""Masking the history changes which items a test ranks: SR runs that
    differ in it are other test protocols (a run recorded before the
    setting existed masked, as the default does)."""
    from adar_pyg.report import test_protocol
    sr = {'run': {'task': 'sr'}, 'data': {'dataset': 'beauty'}}
    masked = test_protocol({**sr, 'train': {'mask_history': True}})
    assert test_protocol({**sr, 'train': {'mask_history': False}}) != masked
    assert test_protocol(sr) == masked
    cf = {'run': {'task': 'cf'}, 'data': {'dataset': 'beauty'}}
    assert 'train.mask_history' not in test_protocol(cf)
