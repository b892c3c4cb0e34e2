"""Exports: incidents, check-ins, duty compliance, duty alerts and response-time statistics as CSV or XLSX.

Rules:

1. An export keeps exactly the rows its list endpoint would list for the same filter and caller: the conditions
   come from the noun's own `filter_sql` (incidents, check-ins, alerts) or from the list function itself (duty
   compliance, response times), so scoping (jurisdictions; officers only their own check-ins and shifts) is the
   list's.
2. Times are the local time of the row's jurisdiction (`jurisdictions.time_zone`), to the second, as real
   date-times: `YYYY-MM-DD HH:MM:SS` in CSV, Excel date-times in XLSX; the `time_zone` column names the zone.
3. Headers are Chinese for `lang=zh` (the default) and English for `lang=en`; values (codes, categories) are the
   API's.
4. CSV is UTF-8 with a byte-order mark (Excel on Chinese Windows then reads it as UTF-8), produced by
   PostgreSQL's `COPY (SELECT …) TO STDOUT` where the rows are plain SQL, streamed through a bounded queue
   (constant memory, the database waits for a slow client). Free-text cells that Excel would read as a formula
   (starting with `=`, `+`, `-`, `@`, tab or CR) get a leading `'` in CSV.
5. XLSX is written by XlsxWriter in constant-memory mode in a worker thread into a temporary file. A sheet holds
   at most `XLSX_SHEET_MAX_ROWS` rows (Excel's 1,048,576, header included); further rows go on further sheets
   (`警情 (2)`, …), never dropped.
6. Every export is audited once it ends: who, the dataset, format, language, filter, the number of rows and
   whether it completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from domain import alerts, audit, checkins, compliance, incidents, jurisdictions, statistics
from domain.callers import Caller
from domain.database import Db, query
from domain.errors import InvalidInput, TooManyRequests
from domain.settings import Settings

log = logging.getLogger("huxiao.exports")

FORMATS = ("csv", "xlsx")
LANGS = ("zh", "en")
XLSX_SHEET_MAX_ROWS = 1_048_576
"""Excel's rows per sheet, the header row included; the rows beyond go on a further sheet."""
XLSX_BATCH_ROWS = 5_000
"""Rows fetched per round trip while writing XLSX (the next batch is fetched while this one is written)."""
CSV_QUEUE_CHUNKS = 8
"""COPY chunks held between PostgreSQL and the client: COPY waits when the client reads slower."""
PAGE_ROWS = 1_000
"""Rows per page for the exports computed in Python (duty compliance)."""
BOM = "\ufeff".encode()
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IDENTIFIER_MAX_BYTES = 63  # PostgreSQL truncates longer column aliases (NAMEDATALEN - 1)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What Excel reads as the start of a formula (OWASP's CSV injection list)."""


# --- columns and datasets --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One exported column: its key, its header in each language, and how to read it (an SQL expression for the
    datasets PostgreSQL writes, else the key of the row dict)."""

    key: str
    zh: str
    en: str
    kind: str = "text"  # text | free_text | int | float | bool | datetime | list
    sql: str | None = None
    digits: int = 2

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Dataset:
    name: str
    zh: str  # the sheet's title
    en: str
    columns: tuple[Column, ...]
    time_zone_sql: str = "j.time_zone"

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _tier_columns() -> tuple[Column, ...]:
    names = {1: ("一级", "Tier 1"), 2: ("二级", "Tier 2"), 3: ("三级", "Tier 3")}
    out: list[Column] = []
    for k, (zh, en) in names.items():
        out.append(Column(f"tier{k}_state", f"{zh}响应结果", f"{en} result", sql=f"t.st{k}"))
        out.append(Column(f"tier{k}_elapsed_s", f"{zh}响应用时(秒)", f"{en} elapsed (s)", "float",
                          f"sc.tier{k}_elapsed_s", digits=1))
    return tuple(out)


TIME_ZONE = Column("time_zone", "时区", "Time zone", sql="j.time_zone")

INCIDENTS = Dataset("incidents", "警情", "Incidents", (
    Column("id", "警情编号", "Incident ID", sql="i.id"),
    Column("jurisdiction_code", "辖区代码", "Jurisdiction code", sql="i.jurisdiction_code"),
    Column("jurisdiction", "辖区", "Jurisdiction", sql="j.name"),
    Column("category", "类别", "Category", sql="i.category"),
    Column("severity", "等级", "Severity", "int", "i.severity"),
    Column("source", "来源", "Source", sql="i.source"),
    Column("status", "状态", "Status", sql="i.status"),
    Column("alarm_at", "报警时间", "Alarm time", "datetime", "i.alarm_at"),
    Column("received_at", "接报时间", "Received at", "datetime", "i.received_at"),
    Column("in_zone", "在护校区内", "In a school zone", "bool", "i.in_zone"),
    Column("nearest_school", "最近学校", "Nearest school", "free_text", "ns.name"),
    Column("nearest_school_distance_m", "距最近学校(米)", "Distance to nearest school (m)", "float",
           "i.nearest_school_distance_m"),
    Column("lon", "经度(WGS-84)", "Longitude (WGS-84)", "float", "ST_X(CAST(i.location AS geometry))", digits=7),
    Column("lat", "纬度(WGS-84)", "Latitude (WGS-84)", "float", "ST_Y(CAST(i.location AS geometry))", digits=7),
    *_tier_columns(),
    Column("compliant", "1/3/5达标", "1/3/5 compliant", "bool", "t.compliant"),
    Column("dispatched_at", "派警时间", "Dispatched at", "datetime", "i.dispatched_at"),
    Column("on_scene_at", "到场时间", "On scene at", "datetime", "i.on_scene_at"),
    Column("controlled_at", "控制时间", "Controlled at", "datetime", "i.controlled_at"),
    Column("closed_at", "结案时间", "Closed at", "datetime", "i.closed_at"),
    Column("description", "简要情况", "Description", "free_text", "i.description"),
    Column("policy", "评分规则", "Scoring policy", sql="i.policy_key"),
    TIME_ZONE,
))

CHECKINS = Dataset("checkins", "签到", "Check-ins", (
    Column("id", "签到编号", "Check-in ID", sql="c.id"),
    Column("officer", "民警", "Officer", "free_text", "u.display_name"),
    Column("officer_id", "民警编号", "Officer ID", sql="c.officer_id"),
    Column("jurisdiction_code", "辖区代码", "Jurisdiction code", sql="c.jurisdiction_code"),
    Column("kind", "类型", "Kind", sql="c.kind"),
    Column("recorded_at", "定位时间", "Recorded at", "datetime", "c.recorded_at"),
    Column("received_at", "接收时间", "Received at", "datetime", "c.received_at"),
    Column("lon", "经度(WGS-84)", "Longitude (WGS-84)", "float", "ST_X(CAST(c.location AS geometry))", digits=7),
    Column("lat", "纬度(WGS-84)", "Latitude (WGS-84)", "float", "ST_Y(CAST(c.location AS geometry))", digits=7),
    Column("accuracy_m", "定位精度(米)", "Accuracy (m)", "float", "c.accuracy_m", digits=1),
    Column("school", "学校", "School", "free_text", "s.name"),
    Column("distance_to_school_m", "距学校(米)", "Distance to school (m)", "float", "c.distance_to_school_m"),
    Column("in_school_zone", "在护校区内", "In a school zone", "bool", "c.in_school_zone"),
    Column("post", "岗位", "Post", "free_text", "p.name"),
    Column("shift_id", "班次编号", "Shift ID", sql="c.shift_id"),
    Column("distance_to_post_m", "距岗位(米)", "Distance to post (m)", "float", "c.distance_to_post_m"),
    Column("geofence", "电子围栏", "Geofence", sql="c.geofence"),
    Column("in_duty_window", "在勤务时段内", "In a duty window", "bool", "c.in_duty_window"),
    Column("flags", "标记", "Flags", "list", "c.flags"),
    Column("vehicle", "见警车", "Vehicle visible", "bool", "c.vehicle"),
    Column("lights", "见警灯", "Lights visible", "bool", "c.lights"),
    Column("mock_location", "模拟定位", "Mock location", "bool", "c.mock_location"),
    Column("note", "备注", "Note", "free_text", "c.note"),
    TIME_ZONE,
))

ALERTS = Dataset("duty-alerts", "勤务告警", "Duty alerts", (
    Column("id", "告警编号", "Alert ID", sql="a.id"),
    Column("kind", "类型", "Kind", sql="a.kind"),
    Column("jurisdiction_code", "辖区代码", "Jurisdiction code", sql="a.jurisdiction_code"),
    Column("school", "学校", "School", "free_text", "s.name"),
    Column("post", "岗位", "Post", "free_text", "p.name"),
    Column("officer", "民警", "Officer", "free_text", "u.display_name"),
    Column("at", "告警时间", "Alert time", "datetime", "a.at"),
    Column("created_at", "生成时间", "Raised at", "datetime", "a.created_at"),
    Column("acknowledged_at", "确认时间", "Acknowledged at", "datetime", "a.acknowledged_at"),
    Column("acknowledged_by", "确认人", "Acknowledged by", "free_text", "ack.display_name"),
    Column("acknowledgement_note", "确认说明", "Acknowledgement note", "free_text", "a.acknowledgement_note"),
    Column("post_id", "岗位编号", "Post ID", sql="a.post_id"),
    Column("shift_id", "班次编号", "Shift ID", sql="a.shift_id"),
    Column("officer_id", "民警编号", "Officer ID", sql="a.officer_id"),
    Column("checkin_id", "签到编号", "Check-in ID", sql="a.checkin_id"),
    TIME_ZONE,
))

COMPLIANCE = Dataset("duty-compliance", "勤务考核", "Duty compliance", (
    Column("shift_id", "班次编号", "Shift ID"),
    Column("officer_name", "民警", "Officer", "free_text"),
    Column("officer_id", "民警编号", "Officer ID"),
    Column("school_name", "学校", "School", "free_text"),
    Column("post_name", "岗位", "Post", "free_text"),
    Column("jurisdiction_code", "辖区代码", "Jurisdiction code"),
    Column("window_name", "勤务时段", "Duty window", "free_text"),
    Column("starts_at", "开始时间", "Starts at", "datetime"),
    Column("ends_at", "结束时间", "Ends at", "datetime"),
    Column("arrived_at", "到岗时间", "Arrived at", "datetime"),
    Column("late_s", "迟到(秒)", "Late (s)", "float", digits=0),
    Column("coverage_ratio", "在岗率", "Coverage ratio", "float", digits=3),
    Column("left_early_s", "早退(秒)", "Left early (s)", "float", digits=0),
    Column("verdict", "结论", "Verdict"),
    Column("in_progress", "进行中", "In progress", "bool"),
    Column("checkins", "签到次数", "Check-ins", "int"),
    Column("time_zone", "时区", "Time zone"),
))

RESPONSE_TIMES = Dataset("response-times", "响应统计", "Response times", (
    Column("group", "分组", "Group"),
    Column("label", "名称", "Name", "free_text"),
    Column("incidents", "警情数", "Incidents", "int"),
    Column("tier", "响应级别", "Tier", "int"),
    Column("limit_s", "时限(秒)", "Limit (s)", "float", digits=0),
    Column("met", "达标", "Met", "int"),
    Column("missed", "未达标", "Missed", "int"),
    Column("missed_no_arrival", "未到场", "Missed (no arrival)", "int"),
    Column("pending", "待定", "Pending", "int"),
    Column("met_ratio", "达标率", "Met ratio", "float", digits=4),
    Column("p50_s", "中位用时(秒)", "Median (s)", "float", digits=1),
    Column("p90_s", "90分位用时(秒)", "90th percentile (s)", "float", digits=1),
    Column("p90_compliant", "90分位达标", "90th percentile compliant", "bool"),
    Column("policy", "评分规则", "Scoring policy"),
))

DATASETS = {d.name: d for d in (INCIDENTS, CHECKINS, COMPLIANCE, ALERTS, RESPONSE_TIMES)}


# --- a prepared export -------------------------------------------------------------------------------------

@dataclass
class Export:
    """An export checked and ready to run: either SQL (`sql` with `params`, `order_by`) or pages of row dicts
    computed in Python (`pages`)."""

    dataset: Dataset
    format: str
    lang: str
    filters: dict[str, Any]
    jurisdiction_code: str
    sql_from: str | None = None
    sql_where: str | None = None
    order_by: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    pages: Callable[[], AsyncIterator[list[dict]]] | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def filename(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.dataset.name}-{stamp}.{self.format}"

    @property
    def media_type(self) -> str:
        return CSV_MEDIA_TYPE if self.format == "csv" else XLSX_MEDIA_TYPE


def choose_columns(export: Export, keys: list[str] | None) -> Export:
    """The export with only the columns named (by key, in the order given; repeated or comma-separated)."""
    if not keys:
        return export
    wanted = [k.strip() for v in keys for k in v.split(",") if k.strip()]
    by_key = {c.key: c for c in export.dataset.columns}
    unknown = [k for k in wanted if k not in by_key]
    if unknown or not wanted:
        raise InvalidInput(f"unknown column {unknown[0]!r}; known: {', '.join(by_key)}" if unknown
                           else "name at least one column", field="columns")
    if len(set(wanted)) != len(wanted):
        raise InvalidInput("a column is named twice", field="columns")
    d = export.dataset
    export.dataset = Dataset(d.name, d.zh, d.en, tuple(by_key[k] for k in wanted), d.time_zone_sql)
    export.filters["columns"] = wanted
    return export


def check_options(*, format: str, lang: str) -> None:
    if format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    if lang not in LANGS:
        raise InvalidInput(f"lang must be one of {', '.join(LANGS)}", field="lang")


_API_NAMES = {"from_": "from", "recorded_from": "from", "recorded_to": "to", "at_from": "from", "at_to": "to"}


def _filters(**given: Any) -> dict[str, Any]:
    """The filter as the audit log keeps it: the values given (none of the defaults), by their API names."""
    return {_API_NAMES.get(k, k): v for k, v in given.items() if v is not None and v != []}


async def _scope(db: Db, *, caller: Caller, code: str | None) -> tuple[str, str]:
    """The ltree scope of the listing and the jurisdiction the audit entry belongs to."""
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=code)
    return scope, code or caller.jurisdiction_code


async def incidents_export(db: Db, *, caller: Caller, f: incidents.IncidentFilter, now: datetime,
                           format: str, lang: str) -> Export:
    """Incidents as `GET /v1/incidents` lists them for the filter (newest alarm first), with each tier's 1/3/5
    result as seen at `now` (a pending tier whose limit has passed is missed)."""
    check_options(format=format, lang=lang)
    scope, code = await _scope(db, caller=caller, code=f.jurisdiction_code)
    where, params = incidents.filter_sql(f, scope=scope)
    states = ",\n".join(
        f"""CASE WHEN sc.tier{k}_state = 'pending'
                      AND CAST(:now AS timestamptz) > i.alarm_at
                          + make_interval(secs => CAST(sp.tier_limits_s ->> '{k}' AS float8))
                 THEN 'missed' ELSE sc.tier{k}_state END AS st{k}""" for k in (1, 2, 3))
    sql_from = f"""
        FROM incidents i
        JOIN jurisdictions j ON j.code = i.jurisdiction_code
        LEFT JOIN schools ns ON ns.id = i.nearest_school_id
        LEFT JOIN incident_scores sc ON sc.incident_id = i.id AND sc.policy_key = i.policy_key
        LEFT JOIN scoring_policies sp ON i.policy_key = sp.name || '@v' || sp.version
        CROSS JOIN LATERAL (SELECT s.*, CASE WHEN sc.incident_id IS NULL THEN NULL
                                             WHEN 'missed' IN (s.st1, s.st2, s.st3) THEN false
                                             WHEN 'pending' IN (s.st1, s.st2, s.st3) THEN NULL
                                             ELSE true END AS compliant
                            FROM (SELECT {states}) s) t"""
    return Export(INCIDENTS, format, lang, _filters(**f.__dict__), code, sql_from=sql_from,
                  sql_where=" AND ".join(where), order_by="i.alarm_at DESC, i.id DESC",
                  params={**params, "now": now})


async def checkins_export(db: Db, *, caller: Caller, format: str, lang: str, jurisdiction_code: str | None = None,
                          **filter_: Any) -> Export:
    """Check-ins as `GET /v1/checkins` lists them (by device time; officers only their own)."""
    check_options(format=format, lang=lang)
    scope, code = await _scope(db, caller=caller, code=jurisdiction_code)
    where, params = checkins.filter_sql(caller=caller, scope=scope, **filter_)
    sql_from = """
        FROM checkins c
        JOIN jurisdictions j ON j.code = c.jurisdiction_code
        LEFT JOIN users u ON u.id = c.officer_id
        LEFT JOIN schools s ON s.id = c.school_id
        LEFT JOIN posts p ON p.id = c.post_id"""
    return Export(CHECKINS, format, lang, _filters(jurisdiction_code=jurisdiction_code, **filter_), code,
                  sql_from=sql_from, sql_where=where, order_by="c.recorded_at, c.id", params=params)


async def alerts_export(db: Db, *, caller: Caller, format: str, lang: str, jurisdiction_code: str | None = None,
                        **filter_: Any) -> Export:
    """Duty alerts as `GET /v1/duty/alerts` lists them (newest first)."""
    check_options(format=format, lang=lang)
    scope, code = await _scope(db, caller=caller, code=jurisdiction_code)
    where, params = alerts.filter_sql(scope=scope, **filter_)
    sql_from = """
        FROM duty_alerts a
        JOIN jurisdictions j ON j.code = a.jurisdiction_code
        LEFT JOIN schools s ON s.id = a.school_id
        LEFT JOIN posts p ON p.id = a.post_id
        LEFT JOIN users u ON u.id = a.officer_id
        LEFT JOIN users ack ON ack.id = a.acknowledged_by"""
    return Export(ALERTS, format, lang, _filters(jurisdiction_code=jurisdiction_code, **filter_), code,
                  sql_from=sql_from, sql_where=where, order_by="a.at DESC, a.id DESC", params=params)


async def compliance_export(db: Db, *, caller: Caller, day: date, settings: Settings, now: datetime,
                            format: str, lang: str, jurisdiction_code: str | None = None,
                            school_id: uuid.UUID | None = None) -> Export:
    """Each shift of the local `day` with its verdict, as `GET /v1/duty/compliance` pages them (by start;
    officers only their own), read page by page."""
    check_options(format=format, lang=lang)
    _, code = await _scope(db, caller=caller, code=jurisdiction_code)

    async def pages() -> AsyncIterator[list[dict]]:
        cursor = None
        while True:
            items, cursor = await compliance.compliance_page(
                db, caller=caller, day=day, settings=settings, now=now, limit=PAGE_ROWS, cursor=cursor,
                jurisdiction_code=jurisdiction_code, school_id=school_id)
            if items:
                yield items
            if cursor is None:
                return

    return Export(COMPLIANCE, format, lang, _filters(date=day, jurisdiction_code=jurisdiction_code,
                                                     school_id=school_id), code, pages=pages)


async def response_times_export(db: Db, *, caller: Caller, from_: datetime, to: datetime, group_by: str,
                                policy_key: str | None, jurisdiction_code: str | None, now: datetime,
                                format: str, lang: str) -> Export:
    """`GET /v1/stats/response-times` as a table: one row per group and tier."""
    check_options(format=format, lang=lang)
    _, code = await _scope(db, caller=caller, code=jurisdiction_code)
    figures = await statistics.response_times(db, caller=caller, from_=from_, to=to, group_by=group_by,
                                              policy_key=policy_key, jurisdiction_code=jurisdiction_code, now=now)
    rows = [{"group": g["group"], "label": g["label"], "incidents": g["incidents"], **t,
             "policy": figures["policy"]} for g in figures["groups"] for t in g["tiers"]]

    async def pages() -> AsyncIterator[list[dict]]:
        if rows:
            yield rows

    return Export(RESPONSE_TIMES, format, lang, _filters(**{"from": from_, "to": to, "group_by": group_by,
                                                            "policy": policy_key,
                                                            "jurisdiction_code": jurisdiction_code}),
                  code, pages=pages)


# --- SQL per format -----------------------------------------------------------------------------------------

def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rounded(x: str, digits: int) -> str:
    # float arithmetic, printed shortest-exact: several times cheaper than round(numeric) over 10^6 rows
    if not digits:
        return f"round(CAST({x} AS float8))"
    return f"round(CAST({x} AS float8) * 1e{digits}) / 1e{digits}"


_FORMULA_CODES = ", ".join(str(ord(c)) for c in FORMULA_START)


def csv_expression(column: Column, *, time_zone_sql: str) -> str:
    """The column as PostgreSQL writes it into the CSV (each type by its own output function: uuid, timestamp in
    ISO style, float8 shortest-exact)."""
    x = column.sql
    match column.kind:
        case "datetime":
            return f"date_trunc('second', ({x}) AT TIME ZONE {time_zone_sql})"
        case "bool":
            return f"CASE WHEN {x} THEN 'TRUE' WHEN NOT {x} THEN 'FALSE' END"
        case "float":
            return _rounded(x, column.digits)
        case "list":
            return f"array_to_string({x}, ';')"
        case "free_text":  # ascii() of the first character: cheaper than a regular expression
            return f"CASE WHEN ascii({x}) IN ({_FORMULA_CODES}) THEN '''' || {x} ELSE {x} END"
        case _:
            return x


def xlsx_expression(column: Column, *, time_zone_sql: str) -> str:
    """The column as the Python value XlsxWriter writes: naive local datetimes, floats, booleans, text."""
    x = column.sql
    match column.kind:
        case "datetime":
            return f"date_trunc('second', ({x}) AT TIME ZONE {time_zone_sql})"
        case "float":
            return _rounded(x, column.digits)
        case "list":
            return f"array_to_string({x}, ';')"
        case "int" | "bool":
            return x
        case _:
            return f"CAST({x} AS text)"


def select_sql(export: Export) -> str:
    """The SELECT of an SQL export in its format: for CSV each column is aliased with its header (COPY's HEADER
    line is the column names)."""
    d = export.dataset
    if export.format == "csv":
        cols = [f"{csv_expression(c, time_zone_sql=d.time_zone_sql)} AS {_quote_ident(c.header(export.lang))}"
                for c in d.columns]
    else:
        cols = [f"{xlsx_expression(c, time_zone_sql=d.time_zone_sql)} AS {c.key}" for c in d.columns]
    return (f"SELECT {', '.join(cols)} {export.sql_from}\n        WHERE {export.sql_where}\n"
            f"        ORDER BY {export.order_by}")


# --- values computed in Python ---------------------------------------------------------------------------------

def _local(value: datetime, time_zone: str | None) -> datetime:
    """A naive local datetime to the second in `time_zone` (UTC when unknown)."""
    return value.astimezone(ZoneInfo(time_zone or "UTC")).replace(tzinfo=None, microsecond=0)


def python_value(column: Column, row: dict, *, for_csv: bool) -> Any:
    """A row dict's value as the SQL path would have given it: local time, rounded, CSV text when `for_csv`."""
    v = row.get(column.key)
    if v is None:
        return None
    match column.kind:
        case "datetime":
            v = _local(v, row.get("time_zone"))
            return v.strftime("%Y-%m-%d %H:%M:%S") if for_csv else v
        case "float":
            v = round(float(v), column.digits)
            return (int(v) if column.digits == 0 else v) if for_csv else v
        case "bool":
            return ("TRUE" if v else "FALSE") if for_csv else bool(v)
        case "int":
            return int(v)
        case "list":
            return ";".join(str(x) for x in v)
        case "free_text":
            v = str(v)
            return "'" + v if for_csv and v[:1] in FORMULA_START else v
        case _:
            return str(v)


def _csv_lines(rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


# --- running: slots, audit ----------------------------------------------------------------------------------

class Slots:
    """How many exports a worker runs at once: each holds a database connection for as long as it streams."""

    def __init__(self, limit: int):
        self.limit = limit
        self.running = 0

    def take(self, *, retry_after_s: int) -> None:
        if self.running >= self.limit:
            raise TooManyRequests(f"{self.limit} exports are running on this worker; retry shortly",
                                  retry_after_s=retry_after_s)
        self.running += 1

    def give_back(self) -> None:
        self.running = max(0, self.running - 1)


async def record(pool: asyncpg.Pool, *, caller: Caller, export: Export, rows: int | None, completed: bool,
                 error: str | None = None) -> None:
    """The audit entry of one export: who, what, which filter, how many rows, whether it completed."""
    changes: dict[str, Any] = {"dataset": export.dataset.name, "format": export.format, "lang": export.lang,
                               "filters": export.filters, "rows": rows, "completed": completed}
    if error:
        changes["error"] = error
    async with pool.acquire() as conn, conn.transaction():
        await audit.record(Db(conn), caller=caller, entity="export", entity_id=export.id, action="export",
                           jurisdiction_code=export.jurisdiction_code, changes=changes)


async def _begin(conn: asyncpg.Connection, settings: Settings) -> None:
    """An export's transaction: read only, a longer statement timeout (a slow client slows the COPY), custom
    plans (a wide filter must not run a plan made for a narrow one)."""
    await conn.execute(f"SET LOCAL statement_timeout = {int(settings.export_statement_timeout_ms)}; "
                       "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL DateStyle = 'ISO, YMD'")


# --- CSV -----------------------------------------------------------------------------------------------------

@dataclass
class _End:
    rows: int


class ClientStalled(Exception):
    """The client took no chunk for `export_stall_timeout_s` (or the response never started)."""


class CsvStream:
    """A CSV export flowing from PostgreSQL (or from Python pages) to the client through a bounded queue.

    The producer task owns the database connection and writes the audit entry when it ends, whatever the end: all
    rows delivered, the client gone (the consumer cancels it), a database error, or a consumer that stopped
    taking chunks for `export_stall_timeout_s`."""

    def __init__(self, pool: asyncpg.Pool, export: Export, *, caller: Caller, settings: Settings, slots: Slots):
        self.pool, self.export, self.caller, self.settings, self.slots = pool, export, caller, settings, slots
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=CSV_QUEUE_CHUNKS)
        self.delivered = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.first: bytes = b""
        self.abandoned = False  # the consumer gave up (the client went away)

    async def _put(self, item: Any) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as the put
        # completes, and a producer whose client went away would then wait out the stall timeout.
        try:
            async with asyncio.timeout(self.settings.export_stall_timeout_s):
                await self.queue.put(item)
        except TimeoutError:
            raise ClientStalled from None

    async def _put_copied(self, chunk: bytes | bytearray | memoryview) -> None:
        # asyncpg hands over a bytearray when it joined several CopyData messages; the response wants bytes
        await self._put(bytes(chunk))

    async def _copy(self) -> int:
        q = query(select_sql(self.export))
        async with self.pool.acquire(timeout=self.settings.db_pool_timeout_s) as conn, \
                conn.transaction(readonly=True):
            await _begin(conn, self.settings)
            status = await conn.copy_from_query(q.sql, *q.args(self.export.params), output=self._put_copied,
                                                format="csv", header=True)
        return int(status.rsplit(" ", 1)[-1])

    async def _python_rows(self) -> int:
        d, n = self.export.dataset, 0
        await self._put(_csv_lines([[c.header(self.export.lang) for c in d.columns]]))
        async for page in self.export.pages():
            n += len(page)
            await self._put(_csv_lines([[python_value(c, r, for_csv=True) for c in d.columns] for r in page]))
        return n

    async def _produce(self) -> None:
        rows, completed, error = None, False, None
        try:
            rows = await (self._copy() if self.export.sql_from else self._python_rows())
            await self._put(_End(rows))
            try:
                async with asyncio.timeout(self.settings.export_stall_timeout_s):
                    await self.delivered.wait()
            except TimeoutError:
                raise ClientStalled from None
            completed = True
        except asyncio.CancelledError:
            error = "the client went away"
            raise
        except ClientStalled:
            error = "the client stopped reading"
        except Exception as exc:  # told to the consumer, which ends the response
            error = "the client went away" if self.abandoned else type(exc).__name__
            with contextlib.suppress(ClientStalled):
                await self._put(exc)
        finally:
            self.slots.give_back()
            try:
                await record(self.pool, caller=self.caller, export=self.export,
                             rows=rows if completed else None, completed=completed, error=error)
            except Exception:  # noqa: BLE001 — an audit that cannot be written is logged, not raised into nowhere
                log.exception("could not audit export %s", self.export.id)

    async def start(self) -> None:
        """Start the producer and wait for the first chunk (the header), so an error before any row is an error
        answer rather than a broken download."""
        self.slots.take(retry_after_s=self.settings.retry_after_s)
        self.task = asyncio.create_task(self._produce(), name=f"export {self.export.id}")
        try:
            item = await self.queue.get()
        except BaseException:
            self.task.cancel()
            raise
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _End):  # only when a Python export yields no header, which it always does
            self.delivered.set()
            return
        self.first = item

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body: the BOM, then the chunks as they come; cancels the producer when the client goes."""
        try:
            yield BOM + self.first
            while True:
                item = await self.queue.get()
                if isinstance(item, _End):
                    self.delivered.set()
                    await asyncio.shield(self.task)  # the download completes once it is audited
                    return
                if isinstance(item, BaseException):
                    raise item  # the response ends unfinished: the client sees a broken download, not a short one
                yield item
        finally:
            if self.task is not None and not self.task.done() and not self.delivered.is_set():
                self.abandoned = True
                self.task.cancel()


# --- XLSX ----------------------------------------------------------------------------------------------------

class XlsxBook:
    """An XLSX file in constant memory: rows appended in order, a further sheet each `max_rows` rows (header
    included). Its methods run in a worker thread."""

    def __init__(self, path: str, dataset: Dataset, lang: str, *, max_rows: int, tmpdir: str | None = None):
        import xlsxwriter

        self.dataset, self.lang, self.max_rows = dataset, lang, max_rows
        self.book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": tmpdir,
                                               "strings_to_numbers": False, "strings_to_formulas": False,
                                               "strings_to_urls": False})
        self.header_format = self.book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.datetime_format = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.sheet = None
        self.sheets = 0
        self.row = 0
        self.rows = 0
        writers = {"datetime": "write_datetime", "int": "write_number", "float": "write_number",
                   "bool": "write_boolean"}
        self._plan = [(writers.get(c.kind, "write_string"),
                       self.datetime_format if c.kind == "datetime" else None) for c in dataset.columns]

    def _new_sheet(self) -> None:
        self.sheets += 1
        title = self.dataset.title(self.lang)
        self.sheet = self.book.add_worksheet(title if self.sheets == 1 else f"{title} ({self.sheets})")
        for n, c in enumerate(self.dataset.columns):
            width = 20 if c.kind == "datetime" else 38 if c.key.endswith("id") else max(10, len(c.header(self.lang)) + 4)
            self.sheet.set_column(n, n, width)
            self.sheet.write_string(0, n, c.header(self.lang), self.header_format)
        self.sheet.freeze_panes(1, 0)
        self.row = 1
        self._methods = [(getattr(self.sheet, m), fmt) for m, fmt in self._plan]

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if self.sheet is None:
            self._new_sheet()
        for values in rows:
            if self.row >= self.max_rows:
                self._new_sheet()
            r, methods = self.row, self._methods
            for n, v in enumerate(values):
                if v is not None:
                    write, fmt = methods[n]
                    write(r, n, v, fmt)
            self.row += 1
            self.rows += 1

    def abandon(self) -> None:
        """Close the row files of a book that will not be finished."""
        for sheet in self.book.worksheets():
            fh = getattr(sheet, "row_data_fh", None)
            if fh is not None and not fh.closed:
                fh.close()

    def close(self) -> None:
        if self.sheet is None:
            self._new_sheet()  # an empty export still has its header
        self.book.close()


@dataclass
class XlsxFile:
    """A finished XLSX export: an open file (already unlinked, so nothing is left behind) and its size."""

    file: Any
    size: int
    rows: int
    sheets: int

    def chunks(self, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
        async def read() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(self.file.read, chunk_bytes):
                    yield chunk
            finally:
                self.file.close()
        return read()


async def build_xlsx(pool: asyncpg.Pool, export: Export, *, caller: Caller, settings: Settings,
                     slots: Slots) -> XlsxFile:
    """Write the export into a temporary XLSX file (rows fetched in batches, each written in a worker thread
    while the next is fetched) and audit it. The file and XlsxWriter's row files live in a directory of their own,
    removed at the end whatever happens (the returned file is open, so it stays readable)."""
    slots.take(retry_after_s=settings.retry_after_s)
    workdir = tempfile.mkdtemp(prefix="huxiao-export-", dir=settings.export_tmpdir)
    path = os.path.join(workdir, "export.xlsx")
    book = None
    rows, completed, error = None, False, None
    try:
        book = XlsxBook(path, export.dataset, export.lang, max_rows=XLSX_SHEET_MAX_ROWS, tmpdir=workdir)
        if export.sql_from:
            await _xlsx_from_sql(pool, export, book, settings)
        else:
            async for page in export.pages():
                values = [[python_value(c, r, for_csv=False) for c in export.dataset.columns] for r in page]
                await asyncio.to_thread(book.write, values)
        await asyncio.to_thread(book.close)
        rows, completed = book.rows, True
        file = await asyncio.to_thread(open, path, "rb")  # closed by XlsxFile.chunks
        return XlsxFile(file, os.fstat(file.fileno()).st_size, book.rows, book.sheets)
    except BaseException as exc:
        error = type(exc).__name__
        if book is not None:
            book.abandon()
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        slots.give_back()
        await asyncio.shield(record(pool, caller=caller, export=export, rows=rows, completed=completed,
                                    error=error))


async def _xlsx_from_sql(pool: asyncpg.Pool, export: Export, book: XlsxBook, settings: Settings) -> None:
    q = query(select_sql(export))
    async with pool.acquire(timeout=settings.db_pool_timeout_s) as conn, conn.transaction(readonly=True):
        await _begin(conn, settings)
        cursor = await conn.cursor(q.sql, *q.args(export.params))
        batch = await cursor.fetch(XLSX_BATCH_ROWS)
        while batch:
            writing = asyncio.ensure_future(asyncio.to_thread(book.write, batch))
            try:
                batch = await cursor.fetch(XLSX_BATCH_ROWS) if len(batch) == XLSX_BATCH_ROWS else []
            finally:
                await writing


# --- entry points ------------------------------------------------------------------------------------------

async def open_csv(pool: asyncpg.Pool, export: Export, *, caller: Caller, settings: Settings,
                   slots: Slots) -> CsvStream:
    stream = CsvStream(pool, export, caller=caller, settings=settings, slots=slots)
    await stream.start()
    return stream

