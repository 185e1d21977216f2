"""A batch's columns as conditions read them: converted once per batch, shared by every rule.

Values that are not what their column's type says (None or a number in a string
column, text in a number column) are missing, never an error: a missing number
is NaN, a missing string equals nothing, a missing bool is false. A column that
is absent, of the wrong length or of a dtype that cannot hold its type is the
caller's mistake and raises ValueError.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Strings:
    """A string column or computed string value, factorised: row i is `uniques[codes[i]]`.

    A predicate on strings is then computed once per distinct value, not per row:
    the cost of `channel in [...]` or `merchant_id.startsWith(...)` is a table
    lookup whatever the list length. `None` in `uniques` is a missing value.
    """

    uniques: tuple[str | None, ...]
    codes: np.ndarray | int  # an int for a constant

    def where(self, predicate: Callable[[str], bool]) -> np.ndarray | np.bool_:
        table = np.fromiter((u is not None and predicate(u) for u in self.uniques), dtype=bool,
                            count=len(self.uniques))
        return table[self.codes]

    def equal(self, other: Strings) -> np.ndarray | np.bool_:
        index: dict[str, int] = {}
        mine = np.array([-1 if u is None else index.setdefault(u, len(index)) for u in self.uniques], dtype=np.intp)
        theirs = np.array([-1 if u is None else index.setdefault(u, len(index)) for u in other.uniques], dtype=np.intp)
        a, b = mine[self.codes], theirs[other.codes]
        return (a == b) & (a >= 0)


def strings_of(value: str | Strings) -> Strings:
    return value if isinstance(value, Strings) else Strings((value,), 0)


def choose_strings(test: Any, then: str | Strings, other: str | Strings) -> Strings:
    a, b = strings_of(then), strings_of(other)
    return Strings(a.uniques + b.uniques, np.where(test, a.codes, np.add(b.codes, len(a.uniques))))


def factorise(values: np.ndarray) -> Strings:
    if values.dtype.kind == "U":
        uniques, codes = np.unique(values, return_inverse=True)
        return Strings(tuple(uniques.tolist()), codes)
    if values.dtype.kind != "O":
        raise ValueError(f"holds {values.dtype}, not strings")
    items = values.tolist()
    try:
        index: dict[Any, Any] = dict.fromkeys(items)
    except TypeError:  # an unhashable value (a list...): it is missing like any other non-string
        items = [v if isinstance(v, str) else None for v in items]
        index = dict.fromkeys(items)
    for i, key in enumerate(index):
        index[key] = i
    codes = np.array(list(map(index.__getitem__, items)), dtype=np.intp)
    return Strings(tuple(k if isinstance(k, str) else None for k in index), codes)


def _number(value: Any) -> float:
    if not isinstance(value, numbers.Real):
        return float("nan")
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        return float("nan")


def as_numbers(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.float64:
        return values
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    if values.dtype.kind == "O":
        return np.fromiter(map(_number, values.tolist()), dtype=np.float64, count=len(values))
    raise ValueError(f"holds {values.dtype}, not numbers")


def as_bools(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "b":
        return values
    if values.dtype.kind in "fiu":
        return (values != 0) & (values == values)  # NaN is not true
    if values.dtype.kind == "O":
        return np.fromiter((v is True or (isinstance(v, np.bool_) and bool(v)) for v in values.tolist()),
                           dtype=bool, count=len(values))
    raise ValueError(f"holds {values.dtype}, not bools")


_CONVERT: dict[str, Callable[[np.ndarray], Any]] = {"number": as_numbers, "string": factorise, "bool": as_bools}


def batch_length(columns: Mapping[str, Any], names: frozenset[str] | set[str] = frozenset()) -> int:
    """The number of rows: that of a column the conditions read, else of any column."""
    for name in sorted(names):
        if name in columns:
            return _rows(name, columns[name])
    for name, col in columns.items():
        return _rows(name, col)
    raise ValueError("the batch has no columns: pass its length")


def _rows(name: str, col: Any) -> int:
    shape = np.shape(col)
    if len(shape) != 1:
        raise ValueError(f"column '{name}' has shape {shape}, expected one dimension")
    return int(shape[0])


class Frame:
    """One batch: the columns, each converted at its first use, and the values that
    conditions have computed so far, so that a sub-expression shared by several rules
    is computed once (keyed by its canonical text)."""

    def __init__(self, columns: Mapping[str, Any], n: int) -> None:
        self.columns = columns
        self.n = n
        self.memo: dict[str, Any] = {}

    def column(self, name: str, type_: str) -> Any:
        try:
            raw = self.columns[name]
        except KeyError:
            raise ValueError(f"the batch has no column '{name}'") from None
        values = np.asarray(raw)
        if values.ndim != 1 or len(values) != self.n:
            raise ValueError(f"column '{name}' has shape {values.shape}, expected ({self.n},)")
        try:
            return _CONVERT[type_](values)
        except ValueError as exc:
            raise ValueError(f"column '{name}' {exc}") from None
