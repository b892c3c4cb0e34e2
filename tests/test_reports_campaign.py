"""Campaign reports: figures against a hand-built world (duty verdicts equal the per-day compliance, 1/3/5 per
category, disputes), reproducible as of an instant, empty periods, scope, and the XLSX / HTML / PDF renderings."""

from __future__ import annotations

import ctypes.util
import io
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.factories import make_person, make_school
from tests.test_duty_support import batch, checkin_body, hour_ago, make_shift, make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
APT_TIMEOUT_S = 900


def _heartbeats(w, officer, start: datetime, until: datetime, *, every_min: int = 4) -> list[dict]:
    items, t = [], start
    while t < until:
        items.append(checkin_body(w, t, kind="arrive" if t == start else "heartbeat"))
        t += timedelta(minutes=every_min)
    return items


async def _incident(client, w, alarm_at: datetime, category: str, arrivals: list[tuple[int, int]]) -> dict:
    r = await client.post("/v1/incidents", headers=w.commander.headers, json={
        "category": category, "severity": 2, "source": "call_110", "alarm_at": alarm_at.isoformat(),
        "location": {"type": "Point", "coordinates": list(w.gate)}})
    assert r.status_code == 201, r.text
    inc = r.json()
    for tier, after_s in arrivals:
        r = await client.post(f"/v1/incidents/{inc['id']}/arrivals", headers=w.commander.headers, json={
            "tier": tier, "arrived_at": (alarm_at + timedelta(seconds=after_s)).isoformat(),
            "location": {"type": "Point", "coordinates": list(w.gate)}, "responder_id": w.officer.id})
        assert r.status_code == 201, r.text
    return inc


async def _build(app, client) -> dict:
    """A school with two posts (one staffed), four shifts (kept, late, partial, absent), three incidents, two
    disputes, and a campaign over the last days."""
    w = await make_world(app, client)
    r = await client.post(f"/v1/schools/{w.school['id']}/posts", headers=w.commander.headers, json={
        "name": "南门", "kind": "peak_duty", "location": {"type": "Point", "coordinates": list(w.near_post(north_m=-120))}})
    assert r.status_code == 201, r.text
    base = hour_ago(30)
    hour = timedelta(hours=1)
    s_kept = await make_shift(client, w, base, base + hour)
    s_late = await make_shift(client, w, base, base + hour, officer=w.officer2)
    await make_shift(client, w, base + 2 * hour, base + 3 * hour)  # absent
    s_partial = await make_shift(client, w, base + 2 * hour, base + 3 * hour, officer=w.officer2)
    kept = _heartbeats(w, w.officer, base - timedelta(minutes=5), base + hour)
    late = _heartbeats(w, w.officer2, base + timedelta(minutes=10), base + hour)
    partial = _heartbeats(w, w.officer2, base + 2 * hour, base + 2 * hour + timedelta(minutes=20))
    partial.append(checkin_body(w, base + 2 * hour + timedelta(minutes=21), kind="depart"))
    for items, who, shift in ((kept, w.officer, s_kept), (late, w.officer2, s_late),
                              (partial, w.officer2, s_partial)):
        for item in items:
            item["shift_id"] = shift["id"]
        out = await batch(client, who, items)
        assert all(x["status"] == "created" for x in out["results"]), out
    alarm = hour_ago(2)
    await _incident(client, w, alarm, "bullying", [(3, 50)])
    await _incident(client, w, alarm + timedelta(minutes=1), "bullying", [(1, 100), (3, 200)])
    no_arrival = await _incident(client, w, alarm + timedelta(minutes=2), "fraud", [])
    today = datetime.now(SHANGHAI).date()
    disputes = []
    for status in ("resolved", "mediating"):
        r = await client.post("/v1/disputes", headers=w.commander.headers, json={
            "school_id": w.school["id"], "kind": "school_parent", "found_on": today.isoformat(),
            "mediation_status": status})
        assert r.status_code == 201, r.text
        disputes.append(r.json())
    gate = {"type": "Point", "coordinates": list(w.gate)}
    r = await client.post("/v1/hazards", headers=w.commander.headers, json={  # overdue at as_of
        "category": "fire", "severity": "general", "description": "灭火器过期", "school_id": w.school["id"],
        "found_at": hour_ago(50).isoformat(), "deadline": hour_ago(26).isoformat(), "location": gate})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/hazards", headers=w.commander.headers, json={  # found, then closed
        "category": "traffic_facilities", "severity": "significant", "description": "减速带损坏",
        "school_id": w.school["id"], "found_at": hour_ago(40).isoformat(), "deadline": hour_ago(-48).isoformat(),
        "location": gate})
    assert r.status_code == 201, r.text
    for change in ({"status": "rectifying"}, {"status": "closed", "closing_note": "已修复"}):
        assert (await client.patch(f"/v1/hazards/{r.json()['id']}", headers=w.commander.headers,
                                   json=change)).status_code == 200
    r = await client.post("/v1/venues", headers=w.commander.headers, json={
        "name": "星际网吧", "kind": "internet_cafe", "location": gate})
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/venues/{r.json()['id']}/inspections", headers=w.commander.headers, json={
        "inspected_at": hour_ago(5).isoformat(), "findings": "接纳未成年人", "violations": ["接纳未成年人"],
        "actions": ["warning"]})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/campaigns", headers=w.commander.headers, json={
        "name": "护校安园专项行动", "starts_on": (today - timedelta(days=3)).isoformat(),
        "ends_on": (today + timedelta(days=1)).isoformat(),
        "report_dues": [{"name": "半年工作总结", "due": (today + timedelta(days=30)).isoformat()}]})
    assert r.status_code == 201, r.text
    as_of = await app.state.db.fetchval("SELECT clock_timestamp()")
    return {"w": w, "campaign": r.json(), "as_of": as_of, "days": sorted({(base + d).astimezone(SHANGHAI).date()
                                                                          for d in (timedelta(0), 2 * hour)}),
            "checkins": len(kept) + len(late) + len(partial), "no_arrival": no_arrival, "disputes": disputes}


@pytest.fixture(scope="module")
def built():
    return {}


async def _world(app, client, built: dict) -> dict:
    if not built:
        built.update(await _build(app, client))
    return built


async def _report(client, who, campaign_id, **params):
    r = await client.get(f"/v1/reports/campaign/{campaign_id}", headers=who.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_figures_of_a_hand_built_world(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    rep = await _report(client, w.commander, b["campaign"]["id"], as_of=b["as_of"].isoformat())
    assert datetime.fromisoformat(rep["as_of"]) == b["as_of"]
    assert rep["policy"] == "1-3-5@v1" and rep["jurisdiction_codes"] == [w.tree.code]
    t = rep["totals"]
    assert t["schools"] == {"schools": 1}
    assert {k: t["duty"][k] for k in ("posts", "posts_staffed", "shifts", "kept", "late", "partial", "absent")} == \
        {"posts": 2, "posts_staffed": 1, "shifts": 4, "kept": 1, "late": 1, "partial": 1, "absent": 1}
    assert t["duty"]["kept_ratio"] == 0.25 and t["duty"]["staffed_ratio"] == 0.5
    assert t["checkins"]["checkins"] == b["checkins"] and t["checkins"]["in_post_geofence"] == b["checkins"]
    inc = t["incidents"]
    assert (inc["incidents"], inc["compliant"], inc["not_compliant"], inc["pending"]) == (3, 1, 2, 0)
    assert [(inc[f"tier{k}_met"], inc[f"tier{k}_missed"]) for k in (1, 2, 3)] == [(1, 2), (1, 2), (2, 1)]
    assert inc["tier3_met_ratio"] == round(2 / 3, 4)
    cats = {c["category"]: (c["incidents"], c["compliant"]) for c in rep["incidents_by_category"]}
    assert cats == {"bullying": (2, 1), "fraud": (1, 0)}
    assert t["disputes"] == {"registered": 2, "resolved": 1}
    assert t["hazards"] == {"found": 2, "closed": 1, "found_and_closed": 1, "open": 1, "overdue": 1, "escalated": 0}
    assert {k: t["venues"][k] for k in ("venues", "inspected", "not_inspected", "inspections", "with_violations",
                                         "warnings", "fines")} == \
        {"venues": 1, "inspected": 1, "not_inspected": 0, "inspections": 1, "with_violations": 1, "warnings": 1,
         "fines": 0}
    # per jurisdiction: the county rolls up station A; station B has nothing
    rows = {j["code"]: j for j in rep["jurisdictions"]}
    assert rows[w.tree.code]["figures"]["duty"] == t["duty"] == rows[w.tree.station_a]["figures"]["duty"]
    assert rows[w.tree.station_b]["figures"]["incidents"]["incidents"] == 0 and rows[w.tree.station_b]["schools"] == 0
    assert rows[w.tree.code]["schools"] == 1
    [school] = rep["schools"]
    assert school["school_id"] == w.school["id"]
    assert school["figures"]["duty"]["shifts"] == 4 and school["figures"]["incidents"]["incidents"] == 3
    assert school["figures"]["disputes"]["resolved"] == 1
    assert school["figures"]["hazards"]["overdue"] == 1 and school["figures"]["venues"]["inspected"] == 1


async def test_duty_verdicts_equal_the_per_day_compliance(app, client, built):
    """The report judges shifts in SQL; the per-day compliance judges them with domain.duty in Python: they agree."""
    b = await _world(app, client, built)
    w = b["w"]
    counts = {"kept": 0, "late": 0, "partial": 0, "absent": 0}
    for day in b["days"]:
        r = await client.get("/v1/duty/compliance", headers=w.commander.headers,
                             params={"date": day.isoformat(), "jurisdiction_code": w.tree.code})
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            counts[item["verdict"]] += 1
    rep = await _report(client, w.commander, b["campaign"]["id"], as_of=b["as_of"].isoformat())
    assert counts == {k: rep["totals"]["duty"][k] for k in counts}


async def test_a_report_as_of_an_instant_ignores_what_was_recorded_later(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    before = await _report(client, w.commander, b["campaign"]["id"], as_of=b["as_of"].isoformat())
    # after as_of: a check-in, an incident, an arrival on the incident that had none, a dispute resolved, a school
    await batch(client, w.officer, [checkin_body(w, hour_ago(1))])
    await _incident(client, w, hour_ago(1), "violence", [(3, 30)])
    r = await client.post(f"/v1/incidents/{b['no_arrival']['id']}/arrivals", headers=w.commander.headers, json={
        "tier": 3, "arrived_at": (datetime.fromisoformat(b["no_arrival"]["alarm_at"]) + timedelta(seconds=40)).isoformat(),
        "location": {"type": "Point", "coordinates": list(w.gate)}, "responder_id": w.officer.id})
    assert r.status_code == 201, r.text
    r = await client.patch(f"/v1/disputes/{b['disputes'][1]['id']}", headers=w.commander.headers,
                           json={"mediation_status": "resolved"})
    assert r.status_code == 200
    await make_school(client, w.commander, jurisdiction_code=w.tree.station_b, lon=w.lon + 0.05, lat=w.lat)
    again = await _report(client, w.commander, b["campaign"]["id"], as_of=b["as_of"].isoformat())
    assert again == before
    now = await _report(client, w.commander, b["campaign"]["id"])
    assert now["totals"]["checkins"]["checkins"] == before["totals"]["checkins"]["checkins"] + 1
    assert now["totals"]["incidents"]["incidents"] == 4 and now["totals"]["incidents"]["compliant"] == 3
    assert now["totals"]["disputes"]["resolved"] == 2 and now["totals"]["schools"]["schools"] == 2
    assert datetime.fromisoformat(now["as_of"]) > b["as_of"]


async def test_a_period_without_data_and_an_as_of_before_the_period_give_empty_figures(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    r = await client.post("/v1/campaigns", headers=w.commander.headers, json={
        "name": "亮剑斩棘", "starts_on": "2022-03-22", "ends_on": "2022-04-15",
        "report_dues": [{"name": "工作总结", "due": "2022-04-15"}]})
    empty = await _report(client, w.commander, r.json()["id"])
    assert empty["totals"]["schools"] == {"schools": 0} and empty["schools"] == []
    assert empty["totals"]["duty"]["shifts"] == 0 and empty["totals"]["duty"]["kept_ratio"] is None
    assert empty["totals"]["incidents"]["incidents"] == 0 and empty["incidents_by_category"] == []
    early = await _report(client, w.commander, b["campaign"]["id"],
                          as_of=(datetime.fromisoformat(b["campaign"]["period"]["from"]) - timedelta(days=1)).isoformat())
    assert early["totals"]["checkins"]["checkins"] == 0 and early["totals"]["disputes"]["registered"] == 0


async def test_scope_narrowing_and_bad_parameters(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    cid = b["campaign"]["id"]
    only_b = await _report(client, w.commander, cid, jurisdiction_code=w.tree.station_b, as_of=b["as_of"].isoformat())
    assert only_b["jurisdiction_codes"] == [w.tree.station_b] and only_b["totals"]["incidents"]["incidents"] == 0
    station_officer = await make_person(app, client, role="officer", jurisdiction_code=w.tree.station_a)
    mine = await _report(client, station_officer, cid, as_of=b["as_of"].isoformat())
    assert mine["jurisdiction_codes"] == [w.tree.station_a] and mine["totals"]["duty"]["shifts"] == 4
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for params, field in (({"as_of": future}, "as_of"), ({"jurisdiction_code": "ZZ_nowhere"}, "jurisdiction_code")):
        r = await client.get(f"/v1/reports/campaign/{cid}", headers=w.commander.headers, params=params)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    outsider = await make_world(app, client)
    r = await client.get(f"/v1/reports/campaign/{cid}", headers=outsider.commander.headers)
    assert r.status_code == 404


async def test_xlsx_opens_with_the_figures(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    r = await client.get(f"/v1/reports/campaign/{b['campaign']['id']}", headers=w.commander.headers,
                         params={"format": "xlsx", "as_of": b["as_of"].isoformat()})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["概况", "分辖区情况", "分学校情况", "警情分类与1、3、5分钟响应"]
    schools = book["分学校情况"]
    headers = [c.value for c in schools[2]]
    row = [c.value for c in schools[3]]
    assert row[1] == w.school["name"]
    assert row[headers.index("班次数")] == 4 and row[headers.index("缺岗")] == 1
    assert row[headers.index("警情数")] == 3
    summary = {r[0]: r[1] for r in book["概况"].iter_rows(values_only=True) if r and r[0]}
    assert summary["覆盖学校"] == 1 and summary["1/3/5达标"] == 1
    audit = await app.state.db.fetchval("SELECT count(*) FROM audit_log WHERE entity = 'report' AND entity_id = :id",
                                        {"id": b["campaign"]["id"]})
    assert audit >= 1


async def test_html_is_printable_with_svg_charts(app, client, built):
    b = await _world(app, client, built)
    w = b["w"]
    r = await client.get(f"/v1/reports/campaign/{b['campaign']['id']}",
                         headers={**w.commander.headers, "Accept": "text/html,application/xhtml+xml"},
                         params={"as_of": b["as_of"].isoformat()})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert page.count("<svg") == 3 and "<script" not in page
    assert "护校安园专项行动" in page and "半年工作总结" in page and w.school["name"] in page
    assert b["as_of"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") in page
    same = await client.get(f"/v1/reports/campaign/{b['campaign']['id']}", headers=w.commander.headers,
                            params={"format": "html", "as_of": b["as_of"].isoformat()})
    assert same.text == page


def _install_poppler() -> str | None:
    """Why pdftoppm (poppler-utils) and a CJK font could not be had, or None when they are there."""
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("fc-list") else ""
    pango = ctypes.util.find_library("pango-1.0") and ctypes.util.find_library("pangoft2-1.0")
    if shutil.which("pdftoppm") and fonts and pango:
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "pdftoppm or a CJK font is missing (apt-get install poppler-utils fonts-noto-cjk, as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"],
                ["apt-get", "install", "-y", "--no-install-recommends", "poppler-utils", "fonts-noto-cjk",
                 "libpango-1.0-0", "libpangoft2-1.0-0"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        if done.returncode != 0:
            return f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-800:]}"
    return None if shutil.which("pdftoppm") else "poppler-utils installed but pdftoppm is not on PATH"


def _first_page(content: bytes) -> tuple[int, str]:
    """Page 1 rendered by pdftoppm: its number of dark pixels, and the fonts the PDF embeds (pdffonts)."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "report.pdf"
        pdf.write_bytes(content)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(Path(tmp) / "page")],
                       check=True, timeout=120)
        [png] = list(Path(tmp).glob("page*.png"))
        image = Image.open(png).convert("L")
        dark = sum(1 for p in image.getdata() if p < 128)
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, timeout=60).stdout
    return dark, fonts


async def test_pdf_prints_a_page_that_is_not_blank(app, client, built):
    problem = _install_poppler()
    if problem:
        pytest.fail(problem, pytrace=False)
    b = await _world(app, client, built)
    w = b["w"]
    r = await client.get(f"/v1/reports/campaign/{b['campaign']['id']}", headers=w.commander.headers,
                         params={"format": "pdf", "as_of": b["as_of"].isoformat()})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    dark, fonts = _first_page(r.content)
    assert dark > 2000, f"page 1 looks blank ({dark} dark pixels)"
    assert "CJK" in fonts or "Hei" in fonts or "Han" in fonts, fonts


async def test_settled_shifts_are_judged_once_and_read_back_the_same(app, client, built):
    """Shifts that ended more than the check-in max age ago are judged once into shift_verdicts; a report reading
    them gives the figures a live judgement gives (here the max age is 1 h, so the 30-hour-old shifts settle)."""
    import uuid

    from domain import reports
    from domain.callers import system_caller

    b = await _world(app, client, built)
    w = b["w"]
    live = await _report(client, w.commander, b["campaign"]["id"], as_of=b["as_of"].isoformat())
    caller = system_caller(w.tree.code, w.tree.code)
    count = "SELECT count(*) FROM shift_verdicts v JOIN shifts s ON s.id = v.shift_id WHERE s.jurisdiction_code = :c"
    assert await app.state.db.fetchval(count, {"c": w.tree.station_a}) == 0
    for _ in range(2):
        rep = await reports.campaign_report(app.state.db, caller=caller, campaign_id=uuid.UUID(b["campaign"]["id"]),
                                            as_of=b["as_of"], now=datetime.now(UTC), heartbeat_cover_s=300.0,
                                            checkin_max_age_s=3600, jurisdiction_code=None)
        assert rep.totals["duty"] == live["totals"]["duty"]
        assert await app.state.db.fetchval(count, {"c": w.tree.station_a}) == 4
    verdicts = await app.state.db.fetch("SELECT v.verdict FROM shift_verdicts v JOIN shifts s ON s.id = v.shift_id "
                                        "WHERE s.jurisdiction_code = :c ORDER BY v.verdict", {"c": w.tree.station_a})
    assert [v["verdict"] for v in verdicts] == ["absent", "kept", "late", "partial"]
