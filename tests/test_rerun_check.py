"""benchmarks/rerun_check.py: the settings a committed Table 2 cell is
re-run with."""
from scripts import load_script


def test_old_cell_gets_its_backbone_from_the_key():
    rerun_check = load_script('benchmarks/rerun_check.py')
    # A cell of the versions that wrote a flat 'args' with a --models list
    # (benchmarks/results/table2_cf.json, beauty/ngcf/base/seed0):
    cell = {'args': {'models': ['ngcf'], 'lr': 0.005, 'dim': 64,
                     'batch_size': 2048, 'eval_batch_size': 100,
                     'augmenter': 'none', 'task': 'cf'}}
    settings = rerun_check.table2_settings(cell, 'beauty/ngcf/base/seed0',
                                           'cf')
    assert settings['model']['model'] == 'ngcf'
    assert settings['train']['lr'] == 0.005
    assert 'eval_batch_size' not in settings['train']
    # A cell that records its model keeps it:
    new = {'settings': {'model': {'model': 'lightgcn'},
                        'train': {'eval_batch_size': 100}}}
    settings = rerun_check.table2_settings(new, 'beauty/ngcf/base/seed0',
                                           'cf')
    assert settings['model']['model'] == 'lightgcn'
    assert settings['train']['eval_batch_size'] == 100


def test_same_cpu_column():
    rerun_check = load_script('benchmarks/rerun_check.py')
    from adar_pyg.run import cpu_info
    here = cpu_info()
    assert here['model'] and here['capability']
    row = {'file': 'f.json', 'cell': 'k', 'epochs': 5, 'compared': 5,
           'identical': True, 'metrics_identical': True,
           'loss_max_rel_diff': 0.0, 'passed': True, 'cpu': here}
    other = dict(here, capability='OTHER')
    rows = [dict(row, recorded_cpu=None), dict(row, recorded_cpu=here),
            dict(row, recorded_cpu=other)]
    assert [rerun_check.same_cpu(r) for r in rows] == \
        ['not recorded', 'yes', 'no (OTHER)']
    text = rerun_check.markdown({'command': 'c', 'cells': rows})
    assert '| same CPU |' in text and f"{here['capability']}." in text
