"""The schema as SQLAlchemy tables: one readable place that the migrations must agree with.

Table models live here (persistence); API schemas live in `api/`. Every geometry is stored as
WGS-84 `geography`, so distances and zone membership are geodesic metres.
"""

from __future__ import annotations

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class LTree(UserDefinedType):
    """PostgreSQL `ltree`: a jurisdiction's path from the root, e.g. `500243.500243101.P01`."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "LTREE"


ischema_names["ltree"] = LTree  # so reflection (the migrations-vs-models test) knows the type


def _now():
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


POINT = Geography(geometry_type="POINT", srid=4326, spatial_index=False)
AREA = Geography(geometry_type="GEOMETRY", srid=4326, spatial_index=False, nullable=True)

# --- identity and jurisdictions -------------------------------------------------------------

jurisdictions = Table(
    "jurisdictions",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(20), nullable=False),
    Column("parent_code", String(32), ForeignKey("jurisdictions.code"), nullable=True),
    Column("path", LTree(), nullable=False),
    Column("time_zone", String(64), nullable=False, server_default="Asia/Shanghai"),
    _now(),
    CheckConstraint("code ~ '^[A-Za-z0-9_]{2,32}$'", name="code_charset"),
    CheckConstraint("level IN ('province','city','county','district','township','street','station','other')",
                    name="level_known"),
    Index("ix_jurisdictions_path", "path", postgresql_using="gist"),
    Index("ix_jurisdictions_parent_code", "parent_code"),
)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("unit_type", String(16), nullable=False, server_default="police"),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("phone", String(32), nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("password_hash", Text, nullable=False),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("role IN ('admin','commander','officer','viewer')", name="role_known"),
    CheckConstraint("unit_type IN ('guard','auxiliary','police','volunteer')", name="unit_type_known"),
    Index("uq_users_username_lower", func.lower(text("username")), unique=True),
    Index("ix_users_jurisdiction_code", "jurisdiction_code"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    _now(),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
)

revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", UUID(as_uuid=True), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", LargeBinary, nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False, server_default="viewer"),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("created_by", UUID(as_uuid=True), ForeignKey("users.id"), nullable=True),
    _now(),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("role IN ('admin','commander','officer','viewer')", name="role_known"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("client_addr", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_login_failures_username_at", func.lower(text("username")), "at"),
    Index("ix_login_failures_client_addr_at", "client_addr", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("actor_name", String(200), nullable=True),
    Column("jurisdiction_code", String(32), nullable=True),
    Column("entity", String(40), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("changes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("request_id", String(128), nullable=True),
    Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
    Index("ix_audit_log_at", "at"),
)

# --- schools and zones ----------------------------------------------------------------------

schools = Table(
    "schools",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("external_id", String(100), nullable=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("address", String(500), nullable=True),
    Column("location", POINT, nullable=False),
    Column("campus", AREA, nullable=True),
    # One boundary serves zone lookup, judgement and KNN: the campus when known, else the gate point.
    Column("boundary", AREA, Computed("COALESCE(campus, location)", persisted=True), nullable=False),
    Column("zone_radius_m", Float, nullable=False, server_default=text("200")),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("zone_radius_m > 0 AND zone_radius_m <= 2000", name="zone_radius_range"),
    CheckConstraint(
        "kind IN ('kindergarten','primary','middle','high','vocational','special','other')", name="kind_known"
    ),
    Index("ix_schools_boundary", "boundary", postgresql_using="gist",
          postgresql_where=text("deleted_at IS NULL")),
    Index("ix_schools_location", "location", postgresql_using="gist"),
    Index("ix_schools_jurisdiction_code_id", "jurisdiction_code", "id"),
    Index("uq_schools_external_id", "external_id", unique=True,
          postgresql_where=text("external_id IS NOT NULL")),
    Index("ix_schools_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
)

# --- live feed ------------------------------------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("kind", String(40), nullable=False),
    Column("jurisdiction_code", String(32), nullable=False),
    Column("path", LTree(), nullable=False),
    Column("payload", JSONB, nullable=False),
    Index("ix_events_at", "at"),
    Index("ix_events_path", "path", postgresql_using="gist"),
)

# --- duty and check-ins (issue 5) -----------------------------------------------------------------

posts = Table(
    "posts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("school_id", UUID(as_uuid=True), ForeignKey("schools.id"), nullable=False),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("location", POINT, nullable=False),
    Column("radius_m", Float, nullable=False, server_default=text("50")),
    _now(),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("kind IN ('school_guard','peak_duty')", name="kind_known"),
    CheckConstraint("radius_m >= 5 AND radius_m <= 1000", name="radius_range"),
    Index("ix_posts_school_id", "school_id"),
    Index("ix_posts_location", "location", postgresql_using="gist"),
)

duty_windows = Table(
    "duty_windows",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("school_id", UUID(as_uuid=True), ForeignKey("schools.id"), nullable=True),
    Column("name", String(40), nullable=False),
    Column("starts_local", Time, nullable=False),
    Column("ends_local", Time, nullable=False),
    Column("weekdays", ARRAY(SmallInteger), nullable=False, server_default=text("'{1,2,3,4,5}'")),
    _now(),
    CheckConstraint("ends_local > starts_local", name="ends_after_start"),
    Index("uq_duty_windows_owner_name", "jurisdiction_code",
          text("COALESCE(school_id, '00000000-0000-0000-0000-000000000000'::uuid)"), "name", unique=True),
)

non_school_days = Table(
    "non_school_days",
    metadata,
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("reason", String(200), nullable=True),
)

shifts = Table(
    "shifts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("officer_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("post_id", UUID(as_uuid=True), ForeignKey("posts.id"), nullable=False),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("window_name", String(40), nullable=True),
    Column("created_by", UUID(as_uuid=True), nullable=True),
    _now(),
    CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    UniqueConstraint("officer_id", "post_id", "starts_at"),
    Index("ix_shifts_post_id_starts_at", "post_id", "starts_at"),
    Index("ix_shifts_officer_id_starts_at", "officer_id", "starts_at"),
    Index("ix_shifts_jurisdiction_code_starts_at", "jurisdiction_code", "starts_at"),
    Index("ix_shifts_starts_at", "starts_at"),
)

# The idempotency ledger: check-ins are partitioned by device time, so the client's id is made unique
# across partitions here.
checkin_keys = Table(
    "checkin_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("officer_id", UUID(as_uuid=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("body_hash", LargeBinary, nullable=False),
    _now(),
)

checkins = Table(
    "checkins",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("officer_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("jurisdiction_code", String(32), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("recorded_at", DateTime(timezone=True), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("location", POINT, nullable=False),
    Column("accuracy_m", Float, nullable=False),
    Column("crs", String(8), nullable=False, server_default="wgs84"),
    Column("shift_id", UUID(as_uuid=True), nullable=True),
    Column("post_id", UUID(as_uuid=True), nullable=True),
    Column("school_id", UUID(as_uuid=True), nullable=True),
    Column("distance_to_school_m", Float, nullable=True),
    Column("in_school_zone", Boolean, nullable=False),
    Column("distance_to_post_m", Float, nullable=True),
    Column("geofence", String(10), nullable=True),
    Column("in_post_geofence", Boolean, nullable=True),
    Column("in_duty_window", Boolean, nullable=False),
    Column("flags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("vehicle", Boolean, nullable=True),
    Column("lights", Boolean, nullable=True),
    Column("mock_location", Boolean, nullable=False, server_default=text("false")),
    Column("note", String(500), nullable=True),
    Column("device", JSONB, nullable=True),
    CheckConstraint("kind IN ('arrive','heartbeat','depart')", name="kind_known"),
    CheckConstraint("geofence IN ('inside','outside','uncertain')", name="geofence_known"),
    CheckConstraint("accuracy_m > 0", name="accuracy_positive"),
    Index("ix_checkins_officer_id_recorded_at", "officer_id", "recorded_at"),
    Index("ix_checkins_shift_id", "shift_id"),
    Index("ix_checkins_school_id_recorded_at", "school_id", "recorded_at"),
    Index("ix_checkins_jurisdiction_code_recorded_at", "jurisdiction_code", "recorded_at"),
    Index("ix_checkins_location", "location", postgresql_using="gist"),
    Index("ix_checkins_post_id_recorded_at", "post_id", "recorded_at"),
    postgresql_partition_by="RANGE (recorded_at)",
)

# Each unit's latest fix, kept by check-in ingest, for nearest-unit KNN on a GiST index.
unit_positions = Table(
    "unit_positions",
    metadata,
    Column("officer_id", UUID(as_uuid=True), ForeignKey("users.id"), primary_key=True),
    Column("jurisdiction_code", String(32), nullable=False),
    Column("location", POINT, nullable=False),
    Column("accuracy_m", Float, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("checkin_id", UUID(as_uuid=True), nullable=False),
    Column("shift_id", UUID(as_uuid=True), nullable=True),
    Column("post_id", UUID(as_uuid=True), nullable=True),
    Index("ix_unit_positions_location", "location", postgresql_using="gist"),
    Index("ix_unit_positions_recorded_at", "recorded_at"),
)

# Duty alerts (uncovered post, off post); `dedupe_key` makes each alert happen, and be published, once.
duty_alerts = Table(
    "duty_alerts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("school_id", UUID(as_uuid=True), nullable=True),
    Column("post_id", UUID(as_uuid=True), nullable=False),
    Column("shift_id", UUID(as_uuid=True), nullable=True),
    Column("officer_id", UUID(as_uuid=True), nullable=True),
    Column("checkin_id", UUID(as_uuid=True), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _now(),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", UUID(as_uuid=True), ForeignKey("users.id"), nullable=True),
    Column("acknowledgement_note", String(500), nullable=True),
    CheckConstraint("kind IN ('uncovered_post','off_post')", name="kind_known"),
    Index("ix_duty_alerts_jurisdiction_code_at", "jurisdiction_code", "at"),
    Index("ix_duty_alerts_open_at", "at", postgresql_where=text("acknowledged_at IS NULL")),
)

# --- incidents and scoring (issue 6) --------------------------------------------------------------

scoring_policies = Table(
    "scoring_policies",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tier_limits_s", JSONB, nullable=False),
    Column("tiers_by_severity", JSONB, nullable=True),
    Column("description", String(500), nullable=True),
    _now(),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("jurisdiction_code", String(32), ForeignKey("jurisdictions.code"), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("source", String(20), nullable=False),
    Column("description", String(4000), nullable=True),
    Column("location", POINT, nullable=False),
    Column("crs", String(8), nullable=False, server_default="wgs84"),
    Column("alarm_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("in_zone", Boolean, nullable=False),
    Column("zone_school_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")),
    Column("nearest_school_id", UUID(as_uuid=True), ForeignKey("schools.id"), nullable=True),
    Column("nearest_school_distance_m", Float, nullable=True),
    Column("status", String(12), nullable=False, server_default="open"),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("on_scene_at", DateTime(timezone=True), nullable=True),
    Column("controlled_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("policy_key", String(40), nullable=False, server_default="1-3-5@v1"),
    Column("created_by", UUID(as_uuid=True), nullable=True),
    Column("body_hash", LargeBinary, nullable=True),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("severity BETWEEN 1 AND 4", name="severity_range"),
    CheckConstraint("status IN ('open','dispatched','on_scene','controlled','closed')", name="status_known"),
    CheckConstraint("source IN ('call_110','one_button_alarm','patrol','school_report','other')", name="source_known"),
    Index("ix_incidents_location", "location", postgresql_using="gist"),
    Index("ix_incidents_jurisdiction_code_alarm_at", "jurisdiction_code", "alarm_at"),
    Index("ix_incidents_alarm_at_id", "alarm_at", "id"),
    Index("ix_incidents_zone_school_ids", "zone_school_ids", postgresql_using="gin"),
)

arrivals = Table(
    "arrivals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("incident_id", UUID(as_uuid=True), ForeignKey("incidents.id"), nullable=False),
    Column("responder_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("tier", SmallInteger, nullable=False),
    Column("arrived_at", DateTime(timezone=True), nullable=False),
    Column("location", POINT, nullable=False),
    Column("accuracy_m", Float, nullable=True),
    Column("crs", String(8), nullable=False, server_default="wgs84"),
    Column("distance_m", Float, nullable=False),
    Column("far_from_scene", Boolean, nullable=False),
    Column("counts", Boolean, nullable=False),
    Column("flags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("body_hash", LargeBinary, nullable=False),
    Column("created_by", UUID(as_uuid=True), nullable=True),
    _now(),
    CheckConstraint("tier BETWEEN 1 AND 3", name="tier_range"),
    Index("ix_arrivals_incident_id_arrived_at", "incident_id", "arrived_at"),
)

incident_scores = Table(
    "incident_scores",
    metadata,
    Column("incident_id", UUID(as_uuid=True), ForeignKey("incidents.id"), primary_key=True),
    Column("policy_key", String(40), primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("compliant", Boolean, nullable=True),
    Column("tiers", JSONB, nullable=False),
    Column("tier1_elapsed_s", Float, nullable=True),
    Column("tier2_elapsed_s", Float, nullable=True),
    Column("tier3_elapsed_s", Float, nullable=True),
    Column("tier1_state", String(8), nullable=True),
    Column("tier2_state", String(8), nullable=True),
    Column("tier3_state", String(8), nullable=True),
)
