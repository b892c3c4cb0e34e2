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
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
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

# --- incidents and scoring (issue 6) --------------------------------------------------------------
