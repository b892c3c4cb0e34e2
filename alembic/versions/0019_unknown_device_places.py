"""An unknown tracker identifier remembers the jurisdiction of the school nearest (within 5 km) to where it last
posted from, so `GET /v1/devices/unknown` shows each admin only the identifiers seen in their jurisdictions
(identifiers seen far from every school: only the admins of a top-level jurisdiction).

Revision ID: 0019_unknown_device_places
Revises: 0018_campaigns_key_persons
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0019_unknown_device_places"
down_revision = "0018_campaigns_key_persons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    ALTER TABLE tracker_unknown_devices ADD COLUMN jurisdiction_code varchar(32);
    CREATE INDEX ix_tracker_unknown_devices_jurisdiction_code ON tracker_unknown_devices (jurisdiction_code);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP INDEX ix_tracker_unknown_devices_jurisdiction_code;
    ALTER TABLE tracker_unknown_devices DROP COLUMN jurisdiction_code;
    """):
        op.execute(statement)
