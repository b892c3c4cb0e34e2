"""The webhook delivery worker: sends the outbox (`webhook_deliveries`) to the receivers, signed, with retries.

Every API worker process runs one dispatcher; they share the outbox safely:

- **Claim.** `CLAIM` takes due rows with `FOR UPDATE SKIP LOCKED` and, in the same statement, counts the
  attempt and moves `next_attempt_at` a lease ahead (`webhook_lease_s`: twice the request timeout + 5 s). A
  worker killed mid-delivery leaves the row claimed until the lease ends; then any worker sends it again. So
  every event is delivered at least once, and more than once only after such a crash (or a timeout whose
  answer was lost): receivers deduplicate on `Huxiao-Event-Id`.
- **Result.** A 2xx answer marks the row `delivered`; anything else (another status, a refused or timed-out
  connection, a target that now resolves to a forbidden address) schedules the next attempt after
  `backoff_s(attempts)`, and after `webhook_max_attempts` marks it `failed` (replayable). A result is stored
  only if the row is still the same claim (`attempts` unchanged), so a late answer never overwrites a newer
  attempt's.
- **Wake-up.** The outbox NOTIFYs `huxiao_webhooks` on commit (domain/webhooks.py); the process' LISTEN
  connection (api/stream.py's hub) wakes the dispatcher at once. Besides, it sleeps at most until the next
  retry comes due, or `webhook_poll_s`.
- The same loop runs the deadline sweep that announces missed 1/3/5 tiers (domain/tier_misses.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime

import httpx

from domain import tier_misses, webhooks
from domain.database import Db, Query
from domain.errors import InvalidInput
from domain.settings import Settings

log = logging.getLogger("huxiao.webhooks")

USER_AGENT = "huxiao-webhooks/1"
ERROR_MAX_CHARS = 500
TIER_SWEEP_S = 5.0

CLAIM = Query("""
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhooks w ON w.id = d.webhook_id AND w.active
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT :n
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => :lease)
    FROM due, webhooks w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, d.event_key, d.event, d.body, d.attempts, w.url, w.secret_enc
""")

NEXT_DUE = Query("""
    SELECT EXTRACT(EPOCH FROM min(d.next_attempt_at) - now()) FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id AND w.active
    WHERE d.state = 'pending'
""")

DELIVERED = Query("""
    UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), last_status_code = :status,
           last_error = NULL
    WHERE id = :id AND attempts = :attempts AND state = 'pending'
""")

FAILED_ATTEMPT = Query("""
    UPDATE webhook_deliveries
    SET state = CASE WHEN attempts >= :max_attempts THEN 'failed' ELSE 'pending' END,
        next_attempt_at = now() + make_interval(secs => :delay), last_status_code = :status, last_error = :error
    WHERE id = :id AND attempts = :attempts AND state = 'pending'
""")


def backoff_s(attempts: int, settings: Settings, *, rng: random.Random | None = None) -> float:
    """The pause after the `attempts`-th failed attempt: `first · 2^(attempts−1)` capped at `max`, of which
    a random half is taken off ("equal jitter"), so receivers that failed together are not retried together."""
    base = min(settings.webhook_backoff_max_s, settings.webhook_backoff_first_s * 2 ** max(attempts - 1, 0))
    return base / 2 + (rng or random).uniform(0, base / 2)


class Dispatcher:
    """One process' delivery worker (see the module doc)."""

    def __init__(self, db: Db, settings: Settings):
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self.inflight: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_sweep = 0.0

    # LISTEN callbacks (the hub calls them from its connection)
    def notified(self, _payload: str) -> None:
        self.wake.set()

    def listening(self, connected: bool) -> None:
        if connected:  # whatever was queued while the listener was away
            self.wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                         headers={"User-Agent": USER_AGENT},
                                         limits=httpx.Limits(max_connections=self.settings.webhook_concurrency * 2))
        self._task = asyncio.create_task(self._run(), name="huxiao-webhooks")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self.inflight) if t is not None]
        for task in tasks:  # a delivery cut off here stays claimed and is sent again after its lease
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            pause = self.settings.webhook_poll_s
            try:
                if time.monotonic() - self._last_sweep >= TIER_SWEEP_S:
                    self._last_sweep = time.monotonic()
                    await tier_misses.sweep(self.db, now=datetime.now(UTC))
                free = self.settings.webhook_concurrency - len(self.inflight)
                if free > 0:
                    self.wake.clear()
                    claimed = await self.db.fetch(CLAIM, {"n": free, "lease": self.settings.webhook_lease_s()})
                    for row in claimed:
                        task = asyncio.create_task(self._deliver(dict(row)))
                        self.inflight.add(task)
                        task.add_done_callback(self._done)
                    if len(claimed) == free:
                        continue  # more may be due
                    due_in = await self.db.fetchval(NEXT_DUE)
                    if due_in is not None:
                        pause = min(pause, max(float(due_in), 0.01))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again later, never end the loop
                log.warning("webhook dispatcher could not read the outbox", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=pause)

    def _done(self, task: asyncio.Task) -> None:
        self.inflight.discard(task)
        self.wake.set()  # a slot is free

    async def _deliver(self, row: dict) -> None:
        status: int | None = None
        error: str | None = None
        try:
            status = await self.send(row)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except asyncio.CancelledError:
            raise
        except InvalidInput as exc:
            error = f"target refused: {exc.detail}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            if error is None:
                await self.db.execute(DELIVERED, {"id": row["id"], "attempts": row["attempts"], "status": status})
            else:
                await self.db.execute(FAILED_ATTEMPT, {
                    "id": row["id"], "attempts": row["attempts"], "status": status,
                    "error": error[:ERROR_MAX_CHARS], "max_attempts": self.settings.webhook_max_attempts,
                    "delay": backoff_s(row["attempts"], self.settings)})
        except Exception:  # not recorded: the lease runs out and the delivery is sent again
            log.warning("could not record webhook delivery %s", row["id"], exc_info=True)

    async def send(self, row: dict) -> int:
        """POST the stored body, signed, to the address the URL's host resolves to now (checked again)."""
        target = await webhooks.check_target(row["url"], self.settings)
        body = row["body"].encode()
        secret = webhooks.open_secret(self.settings, row["secret_enc"])
        address = target.addresses[0]
        pinned = httpx.URL(row["url"]).copy_with(host=address)
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host:
            host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
        headers = {
            "Host": host_header, "Content-Type": "application/json",
            webhooks.SIGNATURE_HEADER: webhooks.sign(secret, body),
            webhooks.EVENT_ID_HEADER: row["event_key"], webhooks.EVENT_HEADER: row["event"],
            webhooks.DELIVERY_HEADER: str(row["id"]),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        assert self._client is not None
        async with asyncio.timeout(self.settings.webhook_timeout_s):
            request = self._client.build_request("POST", pinned, content=body, headers=headers,
                                                 timeout=self.settings.webhook_timeout_s, extensions=extensions)
            response = await self._client.send(request, stream=True)
            await response.aclose()  # the status is all we keep
            return response.status_code
