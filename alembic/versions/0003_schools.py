"""Schools and their zones: one generated `boundary` (campus, else gate point) with one GiST index.

Revision ID: 0003_schools
Revises: 0002_identity
Create Date: 2026-11-30
"""

from alembic import op

from domain.schema import sql_statements

revision = "0003_schools"
down_revision = "0002_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE schools (
        id                uuid NOT NULL,
        external_id       varchar(100),
        name              varchar(200) NOT NULL,
        kind              varchar(16) NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        address           varchar(500),
        location          geography(Point, 4326) NOT NULL,
        campus            geography(Geometry, 4326),
        boundary          geography(Geometry, 4326) NOT NULL GENERATED ALWAYS AS (COALESCE(campus, location)) STORED,
        zone_radius_m     double precision NOT NULL DEFAULT 200,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        deleted_at        timestamptz,
        CONSTRAINT pk_schools PRIMARY KEY (id),
        CONSTRAINT fk_schools_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_schools_zone_radius_range CHECK (zone_radius_m > 0 AND zone_radius_m <= 2000),
        CONSTRAINT ck_schools_kind_known
            CHECK (kind IN ('kindergarten','primary','middle','high','vocational','special','other'))
    );
    CREATE INDEX ix_schools_boundary ON schools USING gist (boundary) WHERE deleted_at IS NULL;
    CREATE INDEX ix_schools_location ON schools USING gist (location);
    CREATE INDEX ix_schools_jurisdiction_code_id ON schools (jurisdiction_code, id);
    CREATE UNIQUE INDEX uq_schools_external_id ON schools (external_id) WHERE external_id IS NOT NULL;
    CREATE INDEX ix_schools_name_trgm ON schools USING gin (name gin_trgm_ops);
    """):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE schools")
