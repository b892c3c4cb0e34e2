"""Kind to mobile networks: gzip above a size, weak ETags with 304 on JSON reads, and the server's clock.

- **gzip**: answers of at least `HUXIAO_GZIP_MIN_BYTES` (1 KiB) are compressed when the client accepts gzip.
  Streams stay streams: Server-Sent Events (`/v1/stream`, `text/event-stream`) are never compressed (a proxy
  or browser would wait for a compressed block before showing an event); a streamed export is compressed
  chunk by chunk with a sync flush, so every chunk still leaves at once. Already compressed files (XLSX, zip,
  images) are sent as they are.
- **ETag / If-None-Match**: every `200` JSON answer of a `GET` under `/v1/` that is sent in one piece (lists,
  `GET /v1/me/shifts`, one school, one incident …) carries a weak ETag over its body; a request whose
  `If-None-Match` holds it is answered `304 Not Modified` with no body. Streamed answers (exports, the live
  feed) carry none. The ETag is computed after the handler ran, so a 304 saves the bytes on the air, not the
  query: that is what a phone on a weak network pays for.
- **`GET /v1/time`**: the server's clock, public, so a phone measures its clock's skew before it signs in or posts.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.responses import Response

from api import lean
from api.schemas import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

GZIP_LEVEL = 6  # zlib's default: most of level 9's saving for a third of its CPU
# Compressed already: gzip would only cost CPU.
GZIP_EXCLUDED = (*DEFAULT_EXCLUDED_CONTENT_TYPES,
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
ETAG_PREFIX = "/v1/"
REVALIDATE = b"private, no-cache"


def gzip(app, *, minimum_size: int) -> GZipMiddleware:
    """The app wrapped in Starlette's GZip middleware as huxiao uses it (level 6, SSE and zips left alone)."""
    return GZipMiddleware(app, minimum_size=minimum_size, compresslevel=GZIP_LEVEL,
                          exclude_content_types=GZIP_EXCLUDED)


def weak_etag(body: bytes) -> bytes:
    """`W/"…"`: 128 bits of BLAKE2b over the body, base64url. Weak: the same JSON gzipped or not is equivalent."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return b'W/"' + base64.urlsafe_b64encode(digest).rstrip(b"=") + b'"'


def etag_matches(if_none_match: str, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal to ours under weak comparison (the `W/` ignored)."""
    ours = etag.decode("ascii").removeprefix("W/")
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == ours:
            return True
    return False


class ETags:
    """ASGI middleware: a weak ETag on each `200` JSON answer of a `GET` under `/v1/` sent in one body message,
    and `304 Not Modified` (no body) when the request's `If-None-Match` holds it. Anything else passes untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(ETAG_PREFIX):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        held: list[dict] = []  # the response start, while we wait for the body
        passing = [False]

        async def send_tagged(message) -> None:
            if passing[0]:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                if (message["status"] != 200 or "etag" in headers or "no-store" in headers.get("cache-control", "")
                        or "json" not in headers.get("content-type", "")):
                    passing[0] = True
                    await send(message)
                else:
                    held.append(message)
                return
            if message["type"] != "http.response.body" or not held:
                await send(message)
                return
            start = held.pop()
            passing[0] = True
            if message.get("more_body", False):  # streamed: no tag (the whole body is not known yet)
                await send(start)
                await send(message)
                return
            tag = weak_etag(message.get("body", b""))
            headers = MutableHeaders(raw=start.setdefault("headers", []))
            headers.raw.append((b"etag", tag))
            if "cache-control" not in headers:
                headers.raw.append((b"cache-control", REVALIDATE))
            if if_none_match is not None and etag_matches(if_none_match, tag):
                kept = [(k, v) for k, v in headers.raw if k not in (b"content-length", b"content-type")]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(start)
            await send(message)

        await self.app(scope, receive, send_tagged)


class ServerTime(BaseModel):
    now: datetime = Field(description="The server's clock (UTC, RFC 3339).")
    epoch_ms: int = Field(description="The same instant in milliseconds since 1970-01-01T00:00:00Z.")


@router.get("/time", response_model=ServerTime, tags=["operations"],
            summary="The server's clock (no credentials needed): a phone measures its clock's skew with it")
async def server_time(request: Request) -> Response:
    """A phone takes `t0` before the request and `t1` after the answer; its clock is behind the server's by
    `epoch_ms − (t0 + t1) / 2`, give or take half the round trip."""
    now = lean.now(request).astimezone(UTC)
    body = {"now": now, "epoch_ms": int(now.timestamp() * 1000)}
    response = lean.json_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response
