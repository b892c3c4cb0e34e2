"""Trackers: phones running the free Traccar Client app, posting positions in Traccar's OsmAnd protocol.

An admin registers a device (the identifier shown in the app) to an officer. Every position the device posts
becomes a `heartbeat` check-in of that officer, judged like any other (`domain.checkins.ingest`: school zone, post
geofence, shift, duty window, flags, off-post alerts) and marked `source = traccar`, so an officer who only runs
the tracker shows up in duty compliance and alerts.

Rules:

1. **Formats** (as Traccar's `OsmAndProtocolDecoder` reads them). Current app versions POST JSON
   `{"device_id", "location": {"timestamp" (ISO 8601), "coords": {"latitude", "longitude", "accuracy" (m),
   "speed" (m/s, −1 unknown), "heading" (°, −1 unknown), "altitude" (m)}, "is_moving", "event", "mock",
   "battery": {"level" (0–1, −1 unknown), "is_charging"}, …}}` (`location` may also be a list of such objects).
   Older versions (and OsmAnd-style senders) send query parameters, by GET or POST (or in a form body):
   `id` (or `deviceid`), `lat`, `lon` (or `location=lat,lon`), `timestamp` (epoch seconds, epoch milliseconds, ISO
   8601, or `yyyy-MM-dd HH:mm:ss` read as UTC), `speed` (knots), `bearing` (or `heading`), `altitude`,
   `accuracy` (m), `batt` (%), `charge`, `mock`, `valid`, `alarm`. Coordinates are the phone's GPS: WGS-84.
2. **Answers**: the apps resend a position until they get a 2xx (the old Android client treats any HTTP error as
   a failed send and keeps the position; the current SDK keeps every non-2xx). So every request whose device
   identifier can be read is answered `200` — also for an unknown device, an inactive one, or a position that
   cannot be used (unreadable, more than 7 days old, in the future) — and what was not stored is counted on the
   device (or, for an unknown identifier, in `tracker_unknown_devices`) for the admin to see. Only a device over
   its rate is answered `429` with `Retry-After` (the app keeps the position and sends it later), and a request
   whose identifier cannot be read at all `422`.
3. **Unknown devices**: their positions are dropped and counted per identifier, never stored as anyone's
   presence. Registering the identifier clears its row.
4. **Idempotency**: the check-in id is `uuid5(TRACKER_NAMESPACE, "<identifier>|<timestamp in UTC>")`, so a
   position sent twice (a lost answer, a buffered replay) is stored once. A position without a timestamp takes
   the server's time (as Traccar does) and so cannot be recognised when resent.
5. **Accuracy**: a missing, zero or negative accuracy (or `valid=false`) is stored as `UNKNOWN_ACCURACY_M`
   (100 km): the geofence is `uncertain` and the check-in is flagged `unknown_accuracy` and `poor_accuracy`.
6. **Rate**: at most `tracker_rate_limit` positions per device per `tracker_rate_window_s` (fixed window, kept
   on the device's row and counted under its row lock: exact across workers).
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from domain import audit, checkins, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import Conflict, DomainError, InvalidInput, NotFound, TooManyRequests
from domain.paging import decode_cursor, page_of
from domain.settings import Settings
from domain.shifts import officers_in_scope
from geo.zone_index import ZoneIndex

TRACKER_NAMESPACE = uuid.UUID("5d0e6c1a-4a8e-5b7f-9c1d-7a3e2f1b0c55")
"""Namespace of the check-in ids derived from (device identifier, timestamp)."""
KNOTS_TO_MPS = 1852 / 3600
"""The OsmAnd query form's `speed` is in knots (as Traccar reads it)."""
IDENTIFIER_PATTERN = re.compile(r"^[!-~]{1,64}$")
"""Device identifiers: 1–64 printable ASCII characters without spaces (the app's 8-digit default fits)."""
REGISTERED_IDENTIFIER_PATTERN = r"^[!-~]{4,64}$"
GENERATED_IDENTIFIER_BYTES = 10
"""A generated identifier: 20 hex digits, not guessable — the identifier is the device's only credential."""
POSITIONS_MAX = checkins.BATCH_MAX
ZONE_INDEX_MAX_ITEMS = 10
SOURCE = "traccar"


@dataclass
class Position:
    """One position as the app sent it, converted: metres, m/s, degrees, battery 0–1, UTC time."""

    lat: float
    lon: float
    recorded_at: datetime | None = None
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery: float | None = None
    charging: bool | None = None
    mock: bool = False
    valid: bool = True
    extras: dict[str, Any] = field(default_factory=dict)

    def device_info(self, identifier: str) -> dict[str, Any]:
        """What the check-in keeps in its `device` column besides the judgement."""
        info = {"tracker": SOURCE, "device_id": identifier, "speed_mps": self.speed_mps,
                "heading_deg": self.heading_deg, "altitude_m": self.altitude_m, "battery": self.battery,
                "charging": self.charging, **self.extras}
        if not self.valid:
            info["valid"] = False
        return {k: v for k, v in info.items() if v is not None}


@dataclass
class Received:
    """What a request carried: the device identifier and its positions (or why each cannot be used)."""

    identifier: str
    positions: list[Position | InvalidInput]


# --- reading the two formats ------------------------------------------------------------------------------

def _number(value: Any, name: str) -> float | None:
    """A finite number (JSON number or numeric text), None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number", field=name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number", field=name) from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return number


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _non_negative(value: float | None) -> float | None:
    """Traccar's apps send −1 for an unknown speed, heading or battery level."""
    return value if value is not None and value >= 0 else None


def read_timestamp(value: Any, *, name: str = "timestamp") -> datetime | None:
    """Epoch seconds, epoch milliseconds (values ≥ 2^31 − 1, as Traccar decides), ISO 8601 (naive: UTC), or
    `yyyy-MM-dd HH:mm:ss` (UTC); None when absent."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if re.fullmatch(r"-?\d{1,16}", text):
            stamp = int(text)
            seconds = stamp if stamp < 2**31 - 1 else stamp / 1000
            return datetime.fromtimestamp(seconds, tz=UTC)
        at = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(f"{name} must be epoch seconds or milliseconds, or an ISO 8601 time",
                           field=name) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _coordinates(lat: float | None, lon: float | None, *, names: tuple[str, str]) -> tuple[float, float]:
    if lat is None or lon is None:
        raise InvalidInput(f"{names[0]} and {names[1]} are required", field=names[0] if lat is None else names[1])
    if not -90 <= lat <= 90:
        raise InvalidInput(f"{names[0]} must lie in −90…90", field=names[0])
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{names[1]} must lie in −180…180", field=names[1])
    return lat, lon


def check_identifier(value: Any, *, name: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not IDENTIFIER_PATTERN.match(str(value)):
        raise InvalidInput(f"{name} (the device identifier) must be 1–64 printable ASCII characters", field=name)
    return str(value)


def read_query(params: list[tuple[str, str]]) -> Received:
    """The OsmAnd query form (`id`, `lat`, `lon`, `timestamp`, `speed` in knots, `batt` in %, …); see rule 1."""
    values: dict[str, str] = {}
    for key, value in params:
        values.setdefault(key, value)  # a repeated key: the first wins
    raw_id = values.get("id", values.get("deviceid"))
    if raw_id is None:
        raise InvalidInput("id (the device identifier) is required", field="id")
    identifier = check_identifier(raw_id, name="id")
    try:
        lat, lon = _number(values.get("lat"), "lat"), _number(values.get("lon"), "lon")
        if "location" in values and (lat is None or lon is None):
            parts = values["location"].split(",")
            if len(parts) != 2:
                raise InvalidInput("location must be `lat,lon`", field="location")
            lat, lon = _number(parts[0], "location"), _number(parts[1], "location")
        lat, lon = _coordinates(lat, lon, names=("lat", "lon"))
        speed_kn = _non_negative(_number(values.get("speed"), "speed"))
        batt = _non_negative(_number(values.get("batt"), "batt"))
        extras = {k: values[k][:100] for k in ("alarm", "event", "driverUniqueId") if values.get(k)}
        position = Position(
            lat=lat, lon=lon, recorded_at=read_timestamp(values.get("timestamp")),
            accuracy_m=_number(values.get("accuracy"), "accuracy"),
            speed_mps=round(speed_kn * KNOTS_TO_MPS, 3) if speed_kn is not None else None,
            heading_deg=_non_negative(_number(values.get("bearing", values.get("heading")), "bearing")),
            altitude_m=_number(values.get("altitude"), "altitude"),
            battery=round(min(batt, 100.0) / 100, 4) if batt is not None else None,
            charging=_flag(values.get("charge")), mock=bool(_flag(values.get("mock"))),
            valid=_flag(values.get("valid")) is not False, extras=extras)
    except InvalidInput as exc:
        return Received(identifier, [exc])
    return Received(identifier, [position])


def _json_position(location: Any) -> Position:
    if not isinstance(location, dict):
        raise InvalidInput("location must be an object", field="location")
    coords = location.get("coords")
    if not isinstance(coords, dict):
        raise InvalidInput("location.coords is required (latitude, longitude, accuracy, …)", field="location.coords")
    lat, lon = _coordinates(_number(coords.get("latitude"), "location.coords.latitude"),
                            _number(coords.get("longitude"), "location.coords.longitude"),
                            names=("location.coords.latitude", "location.coords.longitude"))
    battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
    level = _non_negative(_number(battery.get("level"), "location.battery.level"))
    extras: dict[str, Any] = {}
    for key in ("event", "alarm"):
        if isinstance(location.get(key), str) and location[key]:
            extras[key] = location[key][:100]
    if isinstance(location.get("is_moving"), bool):
        extras["is_moving"] = location["is_moving"]
    activity = location.get("activity")
    if isinstance(activity, dict) and isinstance(activity.get("type"), str):
        extras["activity"] = activity["type"][:40]
    more = location.get("extras")
    if isinstance(more, dict) and more.get("heartbeat") is True:
        extras["heartbeat"] = True
    return Position(
        lat=lat, lon=lon, recorded_at=read_timestamp(location.get("timestamp"), name="location.timestamp"),
        accuracy_m=_number(coords.get("accuracy"), "location.coords.accuracy"),
        speed_mps=_non_negative(_number(coords.get("speed"), "location.coords.speed")),
        heading_deg=_non_negative(_number(coords.get("heading"), "location.coords.heading")),
        altitude_m=_number(coords.get("altitude"), "location.coords.altitude"),
        battery=min(level, 1.0) if level is not None else None,
        charging=battery.get("is_charging") if isinstance(battery.get("is_charging"), bool) else None,
        mock=location.get("mock") is True, extras=extras)


def read_json(doc: Any, *, query_id: str | None = None) -> Received:
    """The JSON form of current Traccar Client versions (`device_id`, `location`); see rule 1. `location` may be
    a list of positions (at most 500)."""
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object with device_id and location", field="body")
    raw_id = doc.get("device_id", query_id)
    if raw_id is None:
        raise InvalidInput("device_id (the device identifier) is required", field="device_id")
    identifier = check_identifier(raw_id, name="device_id")
    locations = doc.get("location")
    if isinstance(locations, list):
        if not 1 <= len(locations) <= POSITIONS_MAX:
            return Received(identifier, [InvalidInput(f"location lists 1–{POSITIONS_MAX} positions",
                                                      field="location")])
    else:
        locations = [locations]
    positions: list[Position | InvalidInput] = []
    for location in locations:
        try:
            positions.append(_json_position(location))
        except InvalidInput as exc:
            positions.append(exc)
    return Received(identifier, positions)


# --- receiving positions -------------------------------------------------------------------------------

# Find the device, count the request in its rate window and note it was seen — one statement under the row's
# lock, so concurrent requests on any worker are counted exactly.
TOUCH = Query("""
    UPDATE tracker_devices d SET
        window_started_at = CASE WHEN d.window_started_at > now() - make_interval(secs => :window_s)
                                 THEN d.window_started_at ELSE now() END,
        window_count = CASE WHEN d.window_started_at > now() - make_interval(secs => :window_s)
                            THEN d.window_count + :n ELSE :n END,
        positions_received = d.positions_received + :n,
        last_seen_at = now()
    FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
    WHERE d.identifier = :identifier AND u.id = d.officer_id
    RETURNING d.id, d.active, d.window_count,
              extract(epoch FROM d.window_started_at + make_interval(secs => :window_s) - now()) AS window_left_s,
              u.id AS officer_id, u.username, u.role, u.unit_type, u.active AS officer_active,
              u.jurisdiction_code, CAST(j.path AS text) AS path
""")

COUNT = Query("""
    UPDATE tracker_devices SET positions_duplicate = positions_duplicate + :duplicate,
           positions_dropped = positions_dropped + :dropped,
           positions_rate_limited = positions_rate_limited + :limited,
           last_drop_reason = COALESCE(CAST(:reason AS text), last_drop_reason)
    WHERE id = :id
""")

# An unknown identifier is placed in the jurisdiction of the school nearest to its last usable position (within
# UNKNOWN_PLACE_M), and keeps its last place when it posts from nowhere near a school: an admin sees only those
# placed in their jurisdictions (the unplaced ones, only the admins of a top-level jurisdiction).
UNKNOWN_PLACE_M = 5000
UNKNOWN = Query("""
    WITH place AS (
        SELECT (SELECT s.jurisdiction_code FROM schools s
                WHERE s.deleted_at IS NULL
                  AND ST_DWithin(s.location, CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), :within)
                ORDER BY s.location <-> CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)
                LIMIT 1) AS code
    ),
    seen AS (
        UPDATE tracker_unknown_devices SET positions = positions + :n, last_seen_at = now(),
               jurisdiction_code = COALESCE((SELECT code FROM place), jurisdiction_code)
        WHERE identifier = :identifier
        RETURNING 1
    )
    INSERT INTO tracker_unknown_devices AS t (identifier, positions, jurisdiction_code)
    SELECT :identifier, :n, (SELECT code FROM place)
    WHERE NOT EXISTS (SELECT 1 FROM seen) AND (SELECT count(*) FROM tracker_unknown_devices) < :cap
    ON CONFLICT (identifier) DO UPDATE SET positions = t.positions + EXCLUDED.positions, last_seen_at = now(),
        jurisdiction_code = COALESCE(EXCLUDED.jurisdiction_code, t.jurisdiction_code)
""")


@dataclass
class Tally:
    """What became of a request's positions."""

    created: int = 0
    duplicate: int = 0
    dropped: int = 0
    known: bool = True
    reason: str | None = None
    checkin_ids: list[uuid.UUID] = field(default_factory=list)


def checkin_id(identifier: str, recorded_at: datetime) -> uuid.UUID:
    """The check-in id of a device's position: the same device and timestamp give the same id (rule 4)."""
    return uuid.uuid5(TRACKER_NAMESPACE, f"{identifier}|{recorded_at.astimezone(UTC).isoformat()}")


def to_checkin(identifier: str, position: Position, *, now: datetime, settings: Settings) -> checkins.CheckinInput:
    """A position as a heartbeat check-in: derived id, unknown accuracy as 100 km, WGS-84, device info kept."""
    recorded_at = (position.recorded_at or now).astimezone(UTC)
    accuracy = position.accuracy_m
    if accuracy is None or not accuracy > 0 or not position.valid:
        accuracy = checkins.UNKNOWN_ACCURACY_M
    accuracy = min(accuracy, checkins.UNKNOWN_ACCURACY_M)
    refusal = None
    try:
        checkins.check_recorded_at(recorded_at, now=now, settings=settings)
    except InvalidInput as exc:
        refusal = exc
    canonical = {"device": identifier, "recorded_at": recorded_at.isoformat(), "lon": position.lon,
                 "lat": position.lat, "accuracy_m": accuracy}
    return checkins.CheckinInput(
        id=checkin_id(identifier, recorded_at), kind="heartbeat", recorded_at=recorded_at,
        location=(position.lon, position.lat), crs="wgs84", accuracy_m=accuracy,
        body_hash=checkins.body_hash(canonical), mock_location=position.mock,
        device=position.device_info(identifier), source=SOURCE, refusal=refusal)


async def receive(db: Db, *, received: Received, settings: Settings, now: datetime, ingest_db: Db | None = None,
                  zone_index: ZoneIndex | None = None, request_id: str | None = None) -> Tally:
    """Store a request's positions as heartbeats of the device's officer (rules 2–6); raises `TooManyRequests`
    when the device is over its rate."""
    n = len(received.positions)
    device = await db.fetchrow(TOUCH, {"identifier": received.identifier, "n": n,
                                       "window_s": settings.tracker_rate_window_s})
    if device is None:
        usable = [p for p in received.positions if isinstance(p, Position) and p.valid]
        last = usable[-1] if usable else None
        await db.execute(UNKNOWN, {"identifier": received.identifier, "n": n, "cap": settings.tracker_unknown_max,
                                   "lon": last.lon if last else None, "lat": last.lat if last else None,
                                   "within": UNKNOWN_PLACE_M})
        return Tally(dropped=n, known=False, reason="unknown device")
    if device["window_count"] > settings.tracker_rate_limit:
        await db.execute(COUNT, {"id": device["id"], "duplicate": 0, "dropped": 0, "limited": n, "reason": None})
        raise TooManyRequests(f"this device sent more than {settings.tracker_rate_limit} positions in "
                              f"{settings.tracker_rate_window_s} s; the app sends them again later",
                              retry_after_s=max(1, math.ceil(float(device["window_left_s"]))))
    tally = Tally()
    reason = None
    if not device["active"]:
        reason = "the device is deactivated"
    elif not device["officer_active"] or device["role"] not in (Role.officer, Role.commander, Role.admin):
        reason = "the device's user is inactive or not an officer"
    if reason is not None:
        tally.dropped, tally.reason = n, reason
    else:
        caller = Caller(kind="user", id=device["officer_id"], name=device["username"], role=Role(device["role"]),
                        jurisdiction_code=device["jurisdiction_code"], scope_path=device["path"],
                        unit_type=device["unit_type"], request_id=request_id)
        items: list[checkins.CheckinInput | DomainError] = []
        for p in received.positions:
            if isinstance(p, DomainError):
                tally.dropped += 1
                tally.reason = f"unreadable position: {p.detail}"
            else:
                items.append(to_checkin(received.identifier, p, now=now, settings=settings))
        if items:
            outcomes = await checkins.ingest(
                db, caller=caller, items=items, settings=settings, online=False, ingest_db=ingest_db,
                zone_index=zone_index if len(items) <= ZONE_INDEX_MAX_ITEMS else None)
            for o in outcomes:
                if o.status == "created":
                    tally.created += 1
                    tally.checkin_ids.append(o.id)
                elif o.status == "duplicate":
                    tally.duplicate += 1
                else:
                    tally.dropped += 1
                    tally.reason = o.error.detail if o.error is not None else "refused"
    if tally.duplicate or tally.dropped:
        await db.execute(COUNT, {"id": device["id"], "duplicate": tally.duplicate, "dropped": tally.dropped,
                                 "limited": 0, "reason": (tally.reason or "")[:300] or None})
    return tally


# --- devices (admins) ---------------------------------------------------------------------------------

DEVICE_COLUMNS = """
    d.id, d.identifier, d.officer_id, u.username AS officer_username, u.display_name AS officer_name,
    d.jurisdiction_code, d.name, d.active, d.created_at, d.updated_at, d.last_seen_at, d.positions_received,
    d.positions_received - d.positions_duplicate - d.positions_dropped - d.positions_rate_limited
        AS positions_stored,
    d.positions_duplicate, d.positions_dropped, d.positions_rate_limited, d.last_drop_reason
"""


async def get(db: Db, *, caller: Caller, device_id: uuid.UUID) -> dict:
    """One device in the caller's jurisdictions (admins); elsewhere it does not exist (404)."""
    caller.require(Role.admin)
    row = await db.fetchrow(f"""
        SELECT {DEVICE_COLUMNS}, CAST(j.path AS text) AS path
        FROM tracker_devices d JOIN users u ON u.id = d.officer_id
        JOIN jurisdictions j ON j.code = d.jurisdiction_code
        WHERE d.id = :id
    """, {"id": device_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no device {device_id}")
    out = dict(row)
    out.pop("path")
    return out


async def _officer_code(db: Db, *, caller: Caller, officer_id: uuid.UUID) -> str:
    await officers_in_scope(db, caller=caller, officer_ids=[officer_id])
    return await db.fetchval("SELECT jurisdiction_code FROM users WHERE id = :id", {"id": officer_id})


async def create(db: Db, *, caller: Caller, officer_id: uuid.UUID, identifier: str | None,
                 name: str | None) -> dict:
    """Register a device to an active officer of the caller's jurisdictions (admins). Without an identifier one
    is generated (enter it in the app). Identifiers are unique (409)."""
    caller.require(Role.admin)
    code = await _officer_code(db, caller=caller, officer_id=officer_id)
    identifier = identifier or secrets.token_hex(GENERATED_IDENTIFIER_BYTES)
    device_id = uuid.uuid4()
    try:
        async with db.transaction():
            await db.execute("""
                INSERT INTO tracker_devices (id, identifier, officer_id, jurisdiction_code, name)
                VALUES (:id, :identifier, :officer, :code, :name)
            """, {"id": device_id, "identifier": identifier, "officer": officer_id, "code": code, "name": name})
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a device with identifier {identifier!r} is already registered", field="identifier") from exc
    await db.execute("DELETE FROM tracker_unknown_devices WHERE identifier = :identifier", {"identifier": identifier})
    await audit.record(db, caller=caller, entity="tracker_device", entity_id=device_id, action="create",
                       jurisdiction_code=code, changes={"identifier": identifier, "officer_id": officer_id,
                                                        "name": name})
    return await get(db, caller=caller, device_id=device_id)


async def update(db: Db, *, caller: Caller, device_id: uuid.UUID, changes: dict[str, Any]) -> dict:
    """Give the device to another officer, rename it, or (de)activate it (admins)."""
    current = await get(db, caller=caller, device_id=device_id)
    sets, params = [], {"id": device_id}
    code = current["jurisdiction_code"]
    if "officer_id" in changes:
        if changes["officer_id"] is None:
            raise InvalidInput("officer_id cannot be null", field="officer_id")
        code = await _officer_code(db, caller=caller, officer_id=changes["officer_id"])
        sets += ["officer_id = :officer", "jurisdiction_code = :code"]
        params.update(officer=changes["officer_id"], code=code)
    if "name" in changes:
        sets.append("name = :name")
        params["name"] = changes["name"]
    if "active" in changes:
        if changes["active"] is None:
            raise InvalidInput("active cannot be null", field="active")
        sets.append("active = :active")
        params["active"] = changes["active"]
    if not sets:
        return current
    await db.execute(f"UPDATE tracker_devices SET {', '.join(sets)}, updated_at = now() WHERE id = :id", params)
    await audit.record(db, caller=caller, entity="tracker_device", entity_id=device_id, action="update",
                       jurisdiction_code=code, changes=changes)
    return await get(db, caller=caller, device_id=device_id)


async def delete(db: Db, *, caller: Caller, device_id: uuid.UUID) -> None:
    """Remove a device (admins): its positions are from then on those of an unknown device; its check-ins stay."""
    current = await get(db, caller=caller, device_id=device_id)
    await db.execute("DELETE FROM tracker_devices WHERE id = :id", {"id": device_id})
    await audit.record(db, caller=caller, entity="tracker_device", entity_id=device_id, action="delete",
                       jurisdiction_code=current["jurisdiction_code"],
                       changes={"identifier": current["identifier"], "officer_id": current["officer_id"]})


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    officer_id: uuid.UUID | None = None, jurisdiction_code: str | None = None,
                    active: bool | None = None) -> tuple[list[dict], str | None]:
    """Devices in the caller's jurisdictions, by identifier (admins)."""
    caller.require(Role.admin)
    after = decode_cursor(cursor, arity=1)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    rows = await db.fetch(f"""
        SELECT {DEVICE_COLUMNS}
        FROM tracker_devices d JOIN users u ON u.id = d.officer_id
        JOIN jurisdictions j ON j.code = d.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:officer AS uuid) IS NULL OR d.officer_id = :officer)
          AND (CAST(:active AS boolean) IS NULL OR d.active = :active)
          AND (CAST(:after AS text) IS NULL OR d.identifier > :after)
        ORDER BY d.identifier LIMIT :n
    """, {"scope": scope, "officer": officer_id, "active": active, "after": after[0] if after else None,
           "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["identifier"]])


async def unknown_page(db: Db, *, caller: Caller, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """Identifiers that posted positions but are registered to nobody, most recently seen first (admins): those
    placed in the caller's jurisdictions (near one of its schools; see `UNKNOWN`), and for the admins of a
    top-level jurisdiction also those seen far from every school."""
    caller.require(Role.admin)
    after = decode_cursor(cursor, arity=2)
    rows = await db.fetch("""
        SELECT u.identifier, u.positions, u.first_seen_at, u.last_seen_at, u.jurisdiction_code
        FROM tracker_unknown_devices u
        LEFT JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE (j.path <@ CAST(:scope AS ltree)
               OR (u.jurisdiction_code IS NULL AND nlevel(CAST(:scope AS ltree)) = 1))
          AND (CAST(:a_at AS timestamptz) IS NULL
               OR (u.last_seen_at, u.identifier) < (CAST(:a_at AS timestamptz), CAST(:a_id AS text)))
        ORDER BY u.last_seen_at DESC, u.identifier DESC LIMIT :n
    """, {"scope": caller.scope_path, "a_at": datetime.fromisoformat(after[0]) if after else None,
           "a_id": after[1] if after else None, "n": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit,
                   key=lambda r: [r["last_seen_at"].isoformat(), r["identifier"]])
