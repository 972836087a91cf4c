"""The Table 2 harness: markdown from synthetic cells (always), and --quick
end to end on the real mirror (skipped without it)."""
import argparse
import math
import json
import os
import subprocess
import sys

import pytest

from adar_pyg.datasets import default_mirror

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_mirror = pytest.mark.skipif(default_mirror() is None,
                                  reason='local dataset mirror not found')


def load_table2():
    return load_script('benchmarks/table2.py')


def fake_cell(r20, seconds=2.0):
    test = {'recall@10': r20 / 2, 'recall@20': r20, 'ndcg@10': r20 / 3,
            'ndcg@20': r20 / 2.5}
    return {'test': test, 'seconds_per_epoch': seconds, 'best_epoch': 7}


def test_markdown_and_cell_arguments():
    t2 = load_table2()
    cells = {}
    for seed, (base, adar) in enumerate([(0.10, 0.12), (0.11, 0.125),
                                         (0.09, 0.118)]):
        cells[t2.cell_key('toys', 'ahns', 'base', seed)] = fake_cell(base)
        cells[t2.cell_key('toys', 'ahns', 'adar', seed)] = fake_cell(adar, 3.)
    rows = {'toys': {'ahns': t2.summarize(
        cells, ['base', 'adar'], 'base', [0, 1, 2],
        lambda v, s: t2.cell_key('toys', 'ahns', v, s))}}
    md = t2.dataset_table('toys', ['ahns'], rows['toys'])
    assert '### Amazon-Toys' in md
    assert '| AHNS | base | 3 | 5.00 ± 0.50 | 10.00 ± 1.00 |' in md
    assert '| 8.89 | 12.55 | 6.06 | 2.00 | 7 |' in md  # paper, s/epoch
    rel = next(line for line in md.splitlines() if 'RelImp' in line)
    assert '+21.00%' in rel and '+2.87%' in rel  # ours; paper as printed
    pval = next(line for line in md.splitlines() if 'paired' in line)
    assert float(pval.split('|')[4]) < 0.05
    overview = t2.overview_table(['toys'], ['ahns'], rows)
    assert '| AHNS | base | 5.00 (8.89) | 10.00 (12.55) |' in overview
    speed = t2.speed_table(['toys'], ['ahns'], rows)
    assert '| AHNS | 2.00 / 3.00 |' in speed
    # A RelImp whose seeds are fewer than those of the means says so:
    del cells[t2.cell_key('toys', 'ahns', 'base', 2)]
    rows = {'toys': {'ahns': t2.summarize(
        cells, ['base', 'adar'], 'base', [0, 1, 2],
        lambda v, s: t2.cell_key('toys', 'ahns', v, s))}}
    assert 'vs base (paired seeds 0, 1) |' in t2.dataset_table(
        'toys', ['ahns'], rows['toys'])
    assert '% (paired seeds 0, 1) (' in t2.overview_table(
        ['toys'], ['ahns'], rows)
    # a cell's config: model -> backbone + sampler, variant -> augmenter
    args = t2.parse_args(['--task', 'cf'])
    run = t2.cell_config(args, 'yelp', 'mixgcf', 'adar', 4)
    assert (run.data.dataset, run.run.seed, run.model.model,
            run.sampler.sampler, run.train.augmenter) == (
        'yelp', 4, 'lightgcn', 'mixgcf', 'adar')
    assert args.cfg.data.dataset == 'beauty'  # not modified
    control = t2.cell_config(args, 'toys', 'ngcf', 'reweight', 0)
    assert (control.model.model, control.train.augmenter) == ('ngcf',
                                                              'reweight')
    assert control.adar.weight == t2.VALIDATED['ngcf']['reweight'][
        'weight'] == 0.7
    assert t2.CF_MODELS['ahns'] == ('lightgcn', 'ahns')
    # the paper's numbers are those of Table 2
    assert t2.PAPER_CF['sports']['ngcf']['adar']['recall@20'] == 8.11
    assert t2.PAPER_CF['yelp']['mixgcf']['base']['ndcg@10'] == 3.72


def test_settings_and_protocol_are_read_from_the_cells():
    """A table assembled from runs with different flags names each model's
    own settings, and the protocol of the cells, not of the current flags."""
    t2 = load_table2()
    cf = t2.TASKS['cf']
    common = dict(val_ratio=0.1, batch_size=2048, eval_every=5, patience=4,
                  adar_num_steps=50, adar_weight=0.1)
    cells = {}
    for seed in (0, 1):
        for variant in ('base', 'adar'):
            cells[t2.cell_key('beauty', 'lightgcn', variant, seed)] = {
                **fake_cell(0.1), 'args': {**common, 'lr': 5e-3,
                                           'epochs': 50}}
            cells[t2.cell_key('beauty', 'mixgcf', variant, seed)] = {
                **fake_cell(0.1), 'args': {**common, 'lr': 1e-3,
                                           'epochs': 60 + seed}}
    # a base cell run with another (unused) λ does not show in the λ column
    cells[t2.cell_key('beauty', 'mixgcf', 'base', 1)]['args'][
        'adar_weight'] = 0.9
    md = t2.settings_table(['beauty'], ['lightgcn', 'ngcf', 'mixgcf'], cells,
                           [0, 1])
    lines = md.splitlines()
    assert lines[0] == ('| Dataset | Model | lr | batch | max epochs | '
                        'eval every | patience | ADAR T | ADAR λ | ADAR t* | '
                        'ADAR h | control λ | device |')
    # strategy and device not recorded ('?'); no transition / control cells
    assert ('| Amazon-Beauty | LightGCN | 0.005 | 2048 | 50 | 5 | 4 | 50 | '
            '0.1 | ? |  |  | ? |') in lines
    assert ('| Amazon-Beauty | MixGCF | 0.001 | 2048 | 60 / 61 | 5 | 4 | 50 | '
            '0.1 | ? |  |  | ? |') in lines
    assert not any('NGCF' in line for line in lines)  # no cells: no row
    # the protocol comes from the cells' own arguments, once per distinct one
    args = argparse.Namespace(
        cfg=t2.Config.build({'split': {'val_ratio': 0.3}}))
    shown = list(cells.values())
    assert '10% of each user' in t2.protocol_text(cf, args, shown)
    assert '30% of each user' in t2.protocol_text(cf, args, [])
    shown[0] = {**shown[0], 'args': {**common, 'val_ratio': 0.2}}
    text = t2.protocol_text(cf, args, shown)
    assert text.startswith('Protocols differ between cells')
    assert '20% of each user' in text and '10% of each user' in text


def run(tmp_path, *args):
    out = tmp_path / 'out.json'
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks', 'table2.py'),
           '--device', 'cpu', '--threads', '1', '--data-root',
           str(tmp_path / 'data'), '--json', str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f), proc.stdout


@needs_mirror
def test_table2_quick_end_to_end(tmp_path):
    prefix = str(tmp_path / 'table2')
    out, stdout = run(tmp_path, '--task', 'cf', '--quick', '--out', prefix)
    cells = out['cells']
    variants = ('base', 'transition', 'reweight')  # the default variants
    assert set(cells) == {f'beauty/{m}/{v}/seed0' for m in ('lightgcn', 'ngcf')
                          for v in variants}
    for key, cell in cells.items():
        metrics = cell['test']
        assert set(metrics) == {'recall@10', 'recall@20', 'ndcg@10',
                                'ndcg@20'}
        assert all(0 <= v <= 1 for v in metrics.values())
        assert cell['seconds_per_epoch'] > 0 and cell['best_epoch'] == 1
        assert cell['augmenter'] == {'base': 'none', 'transition': 'adar',
                                     'reweight': 'reweight'}[key.split('/')[2]]
        if '/transition/' in key:  # the Beauty-validated settings
            model = key.split('/')[1]
            adar = cell['settings']['adar']
            assert (adar['strategy'], adar['source'], adar['num_steps']) == (
                'transition', 'forward', {'lightgcn': 50, 'ngcf': 20}[model])
        assert cell['protocol'] == 'validation-selected'
        assert ('NGCF' in cell['model']) == ('/ngcf/' in key)
    with open(f'{prefix}.md') as f:
        md = f.read()
    assert md.strip() in stdout
    for text in ('### Amazon-Beauty', '| LightGCN | base | 1 |',
                 '| NGCF | base | 1 |', '|  | +ADAR | 1 |',
                 '|  | control (reweight) | 1 |', 'RelImp +ADAR vs base',
                 'RelImp +ADAR vs control',
                 '## Seconds per training epoch'):
        assert text in md
    # resumable: nothing is recomputed
    _, stdout = run(tmp_path, '--task', 'cf', '--quick', '--out', prefix)
    assert stdout.count('[cached]') == 6 and '[run]' not in stdout
    # --merge: a table assembled from per-run files, rendered without training
    merged, stdout = run(tmp_path, '--task', 'cf', '--quick', '--report-only',
                         '--merge', f'{prefix}.json', '--out',
                         str(tmp_path / 'merged'))
    assert merged['cells'] == cells and '[run]' not in stdout
    with open(tmp_path / 'merged.md') as f:
        merged_md = f.read()
    assert '| NGCF | base | 1 |' in merged_md and 'Merged: `' in merged_md


def test_ahns_split_mode_on_a_tiny_split(tmp_path):
    """MF + AHNS on a published-format split (here a tiny synthetic one)."""
    root = tmp_path / 'split'
    root.mkdir()
    train = ''.join(f"{u} {' '.join(str((u + k) % 40) for k in range(6))}\n"
                    for u in range(30))
    test = ''.join(f'{u} {(u + 7) % 40} {(u + 9) % 40}\n' for u in range(30))
    (root / 'train.txt').write_text(train)
    (root / 'test.txt').write_text(test)
    prefix = str(tmp_path / 'ahns')
    out, stdout = run(tmp_path, '--ahns-split', '--ahns-split-root',
                      str(root), '--quick', '--out', prefix)
    cell = out['cells']['ahns-split/mf-ahns/base/seed0']
    assert cell['statistics']['users'] == 30
    assert cell['statistics']['items'] == 39  # largest id 38
    assert cell['statistics']['val'] == 0 and cell['statistics']['test'] == 60
    assert cell['protocol'].startswith('test-selected')
    assert 'AHNSSampler' in cell['sampler'] and 'num_layers=0' in cell['model']
    assert '| MF + AHNS | base | 1 |' in stdout and '8.46 | 4.60' in stdout


def test_sr_markdown_and_cell_arguments():
    t2 = load_table2()
    cells = {}
    for seed, (base, adar) in enumerate([(0.08, 0.09), (0.082, 0.093)]):
        cells[t2.cell_key('beauty', 'sasrec', 'base', seed)] = fake_cell(base)
        cells[t2.cell_key('beauty', 'sasrec', 'adar', seed)] = fake_cell(adar)
    rows = {'sasrec': t2.summarize(
        cells, ['base', 'adar'], 'base', [0, 1],
        lambda v, s: t2.cell_key('beauty', 'sasrec', v, s))}
    md = t2.dataset_table('beauty', ['sasrec'], rows, t2.PAPER_SR,
                          t2.SR_PAPER_LABEL)
    assert '| SASRec | base | 2 | 4.05 ± 0.07 | 8.10 ± 0.14 |' in md
    assert 'paper (DR4SR data) R@20' in md
    assert '| 5.99 | 8.82 | 3.20 | 2.00 | 7 |' in md  # paper, s/epoch
    assert '+9.87%' in md  # the paper's RelImp as printed
    # the paper's SR rows of Table 2 (DR4SR data)
    assert t2.PAPER_SR['beauty']['gru4rec']['adar']['recall@20'] == 6.96
    assert t2.PAPER_SR['yelp']['cl4srec']['relimp']['ndcg@10'] == 13.8
    assert 'DR4SR' in t2.SR_PAPER_NOTE and '8–10%' in t2.SR_PAPER_NOTE
    # a base mean of 0 (untrained --quick models): rows without RelImp
    zero = {t2.cell_key('beauty', 'sasrec', v, 0): fake_cell(r)
            for v, r in (('base', 0.0), ('adar', 0.1))}
    rows = t2.summarize(zero, ['base', 'adar'], 'base', [0],
                        lambda v, s: t2.cell_key('beauty', 'sasrec', v, s))
    assert [r['group'] for r in rows] == ['base', 'adar']
    assert math.isnan(rows[1]['recall@20_relimp'])
    md = t2.dataset_table('beauty', ['sasrec'], {'sasrec': rows}, t2.PAPER_SR,
                          t2.SR_PAPER_LABEL)
    assert 'nan' not in md
    # a cell's arguments: --model and the augmenter; T = 20 for SR
    args = t2.parse_args(['--task', 'sr'])
    assert args.cfg.adar.num_steps == 20 and args.models == [
        'gru4rec', 'sasrec', 'cl4srec']
    assert args.out.endswith('table2_sr') and args.cfg.train.eval_every == 1
    run = t2.cell_config(args, 'toys', 'cl4srec', 'adar', 3)
    assert (run.data.dataset, run.model.model, run.run.seed,
            run.train.augmenter) == ('toys', 'cl4srec', 3, 'adar')
    assert (run.adar.strategy, run.adar.source) == ('adaptive', 'chain')
    assert args.cfg.model.model == 'sasrec'
    assert args.cfg.train.augmenter == 'none'
    cf = t2.parse_args([])
    assert (cf.cfg.run.task, cf.cfg.adar.num_steps,
            cf.cfg.train.eval_every) == ('cf', 50, 5)
    quick = t2.parse_args(['--task', 'sr', '--quick', '--seeds', '3', '4'])
    assert (quick.cfg.train.epochs, quick.seeds, quick.datasets,
            quick.max_users) == (1, [3], ['beauty'], 1000)


def test_first_users_restricts_the_split():
    import torch
    from torch_geometric.data import HeteroData

    from adar_pyg.sequential import LeaveOneOutSplit
    t2 = load_table2()
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = 4, 6
    user = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    item = torch.tensor([0, 1, 2, 3, 1, 2, 4, 5, 0, 1, 2, 3, 4, 5])
    data['user', 'rates', 'item'].edge_index = torch.stack([user, item])
    full = LeaveOneOutSplit(max_len=3)(data)
    sub = t2.first_users(full, 2)
    assert sub.num_users == 2 and sub.num_items == 6
    assert torch.equal(sub.train_seq, full.train_seq[:2])
    assert torch.equal(sub.test_target, full.test_target[:2])
    assert int(sub.train_edge_index[0].max()) == 1
    assert sub.test_edge_index.size(1) == 2
    assert sub.statistics()['train_interactions'] == 2 + 1


def test_run_table_loads_each_dataset_once_and_resumes(tmp_path):
    """The shared loop: one load per dataset, and only when a cell of it is
    missing; finished cells are not recomputed."""
    t2 = load_table2()
    loads, runs = [], []

    def load(args, dataset):
        loads.append(dataset)
        return f'split of {dataset}'

    def run_cell(args, cfg, data, out=None):
        assert out == t2.cell_run_dir(args.out, t2.cell_key(
            cfg.data.dataset, cfg.model.model,
            'base' if cfg.train.augmenter == 'none' else 'adar', cfg.run.seed))
        runs.append((cfg.data.dataset, cfg.model.model, cfg.train.augmenter,
                     cfg.run.seed, data))
        base = cfg.train.augmenter == 'none'
        seed = cfg.run.seed
        return fake_cell(0.1 + 0.001 * seed if base else
                         0.11 + 0.003 * seed**2)

    task = t2.TableTask(
        name='sr', title='sequential recommendation', models=t2.SR_MODELS,
        paper=t2.PAPER_SR, add_args=lambda p: None, defaults={},
        quick=lambda a: None, run_cell=run_cell,
        protocol=lambda s, a: 'Protocol: fake.', load=load,
        paper_label=t2.SR_PAPER_LABEL, paper_note=t2.SR_PAPER_NOTE)
    args = argparse.Namespace(
        out=str(tmp_path / 'sr'), json=None, datasets=['beauty', 'toys'],
        models=['gru4rec', 'sasrec'], variants=['base', 'adar'], seeds=[0, 1],
        cfg=t2.Config.build({'run': {'task': 'sr', 'device': 'cpu'},
                             'train': {'epochs': 1}}),
        report_only=False, reuse_sweep=[], jobs=1, time_limit=None,
        control_weight=None)
    md = t2.run_table(args, task)
    assert loads == ['beauty', 'toys'] and len(runs) == 16
    assert {r[4] for r in runs if r[0] == 'toys'} == {'split of toys'}
    assert '# Table 2 (sequential recommendation)' in md
    assert '| GRU4Rec | 2.00 / 2.00 |' in md  # seconds per epoch
    assert 'not comparable' in md
    with open(tmp_path / 'sr.json') as f:
        stored = json.load(f)
    assert stored['meta']['task'] == 'sr' and len(stored['cells']) == 16
    # resumed: nothing is loaded or run again; a new seed loads once
    loads.clear(), runs.clear()
    t2.run_table(args, task)
    assert loads == [] and runs == []
    args.seeds, args.datasets = [0, 1, 2], ['beauty']
    t2.run_table(args, task)
    assert loads == ['beauty'] and len(runs) == 4
    # --report-only: a missing seed is neither loaded nor run, nor reported
    loads.clear(), runs.clear()
    args.seeds, args.report_only = [0, 1, 2, 3], True
    md = t2.run_table(args, task)
    assert loads == [] and runs == []
    assert '| SASRec | base | 3 |' in md
    args.report_only = False
    # a file of one task is not reused by another
    with pytest.raises(SystemExit):
        t2.open_store(args, 'cf')


class Killed(Exception):
    pass


def test_an_interrupted_cell_continues_in_its_run_directory(tmp_path,
                                                            tiny_run_data):
    """A cell killed after its second evaluation continues from there when
    the table runs again, with the uninterrupted cell's result; a finished
    cell keeps its metrics, not its checkpoints."""
    t2 = load_table2()
    data = tiny_run_data()
    cfg = t2.Config.build({
        'run': {'device': 'cpu', 'threads': 1},
        'model': {'model': 'lightgcn', 'dim': 8, 'layers': 1},
        'train': {'epochs': 4, 'batch_size': 64, 'eval_every': 1,
                  'augmenter': 'adar'}})
    args = argparse.Namespace(checkpoint=None, progress=False)
    whole = t2.run_cell(args, cfg, data)
    out = t2.cell_run_dir(str(tmp_path / 'cf'), 'tiny/lightgcn/adar/seed0')
    assert out == str(tmp_path / 'cf.runs' / 'tiny' / 'lightgcn' / 'adar' /
                      'seed0')

    def log(line):
        if line.startswith('epoch    2'):
            raise Killed(line)

    with pytest.raises(Killed):
        t2.run.train(cfg, out, data=data, progress=False, plot=False, log=log)
    assert os.path.exists(os.path.join(out, 'checkpoints', 'last.pt'))
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        before = [json.loads(line) for line in f]
    resumed = t2.run_cell(args, cfg, data, out=out)
    # the evaluations of its last checkpoint are the interrupted run's (their
    # timings included): continued, not started again
    assert len(before) == 2 and resumed['history'][:1] == before[:1]
    untimed = lambda h: [{k: v for k, v in r.items()  # noqa: E731
                          if k != 'seconds'} for r in h]
    assert resumed['test'] == whole['test']
    assert untimed(resumed['history']) == untimed(whole['history'])
    assert len(resumed['history']) == 4
    assert not os.path.exists(os.path.join(out, 'checkpoints'))
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        assert len(f.read().splitlines()) == 4
    # finished, but its report was not stored (killed in between): trained
    # again from the start, not refused
    assert t2.run_cell(args, cfg, data, out=out)['test'] == whole['test']


@needs_mirror
def test_table2_sr_quick_end_to_end(tmp_path):
    prefix = str(tmp_path / 'table2_sr')
    # the paper's Eq. 11 rows (the CF test runs the default three variants)
    eq11 = ('--variants', 'base', 'adar')
    out, stdout = run(tmp_path, '--task', 'sr', '--quick', *eq11, '--out',
                      prefix)
    cells = out['cells']
    models = ('gru4rec', 'sasrec', 'cl4srec')
    assert set(cells) == {f'beauty/{m}/{v}/seed0' for m in models
                          for v in ('base', 'adar')}
    assert out['meta']['task'] == 'sr'
    for key, cell in cells.items():
        metrics = cell['test']
        assert set(metrics) == {'recall@10', 'recall@20', 'ndcg@10',
                                'ndcg@20'}
        assert all(0 <= v <= 1 for v in metrics.values())
        assert cell['seconds_per_epoch'] > 0 and cell['best_epoch'] == 1
        assert cell['augmenter'] == ('none' if '/base/' in key else 'adar')
        if cell['augmenter'] == 'adar':
            assert cell['settings']['adar']['num_steps'] == 20  # SR's T
        assert cell['protocol'].startswith('validation-selected')
        model = key.split('/')[1]
        assert cell['model'].lower().startswith(model)
        assert cell['statistics']['users'] == 1000
    with open(f'{prefix}.md') as f:
        md = f.read()
    assert md.strip() in stdout
    for text in ('# Table 2 (sequential recommendation)', '### Amazon-Beauty',
                 '| GRU4Rec | base | 1 |', '| SASRec | base | 1 |',
                 '| CL4SRec | base | 1 |', '|  | +ADAR (Eq. 11) | 1 |',
                 'RelImp +ADAR (Eq. 11) vs base',
                 '## Seconds per training epoch', 'paper (DR4SR data) R@20',
                 'not comparable', '| 2.79 | 4.87 | 1.37 |'):
        assert text in md
    # resumable: nothing is recomputed
    _, stdout = run(tmp_path, '--task', 'sr', '--quick', *eq11, '--out',
                    prefix)
    assert stdout.count('[cached]') == 6 and '[run]' not in stdout


def test_result_store_lists_the_commands_that_computed_cells(tmp_path):
    load_table2()  # Puts benchmarks/ on the path.
    import common
    path = str(tmp_path / 'cells.json')
    with open(path, 'w') as f:  # A file of an older version: one command.
        json.dump({'meta': {'command': 'python old.py'},
                   'cells': {'a': {'x': 1}}}, f)
    store = common.ResultStore(path, meta={'command': 'python new.py'})
    store.command = 'python new.py'
    assert store.get_or_run('a', lambda: {'x': 2}, log=lambda _: None) == {
        'x': 1}
    assert store.data['meta']['commands'] == ['python old.py']  # Cached.
    store.get_or_run('b', lambda: {'x': 3}, log=lambda _: None)
    store.get_or_run('c', lambda: {'x': 4}, log=lambda _: None)
    with open(path) as f:
        meta = json.load(f)['meta']
    assert meta['commands'] == ['python old.py', 'python new.py']
    assert common.command_lines(meta) == ('Command: `python old.py`  \n'
                                          'Command: `python new.py`  \n')
    assert common.command_lines({'command': 'python x.py'}) == (
        'Command: `python x.py`  \n')
    # How the file came to be, after its commands (fig2_*.json):
    assert common.command_lines({'commands': ['python x.py'],
                                 'history': 'Merged from shards.'}) == (
        'Command: `python x.py`  \nMerged from shards.  \n')


def test_merge_adds_cells_and_commands_and_refuses_conflicts(tmp_path):
    load_table2()  # Puts benchmarks/ on the path.
    import common

    def write(name, meta, cells):
        path = str(tmp_path / name)
        with open(path, 'w') as f:
            json.dump({'meta': meta, 'cells': cells}, f)
        return path

    a = write('a.json', {'task': 'cf', 'commands': ['python run0.py'],
                         'updated': '2026-01-01'}, {'s0': {'x': 0}})
    b = write('b.json', {'task': 'cf', 'commands': ['python run1.py'],
                         'updated': '2026-02-01'},
              {'s0': {'x': 0}, 's1': {'x': 1}})
    args = argparse.Namespace(report_only=True, merge=[a, b])
    out = str(tmp_path / 'out.json')
    store = common.open_results(out, args)  # Created, then merged.
    store.command = 'python merge.py'
    assert store.data['cells'] == {'s0': {'x': 0}, 's1': {'x': 1}}
    with open(out) as f:
        saved = json.load(f)
    meta = saved['meta']
    assert saved['cells'] == store.data['cells']
    assert meta['task'] == 'cf' and meta['updated'] == '2026-02-01'
    assert meta['commands'] == ['python run0.py', 'python run1.py']
    assert len(meta['merges']) == 1
    assert common.command_lines(meta).count('Merged: `') == 1
    # Merging again adds nothing; a differing cell or task is refused:
    assert store.merge(b) == 0
    c = write('c.json', {'task': 'cf'}, {'s1': {'x': 9}})
    with pytest.raises(SystemExit, match="cell 's1' differs"):
        store.merge(c)
    d = write('d.json', {'task': 'sr'}, {'s2': {'x': 2}})
    with pytest.raises(SystemExit, match="holds 'sr' results"):
        store.merge(d)
    with pytest.raises(SystemExit, match='no results file'):
        store.merge(str(tmp_path / 'missing.json'))
    assert set(store.data['cells']) == {'s0', 's1'}  # Unchanged.


def test_job_driver_shards_and_sweep_reuse(tmp_path):
    """The --jobs driver's pieces: the workers' arguments, the merge of their
    shards (the driver's command recorded, a differing cell refused), and the
    reuse of validation-sweep cells with exactly a variant's settings."""
    t2 = load_table2()
    argv = ['--task', 'cf', '--jobs', '4', '--time-limit', '9', '--datasets',
            'toys', 'sports', '--lr', '5e-3', '--merge', 'a.json', 'b.json',
            '--out', 'x', '--seeds', '0', '1', '--no-progress']
    assert t2.worker_argv(argv) == ['--task', 'cf', '--lr', '5e-3',
                                    '--no-progress']
    out = str(tmp_path / 'table')
    os.makedirs(f'{out}.shards')
    shard = {'meta': {}, 'cells': {'toys/lightgcn/base/seed0': fake_cell(.1)}}
    with open(f'{out}.shards/toys_lightgcn_0.json', 'w') as f:
        json.dump(shard, f)
    store = t2.ResultStore(f'{out}.json')
    assert t2.merge_shards(store, out, 'python driver') == 1
    assert store.data['cells'] == shard['cells']
    assert store.data['meta']['commands'] == ['python driver']
    assert not os.path.exists(f'{out}.shards')
    os.makedirs(f'{out}.shards')
    shard['cells']['toys/lightgcn/base/seed0'] = fake_cell(.2)
    with open(f'{out}.shards/toys_lightgcn_0.json', 'w') as f:
        json.dump(shard, f)
    with pytest.raises(SystemExit, match='differs'):
        t2.merge_shards(store, out, 'python driver')
    # sweep cells: only those with the variant's settings and the protocol
    args = t2.parse_args(['--task', 'cf', '--models', 'lightgcn', '--lr',
                          '5e-3', '--epochs', '50', '--eval-every', '5',
                          '--patience', '4', '--out', out + '2'])
    proto = {name: getattr(getattr(args.cfg, section), name)
             for section, name in t2.PROTOCOL}  # flat: as older cells
    variant = t2.variant_settings(args, 'lightgcn', 'transition')
    good = {**proto, 'model': 'lightgcn', 'dataset': 'beauty',
            'augmenter': variant['train']['augmenter'],
            **{f'adar_{k}': v for k, v in variant['adar'].items()}}
    sweep = {'meta': {'commands': ['python benchmarks/adar_sweep.py x']},
             'cells': {
                 'a': {**fake_cell(.1), 'seed': 3, 'args': good},
                 'b': {**fake_cell(.1), 'seed': 4,
                       'args': {**good, 'adar_num_steps': 10}},  # another T
                 'c': {**fake_cell(.1), 'seed': 2,
                       'args': {**good, 'lr': 1e-3}},  # another protocol
                 'd': {**fake_cell(.1), 'seed': 1,
                       'args': {**proto, 'model': 'lightgcn',
                                'dataset': 'beauty', 'augmenter': 'reweight',
                                'adar_weight': 0.7}}}}
    with open(tmp_path / 'sweep.json', 'w') as f:
        json.dump(sweep, f)
    store = t2.ResultStore(out + '2.json')
    assert t2.reuse_sweep_cells(store, str(tmp_path / 'sweep.json'), args) == 2
    assert set(store.data['cells']) == {'beauty/lightgcn/transition/seed3',
                                        'beauty/lightgcn/reweight/seed1'}
    assert store.data['meta']['reused'] == [str(tmp_path / 'sweep.json')]


def test_summary_rows_and_holm():
    """table2_summary: a row comes whole from the file with the most
    transition / control cells; Holm's adjusted p-values."""
    summary = load_script('benchmarks/table2_summary.py')
    cpu = {'cells': {'toys/lightgcn/base/seed0': {},
                     'toys/lightgcn/transition/seed0': {}}}
    gpu = {'cells': {f'toys/lightgcn/{v}/seed{s}': {} for s in (0, 1)
                     for v in ('base', 'transition', 'reweight')}}
    picked = summary.pick_rows([('cpu', cpu), ('gpu', gpu)], ['lightgcn'],
                               [0, 1])
    assert picked == {('toys', 'lightgcn'): 'gpu'}
    assert summary.holm([0.01, 0.04, 0.03]) == pytest.approx(
        [0.03, 0.06, 0.06])


def test_summary_answer_lists_each_test():
    """table2_summary.answer: the counts, and one line per row with each
    test's RelImp, p (scipy's paired t) and Holm p (over the tests against
    the same variant)."""
    from scipy import stats
    summary = load_script('benchmarks/table2_summary.py')
    r = {'base': [0.10, 0.12, 0.11], 'transition': [0.12, 0.13, 0.125],
         'reweight': [0.121, 0.128, 0.126]}
    cells = {f'toys/lightgcn/{v}/seed{s}': {'test': {
        'recall@20': r[v][s], 'ndcg@20': r[v][s] / 2}}
        for v in r for s in range(3)}
    text = summary.answer([('cf', 'toys', 'lightgcn', cells)], [0, 1, 2])
    p = stats.ttest_rel(r['transition'], r['base']).pvalue
    rel = sum(r['transition']) / sum(r['base']) - 1
    line = next(x for x in text.splitlines()
                if x.startswith('| lightgcn/toys |'))
    q = min(1.0, 2 * p)  # Holm over the two tests (equal p) vs the base
    assert f'{rel * 100:+.2f}%, p {p:.2g}, Holm {q:.2g}' in line
    assert line.count('Holm') == 4
    assert '**+ADAR vs base**: 1 rows' in text


def test_summary_figure(tmp_path):
    """table2_summary: the paired-t interval of a row's change over the base
    (against scipy's interval of the differences) and the figure of the rows
    with two or more seeds of all three variants."""
    from scipy import stats
    summary = load_script('benchmarks/table2_summary.py')
    a, b = [0.10, 0.12, 0.11, 0.13], [0.11, 0.125, 0.118, 0.14]
    rel, half = summary.paired_interval(a, b)
    d = [y - x for x, y in zip(a, b)]
    low, high = stats.t.interval(0.95, len(d) - 1, loc=sum(d) / len(d),
                                 scale=stats.sem(d))
    mean_a = sum(a) / len(a)
    assert rel == pytest.approx(sum(b) / sum(a) - 1)
    assert (rel - half, rel + half) == pytest.approx(
        (low / mean_a, high / mean_a))

    def cells(seeds, variants=('base', 'transition', 'reweight')):
        return {f'toys/lightgcn/{v}/seed{s}': {'test': {
            'recall@20': 0.1 + 0.01 * s + 0.002 * i,
            'ndcg@20': 0.05 + 0.004 * s + 0.001 * i}}
            for s in seeds for i, v in enumerate(variants)}

    path = str(tmp_path / 'table2.png')
    one_seed = [('cf', 'toys', 'lightgcn', cells([0]))]
    assert summary.plot_changes(one_seed, [0, 1, 2], path) == 0
    no_control = [('cf', 'toys', 'lightgcn',
                   cells([0, 1, 2], ('base', 'transition')))]
    assert summary.plot_changes(no_control, [0, 1, 2], path) == 0
    assert not os.path.exists(path)
    rows = one_seed + [('sr', 'toys', 'lightgcn', cells([0, 1, 2]))]
    assert summary.plot_changes(rows, [0, 1, 2], path) == 1
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
