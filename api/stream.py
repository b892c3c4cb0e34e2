"""The live feed: `GET /v1/stream`, Server-Sent Events driven by PostgreSQL LISTEN/NOTIFY.

One asyncpg connection per process LISTENs on `huxiao_events` (see `domain/events.py`). A notification only
carries `{id, kind, path}`: the process reads each notified event row once (one query per batch, only when some
open stream's jurisdiction contains the path) and hands it to the in-process subscribers that see it. Every API worker runs its own listener, so the feed works with any number of workers.

- Event `id` is `events.id`; a client that reconnects with `Last-Event-ID` (or `?last_event_id=`) first gets every
  event after it from the table (replay), then the live ones.
- A comment ping every 15 s keeps proxies from closing an idle stream.
- The listener reconnects with backoff (0.5 s doubling to `HUXIAO_DB_RECONNECT_MAX_S`, 2 s) when the database is
  down, so the feed is live again within seconds of the database's return; it never stops the
  app. After it reconnects, each subscriber catches up from the table, so nothing committed meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
import asyncpg
from fastapi import APIRouter, FastAPI, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth import CurrentCaller, authenticate
from api.problems import is_database_unavailable
from api.schemas import PROBLEM_RESPONSES
from domain import credentials, events, zones
from domain.callers import Caller, Role
from domain.database import Db, dsn
from domain.errors import InvalidInput, TooManyRequests, Unauthorized
from domain.events import CHANNEL, KINDS
from domain.settings import Settings

log = logging.getLogger("huxiao.stream")
router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

HEARTBEAT_S = 15
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 2.0  # default of HUXIAO_DB_RECONNECT_MAX_S: the feed is live again this soon after an outage
LISTENER_CHECK_S = 30.0
SUBSCRIBER_QUEUE_MAX = 10_000
REPLAY_PAGE = 1000
EVENT_ID_MAX = 2**63 - 1
RETRY_MS = 3000  # the reconnection delay suggested to clients
WAKE_S = 5.0  # an idle stream rechecks its credential (and, in an outage, the database) this often
UNAVAILABLE = {"type": "about:blank", "title": "Service unavailable", "status": 503,
               "detail": "The database is not reachable right now; this stream stays open and catches up when it "
                         "is back (an `available` event)."}
SENT_MEMORY = 5000
RESYNC = -1  # queued to a subscriber when it must catch up from the table (listener reconnected, queue full)
RECHECK = -2  # queued to every subscriber when a credential changed anywhere: is the stream's still good?


class Subscriber:
    """One open stream: a queue of event rows in its caller's jurisdictions (or `RESYNC`)."""

    def __init__(self, scope_path: str):
        self.scope_path = scope_path
        self.queue: asyncio.Queue[dict | int] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_MAX)
        self.overflow = False

    def sees(self, path: str) -> bool:
        return path == self.scope_path or path.startswith(self.scope_path + ".")

    def offer(self, item: dict | int) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflow = True  # caught up from the table on the next wake-up


class EventHub:
    """The process' single LISTEN connection and its subscribers."""

    def __init__(self, dsn: str, db: Db | None = None, *, backoff_max_s: float = BACKOFF_MAX_S):
        self.dsn = dsn
        self.db = db
        self.backoff_max_s = backoff_max_s
        self.subscribers: set[Subscriber] = set()
        self.connected = False
        self._notes: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        # Other channels this connection LISTENs on for the process (cache invalidations): channel -> (on
        # notification, on connected/disconnected).
        self._channels: dict[str, tuple[Callable[[str], None], Callable[[bool], None]]] = {}

    def listen(self, channel: str, on_notify: Callable[[str], None], on_state: Callable[[bool], None]) -> None:
        """Also LISTEN on `channel`: `on_notify(payload)` for each notification, `on_state(connected)` when the
        connection comes up (True) or is lost (False), so a cache can stop trusting itself meanwhile."""
        self._channels[channel] = (on_notify, on_state)

    def subscribe(self, scope_path: str) -> Subscriber:
        sub = Subscriber(scope_path)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def recheck_all(self) -> None:
        """A credential changed: every open stream checks its own at once (a revoked one ends)."""
        for sub in list(self.subscribers):
            sub.offer(RECHECK)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            event_id, path = int(note["id"]), str(note["path"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed notification %r", payload)
            return
        self._notes.put_nowait((event_id, path))

    async def _fan_out(self) -> None:
        """Read each notified event once (a batch per wake-up) and hand the row to every stream that sees it."""
        while True:
            notes = [await self._notes.get()]
            while not self._notes.empty():
                notes.append(self._notes.get_nowait())
            subs = list(self.subscribers)
            paths = {i: p for i, p in notes if any(sub.sees(p) for sub in subs)}
            if not paths:
                continue
            try:
                rows = await events.by_ids(self.db, sorted(paths))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the streams catch up from the table instead
                log.warning("could not read notified events (%s); streams will resync", exc)
                for sub in subs:
                    sub.offer(RESYNC)
                continue
            for row in rows:
                for sub in subs:
                    if sub.sees(row["path"]):
                        sub.offer(row)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="huxiao-event-listener")]
        if self.db is not None:
            self._tasks.append(asyncio.create_task(self._fan_out(), name="huxiao-event-fan-out"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5, server_settings={
                    "application_name": "huxiao-listener"})
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                for channel, (on_notify, _) in self._channels.items():
                    await conn.add_listener(channel, lambda _c, _p, _ch, payload, f=on_notify: f(payload))
                self.connected = True
                self._tell_state(True)
                backoff = BACKOFF_FIRST_S
                for sub in list(self.subscribers):  # whatever was committed while we were away
                    sub.offer(RESYNC)
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=LISTENER_CHECK_S)
                    except TimeoutError:
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=5)
                log.warning("event listener connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down or restarting: retry, never crash the app
                log.warning("event listener unavailable (%s); retrying in %.1f s", exc, backoff)
            finally:
                self.connected = False
                self._tell_state(False)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)


    def _tell_state(self, connected: bool) -> None:
        for _, on_state in self._channels.values():
            try:
                on_state(connected)
            except Exception:
                log.exception("listener state callback failed")


def listener_dsn(settings: Settings) -> str:
    return dsn(settings)


async def start_hub(app: FastAPI, settings: Settings,
                    also_listen: tuple[tuple[str, Callable[[str], None], Callable[[bool], None]], ...] = ()) -> None:
    """Start the process' listener (from the app lifespan); it connects in the background. `also_listen`:
    more (channel, on notification, on connected/disconnected) for the same connection."""
    hub = EventHub(listener_dsn(settings), app.state.db, backoff_max_s=settings.db_reconnect_max_s)
    for channel, on_notify, on_state in also_listen:
        hub.listen(channel, on_notify, on_state)
    def credentials_changed(_payload: str) -> None:
        credentials.CALLERS.clear()
        hub.recheck_all()

    hub.listen(credentials.CREDENTIALS_CHANNEL, credentials_changed, credentials.CALLERS.listening)
    app.state.zone_index = None
    if settings.zone_index:
        app.state.zone_index = zones.ZoneIndexState(app.state.db)
        hub.listen(zones.SCHOOLS_CHANNEL, app.state.zone_index.notified, app.state.zone_index.listening)
    app.state.event_hub = hub
    await hub.start()


async def stop_hub(app: FastAPI) -> None:
    hub: EventHub | None = getattr(app.state, "event_hub", None)
    if hub is not None:
        await hub.stop()


# --- one stream ------------------------------------------------------------------------------------------

def _sse(row: dict) -> ServerSentEvent:
    data = {"id": row["id"], "kind": row["kind"], "at": row["at"], "jurisdiction_code": row["jurisdiction_code"],
            "payload": row["payload"]}
    return ServerSentEvent(id=str(row["id"]), event=row["kind"],
                           data=json.dumps(data, default=str, ensure_ascii=False))


async def _replay_after(db, after_id: int, scope_path: str) -> list[dict]:
    out: list[dict] = []
    while True:
        page = await events.replay(db, after_id=after_id, scope_path=scope_path, limit=REPLAY_PAGE)
        out.extend(page)
        if len(page) < REPLAY_PAGE:
            return out
        after_id = page[-1]["id"]


# Officers' positions are for commanders and officers: viewers (dashboards, share links) never get check-ins.
HIDDEN_FROM_VIEWERS = ("checkin.",)


async def event_stream(*, hub: EventHub, db: Db, caller: Caller, last_event_id: int | None,
                       recheck: Callable[[], Awaitable[Any]] | None = None,
                       wake_s: float | None = None) -> AsyncIterator[ServerSentEvent]:
    """The events of one stream: the replay after `last_event_id`, then live events in the caller's scope.

    `recheck` authenticates the stream's credential again (it raises `Unauthorized` once the key is revoked,
    the user deactivated or logged out, or the token expired): when any credential changes in the cluster and
    at every wake-up (`wake_s`), so a stream never outlives its credential; it ends with a `revoked` event."""
    wake_s = WAKE_S if wake_s is None else wake_s
    hidden = HIDDEN_FROM_VIEWERS if caller.role is Role.viewer else ()
    sub = hub.subscribe(caller.scope_path)  # before reading the table, so nothing falls in between
    sent: OrderedDict[int, None] = OrderedDict()
    try:
        if last_event_id is None:
            last = await events.head(db)
            yield ServerSentEvent(comment="subscribed", retry=RETRY_MS)
        else:
            yield ServerSentEvent(comment="subscribed", retry=RETRY_MS)
            last = last_event_id
            for row in await _replay_after(db, last, caller.scope_path):
                sent[row["id"]] = None
                last = max(last, row["id"])
                if not row["kind"].startswith(hidden):
                    yield _sse(row)
        checked = time.monotonic()
        degraded = False
        while True:
            try:
                items = [await asyncio.wait_for(sub.queue.get(), timeout=wake_s)]
            except TimeoutError:
                items = [RECHECK]
            while not sub.queue.empty():
                items.append(sub.queue.get_nowait())
            try:
                if recheck is not None and (RECHECK in items or degraded or time.monotonic() - checked >= wake_s):
                    checked = time.monotonic()
                    await recheck()
                if RESYNC in items or sub.overflow or degraded:
                    sub.overflow = False
                    rows = await _replay_after(db, last, caller.scope_path)
                else:
                    rows = sorted((i for i in items if isinstance(i, dict)), key=lambda r: r["id"])
            except Unauthorized as exc:
                yield ServerSentEvent(event="revoked", data=json.dumps(
                    {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": exc.detail}))
                return
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                # The stream stays open through a database outage (pings go on); it says so once, and
                # catches up from the table when the database answers again.
                if not degraded:
                    degraded = True
                    yield ServerSentEvent(event="unavailable", data=json.dumps(UNAVAILABLE))
                continue
            if degraded:
                degraded = False
                yield ServerSentEvent(event="available", data=json.dumps({"after": last}))
            for row in rows:
                if row["id"] in sent:
                    continue
                sent[row["id"]] = None
                if len(sent) > SENT_MEMORY:
                    sent.popitem(last=False)
                last = max(last, row["id"])
                if not row["kind"].startswith(hidden):
                    yield _sse(row)
    finally:
        hub.unsubscribe(sub)


@router.get("/stream", tags=["live"], response_class=EventSourceResponse,
            summary="Server-Sent Events in your jurisdictions: " + ", ".join(KINDS),
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`id:` events.id, `event:` kind, `data:` JSON "
                                            "{id, kind, at, jurisdiction_code, payload}; `: ping` every 15 s"}})
async def stream(
    request: Request, caller: CurrentCaller,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Resume after this event id (as the "
                                                                  "Last-Event-ID header)")] = None,
) -> EventSourceResponse:
    resume = last_event_id
    if last_event_id_header:
        header = last_event_id_header.strip()
        if not (header.isascii() and header.isdigit() and len(header) <= 19 and int(header) <= EVENT_ID_MAX):
            raise InvalidInput("Last-Event-ID must be an event id (a whole number below 2^63)",
                               field="Last-Event-ID")
        resume = int(header)
    db = request.app.state.db
    limit = request.app.state.settings.stream_max_per_credential
    lease = await events.take_stream_lease(db, caller=caller, max_streams=limit)
    if lease is None:
        raise TooManyRequests(f"at most {limit} open streams per person or key; close one first",
                              retry_after_s=events.STREAM_LEASE_S)

    async def renew() -> None:
        await authenticate(request)
        await events.renew_stream_lease(db, lease)

    async def leased():
        try:
            async for item in event_stream(hub=request.app.state.event_hub, db=db, caller=caller,
                                           last_event_id=resume, recheck=renew):
                yield item
        finally:  # shielded: the stream's task is being cancelled (anyio cancels every await inside it)
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await events.end_stream_lease(db, lease)

    return EventSourceResponse(
        leased(),
        ping=HEARTBEAT_S, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
