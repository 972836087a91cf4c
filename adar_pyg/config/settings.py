r"""The machinery behind :mod:`adar_pyg.config`: a setting is a dataclass field
declared **once** with :func:`setting` (name, type, default, one-line help,
choices, a task-specific default), and everything else — command-line flags,
the YAML config file, :obj:`--help`, the run's saved :obj:`config.yaml` — is
derived from the field by the helpers here."""
import dataclasses
import difflib
import typing
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from adar_pyg.errors import UsageError


class ConfigError(UsageError, ValueError):
    r"""A config file or a flag that cannot be used (unknown key, wrong type,
    invalid value); raised before any data are loaded."""


def setting(default: Any, help: str, *, choices: Optional[Sequence] = None,
            flag: Optional[str] = None, sr: Any = dataclasses.MISSING,
            minimum: Optional[float] = None, nonpositive_is_none: bool = False
            ) -> Any:
    r"""Declares one hyper-parameter as a dataclass field.

    Args:
        default: The default value (for collaborative filtering).
        help (str): One line for :obj:`--help` and the docs.
        choices (sequence, optional): The valid values.
        flag (str, optional): The flag name without :obj:`--` when it is not
            the section's prefix plus the field name (*e.g.*, :obj:`adar-steps`
            for :obj:`ADARConfig.num_steps`).
        sr: The default for sequential recommendation (:obj:`--task sr`),
            when it differs.
        minimum (float, optional): The smallest valid value of a number.
        nonpositive_is_none (bool): A value :math:`\le 0` given on the command
            line means :obj:`None` (kept for flags that always worked so).
    """
    metadata = {'help': help, 'choices': tuple(choices) if choices else None,
                'flag': flag, 'minimum': minimum,
                'nonpositive_is_none': nonpositive_is_none}
    if sr is not dataclasses.MISSING:
        metadata['sr'] = sr
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Section:
    r"""Base of the config sections: a dataclass of :func:`setting` fields
    with a YAML key (:obj:`key`) and a flag prefix (:obj:`prefix`)."""
    key: typing.ClassVar[str] = ''
    prefix: typing.ClassVar[str] = ''
    title: typing.ClassVar[str] = ''

    @classmethod
    def settings(cls) -> Tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)  # type: ignore[arg-type]

    @classmethod
    def flag(cls, f: dataclasses.Field) -> str:
        return '--' + (f.metadata.get('flag')
                       or cls.prefix + f.name.replace('_', '-'))

    @classmethod
    def dest(cls, f: dataclasses.Field) -> str:
        r"""The attribute of an :class:`argparse.Namespace` that holds the
        setting (the flag with underscores, as the scripts always had)."""
        return cls.flag(f)[2:].replace('-', '_')

    @classmethod
    def defaults(cls, task: str = 'cf') -> Dict[str, Any]:
        out = {}
        for f in cls.settings():
            if task == 'sr' and 'sr' in f.metadata:
                out[f.name] = f.metadata['sr']
            elif f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            else:
                out[f.name] = f.default_factory()  # type: ignore[misc]
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in self.settings()}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def field_type(f: dataclasses.Field) -> Tuple[type, bool, bool]:
    r"""The base type of a field, whether it may be :obj:`None`, and whether
    it is a list."""
    tp, optional, is_list = f.type, False, False
    if isinstance(tp, str):  # Postponed annotations are not used here.
        raise TypeError(f'annotation of {f.name} must not be a string')
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional, tp = True, args[0]
        origin = typing.get_origin(tp)
    if origin in (list, List):
        is_list, tp = True, typing.get_args(tp)[0]
    return tp, optional, is_list


def suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ''


def coerce(section: type, f: dataclasses.Field, value: Any,
           where: str) -> Any:
    r"""Checks (and, for ints given where floats are expected, converts)
    :obj:`value` for the field :obj:`f`; raises :class:`ConfigError` naming
    :obj:`where` otherwise."""
    tp, optional, is_list = field_type(f)
    name = f'{where}{section.key}.{f.name}'
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must not be null")

    def one(v: Any) -> Any:
        if tp is bool:
            if not isinstance(v, bool):
                raise ConfigError(f"{name} must be true or false (got {v!r})")
            return v
        if tp is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{name} must be a number (got {v!r})")
            return float(v)
        if tp is int:
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    raise ConfigError(f"{name} must be an integer (got {v!r}; "
                                      f"write {int(v)})")
                raise ConfigError(f"{name} must be an integer (got {v!r})")
            return v
        if not isinstance(v, str):
            raise ConfigError(f"{name} must be a string (got {v!r})")
        return v

    if is_list:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{name} must be a non-empty list (got "
                              f"{value!r})")
        value = [one(v) for v in value]
    else:
        value = one(value)
    choices = f.metadata.get('choices')
    for v in value if is_list else [value]:
        if choices and v not in choices:
            raise ConfigError(f"{name} must be one of "
                              f"{', '.join(map(str, choices))} (got {v!r})"
                              f"{suggest(str(v), list(map(str, choices)))}")
        minimum = f.metadata.get('minimum')
        if minimum is not None and v < minimum:
            raise ConfigError(f"{name} must be at least {minimum} (got {v!r})")
    return value


def iter_settings(sections: Sequence[type]
                  ) -> Iterator[Tuple[type, dataclasses.Field]]:
    for section in sections:
        for f in section.settings():
            yield section, f
