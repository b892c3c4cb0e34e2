"""Import of the ledgers units keep today as spreadsheets (台账导入): hazards, venues and inspections from XLSX or
CSV with Chinese column headers.

Rules:

1. The file is XLSX (decided by its content: a ZIP container) or CSV in UTF-8 (with or without BOM) or GB18030
   (what Excel saves in China); an old binary .xls or anything else is unsupported media (415).
2. The first non-empty row holds the headers. Headers are matched to fields by the names in `*_COLUMNS` (a few
   synonyms each, or the API's field name); other columns are ignored and reported. A missing required column
   refuses the whole file (422 naming it). At most `IMPORT_MAX_ROWS` data rows.
3. Each row becomes one record through the same rules as the API (`hazards.create`, `venues.create`,
   `venues.record_inspection`), each in its own savepoint: a rejected row writes nothing and says why, naming the
   column as it is headed in the file; the other rows land. `dry_run` answers the same results and writes nothing.
4. Re-importing is safe: a row's id is derived from the importer's jurisdiction and the row's 编号 (or, without
   one, its content), so the same row again is a `duplicate`, and a 编号 imported before with other content is
   rejected.
5. Dates without a time (or a date cell at 00:00): a discovery or inspection day means the start of that day, a
   deadline or closing day the end of it, in the time zone of the import's jurisdiction; times without an offset
   are that zone's local time.

Reading the file (openpyxl, csv) and parsing its rows is CPU work and runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import Point

from domain import audit, hazards, jurisdictions, venues
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import DomainError, InvalidInput, UnsupportedMedia
from domain.incidents import body_hash
from domain.locations import crs_of, read_point

IMPORT_MAX_ROWS = 5000
MAX_COLUMNS = 100
NAMESPACE = uuid.UUID("6f1b1c52-5a43-4c38-9b7e-2f0c3c1d9a11")


@dataclass(frozen=True)
class Column:
    field: str
    headers: tuple[str, ...]
    doc: str
    required: bool = False


HAZARD_COLUMNS = (
    Column("external_ref", ("编号", "隐患编号"), "the unit's own number; re-importing it is a duplicate"),
    Column("school", ("学校", "学校名称", "所在学校"), "school name (or id) in your scope; or give 经度/纬度"),
    Column("lon", ("经度",), "longitude"),
    Column("lat", ("纬度",), "latitude"),
    Column("crs", ("坐标系",), "WGS84 | GCJ02 (高德/腾讯) | BD09 (百度); default the `crs` parameter"),
    Column("category", ("隐患类别", "类别", "隐患类型"), "人防 | 物防 | 技防 | 交通设施 | 食品安全 | 消防 | 周边场所 | "
                                                      "校舍建筑 | 其他", True),
    Column("severity", ("隐患等级", "等级"), "一般 | 较大 | 重大 (default 一般)"),
    Column("description", ("隐患描述", "隐患内容", "存在问题", "描述"), "what was found", True),
    Column("found_at", ("发现时间", "发现日期", "排查时间", "排查日期"), "date or date and time", True),
    Column("found_by_name", ("发现人", "排查人"), "who found it (default: you)"),
    Column("responsible_unit", ("责任单位", "整改责任单位"), "who must fix it"),
    Column("deadline", ("整改期限", "整改时限", "整改期限日期"), "a day means the end of that day", True),
    Column("actions_taken", ("整改措施", "采取措施"), "logged as an action taken"),
    Column("status", ("状态", "整改状态", "整改情况"), "待整改 | 整改中 | 已上报 | 已销号 (default 待整改)"),
    Column("escalation_reason", ("上报原因",), "needed for 已上报"),
    Column("closed_at", ("销号时间", "销号日期", "整改完成时间"), "needed for 已销号"),
    Column("closing_note", ("销号说明", "整改结果", "整改完成情况"), "closing evidence, needed for 已销号"),
    Column("jurisdiction_code", ("单位代码", "所属单位代码"), "default: the school's, else the parameter or yours"),
)
VENUE_COLUMNS = (
    Column("external_ref", ("编号", "场所编号"), "the unit's own number; inspections refer to it"),
    Column("name", ("场所名称", "名称"), "", True),
    Column("kind", ("场所类型", "类型", "场所类别"), "网吧 | 游戏厅 | KTV | 宾馆 | 小旅馆 | 出租房 | 电竞酒店 | 剧本杀 | "
                                                "密室逃脱 | 小餐饮 | 出版物 | 其他", True),
    Column("address", ("地址", "场所地址"), ""),
    Column("lon", ("经度",), "", True),
    Column("lat", ("纬度",), "", True),
    Column("crs", ("坐标系",), "WGS84 | GCJ02 | BD09"),
    Column("operator_name", ("经营者", "负责人", "法定代表人"), ""),
    Column("licence_no", ("许可证号", "营业执照号", "证照号"), ""),
    Column("phone", ("联系电话", "电话"), ""),
    Column("status", ("状态", "经营状态"), "营业 | 停业整顿 | 关停 (default 营业)"),
    Column("note", ("备注",), ""),
    Column("jurisdiction_code", ("单位代码", "所属单位代码"), "default: the nearest zone school's, else yours"),
)
INSPECTION_COLUMNS = (
    Column("external_ref", ("检查编号",), "the unit's own number of the inspection"),
    Column("venue_ref", ("场所编号",), "the venue's 编号 (from the venue import); or 场所名称"),
    Column("venue_name", ("场所名称", "名称"), "a venue name unique in your scope"),
    Column("inspected_at", ("检查时间", "检查日期"), "date or date and time", True),
    Column("inspector_name", ("检查人", "检查民警"), "default: you"),
    Column("findings", ("检查情况", "检查结果"), ""),
    Column("violations", ("违规问题", "违法违规行为", "存在问题"), "several separated by ；、, or new lines"),
    Column("actions", ("处理措施", "处罚措施", "处理结果"), "警告 | 罚款 | 责令停业 | 责令整改, several allowed"),
    Column("fine_yuan", ("罚款金额", "罚款金额（元）", "罚款"), "yuan, with 罚款"),
    Column("follow_up_on", ("复查日期", "复查时间"), "a day"),
)

CATEGORY_WORDS = {"人防": "facilities_civil", "物防": "facilities_physical", "技防": "facilities_technical",
                  "交通": "traffic_facilities", "交通设施": "traffic_facilities", "食品": "food_safety",
                  "食品安全": "food_safety", "消防": "fire", "消防安全": "fire", "周边场所": "venue", "场所": "venue",
                  "校舍": "building", "建筑": "building", "校舍建筑": "building", "校舍安全": "building",
                  "其他": "other", "其它": "other"}
SEVERITY_WORDS = {"一般": "general", "一般隐患": "general", "较大": "significant", "较大隐患": "significant",
                  "重大": "major", "重大隐患": "major"}
STATUS_WORDS = {"待整改": "open", "未整改": "open", "新发现": "open", "整改中": "rectifying", "正在整改": "rectifying",
                "已上报": "escalated", "上报": "escalated", "已销号": "closed", "销号": "closed", "已整改": "closed",
                "整改完成": "closed"}
VENUE_KIND_WORDS = {"网吧": "internet_cafe", "网咖": "internet_cafe", "游戏厅": "game_hall", "游艺厅": "game_hall",
                    "游艺场所": "game_hall", "ktv": "ktv", "歌舞厅": "ktv", "歌舞娱乐场所": "ktv", "宾馆": "hotel",
                    "酒店": "hotel", "宾馆酒店": "hotel", "小旅馆": "small_inn", "旅馆": "small_inn", "民宿": "small_inn",
                    "出租房": "rental_housing", "出租屋": "rental_housing", "出租房屋": "rental_housing",
                    "电竞酒店": "esports_hotel", "剧本杀": "script_escape_room", "密室逃脱": "script_escape_room",
                    "剧本杀密室": "script_escape_room", "小餐饮": "food_stall", "摊点": "food_stall",
                    "流动摊点": "food_stall", "小吃摊": "food_stall", "出版物": "publication_seller",
                    "书店": "publication_seller", "出版物销售": "publication_seller", "其他": "other", "其它": "other"}
VENUE_STATUS_WORDS = {"营业": "operating", "正常营业": "operating", "在营": "operating", "停业整顿": "suspended",
                      "停业": "suspended", "关停": "closed", "已关停": "closed", "取缔": "closed", "注销": "closed"}
ACTION_WORDS = {"警告": "warning", "罚款": "fine", "责令停业": "closure", "停业": "closure", "关停": "closure",
                "取缔": "closure", "责令整改": "rectification_order", "限期整改": "rectification_order",
                "整改": "rectification_order"}
CRS_WORDS = {"wgs84": "wgs84", "gps": "wgs84", "gcj02": "gcj02", "高德": "gcj02", "腾讯": "gcj02", "火星": "gcj02",
             "bd09": "bd09", "百度": "bd09"}
NOTHING = {"", "无", "-", "—", "/", "none"}
_SPLIT = re.compile(r"[；;、,，\n]+")
_DAY_TIME = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                       r"(?:[\sT]+(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2}))?秒?)?$")


# --- reading the file ------------------------------------------------------------------------------------

def read_table(data: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """The headers and the non-empty data rows (with their row numbers in the file) of an XLSX's first sheet or of
    a CSV; at most IMPORT_MAX_ROWS rows."""
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise UnsupportedMedia("an old binary .xls: save it as .xlsx or .csv", field="body")
    if data[:4] == b"PK\x03\x04":
        rows = _xlsx_rows(data)
    else:
        rows = _csv_rows(data)
    headers: list[str] | None = None
    out: list[tuple[int, list[Any]]] = []
    for number, row in rows:
        cells = [c.strip() if isinstance(c, str) else c for c in list(row)[:MAX_COLUMNS]]
        if all(c is None or c == "" for c in cells):
            continue
        if headers is None:
            headers = [_header(c) for c in cells]
            continue
        if len(out) >= IMPORT_MAX_ROWS:
            raise InvalidInput(f"at most {IMPORT_MAX_ROWS} rows per file; split it", field="body")
        out.append((number, cells))
    if headers is None:
        raise InvalidInput("the file has no header row", field="body")
    return headers, out


def _header(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return re.sub(r"\s+", "", text).replace("(", "（").replace(")", "）").lstrip("*＊")


def _xlsx_rows(data: bytes):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        return list(enumerate(sheet.iter_rows(values_only=True, max_row=IMPORT_MAX_ROWS + 50), start=1))
    except (zipfile.BadZipFile, InvalidFileException, KeyError, IndexError, ValueError, TypeError, OSError) as exc:
        raise UnsupportedMedia(f"not a readable XLSX workbook ({type(exc).__name__})", field="body") from exc


def _csv_rows(data: bytes):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes every byte string
        raise UnsupportedMedia("not an XLSX workbook nor a UTF-8 or GB18030 CSV", field="body")
    if "\x00" in text:
        raise UnsupportedMedia("not an XLSX workbook nor a CSV text", field="body")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: {exc}", field="body") from exc


# --- reading cells ----------------------------------------------------------------------------------------

class CellError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _word(value: Any, words: dict[str, str], codes, *, field: str, what: str) -> str | None:
    text = _text(value)
    if text is None:
        return None
    key = re.sub(r"\s+", "", text).lower()
    if key in codes:
        return key
    for name, code in words.items():
        if key == name.lower():
            return code
    raise CellError(field, f"unknown {what} {text!r}; one of {', '.join(dict.fromkeys(words))}")


def _instant(value: Any, tz: ZoneInfo, *, field: str, end_of_day: bool = False) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None and end_of_day and value.time() == time(0):
            value = value.date()  # a spreadsheet date cell: the day, so a deadline is its end
        else:
            return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59) if end_of_day else time(0), tzinfo=tz)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    except ValueError:
        pass
    m = _DAY_TIME.match(text)
    if m:
        y, mo, d, h, mi, s = (int(g) if g else None for g in m.groups())
        try:
            if h is None:
                return datetime.combine(date(y, mo, d), time(23, 59, 59) if end_of_day else time(0), tzinfo=tz)
            return datetime(y, mo, d, h, mi, s or 0, tzinfo=tz)
        except ValueError as exc:
            raise CellError(field, f"not a real date: {text!r}") from exc
    raise CellError(field, f"not a date: {text!r} (write 2026-03-22 or 2026-03-22 08:30)")


def _earliest(at: datetime | None, now: datetime) -> datetime | None:
    """A closing day's end, but never later than now (closed today means closed by now)."""
    return None if at is None else min(at, now)


def _day(value: Any, *, field: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return _instant(value, ZoneInfo("UTC"), field=field).date()


def _number(value: Any, *, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise CellError(field, "not a number")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().replace(",", "").replace("元", ""))
    except ValueError as exc:
        raise CellError(field, f"not a number: {value!r}") from exc


def _list(value: Any) -> list[str]:
    text = _text(value)
    if text is None or text.lower() in NOTHING:
        return []
    return [p.strip() for p in _SPLIT.split(text) if p.strip() and p.strip().lower() not in NOTHING]


# --- the import --------------------------------------------------------------------------------------------

@dataclass
class RowResult:
    row: int
    status: str  # created | duplicate | rejected
    id: uuid.UUID | None = None
    errors: list[dict] | None = None


class _DryRun(Exception):
    pass


def _columns(headers: list[str], spec: tuple[Column, ...]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Which position holds each field, the header each field had in the file, and the ignored headers."""
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    ignored = []
    for n, header in enumerate(headers):
        if not header:
            continue
        for col in spec:
            if header in col.headers or header.lower() == col.field:
                if col.field not in positions:
                    positions[col.field] = n
                    names[col.field] = header
                break
        else:
            ignored.append(header)
    for col in spec:
        if col.required and col.field not in positions:
            raise InvalidInput(f"the file has no column {col.headers[0]} ({col.field})", field=col.headers[0])
    return positions, names, ignored


def _cells(row: list[Any], positions: dict[str, int]) -> dict[str, Any]:
    return {f: (row[n] if n < len(row) else None) for f, n in positions.items()}


def _row_id(kind: str, caller: Caller, ref: str | None, content: dict) -> uuid.UUID:
    key = ref if ref else hashlib.sha256(repr(sorted(content.items())).encode()).hexdigest()
    return uuid.uuid5(NAMESPACE, f"{kind}:{caller.jurisdiction_code}:{'ref' if ref else 'row'}:{key}")


def _header_of(field: str | None, names: dict[str, str], aliases: dict[str, str]) -> str:
    if field is None:
        return ""
    head = field.split(".")[0]
    head = aliases.get(head, head)
    return names.get(head, field)


async def _setting(db: Db, *, caller: Caller, jurisdiction_code: str | None) -> ZoneInfo:
    if jurisdiction_code:
        j = await jurisdictions.in_scope(db, caller=caller, code=jurisdiction_code)
    else:
        j = await jurisdictions.get(db, code=caller.jurisdiction_code, caller=None)
    return ZoneInfo(j["time_zone"])


async def _run(db: Db, *, caller: Caller, rows: list[tuple[int, dict | CellError]], dry_run: bool,
               write: Callable, names: dict[str, str], aliases: dict[str, str]) -> list[RowResult]:
    results: list[RowResult] = []
    try:
        async with db.transaction():
            for number, item in rows:
                if isinstance(item, CellError):
                    results.append(RowResult(number, "rejected", errors=[
                        {"field": names.get(item.field, item.field), "message": item.message}]))
                    continue
                try:
                    async with db.transaction():  # a savepoint per row: a refused row leaves nothing behind
                        new_id, created = await write(item)
                    results.append(RowResult(number, "created" if created else "duplicate", id=new_id))
                except DomainError as exc:
                    errors = exc.errors or [{"field": exc.field or "", "message": exc.detail}]
                    results.append(RowResult(number, "rejected", errors=[
                        {"field": _header_of(e.get("field"), names, aliases), "message": e["message"]}
                        for e in errors]))
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return results


def _answer(kind: str, results: list[RowResult], ignored: list[str], dry_run: bool) -> dict:
    return {
        "kind": kind, "dry_run": dry_run,
        "created": sum(r.status == "created" for r in results),
        "duplicate": sum(r.status == "duplicate" for r in results),
        "rejected": sum(r.status == "rejected" for r in results),
        "ignored_columns": ignored,
        "results": [r.__dict__ for r in results],
    }


def _location(cells: dict, *, default_crs: str) -> tuple[Point | None, str]:
    crs = _word(cells.get("crs"), CRS_WORDS, (), field="crs", what="coordinate system") or default_crs
    lon, lat = _number(cells.get("lon"), field="lon"), _number(cells.get("lat"), field="lat")
    if lon is None and lat is None:
        return None, crs
    if lon is None or lat is None:
        raise CellError("lon" if lon is None else "lat", "give both 经度 and 纬度")
    try:
        return read_point({"type": "Point", "coordinates": [lon, lat]}, crs=crs), crs
    except InvalidInput as exc:
        raise CellError("lon", exc.detail) from exc


async def import_hazards(db: Db, *, caller: Caller, data: bytes, crs: str, jurisdiction_code: str | None,
                         dry_run: bool, now: datetime) -> dict:
    """Hazards from a spreadsheet (officers, commanders, admins), one result per row."""
    caller.require(Role.officer, Role.commander)
    crs_of(crs)
    tz = await _setting(db, caller=caller, jurisdiction_code=jurisdiction_code)
    headers, table = await asyncio.to_thread(read_table, data)
    positions, names, ignored = _columns(headers, HAZARD_COLUMNS)
    if "school" not in positions and not {"lon", "lat"} <= positions.keys():
        raise InvalidInput("the file needs a column 学校 or the columns 经度 and 纬度", field="学校")
    school_names = {_text(_cells(r, positions).get("school")) for _, r in table} - {None}
    schools = await _schools_by_name(db, caller=caller, names=school_names)

    def parse(cells: dict) -> dict:
        location, row_crs = _location(cells, default_crs=crs)
        school_ref = _text(cells.get("school"))
        school_id = None
        if school_ref is not None:
            found = schools.get(school_ref)
            if not found:
                raise CellError("school", f"no school {school_ref!r} in your scope")
            if len(found) > 1:
                raise CellError("school", f"several schools are named {school_ref!r}; give 经度/纬度 or the id")
            school_id = found[0]
        elif location is None:
            raise CellError("lon", "give 学校 or 经度/纬度")
        status = _word(cells.get("status"), STATUS_WORDS, hazards.STATUSES, field="status", what="status") or "open"
        return dict(
            category=_word(cells.get("category"), CATEGORY_WORDS, hazards.CATEGORIES, field="category",
                           what="category"),
            severity=_word(cells.get("severity"), SEVERITY_WORDS, hazards.SEVERITIES, field="severity",
                           what="severity") or "general",
            description=_text(cells.get("description")),
            found_at=_instant(cells.get("found_at"), tz, field="found_at"),
            deadline=_instant(cells.get("deadline"), tz, field="deadline", end_of_day=True),
            location=location, crs=row_crs, school_id=school_id,
            responsible_unit=_text(cells.get("responsible_unit")), found_by_name=_text(cells.get("found_by_name")),
            jurisdiction_code=_text(cells.get("jurisdiction_code")) or jurisdiction_code,
            external_ref=_text(cells.get("external_ref")), status=status,
            closed_at=_earliest(_instant(cells.get("closed_at"), tz, field="closed_at", end_of_day=True), now),
            closing_note=_text(cells.get("closing_note")), escalation_reason=_text(cells.get("escalation_reason")),
            actions_taken=[a for a in [_text(cells.get("actions_taken"))] if a], imported=True)

    rows = await asyncio.to_thread(_parse_all, table, positions, parse)

    async def write(fields: dict) -> tuple[uuid.UUID, bool]:
        for name in ("found_at", "deadline"):
            if fields[name] is None:
                raise InvalidInput(f"{name} is required", field=name)
        if fields["category"] is None:
            raise InvalidInput("category is required", field="category")
        content = {k: (v.wkt if isinstance(v, Point) else v) for k, v in fields.items()}
        hazard_id = _row_id("hazard", caller, fields["external_ref"], content)
        out, created = await hazards.create(db, caller=caller, hazard=hazards.HazardInput(**fields),
                                            client_id=hazard_id, request_hash=body_hash(content), now=now)
        return out["id"], created

    aliases = {"location": "lon", "school_id": "school", "id": "external_ref", "actions_taken": "actions_taken"}
    results = await _run(db, caller=caller, rows=rows, dry_run=dry_run, write=write, names=names, aliases=aliases)
    if not dry_run:
        await _audit(db, caller=caller, entity="hazard", results=results)
    return _answer("hazards", results, ignored, dry_run)


async def import_venues(db: Db, *, caller: Caller, data: bytes, crs: str, jurisdiction_code: str | None,
                        dry_run: bool, now: datetime) -> dict:
    """Venues from a spreadsheet (officers, commanders, admins), one result per row."""
    caller.require(Role.officer, Role.commander)
    crs_of(crs)
    if jurisdiction_code:
        await jurisdictions.in_scope(db, caller=caller, code=jurisdiction_code)
    headers, table = await asyncio.to_thread(read_table, data)
    positions, names, ignored = _columns(headers, VENUE_COLUMNS)

    def parse(cells: dict) -> dict:
        location, row_crs = _location(cells, default_crs=crs)
        if location is None:
            raise CellError("lon", "give 经度 and 纬度")
        return dict(
            name=_text(cells.get("name")),
            kind=_word(cells.get("kind"), VENUE_KIND_WORDS, venues.KINDS, field="kind", what="venue kind"),
            location=location, crs=row_crs, address=_text(cells.get("address")),
            operator_name=_text(cells.get("operator_name")), licence_no=_text(cells.get("licence_no")),
            phone=_text(cells.get("phone")), note=_text(cells.get("note")),
            status=_word(cells.get("status"), VENUE_STATUS_WORDS, venues.STATUSES, field="status",
                         what="status") or "operating",
            jurisdiction_code=_text(cells.get("jurisdiction_code")) or jurisdiction_code,
            external_ref=_text(cells.get("external_ref")))

    rows = await asyncio.to_thread(_parse_all, table, positions, parse)

    async def write(fields: dict) -> tuple[uuid.UUID, bool]:
        if fields["kind"] is None:
            raise InvalidInput("kind is required", field="kind")
        content = {k: (v.wkt if isinstance(v, Point) else v) for k, v in fields.items()}
        venue_id = _row_id("venue", caller, fields["external_ref"], content)
        out, created = await venues.create(db, caller=caller, venue=venues.VenueInput(**fields), client_id=venue_id,
                                           request_hash=body_hash(content), now=now)
        return out["id"], created

    aliases = {"location": "lon", "id": "external_ref"}
    results = await _run(db, caller=caller, rows=rows, dry_run=dry_run, write=write, names=names, aliases=aliases)
    if not dry_run:
        await _audit(db, caller=caller, entity="venue", results=results)
    return _answer("venues", results, ignored, dry_run)


async def import_inspections(db: Db, *, caller: Caller, data: bytes, jurisdiction_code: str | None,
                             dry_run: bool, now: datetime) -> dict:
    """Venue inspections from a spreadsheet (officers, commanders, admins), one result per row; each names its
    venue by 场所编号 (the venue's 编号) or by a 场所名称 unique in the caller's scope."""
    caller.require(Role.officer, Role.commander)
    tz = await _setting(db, caller=caller, jurisdiction_code=jurisdiction_code)
    headers, table = await asyncio.to_thread(read_table, data)
    positions, names, ignored = _columns(headers, INSPECTION_COLUMNS)
    if "venue_ref" not in positions and "venue_name" not in positions:
        raise InvalidInput("the file needs a column 场所编号 or 场所名称", field="场所编号")
    cells_of = [_cells(r, positions) for _, r in table]
    refs = {_text(c.get("venue_ref")) for c in cells_of} - {None}
    venue_names = {_text(c.get("venue_name")) for c in cells_of} - {None}
    by_ref, by_name = await _venues_by(db, caller=caller, refs=refs, names=venue_names)

    def parse(cells: dict) -> dict:
        ref, name = _text(cells.get("venue_ref")), _text(cells.get("venue_name"))
        if ref is not None:
            found, field, what = by_ref.get(ref, []), "venue_ref", f"编号 {ref!r}"
        elif name is not None:
            found, field, what = by_name.get(name, []), "venue_name", f"named {name!r}"
        else:
            raise CellError("venue_ref", "give 场所编号 or 场所名称")
        if not found:
            raise CellError(field, f"no venue {what} in your scope")
        if len(found) > 1:
            raise CellError(field, f"several venues {what}; give 场所编号")
        actions = []
        for word in _list(cells.get("actions")):
            code = _word(word, ACTION_WORDS, venues.ACTIONS, field="actions", what="action")
            actions.append(code)
        return dict(
            venue_id=found[0],
            inspected_at=_instant(cells.get("inspected_at"), tz, field="inspected_at"),
            inspector_name=_text(cells.get("inspector_name")), findings=_text(cells.get("findings")),
            violations=_list(cells.get("violations")), actions=list(dict.fromkeys(actions)),
            fine_yuan=_number(cells.get("fine_yuan"), field="fine_yuan"),
            follow_up_on=_day(cells.get("follow_up_on"), field="follow_up_on"),
            external_ref=_text(cells.get("external_ref")))

    rows = await asyncio.to_thread(_parse_all, table, positions, parse)

    async def write(fields: dict) -> tuple[uuid.UUID, bool]:
        if fields["inspected_at"] is None:
            raise InvalidInput("inspected_at is required", field="inspected_at")
        content = {k: str(v) if isinstance(v, uuid.UUID | date) else v for k, v in fields.items()}
        inspection_id = _row_id("inspection", caller, fields["external_ref"], content)
        item = {k: v for k, v in fields.items() if k not in ("venue_id", "external_ref")}
        out, created = await venues.record_inspection(
            db, caller=caller, venue_id=fields["venue_id"], inspection=venues.InspectionInput(**item),
            client_id=inspection_id, request_hash=body_hash(content), now=now)
        return out["id"], created

    aliases = {"id": "external_ref"}
    results = await _run(db, caller=caller, rows=rows, dry_run=dry_run, write=write, names=names, aliases=aliases)
    if not dry_run:
        await _audit(db, caller=caller, entity="venue_inspection", results=results)
    return _answer("inspections", results, ignored, dry_run)


def _parse_all(table: list[tuple[int, list[Any]]], positions: dict[str, int],
               parse: Callable[[dict], dict]) -> list[tuple[int, dict | CellError]]:
    out: list[tuple[int, dict | CellError]] = []
    for number, row in table:
        try:
            out.append((number, parse(_cells(row, positions))))
        except CellError as exc:
            out.append((number, exc))
    return out


async def _schools_by_name(db: Db, *, caller: Caller, names: set[str]) -> dict[str, list[uuid.UUID]]:
    """Schools in the caller's scope by name, id or external id."""
    if not names:
        return {}
    rows = await db.fetch("""
        SELECT s.id, s.name, s.external_id FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.deleted_at IS NULL AND j.path <@ CAST(:scope AS ltree)
          AND (s.name = ANY(CAST(:names AS text[])) OR s.external_id = ANY(CAST(:names AS text[]))
               OR CAST(s.id AS text) = ANY(CAST(:names AS text[])))
    """, {"scope": caller.scope_path, "names": sorted(names)})
    out: dict[str, list[uuid.UUID]] = {}
    for r in rows:
        for key in {r["name"], r["external_id"], str(r["id"])} & names:
            out.setdefault(key, []).append(r["id"])
    return out


async def _venues_by(db: Db, *, caller: Caller, refs: set[str], names: set[str]
                     ) -> tuple[dict[str, list[uuid.UUID]], dict[str, list[uuid.UUID]]]:
    if not refs and not names:
        return {}, {}
    rows = await db.fetch("""
        SELECT v.id, v.name, v.external_ref FROM venues v JOIN jurisdictions j ON j.code = v.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (v.external_ref = ANY(CAST(:refs AS text[])) OR v.name = ANY(CAST(:names AS text[])))
    """, {"scope": caller.scope_path, "refs": sorted(refs), "names": sorted(names)})
    by_ref: dict[str, list[uuid.UUID]] = {}
    by_name: dict[str, list[uuid.UUID]] = {}
    for r in rows:
        if r["external_ref"] in refs:
            by_ref.setdefault(r["external_ref"], []).append(r["id"])
        if r["name"] in names:
            by_name.setdefault(r["name"], []).append(r["id"])
    return by_ref, by_name


async def _audit(db: Db, *, caller: Caller, entity: str, results: list[RowResult]) -> None:
    await audit.record(db, caller=caller, entity=entity, entity_id="import", action="import",
                       jurisdiction_code=caller.jurisdiction_code or None,
                       changes={s: sum(r.status == s for r in results) for s in ("created", "duplicate", "rejected")})


def column_table(spec: tuple[Column, ...]) -> list[tuple[str, str, str, bool]]:
    """(header, other accepted headers, field, required) for documentation."""
    return [(c.headers[0], "、".join(c.headers[1:]), c.field, c.required) for c in spec]
