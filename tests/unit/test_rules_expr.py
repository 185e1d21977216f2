"""The rule condition language: operators and precedence, type errors, hostile text,
bad data, and the vectorised evaluator against a row-by-row reference interpreter."""

import math
import random
import warnings

import numpy as np
import pytest

from lepton_stream.rules import syntax
from lepton_stream.rules.expr import Compiled, ExprError, compile_condition
from lepton_stream.rules.schema import RULE_SCHEMA
from lepton_stream.rules.syntax import (
    MAX_DEPTH,
    Binary,
    Call,
    Conditional,
    Literal,
    Logical,
    Name,
    Unary,
)

SCHEMA = {"amount": "number", "count": "number", "ratio": "number", "channel": "string", "merchant": "string",
          "flag": "bool", "other": "bool"}
NAN, INF = float("nan"), float("inf")
DUMMY = {"amount": np.zeros(1)}


def compiled(text, schema=SCHEMA):
    result = compile_condition(text, schema)
    assert isinstance(result, Compiled), str(result)
    return result


def error(text, schema=SCHEMA):
    result = compile_condition(text, schema)
    assert isinstance(result, ExprError), f"{text!r} compiled"
    assert "\n" not in result.message and "could not be compiled" not in result.message
    return result


def constant(text):
    return bool(compiled(text).evaluate(DUMMY)[0])


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 * 3 == 7", True),
    ("(1 + 2) * 3 == 9", True),
    ("10 - 4 - 3 == 3", True),  # left-associative
    ("8 / 2 / 2 == 2", True),
    ("2 * 3 % 4 == 2", True),  # * and % share a level, left to right
    ("7 / 2 == 3.5", True),  # one number type: no integer division
    ("7 % 3 == 1", True),
    ("-7 % 3 == -1", True),  # fmod: the sign of the dividend, as CEL's int %
    ("7 % -3 == 1", True),
    ("5.5 % 2 == 1.5", True),
    ("-2 * -3 == 6", True),
    ("--2 == 2", True),
    ("-(1 + 2) == -3", True),
    ("-2 + 5 == 3", True),  # unary minus binds tighter than +
    ("1 < 2", True), ("2 < 2", False), ("2 <= 2", True), ("3 > 2", True), ("2 > 2", False),
    ("2 >= 3", False), ("3 >= 3", True),
    ("1 == 1.0", True), ("1 != 1", False), ("1 != 2", True),
    ("'a' == \"a\"", True), ("'a' != 'b'", True), ("'a' == 'b'", False),
    ("true == true", True), ("true != false", True),
    ("true && false", False), ("true && true", True), ("false || false", False), ("false || true", True),
    ("!true", False), ("!!true", True), ("!false && false", False),  # ! binds tighter than &&
    ("true || false && false", True),  # && binds tighter than ||
    ("(true || false) && false", False),
    ("1 + 2 < 4", True),  # arithmetic before comparison
    ("1 < 2 == true", True),  # relations share one level, left-associative: (1 < 2) == true
    ("1 + 2 * 3 > 6 && 2 > 1 || false", True),
    ("(true ? 1 : 2) == 1", True),
    ("(false ? 1 : 2) == 2", True),
    ("true ? false : true", False),
    ("false ? true : false ? false : true", True),  # right-associative
    ("true || false ? false : true", False),  # ? binds loosest: (true || false) ? ...
    ("abs(-3) == 3", True), ("abs(3) == 3", True),
    ("min(2, 5) == 2", True), ("max(2, 5) == 5", True), ("min(-1, -2) == -2", True),
    ("'merchant'.startsWith('mer')", True), ("'x'.startsWith('xy')", False), ("'x'.startsWith('')", True),
    ("2 in [1, 2, 3]", True), ("4 in [1, 2]", False), ("-1 in [1, -1]", True), ("2 in [1, 2,]", True),
    ("'b' in ['a', 'b']", True), ("'c' in ['a', 'b']", False), ("true in [true]", True), ("2 in []", False),
    ("1e3 == 1000", True), (".5 == 0.5", True), ("2.5e-1 == 0.25", True), ("1E+2 == 100", True),
    ("007 == 7", True),
    ("'it\\'s' == \"it's\"", True), ("'\\u00e9' == 'é'", True), ("'a\\\\b'.startsWith('a\\\\')", True),
    ("'\\n' != 'n'", True),
    ("1 / 0 > 1e300", True), ("-1 / 0 < -1e300", True),  # inf, no error
    ("0 / 0 == 0 / 0", False), ("0 / 0 != 0 / 0", True), ("0 / 0 < 1 || 0 / 0 >= 1", False),  # NaN
    ("5 % 0 == 5 % 0", False),
    ("1 // a comment\n == 1", True),
    ("  1\t==\n1  ", True),
])
def test_operators_and_precedence(text, expected):
    assert constant(text) is expected


NUMBERS = np.array([0.0, 50.0, 100.0, NAN, INF, -5.0])
CHANNELS = np.array(["ecom", "pos", "atm", None, 7, "ecommerce"], dtype=object)
MERCHANTS = np.array(["ecom", "x", "atm", None, "7", "y"], dtype=object)
FLAGS = np.array([True, False, True, False, True, False])
OTHERS = np.array([True, True, False, False, True, False])
COLUMNS = {"amount": NUMBERS, "count": NUMBERS[::-1].copy(), "ratio": NUMBERS, "channel": CHANNELS,
           "merchant": MERCHANTS, "flag": FLAGS, "other": OTHERS}
T, F = True, False


@pytest.mark.parametrize(("text", "expected"), [
    ("amount > 50", [F, F, T, F, T, F]),
    ("amount >= 50", [F, T, T, F, T, F]),
    ("amount < 50", [T, F, F, F, F, T]),
    ("amount == 50", [F, T, F, F, F, F]),
    ("amount != 50", [T, F, T, T, T, T]),  # NaN != 50, as in IEEE and numpy
    ("!(amount > 50)", [T, T, F, T, F, T]),
    ("amount / 0 > 0", [F, T, T, F, T, F]),  # 0/0 and NaN/0 are NaN, -5/0 is -inf
    ("amount % 0 == amount % 0", [F] * 6),
    ("amount - amount == 0", [T, T, T, F, F, T]),  # inf - inf is NaN
    ("amount * 0 == 0", [T, T, T, F, F, T]),
    ("-amount < 0", [F, T, T, F, T, F]),
    ("abs(amount) > 4", [F, T, T, F, T, T]),
    ("min(amount, 60) == 50", [F, T, F, F, F, F]),
    ("max(amount, 10) == 10", [T, F, F, F, F, T]),
    ("min(amount, 60) < 1000", [T, T, T, F, T, T]),  # NaN propagates through min
    ("amount in [0, 100]", [T, F, T, F, F, F]),
    ("amount in [-5]", [F, F, F, F, F, T]),
    ("amount > count", [T, F, F, F, T, F]),
    ('channel == "ecom"', [T, F, F, F, F, F]),
    ('"ecom" == channel', [T, F, F, F, F, F]),
    ('channel != "ecom"', [F, T, T, T, T, T]),  # a missing string equals nothing
    ('channel in ["pos", "atm"]', [F, T, T, F, F, F]),
    ('channel in []', [F] * 6),
    ('channel.startsWith("ecom")', [T, F, F, F, F, T]),
    ("channel == merchant", [T, F, T, F, F, F]),  # missing == missing is false; 7 is not "7"
    ("channel != merchant", [F, T, F, T, T, T]),
    ('(amount > 50 ? channel : "pos") == "pos"', [T, T, F, T, F, T]),
    ('(flag ? "a" : "b") in ["a"]', [T, F, T, F, T, F]),
    ('(flag ? channel : merchant) == merchant', [T, T, T, F, F, T]),
    ('(flag ? channel : merchant).startsWith("e")', [T, F, F, F, F, F]),
    ("flag", FLAGS.tolist()),
    ("!flag", (~FLAGS).tolist()),
    ("flag && other", [T, F, F, F, T, F]),
    ("flag || other", [T, T, T, F, T, F]),
    ("flag == other", [T, F, F, T, T, T]),
    ("flag != other", [F, T, T, F, F, F]),
    ("flag in [true]", FLAGS.tolist()),
    ("flag ? amount > 50 : true", [F, T, T, T, T, T]),
    ("(flag ? amount : count) > 10", [F, T, T, T, T, F]),
    ("flag && amount > 10 || other && !flag", [F, T, T, F, T, F]),
    ("true && flag", FLAGS.tolist()),  # a constant operand drops out
    ("false || flag", FLAGS.tolist()),
])
def test_columns_hand_computed(text, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from 0/0 or inf - inf
        assert compiled(text).evaluate(COLUMNS).tolist() == expected


def test_unicode_string_columns_behave_as_object_columns():
    values = np.array(["ecom", "pos", "atm", "", "ecommerce", "é"])
    assert values.dtype.kind == "U"
    as_object = values.astype(object)
    for text in ('channel == "ecom"', 'channel in ["pos", "é"]', 'channel.startsWith("ec")', "channel == merchant",
                 '(channel == "pos" ? "x" : channel) != "atm"'):
        c = compiled(text)
        assert c.evaluate({"channel": values, "merchant": values[::-1].copy()}).tolist() == \
            c.evaluate({"channel": as_object, "merchant": as_object[::-1].copy()}).tolist()


def test_constant_conditions_fold_and_read_no_column():
    c = compiled("false && amount > 1")
    assert c.names == frozenset()
    assert c.evaluate(DUMMY, n=3).tolist() == [F, F, F]
    assert compiled("true || channel == 'x'").evaluate({}, n=2).tolist() == [T, T]


def test_names_are_the_columns_read():
    assert compiled('amount > 1 && channel in ["a"] || !flag').names == {"amount", "channel", "flag"}


def test_equal_structure_gives_equal_keys():
    assert compiled("amount > 1 && flag").key == compiled("((amount > 1)) && (flag)").key
    assert compiled("amount > 1 && flag").key != compiled("amount > 2 && flag").key


def test_result_is_a_new_array():
    flags = FLAGS.copy()
    result = compiled("flag").evaluate({"flag": flags})
    result[:] = False
    assert flags.tolist() == FLAGS.tolist()


def test_other_dtypes_are_converted_and_bad_values_are_missing():
    columns = {"amount": np.array([1, 2, 3], dtype=np.int32),
               "count": np.array([1.5, None, "x"], dtype=object),
               "channel": np.array(["ecom", None, ["unhashable"]], dtype=object),
               "flag": np.array([True, None, 1], dtype=object)}
    assert compiled("amount >= 2").evaluate(columns).tolist() == [F, T, T]
    assert compiled("count > 1").evaluate(columns).tolist() == [T, F, F]
    assert compiled("count != count").evaluate(columns).tolist() == [F, T, T]  # NaN
    assert compiled("channel == 'ecom'").evaluate(columns).tolist() == [T, F, F]
    assert compiled("flag").evaluate(columns).tolist() == [T, F, F]


def test_caller_mistakes_raise_value_error():
    c = compiled("amount > 1 && count > 1")
    with pytest.raises(ValueError, match="no column 'count'"):
        c.evaluate({"amount": np.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        c.evaluate({"amount": np.zeros(3), "count": np.zeros(4)})
    with pytest.raises(ValueError, match="not strings"):
        compiled("channel == 'a'").evaluate({"channel": np.zeros(3)})


def test_empty_batch():
    assert compiled("amount > 1 && channel == 'a'").evaluate(
        {"amount": np.zeros(0), "channel": np.array([], dtype=object)}).shape == (0,)


@pytest.mark.parametrize(("text", "message", "position"), [
    ('amount > "x"', "'>' compares numbers, got number and string", 7),
    ("channel + 1", "'+' needs numbers, got string and number", 8),
    ("amount && flag", "'&&' needs bools, got a number", 0),
    ("flag || 1", "'||' needs bools, got a number", 8),
    ("-channel == 'a'", "'-' needs a number, got a string", 0),
    ("!amount", "'!' needs a bool, got a number", 0),
    ("amount == channel", "'==' compares two values of one type, got number and string", 7),
    ("flag < other", "'<' compares numbers, got bool and bool", 5),
    ("1 < 2 < 3", "'<' compares numbers, got bool and number", 6),
    ("amount ? flag : other", "the condition before '?' must be a bool, got a number", 7),
    ('flag ? 1 : "a"', "the two branches of '?' must have one type, got number and string", 5),
    ('amount in ["a"]', "'in' looks for a number in a list holding a string", 11),
    ('amount in [1, "a"]', "'in' looks for a number in a list holding a string", 14),
    ("amount in amount", "'in' needs a list of constants on its right", 10),
    ("amount in [count]", "the items of an 'in' list must be constants", 11),
    ("amount in [1 + 1]", "the items of an 'in' list must be constants", 13),
    ("[1, 2] == [1, 2]", "a list is only allowed on the right of 'in'", 0),
    ("abs(channel) > 1", "abs() needs numbers, got a string", 4),
    ("min(1) > 0", "min() takes 2 arguments, got 1", 0),
    ("abs(1, 2) > 0", "abs() takes 1 argument, got 2", 0),
    ('amount.startsWith("a")', "startsWith() is a method of strings, got a number", 6),
    ("channel.startsWith(merchant)", "startsWith() needs a string literal", 19),
    ('channel.startsWith("a", "b")', "startsWith() takes 1 argument, got 2", 7),
    ('startsWith(channel, "a")', 'startsWith is a method: write s.startsWith("...")', 0),
    ("amount.abs() > 1", "abs is a function: write abs(...)", 6),
    ("amount", "a condition must be a bool, this is a number", 0),
    ("channel", "a condition must be a bool, this is a string", 0),
    ("1 + 2", "a condition must be a bool, this is a number", 0),
])
def test_type_errors_name_the_problem_and_its_position(text, message, position):
    err = error(text)
    assert message in err.message
    assert err.position == position
    assert f"(at position {position})" in str(err)


@pytest.mark.parametrize(("text", "suggestion", "position"), [
    ("amout > 1", "did you mean 'amount'", 0),
    ("Amount > 1", "did you mean 'amount'", 0),
    ('chanel == "x"', "did you mean 'channel'", 0),
    ("amount > 1 && amout < 2", "did you mean 'amount'", 14),
    ("cnt > 1", "'count'", 0),
])
def test_unknown_names_suggest_close_matches(text, suggestion, position):
    err = error(text)
    assert err.message.startswith("unknown name ")
    assert suggestion in err.message
    assert err.position == position


def test_unknown_name_without_close_match_suggests_nothing():
    err = error("zzzz > 1")
    assert err.message == "unknown name 'zzzz'"


def test_card_fields_are_unknown_to_rules_and_features_are_suggested():
    assert error('card_id == "tok_1"', RULE_SCHEMA).message.startswith("unknown name 'card_id'")
    err = error("card_nb_tx_2d > 3", RULE_SCHEMA)
    assert "card_nb_tx_1d" in err.message


def test_schema_with_a_bad_type_is_an_error_not_a_crash():
    assert "not one of number, string, bool" in error("x > 1", {"x": "int"}).message


LONG_CHAIN = " && ".join(["amount > 1"] * 140)  # 1,958 characters: && chains are one level


def test_long_and_chain_is_not_deep():
    assert len(LONG_CHAIN) <= 2000
    assert compiled(LONG_CHAIN).evaluate({"amount": np.array([0.0, 2.0])}).tolist() == [F, T]


def test_depth_limit_is_exact():
    ok = "(" * (MAX_DEPTH - 1) + "amount > 1" + ")" * (MAX_DEPTH - 1)
    assert compiled(ok).names == {"amount"}
    too_deep = "(" * MAX_DEPTH + "amount > 1" + ")" * MAX_DEPTH
    assert "nests more than 32 levels" in error(too_deep).message
    assert compiled("!" * (MAX_DEPTH - 1) + "flag")
    assert "nests more than 32 levels" in error("!" * MAX_DEPTH + "flag").message


def test_list_limit(monkeypatch):
    # 1,001 items do not fit in 2,000 characters; the parser's own bound is checked with a longer limit.
    monkeypatch.setattr(syntax, "MAX_CHARS", 10_000)
    assert len(syntax.parse("[" + ",".join(["1"] * 1000) + "]").items) == 1000
    with pytest.raises(syntax.ExprFailure, match="at most 1000 items"):
        syntax.parse("[" + ",".join(["1"] * 1001) + "]")


HOSTILE = [
    ("a" * 2001, "more than 2000"),
    ("amount > 1 && " + "amount > 1 || " * 150 + "flag", "more than 2000"),
    ("(" * 500 + "flag" + ")" * 500, "nests more than"),
    ("!" * 1500 + "flag", "nests more than"),
    ("-" * 1500 + "amount > 1", "nests more than"),
    (" + ".join(["amount"] * 40) + " > 1", "nests more than"),
    ("[" * 400 + "]" * 400, "nests more than"),
    ("abs(" * 300 + "1" + ")" * 300 + " > 0", "nests more than"),
    ("flag ? flag : " * 60 + "flag", "nests more than"),
    ('"unterminated', "unterminated string"),
    ("'abc", "unterminated string"),
    ('channel == "abc\\"', "unterminated string"),
    ('channel == "line\nbreak"', "unterminated string"),
    ('channel == """x"""', "triple-quoted"),
    ('channel == "\\q"', "unknown escape"),
    ('channel == "\\u12"', "four hex digits"),
    ('channel == "\\ud800"', "lone surrogate"),
    ('channel == "\\', "unknown escape"),
    ('channel == "a\u200bb"', "U+200B (ZERO WIDTH SPACE)"),
    ('channel == "\u202eabc"', "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ('channel == "\x00"', "U+0000"),
    ("\u0430mount > 1", "U+0430 (CYRILLIC SMALL LETTER A)"),
    ("amount \uff1e 1", "U+FF1E (FULLWIDTH GREATER-THAN SIGN)"),
    ("amount\u00a0> 1", "U+00A0 (NO-BREAK SPACE)"),
    ("amount > \uff11", "U+FF11 (FULLWIDTH DIGIT ONE)"),
    ("amount > 1 && \U0001f600", "U+1F600"),
    ("amount > 1\x00", "U+0000"),
    ("\ud800 > 1", "U+D800"),
    ('__import__("os")', "unknown function '__import__'"),
    ('__import__("os").system("ls")', "unknown method 'system'"),
    ("amount.__class__", "field selection '.__class__' is not supported"),
    ("channel.startsWith", "field selection '.startsWith' is not supported"),
    ('channel.lower() == "x"', "unknown method 'lower'"),
    ('channel.endsWith("x")', "unknown method 'endsWith'"),
    ('exec("1")', "unknown function 'exec'"),
    ('eval("amount > 1")', "unknown function 'eval'"),
    ('open("/etc/passwd")', "unknown function 'open'"),
    ("size(channel) > 1", "unknown function 'size'"),
    ("mins(amount, 1) > 0", "did you mean 'min'"),
    ("lambda: 1", "expected an operator"),
    ("amount[0] > 1", "indexing with [] is not supported"),
    ('{"a": 1}', "maps ('{') are not supported"),
    ("amount = 1", "compare with '=='"),
    ("amount > 1 & flag", "'and' is '&&'"),
    ("amount > 1 | flag", "'or' is '||'"),
    ("amount > 1 and flag", "expected an operator"),
    ("null == amount", "null is not supported"),
    ("if > 1", "reserved word"),
    ("0x10 > amount", "malformed number"),
    ("1u > amount", "malformed number"),
    ("1.e5 > amount", "malformed number"),
    ("1e > amount", "exponent needs digits"),
    ("1e999 > amount", "out of range"),
    ("99999999999999999999 > amount", "too large to be exact"),
    ("", "empty expression"),
    ("   \n\t", "empty expression"),
    ("// only a comment", "empty expression"),
    ("amount >", "unexpected end"),
    ("(amount > 1", "expected ')' to close '(' at position 0"),
    ("amount > 1)", "')' without a matching '('"),
    ("amount > 1 flag", "expected an operator or the end, got name 'flag'"),
    ("flag ? flag", "expected ':'"),
    ("min(amount,) > 1", "expected an argument after ','"),
    ("amount in [1, 2", "expected ']'"),
    (".amount > 1", "unexpected '.'"),
    ("amount > 1 ,", "expected an operator"),
    ("`amount` > 1", "backquoted"),
    ("amount > 1; flag", "unexpected character ';'"),
    ("r'x' == channel", "expected an operator"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_text_is_refused_with_an_error_value(text, message):
    err = error(text)
    assert message in err.message
    assert 0 <= err.position <= len(text)


@pytest.mark.parametrize("text", [None, b"amount > 1", 12, ["amount > 1"]])
def test_a_condition_that_is_not_text_is_an_error_value(text):
    assert isinstance(compile_condition(text, SCHEMA), ExprError)


def test_random_garbage_never_raises():
    rng = random.Random(7)
    pieces = ["amount", "channel", "flag", "(", ")", "[", "]", ",", ".", "?", ":", "!", "-", "+", "*", "/", "%",
              "<", "<=", "==", "!=", "&&", "||", " in ", "1", "2.5", "'x'", '"', "'", "\\", "abs", "min",
              "startsWith", "true", "null", " ", "\u200b", "é", "1e", "0x", "//", "\n", "{", "=", "&"]
    for _ in range(1500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        result = compile_condition(text, SCHEMA)
        assert isinstance(result, Compiled | ExprError)
        if isinstance(result, ExprError):
            assert "could not be compiled" not in result.message, text
        else:
            result.evaluate(COLUMNS)


# --- the vectorised evaluator against a row-by-row reference interpreter ---------------------

def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def _fmod(a, b):
    try:
        return math.fmod(a, b)
    except ValueError:  # fmod(inf, y), fmod(x, 0)
        return NAN


def _min(a, b):
    return NAN if a != a or b != b else min(a, b)


def _max(a, b):
    return NAN if a != a or b != b else max(a, b)


_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _div, "%": _fmod}
_ORDER = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _str_eq(a, b):
    return a is not None and b is not None and a == b


def reference(node, row):
    """One row, plain Python: what each operator means, written independently of numpy."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return row[node.name]
    if isinstance(node, Unary):
        value = reference(node.operand, row)
        return -value if node.op == "-" else not value
    if isinstance(node, Binary):
        a = reference(node.left, row)
        if node.op == "in":
            items = [reference(item, row) for item in node.right.items]
            return any(_str_eq(a, v) if isinstance(v, str) else a == v for v in items)
        b = reference(node.right, row)
        if node.op in _ARITH:
            return _ARITH[node.op](a, b)
        if node.op in _ORDER:
            return _ORDER[node.op](a, b)
        is_string = isinstance(a, str) or isinstance(b, str) or a is None or b is None
        same = _str_eq(a, b) if is_string else a == b
        return same if node.op == "==" else not same
    if isinstance(node, Logical):
        values = [reference(o, row) for o in node.operands]
        return all(values) if node.op == "&&" else any(values)
    if isinstance(node, Conditional):
        return reference(node.then if reference(node.test, row) else node.other, row)
    if isinstance(node, Call):
        args = [reference(a, row) for a in node.args]
        if node.function == "startsWith":
            target = reference(node.target, row)
            return target is not None and target.startswith(args[0])
        return {"abs": abs, "min": _min, "max": _max}[node.function](*args)
    raise AssertionError(node)


class Generator:
    """Random well-typed conditions over SCHEMA."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, *options):
        return self.rng.choice(options)

    def number(self, depth):
        r = self.rng.random()
        if depth == 0 or r < 0.3:
            return self.pick("amount", "count", "ratio", "0", "1", "2.5", "3", "100", "1e3", ".5", "-2")
        d = depth - 1
        if r < 0.65:
            return f"({self.number(d)} {self.pick('+', '-', '*', '/', '%')} {self.number(d)})"
        if r < 0.75:
            return f"-{self.number(d)}"
        if r < 0.9:
            fn = self.pick("abs", "min", "max")
            return f"abs({self.number(d)})" if fn == "abs" else f"{fn}({self.number(d)}, {self.number(d)})"
        return f"({self.boolean(d)} ? {self.number(d)} : {self.number(d)})"

    def string(self, depth):
        if depth == 0 or self.rng.random() < 0.6:
            return self.pick("channel", "merchant", "'ecom'", "'pos'", "''", "'é'")
        d = depth - 1
        return f"({self.boolean(d)} ? {self.string(d)} : {self.string(d)})"

    def boolean(self, depth):
        r = self.rng.random()
        if depth == 0 or r < 0.1:
            return self.pick("flag", "other", "true", "false")
        d = depth - 1
        if r < 0.35:
            return f"({self.number(d)} {self.pick('<', '<=', '>', '>=', '==', '!=')} {self.number(d)})"
        if r < 0.45:
            return f"({self.string(d)} {self.pick('==', '!=')} {self.string(d)})"
        if r < 0.5:
            return f"({self.boolean(d)} {self.pick('==', '!=')} {self.boolean(d)})"
        if r < 0.6:
            items = self.rng.sample(["0", "1", "-2", "2.5", "100", "1e3"], self.rng.randint(0, 4))
            return f"({self.number(d)} in [{', '.join(items)}])"
        if r < 0.67:
            items = self.rng.sample(["'ecom'", "'pos'", "'atm'", "''", "'é'"], self.rng.randint(0, 3))
            return f"({self.string(d)} in [{', '.join(items)}])"
        if r < 0.72:
            return f"{self.string(d)}.startsWith({self.pick(repr('ec'), repr(''), repr('p'))})"
        if r < 0.9:
            op = self.pick("&&", "||")
            return f"({f' {op} '.join(self.boolean(d) for _ in range(self.rng.randint(2, 4)))})"
        if r < 0.95:
            return f"!({self.boolean(d)})"
        return f"({self.boolean(d)} ? {self.boolean(d)} : {self.boolean(d)})"


def random_rows(n, seed, with_missing=True):
    rng = random.Random(seed)
    pool = [0.0, -0.0, 1.0, -1.0, 2.5, 3.0, 100.0, 1000.0, NAN, INF, -INF, 1e300, -7.25]
    strings = ["ecom", "pos", "atm", "", "é", "ecommerce", "p"] + ([None] if with_missing else [])
    rows = []
    for _ in range(n):
        rows.append({
            **{name: rng.choice(pool) if rng.random() < 0.5 else rng.gauss(0, 200) for name in ("amount", "count",
                                                                                                 "ratio")},
            "channel": rng.choice(strings), "merchant": rng.choice(strings),
            "flag": rng.random() < 0.5, "other": rng.random() < 0.5,
        })
    return rows


def columns_of(rows, string_dtype):
    columns = {name: np.array([r[name] for r in rows], dtype=np.float64) for name in ("amount", "count", "ratio")}
    columns |= {name: np.array([r[name] for r in rows], dtype=string_dtype) for name in ("channel", "merchant")}
    columns |= {name: np.array([r[name] for r in rows], dtype=bool) for name in ("flag", "other")}
    return columns


@pytest.mark.parametrize(("seed", "string_dtype"), [(1, object), (2, object), (3, str)])
def test_vectorised_equals_row_by_row_reference(seed, string_dtype):
    gen = Generator(seed)
    rows = random_rows(40, seed, with_missing=string_dtype is object)
    columns = columns_of(rows, string_dtype)
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(250):
            text = gen.boolean(4)
            c = compiled(text)
            tree = syntax.parse(text)
            expected = [bool(reference(tree, row)) for row in rows]
            assert c.evaluate(columns).tolist() == expected, text
            checked += 1
    assert checked == 250


def test_a_column_that_is_not_one_dimensional_is_the_callers_mistake():
    with pytest.raises(ValueError, match="one dimension"):
        compiled("amount > 1").evaluate({"amount": np.float64(3.0)})
    with pytest.raises(ValueError, match="one dimension"):
        compiled("amount > 1").evaluate({"amount": np.zeros((2, 2))})
