r"""The arms files of the research benchmarks (``benchmarks/compare/*.yaml``)
and their ``adar-pyg compare`` commands in ``benchmarks/README.md``: every
file has a command, every command parses, and every arm passes the checks
:func:`~adar_pyg.tune.compare` makes before any training (the arms, each
arm's space in its own config, the study folder), without training. The
data flag is replaced by a tiny CSV: the arms never change the data."""
import glob
import os
import re
import shlex

import pytest

from adar_pyg.cli import build_parser
from adar_pyg.config import config_from_args
from adar_pyg.tune import load_arms
from adar_pyg.tune.comparison import pinned_split, study_dir
from adar_pyg.tune.study import check

from test_study import write_csv

pytest.importorskip('optuna')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, 'benchmarks', 'compare',
                                      '*.yaml')))
SECTION = '## Equal-budget comparisons (adar-pyg compare)'


def readme_commands():
    r"""The :obj:`adar-pyg compare` commands of the README's section, by
    arms file (a list each: a file may have the command of a run made and
    that of the full protocol)."""
    with open(os.path.join(ROOT, 'benchmarks', 'README.md')) as f:
        text = f.read()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    section = section.replace('\\\n', ' ')
    commands = {}
    for line in section.splitlines():
        line = line.strip()
        if line.startswith('adar-pyg compare '):
            argv = shlex.split(line)[1:]
            commands.setdefault(argv[argv.index('--arms') + 1],
                                []).append(argv)
    return commands


def test_every_file_has_a_command():
    assert len(FILES) >= 4
    names = {os.path.relpath(f, ROOT) for f in FILES}
    assert set(readme_commands()) == names


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_arms_pass_the_checks(path, tmp_path):
    for i, argv in enumerate(readme_commands()[os.path.relpath(path, ROOT)]):
        check_command(path, argv, tmp_path / str(i))


def check_command(path, argv, tmp_path):
    os.makedirs(tmp_path)
    # The protocol of the command (20 trials an arm, or the 12 and 16 of
    # the runs continued to 20; 5 seeds; Table 2's evaluation):
    assert argv[argv.index('--trials') + 1] in ('12', '16', '20')
    for flag, value in (('--seeds', '5'), ('--eval-every', '5'),
                        ('--patience', '4')):
        assert argv[argv.index(flag) + 1] == value, flag
    assert '--lr' not in argv  # The learning rate is in every space.
    csv = write_csv(tmp_path / 'ratings.csv')
    argv = [w for i, w in enumerate(argv) if w != '--dataset' and
            (i == 0 or argv[i - 1] != '--dataset')]
    argv = [os.path.join(ROOT, w) if w == os.path.relpath(path, ROOT) else w
            for w in argv]
    out = tmp_path / 'cmp'
    argv[argv.index('--out') + 1] = str(out)
    args = build_parser().parse_args(argv + ['--data', str(csv)])
    config = pinned_split(config_from_args(args))
    arms = load_arms(args.arms, config, args.controls)
    assert arms.base == 'base' and arms.controls == ('reweight',)
    assert set(arms.names) == {'base', 'adar', 'reweight'}
    adar = arms['adar']
    assert adar.config.train.augmenter == 'adar'
    assert adar.config.adar.strategy == 'transition'
    assert adar.config.adar.source == 'forward'
    assert arms['reweight'].config.train.augmenter == 'reweight'
    for arm in arms.arms:
        keys = {p.key for p in arm.space.params}
        assert {'train.lr', 'train.l2'} <= keys
        if arm.name != 'base':
            assert 'adar.weight' in keys
        check(arm.config, arm.space, args.trials,
              study_dir(str(out), arm.name))
    assert {p.key for p in adar.space.params} >= {'adar.hardness',
                                                   'adar.num_steps'}
    assert not out.exists()  # Checked without writing anything.
    model = re.match(r'([a-z0-9]+)_', os.path.basename(path)).group(1)
    assert model in (config.model.model, config.sampler.sampler)
