"""n8n parameter templates: `=...{{ expression }}...`, resolved as n8n resolves them.

A parameter that starts with `=` is a template. When it is one `{{ }}` and nothing else,
its value is the expression's value (an array stays an array); otherwise each value is
turned into text (`to_text`) and spliced in. Expressions compile with n8n_expr.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.support.n8n_expr import ExpressionError
from tests.support.n8n_expr import compile_expression
from tests.support.n8n_expr import js_stringify
from tests.support.n8n_expr import to_text

GLOBALS: dict[str, Any] = {
    "JSON": {"stringify": js_stringify},
    "encodeURIComponent": lambda text: quote(to_text(text), safe="-_.!~*'()"),
}


def split_template(template: str) -> list[tuple[bool, str]]:
    """Split a template (without its leading `=`) into `(is_expression, text)` pieces.

    A `}}` ends an expression only outside string literals and object braces, so a JSON
    body ending in `}}` is not cut short.
    """
    pieces, pos = [], 0
    while (start := template.find("{{", pos)) != -1:
        pieces.append((False, template[pos:start]))
        end = _expression_end(template, start + 2)
        pieces.append((True, template[start + 2 : end]))
        pos = end + 2
    pieces.append((False, template[pos:]))
    return [piece for piece in pieces if piece[1]]


def _expression_end(template: str, pos: int) -> int:
    depth, quote_char = 0, None
    while pos < len(template):
        char = template[pos]
        if quote_char:
            if char == "\\":
                pos += 1
            elif char == quote_char:
                quote_char = None
        elif char in "'\"`":
            quote_char = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and template.startswith("}}", pos):
                return pos
            depth -= 1
        pos += 1
    raise ExpressionError(f"unclosed {{{{ in {template!r}")


def evaluate(value: Any, scope: dict) -> Any:
    """Resolve a parameter value: templates (`=...`) are evaluated, anything else returned."""
    if not (isinstance(value, str) and value.startswith("=")):
        return value
    pieces = split_template(value[1:])
    if len(pieces) == 1 and pieces[0][0]:
        return compile_expression(pieces[0][1])({**GLOBALS, **scope})
    parts = []
    for is_expression, text in pieces:
        parts.append(
            to_text(compile_expression(text)({**GLOBALS, **scope})) if is_expression else text
        )
    return "".join(parts)


def expressions_in(value: Any) -> list[str]:
    """Return every `{{ }}` expression in a parameter tree (for the structural checks)."""
    if isinstance(value, dict):
        return [e for item in value.values() for e in expressions_in(item)]
    if isinstance(value, list):
        return [e for item in value for e in expressions_in(item)]
    if isinstance(value, str) and value.startswith("="):
        return [text for is_expr, text in split_template(value[1:]) if is_expr]
    return []
