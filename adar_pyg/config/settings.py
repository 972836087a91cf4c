r"""The machinery behind :mod:`adar_pyg.config`: a setting is a dataclass field
declared **once** with :func:`setting` (name, type, default, one-line help,
choices, a task-specific default), and everything else — command-line flags,
the YAML config file, :obj:`--help`, the run's saved :obj:`config.yaml` — is
derived from the field by the helpers here."""
import dataclasses
import difflib
import inspect
import math
import re
import typing
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

from adar_pyg.errors import UsageError


class ConfigError(UsageError, ValueError):
    r"""A config file or a flag that cannot be used (unknown key, wrong type,
    invalid value); raised before any data are loaded, with every error
    found at once (:attr:`errors`: one message each)."""
    def __init__(self, message: str = '', hint: Optional[str] = None,
                 errors: Optional[Sequence[str]] = None) -> None:
        super().__init__(message, hint)
        self.errors = list(errors) if errors else [message]

    @classmethod
    def of(cls, errors: Sequence[str], what: str,
           hint: Optional[str] = None) -> 'ConfigError':
        r"""One error for the messages :obj:`errors` (at least one) found
        in :obj:`what` (*e.g.* :obj:`'the settings'`): the message itself
        if there is one, else their count and one line each."""
        message = errors[0] if len(errors) == 1 else \
            f'{len(errors)} errors in {what}:\n  ' + '\n  '.join(errors)
        return cls(message, hint=hint, errors=errors)


def setting(default: Any, help: str, *, choices: Optional[Sequence] = None,
            old_flag: Optional[str] = None, sr: Any = dataclasses.MISSING,
            minimum: Optional[float] = None, maximum: Optional[float] = None,
            above: Optional[float] = None, below: Optional[float] = None,
            aliases: Sequence[str] = (), nonpositive_is_none: bool = False,
            task: Optional[str] = None) -> Any:
    r"""Declares one hyper-parameter as a dataclass field.

    A setting added to a section must default to what the library did
    before it existed: the run directories recorded without it are read
    and resumed with its default (see
    :func:`~adar_pyg.config.config.with_defaults`).

    Every value check of the setting is declared here and enforced by
    :func:`coerce`, for the YAML file and the flags alike, before any data
    are loaded; a :obj:`float` must moreover be finite (no NaN, no
    infinity).

    Args:
        default: The default value (for collaborative filtering).
        help (str): One line for :obj:`--help` and the docs.
        choices (sequence, optional): The valid values.
        old_flag (str, optional): A deprecated spelling of the flag, without
            :obj:`--` (*e.g.*, :obj:`adar-steps` for
            :obj:`ADARConfig.num_steps`, whose flag is
            :obj:`--adar-num-steps`): still accepted (with a
            warning on stderr), and read under its old name from the
            result files of older versions. The flag itself is always the
            section's prefix plus the field name.
        sr: The default for sequential recommendation (:obj:`--task sr`),
            when it differs.
        minimum (float, optional): The smallest valid value of a number.
        maximum (float, optional): The largest valid value of a number.
        above (float, optional): A bound the number must exceed (an
            exclusive minimum, *e.g.*, :obj:`0` for a learning rate).
        below (float, optional): A bound the number must stay under (an
            exclusive maximum, *e.g.*, :obj:`1` for a probability).
        aliases (sequence of str): Other names people use for the setting
            (*e.g.*, :obj:`learning_rate` for :obj:`lr`); never accepted,
            only used to suggest the setting for a mistyped flag or key.
        nonpositive_is_none (bool): A value :math:`\le 0` means :obj:`None`
            (kept for flags that always worked so).
        task (str, optional): The task whose runs alone read the setting
            (:obj:`'cf'` or :obj:`'sr'`; see
            :func:`~adar_pyg.config.config.unused_settings`).
    """
    metadata = {'help': help, 'choices': tuple(choices) if choices else None,
                'old_flag': old_flag, 'minimum': minimum, 'maximum': maximum,
                'above': above, 'below': below, 'aliases': tuple(aliases),
                'nonpositive_is_none': nonpositive_is_none, 'task': task}
    if sr is not dataclasses.MISSING:
        metadata['sr'] = sr
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def default_of(fn: Callable, name: str) -> Any:
    r"""The default of the argument :obj:`name` of :obj:`fn` (a class: of its
    constructor), so that a setting that configures a class takes its
    default from the class and the two cannot disagree."""
    param = inspect.signature(fn).parameters[name]
    if param.default is inspect.Parameter.empty:
        raise TypeError(f'{fn.__name__}({name}) has no default')
    return param.default


def valid_range(f: dataclasses.Field, words: bool = False) -> str:
    r"""The declared range of a number setting, *e.g.* :obj:`'[0, 1)'` or
    :obj:`'> 0'` (:obj:`words`: *e.g.* :obj:`'in [0, 1)'` or
    :obj:`'greater than 0'`, as in an error message); :obj:`''` when
    unbounded."""
    m = f.metadata
    lo, lo_open = ((m['above'], True) if m.get('above') is not None else
                   (m.get('minimum'), False))
    hi, hi_open = ((m['below'], True) if m.get('below') is not None else
                   (m.get('maximum'), False))
    lo, hi = (None if x is None else str(x) if isinstance(x, int) else
              format(x, 'g') for x in (lo, hi))
    if lo is not None and hi is not None:
        text = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        return f'in {text}' if words else text
    if lo is not None:
        if words:
            return f"{'greater than' if lo_open else 'at least'} {lo}"
        return f"{'>' if lo_open else '>='} {lo}"
    if hi is not None:
        if words:
            return f"{'less than' if hi_open else 'at most'} {hi}"
        return f"{'<' if hi_open else '<='} {hi}"
    return ''


def in_range(f: dataclasses.Field, v: float) -> bool:
    m = f.metadata
    return not ((m.get('minimum') is not None and v < m['minimum'])
                or (m.get('maximum') is not None and v > m['maximum'])
                or (m.get('above') is not None and v <= m['above'])
                or (m.get('below') is not None and v >= m['below']))


class Section:
    r"""Base of the config sections: a dataclass of :func:`setting` fields
    with a YAML key (:obj:`key`) and a flag prefix (:obj:`prefix`)."""
    key: typing.ClassVar[str] = ''
    prefix: typing.ClassVar[str] = ''
    title: typing.ClassVar[str] = ''
    #: The task whose runs alone read the section (see :func:`setting`;
    #: not :obj:`task`: a field of :class:`RunConfig`).
    for_task: typing.ClassVar[Optional[str]] = None

    @classmethod
    def settings(cls) -> Tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)  # type: ignore[arg-type]

    @classmethod
    def task_of(cls, f: dataclasses.Field) -> Optional[str]:
        r"""The task that reads the setting: its own :obj:`task`, else the
        section's :obj:`for_task`; :obj:`None`: both."""
        return f.metadata.get('task') or cls.for_task

    @classmethod
    def flag(cls, f: dataclasses.Field) -> str:
        r"""The flag of the setting: the section's prefix plus the field name
        (:obj:`train.lr` is :obj:`--lr`, :obj:`adar.num_steps` is
        :obj:`--adar-num-steps`)."""
        return '--' + cls.prefix + f.name.replace('_', '-')

    @classmethod
    def old_flag(cls, f: dataclasses.Field) -> Optional[str]:
        r"""The deprecated spelling of the flag (see :func:`setting`), if
        any."""
        old = f.metadata.get('old_flag')
        return '--' + old if old else None

    @classmethod
    def dest(cls, f: dataclasses.Field) -> str:
        r"""The attribute of an :class:`argparse.Namespace` that holds the
        setting (the flag with underscores)."""
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


#: A number YAML 1.1 reads as text: an exponent without a dot (1e-4).
_EXPONENT = re.compile(r'[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+')


def number(value: Any) -> Any:
    r""":obj:`value`, or the float of a string such as :obj:`'1e-4'` (the
    example of the docs, which YAML reads as text)."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        return float(value)
    return value


def suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ''


def normalize(name: str) -> str:
    r"""A name, flag or alias without leading dashes, in lower case, with
    underscores for dashes (how spellings are compared)."""
    return name.strip().lstrip('-').lower().replace('-', '_')


def nearest(name: str, candidates: Mapping[str, str]) -> Optional[str]:
    r"""The target of the candidate nearest to :obj:`name`, where
    :obj:`candidates` maps each spelling (a name, a flag or an alias) to the
    name it stands for; an alias spelled exactly (up to :obj:`-`/:obj:`_`
    and case) wins."""
    exact = {normalize(c): t for c, t in candidates.items()}
    if normalize(name) in exact:
        return exact[normalize(name)]
    close = difflib.get_close_matches(name, list(candidates), n=1)
    if not close:  # Compare the spellings without dashes and case:
        close = difflib.get_close_matches(normalize(name), list(exact), n=1)
        return exact[close[0]] if close else None
    return candidates[close[0]]


def setting_names(section: type) -> Dict[str, str]:
    r"""Every spelling of the settings of :obj:`section` (name and declared
    aliases) mapped to the setting's name."""
    out = {}
    for f in section.settings():
        for alias in f.metadata.get('aliases', ()):
            out[alias] = f.name
        out[f.name] = f.name
    return out


def coerce(section: type, f: dataclasses.Field, value: Any,
           where: str = '', label: Optional[str] = None) -> Any:
    r"""Checks (and, for ints given where floats are expected and the text
    :obj:`'1e-3'` that YAML makes of an exponent without a dot, converts)
    :obj:`value` for the field :obj:`f` against its declaration (type,
    choices, range, finite); raises :class:`ConfigError` naming
    :obj:`where` and the setting (:obj:`label`, *e.g.* the flag, else
    :obj:`section.name`) otherwise."""
    tp, optional, is_list = field_type(f)
    label = label or f'{section.key}.{f.name}'
    name = where + label
    if (f.metadata.get('nonpositive_is_none') and isinstance(value, (int,
                                                                    float))
            and not isinstance(value, bool) and value <= 0):
        value = None
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
            v = number(v)  # 1e-3 in a YAML file
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{name} must be a number (got {v!r})")
            if not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number (got "
                                  f"{v!r})")
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
        if isinstance(value, (int, float, str)) and not isinstance(value,
                                                                    bool):
            value = [value]  # `fanout: 5` in a YAML file: one for all
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
        if tp in (int, float) and not in_range(f, v):
            each = f'{where}each value of {label}' if is_list else name
            raise ConfigError(f"{each} must be "
                              f"{valid_range(f, words=True)} (got {v!r})")
    return value


def iter_settings(sections: Sequence[type]
                  ) -> Iterator[Tuple[type, dataclasses.Field]]:
    for section in sections:
        for f in section.settings():
            yield section, f
