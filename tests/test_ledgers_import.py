"""Importing the spreadsheets units keep today: hazards, venues, inspections from XLSX or CSV with Chinese headers;
one result per row naming the column, nothing half-written, re-imports are duplicates, dry runs write nothing."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

from openpyxl import Workbook

from tests.test_ledgers_support import count, make_ledger_world

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig") -> bytes:
    import csv

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


async def upload(client, person, path: str, data: bytes, content_type: str = XLSX, **params) -> dict:
    r = await client.post(path, headers={**person.headers, "Content-Type": content_type}, content=data,
                          params=params)
    assert r.status_code == 200, r.text
    return r.json()


HAZARD_HEADERS = ["编号", "学校", "经度", "纬度", "隐患类别", "隐患等级", "隐患描述", "发现时间", "发现人", "责任单位",
                  "整改期限", "整改措施", "状态", "销号时间", "销号说明", "备注（不导入）"]


async def test_hazards_import_from_xlsx_with_per_row_results_and_nothing_half_written(app, client):
    w = await make_ledger_world(app, client)
    lon, lat = w.near(north_m=120)["coordinates"]
    today = datetime.now(UTC).date()
    rows = [HAZARD_HEADERS,
            ["H-001", "测试小学", None, None, "物防", "一般", "北门无防冲撞设施", today - timedelta(days=20), "王警官",
             "学校", today - timedelta(days=10), "已订购防冲撞柱", "已销号", today - timedelta(days=12), "已安装", "x"],
            ["H-002", None, lon, lat, "消防", "重大", "灭火器过期", f"{today - timedelta(days=3)} 09:30", None, "学校后勤",
             str(today + timedelta(days=5)), None, "整改中", None, None, None],
            ["H-003", "测试小学", None, None, "天气", "一般", "x", today, None, None, today, None, None, None, None, None],
            ["H-004", "测试小学", None, None, "技防", "一般", "监控坏了", today, None, None, today - timedelta(days=1),
             None, None, None, None, None],
            ["H-005", "测试小学", None, None, "人防", "一般", "保安不足", today, None, None, today, None, "已销号",
             None, None, None],
            ["H-006", "不存在的学校", None, None, "人防", "一般", "x", today, None, None, today, None, None, None, None,
             None],
            [None] * 16]
    answer = await upload(client, w.officer, "/v1/hazards/import", xlsx(rows))
    assert (answer["created"], answer["duplicate"], answer["rejected"]) == (2, 0, 4)
    assert answer["ignored_columns"] == ["备注（不导入）"]
    by_row = {r["row"]: r for r in answer["results"]}
    assert [by_row[n]["status"] for n in (2, 3)] == ["created", "created"]
    assert by_row[4]["errors"][0]["field"] == "隐患类别"
    assert by_row[5]["errors"][0]["field"] == "整改期限"  # deadline before discovery
    assert by_row[6]["errors"][0]["field"] == "销号说明"  # closed without evidence
    assert by_row[7]["errors"][0]["field"] == "学校"
    assert 8 not in by_row  # the empty row is skipped
    closed = (await client.get(f"/v1/hazards/{by_row[2]['id']}", headers=w.officer.headers)).json()
    assert closed["status"] == "closed" and closed["external_ref"] == "H-001" and closed["found_by_name"] == "王警官"
    assert closed["school_id"] == w.school["id"] and closed["flags"] == ["location_from_school"]
    assert closed["category"] == "facilities_physical" and closed["closing_note"] == "已安装"
    assert closed["found_at"] == f"{today - timedelta(days=21)}T16:00:00Z"  # a day starts at 00:00 in Shanghai
    assert [e["kind"] for e in closed["log"]] == ["imported", "action", "status"]
    assert closed["deadline"] == f"{today - timedelta(days=10)}T15:59:59Z"  # end of the day in Asia/Shanghai
    open_one = (await client.get(f"/v1/hazards/{by_row[3]['id']}", headers=w.officer.headers)).json()
    assert open_one["status"] == "rectifying" and open_one["severity"] == "major" and open_one["flags"] == []
    assert open_one["found_by_name"] == "Test officer"
    # Rejected rows left nothing behind: two hazards exist, two log chains, nothing more.
    assert await count(app, "SELECT count(*) FROM hazards h JOIN jurisdictions j ON j.code = h.jurisdiction_code "
                            "WHERE j.path <@ CAST(:p AS ltree)", p=w.tree.code) == 2
    # The same file again: duplicates, nothing new; H-002 with other content: rejected.
    again = await upload(client, w.officer, "/v1/hazards/import", xlsx(rows))
    assert (again["created"], again["duplicate"], again["rejected"]) == (0, 2, 4)
    rows[2][6] = "灭火器过期（已更换一半）"
    changed = await upload(client, w.officer, "/v1/hazards/import", xlsx(rows[:3]))
    assert [r["status"] for r in changed["results"]] == ["duplicate", "rejected"]
    assert changed["results"][1]["errors"][0]["field"] == "编号"


async def test_hazards_import_from_a_gb18030_csv_and_a_dry_run_writes_nothing(app, client):
    w = await make_ledger_world(app, client)
    today = datetime.now(UTC).date()
    rows = [["学校", "隐患类别", "隐患描述", "发现时间", "整改期限"],
            ["测试小学", "食品安全", "食堂留样不全", f"{today.year}年{today.month}月{today.day}日",
             f"{today.year}/{today.month}/{today.day}"]]
    data = csv_bytes(rows, "gb18030")
    before = await count(app, "SELECT count(*) FROM hazards")
    dry = await upload(client, w.officer, "/v1/hazards/import", data, "text/csv", dry_run="true")
    assert dry["dry_run"] is True and dry["created"] == 1
    assert await count(app, "SELECT count(*) FROM hazards") == before
    real = await upload(client, w.officer, "/v1/hazards/import", data, "text/csv")
    assert real["created"] == 1
    h = (await client.get(f"/v1/hazards/{real['results'][0]['id']}", headers=w.officer.headers)).json()
    assert h["category"] == "food_safety" and h["description"] == "食堂留样不全"


async def test_a_file_missing_a_required_column_or_not_a_spreadsheet_is_refused(app, client):
    w = await make_ledger_world(app, client)
    r = await client.post("/v1/hazards/import", headers={**w.officer.headers, "Content-Type": XLSX},
                          content=xlsx([["学校", "隐患描述", "发现时间"], ["测试小学", "x", "2026-01-01"]]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "隐患类别"
    for junk in (b"PK\x03\x04 not a zip", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old xls", b""):
        r = await client.post("/v1/venues/import", headers={**w.officer.headers, "Content-Type": XLSX}, content=junk)
        assert r.status_code == 415, (junk, r.text)
    r = await client.post("/v1/venues/import", headers={**w.viewer.headers, "Content-Type": "text/csv"},
                          content=csv_bytes([["场所名称"], ["x"]]))
    assert r.status_code == 403


async def test_venues_then_inspections_import_referring_by_number_and_name(app, client):
    w = await make_ledger_world(app, client)
    lon, lat = w.near(north_m=150)["coordinates"]
    far_lon, far_lat = w.near(north_m=5000)["coordinates"]
    venues_file = xlsx([
        ["编号", "场所名称", "场所类型", "地址", "经度", "纬度", "坐标系", "经营者", "状态"],
        ["V-1", "极速网吧", "网吧", "北门东50米", lon, lat, "WGS84", "赵某", "营业"],
        ["V-2", "欢乐KTV", "KTV", "北门西", lon, lat, None, None, None],
        ["V-3", "城郊民宿", "民宿", None, far_lon, far_lat, None, None, None],
        ["V-4", "赌场", "赌场", None, lon, lat, None, None, None],
        ["V-5", "无坐标网吧", "网吧", None, None, None, None, None, None],
    ])
    answer = await upload(client, w.officer, "/v1/venues/import", venues_file)
    assert [r["status"] for r in answer["results"]] == ["created", "created", "created", "rejected", "rejected"]
    assert answer["results"][3]["errors"][0]["field"] == "场所类型"
    assert answer["results"][4]["errors"][0]["field"] == "经度"
    far = (await client.get(f"/v1/venues/{answer['results'][2]['id']}", headers=w.officer.headers)).json()
    assert far["outside_zone"] is True and far["kind"] == "small_inn"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    inspections_file = csv_bytes([
        ["场所编号", "场所名称", "检查时间", "检查人", "检查情况", "违规问题", "处理措施", "罚款金额", "复查日期"],
        ["V-1", None, f"{yesterday} 20:00", "李警官", "有未成年人", "接纳未成年人；未登记身份", "警告、罚款", "5000",
         str(yesterday + timedelta(days=7))],
        [None, "欢乐KTV", str(yesterday), None, "正常", "无", "无", None, None],
        ["V-3", None, str(yesterday), None, None, None, "责令整改", None, None],
        ["V-9", None, str(yesterday), None, None, None, None, None, None],
        ["V-1", None, str(yesterday), None, None, None, "警告", "100", None],
    ])
    answer = await upload(client, w.officer, "/v1/inspections/import", inspections_file, "text/csv")
    assert [r["status"] for r in answer["results"]] == ["created", "created", "created", "rejected", "rejected"]
    assert answer["results"][3]["errors"][0]["field"] == "场所编号"
    assert answer["results"][4]["errors"][0]["field"] == "罚款金额"  # a fine without the action 罚款
    v1 = (await client.get("/v1/venues", headers=w.officer.headers, params={"q": "极速"})).json()["items"][0]
    item = (await client.get("/v1/inspections", headers=w.officer.headers,
                             params={"venue_id": v1["id"]})).json()["items"][0]
    assert item["violations"] == ["接纳未成年人", "未登记身份"] and item["actions"] == ["warning", "fine"]
    assert item["fine_yuan"] == 5000.0 and item["inspector_name"] == "李警官"
    assert item["inspected_at"] == f"{yesterday}T12:00:00Z"
    flagged = (await client.get("/v1/inspections", headers=w.officer.headers,
                                params={"action": "rectification_order"})).json()["items"]
    assert [x["flags"] for x in flagged] == [["outside_zone"]]
    again = await upload(client, w.officer, "/v1/inspections/import", inspections_file, "text/csv")
    assert (again["created"], again["duplicate"], again["rejected"]) == (0, 3, 2)
    # Another station cannot refer to these venues.
    other = await upload(client, w.outsider, "/v1/inspections/import", inspections_file, "text/csv")
    assert other["created"] == 0 and other["rejected"] == 5


async def test_imports_refuse_a_jurisdiction_outside_the_callers_scope(app, client):
    w = await make_ledger_world(app, client)
    r = await client.post("/v1/hazards/import", headers={**w.outsider.headers, "Content-Type": "text/csv"},
                          params={"jurisdiction_code": w.tree.station_a},
                          content=csv_bytes([["学校", "隐患类别", "隐患描述", "发现时间", "整改期限"]]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jurisdiction_code"
    r = await client.post("/v1/inspections/import", headers={**w.officer.headers, "Content-Type": "text/csv"},
                          content=csv_bytes([["检查时间"], ["2026-01-01"]]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "场所编号"
    assert uuid.UUID(w.school["id"])
