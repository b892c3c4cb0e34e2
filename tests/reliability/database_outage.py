"""Database outage: PostgreSQL is stopped mid-load (`pg_ctl stop -m immediate`) and started again, several times;
then it is frozen (SIGSTOP: it accepts connections and statements but answers nothing) and thawed.

    python -m tests.reliability.database_outage        (or `make test-reliability`)

A cluster of its own is made for it under /tmp/huxiao-outage-XXXX with the project's `cli.cluster.Cluster` (the
shared cluster is never stopped), with a migrated database; `huxiao serve --workers 2` serves it while clients
post check-ins and incidents, read lists, probe `/readyz` and hold a live feed open. The promise checked:

- during an outage `/readyz` answers 503 with `Retry-After` within 2 s;
- every write (and read) that begins during an outage answers 503 problem+json with `Retry-After` within the
  configured timeout (`HUXIAO_DB_POOL_TIMEOUT_S` / `HUXIAO_DB_COMMAND_TIMEOUT_S`, + 1 s of slack for a loaded
  machine): no hang, no 500;
- no request anywhere in the run answers a 5xx other than 503;
- within 5 s of the database coming back requests succeed without restarting the API (the first success, and
  every request started 5 s or more after the return succeeds), and the live feed is live again (events written
  from then on reach the open stream within 2 s);
- every write acknowledged (201) before, between or after the outages is in the database at the end.

Parameters (environment): HUXIAO_OUTAGE_CYCLES (3 stops), HUXIAO_OUTAGE_FREEZE_CYCLES (1),
HUXIAO_OUTAGE_SECONDS (10), HUXIAO_OUTAGE_CLIENTS (6), HUXIAO_OUTAGE_WORKERS (2), HUXIAO_OUTAGE_RECOVERY_S (5),
HUXIAO_OUTAGE_POOL_TIMEOUT_S (5) and HUXIAO_OUTAGE_COMMAND_TIMEOUT_S (3), the server's settings of the same
names, HUXIAO_OUTAGE_KEEP=1 keeps the cluster for a look afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from tests.reliability.common import (
    OutageCluster,
    ServerGroup,
    env_float,
    env_int,
    log,
    log_in,
    run,
    seed_people,
    write_results,
)

READYZ_LIMIT_S = 2.0
LIVE_LAG_LIMIT_S = 2.0  # an event reaches an open stream this soon after it was written, once recovered
CODE = "RELOUT"
LON, LAT = 100.0, 40.0  # far from every demo school


@dataclass
class Answer:
    kind: str  # checkin | incident | list | readyz
    started: float
    ended: float
    status: int  # 0: no answer (transport error)
    problem: bool = False
    retry_after: bool = False
    error: str = ""
    id: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Cycle:
    mode: str = "stop"  # stop: pg_ctl stop -m immediate, then start; freeze: SIGSTOP, then SIGCONT
    down_at: float = 0.0  # pg_ctl stop returned (monotonic clock)
    up_at: float = 0.0  # pg_ctl start returned: recovery done, accepting connections (monotonic clock)
    up_wall: float = 0.0  # the same moment on the wall clock (events carry the database's time)
    down_wall: float = 0.0
    stopping_at: float = 0.0  # pg_ctl stop called (monotonic clock): from here on the database may be gone
    stopping_wall: float = 0.0


@dataclass
class Delivery:
    """One event received on the live feed: when it was written (`at`, the database's clock) and received."""

    at: float
    received: float


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    cycles: list[Cycle] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    stream_connects: int = 0
    stop: bool = False


def checkin_body() -> dict:
    return {"id": str(uuid.uuid4()), "kind": "heartbeat", "accuracy_m": 10,
            "recorded_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
            "location": {"type": "Point", "coordinates": [LON + random.uniform(0, 0.01), LAT + random.uniform(0, 0.01)]}}


def incident_body() -> dict:
    return {"id": str(uuid.uuid4()), "category": "other", "severity": 3, "source": "patrol",
            "alarm_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
            "location": {"type": "Point", "coordinates": [LON + random.uniform(0, 0.01), LAT + random.uniform(0, 0.01)]}}


async def call(client: httpx.AsyncClient, state: Run, kind: str, method: str, path: str, *,
               headers: dict | None = None, json: dict | None = None) -> Answer:
    started = time.monotonic()
    try:
        r = await client.request(method, path, headers=headers, json=json)
        a = Answer(kind, started, time.monotonic(), r.status_code,
                   problem=r.headers.get("content-type", "").startswith("application/problem+json"),
                   retry_after="retry-after" in r.headers, id=(json or {}).get("id"))
    except httpx.HTTPError as exc:
        a = Answer(kind, started, time.monotonic(), 0, error=repr(exc), id=(json or {}).get("id"))
    state.answers.append(a)
    return a


async def writer(client: httpx.AsyncClient, state: Run, person, pause_s: float) -> None:
    while not state.stop:
        await call(client, state, "checkin", "POST", "/v1/checkins", headers=person.headers, json=checkin_body())
        if random.random() < 0.3:
            await call(client, state, "incident", "POST", "/v1/incidents", headers=person.headers,
                       json=incident_body())
        if random.random() < 0.3:
            await call(client, state, "list", "GET", "/v1/incidents?limit=5", headers=person.headers)
        await asyncio.sleep(pause_s)


async def watcher(client: httpx.AsyncClient, state: Run, person) -> None:
    """An open live feed, reconnecting (with `Last-Event-ID`) whenever it ends, as an EventSource does."""
    last = None
    while not state.stop:
        headers = dict(person.headers)
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        try:
            async with client.stream("GET", "/v1/stream", headers=headers,
                                     timeout=httpx.Timeout(10, read=3)) as r:
                if r.status_code == 200:
                    state.stream_connects += 1
                    async for line in r.aiter_lines():
                        if line.startswith("id:"):
                            last = int(line[3:].strip())
                        elif line.startswith("data:"):
                            at = datetime.fromisoformat(json.loads(line[5:])["at"]).timestamp()
                            state.deliveries.append(Delivery(at, time.time()))
                        if state.stop:
                            return
        except (httpx.HTTPError, ValueError):
            pass
        await asyncio.sleep(0.5)


async def prober(client: httpx.AsyncClient, state: Run) -> None:
    while not state.stop:
        await call(client, state, "readyz", "GET", "/readyz")
        await asyncio.sleep(0.2)


async def main() -> bool:
    cycles = env_int("HUXIAO_OUTAGE_CYCLES", 3)
    freezes = env_int("HUXIAO_OUTAGE_FREEZE_CYCLES", 1)
    outage_s = env_float("HUXIAO_OUTAGE_SECONDS", 10)
    clients = env_int("HUXIAO_OUTAGE_CLIENTS", 6)
    workers = env_int("HUXIAO_OUTAGE_WORKERS", 2)
    recovery_limit_s = env_float("HUXIAO_OUTAGE_RECOVERY_S", 5)
    pool_timeout_s = env_float("HUXIAO_OUTAGE_POOL_TIMEOUT_S", 5)
    command_timeout_s = env_float("HUXIAO_OUTAGE_COMMAND_TIMEOUT_S", 3)
    # A refused connection is answered at once; a frozen database holds a statement until the command timeout
    # (HUXIAO_DB_COMMAND_TIMEOUT_S), a connection attempt until HUXIAO_DB_CONNECT_TIMEOUT_S, a wait for a free
    # connection until HUXIAO_DB_POOL_TIMEOUT_S: the configured limit, + 1 s of slack for a loaded machine.
    limit_s = max(pool_timeout_s, command_timeout_s) + 1.0
    limits_s = {"stop": limit_s, "freeze": limit_s}
    began = time.monotonic()

    log("making a cluster of its own under /tmp (the shared cluster is never stopped)")
    cluster = OutageCluster()
    server = None
    ok = False
    try:
        from cli.databases import ensure_database, migrate

        url = cluster.url("huxiao_outage")
        await asyncio.to_thread(ensure_database, url)
        await asyncio.to_thread(migrate, url)
        people = await seed_people(url, code=CODE, officers=clients)
        officers = [p for p in people if p.role == "officer"]
        commander = next(p for p in people if p.role == "commander")
        server = ServerGroup(url, workers=workers, extra_env={
            "HUXIAO_DB_POOL_TIMEOUT_S": str(pool_timeout_s), "HUXIAO_DB_COMMAND_TIMEOUT_S": str(command_timeout_s)})
        server.start()
        server.wait_ready(path="/readyz")
        await log_in(server.base_url, people)
        log(f"cluster on port {cluster.port}, server {server.base_url} ({workers} workers), {clients} clients")

        state = Run()
        limits = httpx.Limits(max_connections=clients * 2 + 4)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:
            tasks = [asyncio.create_task(writer(client, state, p, 0.05)) for p in officers]
            tasks.append(asyncio.create_task(prober(client, state)))
            tasks.append(asyncio.create_task(watcher(client, state, commander)))
            await asyncio.sleep(5)
            modes = ["stop"] * cycles + ["freeze"] * freezes
            for n, mode in enumerate(modes):
                cycle = Cycle(mode=mode, stopping_at=time.monotonic(), stopping_wall=time.time())
                await asyncio.to_thread(cluster.stop_immediate if mode == "stop" else cluster.freeze)
                cycle.down_at, cycle.down_wall = time.monotonic(), time.time()
                log(f"cycle {n + 1}/{len(modes)}: database " + ("stopped (pg_ctl stop -m immediate)" if mode == "stop"
                                                               else "frozen (SIGSTOP)"))
                await asyncio.sleep(outage_s)
                await asyncio.to_thread(cluster.start if mode == "stop" else cluster.thaw)
                cycle.up_at, cycle.up_wall = time.monotonic(), time.time()
                log(f"cycle {n + 1}/{len(modes)}: database back")
                state.cycles.append(cycle)
                await asyncio.sleep(max(10.0, recovery_limit_s + 5))
            state.stop = True
            await asyncio.gather(*tasks)
        figures, ok = await judge(state, url, limits_s=limits_s, recovery_limit_s=recovery_limit_s)
        figures.update(workers=workers, clients=clients, outage_s=outage_s, pool_timeout_s=pool_timeout_s,
                       command_timeout_s=command_timeout_s, wall_s=round(time.monotonic() - began, 1),
                       server_starts=server.starts)
        path = write_results("database-outage", figures)
        log(f"figures written to {path}")
        for key, value in figures.items():
            print(f"{key}: {value}")
        print("PASS" if ok else "FAIL")
        return ok
    finally:
        if server is not None:
            server.stop()
            server.remove_files(keep=not ok)
        if os.environ.get("HUXIAO_OUTAGE_KEEP") != "1":
            cluster.remove()
        else:
            log(f"kept the cluster under {cluster.home}")


def judge_outage(c: Cycle, answers: list[Answer], limit_s: float) -> dict:
    """The requests that began while the database was away: each answered within its limit, 503 problem+json
    with Retry-After (`/readyz` within 2 s) — or, for one that outlived the outage, a success."""
    began = [a for a in answers if c.down_at <= a.started < c.up_at]
    out: dict = {"mode": c.mode}
    bad: list[Answer] = []
    for kind, limit, kinds in (("readyz", READYZ_LIMIT_S, ("readyz",)), ("write", limit_s, ("checkin", "incident")),
                               ("read", limit_s, ("list",))):
        mine = [a for a in began if a.kind in kinds]
        kind_ok = (lambda a: a.retry_after) if kind == "readyz" else (lambda a: a.problem and a.retry_after)
        for a in mine:
            unavailable = a.status == 503 and kind_ok(a)
            if a.seconds > limit or not (unavailable or (a.ended > c.up_at and 200 <= a.status < 300)):
                bad.append(a)
        out[f"{kind}s"] = len(mine)
        out[f"{kind}_worst_s"] = round(max((a.seconds for a in mine), default=0), 3)
        out[f"{kind}_limit_s"] = limit
    out["bad"] = bad
    return out


async def judge(state: Run, url: str, *, limits_s: dict[str, float],
                recovery_limit_s: float) -> tuple[dict, bool]:
    failures: list[str] = []
    answers = state.answers
    five_hundreds = [a for a in answers if a.status >= 500 and a.status != 503]
    no_answer = [a for a in answers if a.status == 0]
    if five_hundreds:
        failures.append(f"{len(five_hundreds)} answers 5xx other than 503: {sorted({a.status for a in five_hundreds})}")
    if no_answer:
        failures.append(f"{len(no_answer)} requests got no answer: {no_answer[0].error}")
    outages = []
    recoveries = []
    late_failures = []
    for n, c in enumerate(state.cycles):
        ends = state.cycles[n + 1].stopping_at if n + 1 < len(state.cycles) else float("inf")  # the next outage
        o = judge_outage(c, answers, limits_s[c.mode])
        if o["bad"]:
            failures.append(f"cycle {n + 1} ({c.mode}): {len(o['bad'])} requests during the outage were not "
                            f"answered 503 (problem+json, Retry-After) in time, e.g. {o['bad'][0]}")
        if not o["writes"] or not o["readyzs"]:
            failures.append(f"cycle {n + 1} ({c.mode}): no requests fell inside the outage")
        o["bad"] = len(o["bad"])
        outages.append(o)
        successes = sorted(a.ended for a in answers if a.started >= c.up_at and 200 <= a.status < 300)
        recoveries.append(round(successes[0] - c.up_at, 2) if successes else None)
        late_failures.extend(a for a in answers if a.started >= c.up_at + recovery_limit_s
                             and not 200 <= a.status < 300 and a.ended < ends)
    if any(r is None or r > recovery_limit_s for r in recoveries):
        failures.append(f"recovery after the restart took {recoveries} s (limit {recovery_limit_s} s)")
    if late_failures:
        failures.append(f"{len(late_failures)} requests started ≥ {recovery_limit_s} s after a restart failed "
                        f"(e.g. {late_failures[0]})")

    # The live feed: once the database is back, events written reach an open stream at once again (the
    # listener reconnects; the stream, ended by the outage, reconnects with Last-Event-ID and catches up).
    feed_recovery = []
    late_events = 0
    for n, c in enumerate(state.cycles):
        ends = state.cycles[n + 1].stopping_wall if n + 1 < len(state.cycles) else float("inf")
        live = [d for d in state.deliveries if d.at >= c.up_wall and d.received - d.at <= 1.0]
        feed_recovery.append(round(min(d.received for d in live) - c.up_wall, 2) if live else None)
        late_events += sum(1 for d in state.deliveries if c.up_wall + recovery_limit_s <= d.at
                           and d.received < ends and d.received - d.at > LIVE_LAG_LIMIT_S)
    if any(r is None or r > recovery_limit_s for r in feed_recovery):
        failures.append(f"the live feed was live again {feed_recovery} s after the restarts (limit {recovery_limit_s} s)")
    if late_events:
        failures.append(f"{late_events} events written ≥ {recovery_limit_s} s after a restart reached the open stream "
                        f"more than {LIVE_LAG_LIMIT_S} s late")

    acked = {a.kind: set() for a in answers}
    for a in answers:
        if a.status == 201 and a.id:
            acked[a.kind].add(a.id)
    stored = await stored_ids(url, acked.get("checkin", set()), acked.get("incident", set()))
    lost = {kind: len(acked.get(kind, set()) - stored[kind]) for kind in ("checkin", "incident")}
    if any(lost.values()):
        failures.append(f"acknowledged writes missing after the outages: {lost}")

    figures = {
        "cycles": len(state.cycles),
        "requests": len(answers),
        "outages": outages,
        "answers_5xx_other_than_503": len(five_hundreds),
        "answers_503_total": sum(1 for a in answers if a.status == 503),
        "recovery_s_per_cycle": recoveries,
        "feed_live_again_s_per_cycle": feed_recovery,
        "events_received": len(state.deliveries), "stream_connects": state.stream_connects,
        "events_late_after_recovery": late_events,
        "failed_requests_after_recovery_window": len(late_failures),
        "acknowledged_checkins": len(acked.get("checkin", ())),
        "acknowledged_incidents": len(acked.get("incident", ())),
        "acknowledged_lost": lost,
        "failures": failures,
    }
    return figures, not failures


async def stored_ids(url: str, checkins: set[str], incidents: set[str]) -> dict[str, set[str]]:
    import asyncpg

    from domain.database import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        got_c = await conn.fetch("SELECT id::text FROM checkins WHERE id = ANY($1::uuid[])", list(checkins))
        got_i = await conn.fetch("SELECT id::text FROM incidents WHERE id = ANY($1::uuid[])", list(incidents))
    finally:
        await conn.close()
    return {"checkin": {r[0] for r in got_c}, "incident": {r[0] for r in got_i}}


if __name__ == "__main__":
    run(main)
