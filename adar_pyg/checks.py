r"""The argument checks of the library's constructors: each raises a
:class:`ValueError` that names the argument and the value it got (the
typed config checks its values before anything is built, see
:mod:`adar_pyg.config`; these guard the Python API)."""
import math
import numbers
from typing import Any, Optional


def check_int(name: str, value: Any, minimum: Optional[int] = 1,
              optional: bool = False) -> Optional[int]:
    r"""Returns :obj:`value` as an :obj:`int`, or raises a
    :class:`ValueError` naming :obj:`name` unless it is an integer (not a
    bool) of at least :obj:`minimum` (any integer if :obj:`None`; or
    :obj:`None`, if :obj:`optional`)."""
    if optional and value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum)):
        what = ('an integer' if minimum is None else 'a positive integer'
                if minimum == 1 else f'an integer of at least {minimum}')
        raise ValueError(f"'{name}' must be {what}"
                         f"{' or None' if optional else ''} (got {value!r})")
    return int(value)


def check_real(name: str, value: Any, positive: bool = True) -> float:
    r"""Returns :obj:`value` as a :obj:`float`, or raises a
    :class:`ValueError` naming :obj:`name` unless it is a real number (not
    a bool), finite and positive (or, with :obj:`positive=False`,
    non-negative)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or not (value > 0 if positive else
                                             value >= 0):
        raise ValueError(f"'{name}' must be a finite "
                         f"{'positive' if positive else 'non-negative'} "
                         f"number (got {value!r})")
    return float(value)


def check_number(name: str, value: float, positive: bool = True) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name` unless the number
    :obj:`value` is finite and positive (or, with :obj:`positive=False`,
    non-negative); unlike :func:`check_real`, its type is not checked."""
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        what = 'positive' if positive else 'non-negative'
        raise ValueError(f"'{name}' must be a {what} number (got {value})")


def check_fraction(name: str, value: float, closed: bool = True) -> None:
    r"""Raises a :class:`ValueError` naming :obj:`name` unless
    :obj:`value` lies in :math:`[0, 1]` (or, with :obj:`closed=False`,
    :math:`[0, 1)`: a dropout probability)."""
    if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        raise ValueError(f"'{name}' must lie in [0, 1{']' if closed else ')'}"
                         f" (got {value})")
