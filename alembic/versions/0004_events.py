"""Events: the replay buffer behind the live feed (LISTEN/NOTIFY carries ids, rows carry payloads).

Revision ID: 0004_events
Revises: 0003_schools
Create Date: 2026-11-30
"""

from alembic import op

from domain.schema import sql_statements

revision = "0004_events"
down_revision = "0003_schools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE events (
        id                bigserial NOT NULL,
        at                timestamptz NOT NULL DEFAULT now(),
        kind              varchar(40) NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        path              ltree NOT NULL,
        payload           jsonb NOT NULL,
        CONSTRAINT pk_events PRIMARY KEY (id)
    );
    CREATE INDEX ix_events_at ON events (at);
    CREATE INDEX ix_events_path ON events USING gist (path);
    """):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE events")
