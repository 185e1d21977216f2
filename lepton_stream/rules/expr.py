"""Rule conditions: a subset of CEL, type-checked against a schema and compiled to
numpy expressions that evaluate a whole batch at once.

`compile_condition(text, schema)` returns a `Compiled` or an `ExprError`, never
raises. Types are "number" (float64), "string" and "bool"; a condition is a bool.

Supported: number literals (`12`, `0.5`, `1e3`), strings in single or double
quotes (escapes `\\\\ \\' \\" \\n \\r \\t \\uXXXX`), `true`, `false`, names of the
schema, parentheses, unary `-` and `!`, `* / %`, `+ -`, `< <= > >=` (numbers),
`== !=` (two values of one type), `&&`, `||`, `c ? a : b`, `x in [constants]`,
`abs(x)`, `min(a, b)`, `max(a, b)`, `s.startsWith("prefix")`, `//` comments.

Where it departs from CEL: CEL's int/double distinction is one float64 number type,
so `7 / 2` is 3.5 and `%` is C's fmod on floats (the sign of the dividend, like
CEL's int `%`). Bad data never raises: a comparison with NaN is false (`!=` true),
a division by zero is inf or NaN, a missing string equals nothing. `&&` and `||`
evaluate both sides (no side effects or errors exist that short-circuiting could avoid).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lepton_stream.rules.columns import Frame, Strings, batch_length, choose_strings
from lepton_stream.rules.lexer import ExprError, ExprFailure
from lepton_stream.rules.syntax import (
    Binary,
    Call,
    Conditional,
    ListLiteral,
    Literal,
    Logical,
    Name,
    Node,
    Unary,
    parse,
)

__all__ = ["TYPES", "Compiled", "ExprError", "compile_condition"]

TYPES = ("number", "string", "bool")
FUNCTIONS = {"abs": 1, "min": 2, "max": 2}
METHODS = ("startsWith",)

_ARITHMETIC: dict[str, Callable[..., Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "%": np.fmod,
}
_ORDER: dict[str, Callable[..., Any]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
}
_NUMBER_FUNCTIONS: dict[str, Callable[..., Any]] = {"abs": np.abs, "min": np.minimum, "max": np.maximum}
_UNSET: Any = object()


@dataclass(frozen=True)
class _Code:
    """A checked, compiled sub-expression: a constant (`run` None) or a function of the batch."""

    type: str
    key: str  # canonical text: equal keys compute equal values on one batch
    names: frozenset[str] = frozenset()
    const: Any = _UNSET
    run: Callable[[Frame], Any] | None = None


def _value(code: _Code, frame: Frame) -> Any:
    if code.run is None:
        return code.const
    value = frame.memo.get(code.key, _UNSET)
    if value is _UNSET:
        value = frame.memo[code.key] = code.run(frame)
    return value


def _combine(type_: str, key: str, parts: list[_Code], fn: Callable[..., Any]) -> _Code:
    """`fn` of the parts' values: folded now when every part is a constant."""
    if all(p.run is None for p in parts):
        return _Code(type_, key, const=fn(*(p.const for p in parts)))
    names = frozenset[str]().union(*(p.names for p in parts))
    if len(parts) == 1:
        (a,) = parts
        return _Code(type_, key, names, run=lambda f: fn(_value(a, f)))
    if len(parts) == 2:
        a, b = parts
        return _Code(type_, key, names, run=lambda f: fn(_value(a, f), _value(b, f)))
    return _Code(type_, key, names, run=lambda f: fn(*(_value(p, f) for p in parts)))


def _string_equal(a: str | Strings, b: str | Strings) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return np.bool_(a == b)
    if isinstance(a, str):
        a, b = b, a
    assert isinstance(a, Strings)
    if isinstance(b, str):
        wanted = b
        return a.where(lambda u: u == wanted)
    return a.equal(b)


def _string_not_equal(a: str | Strings, b: str | Strings) -> Any:
    return np.logical_not(_string_equal(a, b))


def _string_in(items: frozenset[str]) -> Callable[[str | Strings], Any]:
    def member(a: str | Strings) -> Any:
        return np.bool_(a in items) if isinstance(a, str) else a.where(items.__contains__)
    return member


def _starts_with(prefix: str) -> Callable[[str | Strings], Any]:
    def starts(a: str | Strings) -> Any:
        return np.bool_(a.startswith(prefix)) if isinstance(a, str) else a.where(lambda u: u.startswith(prefix))
    return starts


def _all_of(*values: Any) -> Any:
    result = values[0]
    for v in values[1:]:
        result = np.logical_and(result, v)
    return result


def _any_of(*values: Any) -> Any:
    result = values[0]
    for v in values[1:]:
        result = np.logical_or(result, v)
    return result


def _choose(test: Any, then: Any, other: Any) -> Any:
    return np.where(test, then, other)


def _is_constant_item(node: Node) -> bool:
    if isinstance(node, Literal):
        return True
    return (isinstance(node, Unary) and node.op == "-" and isinstance(node.operand, Literal)
            and isinstance(node.operand.value, float))


def _suggest(name: str, known: list[str]) -> str:
    close = [k for k in known if k.lower() == name.lower()]
    close += [k for k in difflib.get_close_matches(name, known, n=3, cutoff=0.6) if k not in close]
    return f"; did you mean {' or '.join(repr(k) for k in close[:3])}?" if close else ""


class _Checker:
    def __init__(self, schema: Mapping[str, str]) -> None:
        self.schema = schema

    def code(self, node: Node) -> _Code:
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Binary):
            return self.membership(node) if node.op == "in" else self.binary(node)
        if isinstance(node, Logical):
            return self.logical(node)
        if isinstance(node, Conditional):
            return self.conditional(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ListLiteral):
            raise ExprFailure("a list is only allowed on the right of 'in'", node.pos)
        raise ExprFailure(f"unsupported expression {type(node).__name__}", node.pos)

    def literal(self, node: Literal) -> _Code:
        v = node.value
        if isinstance(v, bool):
            return _Code("bool", "true" if v else "false", const=np.bool_(v))
        if isinstance(v, str):
            return _Code("string", repr(v), const=v)
        return _Code("number", repr(v), const=np.float64(v))

    def name(self, node: Name) -> _Code:
        if node.name not in self.schema:
            shown = node.name if len(node.name) <= 40 else node.name[:40] + "..."
            raise ExprFailure(f"unknown name '{shown}'{_suggest(node.name, list(self.schema))}", node.pos)
        type_ = self.schema[node.name]
        if type_ not in TYPES:
            raise ExprFailure(f"the schema gives '{node.name}' the type {type_!r}, not one of {', '.join(TYPES)}",
                              node.pos)
        name = node.name
        return _Code(type_, f"{type_}:{name}", frozenset({name}), run=lambda f: f.column(name, type_))

    def unary(self, node: Unary) -> _Code:
        operand = self.code(node.operand)
        want, fn = ("number", np.negative) if node.op == "-" else ("bool", np.logical_not)
        if operand.type != want:
            raise ExprFailure(f"'{node.op}' needs a {want}, got a {operand.type}", node.pos)
        return _combine(want, f"({node.op} {operand.key})", [operand], fn)

    def binary(self, node: Binary) -> _Code:
        left, right = self.code(node.left), self.code(node.right)
        op, types = node.op, f"{left.type} and {right.type}"
        key = f"({op} {left.key} {right.key})"
        if op in _ARITHMETIC:
            if left.type != "number" or right.type != "number":
                raise ExprFailure(f"'{op}' needs numbers, got {types}", node.pos)
            return _combine("number", key, [left, right], _ARITHMETIC[op])
        if op in _ORDER:
            if left.type != "number" or right.type != "number":
                raise ExprFailure(f"'{op}' compares numbers, got {types}", node.pos)
            return _combine("bool", key, [left, right], _ORDER[op])
        if left.type != right.type:
            raise ExprFailure(f"'{op}' compares two values of one type, got {types}", node.pos)
        if left.type == "string":
            return _combine("bool", key, [left, right], _string_equal if op == "==" else _string_not_equal)
        return _combine("bool", key, [left, right], np.equal if op == "==" else np.not_equal)

    def membership(self, node: Binary) -> _Code:
        left = self.code(node.left)
        if not isinstance(node.right, ListLiteral):
            raise ExprFailure("'in' needs a list of constants on its right, such as [\"ecom\", \"atm\"]",
                              node.right.pos)
        items: list[_Code] = []
        for item_node in node.right.items:
            if not _is_constant_item(item_node):
                raise ExprFailure("the items of an 'in' list must be constants", item_node.pos)
            item = self.code(item_node)
            if item.type != left.type:
                raise ExprFailure(f"'in' looks for a {left.type} in a list holding a {item.type}", item_node.pos)
            items.append(item)
        values = [item.const for item in items]
        key = f"(in {left.key} [{' '.join(item.key for item in items)}])"
        if left.type == "string":
            return _combine("bool", key, [left], _string_in(frozenset(values)))
        array = np.array(values, dtype=np.float64 if left.type == "number" else bool)
        return _combine("bool", key, [left], lambda x: np.isin(x, array))

    def logical(self, node: Logical) -> _Code:
        parts = [self.code(operand) for operand in node.operands]
        for part, operand in zip(parts, node.operands, strict=True):
            if part.type != "bool":
                raise ExprFailure(f"'{node.op}' needs bools, got a {part.type}", operand.pos)
        # A constant decides the whole (`false && x`) or drops out (`true && x`).
        decisive = node.op == "||"
        if any(p.run is None and bool(p.const) == decisive for p in parts):
            return _Code("bool", "true" if decisive else "false", const=np.bool_(decisive))
        parts = [p for p in parts if p.run is not None]
        if not parts:
            return _Code("bool", "false" if decisive else "true", const=np.bool_(not decisive))
        if len(parts) == 1:
            return parts[0]
        key = f"({node.op} {' '.join(p.key for p in parts)})"
        return _combine("bool", key, parts, _any_of if decisive else _all_of)

    def conditional(self, node: Conditional) -> _Code:
        test, then, other = self.code(node.test), self.code(node.then), self.code(node.other)
        if test.type != "bool":
            raise ExprFailure(f"the condition before '?' must be a bool, got a {test.type}", node.pos)
        if then.type != other.type:
            raise ExprFailure(f"the two branches of '?' must have one type, got {then.type} and {other.type}",
                              node.pos)
        if test.run is None:
            return then if bool(test.const) else other
        key = f"(? {test.key} {then.key} {other.key})"
        return _combine(then.type, key, [test, then, other], choose_strings if then.type == "string" else _choose)

    def call(self, node: Call) -> _Code:
        if node.target is not None:
            return self.method(node, node.target)
        name = node.function
        if name not in FUNCTIONS:
            if name in METHODS:
                raise ExprFailure(f"{name} is a method: write s.{name}(\"...\")", node.pos)
            known = sorted(FUNCTIONS)
            raise ExprFailure(f"unknown function '{name[:40]}'{_suggest(name, known + list(METHODS))} "
                              f"(functions: {', '.join(known)}; method: startsWith)", node.pos)
        if len(node.args) != FUNCTIONS[name]:
            raise ExprFailure(f"{name}() takes {FUNCTIONS[name]} argument{'s' * (FUNCTIONS[name] > 1)}, "
                              f"got {len(node.args)}", node.pos)
        args = [self.code(arg) for arg in node.args]
        for arg, arg_node in zip(args, node.args, strict=True):
            if arg.type != "number":
                raise ExprFailure(f"{name}() needs numbers, got a {arg.type}", arg_node.pos)
        return _combine("number", f"({name} {' '.join(a.key for a in args)})", args, _NUMBER_FUNCTIONS[name])

    def method(self, node: Call, target_node: Node) -> _Code:
        name = node.function
        if name in FUNCTIONS:
            raise ExprFailure(f"{name} is a function: write {name}(...)", node.pos)
        if name not in METHODS:
            raise ExprFailure(f"unknown method '{name[:40]}'{_suggest(name, list(METHODS))} "
                              f"(the one method is startsWith)", node.pos)
        target = self.code(target_node)
        if target.type != "string":
            raise ExprFailure(f"startsWith() is a method of strings, got a {target.type}", node.pos)
        if len(node.args) != 1:
            raise ExprFailure(f"startsWith() takes 1 argument, got {len(node.args)}", node.pos)
        arg = node.args[0]
        if not (isinstance(arg, Literal) and isinstance(arg.value, str)):
            raise ExprFailure("startsWith() needs a string literal, such as startsWith(\"M12\")", arg.pos)
        prefix = arg.value
        return _combine("bool", f"(startsWith {target.key} {prefix!r})", [target], _starts_with(prefix))


@dataclass(frozen=True)
class Compiled:
    """A checked condition, ready to evaluate batches."""

    text: str
    names: frozenset[str]  # the columns it reads
    _code: _Code = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """Canonical text: two conditions with one key compute the same values."""
        return self._code.key

    def evaluate(self, columns: Mapping[str, Any], n: int | None = None) -> np.ndarray:
        """The condition for each of the batch's N rows, as a new bool array [N].

        Number columns are float64 (other numeric dtypes are converted), string columns
        object or `<U` arrays, bool columns bool arrays, all of one length. A bad value
        never raises; a missing column or one of the wrong length raises ValueError.
        """
        frame = Frame(columns, batch_length(columns, self.names) if n is None else n)
        return np.array(self.evaluate_in(frame), dtype=bool, copy=True)

    def evaluate_in(self, frame: Frame) -> np.ndarray:
        """Evaluated on a frame that other conditions share: a sub-expression they have in
        common is computed once. The result may be shared too: do not modify it."""
        with np.errstate(all="ignore"):
            return self.evaluate_unguarded(frame)

    def evaluate_unguarded(self, frame: Frame) -> np.ndarray:
        """`evaluate_in` for a caller already inside `np.errstate(all="ignore")` (entering it
        costs as much as a small rule: the rule set enters it once per batch)."""
        value = _value(self._code, frame)
        if isinstance(value, np.ndarray) and value.shape == (frame.n,):
            return value
        return np.broadcast_to(np.asarray(value, dtype=bool), (frame.n,))


def compile_condition(text: str, schema: Mapping[str, str]) -> Compiled | ExprError:
    """`text` checked against `schema` (name -> "number" | "string" | "bool") and compiled."""
    if not isinstance(text, str):
        return ExprError(f"a condition is a string, not {type(text).__name__}", 0)
    try:
        with np.errstate(all="ignore"):  # constants are folded now: 1 / 0 is inf, not a warning
            code = _Checker(schema).code(parse(text))
    except ExprFailure as exc:
        return exc.error
    except RecursionError:
        return ExprError("the expression nests too deeply", 0)
    except Exception as exc:  # noqa: BLE001 (errors are values: a bug here must not fail the caller)
        return ExprError(f"the condition could not be compiled ({type(exc).__name__})", 0)
    if code.type != "bool":
        return ExprError(f"a condition must be a bool, this is a {code.type}", 0)
    return Compiled(text, code.names, code)
