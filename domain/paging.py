"""Keyset paging: an opaque cursor holds the sort key of the last row returned."""

from __future__ import annotations

import base64
import json
from typing import Any

from domain.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def encode_cursor(key: list[Any]) -> str:
    """Encode the last row's sort key (JSON-serialisable values) as an opaque, URL-safe string."""
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    """Decode a cursor made by `encode_cursor`; a cursor that was not made here is invalid input."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("cursor is not one this server issued", field="cursor")
    return key


def page_of(rows: list[Any], *, limit: int, key) -> tuple[list[Any], str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor of the next one (None at the end)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
