r"""A run's whole configuration (:class:`Config`), built in layers — the
declared defaults (with the task's own), a preset, a YAML file, the
command-line flags — and checked before any data are loaded."""
import argparse
import contextlib
import dataclasses
import functools
import inspect
import io
import os
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import yaml

from adar_pyg.checks import fanout_per_layer
from adar_pyg.config.sections import (CF_MODELS, SECTIONS, SR_MODELS, TASKS,
                                      ADARConfig, CNSDiffConfig, DataConfig,
                                      ModelConfig, RunConfig, SamplerConfig,
                                      SplitConfig, TrainConfig)
from adar_pyg.config.settings import (ConfigError, _plain, coerce, field_type,
                                      iter_settings, nearest, normalize,
                                      setting_names, suggest, valid_range)
from adar_pyg.io import atomic_path
from adar_pyg.registry import (AUGMENTER_SECTIONS, AUGMENTER_SETTINGS,
                               MODEL_NAMES, MODEL_SETTINGS)
from adar_pyg.sampling import SAMPLERS

#: Model-dependent defaults of the settings left at :obj:`None` (declared
#: with each model's name in :obj:`adar_pyg.registry.MODEL_NAMES`).
MODEL_LAYERS = {name: m.layers for name, m in MODEL_NAMES.items()}
MODEL_DROPOUT = {name: m.dropout for name, m in MODEL_NAMES.items()
                 if m.dropout is not None}

#: Named protocols: overrides applied on top of the defaults (a file and
#: flags still override them). ``ood``: the CNSDiff reference configuration
#: (2-layer LightGCN, Adam lr 0.01, 120 epochs evaluated every epoch without
#: early stopping, so that the easy-to-hard curriculum runs to its end).
PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'ood': {'data': {'dataset': 'ood-food'}, 'model': {'layers': 2},
            'train': {'lr': 0.01, 'epochs': 120, 'eval_every': 1,
                      'patience': 120}},
    # ADAR as the paper selects its negative (Eq. 11's t* on the reverse
    # chain), with the λ of the committed SR cells of Table 2 and the OOD
    # table (its CF cells and Table 3 add --adar-weight 0.1):
    'adar-eq11': {'adar': {'strategy': 'adaptive', 'source': 'chain',
                           'weight': 0.5}},
}


@dataclasses.dataclass
class Config:
    r"""All settings of a run, one section per configurable part (see
    :mod:`adar_pyg.config.sections`)."""
    run: RunConfig
    data: DataConfig
    split: SplitConfig
    model: ModelConfig
    sampler: SamplerConfig
    train: TrainConfig
    adar: ADARConfig
    cnsdiff: CNSDiffConfig

    @classmethod
    def build(cls, *layers: Optional[Mapping[str, Any]],
              where: Sequence[str] = (),
              errors: Sequence[str] = ()) -> 'Config':
        r"""The config of the nested dicts :obj:`layers` (later ones win) on
        top of the defaults of the task they name (:obj:`run.task`).
        Unknown keys, wrong types and values out of their declared range
        raise one :class:`ConfigError` that lists every error found, each
        naming its layer (:obj:`where`, *e.g.* the file name; in the layer
        :obj:`'flags'` the flag), after :obj:`errors` found before (*e.g.*
        the repeated keys of a file, see :func:`read_yaml`)."""
        names = list(where) + [''] * (len(layers) - len(where))
        layers = [layer or {} for layer in layers]
        errors = list(errors)
        for layer, name in zip(layers, names):
            errors += key_errors(layer, name)
        if any(not isinstance(layer, Mapping) for layer in layers):
            raise_errors(errors)
        task = 'cf'
        for layer in layers:
            body = layer.get('run')
            if isinstance(body, Mapping) and body.get('task') in TASKS:
                task = body['task']
        values = {s.key: s.defaults(task) for s in SECTIONS}
        for layer, name in zip(layers, names):
            flags = name in FLAG_LAYERS
            where_ = f'{name}: ' if name and not flags else ''
            for section in SECTIONS:
                body = layer.get(section.key)
                if not isinstance(body, Mapping):
                    continue
                fields = {f.name: f for f in section.settings()}
                for key, value in body.items():
                    if key not in fields:
                        continue  # Reported by key_errors.
                    f = fields[key]
                    label = section.flag(f) if flags else None
                    try:
                        values[section.key][key] = coerce(
                            section, f, value, where_, label)
                    except ConfigError as e:
                        errors.append(str(e))
        cfg = cls(**{s.key: s(**values[s.key]) for s in SECTIONS})
        raise_errors(errors + cfg.errors())
        return cfg

    def check(self) -> None:
        r"""Raises :class:`ConfigError` for settings that do not fit
        together (see :meth:`errors`)."""
        raise_errors(self.errors())

    def errors(self) -> List[str]:
        r"""The checks that need more than one setting (the checks of a
        single setting are declared with it, see
        :func:`~adar_pyg.config.setting`, and run when it is read)."""
        out = []
        task, model = self.run.task, self.model.model
        model_name = model
        allowed = CF_MODELS if task == 'cf' else SR_MODELS
        if model not in allowed:
            out.append(f"model.model {model!r} is not a {task.upper()} "
                       f"model (choose from {', '.join(allowed)})")
        if self.train.sampled and task != 'cf':
            out.append('train.sampled is for CF (lightgcn, ngcf) only')
        if self.train.sampled and self.run.nproc > 1:
            out.append('train.sampled runs in one process (run.nproc must '
                       'be 1)')
        fanout, known = self.train.fanout, MODEL_NAMES.get(model)
        layers = self.model.layers or (known.layers if known else None)
        if fanout is not None and layers is not None:
            try:
                fanout_per_layer(fanout, layers)
            except ValueError as e:
                out.append(f'train.fanout (--fanout): {e}')
        if self.train.sparse_grad and not self.train.sampled:
            out.append('train.sparse_grad needs train.sampled (--sampled): '
                       'the full-graph path reads every embedding row at '
                       'each step')
        if self.run.parallel == 'columns':
            out += self._column_errors()
        if task == 'sr' and self.train.augmenter == 'cnsdiff':
            out.append("train.augmenter 'cnsdiff' is for CF only")
        if task == 'sr' and self.sampler.sampler != 'uniform':
            out.append(f'sampler.sampler {self.sampler.sampler!r} is for CF '
                       f'only (sequential training draws uniform '
                       f'negatives)')
        model = MODEL_NAMES.get(self.model.model)
        sampler = SAMPLERS.get(self.sampler.sampler)
        if (task == 'cf' and model is not None and sampler is not None
                and sampler.requires_layers and not model.per_layer):
            per_layer = [n for n, m in MODEL_NAMES.items() if m.per_layer]
            out.append(f'sampler.sampler {self.sampler.sampler!r} mixes '
                       f'negatives layer by layer: it needs a model with '
                       f'per-layer representations ({", ".join(per_layer)}),'
                       f' not model.model {self.model.model!r}')
        out += self._other_task_errors()
        if 'heads' in MODEL_SETTINGS.get(model_name, ()) and \
                self.model.dim % self.model.heads:
            out.append(f'model.heads ({self.model.heads}) must divide '
                       f'model.dim ({self.model.dim}): each head attends '
                       f'over dim / heads of the embedding')
        if self.data.min_rating is not None and not self.data.rating_col:
            out.append('data.min_rating needs data.rating_col')
        if self.data.data is not None and not self.data.data.strip():
            out.append(f'{_data_setting("data")} must name a file (got '
                       f'{self.data.data!r}; without it, data.dataset is '
                       f'trained on)')
        elif self.data.data:
            out += self._data_column_errors()
        else:
            out += self._own_data_errors()
        steps = self.cnsdiff.start_steps
        if len(set(steps)) != len(steps) or \
                max(steps) > self.cnsdiff.num_steps:
            out.append(f'cnsdiff.start_steps must be distinct steps in [1, '
                       f'cnsdiff.num_steps={self.cnsdiff.num_steps}] (got '
                       f'{list(steps)})')
        return out

    def _other_task_errors(self) -> List[str]:
        # A setting of the other task (its own or its section's) away from
        # its default would be silently ignored: refused (train.sampled and
        # sampler.sampler have their own lines above).
        task, out = self.run.task, []
        for section, f in iter_settings(SECTIONS):
            key = f'{section.key}.{f.name}'
            owner = section.task_of(f)
            if owner in (None, task) or key in ('train.sampled',
                                                'sampler.sampler'):
                continue
            value = getattr(getattr(self, section.key), f.name)
            if _plain(value) != _plain(section.defaults(owner)[f.name]):
                out.append(f'{key} ({section.flag(f)}) is for '
                           f'{owner.upper()} only: a run of run.task {task} '
                           f'would ignore it (got {_plain(value)!r})')
        return out

    def _own_data_errors(self) -> List[str]:
        # The filters of --data change the data: given without it (a
        # built-in dataset, filtered as published), refused rather than
        # recorded as if applied.
        defaults = DataConfig.defaults(self.run.task)
        return [f'{_data_setting(name)} filters your own data (data.data) '
                f'only: the built-in data.dataset {self.data.dataset!r} is '
                f'read as published (got '
                f'{_plain(getattr(self.data, name))!r})'
                for name in OWN_DATA_FILTERS
                if getattr(self.data, name) != defaults[name]]

    def _column_errors(self) -> List[str]:
        # What run.parallel 'columns' needs that the settings can tell
        # (the backbone's and the sampler's own contracts are checked when
        # the task is sharded, see RecTask.shard_columns):
        where = "run.parallel 'columns'"
        out = []
        if self.run.task != 'cf' or self.train.sampled:
            out.append(f'{where} is for the full-graph CF path only (not '
                       f'--task sr, not --sampled)')
        if self.train.lr_scaling != 'none':
            out.append(f"{where} keeps the batch of one process: "
                       f"train.lr_scaling must be 'none'")
        if self.model.dim % self.run.nproc:
            out.append(f'{where} splits model.dim={self.model.dim} '
                       f'columns evenly: run.nproc={self.run.nproc} must '
                       f'divide it')
        return out

    def _data_column_errors(self) -> List[str]:
        # The columns of --data, as read_interactions_table checks them:
        from adar_pyg.datasets.table import COLUMN_ARGS, shared_columns
        out = [f'{_data_setting(name)} must name a column (got '
               f'{getattr(self.data, name)!r})'
               for name in COLUMN_ARGS
               if getattr(self.data, name) is not None and
               not getattr(self.data, name).strip()]
        if out:
            return out
        shared = shared_columns(**{name: getattr(self.data, name)
                                   for name in COLUMN_ARGS})
        for column, names in shared.items():
            named = [_data_setting(name) for name in names]
            out.append(f"{', '.join(named[:-1])} and {named[-1]} name the "
                       f"same column {column!r}; each must name a column of "
                       f"its own")
        return out

    def resolved(self) -> 'Config':
        r"""A copy with the settings that default to :obj:`None` or
        :obj:`'auto'` made concrete (device, layers, dropout, split seed), as
        saved in a run's :obj:`config.yaml`."""
        out = dataclasses.replace(self)
        out.run = dataclasses.replace(
            self.run, device=self.device_name())
        model = self.model.model
        out.model = dataclasses.replace(
            self.model, layers=self.model.layers or MODEL_LAYERS[model],
            dropout=(self.model.dropout if self.model.dropout is not None
                     else MODEL_DROPOUT.get(model)))
        out.split = dataclasses.replace(
            self.split, split_seed=(self.run.seed if self.split.split_seed
                                    is None else self.split.split_seed))
        return out

    def device_name(self) -> str:
        import torch
        if self.run.device == 'auto':
            return 'cuda' if torch.cuda.is_available() else 'cpu'
        return self.run.device

    def dataset_name(self) -> str:
        r"""The built-in dataset's name, or the stem of :obj:`data.data`."""
        if self.data.data:
            base = os.path.basename(self.data.data)
            return base.split('.')[0] or 'data'
        return self.data.dataset

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        return {s.key: getattr(self, s.key).to_dict() for s in SECTIONS}

    def save(self, path: str) -> None:
        r"""Writes the config as YAML (atomically)."""
        text = ('# adar_pyg run config: adar-pyg train --config THIS_FILE '
                '[flags override it]\n' +
                yaml.safe_dump(self.to_dict(), sort_keys=False))
        with atomic_path(path) as tmp, open(tmp, 'w') as f:
            f.write(text)

    @classmethod
    def load(cls, path: str, *more: Optional[Mapping[str, Any]]
             ) -> 'Config':
        r"""The config of the YAML file :obj:`path` (then :obj:`more`
        layers)."""
        repeated: List[str] = []
        return cls.build(read_yaml(path, repeated=repeated), *more,
                         where=[path], errors=repeated)

    def replace(self, *layers: Optional[Mapping[str, Any]],
                where: Sequence[str] = ()) -> 'Config':
        r"""A copy with the nested dicts :obj:`layers` applied on top (later
        ones win; checked as in :meth:`build`), *e.g.*
        :obj:`cfg.replace({'run': {'seed': 1}, 'adar': {'weight': 0.7}})`
        for one cell of a table."""
        return Config.build(self.to_dict(), *layers,
                            where=['', *where])


#: Names of the layers of :meth:`Config.build` that hold flags: their
#: errors name the flag (*e.g.* :obj:`--lr`) rather than the YAML key.
FLAG_LAYERS = ('flags', 'arguments')


def raise_errors(errors: Sequence[str]) -> None:
    r"""Raises one :class:`ConfigError` listing :obj:`errors` (if any; its
    :attr:`errors` holds them one by one)."""
    if errors:
        raise ConfigError.of(errors, 'the settings')


def check_keys(layer: Mapping[str, Any], where: str = '') -> None:
    r"""Raises :class:`ConfigError` for the keys that are no section or
    setting (all of them at once), suggesting the nearest."""
    raise_errors(key_errors(layer, where))


def key_errors(layer: Mapping[str, Any], where: str = '') -> List[str]:
    r"""One message per key of :obj:`layer` that is no section or setting,
    each suggesting the nearest name (the declared aliases of a setting
    count: :obj:`train.learning_rate` suggests :obj:`lr`)."""
    prefix = f'{where}: ' if where else ''
    if not isinstance(layer, Mapping):
        return [f'{prefix}a config must be a mapping of sections (got '
                f'{type(layer).__name__})']
    keys = {s.key: s for s in SECTIONS}
    out = []
    for key, body in layer.items():
        if key not in keys:
            home = [s.key for s in SECTIONS if str(key) in setting_names(s)]
            hint = (f" (a setting of section '{home[0]}'?)" if home else
                    suggest(str(key), list(keys)))
            out.append(f"{prefix}unknown section '{key}'{hint}; sections: "
                       f"{', '.join(keys)}")
            continue
        if body is None:
            continue
        if not isinstance(body, Mapping):
            out.append(f"{prefix}section '{key}' must be a mapping (got "
                       f"{body!r})")
            continue
        names = [f.name for f in keys[key].settings()]
        for name in body:
            if name not in names:
                out.append(f"{prefix}unknown setting '{key}.{name}'"
                           f"{_where_it_belongs(str(name), key)}")
    return out


def _where_it_belongs(name: str, section_key: str) -> str:
    # A setting of another section by its name, else a setting of this
    # section, then of another, by an alias, else the nearest of this one:
    for s in SECTIONS:
        if name in [f.name for f in s.settings()]:
            return f" (it belongs to section '{s.key}')"
    own = next(s for s in SECTIONS if s.key == section_key)
    for s in [own] + [s for s in SECTIONS if s is not own]:
        spelled = {normalize(k): t for k, t in setting_names(s).items()}
        target = spelled.get(normalize(name))
        if target is not None:
            return (f" (did you mean '{target}'?)" if s is own else
                    f" (did you mean '{s.key}.{target}'?)")
    target = nearest(name, setting_names(own))
    return f" (did you mean '{target}'?)" if target else ''


def _repeated_keys(node: Any) -> List[Tuple[int, str]]:
    r"""The keys repeated within a mapping of the YAML node tree
    :obj:`node` (of which YAML silently keeps the last), with their lines;
    found before anything is built (a merge :obj:`<<: *base` may override
    keys, as it means to)."""
    found: List[Tuple[int, str]] = []
    stack, seen = [node], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))  # (an alias is the same node again)
        if isinstance(node, yaml.MappingNode):
            counts: Dict[Tuple[str, str], List[int]] = {}
            for key, value in node.value:
                stack.append(value)
                if isinstance(key, yaml.ScalarNode) and \
                        key.tag != 'tag:yaml.org,2002:merge':
                    counts.setdefault((key.tag, key.value), []).append(
                        key.start_mark.line + 1)
            for (_, name), at in counts.items():
                found += [(line, f'repeated key {name!r} (first on line '
                           f'{at[0]}): only the last would count')
                          for line in at[1:]]
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return found


def read_yaml(path: str, what: str = 'config file',
              repeated: Optional[List[str]] = None) -> Any:
    r"""A YAML :obj:`what` (a config file: a dict of sections) with errors
    naming the file. A key repeated in a mapping is an error (YAML would
    keep the last silently), raised, or appended to :obj:`repeated` to be
    reported with the other errors of the file."""
    if not os.path.isfile(path):
        raise ConfigError(f"{what} '{path}' " + (
            'is a folder, not a file' if os.path.isdir(path) else
            'does not exist'))
    with open(path, encoding='utf-8') as f:
        try:
            loader = yaml.SafeLoader(f)
            try:
                node = loader.get_single_node()
                repeats = _repeated_keys(node)
                out = None if node is None else \
                    loader.construct_document(node)
            finally:
                loader.dispose()
        except yaml.YAMLError as e:
            raise ConfigError(f"{what} '{path}' is not valid YAML: "
                              f"{e}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{what} '{path}' is not a text file (not "
                              f"UTF-8): a YAML file is text") from None
    found = [f'{path}:{line}: {message}'
             for line, message in sorted(repeats)]
    if repeated is not None:
        repeated += found
    elif found:
        raise ConfigError.of(found, f"'{path}'")
    if what != 'config file':
        return out
    if out is None:
        return {}
    if not isinstance(out, dict):
        raise ConfigError(f"'{path}' must hold a mapping of sections (got "
                          f"{type(out).__name__})")
    return out


# -- Flags ------------------------------------------------------------------

def add_config_args(parser: argparse.ArgumentParser,
                    config_file: bool = True) -> None:
    r"""Adds one flag per setting (generated from :obj:`SECTIONS`: name,
    type, choices, help and default all come from the declaration), grouped
    by section, and :obj:`--config FILE`. Flags keep :obj:`SUPPRESS`
    defaults, so that :func:`config_from_args` knows which were given and
    lets them override the file. Abbreviated flags are refused
    (:obj:`--thread` is not :obj:`--threads`)."""
    parser.allow_abbrev = False
    if config_file:
        parser.add_argument('--config', metavar='FILE.yaml', default=None,
                            type=path_arg,
                            help='YAML config (sections run, data, split, '
                            'model, sampler, train, adar, cnsdiff; e.g. a '
                            "run's config.yaml); flags override it")
    for section in SECTIONS:
        group = parser.add_argument_group(section.title)
        cf, sr = section.defaults('cf'), section.defaults('sr')
        for f in section.settings():
            tp, optional, is_list = field_type(f)
            text = f.metadata['help']
            if 'default' not in text:  # Else the help says it in words.
                text += f" (default: {cf[f.name]}" + (
                    f'; sr: {sr[f.name]}' if sr[f.name] != cf[f.name] else
                    '') + ')'
            if valid_range(f):
                text += f'; valid: {valid_range(f)}'
            kwargs: Dict[str, Any] = dict(
                dest=section.dest(f), default=argparse.SUPPRESS,
                help=text.replace('%', '%%'))
            if tp is bool:
                kwargs['action'] = argparse.BooleanOptionalAction
            else:
                kwargs['type'] = tp
                if optional and not is_list and \
                        not f.metadata.get('choices'):
                    kwargs['type'] = _or_none(tp)  # As YAML's null.
                if f.metadata.get('choices'):
                    kwargs['choices'] = f.metadata['choices']
                if is_list:
                    kwargs['nargs'] = '+'
            group.add_argument(section.flag(f), **kwargs)
            old = section.old_flag(f)
            if old:  # Still accepted, with a warning; not in --help.
                group.add_argument(old, **{
                    **kwargs, 'help': argparse.SUPPRESS,
                    'action': DeprecatedFlag, 'new': section.flag(f)})


def _or_none(tp: Callable[[str], Any]) -> Callable[[str], Any]:
    r"""The flag type of an optional setting: :obj:`none` or :obj:`null`
    (any case) is :obj:`None`, as YAML's :obj:`null` is; else :obj:`tp`."""
    def parse(text: str) -> Any:
        return None if text.lower() in ('none', 'null') else tp(text)
    parse.__name__ = getattr(tp, '__name__', 'value')  # (argparse's errors)
    return parse


class DeprecatedFlag(argparse.Action):
    r"""The action of a setting's deprecated flag (see
    :func:`~adar_pyg.config.setting`'s :obj:`old_flag`): stores the value
    under the setting's name, as its flag :obj:`new` does, and says so on
    stderr, as :mod:`argparse` says its errors."""
    def __init__(self, option_strings: Sequence[str], dest: str, new: str,
                 **kwargs: Any):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        import sys
        sys.stderr.write(f'{parser.prog}: warning: {option_string} is '
                         f'deprecated: use {self.new}\n')
        setattr(namespace, self.dest, values)


def add_output_args(parser: argparse.ArgumentParser,
                    run_dir: bool = True, preset: bool = True) -> None:
    r"""Where a run writes (not settings: never saved in a config), and
    :obj:`--preset`. A file path that names a folder is refused when the
    flags are parsed, before any training."""
    parser.allow_abbrev = False
    group = parser.add_argument_group('outputs')
    if run_dir:
        group.add_argument('--out', metavar='RUN_DIR', default=None,
                           type=path_arg,
                           help='run directory (default: runs/<dataset>-'
                           '<model>[-<augmenter>]-<timestamp>)')
        group.add_argument('--overwrite', action='store_true',
                           help='replace an existing run directory')
    group.add_argument('--json', metavar='PATH', default=None,
                       type=output_file,
                       help='also write the final metrics and timings here')
    group.add_argument('--checkpoint', metavar='PATH', default=None,
                       type=functools.partial(output_file, example='best.pt'),
                       help='also write the best state here (atomically)')
    group.add_argument('--progress', default=True,
                       action=argparse.BooleanOptionalAction,
                       help='progress bars (default: on)')
    if preset:
        group.add_argument('--preset', default=None, choices=sorted(PRESETS),
                           help='a named protocol applied before the config '
                           'file and the flags (ood: the CNSDiff '
                           "reference; adar-eq11: ADAR's t* of Eq. 11 on "
                           'the reverse chain, as in the paper)')


def path_arg(path: str) -> str:
    r"""The :obj:`type` of a flag or argument that names a file or folder:
    refuses an empty one (an unset shell variable), which would otherwise
    fall back to a default."""
    if not path.strip():
        raise argparse.ArgumentTypeError(
            f'an empty path (got {path!r}; an unset shell variable?)')
    return path


def output_file(path: str, example: str = 'result.json') -> str:
    r"""The :obj:`type` of a flag that names a file to write: refuses an
    empty path, a folder (suggesting :obj:`example` in it) and a file under
    something that is not a folder, at once."""
    path_arg(path)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(
            f"'{path}' is a directory; give a file path (e.g. "
            f"{os.path.join(path, example)})")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(
            f"cannot write '{path}': '{parent}' is not a directory")
    return path


def flag_spellings(parser: argparse.ArgumentParser) -> Dict[str, str]:
    r"""Every flag of :obj:`parser` and the declared aliases of its
    settings (*e.g.* :obj:`--learning-rate`), each mapped to the flag it
    stands for."""
    options = {o: o for a in parser._actions for o in a.option_strings
               if not isinstance(a, DeprecatedFlag)}
    out: Dict[str, str] = {}
    for section, f in iter_settings(SECTIONS):
        flag = section.flag(f)
        if flag in options:
            old = section.old_flag(f)
            if old:
                out[old] = flag
            for alias in f.metadata.get('aliases', ()):
                out['--' + section.prefix + alias.replace('_', '-')] = flag
    out.update(options)
    return out


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    r""":meth:`parser.parse_args`, but abbreviations are refused and an
    unknown flag is named with the nearest known one, by name or by a
    declared alias (:obj:`--learning-rate`: did you mean :obj:`--lr`?),
    before a missing required one (a mistyped :obj:`--users` is why
    :obj:`--user` is missing). A parser with subcommands names the flags
    of the subcommand given."""
    parser.allow_abbrev = False
    # First the unknown arguments, with nothing required (and nothing
    # said: what fails here, the parse below reports):
    quiet = io.StringIO()
    with _nothing_required(parser), contextlib.redirect_stdout(quiet), \
            contextlib.redirect_stderr(quiet):
        try:
            args, unknown = parser.parse_known_args(argv)
        except SystemExit:
            unknown = []
    if unknown:
        command = _subcommand(parser, args)
        flag = next((u for u in unknown if u.startswith('-')), unknown[0])
        target = nearest(flag.split('=')[0], flag_spellings(command)) \
            if flag.startswith('-') else None
        command.error(f"unknown argument '{flag}'" +
                      (f" (did you mean '{target}'?)" if target else ''))
    return parser.parse_args(argv)


def _subparsers(parser: argparse.ArgumentParser
                ) -> List[argparse._SubParsersAction]:
    return [a for a in parser._actions
            if isinstance(a, argparse._SubParsersAction)]


def _subcommand(parser: argparse.ArgumentParser,
                args: argparse.Namespace) -> argparse.ArgumentParser:
    r"""The parser of the subcommand :obj:`args` name, else :obj:`parser`."""
    for action in _subparsers(parser):
        chosen = action.choices.get(getattr(args, action.dest, None))
        if chosen is not None:
            return chosen
    return parser


@contextlib.contextmanager
def _nothing_required(parser: argparse.ArgumentParser) -> Iterator[None]:
    r"""Makes the required arguments of :obj:`parser` and its subcommands
    optional while in the block."""
    parsers = [parser] + [p for action in _subparsers(parser)
                          for p in action.choices.values()]
    required = [a for p in parsers for a in p._actions if a.required]
    for action in required:
        action.required = False
    try:
        yield
    finally:
        for action in required:
            action.required = True


def settings_given(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    r"""The settings found on :obj:`args` (by flag name: the flags that were
    given, with :obj:`SUPPRESS` defaults), nested by section."""
    layer: Dict[str, Dict[str, Any]] = {}
    for section, f in iter_settings(SECTIONS):
        dest = section.dest(f)
        if hasattr(args, dest):
            layer.setdefault(section.key, {})[f.name] = getattr(args, dest)
    return layer


def config_from_args(args: argparse.Namespace,
                     preset: Union[Mapping[str, Any],
                                   Sequence[Mapping[str, Any]], None] = None,
                     ) -> Config:
    r"""The config of parsed flags: the defaults, then :obj:`preset` (one
    layer, or several applied in order, e.g.,
    :obj:`[PRESETS['ood'], PRESETS['adar-eq11']]`), then the file of
    :obj:`--config` (if any), then the flags that were given. Read the
    settings from the config (:obj:`cfg.train.lr`): :obj:`args` holds only
    the flags that were given."""
    path = getattr(args, 'config', None)
    if preset is None and getattr(args, 'preset', None):
        preset = PRESETS[args.preset]
    presets = [preset] if preset is None or isinstance(preset, Mapping) \
        else list(preset)
    repeated: List[str] = []
    layers = [*presets, read_yaml(path, repeated=repeated) if path else None,
              settings_given(args)]
    return Config.build(*layers, where=['preset'] * len(presets) +
                        [path or '', 'flags'], errors=repeated)


def with_defaults(values: Mapping[str, Mapping[str, Any]]
                  ) -> Dict[str, Dict[str, Any]]:
    r"""A copy of the settings :obj:`values` (by section) that a run of an
    older version recorded, with every setting added since at its default
    (for the run's task): a setting is added with the behaviour of before
    as its default, so that the run directories of older versions keep
    their meaning and stay readable."""
    out = {key: dict(body) for key, body in values.items()}
    task = out.get('run', {}).get('task', 'cf')
    for section in SECTIONS:
        body = out.setdefault(section.key, {})
        for name, value in section.defaults(task).items():
            body.setdefault(name, value)
    return out


#: The settings of :class:`DataConfig` that filter :obj:`data.data`'s rows.
OWN_DATA_FILTERS = ('rating_col', 'min_rating', 'k_core')


def _data_setting(name: str) -> str:
    r"""How errors name the setting :obj:`name` of :class:`DataConfig`:
    :obj:`'data.k_core (--k-core)'`."""
    f = next(f for f in DataConfig.settings() if f.name == name)
    return f'data.{name} ({DataConfig.flag(f)})'


def ignored_settings(values: Mapping[str, Mapping[str, Any]]
                     ) -> Dict[str, str]:
    r"""The :func:`unused_settings` of :obj:`values` that are not at their
    defaults (given, and not read: a run says so before it trains), each
    as :obj:`'value (why)'`."""
    full = with_defaults(values)
    task = full['run']['task']
    sections = {s.key: s for s in SECTIONS}
    out = {}
    for key, why in unused_settings(values).items():
        section, name = key.split('.', 1)
        value = full[section][name]
        if _plain(value) != _plain(sections[section].defaults(task)[name]):
            out[key] = f'{_plain(value)!r} {why}'
    return out


def unused_settings(values: Mapping[str, Mapping[str, Any]]
                    ) -> Dict[str, str]:
    r"""The settings (:obj:`'section.name'`) of :obj:`values` (by section,
    as in a run's :obj:`config.yaml`; missing ones at their defaults) that
    the run does not read, each with why (in parentheses): those of the
    augmenter sections its augmenter does not read
    (:obj:`adar_pyg.registry.AUGMENTER_SETTINGS`; all of them without an
    augmenter), the model settings its backbone does not read
    (:obj:`~adar_pyg.registry.MODEL_SETTINGS`), those of the other task
    (a setting's or section's :obj:`task`), the own settings of the other
    negative samplers (:obj:`ahns_alpha` with :obj:`dns`) and
    :obj:`num_candidates` of a sampler that draws none, and :obj:`--sampled`'s
    own without it."""
    values = with_defaults(values)
    task = values['run']['task']
    augmenter = values['train']['augmenter']
    sampler, model = values['sampler']['sampler'], values['model']['model']
    out: Dict[str, str] = {}
    for section, f in iter_settings(SECTIONS):
        key = f'{section.key}.{f.name}'
        if f.name not in values.get(section.key, {}):
            continue
        owner = section.task_of(f)
        if owner is not None and owner != task:
            out[key] = f'({owner.upper()} only; run.task {task})'
    reads = AUGMENTER_SETTINGS.get(augmenter, AUGMENTER_SECTIONS)
    for section in AUGMENTER_SECTIONS:
        for name in values.get(section, {}):
            if section not in reads and f'{section}.{name}' not in reads:
                out[f'{section}.{name}'] = f'(train.augmenter {augmenter})'
    backbone = MODEL_SETTINGS.get(model)
    if backbone is not None:
        for name in values['model']:
            if name != 'model' and name not in backbone:
                out.setdefault(f'model.{name}', f'(not read by model.model '
                               f'{model})')
    others = [f'{n}_' for n in SAMPLERS if n != sampler]
    for name in values['sampler']:
        if name.startswith(tuple(others)) or (
                name == 'num_candidates' and sampler in SAMPLERS and
                'num_candidates' not in inspect.signature(
                    SAMPLERS[sampler]).parameters):
            out.setdefault(f'sampler.{name}', f'(sampler.sampler {sampler})')
    if not values['train']['sampled']:
        for name in ('fanout', 'sparse_grad'):
            out.setdefault(f'train.{name}', '(read with train.sampled only)')
    data = values['data']
    if data['data']:
        out.setdefault('data.dataset', '(data.data is read instead)')
    else:
        for name in ('user_col', 'item_col', 'time_col'):
            out.setdefault(f'data.{name}', '(read with data.data only)')
    return out  # (train.lr_scaling: torchrun runs record run.nproc 1)


def recorded_settings(result: Mapping[str, Any]
                      ) -> Dict[str, Dict[str, Any]]:
    r"""The settings a result (a :obj:`result.json`, a benchmark's cell) was
    run with, nested by section under the config's names: its
    :obj:`'settings'`; for the results of older versions, the settings
    found in their flat :obj:`'args'` (by flag name, the deprecated flag
    names of :func:`~adar_pyg.config.setting`'s :obj:`old_flag` included,
    and the inverted :obj:`--no-mask-history` of the first SR runs).
    """
    if 'settings' in result:
        return {key: dict(values)
                for key, values in result['settings'].items()}
    flat, out = result.get('args') or {}, {}
    for section, f in iter_settings(SECTIONS):
        old = section.old_flag(f)
        for dest in (section.dest(f), old and old[2:].replace('-', '_')):
            if dest in flat:
                out.setdefault(section.key, {})[f.name] = flat[dest]
                break
    if 'no_mask_history' in flat and 'mask_history' not in flat:
        out.setdefault('train', {})['mask_history'] = \
            not flat['no_mask_history']
    return out


def settings_markdown() -> str:
    r"""The reference of every setting (flag, YAML key, default, help), as
    committed in :obj:`docs/configuration.md`:
    :obj:`python -m adar_pyg.config > docs/configuration.md`."""
    lines = ['# Configuration reference', '',
             'Generated from `adar_pyg/config/sections.py` by '
             '`python -m adar_pyg.config > docs/configuration.md` (a test '
             'checks that it is current). Every setting is a flag of '
             '`adar-pyg train` (and of the example and benchmark scripts) '
             'and a key of its section in a YAML config file; a run saves '
             'the fully resolved config as `config.yaml`. Layers, later ones '
             'winning: the defaults (with the `sr` column for `--task sr`), '
             '`--preset`, `--config FILE.yaml`, the flags. Every value is '
             'checked against its `valid` range (a number must be finite) '
             'before any data are loaded; a config file reports all its '
             'errors at once.', '']
    for section in SECTIONS:
        cf, sr = section.defaults('cf'), section.defaults('sr')
        lines += [f'## `{section.key}`: {section.title}', '',
                  '| flag | YAML key | default | sr | valid | what |',
                  '|---|---|---|---|---|---|']
        for f in section.settings():
            tp, _, is_list = field_type(f)
            flag = section.flag(f)
            if tp is bool:
                flag = f"{flag} / --no-{flag[2:]}"
            choices = f.metadata.get('choices')
            what = f.metadata['help']
            sr_value = '' if sr[f.name] == cf[f.name] else f'`{sr[f.name]}`'
            valid = valid_range(f)
            if valid and is_list:
                valid = f'each {valid}'
            if tp is float:
                valid = f'finite, {valid}' if valid else 'finite'
            if choices:
                valid = f"one of: {', '.join(map(str, choices))}"
            lines.append(f'| `{flag}` | `{section.key}.{f.name}` | '
                         f'`{cf[f.name]}` | {sr_value} | {valid} | {what} |')
        lines.append('')
    lines += ['## Presets', '']
    for name, layer in PRESETS.items():
        body = ', '.join(f'{s}.{k}: {v}' for s, kv in layer.items()
                         for k, v in kv.items())
        lines.append(f'- `--preset {name}`: {body}')
    lines += ['', '## Renamed flags', '',
              'Every flag is its section\'s prefix plus the YAML key (the '
              'key of `settings` in `result.json`). These older spellings '
              'still work, with a warning, and are read from the result '
              'files of older versions (their flat `args`):', '']
    for section, f in iter_settings(SECTIONS):
        if section.old_flag(f):
            lines.append(f'- `{section.old_flag(f)}`: `{section.flag(f)}` '
                         f'(`{section.key}.{f.name}`)')
    return '\n'.join(lines) + '\n'
