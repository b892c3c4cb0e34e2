"""The officers' phone page in a real browser: Debian's chromium, driven by Playwright, at 360 px wide, against a
real server and database (the setup of tests/test_map_browser.py).

An officer signs in, sees today's shift, presses 到岗 with an emulated position, loses the network, presses 在岗
twice (both wait in IndexedDB), reloads the page without network (the service worker serves it, the login holds),
gets the network back, and the three check-ins are in the database exactly once, judged, and shown so. An alarm
reported near the post arrives from the live feed and the officer records the arrival. Signing out with an unsent
check-in warns, then clears the queue and the token. Screenshots: docs/phone-*.png when
HUXIAO_PHONE_SCREENSHOTS names a directory.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import PASSWORD, offset
from tests.test_duty_support import make_shift, make_world
from tests.test_map_browser import Server, _time_zone_away_from_midnight, browser  # noqa: F401  (a fixture)

STEP_TIMEOUT_MS = 30_000
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def server(settings):
    with Server(settings) as base:
        yield base


def _screenshot_dir(tmp_path: Path) -> Path:
    where = os.environ.get("HUXIAO_PHONE_SCREENSHOTS")
    return Path(where) if where else tmp_path


async def _wait(page, expression: str, arg=None) -> None:
    await page.wait_for_function(expression, arg=arg, timeout=STEP_TIMEOUT_MS)


async def _records(page) -> list[dict]:
    return await page.evaluate("() => window.huxiaoPhone.records.map(r => ({id: r.id, state: r.state, "
                               "kind: r.body.kind, checkin: r.checkin || null}))")


async def _stored(db, officer_id: str) -> list[dict]:
    rows = await db.fetch("SELECT id, kind, geofence, flags FROM checkins WHERE officer_id = :o ORDER BY recorded_at",
                          {"o": uuid.UUID(officer_id)})
    return [dict(r) for r in rows]


async def test_a_whole_shift_with_a_stretch_without_network(app, client, db, server, browser, tmp_path):  # noqa: F811
    shots = _screenshot_dir(tmp_path)
    w = await make_world(app, client, time_zone=_time_zone_away_from_midnight())
    now = datetime.now(UTC).replace(microsecond=0)
    await make_shift(client, w, now - timedelta(minutes=10), now + timedelta(minutes=50))
    lon, lat = w.near_post(east_m=4)
    context = await browser.new_context(**PHONE, locale="zh-CN", permissions=["geolocation"],
                                        geolocation={"longitude": lon, "latitude": lat, "accuracy": 8})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "net::" not in m.text else None)
    dialogs: list[str] = []
    try:
        r = await page.goto(server + "/m")
        assert page.url == server + "/m/" and r.headers["content-security-policy"].startswith("default-src 'self'")
        await page.wait_for_selector("#login:not([hidden])", timeout=STEP_TIMEOUT_MS)
        await page.fill("#username", w.officer.username)
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await _wait(page, "() => window.huxiaoPhone.ready && window.huxiaoPhone.shifts.length === 1")
        shift_text = await page.text_content("#shifts")
        assert "北门护学岗" in shift_text and w.school["name"] in shift_text and "进行中" in shift_text
        assert await page.locator("#pin .leaflet-marker-icon").count() == 1
        await _wait(page, "() => window.huxiaoPhone.offlineReady === true")  # the service worker keeps the page
        # Usable one-handed on 360 px: nothing wider than the screen, the three buttons big and at the bottom.
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 360
        for button in ("#arrive", "#heartbeat", "#depart"):
            box = await page.locator(button).bounding_box()
            assert box["width"] >= 100 and box["height"] >= 64 and box["y"] + box["height"] > 740 - 100, (button, box)

        # 到岗, online: sent at once and judged.
        await page.click("#arrive")
        await _wait(page, "() => window.huxiaoPhone.records.some(r => r.state === 'created')")
        assert "在岗位范围内" in await page.text_content("#queue")
        assert [c["kind"] for c in await _stored(db, w.officer.id)] == ["arrive"]
        await page.screenshot(path=str(shots / "phone-shift.png"))

        # No network: two 在岗 wait on the phone.
        await context.set_offline(True)
        await _wait(page, "() => !navigator.onLine")
        await page.click("#heartbeat")
        await _wait(page, "() => window.huxiaoPhone.records.filter(r => r.state === 'queued').length === 1")
        await context.set_geolocation({"longitude": lon, "latitude": offset(lon, lat, north_m=3)[1], "accuracy": 12})
        await page.click("#heartbeat")
        await _wait(page, "() => window.huxiaoPhone.records.filter(r => r.state === 'queued').length === 2")
        assert "待上传" in await page.text_content("#queue") and "离线" in await page.text_content("#net")
        assert len(await _stored(db, w.officer.id)) == 1
        # A reload without network: the service worker serves the page, IndexedDB the login and the queue.
        await page.reload()
        await _wait(page, "() => window.huxiaoPhone.ready && window.huxiaoPhone.records.length === 3")
        assert await page.is_hidden("#login") and w.school["name"] in await page.text_content("#shifts")
        await page.screenshot(path=str(shots / "phone-offline.png"))
        on_phone = {r["id"]: r["kind"] for r in await _records(page)}

        # The network returns: the queue is replayed with the same UUIDs, once.
        await context.set_offline(False)
        await _wait(page, "() => window.huxiaoPhone.records.length === 3 && "
                          "window.huxiaoPhone.records.every(r => r.state === 'created' || r.state === 'duplicate')")
        stored = await _stored(db, w.officer.id)
        assert {str(c["id"]): c["kind"] for c in stored} == on_phone
        assert sorted(c["kind"] for c in stored) == ["arrive", "heartbeat", "heartbeat"]
        assert all(c["geofence"] == "inside" for c in stored)
        assert "stale" not in {f for c in stored for f in c["flags"]}
        records = await _records(page)
        assert all(r["checkin"]["geofence"] == "inside" for r in records)
        queue_text = await page.text_content("#queue-summary")
        assert "待上传 0 条" in queue_text and "已接收 3 条" in queue_text

        # An alarm near the post arrives live, with the arrival recorded from the phone.
        await _wait(page, "() => window.huxiaoPhone.live")
        r = await client.post("/v1/incidents", headers=w.commander.headers, json={
            "category": "suspicious_person", "severity": 3, "source": "one_button_alarm", "description": "校门口可疑人员",
            "location": {"type": "Point", "coordinates": list(w.near_post(north_m=40))},
            "alarm_at": datetime.now(UTC).isoformat(), "jurisdiction_code": w.tree.station_a})
        assert r.status_code == 201, r.text
        incident_id = r.json()["id"]
        await _wait(page, "(id) => window.huxiaoPhone.alarms.some(a => a.id === id)", incident_id)
        alarm = page.locator(f"#alarms li[data-id='{incident_id}']")
        assert "可疑人员" in await alarm.text_content()
        await alarm.locator("button").click()
        await _wait(page, "(id) => document.querySelector(`#alarms li[data-id='${id}'] .result`).textContent"
                          " && !document.querySelector(`#alarms li[data-id='${id}'] .result`).textContent.endsWith('…')",
                    incident_id)
        assert await alarm.get_attribute("data-arrived") == "yes", await alarm.locator(".result").text_content()
        arrivals = await db.fetch("SELECT responder_id FROM arrivals WHERE incident_id = :i",
                                  {"i": uuid.UUID(incident_id)})
        assert [str(a["responder_id"]) for a in arrivals] == [w.officer.id]
        await page.screenshot(path=str(shots / "phone-alarm.png"))

        # English labels, one tap away.
        await page.click("#lang")
        assert await page.text_content("#arrive b") == "Arrive"
        assert "inside the post's geofence" in await page.text_content("#queue")
        assert "Suspicious person" in await alarm.text_content()
        await page.screenshot(path=str(shots / "phone-en.png"))
        await page.click("#lang")

        # Signing out with something unsent: a warning, then the queue and the token are gone from the phone.
        await context.set_offline(True)
        await _wait(page, "() => !navigator.onLine")
        await page.click("#depart")
        await _wait(page, "() => window.huxiaoPhone.records.some(r => r.state === 'queued')")

        async def accept(dialog):
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await page.click("#logout")
        await page.wait_for_selector("#login:not([hidden])", timeout=STEP_TIMEOUT_MS)
        assert dialogs and "1 条签到没有上传" in dialogs[0]
        left = await page.evaluate("""async () => {
            const db = await new Promise((ok, no) => { const r = indexedDB.open('huxiao-m'); r.onsuccess = () => ok(r.result); r.onerror = no; });
            const count = (store) => new Promise((ok) => { const r = db.transaction(store).objectStore(store).count(); r.onsuccess = () => ok(r.result); });
            return { queue: await count('queue'), kv: await new Promise((ok) => { const r = db.transaction('kv').objectStore('kv').getAllKeys(); r.onsuccess = () => ok(r.result); }) };
        }""")
        assert left["queue"] == 0 and "session" not in left["kv"], left
        await context.set_offline(False)
        assert len(await _stored(db, w.officer.id)) == 3  # the unsent depart never reached the server
        assert errors == []
    finally:
        await context.close()
