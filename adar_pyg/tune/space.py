r"""A search space of :mod:`adar_pyg.tune`: which settings of a
:class:`~adar_pyg.config.Config` a study varies, and over what.

The space is a YAML mapping (or a dict) from :obj:`section.setting` keys, the
keys of a config file written flat, to one distribution each:

.. code-block:: yaml

    train.lr: {log_uniform: [1.0e-4, 1.0e-2]}   # log-uniform in [low, high]
    train.l2: {uniform: [0.0, 1.0e-3]}          # uniform in [low, high]
    model.dim: {int: [32, 128, 32]}             # low, high[, step] (ints)
    adar.weight: {choices: [0.3, 0.5, 0.7, 1.0]}

Everything is checked before any trial runs (:func:`parse_space`): the key
must be a declared setting (:data:`~adar_pyg.config.SECTIONS`), one that a
study may vary (not the data, the split, the run's seed or devices, nor the
metric the trials are compared on, nor how they are ranked), the distribution must be one of the
four above with a valid range, and each bound and choice must be a value the
setting accepts, in the config the study tunes. A space that fails any
check raises one :class:`~adar_pyg.config.ConfigError` (a
:class:`~adar_pyg.errors.UsageError`) that lists every error, each naming
its key."""
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from adar_pyg.config import Config, ConfigError
from adar_pyg.config.config import key_errors, read_yaml
from adar_pyg.config.settings import number, suggest

#: The distributions of a space and the arguments each takes.
DISTRIBUTIONS = {
    'uniform': '[low, high]',
    'log_uniform': '[low, high] with low > 0',
    'int': '[low, high] or [low, high, step] (integers)',
    'choices': '[value, ...]',
}

#: Settings a study must not vary: its trials would no longer be compared
#: on the same data, split and metric (or the same machine).
FIXED_SECTIONS = {
    'data': 'it changes the data the trials are compared on',
    'split': 'it changes the validation split the trials are compared on',
    'run': 'the run section (task, seed, devices) is fixed for a study',
}
FIXED_SETTINGS = {
    'train.monitor': 'it is the objective of the study',
    'train.select_on': 'a study selects on the validation split',
    'train.mask_history': 'it changes how the trials are ranked (SR)',
}


@dataclass(frozen=True)
class Param:
    r"""One tuned setting: :obj:`key` (:obj:`section.setting`) and its
    distribution (:obj:`kind`, one of :data:`DISTRIBUTIONS`, with
    :obj:`low`, :obj:`high`, :obj:`step` or :obj:`choices`)."""
    key: str
    kind: str
    low: Optional[float] = None
    high: Optional[float] = None
    step: Optional[int] = None
    choices: Optional[Tuple[Any, ...]] = None

    @property
    def section(self) -> str:
        return self.key.split('.', 1)[0]

    @property
    def name(self) -> str:
        return self.key.split('.', 1)[1]

    def values_to_check(self) -> List[Any]:
        r"""The values that bound the distribution (each must be valid)."""
        if self.kind == 'choices':
            return list(self.choices or ())
        return [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        r"""The value of :obj:`trial` (an :class:`optuna.trial.Trial`)."""
        if self.kind == 'choices':
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == 'int':
            return trial.suggest_int(self.key, int(self.low), int(self.high),
                                     step=self.step or 1)
        return trial.suggest_float(self.key, self.low, self.high,
                                   log=self.kind == 'log_uniform')

    def to_dict(self) -> Dict[str, Any]:
        if self.kind == 'choices':
            return {'choices': list(self.choices or ())}
        if self.kind == 'int':
            return {'int': [self.low, self.high, self.step or 1]}
        return {self.kind: [self.low, self.high]}


class SearchSpace:
    r"""The parsed and checked search space of a study (see the module
    doc); build it with :func:`parse_space` or :func:`load_space`."""
    def __init__(self, params: Sequence[Param]) -> None:
        self.params = list(params)

    @property
    def is_grid(self) -> bool:
        r"""Whether every parameter is a :obj:`choices` (a grid search)."""
        return all(p.kind == 'choices' for p in self.params)

    def grid(self) -> Dict[str, List[Any]]:
        r"""The grid of :class:`optuna.samplers.GridSampler`."""
        return {p.key: list(p.choices or ()) for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(p.choices or ()) for p in self.params)

    def suggest(self, trial: Any) -> Dict[str, Any]:
        r"""The values of :obj:`trial`, by key."""
        return {p.key: p.suggest(trial) for p in self.params}

    @staticmethod
    def layer(values: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
        r"""A config layer (nested by section) of :obj:`values` (by
        :obj:`section.setting` key)."""
        out: Dict[str, Dict[str, Any]] = {}
        for key, value in values.items():
            section, name = key.split('.', 1)
            out.setdefault(section, {})[name] = value
        return out

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        return {p.key: p.to_dict() for p in self.params}

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({', '.join(self.to_dict())})"


def load_space(path: Union[str, os.PathLike],
               config: Optional[Config] = None) -> SearchSpace:
    r"""The search space of the YAML file :obj:`path`, checked against
    :obj:`config` (see :func:`parse_space`)."""
    path = os.fspath(path)
    return parse_space(read_yaml(path, 'search space'), config, where=path)


def parse_space(spec: Any, config: Optional[Config] = None,
                where: str = '') -> SearchSpace:
    r"""Parses and checks the search space :obj:`spec` (a mapping of
    :obj:`section.setting` keys to distributions, see the module doc; a
    :class:`SearchSpace` is returned as it is, checked again).

    Args:
        spec (dict or SearchSpace): The space.
        config (Config, optional): The config the study tunes; every bound
            and choice is checked in it (default: the defaults), and with
            it a setting that no trial reads is refused (its augmenter,
            backbone, sampler or task does not read it: see
            :func:`unread`).
        where (str, optional): The space's file, for the messages.

    Raises:
        ConfigError: Listing every error found, each naming its key.
    """
    prefix = f'{where}: ' if where else ''
    if isinstance(spec, SearchSpace):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f'{prefix}a search space must be a non-empty '
                          f"mapping of 'section.setting: {{distribution: "
                          f"[...]}}' (got {spec!r})")
    errors: List[str] = []
    params = []
    for key, body in spec.items():
        try:
            params.append(_parse_param(key, body))
        except ConfigError as e:
            errors.append(f'{prefix}{e}')
    for param in params:
        errors += [f'{prefix}{e}' for e in _value_errors(param, config,
                                                          params)]
    if not errors and config is not None:  # (the study's: what it reads)
        errors += [f"{prefix}'{key}' {why}" for key, why in unread_keys(
            [p.key for p in params], params, config).items()]
    if errors:
        raise ConfigError.of(errors, 'the search space',
                             hint='see docs/tune.md for the format')
    return SearchSpace(params)


def _parse_param(key: Any, body: Any) -> Param:
    if not isinstance(key, str) or key.count('.') != 1:
        raise ConfigError(f"'{key}': a key of a search space is "
                          f"'section.setting' (e.g. train.lr)")
    section, name = key.split('.')
    unknown = key_errors({section: {name: None}})
    if unknown:
        raise ConfigError(f"'{key}': {unknown[0]}")
    if section in FIXED_SECTIONS:
        raise ConfigError(f"'{key}' cannot be tuned: "
                          f"{FIXED_SECTIONS[section]}")
    if key in FIXED_SETTINGS:
        raise ConfigError(f"'{key}' cannot be tuned: {FIXED_SETTINGS[key]}")
    if not isinstance(body, Mapping) or len(body) != 1:
        raise ConfigError(f"'{key}' needs one distribution, e.g. "
                          f"{{log_uniform: [1.0e-4, 1.0e-2]}} (got {body!r}"
                          f"); distributions: {', '.join(DISTRIBUTIONS)}")
    kind, args = next(iter(body.items()))
    if isinstance(args, (list, tuple)):
        args = [number(v) for v in args]
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"'{key}': unknown distribution '{kind}'"
                          f"{suggest(str(kind), list(DISTRIBUTIONS))}; "
                          f"distributions: {', '.join(DISTRIBUTIONS)}")
    usage = f"'{key}': {kind} takes {DISTRIBUTIONS[kind]}"
    if not isinstance(args, (list, tuple)) or not args:
        raise ConfigError(f'{usage} (got {args!r})')
    if kind == 'choices':
        for value in args:
            if isinstance(value, (list, tuple, dict)):
                raise ConfigError(f"'{key}': a choice must be a number, a "
                                  f"string, true/false or null (got "
                                  f"{value!r})")
        if len(set(map(_same, args))) != len(args):
            raise ConfigError(f"'{key}': choices repeat a value (got "
                              f"{list(args)})")
        return Param(key, kind, choices=tuple(args))
    if kind == 'int':
        if len(args) not in (2, 3) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in args):
            raise ConfigError(f'{usage} (got {list(args)})')
        low, high, step = (list(args) + [1])[:3]
        if step < 1:
            raise ConfigError(f"'{key}': the step of int must be at least 1 "
                              f"(got {step})")
        if low >= high:
            raise ConfigError(f"'{key}': int needs low < high (got [{low}, "
                              f"{high}])")
        if (high - low) % step:
            raise ConfigError(f"'{key}': int's high - low must be a multiple "
                              f"of its step (got [{low}, {high}, {step}]; "
                              f"e.g. high {high - (high - low) % step})")
        return Param(key, kind, low=low, high=high, step=step)
    if len(args) != 2 or any(isinstance(v, bool) or not isinstance(
            v, (int, float)) or not _finite(v) for v in args):
        raise ConfigError(f'{usage}, two finite numbers (got {list(args)})')
    low, high = float(args[0]), float(args[1])
    if low >= high:
        raise ConfigError(f"'{key}': {kind} needs low < high (got [{args[0]}"
                          f", {args[1]}])")
    if kind == 'log_uniform' and low <= 0:
        raise ConfigError(f"'{key}': log_uniform needs low > 0 (got "
                          f"{args[0]}; use uniform for a range from 0)")
    return Param(key, kind, low=low, high=high)


def _same(value: Any) -> Any:
    r"""What a choice equals as a value: 1 and 1.0 alike (true is no 1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ('number', float(value) if _finite(value) else repr(value))
    return (type(value).__name__, repr(value))


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # An integer beyond every float.
        return False


def _value_errors(param: Param, config: Optional[Config],
                  params: Sequence[Param] = ()) -> List[str]:
    r"""The bounds and choices of :obj:`param` the setting refuses, each
    checked by building :obj:`config` with it: a value refused there is
    kept when a choice of another parameter of the space (:obj:`params`)
    makes it valid (say :obj:`train.sparse_grad: true` with
    :obj:`train.sampled: true`; the trials of a combination refused
    together fail, each alone)."""
    base = config.to_dict() if config is not None else {}
    current = getattr(getattr(config or Config.build({}), param.section),
                      param.name)
    if param.kind in ('uniform', 'log_uniform') and isinstance(
            current, int) and not isinstance(current, bool):
        return [f"'{param.key}' is an integer setting: tune it with "
                f"{{int: [low, high]}} or {{choices: [...]}}"]
    out = []
    for value in param.values_to_check():
        if param.kind == 'int':
            value = int(value)
        try:
            Config.build(base, {param.section: {param.name: value}})
        except ConfigError as e:
            if _valid_with_another(param, value, base, params):
                continue
            what = 'choice' if param.kind == 'choices' else 'bound'
            out.append(f"'{param.key}': the {what} {value!r} is refused: " +
                       '; '.join(e.errors))
    return out


def _valid_with_another(param: Param, value: Any, base: Dict[str, Any],
                        params: Sequence[Param]) -> bool:
    r"""Whether :obj:`value` of :obj:`param` is valid with a choice of
    another :obj:`choices` parameter of :obj:`params`."""
    for other in params:
        if other.key == param.key or other.kind != 'choices':
            continue
        for choice in other.choices or ():
            try:
                Config.build(base, SearchSpace.layer(
                    {param.key: value, other.key: choice}))
            except ConfigError:
                continue
            return True
    return False


#: The settings that choose what a trial reads (:func:`unread_keys`).
SWITCHES = ('model.model', 'train.augmenter', 'sampler.sampler',
            'train.sampled')

def unread(config: Config) -> Dict[str, str]:
    r"""The settings (:obj:`'section.name'`) a run of :obj:`config` does
    not read, each with why
    (:func:`adar_pyg.config.config.unused_settings`)."""
    from adar_pyg.config.config import unused_settings
    out = unused_settings(config.resolved().to_dict())
    # A trial runs in one process, where the learning rate is not scaled:
    out['train.lr_scaling'] = '(a trial runs in one process)'
    return out


def unread_keys(keys: Sequence[str], params: Sequence[Param],
                config: Optional[Config]) -> Dict[str, str]:
    r"""Those of :obj:`keys` that no trial of the space :obj:`params` on
    :obj:`config` reads (:func:`unread`), with why: tuning (or an arm's
    setting) them changes nothing. Each combination of the tuned
    :data:`SWITCHES` is looked at (the augmenter's settings are read when
    some trial has the augmenter)."""
    import itertools
    config = config or Config.build({})
    base = config.to_dict()
    switches = [p for p in params if p.key in SWITCHES and
                p.kind == 'choices']
    configs = []
    for values in itertools.islice(itertools.product(
            *(p.choices or () for p in switches)), 256):
        try:
            configs.append(Config.build(base, SearchSpace.layer(
                dict(zip((p.key for p in switches), values)))))
        except ConfigError:
            continue  # (a combination refused: its trials fail)
    if not configs:
        return {}
    found = [unread(c) for c in configs]
    return {key: f'is not read by any trial {found[0][key]}: tuning or '
            f'setting it changes nothing' for key in keys
            if all(key in f for f in found)}


__all__ = ['SearchSpace', 'Param', 'parse_space', 'load_space',
           'DISTRIBUTIONS', 'unread', 'unread_keys']
