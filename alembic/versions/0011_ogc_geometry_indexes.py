"""GiST indexes on the geometry casts of incident, post and school positions (and school boundaries), for the
OGC API's `bbox` (domain/features.py).

An OGC bbox is a longitude/latitude rectangle: `CAST(location AS geometry) && envelope` is its exact test for
points, and an expression index gives the planner real statistics for it. PostGIS's estimate of a `geography &&`
box is far off (61 rows estimated for 108,000 in a county box of the benchmark data), which turned a 1 ms
walk of the primary key into a 4 s sort of every match. Check-ins are left out: their ingest is a hot path and
their bbox is narrowed on the geography index instead.

Revision ID: 0011_ogc_geometry_indexes
Revises: 0010_map_share_links
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0011_ogc_geometry_indexes"
down_revision = "0010_map_share_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE INDEX ix_incidents_location_geometry ON incidents USING gist ((CAST(location AS geometry)));
    CREATE INDEX ix_posts_location_geometry ON posts USING gist ((CAST(location AS geometry))) WHERE deleted_at IS NULL;
    CREATE INDEX ix_schools_location_geometry ON schools USING gist ((CAST(location AS geometry))) WHERE deleted_at IS NULL;
    CREATE INDEX ix_schools_boundary_geometry ON schools USING gist ((CAST(boundary AS geometry))) WHERE deleted_at IS NULL;
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP INDEX ix_schools_boundary_geometry;
    DROP INDEX ix_schools_location_geometry;
    DROP INDEX ix_posts_location_geometry;
    DROP INDEX ix_incidents_location_geometry;
    """):
        op.execute(statement)
