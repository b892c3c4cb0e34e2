"""Request ids, JSON logs, Prometheus metrics, body-size limit and the last-resort error answer.

One pure ASGI middleware does all of it, so a request pays for one wrapper, not five.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from api.inputs import SUSPECT, SUSPECT_OVERLAP, check_json_body, check_url
from api.problems import BodyTooLarge, domain_problem, is_database_unavailable, problem, unavailable_problem
from domain.errors import DomainError

log = logging.getLogger("huxiao.request")

REQUESTS = Counter("huxiao_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "huxiao_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_POOL_IN_USE = Gauge("huxiao_db_pool_connections_in_use", "Database connections checked out of the pool")

REQUEST_ID_HEADER = b"x-request-id"
# On every answer unless the route set its own: no MIME sniffing, no referrer (share links carry keys in URLs),
# no framing of API answers.
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"))
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _skip = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._skip:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.disabled = True
    if not any(isinstance(f, RedactKeys) for f in access.filters):
        access.addFilter(RedactKeys())  # should anyone turn uvicorn's access log back on


_KEY_IN_QUERY = re.compile(r"([?&](?:api_)?key=)[^&\s\"]*", re.IGNORECASE)


def redact_keys(text: str) -> str:
    """`text` with the value of every `key=` query parameter (share links, API keys in URLs) blanked."""
    return _KEY_IN_QUERY.sub(r"\1[redacted]", text) if "key=" in text.lower() else text


class RedactKeys(logging.Filter):
    """Blanks API keys sent in a URL's query string from a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_keys(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(a) if isinstance(a, str) else a for a in record.args)
        return True


class RequestContext:
    """ASGI middleware: request id in and out, metrics and a log line per request, body cap, 500/503."""

    def __init__(
        self,
        app,
        *,
        max_body_bytes: int,
        body_limit_for: Callable[[str], int] | None = None,
        retry_after_s: int = 5,
        json_paths_exempt: tuple[str, ...] = (),
        takes_any_body: Callable[[str], bool] | None = None,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limit_for = body_limit_for or (lambda path: max_body_bytes)
        self.retry_after_s = retry_after_s
        self.json_paths_exempt = json_paths_exempt
        self.takes_any_body = takes_any_body or (lambda path: False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        content_length = None
        content_type = b""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                candidate = value.decode("latin-1")
                if _SAFE_REQUEST_ID.match(candidate):
                    request_id = candidate
            elif name == b"content-length":
                content_length = value
            elif name == b"content-type":
                content_type = value
        if request_id is None:
            request_id = f"{random.getrandbits(128):032x}"  # random reseeds itself after fork
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (REQUEST_ID_HEADER, request_id.encode())
        status_holder = [500]
        started_response = [False]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                started_response[0] = True
                headers = message.get("headers", [])
                present = {name.lower() for name, _ in headers}
                message["headers"] = [*headers, rid_header,
                                      *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        method = scope["method"]
        path = scope["path"]
        early = None
        if b"%00" in scope.get("query_string", b"") or b"%00" in (scope.get("raw_path") or b""):
            try:
                check_url(scope.get("query_string", b""), scope.get("raw_path"))
            except DomainError as exc:
                early = domain_problem(exc, request_id)
        if early is None and method in _BODY_METHODS:
            limit = self.body_limit_for(path)
            if content_length is not None:
                try:
                    too_big = int(content_length) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    early = problem(413, detail=f"The body is larger than {limit} bytes.",
                                    kind="body-too-large", request_id=request_id)
            if early is None and path.startswith("/v1/") and content_length not in (None, b"0"):
                if (not path.startswith(self.json_paths_exempt) and b"json" not in content_type.lower()
                        and not self.takes_any_body(path)):
                    early = problem(415, detail="Send the body as application/json.",
                                    kind="unsupported-media-type", request_id=request_id)
            if early is None:
                receive = _capped(receive, limit, inspect_json=b"json" in content_type.lower())

        try:
            if early is not None:
                await early(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the last resort: never a stack trace on the wire
            if is_database_unavailable(exc):
                log.warning("database unavailable", extra={"request_id": request_id, "error": repr(exc)})
                response = unavailable_problem(self.retry_after_s, request_id)
            else:
                log.exception("unhandled error", extra={"request_id": request_id})
                response = problem(500, detail="An unexpected error occurred; it has been logged.",
                                   kind="internal-error", request_id=request_id)
            if not started_response[0]:
                await response(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            status = status_holder[0]
            counter, histogram = _metric_children(method, template, status)
            counter.inc()
            histogram.observe(elapsed)
            if status >= 500 or log.isEnabledFor(logging.DEBUG) or template != "/healthz":
                log.info(
                    "request",
                    extra={"request_id": request_id, "method": method, "path": path, "route": template,
                           "status": status, "duration_ms": round(elapsed * 1000, 2)},
                )


_CHILDREN: dict[tuple[str, str, int], tuple] = {}
_CHILDREN_MAX = 4096


def _metric_children(method: str, route: str, status: int) -> tuple:
    """The labelled counter and histogram, cached: `.labels()` costs more than the observation itself."""
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        if len(_CHILDREN) >= _CHILDREN_MAX:  # the method comes from the client; keep the cache bounded
            _CHILDREN.clear()
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _CHILDREN[key] = children
    return children


def _capped(receive, limit: int, *, inspect_json: bool = False):
    """`receive` that refuses a body over `limit` bytes and, for JSON, text PostgreSQL cannot store (api/inputs.py):
    each chunk is scanned as it arrives; only a suspicious body is decoded and walked, once complete."""
    seen = 0
    chunks: list[bytes] = []
    suspect = False
    tail = b""

    async def wrapped():
        nonlocal seen, suspect, tail
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise BodyTooLarge(limit)
            if inspect_json:
                chunks.append(chunk)
                if not suspect and SUSPECT.search(tail + chunk):
                    suspect = True
                tail = chunk[-SUSPECT_OVERLAP:]
                if suspect and not message.get("more_body", False):
                    check_json_body(b"".join(chunks))
        return message

    return wrapped
