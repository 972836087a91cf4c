r"""benchmarks/adar_sweep.py: where cells land on the axes of Figure 2."""
import argparse
import json
import os

from scripts import load_script



def load_sweep():
    return load_script('benchmarks/adar_sweep.py')


def cell(r20, weight=0.7, steps=50, hardness=0.5, lr=5e-3, l2=1e-4):
    return {'val': {'recall@20': r20, 'ndcg@20': r20 / 2},
            'args': {'adar_weight': weight, 'adar_num_steps': steps,
                     'adar_hardness': hardness, 'lr': lr, 'l2': l2}}


CELLS = {
    # λ sweep of ADAR and of the control at T = 50:
    'm/transition-forward/lambda=0.5/seed0': cell(0.10, weight=0.5),
    'm/transition-forward/lambda=0.7/seed0': cell(0.12),
    'm/reweight/lambda=0.5/seed0': cell(0.11, weight=0.5),
    'm/reweight/lambda=0.7/seed0': cell(0.13),
    # T sweep at λ = 0.7 (T = 50 is the λ = 0.7 cell above):
    'm/transition-forward/T=10/seed0': cell(0.09, steps=10),
    'm/transition-forward/T=100/seed0': cell(0.08, steps=100),
    # The base at its learning rates, and at another L2:
    'm/base/lr=0.005/seed0': cell(0.07, weight=0.1),
    'm/base/lr=0.01/seed0': cell(0.06, weight=0.1, lr=1e-2),
    'm/base/l2=0.001/seed0': cell(0.05, weight=0.1, l2=1e-3),
    # Another seed and another model are left out:
    'm/base/lr=0.005/seed1': cell(0.99),
    'other/base/lr=0.005/seed0': cell(0.98),
}


def test_cells_land_on_every_axis_their_settings_belong_to():
    sweep = load_sweep()
    curves, flat = sweep.collect(CELLS, 'm', [0])
    r20 = {axis: {label: {x: [c['recall@20'] for c in by[x]] for x in by}
                  for label, by in curves[axis].items()} for axis in curves}
    assert r20['lambda'] == {'transition-forward': {0.5: [0.10], 0.7: [0.12]},
                             'reweight': {0.5: [0.11], 0.7: [0.13]}}
    # The λ = 0.7 cell is the T = 50 point; the λ = 0.5 cell is not:
    assert r20['T'] == {'transition-forward': {10: [0.09], 50: [0.12],
                                               100: [0.08]}}
    # The base's lr curve holds L2 fixed; its L2 curve holds lr fixed:
    assert r20['lr'] == {'base': {0.005: [0.07], 0.01: [0.06]}}
    assert r20['l2'] == {'base': {1e-4: [0.07], 1e-3: [0.05]}}
    # Flat lines: what does not move along the axis, at the sweep's settings
    # (the control at λ = 0.7 on the T axis, not at λ = 0.5):
    flat_r20 = {axis: {label: [c['recall@20'] for c in by]
                       for label, by in lines.items()}
                for axis, lines in flat.items()}
    assert flat_r20['T'] == {'reweight (λ 0.7)': [0.13], 'base': [0.07]}
    assert flat_r20['lambda'] == {'base': [0.07]}
    assert 'lr' not in flat_r20 and 'l2' not in flat_r20


def test_two_sweeps_of_one_variant_on_one_axis_are_two_curves():
    sweep = load_sweep()
    cells = {'m/transition-forward/lambda=0.5/seed0': cell(0.1, weight=0.5),
             'm/transition-forward/hardness=0/seed0': cell(0.2, weight=0.5,
                                                          hardness=0.0),
             'm/transition-forward/hardness=0/seed1': cell(0.3, weight=0.7,
                                                          hardness=0.0)}
    curves, _ = sweep.collect(cells, 'm', [0, 1])
    labels = sorted(curves['hardness'])
    assert labels == [
        'transition-forward (λ 0.5, T 50, learning rate 0.005, L2 weight 0.0001)',
        'transition-forward (λ 0.7, T 50, learning rate 0.005, L2 weight 0.0001)']
    assert curves['hardness'][labels[0]][0.0][0]['recall@20'] == 0.2
    assert curves['hardness'][labels[0]][0.5][0]['recall@20'] == 0.1


def test_report_writes_tables_and_one_png_per_axis(tmp_path):
    sweep = load_sweep()
    out = str(tmp_path / 'fig2_m')
    with open(out + '.json', 'w') as f:
        json.dump({'meta': {'commands': ['python benchmarks/adar_sweep.py']},
                   'cells': CELLS}, f)
    args = argparse.Namespace(out=out, seeds=[0])
    text = sweep.report(args, 'm', 'beauty')
    assert '| transition-forward | 9.00 / 4.50 | **12.00 / 6.00** | ' \
           '8.00 / 4.00 |' in text
    assert 'Independent of T (dashed in the figure): reweight (λ 0.7) ' \
           '13.00 / 6.50; base 7.00 / 3.50.' in text
    for axis in ('lambda', 'T', 'lr', 'l2'):
        assert os.path.getsize(f'{out}_{axis}.png') > 0


def test_test_report_compares_against_base_and_control_once():
    sweep = load_sweep()

    def tested(r20):
        metrics = {'recall@10': r20, 'ndcg@10': r20 / 2, 'recall@20': r20,
                   'ndcg@20': r20 / 2}
        return {'test': metrics, 'seconds_per_epoch': 1.0, 'best_epoch': 5}

    cells = {}
    for seed, (base, control, adar) in enumerate(
            [(0.10, 0.12, 0.13), (0.11, 0.12, 0.14), (0.10, 0.13, 0.15)]):
        cells[f'm/base/lr=0.005/seed{seed}'] = tested(base)
        cells[f'm/reweight/lambda=0.7/seed{seed}'] = tested(control)
        cells[f'm/transition-forward/T=20/seed{seed}'] = tested(adar)
    args = argparse.Namespace(
        seeds=[0, 1, 2],
        compare=['base:lr=0.005', 'reweight:lambda=0.7',
                 'transition-forward:T=20'])
    text = sweep.test_report(args, cells, 'm', 'beauty')
    assert text.count('vs base:lr=0.005:') == 1
    assert text.count('vs reweight:lambda=0.7:') == 1
    row = [line for line in text.splitlines()
           if line.startswith('| transition-forward:T=20 |')][0]
    # 14.00 ± 1.00 over the 3 seeds; +35.5% over the base, +13.5% over the
    # control (means 0.1033 and 0.1233).
    assert '| 3 | 14.00 ± 1.00 |' in row
    assert '+35.48%' in row and '+13.51%' in row
    # The control first: its column once, its own cell blank.
    args.compare = ['reweight:lambda=0.7', 'transition-forward:T=20']
    text = sweep.test_report(args, cells, 'm', 'beauty')
    assert text.count('vs reweight:lambda=0.7:') == 1
    # A second (tuned) base is a reference too.
    for seed, r20 in enumerate([0.14, 0.13, 0.15]):
        cells[f'm/base/l2=0.001/seed{seed}'] = tested(r20)
    args.compare = ['base:lr=0.005', 'base:l2=0.001',
                    'transition-forward:T=20']
    text = sweep.test_report(args, cells, 'm', 'beauty')
    assert 'vs base:l2=0.001:' in text
    row = [line for line in text.splitlines()
           if line.startswith('| transition-forward:T=20 |')][0]
    assert row.endswith('| +0.00%, 1 / +0.00%, 1 | 1.00 |')  # same means
