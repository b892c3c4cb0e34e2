"""Live-feed streams are limited per credential across the cluster: each open stream holds a lease row, renewed
while it lasts and deleted when it ends; a worker killed mid-stream leaves leases that expire on their own.

Revision ID: 0012_stream_leases
Revises: 0011_ogc_geometry_indexes
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0012_stream_leases"
down_revision = "0011_ogc_geometry_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE stream_leases (
        id         uuid NOT NULL,
        credential varchar(80) NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT pk_stream_leases PRIMARY KEY (id)
    );
    CREATE INDEX ix_stream_leases_credential ON stream_leases (credential);
    """):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE stream_leases")
