"""Webhooks: HTTPS endpoints an admin registers per jurisdiction, told of events as signed POSTs.

- **Which events.** `EVENTS` maps each webhook event name to the event-log kind (`domain/events.py`) it comes
  from and, where one log kind carries several things, a test on the payload. Adding one (as
  `"hazard.overdue": Route("hazard.overdue")` was, with the hazard ledgers) is one line here.
- **Outbox.** `events.publish` hands each event that maps to a webhook event to `PUBLISH_HOOKED`, which inserts
  the event and one `webhook_deliveries` row per active webhook of its jurisdiction or an ancestor subscribed
  to that name, in the writer's transaction: an event is queued for delivery exactly when its write commits,
  and a restart loses nothing. The row keeps the body it will send (the event log is pruned after a day).
- **Signing.** Each webhook has a secret `whsec_…`, shown once at creation (and at rotation); it is kept
  encrypted (Fernet, the key derived from `HUXIAO_WEBHOOK_SECRET_KEY` or the JWT secret). A delivery carries
  `Huxiao-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>`, like Stripe.
- **Targets.** `https://` only (`http://` with `HUXIAO_WEBHOOK_ALLOW_HTTP`); every address the host resolves
  to must be public (`ipaddress`: no loopback, private, link-local, shared, reserved or multicast) unless
  `HUXIAO_WEBHOOK_ALLOW_PRIVATE`; checked at registration and again before each delivery, which then connects
  to the checked address (DNS rebinding cannot swap in another).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import InvalidInput, NotFound
from domain.paging import decode_cursor, page_of
from domain.settings import Settings

CHANNEL = "huxiao_webhooks"
"""NOTIFYed (on commit) whenever deliveries become due now, so the delivery workers wake at once."""

WEBHOOKS_PER_JURISDICTION_MAX = 20
URL_MAX_CHARS = 2000
RESOLVE_TIMEOUT_S = 3.0
SIGNATURE_HEADER = "Huxiao-Signature"
EVENT_ID_HEADER = "Huxiao-Event-Id"
EVENT_HEADER = "Huxiao-Event"
DELIVERY_HEADER = "Huxiao-Delivery-Id"
STATES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class Route:
    """Where a webhook event comes from: an event-log kind, and for kinds that carry several things, a test
    on the payload."""

    log_kind: str
    when: Callable[[dict[str, Any]], bool] = lambda _payload: True


EVENTS: dict[str, Route] = {
    "incident.created": Route("incident.created"),
    "incident.tier_missed": Route("incident.tier_missed"),
    "duty.uncovered_post": Route("duty.alert", lambda p: p.get("kind") == "uncovered_post"),
    "duty.off_post": Route("duty.alert", lambda p: p.get("kind") == "off_post"),
    "hazard.overdue": Route("hazard.overdue"),
}
"""Webhook event name → its source in the event log. The names are what an admin subscribes to."""

_BY_LOG_KIND: dict[str, list[tuple[str, Route]]] = {}
for _name, _route in EVENTS.items():
    _BY_LOG_KIND.setdefault(_route.log_kind, []).append((_name, _route))


def webhook_event(kind: str, payload: dict[str, Any]) -> str | None:
    """The webhook event name an event-log event is delivered as, or None when no webhook can want it."""
    for name, route in _BY_LOG_KIND.get(kind, ()):
        if route.when(payload):
            return name
    return None


# --- the outbox: queued with the event, in the writer's transaction --------------------------------------

def _body_sql(event: str, at: str, code: str, payload: str, key: str) -> str:
    return (f"json_build_object('id', {key}, 'type', {event}, 'created_at', {at}, "
            f"'jurisdiction_code', {code}, 'data', {payload})::text")


# The events are numbered by id in the order they were handed in (`ORDER BY e.n` assigns ids in that order),
# which pairs each with its webhook event name; every code names a jurisdiction (they come from stored rows).
PUBLISH_HOOKED = Query(f"""
    WITH new_events AS (
        INSERT INTO events (kind, jurisdiction_code, path, payload)
        SELECT e.kind, e.code, j.path, e.payload
        FROM unnest(CAST(:kinds AS text[]), CAST(:codes AS text[]), CAST(:payloads AS jsonb[]))
             WITH ORDINALITY AS e(kind, code, payload, n)
        JOIN jurisdictions j ON j.code = e.code
        ORDER BY e.n
        RETURNING id, at, kind, jurisdiction_code, path, payload
    ),
    numbered AS (SELECT ne.*, row_number() OVER (ORDER BY ne.id) AS n FROM new_events ne),
    hooked AS (
        INSERT INTO webhook_deliveries (id, webhook_id, event_key, event, body)
        SELECT gen_random_uuid(), w.id, 'evt_' || e.id, h.name,
               {_body_sql("h.name", "e.at", "e.jurisdiction_code", "e.payload", "'evt_' || e.id")}
        FROM numbered e
        JOIN unnest(CAST(:hooks AS text[])) WITH ORDINALITY AS h(name, n) ON h.n = e.n
        JOIN webhooks w ON w.active AND h.name = ANY(w.events)
        JOIN jurisdictions wj ON wj.code = w.jurisdiction_code AND e.path <@ wj.path
        ON CONFLICT (webhook_id, event_key) DO NOTHING
        RETURNING 1
    )
    SELECT pg_notify(:channel, json_build_object('id', id, 'kind', kind, 'path', path::text)::text)
    FROM new_events
    UNION ALL
    SELECT pg_notify(:hook_channel, 'due') FROM (SELECT 1 FROM hooked LIMIT 1) h
""")


# --- secrets ---------------------------------------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _fernet(settings: Settings) -> Fernet:
    material = settings.webhook_secret_key or settings.resolved_jwt_secret()
    key = hashlib.sha256(b"huxiao-webhook-secrets\x00" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal_secret(settings: Settings, secret: str) -> bytes:
    return _fernet(settings).encrypt(secret.encode())


def open_secret(settings: Settings, sealed: bytes) -> str:
    try:
        return _fernet(settings).decrypt(bytes(sealed)).decode()
    except InvalidToken as exc:  # the key changed: rotate the webhook's secret
        raise ValueError("webhook secret cannot be decrypted with the current key") from exc


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The `Huxiao-Signature` header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver does (README has the same in a few lines): recompute the HMAC, compare in constant
    time, and refuse a timestamp older than `tolerance_s` (replayed captures)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- target URLs -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


async def check_target(url: str, settings: Settings, *, field: str = "url") -> Target:
    """The URL's host resolved and every address checked (see the module doc); an input error naming `field`."""
    if not isinstance(url, str) or len(url) > URL_MAX_CHARS or any(c.isspace() for c in url):
        raise InvalidInput(f"must be an absolute https URL of at most {URL_MAX_CHARS} characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", field=field) from exc
    schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parts.scheme not in schemes:
        raise InvalidInput("must be an https:// URL" + ("" if settings.webhook_allow_http else
                           " (http:// only when HUXIAO_WEBHOOK_ALLOW_HTTP is set)"), field=field)
    if not host:
        raise InvalidInput("the URL has no host", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("credentials in the URL are not allowed; the signature authenticates deliveries",
                           field=field)
    if parts.fragment:
        raise InvalidInput("the URL must not have a #fragment", field=field)
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if len(host) > 253:
            raise InvalidInput("the host name is too long", field=field)
        try:
            infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_S)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise InvalidInput(f"the host {host!r} does not resolve", field=field) from exc
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise InvalidInput(f"the host {host!r} does not resolve", field=field)
    if not settings.webhook_allow_private:
        refused = [str(ip) for ip in addresses if _refused_address(ip)]
        if refused:
            raise InvalidInput(f"the host resolves to a loopback, private, link-local or reserved address "
                               f"({', '.join(refused)}); allowed only with HUXIAO_WEBHOOK_ALLOW_PRIVATE",
                               field=field)
    return Target(url=url, scheme=parts.scheme, host=host, port=port, addresses=tuple(str(a) for a in addresses))


# --- the registry ----------------------------------------------------------------------------------------

COLUMNS = """w.id, w.jurisdiction_code, w.url, w.events, w.description, w.active, w.created_by, w.created_at,
             w.updated_at"""


def _check_events(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in EVENTS]
    if unknown or not names:
        raise InvalidInput(f"events must be one or more of {', '.join(EVENTS)}", field="events")
    return sorted(set(names))


async def create(db: Db, settings: Settings, *, caller: Caller, jurisdiction_code: str, url: str,
                 events: list[str], description: str | None, active: bool = True) -> tuple[dict, str]:
    """Register a webhook (admin); the secret is returned once, and stored only encrypted."""
    caller.require(Role.admin)
    names = _check_events(events)
    await jurisdictions.in_scope(db, caller=caller, code=jurisdiction_code)
    await check_target(url, settings)
    count = await db.fetchval("SELECT count(*) FROM webhooks WHERE jurisdiction_code = :code",
                              {"code": jurisdiction_code})
    if count >= WEBHOOKS_PER_JURISDICTION_MAX:
        raise InvalidInput(f"a jurisdiction has at most {WEBHOOKS_PER_JURISDICTION_MAX} webhooks",
                           field="jurisdiction_code")
    secret = new_secret()
    hook_id = uuid.uuid4()
    row = await db.fetchrow(f"""
        INSERT INTO webhooks AS w (id, jurisdiction_code, url, events, description, secret_enc, active, created_by)
        VALUES (:id, :code, :url, :events, :description, :secret, :active, :created_by)
        RETURNING {COLUMNS}
    """, {"id": hook_id, "code": jurisdiction_code, "url": url, "events": names, "description": description,
           "secret": seal_secret(settings, secret), "active": active, "created_by": caller.user_id})
    await audit.record(db, caller=caller, entity="webhook", entity_id=hook_id, action="create",
                       jurisdiction_code=jurisdiction_code, changes={"url": url, "events": names, "active": active})
    return dict(row), secret


async def get(db: Db, *, caller: Caller, webhook_id: uuid.UUID, lock: bool = False) -> dict:
    """One webhook in the caller's jurisdictions; any other is not found."""
    caller.require(Role.admin)
    row = await db.fetchrow(f"""
        SELECT {COLUMNS} FROM webhooks w JOIN jurisdictions j ON j.code = w.jurisdiction_code
        WHERE w.id = :id AND j.path <@ CAST(:scope AS ltree)
        {"FOR UPDATE OF w" if lock else ""}
    """, {"id": webhook_id, "scope": caller.scope_path})
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return dict(row)


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    jurisdiction_code: str | None = None) -> tuple[list[dict], str | None]:
    """Webhooks in the admin's jurisdictions (or one of them), oldest first."""
    caller.require(Role.admin)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch(f"""
        SELECT {COLUMNS} FROM webhooks w JOIN jurisdictions j ON j.code = w.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (w.created_at, w.id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
        ORDER BY w.created_at, w.id
        LIMIT :limit_plus_one
    """, {"scope": scope, "after_at": after[0] if after else None, "after_id": after[1] if after else None,
           "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])


async def update(db: Db, settings: Settings, *, caller: Caller, webhook_id: uuid.UUID,
                 changes: dict[str, Any]) -> dict:
    """Change a webhook's URL, events, description or active flag (admin)."""
    current = await get(db, caller=caller, webhook_id=webhook_id, lock=True)
    values = {k: v for k, v in changes.items() if k in ("url", "events", "description", "active")}
    if "events" in values:
        values["events"] = _check_events(values["events"])
    if "url" in values:
        await check_target(values["url"], settings)
    if not values:
        return current
    row = await db.fetchrow(f"""
        UPDATE webhooks AS w SET url = :url, events = :events, description = :description, active = :active,
               updated_at = now()
        WHERE w.id = :id
        RETURNING {COLUMNS}
    """, {"id": webhook_id, **{k: values.get(k, current[k]) for k in ("url", "events", "description", "active")}})
    await audit.record(db, caller=caller, entity="webhook", entity_id=webhook_id, action="update",
                       jurisdiction_code=current["jurisdiction_code"], changes=values)
    return dict(row)


async def rotate_secret(db: Db, settings: Settings, *, caller: Caller, webhook_id: uuid.UUID) -> tuple[dict, str]:
    """A new secret (admin), shown once; deliveries from now on are signed with it."""
    current = await get(db, caller=caller, webhook_id=webhook_id, lock=True)
    secret = new_secret()
    await db.execute("UPDATE webhooks SET secret_enc = :secret, updated_at = now() WHERE id = :id",
                     {"id": webhook_id, "secret": seal_secret(settings, secret)})
    await audit.record(db, caller=caller, entity="webhook", entity_id=webhook_id, action="rotate_secret",
                       jurisdiction_code=current["jurisdiction_code"])
    return current, secret


async def delete(db: Db, *, caller: Caller, webhook_id: uuid.UUID) -> None:
    """Remove a webhook and its deliveries (admin)."""
    current = await get(db, caller=caller, webhook_id=webhook_id, lock=True)
    await db.execute("DELETE FROM webhooks WHERE id = :id", {"id": webhook_id})
    await audit.record(db, caller=caller, entity="webhook", entity_id=webhook_id, action="delete",
                       jurisdiction_code=current["jurisdiction_code"], changes={"url": current["url"]})


# --- deliveries ------------------------------------------------------------------------------------------

DELIVERY_COLUMNS = """d.id, d.webhook_id, d.event_key AS event_id, d.event, d.state, d.attempts,
    CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, d.last_attempt_at,
    d.last_status_code, d.last_error, d.delivered_at, d.replays, d.created_at"""


async def list_deliveries(db: Db, *, caller: Caller, webhook_id: uuid.UUID, limit: int, cursor: str | None,
                          state: str | None = None) -> tuple[list[dict], str | None]:
    """A webhook's deliveries, newest first, with their last status."""
    await get(db, caller=caller, webhook_id=webhook_id)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch(f"""
        SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
        WHERE d.webhook_id = :id AND (CAST(:state AS text) IS NULL OR d.state = :state)
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (d.created_at, d.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT :limit_plus_one
    """, {"id": webhook_id, "state": state, "after_at": after[0] if after else None,
           "after_id": after[1] if after else None, "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["created_at"].isoformat(), str(r["id"])])


async def replay(db: Db, *, caller: Caller, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> dict:
    """Send a delivery again (admin): whatever its state, it is due now with a fresh count of attempts and the
    same event id and body, so a receiver that had it already can tell."""
    hook = await get(db, caller=caller, webhook_id=webhook_id)
    row = await db.fetchrow(f"""
        UPDATE webhook_deliveries AS d SET state = 'pending', attempts = 0, next_attempt_at = now(),
               replays = replays + 1
        WHERE d.id = :id AND d.webhook_id = :webhook_id
        RETURNING {DELIVERY_COLUMNS}
    """, {"id": delivery_id, "webhook_id": webhook_id})
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
    await db.execute("SELECT pg_notify(:channel, 'due')", {"channel": CHANNEL})
    await audit.record(db, caller=caller, entity="webhook_delivery", entity_id=delivery_id, action="replay",
                       jurisdiction_code=hook["jurisdiction_code"], changes={"webhook_id": webhook_id})
    return dict(row)


async def ping(db: Db, *, caller: Caller, webhook_id: uuid.UUID) -> dict:
    """Queue a `ping` delivery (admin), to test the endpoint and its signature check."""
    hook = await get(db, caller=caller, webhook_id=webhook_id)
    delivery_id = uuid.uuid4()
    key = f"ping_{delivery_id.hex}"
    body = json.dumps({"id": key, "type": "ping",
                       "created_at": datetime.now(UTC).isoformat(), "jurisdiction_code": hook["jurisdiction_code"],
                       "data": {"webhook_id": str(webhook_id)}}, ensure_ascii=False)
    row = await db.fetchrow(f"""
        WITH d AS (
            INSERT INTO webhook_deliveries (id, webhook_id, event_key, event, body)
            VALUES (:id, :webhook_id, :key, 'ping', :body)
            RETURNING *
        )
        SELECT {DELIVERY_COLUMNS} FROM d
    """, {"id": delivery_id, "webhook_id": webhook_id, "key": key, "body": body})
    await db.execute("SELECT pg_notify(:channel, 'due')", {"channel": CHANNEL})
    return dict(row)
