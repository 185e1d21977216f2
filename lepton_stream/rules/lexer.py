"""Tokens of the rule condition language, a subset of the lexical grammar of CEL.

Only ASCII outside string literals: a look-alike letter (Cyrillic `а` for `a`)
or a full-width operator is refused by name rather than read as something the
analyst did not write. Inside a string every raw character must be printable,
so that nothing invisible (zero-width, bidi overrides) hides in a reviewed rule;
an escape such as `\\u200b` states such a character openly.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 2_000
# Numbers are float64: a larger integer literal would silently become another number.
MAX_EXACT_INT = 2**53

_DIGITS = frozenset("0123456789")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | _DIGITS
_SPACE = frozenset(" \t\n\r\f")
_OPS2 = frozenset({"<=", ">=", "==", "!=", "&&", "||"})
_OPS1 = frozenset("()[],.?:!-+*/%<>")
_HINTS = {
    "=": "'=' is not an operator: compare with '=='",
    "&": "'&' is not an operator: 'and' is '&&'",
    "|": "'|' is not an operator: 'or' is '||'",
    "{": "maps ('{') are not supported",
    "`": "backquoted names are not supported",
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
# CEL's reserved words: refused as names, as CEL does, so a rule stays valid CEL.
RESERVED = frozenset({"as", "break", "const", "continue", "else", "for", "function", "if", "import", "let",
                      "loop", "package", "namespace", "return", "var", "void", "while"})


@dataclass(frozen=True)
class ExprError:
    """Why a condition was refused; `position` is the 0-based character offset."""

    message: str
    position: int

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"


class ExprFailure(Exception):
    """Internal: unwinds the lexer, parser or checker; callers only ever see the `ExprError`."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.error = ExprError(message, position)


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "str", "bool", "ident", "op" (operators and `in`), "end"
    text: str  # the source text
    value: float | str | bool | None
    pos: int


def describe_char(ch: str) -> str:
    if " " < ch < "\x7f":
        return f"'{ch}'"
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an "end" token; raises ExprFailure."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            tok = _number(text, i)
            tokens.append(tok)
            i += len(tok.text)
        elif ch in "'\"":
            tok = _string(text, i)
            tokens.append(tok)
            i += len(tok.text)
        elif ch in _IDENT_START:
            j = i + 1
            while j < n and text[j] in _IDENT_CHARS:
                j += 1
            tokens.append(_word(text[i:j], i))
            i = j
        elif text[i:i + 2] in _OPS2:
            tokens.append(Token("op", text[i:i + 2], None, i))
            i += 2
        elif ch in _OPS1:
            tokens.append(Token("op", ch, None, i))
            i += 1
        else:
            raise ExprFailure(_HINTS.get(ch, f"unexpected character {describe_char(ch)}"), i)
    tokens.append(Token("end", "", None, n))
    return tokens


def _word(word: str, pos: int) -> Token:
    if word in ("true", "false"):
        return Token("bool", word, word == "true", pos)
    if word == "in":
        return Token("op", word, None, pos)
    if word == "null":
        raise ExprFailure("null is not supported (no field is ever null)", pos)
    if word in RESERVED:
        raise ExprFailure(f"'{word}' is a reserved word", pos)
    return Token("ident", word, word, pos)


def _digits_end(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _number(text: str, start: int) -> Token:
    i = _digits_end(text, start)
    is_float = False
    if i < len(text) and text[i] == "." and i + 1 < len(text) and text[i + 1] in _DIGITS:
        i, is_float = _digits_end(text, i + 1), True
    if i < len(text) and text[i] in "eE":
        j = i + 1
        if j < len(text) and text[j] in "+-":
            j += 1
        if j >= len(text) or text[j] not in _DIGITS:
            raise ExprFailure("malformed number: an exponent needs digits", start)
        i, is_float = _digits_end(text, j), True
    if i < len(text) and (text[i] in _IDENT_CHARS or text[i] == "."):
        j = i
        while j < len(text) and (text[j] in _IDENT_CHARS or text[j] == "."):
            j += 1
        raise ExprFailure(f"malformed number '{text[start:j][:20]}' (only decimal numbers)", start)
    source = text[start:i]
    if is_float:
        value = float(source)
        if not math.isfinite(value):
            raise ExprFailure(f"number {source[:20]} is out of range", start)
    else:
        exact = int(source)
        if exact > MAX_EXACT_INT:
            raise ExprFailure(f"integer {source[:20]}... is too large to be exact (at most 2**53)", start)
        value = float(exact)
    return Token("num", source, value, start)


def _string(text: str, start: int) -> Token:
    quote = text[start]
    if text.startswith(quote * 3, start):
        raise ExprFailure("triple-quoted strings are not supported", start)
    out: list[str] = []
    i = start + 1
    while True:
        if i >= len(text) or text[i] == "\n":
            raise ExprFailure("unterminated string (a string ends on the line it starts)", start)
        ch = text[i]
        if ch == quote:
            return Token("str", text[start:i + 1], "".join(out), start)
        if ch == "\\":
            decoded, i = _escape(text, i)
            out.append(decoded)
            continue
        if not ch.isprintable():
            raise ExprFailure(f"invisible or control character {describe_char(ch)} in a string: "
                              f"write it as \\u{ord(ch):04x} if it is meant", i)
        out.append(ch)
        i += 1


def _escape(text: str, i: int) -> tuple[str, int]:
    """The character that the escape at `i` stands for, and where the string goes on."""
    code = text[i + 1] if i + 1 < len(text) else ""
    if code in _ESCAPES:
        return _ESCAPES[code], i + 2
    if code == "u":
        digits = text[i + 2:i + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ExprFailure("\\u needs four hex digits", i)
        value = int(digits, 16)
        if 0xD800 <= value <= 0xDFFF:
            raise ExprFailure("\\u escape of a lone surrogate", i)
        return chr(value), i + 6
    shown = describe_char(code) if code else "end of text"
    raise ExprFailure(f"unknown escape \\ followed by {shown} (known: \\\\ \\' \\\" \\n \\r \\t \\uXXXX)", i)
