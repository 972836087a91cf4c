"""benchmarks/ddp_speed.py: the report from synthetic cells, the settings check
of reused cells, and --quick end to end on a tiny generated file (2 gloo
processes on 127.0.0.1)."""
import json
import os
import random
import subprocess
import sys

import pytest

from adar_pyg.config import SECTIONS
from adar_pyg.config.settings import iter_settings

from scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def ddp_speed():
    return load_script('benchmarks/ddp_speed.py')


def fake_cell(config, seconds, r20, nproc, epochs_run=30):
    metrics = {'recall@10': r20 / 2, 'recall@20': r20, 'ndcg@10': r20 / 3,
               'ndcg@20': r20 / 2.5}
    return {'test': metrics, 'val': dict(metrics),
            'seconds_per_epoch': seconds, 'best_epoch': 20,
            'epochs_run': epochs_run, 'nproc': nproc,
            'global_batch_size': 2048 * nproc, 'device': 'cpu',
            'configuration': config, 'load_before': [0.1, 0.2, 0.3],
            'args': {'epochs': 50, 'eval_every': 5, 'patience': 4,
                     'batch_size': 2048, 'lr': 0.005, 'dim': 64,
                     'threads': 1}}


def test_report(ddp_speed):
    group = 'cf/lightgcn/beauty'
    cells = {}
    for seed, (one, two, linear) in enumerate([(4.0, 2.0, 2.5), (4.4, 2.0,
                                                                 2.2)]):
        for config, seconds, nproc, r20 in (('1rank', one, 1, 0.12),
                                            ('2ranks', two, 2,
                                             0.11 + seed / 200),
                                            ('2ranks-linear', linear, 2,
                                             0.12 + seed / 100)):
            cells[ddp_speed.cell_key(group, config, seed)] = fake_cell(
                config, seconds, r20, nproc)
    assert ddp_speed.speedups(cells, group, '2ranks') == [2.0, 2.2]
    text = ddp_speed.report({'meta': {'commands': ['python x'],
                                      'cpu_count': 2}, 'cells': cells})
    assert 'Command: `python x`' in text
    assert '## LightGCN on beauty (CF)' in text
    lines = {line.split(' | ')[0]: line for line in text.splitlines()
             if line.startswith('| ')}
    assert lines['| 1 process'].startswith(
        '| 1 process | 1 | 2048 | 0.005 | 2 | 4.20 |  | 30 | 20 | '
        '12.00 ± 0.00 |')
    assert '| 2 processes | 2 | 4096 | 0.005 | 2 | 2.00 | 2.10x |' in text
    two = lines['| 2 processes, linear lr']
    assert two.startswith('| 2 processes, linear lr | 2 | 4096 | 0.01 | 2 | '
                          '2.35 | 1.80x |')
    assert '+4.17% (' in two  # Δ test R@20 and its p-value
    assert ('target ≥ 1.6x): 2 processes 2.10x, 2 processes, linear lr '
            '1.80x — met.') in text


def test_cells_with_other_settings_are_refused(ddp_speed):
    args, cfg = ddp_speed.parse_args(['--device', 'cpu'])
    assert (cfg.train.epochs, cfg.train.lr, cfg.run.threads) == (50, 5e-3, 1)
    assert ddp_speed.group_key(cfg) == 'cf/lightgcn/beauty'
    group = 'cf/lightgcn/beauty'
    # A cell of an older version (flat 'args' by flag name, script flags
    # among them, layers not resolved) and one of this version (resolved
    # 'settings') hold the same settings:
    flat = {section.dest(f): getattr(getattr(cfg, section.key), f.name)
            for section, f in iter_settings(SECTIONS)}  # by flag name
    old = {'args': {**vars(args), **flat, 'nproc': 2, 'seed': 3,
                    'layers': None}}
    new = {'settings': ddp_speed.Config.build(
        {'run': {'nproc': 2, 'seed': 3, 'device': 'cpu', 'threads': 1},
         'train': {'epochs': 50, 'eval_every': 5, 'patience': 4,
                   'lr': cfg.train.lr}}).resolved().to_dict()}
    cells = {ddp_speed.cell_key(group, '2ranks', 3): old,
             ddp_speed.cell_key(group, '2ranks-linear', 3): new}
    ddp_speed.check_cells(cells, group, cfg)  # nproc and seed may differ
    shorter = cfg.replace({'train': {'epochs': 2}})
    ddp_speed.check_cells(cells, 'sr/gru4rec/beauty', shorter)  # another
    with pytest.raises(SystemExit, match='train.epochs 2 \\(cell: 50\\)'):
        ddp_speed.check_cells(cells, group, shorter)
    # A cell's config: the seed and its configuration's settings, nothing
    # else changed.
    linear = ddp_speed.cell_config(cfg, '2ranks-linear', 4)
    assert (linear.run.seed, linear.run.nproc,
            linear.train.lr_scaling) == (4, 2, 'linear')
    assert linear.replace({'run': {'seed': 0, 'nproc': 1},
                           'train': {'lr_scaling': 'none'}}) == cfg


def test_quick_on_a_tiny_file(tmp_path):
    rng = random.Random(0)
    data = tmp_path / 'tiny.csv'
    with open(data, 'w') as f:
        f.write('user,item,timestamp\n')
        for u in range(60):
            for t, i in enumerate(rng.sample(range(40), 8)):
                f.write(f'u{u},i{i},{t}\n')
    out = tmp_path / 'ddp'
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'ddp_speed.py'),
         '--quick', '--data', str(data), '--batch-size', '64', '--device',
         'cpu', '--configs', '1rank', '2ranks-linear', '--out', str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / 'ddp.json').read_text())
    cells = result['cells']
    assert sorted(cells) == ['cf/lightgcn/tiny/1rank/seed0',
                             'cf/lightgcn/tiny/2ranks-linear/seed0']
    one = cells['cf/lightgcn/tiny/1rank/seed0']
    two = cells['cf/lightgcn/tiny/2ranks-linear/seed0']
    assert (one['nproc'], two['nproc']) == (1, 2)
    assert two['global_batch_size'] == 128 and two['threads'] == 1
    assert two['settings']['train']['lr_scaling'] == 'linear'
    assert one['epochs_run'] == 1 and one['seconds_per_epoch'] > 0
    assert 0 <= two['test']['recall@20'] <= 1
    text = (tmp_path / 'ddp.md').read_text()
    assert '| 2 processes, linear lr | 2 | 128 | 0.01 | 1 |' in text
    # Resumed: both cells are reused, nothing is trained again.
    again = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'ddp_speed.py'),
         '--quick', '--data', str(data), '--batch-size', '64', '--device',
         'cpu', '--configs', '1rank', '2ranks-linear', '--out', str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert again.returncode == 0 and again.stdout.count('[cached]') == 2
