"""Every value check is declared with its setting and runs when the config is
read (flags and YAML alike), before any data; flags are never abbreviated;
a mistyped flag or key is named with the setting it most likely means (by
name or declared alias); a config file reports all its errors at once."""
import argparse
import dataclasses
import inspect
import math
import os
import re

import pytest
import torch
import yaml

from adar_pyg.augment import (NegativeAugmenter, NoiseAugmenter,
                              ReweightAugmenter)
from adar_pyg.config import (SECTIONS, ADARConfig, Config, ConfigError,
                             add_config_args, add_output_args,
                             config_from_args, parse_args)
from adar_pyg.config.config import settings_markdown
from adar_pyg.config.settings import field_type, in_range, valid_range

from scripts import source_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def parser():
    p = argparse.ArgumentParser()
    add_config_args(p)
    add_output_args(p)
    return p


def from_flags(*argv):
    return config_from_args(parse_args(parser(), list(argv)))


# (YAML layer, its message; flags, their message): the cases of issue 25
# (--lr 0, lr .nan / .inf, NGCF dropout 2.0) and the other declared ranges.
CASES = [
    ({'train': {'lr': 0.0}}, 'train.lr must be greater than 0 (got 0.0)',
     ['--lr', '0'], '--lr must be greater than 0 (got 0.0)'),
    ({'train': {'lr': math.nan}}, 'train.lr must be a finite number (got '
     'nan)', ['--lr', 'nan'], '--lr must be a finite number (got nan)'),
    ({'train': {'lr': math.inf}}, 'train.lr must be a finite number (got '
     'inf)', ['--lr', 'inf'], '--lr must be a finite number (got inf)'),
    ({'model': {'ngcf_node_dropout': 2.0}}, 'model.ngcf_node_dropout must be '
     'in [0, 1) (got 2.0)', ['--ngcf-node-dropout', '2'],
     '--ngcf-node-dropout must be in [0, 1) (got 2.0)'),
    ({'model': {'ngcf_message_dropout': 1.0}}, 'model.ngcf_message_dropout '
     'must be in [0, 1) (got 1.0)', ['--ngcf-message-dropout', '1'],
     '--ngcf-message-dropout must be in [0, 1) (got 1.0)'),
    ({'model': {'dropout': -0.1}}, 'model.dropout must be in [0, 1) (got '
     '-0.1)', ['--dropout', '-0.1'], '--dropout must be in [0, 1)'),
    ({'adar': {'hardness': 1.0}}, 'adar.hardness must be in [0, 1) (got '
     '1.0)', ['--adar-hardness', '1'], '--adar-hardness must be in [0, 1)'),
    ({'adar': {'weight': 1.5}}, 'adar.weight must be in [0, 1] (got 1.5)',
     ['--adar-weight', '1.5'], '--adar-weight must be in [0, 1] (got 1.5)'),
    ({'adar': {'lr': 0}}, 'adar.lr must be greater than 0 (got 0.0)',
     ['--adar-lr', '0'], '--adar-lr must be greater than 0'),
    ({'split': {'test_ratio': 0.0}}, 'split.test_ratio must be in (0, 1) '
     '(got 0.0)', ['--test-ratio', '1'], '--test-ratio must be in (0, 1)'),
    ({'train': {'epochs': 0}}, 'train.epochs must be at least 1 (got 0)',
     ['--epochs', '0'], '--epochs must be at least 1 (got 0)'),
    ({'run': {'port': 70000}}, 'run.port must be in [1, 65535] (got 70000)',
     ['--port', '70000'], '--port must be in [1, 65535]'),
    ({'cnsdiff': {'start_steps': [0, 5]}}, 'each value of '
     'cnsdiff.start_steps must be at least 1 (got 0)',
     ['--cnsdiff-start-steps', '0', '5'], 'each value of '
     '--cnsdiff-start-steps must be at least 1 (got 0)'),
    ({'cnsdiff': {'cl_temperature': 0.0}}, 'cnsdiff.cl_temperature must be '
     'greater than 0', ['--cnsdiff-cl-temperature', '0'],
     '--cnsdiff-cl-temperature must be greater than 0'),
]


@pytest.mark.parametrize('layer, message, argv, flag_message', CASES)
def test_values_are_checked_in_the_config(tmp_path, layer, message, argv,
                                          flag_message):
    with pytest.raises(ConfigError) as e:
        Config.build(layer)
    assert str(e.value) == message or str(e.value).startswith(message)
    # The same check for a YAML file (naming it) and for the flags:
    path = tmp_path / 'c.yaml'
    path.write_text(yaml.safe_dump(layer))
    with pytest.raises(ConfigError, match=re.escape(f'{path}: {message}')):
        Config.load(str(path))
    with pytest.raises(ConfigError, match=re.escape(flag_message)):
        from_flags(*argv)


def test_yaml_nan_and_inf_are_refused(tmp_path):
    path = tmp_path / 'c.yaml'
    for text in ('.nan', '.inf', '-.inf'):
        path.write_text(f'train: {{lr: {text}}}\n')
        with pytest.raises(ConfigError, match='train.lr must be a finite '
                           'number'):
            Config.load(str(path))


@pytest.mark.parametrize('text, value', [('1e-3', 1e-3), ('5E-4', 5e-4),
                                         ('+1e-2', 1e-2)])
def test_yaml_exponents_are_numbers(tmp_path, text, value):
    # YAML 1.1 reads 1e-3 (no dot) as text; the search spaces, 'set' and
    # --lr take it as a number, and so does a config file:
    path = tmp_path / 'c.yaml'
    path.write_text(f'train: {{lr: {text}}}\nadar: {{lr: {text}}}\n')
    cfg = Config.load(str(path))
    assert cfg.train.lr == cfg.adar.lr == value
    assert from_flags('--lr', text).train.lr == value
    path.write_text('train: {lr: 1e-3x}\n')
    with pytest.raises(ConfigError, match="train.lr must be a number "
                       "\\(got '1e-3x'\\)"):
        Config.load(str(path))


def test_val_ratio_is_a_share_of_the_training_part():
    # So any val_ratio < 1 leaves training interactions, whatever the
    # test_ratio (each user keeps one at least):
    from adar_pyg.transforms import PerUserRandomSplit
    cfg = from_flags('--val-ratio', '0.99', '--test-ratio', '0.5')
    assert (cfg.split.val_ratio, cfg.split.test_ratio) == (0.99, 0.5)
    split = PerUserRandomSplit(test_ratio=cfg.split.test_ratio,
                               val_ratio=cfg.split.val_ratio)
    n = torch.arange(4, 30)
    num_test, num_val = split.split_sizes(n)
    assert (n - num_test - num_val >= 1).all() and (num_val >= 1).all()


def float_settings():
    for section in SECTIONS:
        for f in section.settings():
            if field_type(f)[0] is float:
                yield section, f


@pytest.mark.parametrize('section, f', list(float_settings()),
                         ids=lambda x: getattr(x, 'name', None) or x.key)
@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_every_float_must_be_finite(section, f, bad):
    if f.metadata.get('nonpositive_is_none') and bad < 0:
        return  # -inf means 'none' for these, as the flag always did
    with pytest.raises(ConfigError, match=f'{section.key}.{f.name} must be '
                       'a finite number'):
        Config.build({section.key: {f.name: bad}})


def test_the_defaults_are_valid_and_the_range_is_in_the_docs():
    text = settings_markdown()
    for section in SECTIONS:
        defaults = {**section.defaults('cf')}
        for f in section.settings():
            value = defaults[f.name]
            tp, _, is_list = field_type(f)
            if tp in (int, float) and value is not None:
                assert all(in_range(f, v) for v in
                           (value if is_list else [value])), f.name
            if valid_range(f):
                row = next(line for line in text.split('\n')
                           if f'`{section.key}.{f.name}`' in line)
                assert valid_range(f) in row, row


def test_single_setting_checks_are_declared_not_cross_checks():
    hardness = {f.name: f for f in ADARConfig.settings()}['hardness']
    weight = {f.name: f for f in ADARConfig.settings()}['weight']
    assert valid_range(hardness) == '[0, 1)'
    assert valid_range(weight) == '[0, 1]'
    source = inspect.getsource(Config.errors)
    assert 'hardness' not in source and 'adar.weight' not in source


def test_json_that_is_a_directory_fails_when_parsed(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(parser(), ['--json', str(tmp_path)])
    assert e.value.code == 2
    assert 'is a directory' in capsys.readouterr().err
    # The command stops before training: no run directory is made.
    from adar_pyg.cli import main
    out = tmp_path / 'run'
    with pytest.raises(SystemExit) as e:
        main(['train', '--json', str(tmp_path), '--out', str(out)])
    assert e.value.code == 2 and not out.exists()
    assert "argument --json: '" in capsys.readouterr().err
    # A file path is fine:
    args = parse_args(parser(), ['--json', str(tmp_path / 'r.json')])
    assert args.json == str(tmp_path / 'r.json')


# -- Flags: no abbreviations, suggestions by name and alias -----------------

@pytest.mark.parametrize('argv, suggestion', [
    (['--thread', '1'], '--threads'),
    (['--learning-rate', '0.1'], '--lr'),
    (['--learning_rate', '0.1'], '--lr'),
    (['--weight-decay', '0'], '--l2'),
    (['--embedding-dim', '32'], '--dim'),
    (['--hidden', '32'], '--dim'),
    (['--num-epochs', '3'], '--epochs'),
    (['--batch', '64'], '--batch-size'),
    (['--adar-lambda', '0.3'], '--adar-weight'),
    (['--adar-wieght', '0.3'], '--adar-weight'),
    (['--epoch=3'], '--epochs'),
])
def test_abbreviations_are_refused_and_aliases_suggest(capsys, argv,
                                                       suggestion):
    with pytest.raises(SystemExit) as e:
        parse_args(parser(), argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown argument '{argv[0]}' (did you mean '{suggestion}'?)" \
        in err


def test_the_command_refuses_abbreviations(tmp_path, capsys):
    from adar_pyg.cli import build_parser, main
    out = tmp_path / 'run'
    with pytest.raises(SystemExit) as e:
        main(['train', '--thread', '1', '--out', str(out)])
    assert e.value.code == 2 and not out.exists()
    assert "did you mean '--threads'?" in capsys.readouterr().err
    parser_ = build_parser()
    subs = parser_._subparsers._group_actions[0].choices
    assert not parser_.allow_abbrev
    assert all(not p.allow_abbrev for p in subs.values())


def test_scripts_build_parsers_without_abbreviations():
    for name, text in source_files():
        for m in re.finditer(r'ArgumentParser\(|add_parser\(', text):
            call = text[m.start():text.find(')\n', m.start())]
            assert 'allow_abbrev=False' in call, (name, call)


@pytest.mark.parametrize('layer, suggestion', [
    ({'train': {'learning_rate': 0.1}},
     "unknown setting 'train.learning_rate' (did you mean 'lr'?)"),
    ({'train': {'weight_decay': 0.1}},
     "unknown setting 'train.weight_decay' (did you mean 'l2'?)"),
    ({'train': {'num_epochs': 3}},
     "unknown setting 'train.num_epochs' (did you mean 'epochs'?)"),
    ({'train': {'batch': 3}},
     "unknown setting 'train.batch' (did you mean 'batch_size'?)"),
    ({'model': {'embedding_dim': 3}},
     "unknown setting 'model.embedding_dim' (did you mean 'dim'?)"),
    ({'train': {'embedding_dim': 3}},
     "unknown setting 'train.embedding_dim' (did you mean 'model.dim'?)"),
    ({'train': {'dim': 3}}, "'train.dim' (it belongs to section 'model')"),
    ({'adar': {'lambda': 0.2}},
     "unknown setting 'adar.lambda' (did you mean 'weight'?)"),
    ({'train': {'lrr': 1}}, "unknown setting 'train.lrr' (did you mean "
     "'lr'?)"),
])
def test_yaml_keys_suggest_by_name_and_alias(layer, suggestion):
    with pytest.raises(ConfigError) as e:
        Config.build(layer)
    assert suggestion in str(e.value)


def test_aliases_only_suggest(tmp_path):
    # An alias is never accepted as the setting:
    with pytest.raises(ConfigError):
        Config.build({'train': {'learning_rate': 0.1}})
    # and no alias is the name or another alias of a setting of its section:
    for section in SECTIONS:
        names = [f.name for f in section.settings()]
        aliases = [a for f in section.settings()
                   for a in f.metadata['aliases']]
        assert len(set(aliases)) == len(aliases), section.key
        assert not set(aliases) & set(names), section.key


def test_a_config_file_reports_all_its_errors_at_once(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('trian: {}\n'
                    'train: {learning_rate: 0.1, lr: .nan, epochs: 0}\n'
                    'model: {ngcf_node_dropout: 2.0}\n'
                    'adar: {weight: 1.5, hardness: 1}\n')
    with pytest.raises(ConfigError) as e:
        Config.load(str(path))
    errors = e.value.errors
    assert len(errors) == 7 and all(m.startswith(f'{path}: ')
                                    for m in errors)
    text = str(e.value)
    assert text.startswith('7 errors in the settings:\n')
    for part in ("unknown section 'trian' (did you mean 'train'?)",
                 "'train.learning_rate' (did you mean 'lr'?)",
                 'train.lr must be a finite number (got nan)',
                 'train.epochs must be at least 1 (got 0)',
                 'model.ngcf_node_dropout must be in [0, 1) (got 2.0)',
                 'adar.weight must be in [0, 1] (got 1.5)',
                 'adar.hardness must be in [0, 1) (got 1.0)'):
        assert part in text, part
    # The flags too:
    with pytest.raises(ConfigError) as e:
        from_flags('--lr', '0', '--adar-weight', '2')
    assert e.value.errors == ['--lr must be greater than 0 (got 0.0)',
                              '--adar-weight must be in [0, 1] (got 2.0)']


# -- One default: the augmenters' constructors ------------------------------

def test_adar_settings_take_the_defaults_of_negative_augmenter():
    params = inspect.signature(NegativeAugmenter).parameters
    checked = []
    for f in ADARConfig.settings():
        if f.name in params:
            assert f.default == params[f.name].default, f.name
            checked.append(f.name)
    assert {'weight', 'num_steps', 'strategy', 'hardness', 'source',
            'clip_x0', 'hidden_channels', 'lr'} <= set(checked)
    # The controls share the weight (adar.weight configures them too):
    for cls in (ReweightAugmenter, NoiseAugmenter):
        assert inspect.signature(cls).parameters['weight'].default == \
            ADARConfig.weight == NegativeAugmenter(8).weight
    assert Config.build().adar == ADARConfig()
    assert dataclasses.asdict(ADARConfig())['weight'] == 0.7


def test_one_error_is_one_line():
    with pytest.raises(ConfigError) as e:
        Config.build({'train': {'lr': 0.0}})
    assert e.value.errors == [str(e.value)] and '\n' not in str(e.value)
