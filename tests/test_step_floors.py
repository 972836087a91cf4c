"""benchmarks/step_floors.py: --quick measures every part on a tiny random
graph and writes JSON and markdown whose parts fit together (no timings are
checked); the isolated layer is NGCFConv's dense part."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from scripts import ROOT, load_script

from adar_pyg.nn.conv import NGCFConv

sf = load_script('benchmarks/step_floors.py')


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    out = os.path.join(str(tmp_path_factory.mktemp('floors')), 'floors')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    subprocess.run([sys.executable, 'benchmarks/step_floors.py', '--quick',
                    '--threads', '1', '--batches', '4',
                    '--allreduce-calls', '5', '--out', out], cwd=ROOT,
                   env=env, check=True, capture_output=True, text=True,
                   timeout=600)
    with open(out + '.json') as f:
        result = json.load(f)
    with open(out + '.md') as f:
        return result, f.read()


def test_quick_parts(quick):
    result, text = quick
    steps = result['steps']
    assert set(steps) == {'lightgcn', 'ngcf'}
    assert set(result['compiled_steps']) == set(sf.COMPILED)
    for row in list(steps.values()) + list(result['compiled_steps'].values()):
        assert row['batches_timed'] == 4 and row['seconds_per_step'] > 0
    assert 'NGCF(' in steps['ngcf']['model']
    g = result['gemms']
    assert g['total'] == pytest.approx(g['users'] + g['items'])
    assert set(result['compile']) == {'layer', 'elementwise'}
    assert all(r['values_close'] for r in result['compile'].values())
    users, items = result['dataset']['users'], result['dataset']['items']
    ar = result['allreduce']
    assert ar['calls'] == 5 and 0 < ar['least'] <= ar['median']
    assert ar['megabytes'] == pytest.approx(
        (users + items) * result['dim'] * 4 / 1e6)
    assert len(result['analysis']) == 4
    assert '| floor: LightGCN + NGCF\'s products |' in text
    assert '## What it says' in text
    assert not os.path.isabs(result['command'].split()[1])


def test_isolated_layer_is_ngcf_conv():
    torch.manual_seed(0)
    conv = NGCFConv(8, 8)
    torch.nn.init.normal_(conv.bias)
    x, h = torch.randn(5, 8), torch.randn(5, 8)
    out = conv._combine(x, h)
    expected = out + F.normalize(out, p=2., dim=-1)
    got = sf.ngcf_dense(x, h, conv.lin1.weight, conv.lin2.weight, conv.bias)
    assert torch.allclose(got, expected, atol=1e-6)
