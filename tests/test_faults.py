r"""A fast subset of the fault and bad-input table
(``benchmarks/fault_table.py``): each case through ``python -m adar_pyg``
exits with its kind's code, one error line and no traceback; every case of
the script is in ``docs/faults.md`` (run the script after adding one)."""
import os

import pytest

from scripts import ROOT, load_script

faults = load_script('benchmarks/fault_table.py')
FAST = [case for case in faults.CASES if case.fast]


def applies(case):
    return case.applies is None or case.applies()


def test_fast_cases_are_one_line_errors_with_their_exit_code(tmp_path):
    assert len(FAST) >= 3
    for case in FAST:
        result = faults.run_case(case, str(tmp_path))
        assert not result['problems'], (case.name, result['stderr'])
        assert 'Traceback' not in result['stderr']
        assert result['code'] == case.code
        assert result['shown'][0].startswith('adar-pyg')
    # A failed start leaves no run directory behind:
    assert not os.path.exists(tmp_path / FAST[0].name / 'run')


@pytest.mark.parametrize('name', [c.name for c in faults.CASES
                                  if c.in_process()])
def test_case_in_process(name, tmp_path):
    r"""The cases that need no process of their own, through
    `adar_pyg.cli.main` (an escaping exception fails the test)."""
    case = next(c for c in faults.CASES if c.name == name)
    if not applies(case):
        pytest.skip('not on this machine')
    result = faults.run_case(case, str(tmp_path), process=False)
    assert not result['problems'], (case.name, result['stderr'])
    if case.code in (2, 3) and case.argv[0] == 'train':  # Before compute:
        assert not os.path.exists(tmp_path / case.name / 'run') or \
            'exists already' in result['stderr']


def test_every_case_is_in_the_table():
    with open(os.path.join(ROOT, 'docs', 'faults.md')) as f:
        text = f.read()
    missing = [c.name for c in faults.CASES if c.what not in text]
    assert not missing, f'run python benchmarks/fault_table.py ({missing})'


@pytest.mark.parametrize('name', [c.name for c in faults.CASES])
def test_cases_are_well_formed(name):
    case = next(c for c in faults.CASES if c.name == name)
    assert case.code in (1, 2, 3, 4, 5, 6, 130) and case.argv
    assert [c.name for c in faults.CASES].count(name) == 1
