"""Every change to a school NOTIFYs `huxiao_schools` with its id, so each worker's in-memory zone index
(domain/zone_index.py) reloads that school when the change commits, whichever process or tool made it.

Revision ID: 0008_school_notify
Revises: 0007_alert_acknowledgement
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0008_school_notify"
down_revision = "0007_alert_acknowledgement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE FUNCTION huxiao_notify_school() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('huxiao_schools', CAST(COALESCE(NEW.id, OLD.id) AS text)); RETURN NULL; END $$;
    CREATE TRIGGER schools_notify AFTER INSERT OR UPDATE OR DELETE ON schools
        FOR EACH ROW EXECUTE FUNCTION huxiao_notify_school();
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TRIGGER schools_notify ON schools;
    DROP FUNCTION huxiao_notify_school();
    """):
        op.execute(statement)
