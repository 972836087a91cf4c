import argparse
import dataclasses
import os
import re

import pytest
import yaml

from adar_pyg.config import (SECTIONS, Config, ConfigError, add_config_args,
                             config_from_args, parse_args, read_yaml,
                             recorded_settings)
from adar_pyg.config.config import DeprecatedFlag
from adar_pyg.config.settings import field_type
from adar_pyg.pipeline import build_augmenter, build_model

from scripts import source_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def parser():
    p = argparse.ArgumentParser()
    add_config_args(p)
    return p


def test_defaults_and_task_defaults():
    cf, sr = Config.build(), Config.build({'run': {'task': 'sr'}})
    assert (cf.train.batch_size, cf.train.l2, cf.adar.num_steps) == (
        2048, 1e-4, 50)
    assert (sr.train.batch_size, sr.train.l2, sr.adar.num_steps) == (
        256, 0.0, 20)
    assert (cf.model.model, sr.model.model) == ('lightgcn', 'sasrec')
    r = sr.resolved()
    assert (r.model.layers, r.model.dropout) == (2, 0.5)
    g = Config.build({'run': {'task': 'sr'},
                      'model': {'model': 'gru4rec'}}).resolved()
    assert (g.model.layers, g.model.dropout) == (1, 0.3)
    assert cf.resolved().split.split_seed == 0 and \
        cf.resolved().run.device in ('cpu', 'cuda')


def test_round_trip(tmp_path):
    cfg = Config.build({'train': {'augmenter': 'adar', 'lr': 5e-3},
                        'adar': {'weight': 0.3, 'strategy': 'transition',
                                 'hardness': 0.25, 'clip_x0': None},
                        'cnsdiff': {'start_steps': [5, 9]}}).resolved()
    path = str(tmp_path / 'config.yaml')
    cfg.save(path)
    again = Config.load(path)
    assert again == cfg
    again.save(str(tmp_path / 'again.yaml'))
    assert open(path).read() == open(tmp_path / 'again.yaml').read()
    # objects are built from the file's values:
    aug = build_augmenter(again, 64)
    assert (aug.weight, aug.strategy, aug.hardness, aug.clip_x0) == (
        0.3, 'transition', 0.25, None)
    assert build_model(again, 5, 7).embedding_dim == 64


def test_flags_override_the_file(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('train: {lr: 0.005, epochs: 7}\nadar: {weight: 0.2}\n')
    args = parse_args(parser(), ['--config', str(path), '--lr', '0.01',
                                 '--adar-clip-x0', '0'])
    cfg = config_from_args(args)
    assert cfg.train.lr == 0.01 and cfg.train.epochs == 7
    assert cfg.adar.weight == 0.2
    assert cfg.adar.clip_x0 is None  # '<= 0: none', as the flag always did
    # The namespace holds the flags given only: settings are read from cfg.
    assert args.lr == 0.01 and not hasattr(args, 'epochs')


def test_replace_layers_a_copy_and_checks_it():
    cfg = Config.build({'run': {'task': 'sr'}, 'train': {'lr': 0.01}})
    cell = cfg.replace({'run': {'seed': 3}, 'adar': {'weight': 0.9}},
                       {'adar': {'weight': 0.7}})  # later layers win
    assert (cell.run.seed, cell.adar.weight, cell.train.lr) == (3, 0.7, 0.01)
    assert cell.run.task == 'sr' and cell.adar.num_steps == 20  # SR default
    assert (cfg.run.seed, cfg.adar.weight) == (0, Config.build(
        {'run': {'task': 'sr'}}).adar.weight)  # the original is unchanged
    assert cell.replace({'run': {'seed': 0}, 'adar': {
        'weight': cfg.adar.weight}}) == cfg
    with pytest.raises(ConfigError, match='train.lr'):
        cfg.replace({'train': {'lr': -1.0}})
    with pytest.raises(ConfigError, match='did you mean'):
        cfg.replace({'adar': {'wieght': 0.5}})


def test_preset_then_file_then_flags(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('train: {epochs: 3}\n')
    args = parse_args(parser(), ['--config', str(path)])
    args.preset = 'ood'
    cfg = config_from_args(args)
    assert (cfg.train.lr, cfg.model.layers, cfg.train.epochs) == (
        0.01, 2, 3)


def test_presets_apply_in_order_setting_by_setting():
    args = parse_args(parser(), ['--adar-hardness', '0.25'])
    first = {'adar': {'strategy': 'adaptive', 'weight': 0.3},
             'train': {'lr': 0.02}}
    second = {'adar': {'weight': 0.9}}
    cfg = config_from_args(args, preset=[first, second])
    # The second layer's adar section does not wipe the first one's keys:
    assert (cfg.adar.strategy, cfg.adar.weight, cfg.adar.hardness,
            cfg.train.lr) == ('adaptive', 0.9, 0.25, 0.02)
    with pytest.raises(ConfigError, match='preset'):
        config_from_args(parse_args(parser(), []),
                         preset=[first, {'adar': {'no_such_key': 1}}])


def test_each_setting_is_declared_once_and_has_one_flag():
    p = parser()
    actions = {a.dest: a for a in p._actions
               if not isinstance(a, DeprecatedFlag)}
    seen_flags = set()
    for section in SECTIONS:
        for f in section.settings():
            dest, flag = section.dest(f), section.flag(f)
            # One name: the flag is the section's prefix plus the YAML key
            # (the key of result.json's 'settings'), the attribute the same.
            assert flag == '--' + (section.prefix + f.name).replace('_', '-')
            assert dest == (section.prefix + f.name).replace('-', '_')
            assert dest in actions, dest
            assert flag not in seen_flags
            seen_flags.add(flag)
            assert flag in actions[dest].option_strings
            help_text = f.metadata['help']
            assert help_text and help_text.replace('%', '%%') in \
                actions[dest].help
            tp, _, _ = field_type(f)
            assert tp in (int, float, str, bool)
    # No script or library module declares a setting's flag by hand: the
    # flags only come from adar_pyg.config.
    pattern = re.compile(r"add_argument\(\s*'(--[a-z0-9-]+)'")
    for name, text in source_files():
        for flag in pattern.findall(text):
            assert flag not in seen_flags, (name, flag)


def test_old_flag_names_stay_valid(capsys):
    args = parse_args(parser(), [
        '--dataset', 'toys', '--epochs', '5', '--lr', '0.1', '--l2', '0',
        '--batch-size', '64', '--eval-every', '2', '--patience', '3',
        '--seed', '4', '--device', 'cpu', '--threads', '1', '--augmenter',
        'adar', '--adar-weight', '0.1', '--adar-steps', '20',
        '--adar-hidden', '32', '--cnsdiff-steps', '30', '--cnsdiff-hidden',
        '16', '--cnsdiff-temperature', '0.5',
        '--adar-strategy', 'mixed', '--adar-schedule', 'linear-variance',
        '--cnsdiff-frozen-denoiser', '--sampler', 'dns',
        '--num-candidates', '8', '--val-ratio', '0', '--select-on', 'test'])
    cfg = config_from_args(args)
    assert cfg.adar.schedule == 'linear-variance'
    assert cfg.cnsdiff.frozen_denoiser
    sr = config_from_args(parse_args(parser(), [
        '--task', 'sr', '--model', 'sasrec', '--no-mask-history']))
    assert not sr.train.mask_history
    assert (cfg.run.seed, cfg.adar.num_steps, cfg.sampler.num_candidates) \
        == (4, 20, 8)
    # The renamed flags (flag = prefix + YAML key) keep their old spelling,
    # with a warning each, and --help shows the new one only:
    assert (cfg.adar.hidden_channels, cfg.cnsdiff.num_steps,
            cfg.cnsdiff.hidden_channels, cfg.cnsdiff.cl_temperature) == (
                32, 30, 16, 0.5)
    err = capsys.readouterr().err
    for old, new in [('--adar-steps', '--adar-num-steps'),
                     ('--adar-hidden', '--adar-hidden-channels'),
                     ('--cnsdiff-steps', '--cnsdiff-num-steps'),
                     ('--cnsdiff-hidden', '--cnsdiff-hidden-channels'),
                     ('--cnsdiff-temperature', '--cnsdiff-cl-temperature')]:
        assert f'warning: {old} is deprecated: use {new}' in err
        assert old + ' ' not in parser().format_help()
        assert new in parser().format_help()
    with pytest.raises(SystemExit):  # A typo names the new spelling:
        parse_args(parser(), ['--adar-hiden', '8'])
    assert "did you mean '--adar-hidden-channels'" in capsys.readouterr().err


def test_recorded_settings_of_new_and_old_results():
    cfg = Config.build({'adar': {'num_steps': 7}, 'train': {'lr': 0.01}})
    assert recorded_settings({'settings': cfg.to_dict()}) == cfg.to_dict()
    # result files of older versions: flat 'args' by flag name, the
    # renamed flags under their old names, other keys ignored
    old = recorded_settings({'args': {'lr': 0.01, 'adar_steps': 7,
                                      'cnsdiff_temperature': 0.5,
                                      'out': 'x', 'progress': False}})
    assert old == {'train': {'lr': 0.01}, 'adar': {'num_steps': 7},
                   'cnsdiff': {'cl_temperature': 0.5}}
    assert recorded_settings({'args': {'adar_num_steps': 9}}) == {
        'adar': {'num_steps': 9}}
    # the first SR runs recorded the inverted --no-mask-history
    assert recorded_settings({'args': {'no_mask_history': True}}) == {
        'train': {'mask_history': False}}


@pytest.mark.parametrize('layer, match', [
    ({'trian': {}}, "unknown section 'trian' \\(did you mean 'train'"),
    ({'train': {'lrr': 1}}, "unknown setting 'train.lrr' \\(did you mean "
     "'lr'"),
    ({'train': {'weight': 1}}, "it belongs to section 'adar'"),
    ({'train': {'epochs': 'ten'}}, 'train.epochs must be an integer'),
    ({'train': {'epochs': 2.7}}, 'must be an integer \\(got 2.7'),
    ({'train': {'epochs': 2.0}}, 'must be an integer .*write 2'),
    ({'train': {'epochs': 0}}, 'at least 1'),
    ({'train': {'lr': 'fast'}}, 'train.lr must be a number'),
    ({'adar': {'strategy': 'adaptve'}}, "did you mean 'adaptive'"),
    ({'adar': {'hardness': 1.0}}, 'hardness must be in \\[0, 1\\)'),
    ({'adar': {'normalize': 'yes'}}, 'true or false'),
    ({'run': {'task': 'sr'}, 'model': {'model': 'ngcf'}}, 'not a SR model'),
    ({'run': {'task': 'sr'}, 'sampler': {'sampler': 'dns'}},
     "sampler.sampler 'dns' is for CF only"),
    ({'model': {'model': 'ngcf'}, 'sampler': {'sampler': 'mixgcf'}},
     r"'mixgcf' mixes negatives layer by layer: it needs a model with "
     r"per-layer representations \(lightgcn\), not model.model 'ngcf'"),
    ({'train': {'sampled': True, 'fanout': [0]}},
     r'train.fanout \(--fanout\): fan-outs must be positive or -1'),
    ({'train': {'fanout': [5, 3]}}, r'one for all.* \(got \[5, 3\]\)'),
    ({'train': {'sampled': True}, 'run': {'nproc': 2}},
     'train.sampled runs in one process'),
    ({'data': {'min_rating': 3}}, 'needs data.rating_col'),
    ({'train': {'sparse_grad': True}}, 'train.sparse_grad needs '
     'train.sampled'),
    ({'data': {'data': 'r.csv', 'user_col': 'item'}}, "data.user_col "
     "\\(--user-col\\) and data.item_col \\(--item-col\\) name the same "
     "column 'item'"),
    ({'data': {'data': 'r.csv', 'time_col': 'rating', 'rating_col':
               'rating'}}, "data.time_col \\(--time-col\\) and "
     "data.rating_col \\(--rating-col\\) name the same column 'rating'"),
    ([1, 2], 'must be a mapping'),
])
def test_bad_config(layer, match):
    with pytest.raises(ConfigError, match=match):
        Config.build(layer)


def test_scalar_for_list():
    # `fanout: 5` in a YAML file means one number for all layers
    cfg = Config.build({'train': {'sampled': True, 'fanout': 5}})
    assert cfg.train.fanout == [5]
    with pytest.raises(ConfigError, match='must be an integer'):
        Config.build({'train': {'fanout': 'five'}})


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match='does not exist'):
        Config.load(str(tmp_path / 'nope.yaml'))
    bad = tmp_path / 'bad.yaml'
    bad.write_text('train: [1, 2\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        Config.load(str(bad))
    bad.write_text('- 1\n- 2\n')
    with pytest.raises(ConfigError, match='mapping'):
        Config.load(str(bad))
    bad.write_text('train: {epochs: 2, lerning_rate: 1}\n')
    with pytest.raises(ConfigError, match=f"{bad}: unknown setting"):
        Config.load(str(bad))


@pytest.mark.parametrize('what', ['config file', 'search space',
                                  'arms file'])
def test_a_repeated_key_is_an_error_naming_its_line(tmp_path, what):
    path = tmp_path / 'c.yaml'
    path.write_text('train: {epochs: 1}\n'
                    'model: {dim: 8, dim: 16}\n'
                    'train: {lr: 0.5, lrr: 1}\n')
    errors = [f"{path}:2: repeated key 'dim' (first on line 2): only the "
              f"last would count",
              f"{path}:3: repeated key 'train' (first on line 1): only the "
              f"last would count"]
    with pytest.raises(ConfigError) as e:
        read_yaml(str(path), what)
    assert e.value.errors == errors
    if what == 'config file':  # With the file's other errors, once:
        for load in (lambda: Config.load(str(path)),
                     lambda: config_from_args(parse_args(
                         parser(), ['--config', str(path)]))):
            with pytest.raises(ConfigError) as e:
                load()
            assert e.value.errors == errors + [
                f"{path}: unknown setting 'train.lrr' (did you mean 'lr'?)"]
    # An anchor's keys may be overridden, as '<<' means:
    path.write_text('base: &b {dim: 8, layers: 2}\nmodel: {<<: *b, dim: 16}\n')
    assert read_yaml(str(path), what)['model'] == {'dim': 16, 'layers': 2}
    # ... also an anchor that merges another, merged again:
    path.write_text('a: &a {dim: 8}\nmodel: &b {<<: *a, dim: 16}\n'
                    'train: {<<: *b}\n')
    assert read_yaml(str(path), what)['train'] == {'dim': 16}


def test_unknown_flag_names_the_nearest(capsys):
    with pytest.raises(SystemExit):
        parse_args(parser(), ['--adar-wieght', '0.1'])
    assert "did you mean '--adar-weight'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: wrong type
        parse_args(parser(), ['--epochs', 'x'])


def test_saved_config_is_plain_yaml(tmp_path):
    cfg = Config.build().resolved()
    cfg.save(str(tmp_path / 'c.yaml'))
    data = yaml.safe_load(open(tmp_path / 'c.yaml'))
    assert list(data) == [s.key for s in SECTIONS]
    assert data['cnsdiff']['start_steps'] == [10, 14, 18]
    assert all(dataclasses.is_dataclass(getattr(cfg, s.key))
               for s in SECTIONS)


def test_docs_are_generated_from_the_declarations():
    from adar_pyg.config.config import settings_markdown
    with open(os.path.join(ROOT, 'docs', 'configuration.md')) as f:
        assert f.read() == settings_markdown(), (
            'docs/configuration.md is stale: python -m adar_pyg.config > '
            'docs/configuration.md')


def test_config_is_settings_only():
    # The settings import no model, task or data code: the pipeline
    # (adar_pyg.pipeline) builds the run's objects from them.
    import subprocess
    import sys
    code = ('import sys, adar_pyg.config; print(" ".join(sorted(m for m in '
            'sys.modules if m.startswith("adar_pyg."))))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.split()
    for layer in ('nn', 'sequential', 'train', 'datasets', 'pipeline', 'run',
                  'cli'):
        assert not [m for m in out if m.split('.')[1] == layer], (layer, out)


def test_config_build_is_a_deprecated_alias_of_the_pipeline():
    import adar_pyg.config
    import adar_pyg.pipeline
    with pytest.warns(DeprecationWarning, match='adar_pyg.pipeline'):
        assert adar_pyg.config.build is adar_pyg.pipeline
    with pytest.raises(AttributeError, match='no attribute'):
        _ = adar_pyg.config.no_such_name


@pytest.mark.parametrize('values, message', [
    ({'train': {'mask_history': False}}, r'train.mask_history '
     r'\(--mask-history\) is for SR only: a run of run.task cf would '
     r'ignore it \(got False\)'),
    ({'run': {'task': 'sr'}, 'model': {'model': 'sasrec'},
      'sampler': {'ahns_alpha': 3.5}}, 'sampler.ahns_alpha .* CF only'),
    ({'run': {'task': 'sr'}, 'model': {'model': 'sasrec'},
      'sampler': {'num_candidates': 8}}, 'sampler.num_candidates .* CF only'),
    ({'run': {'task': 'sr'}, 'model': {'model': 'gru4rec'},
      'train': {'fanout': [5]}}, r'train.fanout \(--fanout\) is for CF only'),
    ({'run': {'task': 'sr'}, 'model': {'model': 'sasrec'},
      'split': {'val_ratio': 0.3}}, r'split.val_ratio .* CF only'),
])
def test_a_setting_of_the_other_task_is_refused_not_ignored(values, message):
    with pytest.raises(ConfigError, match=message):
        Config.build(values)
    # At its default it is no error (every run's config.yaml holds it):
    task = values.get('run', {}).get('task', 'cf')
    Config.build({'run': {'task': task},
                  'model': values.get('model', {})})


def test_an_optional_setting_takes_null_on_the_command_line():
    r"""``none`` / ``null`` on a flag is YAML's null (the paper-literal
    ``--adar-max-x0-weight null``); a bad value is still refused."""
    for word in ('null', 'None', 'NONE'):
        cfg = config_from_args(parse_args(parser(), [
            '--adar-max-x0-weight', word, '--adar-clip-x0', word]))
        assert cfg.adar.max_x0_weight is None and cfg.adar.clip_x0 is None
    cfg = config_from_args(parse_args(parser(), ['--adar-clip-x0', '2.5']))
    assert cfg.adar.clip_x0 == 2.5
    with pytest.raises(SystemExit):
        parse_args(parser(), ['--adar-clip-x0', 'abc'])
