"""Text a request may not carry into the database, refused at the edge with the field it sits in.

PostgreSQL cannot store NUL (U+0000) in text nor lone UTF-16 surrogates, and JSON has no NaN or Infinity: Python's
decoder accepts all of them (and turns 1e400 into infinity), and they would fail deep in a statement. So
`RequestContext` watches each request: a query string or path with `%00` and a JSON body with any of them is a
422 problem naming the field. The body check costs one regular-expression scan per chunk; only a body that
looks suspicious is decoded strictly and walked to find the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from domain.errors import InvalidInput

# Escapes of NUL and of surrogates (pairs are fine, lone ones are not: the walk decides), the non-JSON
# constants, exponents large enough to overflow a float, and integers too long for 64 bits.
SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|NaN|Infinity|[0-9][eE][+]?[0-9]{3}|[0-9]{19}")
SUSPECT_OVERLAP = 12  # bytes of one chunk kept to catch a match that spans two
NUL_IN_URL = re.compile(rb"%00")
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send a number or null")


def bad_text(value: str) -> str | None:
    if "\x00" in value:
        return "text must not contain NUL (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must not contain a lone UTF-16 surrogate"
    return None


def _walk(value: Any, path: list[str]) -> tuple[list[str], str] | None:
    if isinstance(value, str):
        problem = bad_text(value)
        return (path, problem) if problem else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "number out of range (finite numbers only)")
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        return path, "number out of range (64-bit integers only)"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = bad_text(key)
            if problem:
                return [*path, key.encode("utf-8", "backslashreplace").decode()], problem
            found = _walk(item, [*path, key])
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = _walk(item, [*path, str(n)])
            if found:
                return found
    return None


def check_json_body(raw: bytes) -> None:
    """Refuse (422 naming the field) a JSON body carrying NUL, a lone surrogate, NaN/Infinity or a number that
    overflows; a body that is not JSON at all is left to the endpoint's own error."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        if "is not JSON" in str(exc):
            raise InvalidInput(str(exc), field="body") from None
        return
    found = _walk(value, [])
    if found:
        path, problem = found
        raise InvalidInput(problem, field=".".join(path) or "body")


def check_url(query_string: bytes, raw_path: bytes | None) -> None:
    """Refuse a path or query parameter carrying NUL (`%00`), naming the parameter."""
    if raw_path and NUL_IN_URL.search(raw_path):
        raise InvalidInput("the path must not contain NUL (%00)", field="path")
    if query_string and NUL_IN_URL.search(query_string):
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                raise InvalidInput("text must not contain NUL (U+0000)", field=key.replace("\x00", "") or "query")
        raise InvalidInput("text must not contain NUL (U+0000)", field="query")
