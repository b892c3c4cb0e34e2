"""Crash durability: check-ins, incidents and arrivals sent with retries while the server is killed (`kill -9` of
its whole process group) and restarted at random moments.

    python -m tests.reliability.crash_durability        (or `make test-reliability`)

A throwaway database `huxiao_crash_<random>` is made on the usual PostgreSQL server (DATABASE_URL, else the
managed local cluster) and dropped at the end. `huxiao serve --workers 2` runs in a process group of its own.
Clients, all at once:

- officers send check-ins with client UUIDs in batches (`POST /v1/checkins/batch`); a batch is sent again, whole
  and unchanged, after any error, timeout, refused connection or 5xx, until every item is answered `created` or
  `duplicate` (acknowledged);
- a commander and officers report incidents with client `id`s (`POST /v1/incidents`), retried the same way until
  `201` or `200`;
- for every acknowledged incident, an officer records his own arrival and a commander records one for another
  officer (`POST /v1/incidents/{id}/arrivals`, client `id`), retried until `201` or `200`.

Meanwhile the killer waits, after each restart, until a random share of the load has been acknowledged, then
sends SIGKILL to the whole process group (supervisor and workers, mid-request) and starts the server again.
At the end, from PostgreSQL: every id sent is stored exactly once (rows per id in `checkins` and `checkin_keys`,
`incidents`, `arrivals`), nothing acknowledged is lost, nothing retried is doubled, the stored rows are the ones
sent (officer, incident, responder), each has exactly one event on the live feed's log, and nothing else was
stored.

Parameters (environment): HUXIAO_CRASH_CHECKINS (20000), HUXIAO_CRASH_BATCH (100), HUXIAO_CRASH_OFFICERS (8),
HUXIAO_CRASH_INCIDENTS (1000), HUXIAO_CRASH_KILLS (20), HUXIAO_CRASH_WORKERS (2), HUXIAO_CRASH_SEED,
HUXIAO_CRASH_KEEP=1 keeps the database.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from tests.reliability.common import (
    ServerGroup,
    env_int,
    log,
    log_in,
    run,
    seed_people,
    server_url,
    throwaway_database,
    write_results,
)

CODE = "RELCRASH"
LON, LAT = 101.0, 41.0  # far from every demo school
RETRY_PAUSE_S = (0.1, 0.4)
REQUEST_TIMEOUT_S = 20.0


@dataclass
class Stream:
    """What one kind of record went through."""

    sent: set[str] = field(default_factory=set)  # ids sent at least once
    acknowledged: set[str] = field(default_factory=set)
    retried: set[str] = field(default_factory=set)  # ids sent more than once
    answered_duplicate: set[str] = field(default_factory=set)  # a retry found it stored already
    posts: int = 0
    failures_by_cause: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # answers that will not change by retrying (4xx)


@dataclass
class State:
    checkins: Stream = field(default_factory=Stream)
    incidents: Stream = field(default_factory=Stream)
    arrivals: Stream = field(default_factory=Stream)
    expected_officer: dict[str, str] = field(default_factory=dict)  # check-in id -> officer id
    expected_arrival: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (incident, responder)
    kills: int = 0
    restart_s: list[float] = field(default_factory=list)
    killed_at: list[int] = field(default_factory=list)  # acknowledged records when each kill came
    done: bool = False

    def progress(self) -> int:
        return len(self.checkins.acknowledged) + len(self.incidents.acknowledged) + len(self.arrivals.acknowledged)


async def post_until_acknowledged(client: httpx.AsyncClient, stream: Stream, path: str, body: dict,
                                  headers: dict, ids: list[str], judge) -> dict | None:
    """POST the same body until `judge(response)` says it was acknowledged (True) or refused for good (a string)."""
    attempt = 0
    for i in ids:
        stream.sent.add(i)
    while True:
        attempt += 1
        if attempt == 2:
            stream.retried.update(ids)
        stream.posts += 1
        try:
            r = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            stream.failures_by_cause[type(exc).__name__] += 1
        else:
            verdict = judge(r, attempt)
            if verdict is True:
                stream.acknowledged.update(ids)
                return r.json()
            if isinstance(verdict, str):
                stream.refused.append(verdict)
                return None
            stream.failures_by_cause[f"HTTP {r.status_code}"] += 1
        await asyncio.sleep(random.uniform(*RETRY_PAUSE_S))


def checkin_items(officer_id: str, n: int, start: datetime, state: State) -> list[dict]:
    items = []
    for k in range(n):
        i = str(uuid.uuid4())
        state.expected_officer[i] = officer_id
        items.append({"id": i, "kind": random.choice(("arrive", "heartbeat", "depart")), "accuracy_m": 10,
                      "recorded_at": (start + timedelta(seconds=k)).isoformat(),
                      "location": {"type": "Point", "coordinates": [LON + random.uniform(0, 0.02),
                                                                    LAT + random.uniform(0, 0.02)]}})
    return items


async def checkin_sender(client: httpx.AsyncClient, state: State, officer, count: int, batch: int) -> None:
    stream = state.checkins
    start = datetime.now(UTC) - timedelta(hours=5)
    sent = 0
    while sent < count:
        items = checkin_items(officer.id, min(batch, count - sent), start + timedelta(seconds=sent), state)
        sent += len(items)
        ids = [i["id"] for i in items]

        def judge(r: httpx.Response, attempt: int, ids=ids):
            if r.status_code != 200:
                return f"batch answered {r.status_code}: {r.text[:300]}" if 400 <= r.status_code < 500 else None
            results = r.json()["results"]
            statuses = [x["status"] for x in results]
            if [x["id"] for x in results] != ids or any(s not in ("created", "duplicate") for s in statuses):
                return f"batch items not acknowledged: {Counter(statuses)} {results[0]}"
            stream.answered_duplicate.update(x["id"] for x in results if x["status"] == "duplicate")
            return True

        await post_until_acknowledged(client, stream, "/v1/checkins/batch", {"items": items}, officer.headers,
                                      ids, judge)


def single_judge(stream: Stream, ident: str):
    def judge(r: httpx.Response, attempt: int):
        if r.status_code == 201:
            return True
        if r.status_code == 200:
            stream.answered_duplicate.add(ident)
            return True
        if 400 <= r.status_code < 500:
            return f"{ident} answered {r.status_code}: {r.text[:300]}"
        return None
    return judge


async def incident_sender(client: httpx.AsyncClient, state: State, reporter, count: int,
                          queue: asyncio.Queue) -> None:
    for _ in range(count):
        i = str(uuid.uuid4())
        lon, lat = LON + random.uniform(0, 0.05), LAT + random.uniform(0, 0.05)
        alarm = datetime.now(UTC) - timedelta(seconds=30)
        body = {"id": i, "category": random.choice(("suspicious_person", "dispute", "other")),
                "severity": random.randint(1, 4), "source": "patrol", "alarm_at": alarm.isoformat(),
                "location": {"type": "Point", "coordinates": [lon, lat]}}
        out = await post_until_acknowledged(client, state.incidents, "/v1/incidents", body, reporter.headers,
                                            [i], single_judge(state.incidents, i))
        if out is not None:
            await queue.put((i, alarm, lon, lat))


async def arrival_sender(client: httpx.AsyncClient, state: State, queue: asyncio.Queue, officers: list,
                         commander) -> None:
    while True:
        item = await queue.get()
        if item is None:
            return
        incident_id, alarm, lon, lat = item
        own, other = random.sample(officers, 2)
        # an officer records his own arrival; the commander records one for another officer
        for who, responder, delay in ((own, own, 40), (commander, other, 70)):
            i = str(uuid.uuid4())
            state.expected_arrival[i] = (incident_id, responder.id)
            body = {"id": i, "responder_id": responder.id, "tier": 3,
                    "arrived_at": (alarm + timedelta(seconds=delay)).isoformat(), "accuracy_m": 15,
                    "location": {"type": "Point", "coordinates": [lon + 0.0002, lat]}}
            await post_until_acknowledged(client, state.arrivals, f"/v1/incidents/{incident_id}/arrivals", body,
                                          who.headers, [i], single_judge(state.arrivals, i))


async def killer(server: ServerGroup, state: State, kills: int, total: int) -> None:
    """After each (re)start: wait for a random share of a segment of the load to be acknowledged, kill the whole
    process group a few milliseconds later (mid-request), restart it."""
    segment = total / (kills + 1)
    while state.kills < kills and not state.done:
        mark = state.progress()
        threshold = mark + random.uniform(0.15, 1.0) * segment
        while state.progress() < threshold and not state.done:  # noqa: ASYNC110 - a counter many tasks bump
            await asyncio.sleep(0.01)
        if state.done:
            return
        await asyncio.sleep(random.uniform(0, 0.05))
        at = state.progress()
        await asyncio.to_thread(server.kill_group)
        state.kills += 1
        state.killed_at.append(at)
        started = time.monotonic()
        server.start()
        await asyncio.to_thread(server.wait_ready)
        state.restart_s.append(time.monotonic() - started)
        log(f"kill {state.kills}/{kills} at {at} of {total} acknowledged; back after {state.restart_s[-1]:.1f} s")


async def main() -> bool:
    total_checkins = env_int("HUXIAO_CRASH_CHECKINS", 20_000)
    batch = env_int("HUXIAO_CRASH_BATCH", 100)
    officers_n = env_int("HUXIAO_CRASH_OFFICERS", 8)
    incidents_n = env_int("HUXIAO_CRASH_INCIDENTS", 1000)
    kills = env_int("HUXIAO_CRASH_KILLS", 20)
    workers = env_int("HUXIAO_CRASH_WORKERS", 2)
    random.seed(env_int("HUXIAO_CRASH_SEED", int(time.time())))
    began = time.monotonic()

    url = await asyncio.to_thread(throwaway_database, server_url(), "huxiao_crash")
    log(f"database {url.rsplit('/', 1)[-1]}")
    server = None
    ok = False
    try:
        people = await seed_people(url, code=CODE, officers=officers_n, commanders=1)
        officers = [p for p in people if p.role == "officer"]
        commander = next(p for p in people if p.role == "commander")
        server = ServerGroup(url, workers=workers)
        server.start()
        server.wait_ready()
        await log_in(server.base_url, people)

        state = State()
        total = total_checkins + incidents_n * 3
        limits = httpx.Limits(max_connections=officers_n + 8, max_keepalive_connections=officers_n + 8)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
            queue: asyncio.Queue = asyncio.Queue()
            share = [total_checkins // officers_n + (1 if k < total_checkins % officers_n else 0)
                     for k in range(officers_n)]
            senders = [asyncio.create_task(checkin_sender(client, state, o, n, batch))
                       for o, n in zip(officers, share, strict=True)]
            reporters = [commander, officers[0]]
            per_reporter = [incidents_n // 2 + incidents_n % 2, incidents_n // 2]
            senders += [asyncio.create_task(incident_sender(client, state, r, n, queue))
                        for r, n in zip(reporters, per_reporter, strict=True)]
            arrivers = [asyncio.create_task(arrival_sender(client, state, queue, officers, commander))
                        for _ in range(2)]
            kill_task = asyncio.create_task(killer(server, state, kills, total))
            await asyncio.gather(*senders)
            for _ in arrivers:
                await queue.put(None)
            await asyncio.gather(*arrivers)
            state.done = True
            await kill_task
        log("all acknowledged; checking PostgreSQL")
        figures, ok = await verify(url, state, kills_wanted=kills)
        figures.update(workers=workers, batch=batch, officers=officers_n, wall_s=round(time.monotonic() - began, 1),
                       restart_s_mean=round(sum(state.restart_s) / max(1, len(state.restart_s)), 2),
                       server_starts=server.starts)
        path = write_results("crash-durability", figures)
        log(f"figures written to {path}")
        for key, value in figures.items():
            print(f"{key}: {value}")
        print("PASS" if ok else "FAIL")
        return ok
    finally:
        if server is not None:
            server.stop()
            server.remove_files(keep=not ok)
        if os.environ.get("HUXIAO_CRASH_KEEP") != "1":
            from cli.databases import drop_database

            await asyncio.to_thread(drop_database, url)
        else:
            log(f"kept {url}")


async def verify(url: str, state: State, *, kills_wanted: int) -> tuple[dict, bool]:
    import asyncpg

    from domain.database import plain_url

    failures: list[str] = []
    conn = await asyncpg.connect(plain_url(url))
    try:
        async def per_id(sql: str, ids: set[str]) -> dict[str, int]:
            rows = await conn.fetch(sql, list(ids))
            return {r[0]: r[1] for r in rows}

        c_ids, i_ids, a_ids = state.checkins.sent, state.incidents.sent, state.arrivals.sent
        c_rows = await per_id("SELECT id::text, count(*) FROM checkins WHERE id = ANY($1::uuid[]) GROUP BY id", c_ids)
        k_rows = await per_id("SELECT id::text, count(*) FROM checkin_keys WHERE id = ANY($1::uuid[]) GROUP BY id",
                              c_ids)
        c_events = await per_id("SELECT payload->>'id', count(*) FROM events WHERE kind = 'checkin.created' "
                                "AND payload->>'id' = ANY($1::text[]) GROUP BY 1", c_ids)
        i_rows = await per_id("SELECT id::text, count(*) FROM incidents WHERE id = ANY($1::uuid[]) GROUP BY id", i_ids)
        i_events = await per_id("SELECT payload->>'id', count(*) FROM events WHERE kind = 'incident.created' "
                                "AND payload->>'id' = ANY($1::text[]) GROUP BY 1", i_ids)
        a_rows = await per_id("SELECT id::text, count(*) FROM arrivals WHERE id = ANY($1::uuid[]) GROUP BY id", a_ids)
        a_events = await per_id("SELECT payload->>'arrival_id', count(*) FROM events WHERE kind = 'incident.arrival' "
                                "AND payload->>'arrival_id' = ANY($1::text[]) GROUP BY 1", a_ids)
        officer_of = {r[0]: r[1] for r in await conn.fetch(
            "SELECT id::text, officer_id::text FROM checkins WHERE id = ANY($1::uuid[])", list(c_ids))}
        arrival_of = {r[0]: (r[1], r[2]) for r in await conn.fetch(
            "SELECT id::text, incident_id::text, responder_id::text FROM arrivals WHERE id = ANY($1::uuid[])",
            list(a_ids))}
        totals = await conn.fetchrow("""
            SELECT (SELECT count(*) FROM checkins) AS checkins, (SELECT count(*) FROM checkin_keys) AS checkin_keys,
                   (SELECT count(*) FROM incidents) AS incidents, (SELECT count(*) FROM arrivals) AS arrivals,
                   (SELECT count(*) FROM incidents WHERE status <> 'on_scene') AS not_on_scene
        """)
    finally:
        await conn.close()

    def tally(name: str, stream: Stream, rows: dict[str, int], events: dict[str, int], extra: dict | None = None):
        stored = [i for i in stream.sent if rows.get(i, 0) >= 1]
        duplicates = [i for i in stream.sent if rows.get(i, 0) > 1]
        lost = [i for i in stream.acknowledged if rows.get(i, 0) == 0]
        never_acked = stream.sent - stream.acknowledged
        retried_once = [i for i in stream.retried if rows.get(i, 0) == 1]
        event_bad = [i for i in stream.sent if events.get(i, 0) != 1]
        out = {"sent": len(stream.sent), "posts": stream.posts, "acknowledged": len(stream.acknowledged),
               "retried": len(stream.retried), "retried_stored_once": len(retried_once),
               "retry_found_it_stored": len(stream.answered_duplicate), "stored": len(stored),
               "duplicates": len(duplicates), "lost": len(lost), "never_acknowledged": len(never_acked),
               "events_not_exactly_one": len(event_bad), "refused": len(stream.refused),
               "failed_attempts": dict(stream.failures_by_cause), **(extra or {})}
        if duplicates or lost or never_acked or event_bad or stream.refused or len(stored) != len(stream.sent) \
                or len(retried_once) != len(stream.retried):
            failures.append(f"{name}: {out}; e.g. refused {stream.refused[:2]}")
        return out

    key_bad = [i for i in c_ids if k_rows.get(i, 0) != 1]
    wrong_officer = [i for i in c_ids if officer_of.get(i) != state.expected_officer[i]]
    wrong_arrival = [i for i in a_ids if arrival_of.get(i) != state.expected_arrival[i]]
    figures = {
        "kills_survived": state.kills,
        "killed_at_progress": state.killed_at,
        "checkins": tally("check-ins", state.checkins, c_rows, c_events,
                          {"checkin_keys_not_exactly_one": len(key_bad), "wrong_officer": len(wrong_officer)}),
        "incidents": tally("incidents", state.incidents, i_rows, i_events),
        "arrivals": tally("arrivals", state.arrivals, a_rows, a_events, {"wrong_incident_or_responder":
                                                                         len(wrong_arrival)}),
        "rows_in_database": dict(totals),
    }
    if state.kills < kills_wanted:
        failures.append(f"only {state.kills} of {kills_wanted} kills happened")
    if key_bad or wrong_officer or wrong_arrival:
        failures.append(f"{len(key_bad)} check-in keys not exactly once, {len(wrong_officer)} check-ins of the wrong "
                        f"officer, {len(wrong_arrival)} arrivals at the wrong incident or of the wrong responder")
    if (totals["checkins"], totals["checkin_keys"], totals["incidents"], totals["arrivals"]) != (
            len(c_ids), len(c_ids), len(i_ids), len(a_ids)):
        failures.append(f"rows other than those sent are stored: {dict(totals)}")
    if totals["not_on_scene"]:
        failures.append(f"{totals['not_on_scene']} incidents with counting arrivals are not on_scene")
    figures["failures"] = failures
    return figures, not failures


if __name__ == "__main__":
    run(main)
