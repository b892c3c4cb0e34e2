"""The schema as SQLModel table models: one readable place that the migrations must agree with.

Table models live here (persistence); API schemas live in `api/`. Every geometry is stored as
WGS-84 `geography`, so distances and zone membership are geodesic metres.

The models declare columns only (no relationships): the app queries through hand-written SQL, and
these classes exist for the migrations (`alembic/env.py`) and the migrations-vs-models test. Where
SQLModel's own mapping of a Python type would differ from the database (`str` becomes an unbounded
`AutoString`, `datetime` a naive timestamp, `UUID` a generic `Uuid`), the column type is given with
`sa_type`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Index,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel

# Set before any model is declared, so every constraint and index gets its conventional name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = SQLModel.metadata


class LTree(UserDefinedType):
    """PostgreSQL `ltree`: a jurisdiction's path from the root, e.g. `500243.500243101.P01`."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "LTREE"


ischema_names["ltree"] = LTree  # so reflection (the migrations-vs-models test) knows the type

TIMESTAMPTZ = DateTime(timezone=True)
UUID_T = pg.UUID(as_uuid=True)
POINT = Geography(geometry_type="POINT", srid=4326, spatial_index=False)
AREA = Geography(geometry_type="GEOMETRY", srid=4326, spatial_index=False, nullable=True)


def _now() -> Any:
    """A `timestamptz NOT NULL DEFAULT now()` column (created_at, updated_at, received_at, ...)."""
    return Field(sa_type=TIMESTAMPTZ, nullable=False, sa_column_kwargs={"server_default": func.now()})


# --- identity and jurisdictions -------------------------------------------------------------


class Jurisdiction(SQLModel, table=True):
    __tablename__ = "jurisdictions"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Za-z0-9_]{2,32}$'", name="code_charset"),
        CheckConstraint("level IN ('province','city','county','district','township','street','station','other')",
                        name="level_known"),
        Index("ix_jurisdictions_path", "path", postgresql_using="gist"),
        Index("ix_jurisdictions_parent_code", "parent_code"),
    )

    code: str = Field(sa_type=String(32), primary_key=True)
    name: str = Field(sa_type=String(200))
    level: str = Field(sa_type=String(20))
    parent_code: str | None = Field(default=None, sa_type=String(32), foreign_key="jurisdictions.code")
    path: str = Field(sa_type=LTree())
    time_zone: str = Field(sa_type=String(64), sa_column_kwargs={"server_default": "Asia/Shanghai"})
    created_at: dt.datetime = _now()


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin','commander','officer','viewer')", name="role_known"),
        CheckConstraint("unit_type IN ('guard','auxiliary','police','volunteer')", name="unit_type_known"),
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
        Index("ix_users_jurisdiction_code", "jurisdiction_code"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    username: str = Field(sa_type=String(64))
    display_name: str = Field(sa_type=String(200))
    role: str = Field(sa_type=String(16))
    unit_type: str = Field(sa_type=String(16), sa_column_kwargs={"server_default": "police"})
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    phone: str | None = Field(default=None, sa_type=String(32))
    active: bool = Field(sa_column_kwargs={"server_default": text("true")})
    password_hash: str = Field(sa_type=Text)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    family_id: UUID = Field(sa_type=UUID_T)
    user_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    token_hash: bytes = Field(sa_type=LargeBinary, unique=True)
    expires_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    used_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_at: dt.datetime = _now()


class RevokedAccessToken(SQLModel, table=True):
    __tablename__ = "revoked_access_tokens"

    jti: UUID = Field(sa_type=UUID_T, primary_key=True)
    expires_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin','commander','officer','viewer')", name="role_known"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    prefix: str = Field(sa_type=String(16), unique=True)
    key_hash: bytes = Field(sa_type=LargeBinary)
    name: str = Field(sa_type=String(200))
    role: str = Field(sa_type=String(16), sa_column_kwargs={"server_default": "viewer"})
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    created_by: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    created_at: dt.datetime = _now()
    expires_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class ShareLink(SQLModel, table=True):
    """An API key minted as an expiring, read-only link to the map (`POST /v1/share-links`)."""

    __tablename__ = "share_links"

    api_key_id: UUID = Field(sa_type=UUID_T, primary_key=True, foreign_key="api_keys.id")
    created_at: dt.datetime = _now()


class AuthSession(SQLModel, table=True):
    """One login: its refresh tokens are one family, its access tokens carry the id as `sid`."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    user_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    created_at: dt.datetime = _now()
    revoked_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    revoked_reason: str | None = Field(default=None, sa_type=String(40))


class StreamLease(SQLModel, table=True):
    """One open live-feed stream of a credential (user or API key), renewed while it lasts."""

    __tablename__ = "stream_leases"
    __table_args__ = (Index("ix_stream_leases_credential", "credential"),)

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    credential: str = Field(sa_type=String(80))
    expires_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins per (account, address), and per address under the account `*`."""

    __tablename__ = "login_throttle"

    username: str = Field(sa_type=String(64), primary_key=True)
    client_addr: str = Field(sa_type=String(64), primary_key=True)
    failures: int = Field(sa_column_kwargs={"server_default": text("0")})
    last_at: dt.datetime = _now()
    locked_until: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class AuditLogEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": True})
    at: dt.datetime = _now()
    actor_kind: str = Field(sa_type=String(16))
    actor_id: str | None = Field(default=None, sa_type=String(64))
    actor_name: str | None = Field(default=None, sa_type=String(200))
    jurisdiction_code: str | None = Field(default=None, sa_type=String(32))
    entity: str = Field(sa_type=String(40))
    entity_id: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(40))
    changes: dict[str, Any] = Field(sa_type=pg.JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")})
    request_id: str | None = Field(default=None, sa_type=String(128))


# --- schools and zones ----------------------------------------------------------------------


class School(SQLModel, table=True):
    __tablename__ = "schools"
    __table_args__ = (
        CheckConstraint("zone_radius_m > 0 AND zone_radius_m <= 2000", name="zone_radius_range"),
        CheckConstraint(
            "kind IN ('kindergarten','primary','middle','high','vocational','special','other')", name="kind_known"
        ),
        Index("ix_schools_boundary", "boundary", postgresql_using="gist",
              postgresql_where=text("deleted_at IS NULL")),
        Index("ix_schools_location", "location", postgresql_using="gist"),
        # The OGC bbox (a lon/lat rectangle) on geometry casts, with real statistics (migration 0009).
        Index("ix_schools_location_geometry", text("CAST(location AS geometry)"), postgresql_using="gist",
              postgresql_where=text("deleted_at IS NULL")),
        Index("ix_schools_boundary_geometry", text("CAST(boundary AS geometry)"), postgresql_using="gist",
              postgresql_where=text("deleted_at IS NULL")),
        Index("ix_schools_jurisdiction_code_id", "jurisdiction_code", "id"),
        Index("uq_schools_external_id", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        Index("ix_schools_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    external_id: str | None = Field(default=None, sa_type=String(100))
    name: str = Field(sa_type=String(200))
    kind: str = Field(sa_type=String(16))
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    address: str | None = Field(default=None, sa_type=String(500))
    # Geography values load as geoalchemy2 WKB elements, hence `Any`.
    location: Any = Field(sa_type=POINT, nullable=False)
    campus: Any = Field(default=None, sa_type=AREA, nullable=True)
    # One boundary serves zone lookup, judgement and KNN: the campus when known, else the gate point.
    boundary: Any = Field(sa_type=AREA, nullable=False,
                          sa_column_args=[Computed("COALESCE(campus, location)", persisted=True)])
    zone_radius_m: float = Field(sa_column_kwargs={"server_default": text("200")})
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()
    deleted_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


# --- live feed ------------------------------------------------------------------------------------


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_at", "at"),
        Index("ix_events_path", "path", postgresql_using="gist"),
    )

    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": True})
    at: dt.datetime = _now()
    kind: str = Field(sa_type=String(40))
    jurisdiction_code: str = Field(sa_type=String(32))
    path: str = Field(sa_type=LTree())
    payload: dict[str, Any] = Field(sa_type=pg.JSONB)


# --- duty and check-ins (issue 5) -----------------------------------------------------------------


class Post(SQLModel, table=True):
    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint("kind IN ('school_guard','peak_duty')", name="kind_known"),
        CheckConstraint("radius_m >= 5 AND radius_m <= 1000", name="radius_range"),
        Index("ix_posts_school_id", "school_id"),
        Index("ix_posts_location", "location", postgresql_using="gist"),
        Index("ix_posts_location_geometry", text("CAST(location AS geometry)"), postgresql_using="gist",
              postgresql_where=text("deleted_at IS NULL")),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    school_id: UUID = Field(sa_type=UUID_T, foreign_key="schools.id")
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    name: str = Field(sa_type=String(200))
    kind: str = Field(sa_type=String(16))
    location: Any = Field(sa_type=POINT, nullable=False)
    radius_m: float = Field(sa_column_kwargs={"server_default": text("50")})
    created_at: dt.datetime = _now()
    deleted_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)


class DutyWindow(SQLModel, table=True):
    __tablename__ = "duty_windows"
    __table_args__ = (
        CheckConstraint("ends_local > starts_local", name="ends_after_start"),
        # A window's name is unique per owner: the school, or the jurisdiction for jurisdiction-wide windows.
        Index("uq_duty_windows_owner_name", "jurisdiction_code",
              text("COALESCE(school_id, '00000000-0000-0000-0000-000000000000'::uuid)"), "name", unique=True),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    school_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="schools.id")
    name: str = Field(sa_type=String(40))
    starts_local: dt.time = Field(sa_type=Time)
    ends_local: dt.time = Field(sa_type=Time)
    weekdays: list[int] = Field(sa_type=pg.ARRAY(SmallInteger),
                                sa_column_kwargs={"server_default": text("'{1,2,3,4,5}'")})
    created_at: dt.datetime = _now()


class NonSchoolDay(SQLModel, table=True):
    __tablename__ = "non_school_days"

    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code", primary_key=True)
    day: dt.date = Field(primary_key=True)
    reason: str | None = Field(default=None, sa_type=String(200))


class MakeupSchoolDay(SQLModel, table=True):
    """调休: a day (usually a weekend) that is a school day, following the timetable of `timetable_weekday`."""

    __tablename__ = "makeup_school_days"
    __table_args__ = (
        CheckConstraint("timetable_weekday BETWEEN 1 AND 7", name="timetable_weekday_range"),
        Index("ix_makeup_school_days_day", "day"),
    )

    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code", primary_key=True)
    day: dt.date = Field(primary_key=True)
    timetable_weekday: int = Field(sa_type=SmallInteger, sa_column_kwargs={"server_default": text("1")})
    reason: str | None = Field(default=None, sa_type=String(200))


class Shift(SQLModel, table=True):
    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        UniqueConstraint("officer_id", "post_id", "starts_at"),
        Index("ix_shifts_post_id_starts_at", "post_id", "starts_at"),
        Index("ix_shifts_officer_id_starts_at", "officer_id", "starts_at"),
        Index("ix_shifts_jurisdiction_code_starts_at", "jurisdiction_code", "starts_at"),
        Index("ix_shifts_starts_at", "starts_at"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    officer_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    post_id: UUID = Field(sa_type=UUID_T, foreign_key="posts.id")
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    starts_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    ends_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    window_name: str | None = Field(default=None, sa_type=String(40))
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()


class CheckinKey(SQLModel, table=True):
    """The idempotency ledger: check-ins are partitioned by device time, so the client's id is made
    unique across partitions here."""

    __tablename__ = "checkin_keys"

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    officer_id: UUID = Field(sa_type=UUID_T)
    recorded_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    body_hash: bytes = Field(sa_type=LargeBinary)
    created_at: dt.datetime = _now()


class Checkin(SQLModel, table=True):
    """A check-in, range-partitioned by device time (`recorded_at`, hence in the primary key)."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint("kind IN ('arrive','heartbeat','depart')", name="kind_known"),
        CheckConstraint("geofence IN ('inside','outside','uncertain')", name="geofence_known"),
        CheckConstraint("accuracy_m > 0", name="accuracy_positive"),
        Index("ix_checkins_officer_id_recorded_at", "officer_id", "recorded_at"),
        Index("ix_checkins_shift_id", "shift_id"),
        Index("ix_checkins_school_id_recorded_at", "school_id", "recorded_at"),
        Index("ix_checkins_jurisdiction_code_recorded_at", "jurisdiction_code", "recorded_at"),
        Index("ix_checkins_location", "location", postgresql_using="gist"),
        Index("ix_checkins_post_id_recorded_at", "post_id", "recorded_at"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    officer_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    jurisdiction_code: str = Field(sa_type=String(32))
    kind: str = Field(sa_type=String(10))
    recorded_at: dt.datetime = Field(sa_type=TIMESTAMPTZ, primary_key=True)
    received_at: dt.datetime = _now()
    location: Any = Field(sa_type=POINT, nullable=False)
    accuracy_m: float
    crs: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "wgs84"})
    shift_id: UUID | None = Field(default=None, sa_type=UUID_T)
    post_id: UUID | None = Field(default=None, sa_type=UUID_T)
    school_id: UUID | None = Field(default=None, sa_type=UUID_T)
    distance_to_school_m: float | None = None
    in_school_zone: bool
    distance_to_post_m: float | None = None
    geofence: str | None = Field(default=None, sa_type=String(10))
    in_post_geofence: bool | None = None
    in_duty_window: bool
    flags: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    vehicle: bool | None = None
    lights: bool | None = None
    mock_location: bool = Field(sa_column_kwargs={"server_default": text("false")})
    note: str | None = Field(default=None, sa_type=String(500))
    device: dict[str, Any] | None = Field(default=None, sa_type=pg.JSONB)
    place_code: str | None = Field(default=None, sa_type=String(32))
    source: str = Field(sa_type=String(16), sa_column_kwargs={"server_default": "api"})


class UnitPosition(SQLModel, table=True):
    """Each unit's latest fix, kept by check-in ingest, for nearest-unit KNN on a GiST index."""

    __tablename__ = "unit_positions"
    __table_args__ = (
        Index("ix_unit_positions_location", "location", postgresql_using="gist"),
        Index("ix_unit_positions_recorded_at", "recorded_at"),
    )

    officer_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id", primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32))
    location: Any = Field(sa_type=POINT, nullable=False)
    accuracy_m: float
    recorded_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    checkin_id: UUID = Field(sa_type=UUID_T)
    shift_id: UUID | None = Field(default=None, sa_type=UUID_T)
    post_id: UUID | None = Field(default=None, sa_type=UUID_T)


class DutyAlert(SQLModel, table=True):
    """A duty alert (uncovered post, off post); `dedupe_key` makes each alert happen, and be published,
    once."""

    __tablename__ = "duty_alerts"
    __table_args__ = (
        CheckConstraint("kind IN ('uncovered_post','off_post')", name="kind_known"),
        Index("ix_duty_alerts_jurisdiction_code_at", "jurisdiction_code", "at"),
        Index("ix_duty_alerts_open_at", "at", postgresql_where=text("acknowledged_at IS NULL")),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    kind: str = Field(sa_type=String(16))
    dedupe_key: str = Field(sa_type=String(200), unique=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    school_id: UUID | None = Field(default=None, sa_type=UUID_T)
    post_id: UUID = Field(sa_type=UUID_T)
    shift_id: UUID | None = Field(default=None, sa_type=UUID_T)
    officer_id: UUID | None = Field(default=None, sa_type=UUID_T)
    checkin_id: UUID | None = Field(default=None, sa_type=UUID_T)
    at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    details: dict[str, Any] = Field(sa_type=pg.JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")})
    created_at: dt.datetime = _now()
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    acknowledged_by: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    acknowledgement_note: str | None = Field(default=None, sa_type=String(500))


# --- incidents and scoring (issue 6) --------------------------------------------------------------


class ScoringPolicy(SQLModel, table=True):
    __tablename__ = "scoring_policies"

    jurisdiction_code: str = Field(sa_type=String(32), primary_key=True,
                                   sa_column_kwargs={"server_default": text("''")})
    name: str = Field(sa_type=String(40), primary_key=True)
    version: int = Field(primary_key=True)
    tier_limits_s: dict[str, Any] = Field(sa_type=pg.JSONB)
    tiers_by_severity: dict[str, Any] | None = Field(default=None, sa_type=pg.JSONB)
    description: str | None = Field(default=None, sa_type=String(500))
    created_at: dt.datetime = _now()


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 1 AND 4", name="severity_range"),
        CheckConstraint("status IN ('open','dispatched','on_scene','controlled','closed')", name="status_known"),
        CheckConstraint("source IN ('call_110','one_button_alarm','patrol','school_report','other')",
                        name="source_known"),
        Index("ix_incidents_location", "location", postgresql_using="gist"),
        Index("ix_incidents_location_geometry", text("CAST(location AS geometry)"), postgresql_using="gist"),
        Index("ix_incidents_jurisdiction_code_alarm_at", "jurisdiction_code", "alarm_at"),
        Index("ix_incidents_alarm_at_id", "alarm_at", "id"),
        Index("ix_incidents_zone_school_ids", "zone_school_ids", postgresql_using="gin"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    category: str = Field(sa_type=String(32))
    severity: int = Field(sa_type=SmallInteger)
    source: str = Field(sa_type=String(20))
    description: str | None = Field(default=None, sa_type=String(4000))
    location: Any = Field(sa_type=POINT, nullable=False)
    crs: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "wgs84"})
    alarm_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    received_at: dt.datetime = _now()
    in_zone: bool
    zone_school_ids: list[UUID] = Field(sa_type=pg.ARRAY(UUID_T), sa_column_kwargs={"server_default": text("'{}'")})
    nearest_school_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="schools.id")
    nearest_school_distance_m: float | None = None
    status: str = Field(sa_type=String(12), sa_column_kwargs={"server_default": "open"})
    dispatched_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    on_scene_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    controlled_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    closed_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    policy_key: str = Field(sa_type=String(40), sa_column_kwargs={"server_default": "1-3-5@v1"})
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    body_hash: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class Arrival(SQLModel, table=True):
    __tablename__ = "arrivals"
    __table_args__ = (
        CheckConstraint("tier BETWEEN 1 AND 3", name="tier_range"),
        Index("ix_arrivals_incident_id_arrived_at", "incident_id", "arrived_at"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    incident_id: UUID = Field(sa_type=UUID_T, foreign_key="incidents.id")
    responder_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    tier: int = Field(sa_type=SmallInteger)
    arrived_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    location: Any = Field(sa_type=POINT, nullable=False)
    accuracy_m: float | None = None
    crs: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "wgs84"})
    distance_m: float
    far_from_scene: bool
    counts: bool
    flags: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    body_hash: bytes = Field(sa_type=LargeBinary)
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()


class IncidentScore(SQLModel, table=True):
    """A score of an incident under a policy, with the incident's fixed facts the statistics read (0014)."""

    __tablename__ = "incident_scores"
    __table_args__ = (
        Index("ix_incident_scores_policy_key_alarm_at", "policy_key", "alarm_at", postgresql_include=[
            "jurisdiction_code", "school_id", "category", "tier1_state", "tier2_state", "tier3_state",
            "tier1_elapsed_s", "tier2_elapsed_s", "tier3_elapsed_s"]),
        # The sweep that announces tiers whose deadline passed (domain/webhooks.py) reads only pending scores.
        Index("ix_incident_scores_pending", "incident_id",
              postgresql_where=text("tier1_state = 'pending' OR tier2_state = 'pending' "
                                    "OR tier3_state = 'pending'")),
    )

    incident_id: UUID = Field(sa_type=UUID_T, foreign_key="incidents.id", primary_key=True)
    policy_key: str = Field(sa_type=String(40), primary_key=True)
    computed_at: dt.datetime = _now()
    compliant: bool | None = None
    tiers: list[dict[str, Any]] = Field(sa_type=pg.JSONB)
    tier1_elapsed_s: float | None = None
    tier2_elapsed_s: float | None = None
    tier3_elapsed_s: float | None = None
    tier1_state: str | None = Field(default=None, sa_type=String(8))
    tier2_state: str | None = Field(default=None, sa_type=String(8))
    tier3_state: str | None = Field(default=None, sa_type=String(8))
    alarm_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    jurisdiction_code: str = Field(sa_type=String(32))
    school_id: UUID | None = Field(default=None, sa_type=UUID_T)
    category: str = Field(sa_type=String(32))


# --- trackers (Traccar Client, OsmAnd protocol) ---------------------------------------------------


class TrackerDevice(SQLModel, table=True):
    """A phone running Traccar Client, registered to an officer; also its rate window and counts."""

    __tablename__ = "tracker_devices"
    __table_args__ = (
        Index("uq_tracker_devices_identifier", "identifier", unique=True),
        Index("ix_tracker_devices_officer_id", "officer_id"),
        Index("ix_tracker_devices_jurisdiction_code", "jurisdiction_code"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    identifier: str = Field(sa_type=String(64))
    officer_id: UUID = Field(sa_type=UUID_T, foreign_key="users.id")
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    name: str | None = Field(default=None, sa_type=String(200))
    active: bool = Field(sa_column_kwargs={"server_default": text("true")})
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()
    last_seen_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    positions_received: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    positions_duplicate: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    positions_dropped: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    positions_rate_limited: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    last_drop_reason: str | None = Field(default=None, sa_type=String(300))
    window_started_at: dt.datetime = _now()
    window_count: int = Field(sa_column_kwargs={"server_default": text("0")})


class TrackerUnknownDevice(SQLModel, table=True):
    """An identifier that posted positions but is registered to nobody: only counted, never stored."""

    __tablename__ = "tracker_unknown_devices"
    __table_args__ = (Index("ix_tracker_unknown_devices_jurisdiction_code", "jurisdiction_code"),)

    identifier: str = Field(sa_type=String(64), primary_key=True)
    positions: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    first_seen_at: dt.datetime = _now()
    last_seen_at: dt.datetime = _now()
    jurisdiction_code: str | None = Field(default=None, sa_type=String(32))  # where it was last placed (0019)


# --- webhooks (issue 14) ----------------------------------------------------------------------------------


class Webhook(SQLModel, table=True):
    """An HTTPS endpoint an admin registered for some event kinds of one jurisdiction (and those below it)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_jurisdiction_code", "jurisdiction_code"),)

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    url: str = Field(sa_type=Text)
    events: list[str] = Field(sa_type=pg.ARRAY(Text))
    description: str | None = Field(default=None, sa_type=String(200))
    secret_enc: bytes = Field(sa_type=LargeBinary)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one webhook, retried until delivered or failed (and replayable)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_key"),
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
        Index("ix_webhook_deliveries_webhook_id_created_at_id", "webhook_id", "created_at", "id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    webhook_id: UUID = Field(sa_type=UUID_T, foreign_key="webhooks.id", ondelete="CASCADE")
    event_key: str = Field(sa_type=String(64))
    event: str = Field(sa_type=String(40))
    body: str = Field(sa_type=Text)
    state: str = Field(default="pending", sa_type=String(10), sa_column_kwargs={"server_default": "pending"})
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    next_attempt_at: dt.datetime = _now()
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    replays: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    created_at: dt.datetime = _now()


# --- ledgers: hazards and venues (issue 12) --------------------------------------------------------


class Hazard(SQLModel, table=True):
    """A safety hazard (安全隐患) at or near a school, with its rectification deadline and closure."""

    __tablename__ = "hazards"
    __table_args__ = (
        CheckConstraint("status IN ('open','rectifying','escalated','closed')", name="status_known"),
        CheckConstraint("severity IN ('general','significant','major')", name="severity_known"),
        CheckConstraint("category IN ('facilities_civil','facilities_physical','facilities_technical',"
                        "'traffic_facilities','food_safety','fire','venue','building','other')",
                        name="category_known"),
        CheckConstraint("deadline >= found_at", name="deadline_after_found"),
        CheckConstraint("status <> 'closed' OR (closed_at IS NOT NULL AND closing_note IS NOT NULL)",
                        name="closed_with_evidence"),
        Index("ix_hazards_location", "location", postgresql_using="gist"),
        Index("ix_hazards_found_at_id", "found_at", "id"),
        Index("ix_hazards_jurisdiction_code_found_at", "jurisdiction_code", "found_at"),
        Index("ix_hazards_school_id_found_at", "school_id", "found_at"),
        Index("ix_hazards_open_deadline", "deadline", postgresql_where=text("status <> 'closed'")),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    school_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="schools.id")
    location: Any = Field(sa_type=POINT, nullable=False)
    crs: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "wgs84"})
    flags: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    category: str = Field(sa_type=String(32))
    severity: str = Field(sa_type=String(12))
    description: str = Field(sa_type=String(4000))
    found_by: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    found_by_name: str = Field(sa_type=String(200))
    found_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    responsible_unit: str | None = Field(default=None, sa_type=String(200))
    deadline: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    status: str = Field(sa_type=String(12), sa_column_kwargs={"server_default": "open"})
    escalation_reason: str | None = Field(default=None, sa_type=String(2000))
    escalated_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    closing_note: str | None = Field(default=None, sa_type=String(4000))
    closing_photo_ids: list[UUID] = Field(sa_type=pg.ARRAY(UUID_T), sa_column_kwargs={"server_default": text("'{}'")})
    closed_by: UUID | None = Field(default=None, sa_type=UUID_T)
    closed_by_name: str | None = Field(default=None, sa_type=String(200))
    closed_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    overdue_notified_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    external_ref: str | None = Field(default=None, sa_type=String(100))
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    body_hash: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class HazardLogEntry(SQLModel, table=True):
    """Append-only: each row is the hazard's status and deadline after one change, with when it took effect
    (`at`) and when it was written (`recorded_at`), so figures can be recomputed as of any moment."""

    __tablename__ = "hazard_log"
    __table_args__ = (
        CheckConstraint("kind IN ('created','status','deadline','action','imported')", name="kind_known"),
        Index("ix_hazard_log_hazard_id_recorded_at", "hazard_id", "recorded_at"),
    )

    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": True})
    hazard_id: UUID = Field(sa_type=UUID_T, foreign_key="hazards.id")
    kind: str = Field(sa_type=String(16))
    at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    recorded_at: dt.datetime = _now()
    status: str = Field(sa_type=String(12))
    deadline: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    note: str | None = Field(default=None, sa_type=String(4000))
    actor_id: UUID | None = Field(default=None, sa_type=UUID_T)
    actor_name: str | None = Field(default=None, sa_type=String(200))


class HazardPhoto(SQLModel, table=True):
    __tablename__ = "hazard_photos"
    __table_args__ = (Index("ix_hazard_photos_hazard_id", "hazard_id"),)

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    hazard_id: UUID = Field(sa_type=UUID_T, foreign_key="hazards.id")
    storage_key: str = Field(sa_type=String(300))
    content_type: str = Field(sa_type=String(40))
    size_bytes: int
    sha256: bytes = Field(sa_type=LargeBinary)
    width: int
    height: int
    uploaded_by: UUID | None = Field(default=None, sa_type=UUID_T)
    uploaded_by_name: str | None = Field(default=None, sa_type=String(200))
    uploaded_at: dt.datetime = _now()


class Venue(SQLModel, table=True):
    """A place near schools that the campaigns inspect (internet cafés, game halls, KTV, inns, rentals, ...)."""

    __tablename__ = "venues"
    __table_args__ = (
        CheckConstraint("status IN ('operating','suspended','closed')", name="status_known"),
        CheckConstraint("kind IN ('internet_cafe','game_hall','ktv','hotel','small_inn','rental_housing',"
                        "'esports_hotel','script_escape_room','food_stall','publication_seller','other')",
                        name="kind_known"),
        Index("ix_venues_location", "location", postgresql_using="gist"),
        Index("ix_venues_zone_school_ids", "zone_school_ids", postgresql_using="gin"),
        Index("ix_venues_jurisdiction_code_created_at", "jurisdiction_code", "created_at"),
        Index("ix_venues_created_at_id", "created_at", "id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    name: str = Field(sa_type=String(200))
    kind: str = Field(sa_type=String(32))
    address: str | None = Field(default=None, sa_type=String(500))
    location: Any = Field(sa_type=POINT, nullable=False)
    crs: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "wgs84"})
    school_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="schools.id")
    zone_school_ids: list[UUID] = Field(sa_type=pg.ARRAY(UUID_T), sa_column_kwargs={"server_default": text("'{}'")})
    flags: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    operator_name: str | None = Field(default=None, sa_type=String(200))
    licence_no: str | None = Field(default=None, sa_type=String(100))
    phone: str | None = Field(default=None, sa_type=String(32))
    status: str = Field(sa_type=String(12), sa_column_kwargs={"server_default": "operating"})
    closed_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    note: str | None = Field(default=None, sa_type=String(2000))
    external_ref: str | None = Field(default=None, sa_type=String(100))
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    body_hash: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class VenueInspection(SQLModel, table=True):
    __tablename__ = "venue_inspections"
    __table_args__ = (
        CheckConstraint("fine_yuan IS NULL OR fine_yuan >= 0", name="fine_not_negative"),
        Index("ix_venue_inspections_venue_id_inspected_at", "venue_id", "inspected_at"),
        Index("ix_venue_inspections_jurisdiction_code_inspected_at", "jurisdiction_code", "inspected_at"),
        Index("ix_venue_inspections_inspected_at_id", "inspected_at", "id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    venue_id: UUID = Field(sa_type=UUID_T, foreign_key="venues.id")
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    inspected_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    inspector_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    inspector_name: str = Field(sa_type=String(200))
    findings: str | None = Field(default=None, sa_type=String(4000))
    violations: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    actions: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    fine_yuan: float | None = Field(default=None, sa_type=Numeric(12, 2))
    follow_up_on: dt.date | None = Field(default=None, sa_type=Date)
    flags: list[str] = Field(sa_type=pg.ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'")})
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    body_hash: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: dt.datetime = _now()


# --- campaigns, disputes and key persons (issue 12) --------------------------------------------------


class Campaign(SQLModel, table=True):
    """A time-boxed campaign (专项行动): local dates `[starts_on, ends_on]` in its jurisdiction's time zone."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        Index("ix_campaigns_jurisdiction_code_starts_on", "jurisdiction_code", "starts_on"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    name: str = Field(sa_type=String(200))
    description: str | None = Field(default=None, sa_type=String(4000))
    starts_on: dt.date
    ends_on: dt.date
    jurisdiction_codes: list[str] = Field(sa_type=pg.ARRAY(String(32)))
    report_dues: list[dict[str, Any]] = Field(sa_type=pg.JSONB,
                                              sa_column_kwargs={"server_default": text("'[]'::jsonb")})
    policy_keys: list[str] = Field(sa_type=pg.ARRAY(String(40)),
                                   sa_column_kwargs={"server_default": text("'{1-3-5@v1}'")})
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class Dispute(SQLModel, table=True):
    """A dispute (矛盾纠纷) involving a school; `resolved_at` is stamped once, when mediation resolves it."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("mediation_status IN ('registered','mediating','resolved','referred')", name="status_known"),
        Index("ix_disputes_jurisdiction_code_created_at", "jurisdiction_code", "created_at"),
        Index("ix_disputes_school_id", "school_id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    school_id: UUID = Field(sa_type=UUID_T, foreign_key="schools.id")
    kind: str = Field(sa_type=String(24))
    parties: list[dict[str, Any]] = Field(sa_type=pg.JSONB, sa_column_kwargs={"server_default": text("'[]'::jsonb")})
    summary: str | None = Field(default=None, sa_type=String(4000))
    mediation_status: str = Field(sa_type=String(12), sa_column_kwargs={"server_default": "registered"})
    responsible_officer_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    found_on: dt.date
    resolved_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    closing_note: str | None = Field(default=None, sa_type=String(2000))
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class KeyPerson(SQLModel, table=True):
    """A key person (重点人员). The identity number is stored only encrypted (`id_number_cipher`, AES-GCM), as a
    keyed digest for finding duplicates, and masked (`110***********1234`)."""

    __tablename__ = "key_persons"
    __table_args__ = (
        CheckConstraint("risk_level IN ('low','medium','high')", name="risk_known"),
        CheckConstraint("status IN ('active','closed')", name="status_known"),
        Index("uq_key_persons_jurisdiction_code_id_number_digest", "jurisdiction_code", "id_number_digest",
              unique=True),
        Index("ix_key_persons_school_id", "school_id"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32), foreign_key="jurisdictions.code")
    school_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="schools.id")
    category: str = Field(sa_type=String(32))
    name: str = Field(sa_type=String(100))
    id_number_cipher: bytes = Field(sa_type=LargeBinary)
    id_number_digest: bytes = Field(sa_type=LargeBinary)
    id_number_masked: str = Field(sa_type=String(18))
    address: str | None = Field(default=None, sa_type=String(500))
    risk_level: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "medium"})
    control_measures: str | None = Field(default=None, sa_type=String(4000))
    responsible_officer_id: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    status: str = Field(sa_type=String(8), sa_column_kwargs={"server_default": "active"})
    last_visit_at: dt.datetime | None = Field(default=None, sa_type=TIMESTAMPTZ)
    created_by: UUID | None = Field(default=None, sa_type=UUID_T)
    created_at: dt.datetime = _now()
    updated_at: dt.datetime = _now()


class KeyPersonVisit(SQLModel, table=True):
    """One visit to a key person (走访), in the visit log."""

    __tablename__ = "key_person_visits"
    __table_args__ = (
        Index("ix_key_person_visits_key_person_id_visited_at", "key_person_id", "visited_at"),
    )

    id: UUID = Field(sa_type=UUID_T, primary_key=True)
    key_person_id: UUID = Field(sa_type=UUID_T, foreign_key="key_persons.id")
    visited_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    visited_by: UUID | None = Field(default=None, sa_type=UUID_T, foreign_key="users.id")
    findings: str | None = Field(default=None, sa_type=String(4000))
    dangerous_items_found: bool = Field(sa_column_kwargs={"server_default": text("false")})
    measures: str | None = Field(default=None, sa_type=String(2000))
    created_at: dt.datetime = _now()


class ShiftVerdict(SQLModel, table=True):
    """The duty verdict of a settled shift (ended more than the check-in max age ago, so no check-in of its can
    still arrive), judged once by a campaign report under a heartbeat cover; never changes."""

    __tablename__ = "shift_verdicts"
    __table_args__ = (Index("ix_shift_verdicts_jurisdiction_code_starts_at", "jurisdiction_code", "starts_at"),)

    shift_id: UUID = Field(sa_type=UUID_T, primary_key=True, foreign_key="shifts.id", ondelete="CASCADE")
    cover_s: float = Field(primary_key=True)
    jurisdiction_code: str = Field(sa_type=String(32))
    school_id: UUID = Field(sa_type=UUID_T)
    post_id: UUID = Field(sa_type=UUID_T)
    starts_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    ends_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    shift_created_at: dt.datetime = Field(sa_type=TIMESTAMPTZ)
    verdict: str = Field(sa_type=String(8))
    coverage: Any = Field(sa_type=Numeric)
    computed_at: dt.datetime = _now()
