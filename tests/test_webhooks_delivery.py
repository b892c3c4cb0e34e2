"""Webhook deliveries to a receiver on 127.0.0.1 (the allow-private and allow-http settings on): the signature
verifies with the secret shown at registration; a receiver that fails twice gets the event on the third attempt,
with the same event id; after the last attempt a delivery is `failed` and a replay delivers it; a server killed
with SIGKILL in the middle of a delivery sends it again after a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from domain import webhooks
from tests.factories import make_person
from tests.test_incidents_support import make_world, report

WAIT_S = 30.0


class Receiver:
    """A receiver in a thread: records every request; answers the scripted statuses, then 200; optionally holds
    the first request until released."""

    def __init__(self, answers: list[int] | None = None, *, hold_first: bool = False):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.hold_first = hold_first
        self.release = threading.Event()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                first = len(receiver.requests) == 1
                receiver.arrived.set()
                if first and receiver.hold_first:
                    receiver.release.wait(WAIT_S)
                status = receiver.answers.pop(0) if receiver.answers else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender is gone (killed)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/huxiao?county=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_hooks(app, monkeypatch):
    """Deliveries to 127.0.0.1 over http, retried quickly."""
    s = app.state.settings
    for name, value in (("webhook_allow_private", True), ("webhook_allow_http", True),
                        ("webhook_backoff_first_s", 0.2), ("webhook_backoff_max_s", 0.4), ("webhook_poll_s", 0.2),
                        ("webhook_timeout_s", 2.0), ("webhook_max_attempts", 3)):
        monkeypatch.setattr(s, name, value)
    return s


async def until(check, what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _setup(app, client, url: str, events=("incident.created",)):
    w = await make_world(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    r = await client.post("/v1/webhooks", headers=admin.headers,
                          json={"jurisdiction_code": w.tree.code, "url": url, "events": list(events)})
    assert r.status_code == 201, r.text
    return w, admin, r.json()


async def _deliveries(client, admin, hook) -> list[dict]:
    r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_delivery_is_signed_with_the_secret_shown_at_registration(app, client, local_hooks):
    with Receiver() as rx:
        w, admin, hook = await _setup(app, client, rx.url)
        incident = await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=10))
        await until(lambda: _async(len(rx.requests) >= 1), "the delivery")
        headers, body = rx.requests[0]
        assert webhooks.verify(hook["secret"], body, headers["huxiao-signature"])
        assert not webhooks.verify(hook["secret"], body + b" ", headers["huxiao-signature"])
        assert not webhooks.verify("whsec_wrong", body, headers["huxiao-signature"])
        # The README's receiver code, verbatim in spirit: HMAC-SHA256 over "<t>.<body>".
        import hashlib
        import hmac
        t, v1 = (p.split("=", 1)[1] for p in headers["huxiao-signature"].split(","))
        assert hmac.compare_digest(hmac.new(hook["secret"].encode(), t.encode() + b"." + body,
                                            hashlib.sha256).hexdigest(), v1)
        assert abs(int(t) - time.time()) < 60
        event = json.loads(body)
        assert event["type"] == "incident.created" and headers["huxiao-event"] == "incident.created"
        assert headers["huxiao-event-id"] == event["id"] and event["data"]["id"] == incident["id"]
        assert headers["content-type"] == "application/json" and headers["host"].startswith("127.0.0.1:")
        assert headers["user-agent"].startswith("huxiao-webhooks/")
        items = await until(lambda: _delivered(client, admin, hook), "delivered state")
        assert items[0]["attempts"] == 1 and items[0]["last_status_code"] == 200
        assert items[0]["next_attempt_at"] is None and items[0]["event_id"] == event["id"]

        # A ping is signed the same way.
        r = await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=admin.headers)
        assert r.status_code == 202 and r.json()["event"] == "ping"
        await until(lambda: _async(len(rx.requests) >= 2), "the ping")
        headers, body = rx.requests[1]
        assert json.loads(body)["type"] == "ping" and webhooks.verify(hook["secret"], body,
                                                                      headers["huxiao-signature"])


async def _async(value):
    return value


async def _delivered(client, admin, hook) -> list[dict] | None:
    items = await _deliveries(client, admin, hook)
    return items if items and all(i["state"] == "delivered" for i in items) else None


async def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(app, client, db, local_hooks):
    with Receiver(answers=[500, 503]) as rx:
        w, admin, hook = await _setup(app, client, rx.url)
        await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=10))
        items = await until(lambda: _delivered(client, admin, hook), "the third attempt")
        assert len(rx.requests) == 3
        assert len({h["huxiao-event-id"] for h, _ in rx.requests}) == 1  # the same event each time
        assert len({b for _, b in rx.requests}) == 1
        assert items[0]["attempts"] == 3 and items[0]["last_status_code"] == 200 and items[0]["last_error"] is None
        r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers,
                             params={"state": "failed"})
        assert r.json()["items"] == []


async def test_after_the_last_attempt_it_is_failed_and_a_replay_delivers_it(app, client, local_hooks):
    with Receiver(answers=[500, 500, 500]) as rx:
        w, admin, hook = await _setup(app, client, rx.url)
        await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=10))

        async def failed():
            items = await _deliveries(client, admin, hook)
            return items if items and items[0]["state"] == "failed" else None

        items = await until(failed, "failed state")
        assert items[0]["attempts"] == 3 and items[0]["last_status_code"] == 500
        assert items[0]["last_error"] == "HTTP 500" and len(rx.requests) == 3
        r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{items[0]['id']}/replay", headers=admin.headers)
        assert r.status_code == 202 and r.json()["state"] == "pending" and r.json()["replays"] == 1
        items = await until(lambda: _delivered(client, admin, hook), "the replay")
        assert len(rx.requests) == 4 and items[0]["replays"] == 1
        assert rx.requests[3][0]["huxiao-event-id"] == rx.requests[0][0]["huxiao-event-id"]
        r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/replay", headers=admin.headers)
        assert r.status_code == 404


async def test_an_inactive_webhook_gets_nothing_and_a_refused_target_is_an_error(app, client, local_hooks,
                                                                                  monkeypatch):
    with Receiver() as rx:
        w, admin, hook = await _setup(app, client, rx.url)
        r = await client.patch(f"/v1/webhooks/{hook['id']}", headers=admin.headers, json={"active": False})
        assert r.status_code == 200
        await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=10))
        assert await _deliveries(client, admin, hook) == []
        await client.patch(f"/v1/webhooks/{hook['id']}", headers=admin.headers, json={"active": True})
        # The target is checked again at delivery: with private addresses refused now, nothing is sent.
        monkeypatch.setattr(app.state.settings, "webhook_allow_private", False)
        await client.post(f"/v1/webhooks/{hook['id']}/ping", headers=admin.headers)

        async def refused():
            items = await _deliveries(client, admin, hook)
            return items if items and items[0]["last_error"] else None

        items = await until(refused, "a refused attempt")
        assert items[0]["last_error"].startswith("target refused") and rx.requests == []


# --- a server killed in the middle of a delivery ------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(database_url: str, settings) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HUXIAO_LOG_LEVEL": "WARNING",
           "HUXIAO_JWT_SECRET": settings.resolved_jwt_secret(), "HUXIAO_WEBHOOK_ALLOW_PRIVATE": "true",
           "HUXIAO_WEBHOOK_ALLOW_HTTP": "true", "HUXIAO_WEBHOOK_TIMEOUT_S": "4",
           "HUXIAO_WEBHOOK_BACKOFF_FIRST_S": "0.2", "HUXIAO_WEBHOOK_POLL_S": "0.3"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("uvicorn")), "api.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.3)


async def test_a_server_killed_mid_delivery_delivers_after_restart(app, client, db, database_url, settings,
                                                                  local_hooks, monkeypatch):
    monkeypatch.setattr(app.state.settings, "webhook_concurrency", 0)  # this process' dispatcher stands aside
    with Receiver(hold_first=True) as rx:
        w, admin, hook = await _setup(app, client, rx.url)
        first, _ = await asyncio.to_thread(_serve, database_url, settings)
        try:
            await report(client, w, w.commander, datetime.now(UTC) - timedelta(seconds=10))
            assert await asyncio.to_thread(rx.arrived.wait, WAIT_S), "the first attempt never arrived"
            first.send_signal(signal.SIGKILL)  # while the receiver holds the request
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        row = await db.fetchrow("SELECT state, attempts, last_error, last_status_code FROM webhook_deliveries "
                                "WHERE webhook_id = :id", {"id": uuid.UUID(hook["id"])})
        # Killed mid-delivery: claimed once, no result recorded.
        assert (row["state"], row["attempts"], row["last_error"], row["last_status_code"]) == (
            "pending", 1, None, None)
        rx.release.set()
        second, _ = await asyncio.to_thread(_serve, database_url, settings)
        try:
            items = await until(lambda: _delivered(client, admin, hook), "delivery after the restart", 60)
        finally:
            second.terminate()
            await asyncio.to_thread(second.wait, 20)
        assert items[0]["attempts"] == 2 and items[0]["last_status_code"] == 200
        assert len(rx.requests) == 2
        assert rx.requests[0][0]["huxiao-event-id"] == rx.requests[1][0]["huxiao-event-id"]
        assert webhooks.verify(hook["secret"], rx.requests[1][1], rx.requests[1][0]["huxiao-signature"])
