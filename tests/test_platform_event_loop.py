"""CPU-heavy work runs off the event loop: while 8 people sign in (argon2) or a large legal import is read, other
requests (here `/healthz`) are answered at once, not after it. Measured relative to the heavy work itself."""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher

from tests.factories import PASSWORD, make_person, make_tree


async def _healthz_latency_during(client, heavy) -> tuple[float, float]:
    """(the longest a /healthz sent while `heavy` runs took — they are sent one after another for as long as it
    runs — and how long `heavy` took)."""
    started = time.perf_counter()
    task = asyncio.create_task(heavy())
    worst = 0.0
    last = time.perf_counter()
    while not task.done():
        await asyncio.sleep(0.005)  # an in-process /healthz never suspends: let the heavy task run
        r = await client.get("/healthz")
        assert r.status_code == 200
        now = time.perf_counter()
        worst, last = max(worst, now - last - 0.005), now  # how long the loop could not answer
    await task
    return worst, time.perf_counter() - started


async def test_sign_ins_do_not_stall_other_requests(app, client):
    tree = await make_tree(app)
    people = [await make_person(app, client, role="officer", jurisdiction_code=tree.station_a, login=False)
              for _ in range(8)]
    # Production-cost hashes (the suite hashes cheaply, see conftest): each check costs what it costs in service,
    # so checks made on the event loop would stall it and fail this test.
    strong = PasswordHasher().hash(PASSWORD)
    await app.state.db.execute("UPDATE users SET password_hash = :h WHERE id = ANY(CAST(:ids AS uuid[]))",
                               {"h": strong, "ids": [p.id for p in people]})

    async def logins():
        answers = await asyncio.gather(*[client.post("/v1/auth/token", data={
            "username": p.username, "password": PASSWORD}) for p in people])
        assert all(a.status_code == 200 for a in answers)

    latency, total = await _healthz_latency_during(client, logins)
    assert latency < total / 3, (latency, total)


async def test_a_large_import_does_not_stall_other_requests(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    features = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [100 + i * 0.001, 30], [100 + i * 0.001 + 0.0005, 30], [100 + i * 0.001 + 0.0005, 30.0005],
        [100 + i * 0.001, 30.0005], [100 + i * 0.001, 30]]]},
        "properties": {"name": f"学校{i}", "kind": "primary", "jurisdiction_code": tree.station_a,
                       "external_id": f"{tree.code}-{i}"}} for i in range(3000)]

    async def load():
        r = await client.post("/v1/schools/import", headers=commander.headers,
                              json={"type": "FeatureCollection", "features": features, "crs": "gcj02"})
        assert r.status_code == 200 and r.json()["created"] == 3000, r.text[:300]

    latency, total = await _healthz_latency_during(client, load)
    assert latency < total / 3, (latency, total)
