"""benchmarks/spmm_speed.py --quick: the product the models run and the
previous torch.sparse.mm form give the same products and the same trained
parameters, bit for bit, and the result files are written."""
import json

from scripts import load_script


def test_quick(tmp_path):
    script = load_script('benchmarks/spmm_speed.py')
    out = tmp_path / 'spmm'
    script.main(['--quick', '--repeats', '3', '--rounds', '2', '--epochs',
                 '1', '--threads', '1', '--out', str(out)])
    result = json.loads((tmp_path / 'spmm.json').read_text())
    assert result['product']['equal'] is True
    assert result['epoch']['same_parameters'] is True
    assert len(result['epoch']['seconds']['addmm']) == 4  # 2 ABBA rounds
    assert 'bit for bit' in (tmp_path / 'spmm.md').read_text()
    # The previous form is restored after timing it:
    import adar_pyg.nn.sparse as sparse
    assert sparse._block_mm.__module__ == 'adar_pyg.nn.sparse'
    assert sparse._horner.__name__ == '_horner'
