r"""The arms of an equal-budget comparison (:func:`~adar_pyg.tune.compare`):
a base configuration and named variants, each a set of config overrides
and its own search space, read from one YAML file:

.. code-block:: yaml

    base: base              # the arm every other is compared with (default)
    controls: [reweight]    # arms every other is also compared with
    arms:
      base:
        space: {train.lr: {log_uniform: [1.0e-3, 5.0e-2]}}
      adar:
        set: {train.augmenter: adar}
        space: {train.lr: {log_uniform: [1.0e-3, 5.0e-2]},
                adar.weight: {choices: [0.3, 0.5, 1.0]}}
      reweight:
        set: {train.augmenter: reweight}
        space: {train.lr: {log_uniform: [1.0e-3, 5.0e-2]},
                adar.weight: {choices: [0.3, 0.5, 1.0]}}

The keys of :obj:`set` and :obj:`space` are the flat :obj:`section.setting`
keys of a search space (:mod:`~adar_pyg.tune.space`). Everything is
checked before any training (:func:`parse_arms`), and every error is
reported at once, each naming its arm and key: an unknown key of the file
or of an arm (with the nearest name), an arm name that cannot be a folder
name, a missing base arm, a control that is not an arm, an override that
the setting refuses or that a comparison must not vary (the data, the
split, the run section, the monitored metric), a setting both set and
tuned, a setting set that none of the arm's trials reads (see
:func:`~adar_pyg.tune.space.unread`), and every error of each arm's space,
checked in the arm's config."""
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from adar_pyg.config import Config, ConfigError
from adar_pyg.config.config import key_errors, read_yaml
from adar_pyg.config.settings import suggest
from adar_pyg.tune.space import (FIXED_SECTIONS, FIXED_SETTINGS, SearchSpace,
                                 number as _number, parse_space, unread_keys)

#: The keys of an arms file, and of one arm.
FILE_KEYS = ('arms', 'base', 'controls')
ARM_KEYS = ('set', 'space')

#: An arm's name is the name of its folder (no dot: none is the name of a
#: report file beside the folders, such as compare.md).
NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]*')


@dataclass(frozen=True)
class Arm:
    r"""One arm: its :obj:`name`, the settings it :obj:`overrides` (by flat
    :obj:`section.setting` key), its search :obj:`space`, and the
    :obj:`config` its trials start from (the base config with the
    overrides)."""
    name: str
    overrides: Dict[str, Any]
    space: SearchSpace
    config: Config

    def to_dict(self) -> Dict[str, Any]:
        return {'set': dict(self.overrides), 'space': self.space.to_dict()}


@dataclass(frozen=True)
class Arms:
    r"""The checked arms of a comparison (base first), the :obj:`base` arm's
    name and the :obj:`controls`."""
    arms: Tuple[Arm, ...]
    base: str
    controls: Tuple[str, ...] = ()

    @property
    def names(self) -> List[str]:
        return [arm.name for arm in self.arms]

    def __getitem__(self, name: str) -> Arm:
        return next(arm for arm in self.arms if arm.name == name)

    def __len__(self) -> int:
        return len(self.arms)

    def comparisons(self) -> List[Tuple[str, str]]:
        r"""The (arm, reference) pairs tested: every arm against the base,
        then every other arm against each control (each pair once)."""
        out: List[Tuple[str, str]] = []
        for ref in (self.base, *self.controls):
            for name in self.names:
                if name != ref and (ref, name) not in out:
                    out.append((name, ref))
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {'base': self.base, 'controls': list(self.controls),
                'arms': {arm.name: arm.to_dict() for arm in self.arms}}


def load_arms(path: Union[str, os.PathLike], config: Config,
              controls: Optional[Sequence[str]] = None) -> Arms:
    r"""The arms of the YAML file :obj:`path`, checked against
    :obj:`config` (see :func:`parse_arms`)."""
    path = os.fspath(path)
    return parse_arms(read_yaml(path, 'arms file'), config, where=path,
                      controls=controls)


def parse_arms(spec: Any, config: Config, where: str = '',
               controls: Optional[Sequence[str]] = None) -> Arms:
    r"""Parses and checks the arms :obj:`spec` (the content of an arms
    file, see the module doc; an :class:`Arms` is checked again).

    Args:
        spec (dict or Arms): The arms file's content.
        config (Config): The base config of every arm.
        where (str, optional): The file, for the messages.
        controls (list of str, optional): Control arms, added to those the
            file names.

    Raises:
        ConfigError: Listing every error found, each naming its arm and key.
    """
    prefix = f'{where}: ' if where else ''
    if isinstance(spec, Arms):
        spec = spec.to_dict()
    if not isinstance(spec, Mapping) or not isinstance(spec.get('arms'),
                                                        Mapping):
        raise ConfigError(f"{prefix}an arms file is a mapping with 'arms: "
                          f"{{NAME: {{set: {{...}}, space: {{...}}}}, ...}}' "
                          f"(got {_short(spec)})",
                          hint='see docs/tune.md (Compare arms)')
    errors: List[str] = []
    for key in spec:
        if key not in FILE_KEYS:
            errors.append(f"{prefix}unknown key '{key}'"
                          f"{suggest(str(key), FILE_KEYS)}; keys: "
                          f"{', '.join(FILE_KEYS)}")
    base = spec.get('base', 'base')
    wanted = spec.get('controls') or []
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, (list, tuple)) or not all(
            isinstance(w, str) for w in wanted):
        errors.append(f"{prefix}controls: a list of arm names (got "
                      f"{_short(wanted)})")
        wanted = []
    flagged = [c for c in controls or [] if c not in wanted]
    wanted = list(dict.fromkeys([*wanted, *(controls or [])]))
    names = [str(n) for n in spec['arms']]
    valid = [n for n in names if NAME.fullmatch(n)]  # (to suggest)
    folded: Dict[str, str] = {}  # (one folder on a case-blind file system)
    for name in names:
        if name.lower() in folded:
            errors.append(f"{prefix}arms '{folded[name.lower()]}' and "
                          f"'{name}' differ only in case (one folder on "
                          f"some file systems)")
        folded.setdefault(name.lower(), name)
    if base not in names:
        errors.append(f"{prefix}no arm '{base}', the base every arm is "
                      f"compared with (arms: {', '.join(names) or 'none'})"
                      f"{suggest(str(base), valid)}")
    elif len(names) < 2:
        errors.append(f"{prefix}a comparison needs the base and at least "
                      f"one other arm (got only '{base}')")
    for name in wanted:
        # (a control of --controls is not the file's)
        where = '--controls: ' if name in flagged else prefix
        if name not in names:
            errors.append(f"{where}control '{name}' is not an arm (arms: "
                          f"{', '.join(names)}){suggest(str(name), valid)}")
        elif name == base:
            errors.append(f"{where}control '{name}' is the base arm")
    arms = []
    for name, body in spec['arms'].items():
        arm, arm_errors = _parse_arm(name, body, config, prefix)
        errors += arm_errors
        if arm is not None:
            arms.append(arm)
    if errors:
        raise ConfigError.of(errors, 'the arms',
                             hint='see docs/tune.md (Compare arms)')
    arms.sort(key=lambda arm: arm.name != base)  # The base first.
    return Arms(tuple(arms), base, tuple(wanted))


def _parse_arm(name: Any, body: Any, config: Config, prefix: str
               ) -> Tuple[Optional[Arm], List[str]]:
    where = f'{prefix}arms.{name}'
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return None, [f"{where}: an arm's name is its folder's name: "
                      f"letters, digits, '_', '-' (got {name!r})"]
    if not isinstance(body, Mapping):
        return None, [f"{where}: an arm is a mapping with 'space' (and "
                      f"'set') (got {_short(body)})"]
    errors = [f"{where}: unknown key '{key}'{suggest(str(key), ARM_KEYS)}; "
              f"keys: {', '.join(ARM_KEYS)}" for key in body
              if key not in ARM_KEYS]
    overrides = body.get('set', {})
    if overrides is None:  # ('set:' with nothing after it)
        overrides = {}
    if not isinstance(overrides, Mapping):
        return None, errors + [f"{where}.set: a mapping of 'section.setting: "
                               f"value' (got {_short(overrides)})"]
    layer: Dict[str, Dict[str, Any]] = {}
    overrides = {key: _number(value) for key, value in overrides.items()}
    for key, value in overrides.items():
        error = _override_error(key)
        if error:
            errors.append(f'{where}.set: {error}')
            continue
        section, setting = key.split('.')
        layer.setdefault(section, {})[setting] = value
    arm_config = config
    if layer:
        try:
            arm_config = Config.build(config.to_dict(), layer)
        except ConfigError as e:
            errors += [f'{where}.set: {e}' for e in e.errors]
            return None, errors
    if 'space' not in body:
        return None, errors + [f"{where}: no 'space' (each arm is tuned "
                               f"over its own search space)"]
    try:
        space = parse_space(body['space'], arm_config, where=f'{where}.space')
    except ConfigError as e:
        return None, errors + list(e.errors)
    both = [p.key for p in space.params if p.key in overrides]
    errors += [f"{where}: '{key}' is both set and tuned" for key in both]
    errors += [f"{where}.set: '{key}' {why}" for key, why in unread_keys(
        [k for k in overrides if k not in both], space.params,
        arm_config).items()]
    if errors:
        return None, errors
    return Arm(name, dict(overrides), space, arm_config), []


def _override_error(key: Any) -> Optional[str]:
    if not isinstance(key, str) or key.count('.') != 1:
        return (f"'{key}': a key is 'section.setting' (e.g. "
                f"train.augmenter)")
    section, setting = key.split('.')
    unknown = key_errors({section: {setting: None}})
    if unknown:
        return f"'{key}': {unknown[0]}"
    if section in FIXED_SECTIONS:
        return f"'{key}' cannot differ between arms: {FIXED_SECTIONS[section]}"
    if key in FIXED_SETTINGS:
        return (f"'{key}' cannot differ between arms: the arms are compared "
                f"on it")
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


__all__ = ['Arm', 'Arms', 'parse_arms', 'load_arms']
