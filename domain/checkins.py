"""Check-ins from officers' phones: judged on arrival, stored once, replayed safely.

Each check-in is judged in the same SQL statement that stores it (one statement per batch):

- **school zone**: the school whose zone holds the point (nearest boundary first) — `school_id`,
  `in_school_zone`, `distance_to_school_m`;
- **post**: the shift's post (the shift given, else the caller's shift covering `recorded_at` ± 15 min, else the
  `post_id` given) — `distance_to_post_m` and the geofence with the fix's accuracy: `inside` when
  distance + accuracy ≤ radius, `outside` when distance − accuracy > radius, else `uncertain`
  (`in_post_geofence` true / false / null);
- **duty window**: inside the shift's [starts_at, ends_at) when there is a shift, else inside a duty window of
  the post's (or zone's) school on a school day, in the school's local time;
- **flags** (see `FLAGS`).

Idempotency: the client's UUID goes into `checkin_keys` (`ON CONFLICT DO NOTHING`) in the same statement, with
the sha256 of the canonical JSON of the item; a later item with that id and the same hash is a `duplicate`
answered with the stored check-in, with another hash (or another officer) a 409.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from domain import alerts, events, jurisdictions, zones
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.duty import EARLY_ALLOWANCE_S
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from domain.locations import bbox_condition
from domain.paging import decode_cursor, page_of
from domain.settings import Settings
from domain.shifts import in_duty_window_sql
from domain.zones import in_zone_schools_sql
from geo.zone_index import ZoneIndex

BATCH_MAX = 500
SHIFT_MATCH_ALLOWANCE_S = EARLY_ALLOWANCE_S
"""Without a shift_id, the caller's shift whose [starts_at − 15 min, ends_at + 15 min) holds recorded_at is used."""
PREVIOUS_FIX_WITHIN_S = 12 * 3600
"""Impossible speed compares with the officer's previous fix by device time, if it is at most this much older."""

FLAGS = {
    "poor_accuracy": "accuracy_m > checkin_poor_accuracy_m (100 m)",
    "clock_skew": "recorded_at is more than checkin_clock_skew_s (120 s) ahead of the server's received_at; or, "
                  "for a single (online) check-in that is not stale, more than that behind it",
    "impossible_speed": "(distance to the previous fix − both accuracies) / time between them "
                        "> checkin_max_speed_mps (50 m/s)",
    "mock_location": "the device said the location was mocked",
    "outside_zone": "the point lies in no school's zone",
    "no_shift": "no shift of the caller was given or covers recorded_at",
    "stale": "received more than checkin_stale_s (15 min) after recorded_at",
    "outside_geofence": "the fix lies certainly outside the post's geofence",
    "unknown_accuracy": "the device gave no accuracy (a tracker's missing or zero accuracy): stored as "
                        "100,000 m, so the geofence is uncertain",
}
UNKNOWN_ACCURACY_M = 100_000.0
"""The accuracy stored for a fix whose device gave none: as good as unknown, so never inside or outside a post."""
SOURCES = ("api", "traccar")
"""Where a check-in came from: `POST /v1/checkins` (and batch), or a Traccar Client tracker (OsmAnd protocol)."""


def read_flags(values: list[str] | None) -> list[str] | None:
    """Flag filters as given (repeated and/or comma-separated) as a sorted list; an unknown flag is 422."""
    if not values:
        return None
    wanted = sorted({f.strip() for v in values for f in v.split(",") if f.strip()})
    unknown = [f for f in wanted if f not in FLAGS]
    if unknown:
        raise InvalidInput(f"unknown flag {unknown[0]!r}; known: {', '.join(FLAGS)}", field="flags")
    return wanted or None


@dataclass
class CheckinInput:
    """One check-in as the phone sent it, location already converted to WGS-84."""

    id: uuid.UUID
    kind: str
    recorded_at: datetime
    location: tuple[float, float]
    crs: str
    accuracy_m: float
    body_hash: bytes
    shift_id: uuid.UUID | None = None
    post_id: uuid.UUID | None = None
    vehicle: bool | None = None
    lights: bool | None = None
    note: str | None = None
    mock_location: bool = False
    device: dict | None = None
    source: str = "api"
    refusal: DomainError | None = None
    """Why the item cannot be stored now (recorded_at out of range); it stands unless the item is a replay of
    a check-in stored earlier, which is answered as a duplicate."""


@dataclass
class Outcome:
    """The result for one item: `created` (201), `duplicate` (replay, 200) or `rejected` with the error."""

    id: Any
    status: str
    checkin: dict | None = None
    error: DomainError | None = None


def body_hash(item: dict) -> bytes:
    """sha256 of the item's canonical JSON (keys sorted, no spaces): equal bodies, equal hashes."""
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS, default=str)).digest()


def check_recorded_at(recorded_at: datetime, *, now: datetime, settings: Settings) -> None:
    """recorded_at lies within the last `checkin_max_age_s` (7 days) and at most `checkin_future_tolerance_s`
    (10 min) ahead of the server: the partition for it exists and the fix means something."""
    if recorded_at > now + timedelta(seconds=settings.checkin_future_tolerance_s):
        raise InvalidInput(f"recorded_at is more than {settings.checkin_future_tolerance_s} s in the future "
                           "(check the device clock)", field="recorded_at")
    if recorded_at < now - timedelta(seconds=settings.checkin_max_age_s):
        raise InvalidInput(f"recorded_at is older than {settings.checkin_max_age_s} s; too old to accept",
                           field="recorded_at")


COLUMNS = """
    c.id, c.officer_id, c.jurisdiction_code, c.kind, c.recorded_at, c.received_at,
    ST_X(CAST(c.location AS geometry)) AS lon, ST_Y(CAST(c.location AS geometry)) AS lat, c.accuracy_m, c.crs,
    c.shift_id, c.post_id, c.school_id, c.distance_to_school_m, c.in_school_zone, c.distance_to_post_m,
    c.geofence, c.in_post_geofence, c.in_duty_window, c.flags, c.vehicle, c.lights, c.mock_location, c.note,
    c.source
"""

_WINDOW = in_duty_window_sql(school="COALESCE(j.post_school, j.zone_school)",
                             path="COALESCE(j.post_path, j.zone_path)",
                             time_zone="COALESCE(j.post_tz, j.zone_tz)", at="j.recorded_at")

INGEST = Query(f"""
    WITH i AS (
        SELECT u.*, CAST(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) AS geography) AS g
        FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:recorded AS timestamptz[]),
                    CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:accs AS float8[]), CAST(:crss AS text[]),
                    CAST(:shift_ids AS uuid[]), CAST(:post_ids AS uuid[]), CAST(:vehicles AS boolean[]),
                    CAST(:lights AS boolean[]), CAST(:mocks AS boolean[]), CAST(:notes AS text[]),
                    CAST(:devices AS jsonb[]), CAST(:hashes AS bytea[]), CAST(:zone_ids AS uuid[]),
                    CAST(:zone_ds AS float8[]), CAST(:sources AS text[]))
             AS u(id, kind, recorded_at, lon, lat, accuracy_m, crs, shift_id, post_id, vehicle, lights, mock, note,
                  device, body_hash, zone_id, zone_d, source)
    ),
    fresh AS (
        INSERT INTO checkin_keys (id, officer_id, recorded_at, body_hash)
        SELECT i.id, :officer, i.recorded_at, i.body_hash FROM i
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ),
    located AS (
        SELECT i.*, lag(i.recorded_at) OVER w AS lag_at, lag(i.g) OVER w AS lag_g, lag(i.accuracy_m) OVER w AS lag_acc
        FROM i JOIN fresh USING (id)
        WINDOW w AS (ORDER BY i.recorded_at, i.id)
    ),
    j AS (
        SELECT l.*, COALESCE(given.id, auto.id) AS sid,
               COALESCE(given.starts_at, auto.starts_at) AS shift_starts,
               COALESCE(given.ends_at, auto.ends_at) AS shift_ends,
               p.id AS pid, p.radius_m, p.jurisdiction_code AS post_code, p.school_id AS post_school,
               pj.path AS post_path, pj.time_zone AS post_tz, ST_Distance(p.location, l.g) AS dpost,
               z.id AS zone_school, z.distance_m AS dschool, zs.jurisdiction_code AS zone_code, zj.path AS zone_path,
               zj.time_zone AS zone_tz,
               CASE WHEN l.lag_at IS NOT NULL AND (prev.recorded_at IS NULL OR l.lag_at >= prev.recorded_at)
                    THEN l.lag_at ELSE prev.recorded_at END AS prev_at,
               CASE WHEN l.lag_at IS NOT NULL AND (prev.recorded_at IS NULL OR l.lag_at >= prev.recorded_at)
                    THEN l.lag_g ELSE prev.location END AS prev_g,
               CASE WHEN l.lag_at IS NOT NULL AND (prev.recorded_at IS NULL OR l.lag_at >= prev.recorded_at)
                    THEN l.lag_acc ELSE prev.accuracy_m END AS prev_acc
        FROM located l
        LEFT JOIN shifts given ON given.id = l.shift_id
        LEFT JOIN LATERAL (
            SELECT s.id, s.post_id, s.starts_at, s.ends_at FROM shifts s
            WHERE l.shift_id IS NULL AND s.officer_id = :officer
              AND s.starts_at <= l.recorded_at + make_interval(secs => :allow)
              AND s.starts_at > l.recorded_at - interval '1 day' - make_interval(secs => :allow)
              AND s.ends_at > l.recorded_at - make_interval(secs => :allow)
              AND (l.post_id IS NULL OR s.post_id = l.post_id)
            ORDER BY (l.recorded_at >= s.starts_at AND l.recorded_at < s.ends_at) DESC,
                     abs(extract(epoch FROM s.starts_at - l.recorded_at)), s.id
            LIMIT 1
        ) auto ON true
        LEFT JOIN posts p ON p.id = COALESCE(given.post_id, auto.post_id, l.post_id)
        LEFT JOIN jurisdictions pj ON pj.code = p.jurisdiction_code
        -- the zone school: judged by the caller from the in-memory index (`zone_ids`), else here in PostGIS
        LEFT JOIN LATERAL (
            SELECT l.zone_id AS id, l.zone_d AS distance_m WHERE CAST(:zones_given AS boolean)
            UNION ALL
            SELECT q.id, q.distance_m FROM ({in_zone_schools_sql("l.g")} LIMIT 1) q
            WHERE NOT CAST(:zones_given AS boolean)
        ) z ON true
        LEFT JOIN schools zs ON zs.id = z.id
        LEFT JOIN jurisdictions zj ON zj.code = zs.jurisdiction_code
        LEFT JOIN LATERAL (
            SELECT c.recorded_at, c.location, c.accuracy_m FROM checkins c
            WHERE c.officer_id = :officer AND c.recorded_at < l.recorded_at
              AND c.recorded_at > l.recorded_at - make_interval(secs => :prev_within)
            ORDER BY c.recorded_at DESC LIMIT 1
        ) prev ON true
    ),
    judged AS (
        SELECT j.*,
               CASE WHEN j.pid IS NULL THEN NULL
                    WHEN j.dpost + j.accuracy_m <= j.radius_m THEN 'inside'
                    WHEN j.dpost - j.accuracy_m > j.radius_m THEN 'outside'
                    ELSE 'uncertain' END AS geofence,
               CASE WHEN j.sid IS NOT NULL THEN j.recorded_at >= j.shift_starts AND j.recorded_at < j.shift_ends
                    WHEN COALESCE(j.post_school, j.zone_school) IS NULL THEN false
                    ELSE {_WINDOW} END AS in_window,
               extract(epoch FROM now() - j.recorded_at) AS lag_s,
               -- whose record: the post's jurisdiction, else the zone's when it is in the officer's line
               -- (the officer's own, below or above it), else the officer's own — an officer inside another
               -- jurisdiction's zone stays on the own record (`place_code` lets that jurisdiction read it)
               COALESCE(j.post_code,
                        CASE WHEN j.zone_path <@ CAST(:officer_path AS ltree)
                                  OR CAST(:officer_path AS ltree) <@ j.zone_path THEN j.zone_code END,
                        :officer_code) AS owner_code
        FROM j
    ),
    ins AS (
        INSERT INTO checkins (id, officer_id, jurisdiction_code, kind, recorded_at, received_at, location, accuracy_m,
                              crs, shift_id, post_id, school_id, distance_to_school_m, in_school_zone,
                              distance_to_post_m, geofence, in_post_geofence, in_duty_window, flags, vehicle, lights,
                              mock_location, note, device, place_code, source)
        SELECT d.id, :officer, d.owner_code, d.kind, d.recorded_at, now(), d.g,
               d.accuracy_m, d.crs, d.sid, d.pid, d.zone_school, d.dschool, d.zone_school IS NOT NULL,
               d.dpost, d.geofence, CASE d.geofence WHEN 'inside' THEN true WHEN 'outside' THEN false END,
               d.in_window,
               array_remove(ARRAY[
                   CASE WHEN d.accuracy_m > :poor_m THEN 'poor_accuracy' END,
                   CASE WHEN -d.lag_s > :skew_s OR (:online AND d.lag_s > :skew_s AND d.lag_s <= :stale_s)
                        THEN 'clock_skew' END,
                   CASE WHEN d.prev_at IS NOT NULL
                         AND GREATEST(ST_Distance(d.g, d.prev_g) - d.accuracy_m - d.prev_acc, 0)
                             / GREATEST(extract(epoch FROM d.recorded_at - d.prev_at), 1) > :max_speed
                        THEN 'impossible_speed' END,
                   CASE WHEN d.mock THEN 'mock_location' END,
                   CASE WHEN d.zone_school IS NULL THEN 'outside_zone' END,
                   CASE WHEN d.sid IS NULL THEN 'no_shift' END,
                   CASE WHEN d.lag_s > :stale_s THEN 'stale' END,
                   CASE WHEN d.geofence = 'outside' THEN 'outside_geofence' END,
                   CASE WHEN d.accuracy_m >= :unknown_m THEN 'unknown_accuracy' END
               ], NULL),
               d.vehicle, d.lights, d.mock, d.note, d.device,
               CASE WHEN d.zone_code <> d.owner_code THEN d.zone_code END, d.source
        FROM judged d
        RETURNING *
    ),
    pos AS (
        INSERT INTO unit_positions AS up (officer_id, jurisdiction_code, location, accuracy_m, recorded_at, checkin_id,
                                          shift_id, post_id)
        SELECT n.officer_id, n.jurisdiction_code, n.location, n.accuracy_m, n.recorded_at, n.id, n.shift_id, n.post_id
        FROM ins n ORDER BY n.recorded_at DESC LIMIT 1
        ON CONFLICT (officer_id) DO UPDATE SET
            jurisdiction_code = EXCLUDED.jurisdiction_code, location = EXCLUDED.location,
            accuracy_m = EXCLUDED.accuracy_m, recorded_at = EXCLUDED.recorded_at, checkin_id = EXCLUDED.checkin_id,
            shift_id = EXCLUDED.shift_id, post_id = EXCLUDED.post_id
        WHERE up.recorded_at < EXCLUDED.recorded_at
    ),
    -- the live feed: one `checkin.created` event per stored check-in, notified when the statement commits
    ev AS (
        INSERT INTO events (kind, jurisdiction_code, path, payload)
        SELECT 'checkin.created', n.jurisdiction_code, ej.path, jsonb_build_object(
                   'id', n.id, 'officer_id', n.officer_id, 'school_id', n.school_id, 'post_id', n.post_id,
                   'location', jsonb_build_object('type', 'Point', 'coordinates', jsonb_build_array(
                       round(CAST(ST_X(CAST(n.location AS geometry)) AS numeric), 7),
                       round(CAST(ST_Y(CAST(n.location AS geometry)) AS numeric), 7))),
                   'kind', n.kind, 'recorded_at', n.recorded_at, 'geofence', n.geofence, 'flags', n.flags)
        FROM ins n JOIN jurisdictions ej ON ej.code = n.jurisdiction_code
        ORDER BY n.recorded_at, n.id
        RETURNING id, kind, path
    ),
    notified AS (
        SELECT count(pg_notify('{events.CHANNEL}',
                               json_build_object('id', id, 'kind', kind, 'path', CAST(path AS text))::text)) AS n
        FROM ev
    )
    SELECT {COLUMNS} FROM ins c CROSS JOIN notified
""")

EXISTING = Query(f"""
    SELECT k.id AS key_id, k.officer_id AS key_officer, k.body_hash, {COLUMNS}
    FROM checkin_keys k
    LEFT JOIN checkins c ON c.id = k.id AND c.recorded_at = k.recorded_at
    WHERE k.id = ANY(CAST(:ids AS uuid[]))
""")


def answer(row: Any) -> dict:
    """The check-in as the API answers it, the same from the insert and from a later read."""
    def r2(v):
        return None if v is None else round(float(v), 2)

    return {
        "id": row["id"], "officer_id": row["officer_id"], "jurisdiction_code": row["jurisdiction_code"],
        "kind": row["kind"], "recorded_at": row["recorded_at"], "received_at": row["received_at"],
        "location": {"type": "Point", "coordinates": [round(row["lon"], 7), round(row["lat"], 7)]},
        "accuracy_m": row["accuracy_m"], "crs": row["crs"], "shift_id": row["shift_id"], "post_id": row["post_id"],
        "school_id": row["school_id"], "distance_to_school_m": r2(row["distance_to_school_m"]),
        "in_school_zone": row["in_school_zone"], "distance_to_post_m": r2(row["distance_to_post_m"]),
        "geofence": row["geofence"], "in_post_geofence": row["in_post_geofence"],
        "in_duty_window": row["in_duty_window"], "flags": list(row["flags"]),
        "visible": {"vehicle": row["vehicle"], "lights": row["lights"]},
        "mock_location": row["mock_location"], "note": row["note"], "source": row["source"],
    }


# Posts a check-in may name: in the caller's line of jurisdictions (its own, below it or above it), or a post
# where the caller has a shift. Any other post — another county's — is 422 naming `post_id`, like an unknown
# one (a referenced id never tells a foreign record from a missing one).
NAMEABLE_POSTS = Query("""
    SELECT p.id FROM posts p JOIN jurisdictions j ON j.code = p.jurisdiction_code
    WHERE p.id = ANY(CAST(:ids AS uuid[])) AND p.deleted_at IS NULL
      AND (j.path <@ CAST(:path AS ltree) OR CAST(:path AS ltree) <@ j.path
           OR EXISTS (SELECT 1 FROM shifts s WHERE s.post_id = p.id AND s.officer_id = :me))
""")


async def _check_references(db: Db, *, caller: Caller, items: list[CheckinInput]) -> dict[int, DomainError]:
    """Shifts and posts the items name: a shift must exist and be the caller's, a post must exist, be one the
    caller may name (see `NAMEABLE_POSTS`) and match the shift."""
    shift_ids = list({i.shift_id for i in items if i.shift_id})
    post_ids = list({i.post_id for i in items if i.post_id})
    shifts = {r["id"]: r for r in await db.fetch(
        "SELECT id, officer_id, post_id FROM shifts WHERE id = ANY(CAST(:ids AS uuid[]))",
        {"ids": shift_ids})} if shift_ids else {}
    posts = {r["id"] for r in await db.fetch(NAMEABLE_POSTS, {
        "ids": post_ids, "path": caller.scope_path, "me": caller.user_id})} if post_ids else set()
    bad: dict[int, DomainError] = {}
    for n, item in enumerate(items):
        if item.shift_id:
            shift = shifts.get(item.shift_id)
            if shift is None or shift["officer_id"] != caller.user_id:
                # another officer's shift is as foreign as a missing one: check in only for yourself
                bad[n] = InvalidInput(f"no shift {item.shift_id} of yours", field="shift_id")
            elif item.post_id and item.post_id != shift["post_id"]:
                bad[n] = InvalidInput("post_id is not the post of this shift", field="post_id")
        elif item.post_id and item.post_id not in posts:
            bad[n] = InvalidInput(f"no post {item.post_id} you may name", field="post_id")
    return bad


async def ingest(db: Db, *, caller: Caller, items: list[CheckinInput | DomainError],
                 settings: Settings, online: bool = False, ingest_db: Db | None = None,
                 zone_index: ZoneIndex | None = None) -> list[Outcome]:
    """Judge and store the caller's check-ins in one statement; one outcome per item in input order. An item
    that is already a `DomainError` (it failed validation) is `rejected` and the others still land. `online`
    marks a single live post (used by the clock-skew rule)."""
    if caller.kind != "user" or caller.role not in (Role.officer, Role.commander, Role.admin):
        raise Forbidden("only a signed-in officer can check in")
    ingest_db = ingest_db or db
    outcomes: list[Outcome] = [Outcome(id=None, status="pending") for _ in items]
    candidates: list[tuple[int, CheckinInput]] = []
    first_of: dict[uuid.UUID, int] = {}
    repeats: list[tuple[int, int]] = []
    refused: list[tuple[int, CheckinInput]] = []
    for n, item in enumerate(items):
        if isinstance(item, DomainError):
            outcomes[n] = Outcome(id=getattr(item, "item_id", None), status="rejected", error=item)
            continue
        outcomes[n].id = item.id
        if item.refusal is not None:
            refused.append((n, item))
            continue
        if item.id in first_of:  # the same id twice in one batch: a replay of the first, or a clash
            first = items[first_of[item.id]]
            if first.body_hash != item.body_hash:
                outcomes[n] = Outcome(id=item.id, status="rejected", error=Conflict(
                    "this id was used in the same batch for a different check-in", field="id"))
            else:
                repeats.append((n, first_of[item.id]))
            continue
        first_of[item.id] = n
        candidates.append((n, item))
    bad = await _check_references(db, caller=caller, items=[c for _, c in candidates])
    good = []
    for k, (n, item) in enumerate(candidates):
        if k in bad:
            outcomes[n] = Outcome(id=item.id, status="rejected", error=bad[k])
        else:
            good.append((n, item))
    created: dict[uuid.UUID, dict] = {}
    if good:
        officer_code = caller.jurisdiction_code
        # ascending ids: concurrent batches that share ids take the key locks in one order (no deadlock)
        batch = sorted((i for _, i in good), key=lambda i: i.id)
        held = ([zones.holding_zone(zone_index, lon=i.location[0], lat=i.location[1]) for i in batch]
                if zone_index is not None else [])
        # One statement stores, judges and publishes the whole batch. It runs with a generic plan (`ingest_db`,
        # whose connections force one): custom plans re-plan this large statement with its arrays as constants
        # on each call, which costs more than the work itself.
        rows = await ingest_db.fetch(INGEST, {
            "ids": [i.id for i in batch], "kinds": [i.kind for i in batch],
            "recorded": [i.recorded_at for i in batch], "lons": [i.location[0] for i in batch],
            "lats": [i.location[1] for i in batch], "accs": [float(i.accuracy_m) for i in batch],
            "crss": [i.crs for i in batch], "shift_ids": [i.shift_id for i in batch],
            "post_ids": [i.post_id for i in batch], "vehicles": [i.vehicle for i in batch],
            "lights": [i.lights for i in batch], "mocks": [bool(i.mock_location) for i in batch],
            "notes": [i.note for i in batch],
            "devices": [json.dumps(i.device, ensure_ascii=False) if i.device is not None else None for i in batch],
            "hashes": [i.body_hash for i in batch], "sources": [i.source for i in batch],
            "unknown_m": UNKNOWN_ACCURACY_M,
            "zones_given": zone_index is not None, "zone_ids": [z[0] for z in held], "zone_ds": [z[1] for z in held],
            "officer": caller.user_id, "officer_code": officer_code, "officer_path": caller.scope_path,
            "allow": SHIFT_MATCH_ALLOWANCE_S,
            "prev_within": PREVIOUS_FIX_WITHIN_S, "poor_m": settings.checkin_poor_accuracy_m,
            "skew_s": settings.checkin_clock_skew_s, "stale_s": settings.checkin_stale_s, "online": online,
            "max_speed": settings.checkin_max_speed_mps,
        })
        created = {r["id"]: answer(r) for r in rows}
        others = [i.id for i in batch if i.id not in created]
        existing = {}
        if others:
            existing = {r["key_id"]: r for r in await db.fetch(EXISTING, {"ids": others})}
        for n, item in good:
            if item.id in created:
                outcomes[n] = Outcome(id=item.id, status="created", checkin=created[item.id])
                continue
            old = existing.get(item.id)
            if old is None or old["key_officer"] != caller.user_id or bytes(old["body_hash"]) != item.body_hash \
                    or old["id"] is None:
                outcomes[n] = Outcome(id=item.id, status="rejected", error=Conflict(
                    f"check-in {item.id} was already sent with a different body", field="id"))
            else:
                outcomes[n] = Outcome(id=item.id, status="duplicate", checkin=answer(old))
    if refused:
        stored = {r["key_id"]: r for r in await db.fetch(EXISTING, {"ids": [i.id for _, i in refused]})}
        for n, item in refused:
            old = stored.get(item.id)
            if old is not None and old["id"] is not None and old["key_officer"] == caller.user_id \
                    and bytes(old["body_hash"]) == item.body_hash:
                outcomes[n] = Outcome(id=item.id, status="duplicate", checkin=answer(old))
            else:
                outcomes[n] = Outcome(id=item.id, status="rejected", error=item.refusal)
    for n, first in repeats:
        done = outcomes[first]
        outcomes[n] = (Outcome(id=done.id, status="duplicate", checkin=done.checkin) if done.checkin
                       else Outcome(id=done.id, status="rejected", error=done.error))
    if created:
        await alerts.detect_off_post(db, checkins=list(created.values()))
    return outcomes


def filter_sql(*, caller: Caller, scope: str, officer_id: uuid.UUID | None = None,
               school_id: uuid.UUID | None = None, post_id: uuid.UUID | None = None,
               shift_id: uuid.UUID | None = None, recorded_from: datetime | None = None,
               recorded_to: datetime | None = None, bbox: tuple[float, float, float, float] | None = None,
               flags: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The condition (on `c` and `j`) and parameters selecting the check-ins a caller may list inside the ltree
    `scope`: officers only their own, the others those in their jurisdictions or whose place is there (and their
    own). Shared by the
    list and the export, so both keep the same check-ins."""
    if caller.role is Role.officer:
        officer_id = caller.user_id
    params: dict[str, Any] = {
        "scope": scope, "me": caller.user_id, "officer": officer_id, "school": school_id, "post": post_id, "shift": shift_id,
        "r0": recorded_from, "r1": recorded_to, "flags": flags or None,
    }
    box = ""
    if bbox is not None:
        condition, box_params = bbox_condition("c.location", bbox)
        box = f"AND {condition}"
        params.update(box_params)
    # A check-in inside another jurisdiction's zone belongs to the officer's; the place (`place_code`) reads it too.
    return f"""(j.path <@ CAST(:scope AS ltree) OR c.officer_id = CAST(:me AS uuid)
               OR (c.place_code IS NOT NULL AND EXISTS (
                   SELECT 1 FROM jurisdictions pj WHERE pj.code = c.place_code AND pj.path <@ CAST(:scope AS ltree))))
          AND (CAST(:officer AS uuid) IS NULL OR c.officer_id = :officer)
          AND (CAST(:school AS uuid) IS NULL OR c.school_id = :school)
          AND (CAST(:post AS uuid) IS NULL OR c.post_id = :post)
          AND (CAST(:shift AS uuid) IS NULL OR c.shift_id = :shift)
          AND (CAST(:r0 AS timestamptz) IS NULL OR c.recorded_at >= :r0)
          AND (CAST(:r1 AS timestamptz) IS NULL OR c.recorded_at < :r1)
          AND (CAST(:flags AS text[]) IS NULL OR c.flags && CAST(:flags AS text[])) {box}""", params


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    officer_id: uuid.UUID | None = None, school_id: uuid.UUID | None = None,
                    post_id: uuid.UUID | None = None, shift_id: uuid.UUID | None = None,
                    jurisdiction_code: str | None = None, recorded_from: datetime | None = None,
                    recorded_to: datetime | None = None, bbox: tuple[float, float, float, float] | None = None,
                    flags: list[str] | None = None) -> tuple[list[dict], str | None]:
    """Check-ins by (recorded_at, id); officers see only their own, the others those in their jurisdictions."""
    after = decode_cursor(cursor, arity=2)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    where, params = filter_sql(caller=caller, scope=scope, officer_id=officer_id, school_id=school_id,
                               post_id=post_id, shift_id=shift_id, recorded_from=recorded_from,
                               recorded_to=recorded_to, bbox=bbox, flags=flags)
    params.update({
        "a_at": datetime.fromisoformat(after[0]) if after else None, "a_id": after[1] if after else None,
        "n": limit + 1,
    })
    rows = await db.fetch(f"""
        SELECT {COLUMNS}
        FROM checkins c JOIN jurisdictions j ON j.code = c.jurisdiction_code
        WHERE {where}
          AND (CAST(:a_at AS timestamptz) IS NULL
               OR (c.recorded_at, c.id) > (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
        ORDER BY c.recorded_at, c.id LIMIT :n
    """, params)
    return page_of([answer(r) for r in rows], limit=limit,
                   key=lambda r: [r["recorded_at"].isoformat(), str(r["id"])])


async def get(db: Db, *, caller: Caller, checkin_id: uuid.UUID) -> dict:
    """One check-in: the officer's own, or one in the caller's jurisdictions; otherwise 404. Found through the
    idempotency ledger, whose `recorded_at` lets PostgreSQL read a single partition."""
    row = await db.fetchrow(f"""
        SELECT {COLUMNS}, j.path::text AS path, pj.path::text AS place_path
        FROM checkin_keys k
        JOIN checkins c ON c.id = k.id AND c.recorded_at = k.recorded_at
        JOIN jurisdictions j ON j.code = c.jurisdiction_code
        LEFT JOIN jurisdictions pj ON pj.code = c.place_code
        WHERE k.id = :id
    """, {"id": checkin_id})
    if row is None or not (row["officer_id"] == caller.user_id
                           or (caller.role is not Role.officer
                               and (caller.sees_path(row["path"])
                                    or (row["place_path"] is not None and caller.sees_path(row["place_path"]))))):
        raise NotFound(f"no check-in {checkin_id}")
    return answer(row)


PARTITIONS_BEHIND_MONTHS = 1
PARTITIONS_AHEAD_MONTHS = 3


async def ensure_partitions(db: Db, *, now: datetime) -> int:
    """Create the monthly check-in partitions from last month to three months ahead (at startup and daily), so
    every accepted recorded_at (at most 7 days old, 10 min ahead) has one; returns how many were made."""
    first = (now.replace(day=1) - timedelta(days=1)).replace(day=1).date()
    return await db.fetchval("SELECT huxiao_ensure_checkin_partitions(:first, :months)", {"first": first, "months": PARTITIONS_BEHIND_MONTHS + 1 + PARTITIONS_AHEAD_MONTHS})
