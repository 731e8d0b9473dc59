"""Evaluate the n8n expressions our workflows use (the inside of `{{ }}`), as n8n would.

The templates around them are resolved by n8n_template.py. This module compiles a small
JavaScript subset: literals, arrays and objects, member and index access (`?.` too), calls,
one-parameter arrow functions, `!`, `+`, `===`, `!==`, `&&`, `||`. Anything else raises
`ExpressionError`, so a workflow that outgrows the subset fails its replay test instead of
being replayed wrongly. Reading a missing field raises too: in n8n it would silently give
`undefined` and send a broken request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<op>===|!==|=>|&&|\|\||\?\.|[.,()\[\]{}:!+]))"
)


class ExpressionError(ValueError):
    """An expression is outside the subset, or reads something that does not exist."""


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split an expression into `(kind, text)` tokens. :raise ExpressionError: bad input."""
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unsupported syntax at {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the subset; builds closures `scope -> value`."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self, offset: int = 0) -> str | None:
        index = self.pos + offset
        return self.tokens[index][1] if index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("unexpected end of expression")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def expression(self) -> Callable[[dict], Any]:
        if self.peek(1) == "=>" and self.tokens[self.pos][0] == "name":
            param = self.take()[1]
            self.take("=>")
            body = self.expression()
            return lambda scope: lambda value: body({**scope, param: value})
        return self.binary(0)

    _LEVELS = (("||",), ("&&",), ("===", "!=="), ("+",))

    def binary(self, level: int) -> Callable[[dict], Any]:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _combine(op, left, right)
        return left

    def unary(self) -> Callable[[dict], Any]:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda scope: not _truthy(inner(scope))
        return self.postfix(self.primary())

    def postfix(self, target: Callable[[dict], Any]) -> Callable[[dict], Any]:
        while self.peek() in (".", "?.", "[", "("):
            op = self.take()[1]
            if op in (".", "?."):
                target = _member(target, self.take()[1], optional=op == "?.")
            elif op == "[":
                key = self.expression()
                self.take("]")
                target = _index(target, key)
            else:
                target = _call(target, self.arguments(")"))
        return target

    def arguments(self, closing: str) -> list[Callable[[dict], Any]]:
        items = []
        while self.peek() != closing:
            items.append(self.expression())
            if self.peek() == ",":
                self.take()
        self.take(closing)
        return items

    def primary(self) -> Callable[[dict], Any]:
        kind, text = self.take()
        if kind == "num":
            value = float(text) if "." in text else int(text)
            return lambda scope: value
        if kind == "str":
            value = json.loads('"' + text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"')
            return lambda scope: value
        if kind == "name":
            return _name(text)
        if text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if text == "[":
            items = self.arguments("]")
            return lambda scope: [item(scope) for item in items]
        if text == "{":
            return self.object_literal()
        raise ExpressionError(f"unexpected {text!r}")

    def object_literal(self) -> Callable[[dict], Any]:
        fields = []
        while self.peek() != "}":
            kind, key = self.take()
            key = json.loads(key) if kind == "str" else key
            self.take(":")
            fields.append((key, self.expression()))
            if self.peek() == ",":
                self.take()
        self.take("}")
        return lambda scope: {key: value(scope) for key, value in fields}


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", UNDEFINED)


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()
_CONSTANTS = {"null": None, "true": True, "false": False, "undefined": UNDEFINED}


def _name(text: str) -> Callable[[dict], Any]:
    if text in _CONSTANTS:
        value = _CONSTANTS[text]
        return lambda scope: value

    def lookup(scope: dict) -> Any:
        if text not in scope:
            raise ExpressionError(f"unknown name {text}")
        return scope[text]

    return lookup


def _combine(op: str, left: Callable, right: Callable) -> Callable[[dict], Any]:
    if op == "||":
        return lambda s: left(s) if _truthy(left(s)) else right(s)
    if op == "&&":
        return lambda s: right(s) if _truthy(left(s)) else left(s)
    if op == "===":
        return lambda s: left(s) == right(s)
    if op == "!==":
        return lambda s: left(s) != right(s)
    return lambda s: _plus(left(s), right(s))


def _plus(a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        return to_text(a) + to_text(b)
    return a + b


def _member(target: Callable, name: str, optional: bool) -> Callable[[dict], Any]:
    def get(scope: dict) -> Any:
        value = target(scope)
        if optional and value in (None, UNDEFINED):
            return UNDEFINED
        return member(value, name)

    return get


def _index(target: Callable, key: Callable) -> Callable[[dict], Any]:
    def get(scope: dict) -> Any:
        value, wanted = target(scope), key(scope)
        if isinstance(value, list) and isinstance(wanted, int):
            if not 0 <= wanted < len(value):
                raise ExpressionError(f"index {wanted} out of range")
            return value[wanted]
        return member(value, str(wanted))

    return get


def _call(target: Callable, args: list[Callable]) -> Callable[[dict], Any]:
    def call(scope: dict) -> Any:
        function = target(scope)
        if not callable(function):
            raise ExpressionError(f"{function!r} is not a function")
        return function(*(arg(scope) for arg in args))

    return call


def member(value: Any, name: str) -> Any:
    """Read `value.name` the way JavaScript would, for the types a workflow sees.

    :raise ExpressionError: the field does not exist (n8n would give `undefined`).
    """
    if isinstance(value, dict):
        if name not in value:
            raise ExpressionError(f"no field {name!r} in {sorted(value)}")
        return value[name]
    if isinstance(value, list):
        methods = {
            "length": len(value),
            "map": lambda fn: [fn(item) for item in value],
            "join": lambda sep=",": sep.join(to_text(item) for item in value),
        }
    elif isinstance(value, str):
        methods = {"length": len(value)}
    elif hasattr(value, "js_member"):
        return value.js_member(name)
    else:
        methods = {}
    if name not in methods:
        raise ExpressionError(f"no member {name!r} on {type(value).__name__}")
    return methods[name]


def to_text(value: Any) -> str:
    """Turn a value into the text n8n splices into a template."""
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if value is None or value is UNDEFINED:
        # n8n splices nothing, silently: a body would lose a value.
        raise ExpressionError("null or undefined spliced into text")
    # n8n splices "[object Object]" (or "a,b" for an array): never what a body wants.
    raise ExpressionError("an object or array spliced into text; use JSON.stringify")


def js_stringify(value: Any) -> str:
    """`JSON.stringify(value)` as JavaScript writes it: `1.0` is `1`, no spaces."""

    def plain(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {key: plain(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [plain(inner) for inner in item]
        return item

    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False)


def compile_expression(text: str) -> Callable[[dict], Any]:
    """Compile the inside of one `{{ }}`. :raise ExpressionError: outside the subset."""
    parser = _Parser(tokenize(text))
    compiled = parser.expression()
    if parser.pos != len(parser.tokens):
        raise ExpressionError(f"trailing tokens in {text!r}")
    return compiled
