"""Traccar Client trackers and make-up school days.

- `tracker_devices`: a phone running Traccar Client (OsmAnd protocol), registered by an admin to an officer. Its
  identifier is unique; the row also keeps the per-device rate window (one row lock: race-free across workers)
  and the counts the admin's device list shows.
- `tracker_unknown_devices`: identifiers that posted positions but are registered to nobody; their positions are
  dropped and only counted here.
- `checkins.source`: where a check-in came from (`api` for `POST /v1/checkins`, `traccar` for the tracker).
- `makeup_school_days`: 调休 days — a weekend (or any day) that is a school day, following the timetable of
  `timetable_weekday`.

Revision ID: 0015_tracker_devices_calendar
Revises: 0014_score_facts
Create Date: 2026-12-04
"""

from alembic import op

from domain.schema import sql_statements

revision = "0015_tracker_devices_calendar"
down_revision = "0014_score_facts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE tracker_devices (
        id                     uuid NOT NULL,
        identifier             varchar(64) NOT NULL,
        officer_id             uuid NOT NULL,
        jurisdiction_code      varchar(32) NOT NULL,
        name                   varchar(200),
        active                 boolean NOT NULL DEFAULT true,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now(),
        last_seen_at           timestamptz,
        positions_received     bigint NOT NULL DEFAULT 0,
        positions_duplicate    bigint NOT NULL DEFAULT 0,
        positions_dropped      bigint NOT NULL DEFAULT 0,
        positions_rate_limited bigint NOT NULL DEFAULT 0,
        last_drop_reason       varchar(300),
        window_started_at      timestamptz NOT NULL DEFAULT now(),
        window_count           integer NOT NULL DEFAULT 0,
        CONSTRAINT pk_tracker_devices PRIMARY KEY (id),
        CONSTRAINT fk_tracker_devices_officer_id_users FOREIGN KEY (officer_id) REFERENCES users (id),
        CONSTRAINT fk_tracker_devices_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code)
    );
    CREATE UNIQUE INDEX uq_tracker_devices_identifier ON tracker_devices (identifier);
    CREATE INDEX ix_tracker_devices_officer_id ON tracker_devices (officer_id);
    CREATE INDEX ix_tracker_devices_jurisdiction_code ON tracker_devices (jurisdiction_code);

    CREATE TABLE tracker_unknown_devices (
        identifier    varchar(64) NOT NULL,
        positions     bigint NOT NULL DEFAULT 0,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_tracker_unknown_devices PRIMARY KEY (identifier)
    );

    ALTER TABLE checkins ADD COLUMN source varchar(16) NOT NULL DEFAULT 'api';

    CREATE TABLE makeup_school_days (
        jurisdiction_code varchar(32) NOT NULL,
        day               date NOT NULL,
        timetable_weekday smallint NOT NULL DEFAULT 1,
        reason            varchar(200),
        CONSTRAINT pk_makeup_school_days PRIMARY KEY (jurisdiction_code, day),
        CONSTRAINT fk_makeup_school_days_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_makeup_school_days_timetable_weekday_range CHECK (timetable_weekday BETWEEN 1 AND 7)
    );
    CREATE INDEX ix_makeup_school_days_day ON makeup_school_days (day);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE makeup_school_days;
    ALTER TABLE checkins DROP COLUMN source;
    DROP TABLE tracker_unknown_devices;
    DROP TABLE tracker_devices;
    """):
        op.execute(statement)
