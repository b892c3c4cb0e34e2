"""Keyset paging: an opaque cursor holds the sort key of the last row returned.

Cursors are signed (HMAC-SHA256 with the server key, truncated to 128 bits): a crafted cursor — well-formed JSON
with values of the wrong type or out of range — is refused as invalid input naming `cursor` before any of its
values reach a statement. Every worker signs with the same key (`use_key`, from the settings at startup), so a
cursor from one worker pages on any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from domain.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


_key = secrets.token_bytes(32)
SIGNATURE_BYTES = 16
CURSOR_MAX_CHARS = 2048


def use_key(secret: str) -> None:
    """Sign cursors with a key derived from the server secret (the same on every worker)."""
    global _key
    _key = hashlib.sha256(b"huxiao-cursor:" + secret.encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def _signature(payload: str) -> bytes:
    return hmac.new(_key, payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def encode_cursor(key: list[Any]) -> str:
    """Encode the last row's sort key (JSON-serialisable values) as an opaque, signed, URL-safe string."""
    payload = _b64(json.dumps(key, separators=(",", ":"), default=str).encode())
    return f"{payload}.{_b64(_signature(payload))}"


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    """Decode a cursor made by `encode_cursor`; a cursor that was not made here is invalid input."""
    if cursor is None or cursor == "":
        return None
    refused = InvalidInput("cursor is not one this server issued; start again without it", field="cursor")
    payload, dot, signature = cursor.partition(".")
    if not dot or len(cursor) > CURSOR_MAX_CHARS:
        raise refused
    try:
        if not hmac.compare_digest(_unb64(signature), _signature(payload)):
            raise refused
        key = json.loads(_unb64(payload))
    except (ValueError, UnicodeError) as exc:
        raise refused from exc
    if not isinstance(key, list) or len(key) != arity:
        raise refused
    return key


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (time, id) position of a cursor made for a list keyset on a timestamp and an id (newest first)."""
    after = decode_cursor(cursor, arity=2)
    if after is None:
        return None
    try:
        return datetime.fromisoformat(after[0]), uuid.UUID(after[1])
    except (TypeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc


def page_of(rows: list[Any], *, limit: int, key) -> tuple[list[Any], str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor of the next one (None at the end)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None
