"""Strict reading of Python literals in model output, for paper mode. Nothing is evaluated.

The STAR-1 reference hands its classifier's and judge's replies to Python's ``eval``. Paper mode must
accept every well-formed answer that would accept — single-quoted strings, trailing commas,
implicit string concatenation, the exact whitespace rules of ``eval`` — without ever running
model output. So the text is parsed with :func:`ast.parse` and the tree is walked: only string,
number, boolean and None constants, lists, tuples and dicts (with a sign on numbers) are
literals; a name, call, operator or comprehension is an error, as is a key given twice.
"""

from __future__ import annotations

import ast
from typing import Any

from star1.parsing import ParseError

MAX_CHARS = 20_000  # a category list or three scores are a few hundred characters
MAX_DEPTH = 20


def eval_source(text: str) -> str:
    """What builtin ``eval`` actually compiles: it strips leading spaces and tabs only (so a
    leading newline is fine, trailing indentation is not)."""
    return text.lstrip(" \t")


def parse_literal(text: str) -> Any:
    """The literal value of ``text`` as Python's ``eval`` would give it, or :class:`ParseError`."""
    if len(text) > MAX_CHARS:
        raise ParseError(f"answer too long for a literal ({len(text)} characters, limit {MAX_CHARS})")
    try:
        tree = ast.parse(eval_source(text), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ParseError(f"not a Python literal ({reason})") from None
    return _value(tree.body, 0)


def _value(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ParseError(f"literal nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.List):
        return [_value(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, depth + 1) for e in node.elts)
    if isinstance(node, ast.Dict):
        out: dict = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                raise ParseError("'**' unpacking is not a literal")
            key = _value(key_node, depth + 1)
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise ParseError(f"unhashable dict key {key!r}")
            if key in out:
                raise ParseError(f"key {key!r} given twice")
            out[key] = _value(value_node, depth + 1)
        return out
    raise ParseError(f"not a literal: {type(node).__name__} at column {getattr(node, 'col_offset', 0) + 1}")


def fenced_json_block(text: str) -> str | None:
    """The text of the first ````json … ```` block, stripped, as the reference's judges read it
    (``re.search(r"```json([\\s\\S]*?)```", text)``, then ``.strip()``), found in one pass."""
    start = text.find("```json")
    if start < 0:
        return None
    end = text.find("```", start + 7)
    if end < 0:
        return None
    return text[start + 7:end].strip()
