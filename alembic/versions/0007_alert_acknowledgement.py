"""Duty alerts can be acknowledged by the command centre: who, when, and a note.

Revision ID: 0007_alert_acknowledgement
Revises: 0006_incidents
Create Date: 2026-12-01
"""

from alembic import op

from domain.schema import sql_statements

revision = "0007_alert_acknowledgement"
down_revision = "0006_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    ALTER TABLE duty_alerts
        ADD COLUMN acknowledged_at timestamptz,
        ADD COLUMN acknowledged_by uuid,
        ADD COLUMN acknowledgement_note varchar(500),
        ADD CONSTRAINT fk_duty_alerts_acknowledged_by_users FOREIGN KEY (acknowledged_by) REFERENCES users (id);
    CREATE INDEX ix_duty_alerts_open_at ON duty_alerts (at) WHERE acknowledged_at IS NULL;
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP INDEX ix_duty_alerts_open_at;
    ALTER TABLE duty_alerts DROP COLUMN acknowledgement_note, DROP COLUMN acknowledged_by,
        DROP COLUMN acknowledged_at;
    """):
        op.execute(statement)
