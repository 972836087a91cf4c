"""The Table 2 harness: markdown from synthetic cells (always), and --quick
end to end on the real mirror (skipped without it)."""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from adar_pyg.datasets import default_mirror

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_mirror = pytest.mark.skipif(default_mirror() is None,
                                  reason='local dataset mirror not found')


def load_table2():
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
    spec = importlib.util.spec_from_file_location(
        'table2', os.path.join(ROOT, 'benchmarks', 'table2.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_cell(r20, seconds=2.0):
    test = {'recall@10': r20 / 2, 'recall@20': r20, 'ndcg@10': r20 / 3,
            'ndcg@20': r20 / 2.5}
    return {'test': test, 'seconds_per_epoch': seconds, 'best_epoch': 7}


def test_markdown_and_cell_arguments():
    t2 = load_table2()
    cells = {}
    for seed, (base, adar) in enumerate([(0.10, 0.12), (0.11, 0.125),
                                         (0.09, 0.118)]):
        cells[t2.cf_key('toys', 'ahns', 'base', seed)] = fake_cell(base)
        cells[t2.cf_key('toys', 'ahns', 'adar', seed)] = fake_cell(adar, 3.)
    rows = {'toys': {'ahns': t2.summarize(
        cells, ['base', 'adar'], 'base', [0, 1, 2],
        lambda v, s: t2.cf_key('toys', 'ahns', v, s))}}
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
    # a cell's arguments: model -> backbone + sampler, variant -> augmenter
    args = argparse.Namespace(dataset='beauty', seed=0, sampler='uniform',
                              augmenter='none')
    run = t2.cf_run_args(args, 'yelp', 'mixgcf', 'adar', 4)
    assert (run.dataset, run.seed, run.sampler, run.augmenter) == (
        'yelp', 4, 'mixgcf', 'adar')
    assert args.dataset == 'beauty'  # not modified
    assert t2.CF_MODELS['ahns'] == ('lightgcn', 'ahns')
    # the paper's numbers are those of Table 2
    assert t2.PAPER_CF['sports']['ngcf']['adar']['recall@20'] == 8.11
    assert t2.PAPER_CF['yelp']['mixgcf']['base']['ndcg@10'] == 3.72


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
    assert set(cells) == {f'beauty/{m}/{v}/seed0' for m in ('lightgcn', 'ngcf')
                          for v in ('base', 'adar')}
    for key, cell in cells.items():
        metrics = cell['test']
        assert set(metrics) == {'recall@10', 'recall@20', 'ndcg@10',
                                'ndcg@20'}
        assert all(0 <= v <= 1 for v in metrics.values())
        assert cell['seconds_per_epoch'] > 0 and cell['best_epoch'] == 1
        assert cell['augmenter'] == ('none' if '/base/' in key else 'adar')
        assert cell['protocol'] == 'validation-selected'
        assert ('NGCF' in cell['model']) == ('/ngcf/' in key)
    with open(f'{prefix}.md') as f:
        md = f.read()
    assert md.strip() in stdout
    for text in ('### Amazon-Beauty', '| LightGCN | base | 1 |',
                 '| NGCF | base | 1 |', '|  | +ADAR | 1 |', 'RelImp',
                 '## Seconds per training epoch'):
        assert text in md
    # resumable: nothing is recomputed
    _, stdout = run(tmp_path, '--task', 'cf', '--quick', '--out', prefix)
    assert stdout.count('[cached]') == 4 and '[run]' not in stdout


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
