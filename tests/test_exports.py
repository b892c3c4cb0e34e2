"""Exports: CSV (BOM, headers, local times, the list's rows and scope), XLSX (real date-times, sheet limit), audit,
bad parameters."""
# ruff: noqa: F811  (the `clock` fixture is imported from tests/test_incidents_support.py)

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from domain import exports
from domain.database import unit_of_work
from tests.factories import make_person, make_tree
from tests.test_duty_support import batch, checkin_body, hour_ago, make_shift
from tests.test_duty_support import make_world as make_duty_world
from tests.test_incidents_support import (  # noqa: F401  (clock is a fixture)
    arrive,
    clock,
    make_world,
    report,
)

BOM = "\ufeff".encode()
MIN = timedelta(minutes=1)


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM), body[:20]
    return list(csv.reader(io.StringIO(body[len(BOM):].decode("utf-8"))))


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def local(iso: str, tz: str = "Asia/Shanghai") -> str:
    """An API time (RFC 3339) as the export writes it: local wall time to the second."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def open_xlsx(body: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(body))


async def list_all(client, path: str, person, params: dict) -> list[dict]:
    items, cursor = [], None
    while True:
        r = await client.get(path, headers=person.headers, params={**params, "limit": 1000,
                                                                   **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def export_entries(app, export_id: str) -> list[dict]:
    async with unit_of_work(app.state.pool) as db:
        rows = await db.fetch("SELECT actor_id, actor_name, jurisdiction_code, action, changes FROM audit_log "
                              "WHERE entity = 'export' AND entity_id = :id", {"id": export_id})
    return [dict(r) for r in rows]


# --- incidents -------------------------------------------------------------------------------------------

async def _incidents(app, client, clock):
    w = await make_world(app, client)
    met = await report(client, w, w.commander, clock.at(-600), category="bullying", severity=3)
    await arrive(client, w.commander, met, w.guard, 1, 45)
    await arrive(client, w.commander, met, w.police, 3, 200)
    missed = await report(client, w, w.commander, clock.at(-400), description="=HYPERLINK(\"http://x\")")
    pending = await report(client, w, w.commander, clock.at(-30), where=w.scene(north_m=3000))
    return w, [pending, missed, met]  # newest alarm first, as the list


async def test_incident_csv_has_bom_chinese_headers_local_times_and_the_listed_rows(app, client, clock):
    w, incs = await _incidents(app, client, clock)
    r = await client.get("/v1/exports/incidents", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.code})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="incidents-')
    rows = read_csv(r.content)
    assert rows[0][:8] == ["警情编号", "辖区代码", "辖区", "类别", "等级", "来源", "状态", "报警时间"]
    assert rows[0][-1] == "时区"
    got = as_dicts(rows)
    listed = await list_all(client, "/v1/incidents", w.commander, {"jurisdiction_code": w.tree.code})
    assert [g["警情编号"] for g in got] == [i["id"] for i in listed] == [i["id"] for i in incs]
    for g, i in zip(got, listed, strict=True):
        assert g["报警时间"] == local(i["alarm_at"])  # 2026-09-01 07:20 UTC is 15:20 in Shanghai
        assert g["时区"] == "Asia/Shanghai"
        assert g["类别"] == i["category"] and int(g["等级"]) == i["severity"] and g["状态"] == i["status"]
        assert g["在护校区内"] == ("TRUE" if i["in_zone"] else "FALSE")
        assert float(g["经度(WGS-84)"]) == pytest.approx(i["location"]["coordinates"][0], abs=1e-7)
        states = {t["tier"]: t["state"] for t in i["score"]["tiers"]}
        assert [g["一级响应结果"], g["二级响应结果"], g["三级响应结果"]] == [states[1], states[2], states[3]]
        assert g["1/3/5达标"] == {True: "TRUE", False: "FALSE", None: ""}[i["score"]["compliant"]]
    assert got[2]["一级响应用时(秒)"] == "45" and got[2]["三级响应用时(秒)"] == "200"
    assert float(got[2]["距最近学校(米)"]) == listed[2]["nearest_school"]["distance_m"]  # rounded to 0.01 m as the API
    assert got[0]["一级响应结果"] == "pending" and got[1]["一级响应结果"] == "missed"
    # a description Excel would run as a formula is defused in CSV
    assert got[1]["简要情况"] == "'=HYPERLINK(\"http://x\")"
    # 15:20 local: the Shanghai wall time of the alarm, not UTC
    assert got[2]["报警时间"] == "2026-09-01 15:20:00"


async def test_incident_csv_in_english_keeps_the_lists_filter(app, client, clock):
    w, incs = await _incidents(app, client, clock)
    for params in ({"in_zone": "true"}, {"category": "bullying"}, {"school_id": w.school["id"]},
                   {"from": clock.at(-500).isoformat(), "to": clock.now.isoformat()},
                   {"near": f"{w.lon},{w.lat}", "radius_m": 500}):
        params = {**params, "jurisdiction_code": w.tree.code}
        r = await client.get("/v1/exports/incidents", headers=w.commander.headers, params={**params, "lang": "en"})
        assert r.status_code == 200, r.text
        rows = read_csv(r.content)
        assert rows[0][:3] == ["Incident ID", "Jurisdiction code", "Jurisdiction"] and rows[0][-1] == "Time zone"
        listed = await list_all(client, "/v1/incidents", w.commander, params)
        assert [g["Incident ID"] for g in as_dicts(rows)] == [i["id"] for i in listed], params
        assert listed, params


async def test_incidents_of_another_county_never_appear(app, client, clock):
    w, _ = await _incidents(app, client, clock)
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.get("/v1/exports/incidents", headers=stranger.headers)
    ids = {g["警情编号"] for g in as_dicts(read_csv(r.content))}
    assert ids == set()
    r = await client.get("/v1/exports/incidents", headers=stranger.headers,
                         params={"jurisdiction_code": w.tree.code})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"
    # station B's officer sees station B only: the incidents are in station A (the zone school's) or the county
    r = await client.get("/v1/exports/incidents", headers=w.outsider.headers)
    assert as_dicts(read_csv(r.content)) == []


async def test_incident_xlsx_has_real_local_datetimes_and_headers(app, client, clock):
    w, incs = await _incidents(app, client, clock)
    r = await client.get("/v1/exports/incidents", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.code, "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == exports.XLSX_MEDIA_TYPE
    assert r.headers["x-export-rows"] == "3" and int(r.headers["content-length"]) == len(r.content)
    book = open_xlsx(r.content)
    [sheet] = book.worksheets
    assert sheet.title == "警情"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "警情编号" and rows[0][7] == "报警时间"
    assert [x[0] for x in rows[1:]] == [i["id"] for i in incs]
    for x, i in zip(rows[1:], incs, strict=True):
        alarm = datetime.fromisoformat(i["alarm_at"]).astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
        assert x[7] == alarm and isinstance(x[7], datetime)
        assert x[4] == i["severity"] and x[9] is i["in_zone"]
    assert sheet.cell(row=2, column=8).number_format == "yyyy-mm-dd hh:mm:ss"
    assert rows[2][-3] == "=HYPERLINK(\"http://x\")"  # a string in XLSX, never a formula
    assert sheet.cell(row=3, column=len(rows[0]) - 2).data_type == "s"
    r = await client.get("/v1/exports/incidents", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.code, "format": "xlsx", "lang": "en"})
    sheet = open_xlsx(r.content).worksheets[0]
    assert sheet.title == "Incidents" and sheet.cell(row=1, column=8).value == "Alarm time"


async def test_columns_chooses_and_orders_the_columns(app, client, clock):
    w, incs = await _incidents(app, client, clock)
    params = {"jurisdiction_code": w.tree.code, "columns": "status,id", "lang": "en"}
    r = await client.get("/v1/exports/incidents", headers=w.commander.headers, params=params)
    listed = await list_all(client, "/v1/incidents", w.commander, {"jurisdiction_code": w.tree.code})
    assert read_csv(r.content) == [["Status", "Incident ID"]] + [[i["status"], i["id"]] for i in listed]
    assert {i["status"] for i in listed} == {"open", "on_scene"}
    r = await client.get("/v1/exports/incidents", headers=w.commander.headers,
                         params={**params, "columns": ["alarm_at", "time_zone"], "format": "xlsx"})
    rows = list(open_xlsx(r.content).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("Alarm time", "Time zone") and isinstance(rows[1][0], datetime)
    [entry] = await export_entries(app, r.headers["x-export-id"])
    assert entry["changes"]["filters"]["columns"] == ["alarm_at", "time_zone"]


# --- check-ins ----------------------------------------------------------------------------------------------

async def _checkins(app, client, *, time_zone: str = "Asia/Shanghai"):
    w = await make_duty_world(app, client, time_zone=time_zone)
    start = hour_ago(3)
    await make_shift(client, w, start, start + 90 * MIN)
    mine = [checkin_body(w, start + n * 4 * MIN, kind="arrive" if n == 0 else "heartbeat") for n in range(5)]
    theirs = [checkin_body(w, start + (n * 4 + 1) * MIN, north_m=300, note="+86 138") for n in range(3)]
    assert all(x["status"] == "created" for x in (await batch(client, w.officer, mine))["results"])
    assert all(x["status"] == "created" for x in (await batch(client, w.officer2, theirs))["results"])
    return w, mine, theirs


async def test_checkin_csv_matches_the_list_and_officers_export_only_their_own(app, client):
    w, mine, theirs = await _checkins(app, client, time_zone="America/New_York")
    r = await client.get("/v1/exports/checkins", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.code, "lang": "en"})
    assert r.status_code == 200, r.text
    got = as_dicts(read_csv(r.content))
    listed = await list_all(client, "/v1/checkins", w.commander, {"jurisdiction_code": w.tree.code})
    assert [g["Check-in ID"] for g in got] == [c["id"] for c in listed]
    assert len(got) == len(mine) + len(theirs)
    for g, c in zip(got, listed, strict=True):
        assert g["Recorded at"] == local(c["recorded_at"], "America/New_York")
        assert g["Time zone"] == "America/New_York"
        assert g["Officer ID"] == c["officer_id"] and g["Geofence"] == (c["geofence"] or "")
        assert g["Flags"] == ";".join(c["flags"])
        assert g["In a school zone"] == ("TRUE" if c["in_school_zone"] else "FALSE")
        assert float(g["Accuracy (m)"]) == c["accuracy_m"]
    assert {g["Note"] for g in got if g["Officer ID"] == w.officer2.id} == {"'+86 138"}
    # the officer's own export holds his check-ins only, like his list
    r = await client.get("/v1/exports/checkins", headers=w.officer.headers)
    assert [g["签到编号"] for g in as_dicts(read_csv(r.content))] == [c["id"] for c in mine]
    # filters as in the list
    r = await client.get("/v1/exports/checkins", headers=w.commander.headers,
                         params={"flags": "no_shift,mock_location", "jurisdiction_code": w.tree.code})
    listed = await list_all(client, "/v1/checkins", w.commander, {"flags": "no_shift,mock_location",
                                                                   "jurisdiction_code": w.tree.code})
    assert [g["签到编号"] for g in as_dicts(read_csv(r.content))] == [c["id"] for c in listed]
    assert {c["id"] for c in listed} == {c["id"] for c in theirs}


async def test_a_dashboard_key_exports_its_jurisdictions_rows_as_in_the_database(app, client):
    w, mine, theirs = await _checkins(app, client)
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    viewer_key = (await client.post("/v1/api-keys", headers=admin.headers, json={
        "name": "big screen", "jurisdiction_code": w.tree.station_a})).json()["key"]
    r = await client.get("/v1/exports/checkins", headers={"X-API-Key": viewer_key})
    assert r.status_code == 403  # officers' positions are for commanders' keys only
    key = (await client.post("/v1/api-keys", headers=admin.headers, json={
        "name": "command centre", "jurisdiction_code": w.tree.station_a, "role": "commander",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()})).json()["key"]
    r = await client.get("/v1/exports/checkins", headers={"X-API-Key": key, "X-Request-ID": "export-1"})
    assert r.status_code == 200, r.text
    got = as_dicts(read_csv(r.content))
    async with unit_of_work(app.state.pool) as db:
        stored = await db.fetch("""
            SELECT CAST(c.id AS text) AS id, c.accuracy_m, c.kind FROM checkins c
            JOIN jurisdictions j ON j.code = c.jurisdiction_code
            WHERE j.path <@ (SELECT path FROM jurisdictions WHERE code = :code)
            ORDER BY c.recorded_at, c.id""", {"code": w.tree.station_a})
    assert [(g["签到编号"], float(g["定位精度(米)"]), g["类型"]) for g in got] == [
        (x["id"], x["accuracy_m"], x["kind"]) for x in stored]
    assert len(got) == len(mine) + len(theirs)
    [entry] = await export_entries(app, r.headers["x-export-id"])
    assert entry["changes"]["rows"] == len(stored)
    async with unit_of_work(app.state.pool) as db:
        row = await db.fetchrow("SELECT actor_kind, request_id FROM audit_log WHERE entity = 'export' "
                                "AND entity_id = :id", {"id": r.headers["x-export-id"]})
    assert dict(row) == {"actor_kind": "api_key", "request_id": "export-1"}


async def test_checkins_of_another_county_never_appear(app, client):
    w, _, _ = await _checkins(app, client)
    other = await make_tree(app)
    stranger = await make_person(app, client, role="commander", jurisdiction_code=other.code)
    r = await client.get("/v1/exports/checkins", headers=stranger.headers,
                         params={"school_id": w.school["id"]})
    assert r.status_code == 200 and as_dicts(read_csv(r.content)) == []
    r = await client.get("/v1/exports/checkins", headers=stranger.headers, params={"format": "xlsx",
                                                                                  "officer_id": w.officer.id})
    rows = list(open_xlsx(r.content).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 1 and rows[0][0] == "签到编号"  # the header, no rows


async def test_xlsx_beyond_the_sheet_limit_goes_on_further_sheets(app, client, monkeypatch):
    w, mine, theirs = await _checkins(app, client)
    monkeypatch.setattr(exports, "XLSX_SHEET_MAX_ROWS", 4)  # header + 3 rows per sheet
    r = await client.get("/v1/exports/checkins", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.code, "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["x-export-rows"] == "8" and r.headers["x-export-sheets"] == "3"
    book = open_xlsx(r.content)
    assert [s.title for s in book.worksheets] == ["签到", "签到 (2)", "签到 (3)"]
    ids = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "签到编号" and len(rows) <= 4
        ids += [x[0] for x in rows[1:]]
    listed = await list_all(client, "/v1/checkins", w.commander, {"jurisdiction_code": w.tree.code})
    assert ids == [c["id"] for c in listed] and len(ids) == len(mine) + len(theirs)
    recorded = book.worksheets[1].cell(row=2, column=6).value
    assert isinstance(recorded, datetime)
    assert recorded == datetime.fromisoformat(listed[3]["recorded_at"]).astimezone(
        ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)


# --- audit ---------------------------------------------------------------------------------------------------

async def test_every_export_is_audited_with_its_filter_and_row_count(app, client):
    w, mine, theirs = await _checkins(app, client)
    r = await client.get("/v1/exports/checkins", headers=w.commander.headers,
                         params={"officer_id": w.officer2.id, "flags": "no_shift"})
    assert r.status_code == 200
    [entry] = await export_entries(app, r.headers["x-export-id"])
    assert entry["actor_id"] == w.commander.id and entry["action"] == "export"
    assert entry["jurisdiction_code"] == w.commander.jurisdiction_code
    assert entry["changes"] == {"dataset": "checkins", "format": "csv", "lang": "zh", "rows": len(theirs),
                                "completed": True, "filters": {"officer_id": w.officer2.id,
                                                               "flags": ["no_shift"]}}
    r = await client.get("/v1/exports/checkins", headers=w.commander.headers,
                         params={"jurisdiction_code": w.tree.station_a, "format": "xlsx", "lang": "en"})
    [entry] = await export_entries(app, r.headers["x-export-id"])
    assert entry["jurisdiction_code"] == w.tree.station_a
    assert entry["changes"]["rows"] == len(mine) + len(theirs) and entry["changes"]["format"] == "xlsx"
    # an admin reads it in the audit log
    admin = await make_person(app, client, role="admin", jurisdiction_code=w.tree.code)
    log = (await client.get("/v1/audit", headers=admin.headers,
                            params={"entity": "export", "entity_id": r.headers["x-export-id"]})).json()
    assert [e["changes"]["rows"] for e in log["items"]] == [len(mine) + len(theirs)]
    r = await client.get("/v1/exports/duty-alerts", headers=w.commander.headers,
                         params={"from": "2026-09-01T00:00:00+08:00", "kind": "off_post"})
    [entry] = await export_entries(app, r.headers["x-export-id"])
    assert entry["changes"]["filters"] == {"from": "2026-09-01 00:00:00+08:00", "kind": "off_post"}
    assert entry["changes"]["rows"] == 0


async def test_a_download_the_client_abandons_is_audited_as_not_completed(app, client, settings):
    w, _, _ = await _checkins(app, client)
    from domain.credentials import caller_from_token

    caller = await caller_from_token(app.state.db, settings, w.commander.token, request_id=None)
    export = await exports.checkins_export(app.state.db, caller=caller, format="csv", lang="zh")
    slots = exports.Slots(1)
    stream = await exports.open_csv(app.state.pool, export, caller=caller, settings=settings, slots=slots)
    assert slots.running == 1
    body = stream.chunks()
    first = await body.__anext__()
    assert first.startswith(BOM + "签到编号".encode())
    await body.aclose()  # the client went away
    with pytest.raises(BaseException):  # noqa: B017 — the producer was cancelled
        await stream.task
    [entry] = await export_entries(app, str(export.id))
    assert entry["changes"]["completed"] is False and entry["changes"]["rows"] is None
    assert entry["changes"]["error"] == "the client went away"
    assert slots.running == 0


# --- duty compliance, alerts, response times ---------------------------------------------------------------

async def test_duty_compliance_export_matches_the_list(app, client):
    w = await make_duty_world(app, client)
    start = hour_ago(5)
    await make_shift(client, w, start, start + 60 * MIN)
    await make_shift(client, w, start, start + 60 * MIN, officer=w.officer2)
    await batch(client, w.officer, [checkin_body(w, start + n * 4 * MIN, kind="arrive" if n == 0 else "heartbeat")
                                    for n in range(15)])
    day = start.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    listed = await list_all(client, "/v1/duty/compliance", w.commander, {"date": day, "school_id": w.school["id"]})
    r = await client.get("/v1/exports/duty-compliance", headers=w.commander.headers,
                         params={"date": day, "school_id": w.school["id"], "lang": "en"})
    assert r.status_code == 200, r.text
    got = as_dicts(read_csv(r.content))
    assert [(g["Shift ID"], g["Verdict"], g["Officer ID"]) for g in got] == [
        (i["shift_id"], i["verdict"], i["officer_id"]) for i in listed]
    assert sorted(g["Verdict"] for g in got) == ["absent", "kept"]
    for g, i in zip(got, listed, strict=True):
        assert g["Starts at"] == local(i["starts_at"]) and g["Time zone"] == "Asia/Shanghai"
        assert g["Arrived at"] == (local(i["arrived_at"]) if i["arrived_at"] else "")
        assert g["Coverage ratio"] == ("" if i["coverage_ratio"] is None else str(i["coverage_ratio"]))
    r = await client.get("/v1/exports/duty-compliance", headers=w.officer2.headers,
                         params={"date": day, "format": "xlsx"})
    rows = list(open_xlsx(r.content).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "班次编号" and [x[2] for x in rows[1:]] == [w.officer2.id]
    assert rows[1][7] == start.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)


async def test_duty_alert_export_matches_the_list(app, client):
    w = await make_duty_world(app, client)
    start = hour_ago(2)
    await make_shift(client, w, start, start + 90 * MIN)
    await batch(client, w.officer, [checkin_body(w, start + MIN), checkin_body(w, start + 10 * MIN, north_m=300),
                                    checkin_body(w, start + 25 * MIN), checkin_body(w, start + 30 * MIN, north_m=500)])
    listed = await list_all(client, "/v1/duty/alerts", w.commander, {"school_id": w.school["id"]})
    assert len(listed) == 2
    r = await client.get("/v1/exports/duty-alerts", headers=w.commander.headers,
                         params={"school_id": w.school["id"]})
    got = as_dicts(read_csv(r.content))
    assert [(g["告警编号"], g["类型"], g["告警时间"]) for g in got] == [
        (a["id"], a["kind"], local(a["at"])) for a in listed]
    assert {g["民警"] for g in got} == {"Test officer"} and {g["岗位"] for g in got} == {"北门护学岗"}
    r = await client.get("/v1/exports/duty-alerts", headers=w.commander.headers,
                         params={"school_id": w.school["id"], "acknowledged": "true"})
    assert as_dicts(read_csv(r.content)) == []


async def test_response_time_export_matches_the_statistics(app, client, clock):
    w, _ = await _incidents(app, client, clock)
    params = {"from": clock.at(-3600).isoformat(), "to": clock.at(60).isoformat(), "jurisdiction_code": w.tree.code,
              "group_by": "category"}
    stats = (await client.get("/v1/stats/response-times", headers=w.commander.headers, params=params)).json()
    r = await client.get("/v1/exports/response-times", headers=w.commander.headers, params={**params, "lang": "en"})
    assert r.status_code == 200, r.text
    got = as_dicts(read_csv(r.content))
    want = [(g["group"], str(g["incidents"]), str(t["tier"]), str(t["met"]), str(t["missed"]))
            for g in stats["groups"] for t in g["tiers"]]
    assert [(g["Group"], g["Incidents"], g["Tier"], g["Met"], g["Missed"]) for g in got] == want
    assert len(got) == 2 * 3  # bullying and suspicious_person, three tiers each
    r = await client.get("/v1/exports/response-times", headers=w.commander.headers,
                         params={**params, "format": "xlsx"})
    rows = list(open_xlsx(r.content).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:4] == ("分组", "名称", "警情数", "响应级别") and len(rows) == 7
    assert isinstance(rows[1][2], int)


# --- bad parameters, credentials, limits --------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "field"), [
    ("incidents", {"format": "pdf"}, "format"),
    ("incidents", {"lang": "fr"}, "lang"),
    ("incidents", {"from": "yesterday"}, "from"),
    ("incidents", {"from": "2026-09-01T00:00:00"}, "from"),  # no offset
    ("incidents", {"category": "aliens"}, "category"),
    ("incidents", {"near": "108.1,29.3"}, "radius_m"),
    ("incidents", {"bbox": "1,2,3"}, "bbox"),
    ("incidents", {"jurisdiction_code": "x!"}, "jurisdiction_code"),
    ("incidents", {"columns": "id,secret"}, "columns"),
    ("incidents", {"columns": "id,id"}, "columns"),
    ("checkins", {"flags": "sleepy"}, "flags"),
    ("checkins", {"officer_id": "nobody"}, "officer_id"),
    ("duty-compliance", {}, "date"),
    ("duty-compliance", {"date": "2026-02-30"}, "date"),
    ("duty-alerts", {"kind": "fire"}, "kind"),
    ("response-times", {"from": "2026-09-02T00:00:00Z", "to": "2026-09-01T00:00:00Z"}, "to"),
    ("response-times", {"from": "2026-09-01T00:00:00Z", "to": "2026-09-02T00:00:00Z", "group_by": "x"}, "group_by"),
])
async def test_bad_parameters_are_422_naming_the_field(app, client, path, params, field):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    r = await client.get(f"/v1/exports/{path}", headers=commander.headers, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


async def test_exports_need_credentials(client):
    for path in ("incidents", "checkins", "duty-alerts"):
        r = await client.get(f"/v1/exports/{path}")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_a_worker_busy_with_exports_answers_429(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    slots = exports.Slots(0)
    saved = getattr(app.state, "export_slots", None)
    app.state.export_slots = slots
    try:
        for fmt in ("csv", "xlsx"):
            r = await client.get("/v1/exports/incidents", headers=commander.headers, params={"format": fmt})
            assert r.status_code == 429 and "Retry-After" in r.headers
    finally:
        app.state.export_slots = saved


def test_headers_fit_postgresql_identifiers_and_are_unique():
    for d in exports.DATASETS.values():
        for lang in exports.LANGS:
            headers = [c.header(lang) for c in d.columns]
            assert len(set(headers)) == len(headers), (d.name, lang)
            assert all(len(h.encode()) <= exports.IDENTIFIER_MAX_BYTES for h in headers), (d.name, lang)
            assert all("," not in h and '"' not in h for h in headers)
        assert len({c.key for c in d.columns}) == len(d.columns)


async def test_an_empty_export_is_its_header(app, client):
    tree = await make_tree(app)
    commander = await make_person(app, client, role="commander", jurisdiction_code=tree.code)
    r = await client.get("/v1/exports/duty-alerts", headers=commander.headers)
    assert r.content == BOM + ",".join(c.zh for c in exports.ALERTS.columns).encode() + b"\n"
    r = await client.get("/v1/exports/duty-compliance", headers=commander.headers,
                         params={"date": datetime.now(UTC).date().isoformat(), "lang": "en"})
    assert r.content == BOM + ",".join(c.en for c in exports.COMPLIANCE.columns).encode() + b"\n"
    assert uuid.UUID(r.headers["x-export-id"])
