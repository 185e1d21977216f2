"""The syntax tree of a condition, and its recursive-descent parser.

The grammar is CEL's, cut down (lowest precedence first):

    expr     = or ["?" or ":" expr]
    or       = and {"||" and}
    and      = relation {"&&" relation}
    relation = sum {("<" | "<=" | ">" | ">=" | "==" | "!=" | "in") sum}
    sum      = product {("+" | "-") product}
    product  = unary {("*" | "/" | "%") unary}
    unary    = {"!" | "-"} member
    member   = primary {"." IDENT "(" [args] ")"}
    primary  = NUMBER | STRING | true | false | IDENT ["(" [args] ")"] | "(" expr ")" | "[" [args] [","] "]"

Chains of `&&` and of `||` become one node each, so a long list of alternatives
does not count as deep nesting; every other operator adds a level.
"""

from __future__ import annotations

from dataclasses import dataclass

from lepton_stream.rules.lexer import MAX_CHARS, ExprFailure, Token, tokenize

MAX_DEPTH = 32
MAX_LIST_ITEMS = 1_000
_RELATIONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in"})


@dataclass(frozen=True)
class Node:
    pos: int  # where an error about this node points: its operator, or its first character
    height: int  # 1 for a leaf


@dataclass(frozen=True)
class Literal(Node):
    value: float | str | bool


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Logical(Node):
    op: str  # "&&" or "||"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Conditional(Node):
    test: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class ListLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]
    target: Node | None  # the receiver of a method call, `s` in `s.startsWith("x")`


def parse(text: str) -> Node:
    """The tree of `text`; raises ExprFailure."""
    if len(text) > MAX_CHARS:
        raise ExprFailure(f"the expression has {len(text)} characters, more than {MAX_CHARS}", MAX_CHARS)
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "end":
        raise ExprFailure("empty expression", 0)
    node = parser.expr()
    tok = parser.peek()
    if tok.kind != "end":
        if tok.text == ")":
            raise ExprFailure("')' without a matching '('", tok.pos)
        raise ExprFailure(f"expected an operator or the end, got {_shown(tok)}", tok.pos)
    return node


def _shown(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the expression"
    kind = {"num": "number", "str": "string", "ident": "name", "bool": "", "op": ""}[tok.kind]
    return f"{kind} '{tok.text[:30]}'".lstrip()


def _height(*children: Node) -> int:
    return 1 + max(c.height for c in children)


def _checked(node: Node) -> Node:
    if node.height > MAX_DEPTH:
        raise ExprFailure(f"the expression nests more than {MAX_DEPTH} levels deep", node.pos)
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0  # open parentheses, brackets, calls and branches: bounds the recursion

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.text == text

    def expect(self, text: str, opened: Token | None = None) -> Token:
        if not self.at(text):
            tok = self.peek()
            also = f" to close '{opened.text}' at position {opened.pos}" if opened else ""
            raise ExprFailure(f"expected '{text}'{also}, got {_shown(tok)}", tok.pos)
        return self.take()

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprFailure(f"the expression nests more than {MAX_DEPTH} levels deep", self.peek().pos)
        try:
            test = self.logical("||")
            if not self.at("?"):
                return test
            question = self.take()
            then = self.logical("||")
            self.expect(":", question)
            other = self.expr()
            return _checked(Conditional(question.pos, _height(test, then, other), test, then, other))
        finally:
            self.depth -= 1

    def logical(self, op: str) -> Node:
        inner = self.relation if op == "&&" else lambda: self.logical("&&")
        first = inner()
        operands = [first]
        pos = -1
        while self.at(op):
            tok = self.take()
            pos = tok.pos if pos < 0 else pos
            operands.append(inner())
        if len(operands) == 1:
            return first
        return _checked(Logical(pos, _height(*operands), op, tuple(operands)))

    def relation(self) -> Node:
        left = self.sum()
        while self.peek().kind == "op" and self.peek().text in _RELATIONS:
            tok = self.take()
            right = self.sum()
            left = _checked(Binary(tok.pos, _height(left, right), tok.text, left, right))
        return left

    def sum(self) -> Node:
        left = self.product()
        while self.at("+") or self.at("-"):
            tok = self.take()
            right = self.product()
            left = _checked(Binary(tok.pos, _height(left, right), tok.text, left, right))
        return left

    def product(self) -> Node:
        left = self.unary()
        while self.at("*") or self.at("/") or self.at("%"):
            tok = self.take()
            right = self.unary()
            left = _checked(Binary(tok.pos, _height(left, right), tok.text, left, right))
        return left

    def unary(self) -> Node:
        ops: list[Token] = []
        while self.at("!") or self.at("-"):
            ops.append(self.take())
        node = self.member()
        for tok in reversed(ops):
            node = _checked(Unary(tok.pos, _height(node), tok.text, node))
        return node

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.at("["):
                raise ExprFailure("indexing with [] is not supported", self.peek().pos)
            if not self.at("."):
                return node
            dot = self.take()
            name = self.take()
            if name.kind != "ident":
                raise ExprFailure(f"expected a method name after '.', got {_shown(name)}", name.pos)
            if not self.at("("):
                raise ExprFailure(f"field selection '.{name.text}' is not supported (the one method is "
                                  f"startsWith(...))", dot.pos)
            args = self.args(self.take(), ")")
            node = _checked(Call(dot.pos, _height(node, *args), name.text, args, node))

    def args(self, opened: Token, close: str) -> tuple[Node, ...]:
        """The comma-separated expressions up to `close` (a trailing comma allowed in lists)."""
        items: list[Node] = []
        while not self.at(close):
            if len(items) == MAX_LIST_ITEMS:
                raise ExprFailure(f"a list has at most {MAX_LIST_ITEMS} items", self.peek().pos)
            items.append(self.expr())
            if not self.at(","):
                break
            comma = self.take()
            if close == ")" and self.at(")"):
                raise ExprFailure("expected an argument after ','", comma.pos)
        self.expect(close, opened)
        return tuple(items)

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind in ("num", "str", "bool"):
            assert tok.value is not None
            return Literal(tok.pos, 1, tok.value)
        if tok.kind == "ident":
            if self.at("("):
                args = self.args(self.take(), ")")
                return _checked(Call(tok.pos, _height(*args) if args else 1, tok.text, args, None))
            return Name(tok.pos, 1, tok.text)
        if tok.text == "(" and tok.kind == "op":
            node = self.expr()
            self.expect(")", tok)
            return node
        if tok.text == "[" and tok.kind == "op":
            items = self.args(tok, "]")
            return _checked(ListLiteral(tok.pos, _height(*items) if items else 1, items))
        if tok.kind == "end":
            raise ExprFailure("unexpected end of the expression", tok.pos)
        raise ExprFailure(f"unexpected {_shown(tok)}", tok.pos)
