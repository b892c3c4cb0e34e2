"""Duty and check-ins: posts, duty windows, non-school days, shifts, check-ins (monthly partitions),
the check-in idempotency ledger, and each unit's latest position.

Revision ID: 0005_duty
Revises: 0004_events
Create Date: 2026-11-30
"""

from alembic import op

from domain.schema import sql_statements

revision = "0005_duty"
down_revision = "0004_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE posts (
        id                uuid NOT NULL,
        school_id         uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        name              varchar(200) NOT NULL,
        kind              varchar(16) NOT NULL,
        location          geography(Point, 4326) NOT NULL,
        radius_m          double precision NOT NULL DEFAULT 50,
        created_at        timestamptz NOT NULL DEFAULT now(),
        deleted_at        timestamptz,
        CONSTRAINT pk_posts PRIMARY KEY (id),
        CONSTRAINT fk_posts_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT fk_posts_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_posts_kind_known CHECK (kind IN ('school_guard','peak_duty')),
        CONSTRAINT ck_posts_radius_range CHECK (radius_m >= 5 AND radius_m <= 1000)
    );
    CREATE INDEX ix_posts_school_id ON posts (school_id);
    CREATE INDEX ix_posts_location ON posts USING gist (location);

    CREATE TABLE duty_windows (
        id                uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        school_id         uuid,
        name              varchar(40) NOT NULL,
        starts_local      time NOT NULL,
        ends_local        time NOT NULL,
        weekdays          smallint[] NOT NULL DEFAULT '{1,2,3,4,5}',
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_duty_windows PRIMARY KEY (id),
        CONSTRAINT fk_duty_windows_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_duty_windows_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT ck_duty_windows_ends_after_start CHECK (ends_local > starts_local)
    );
    CREATE UNIQUE INDEX uq_duty_windows_owner_name
        ON duty_windows (jurisdiction_code, COALESCE(school_id, '00000000-0000-0000-0000-000000000000'::uuid), name);

    CREATE TABLE non_school_days (
        jurisdiction_code varchar(32) NOT NULL,
        day               date NOT NULL,
        reason            varchar(200),
        CONSTRAINT pk_non_school_days PRIMARY KEY (jurisdiction_code, day),
        CONSTRAINT fk_non_school_days_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code)
    );

    CREATE TABLE shifts (
        id                uuid NOT NULL,
        officer_id        uuid NOT NULL,
        post_id           uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        starts_at         timestamptz NOT NULL,
        ends_at           timestamptz NOT NULL,
        window_name       varchar(40),
        created_by        uuid,
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_shifts PRIMARY KEY (id),
        CONSTRAINT fk_shifts_officer_id_users FOREIGN KEY (officer_id) REFERENCES users (id),
        CONSTRAINT fk_shifts_post_id_posts FOREIGN KEY (post_id) REFERENCES posts (id),
        CONSTRAINT fk_shifts_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_shifts_ends_after_start CHECK (ends_at > starts_at),
        CONSTRAINT uq_shifts_officer_id_post_id_starts_at UNIQUE (officer_id, post_id, starts_at)
    );
    CREATE INDEX ix_shifts_post_id_starts_at ON shifts (post_id, starts_at);
    CREATE INDEX ix_shifts_officer_id_starts_at ON shifts (officer_id, starts_at);
    CREATE INDEX ix_shifts_jurisdiction_code_starts_at ON shifts (jurisdiction_code, starts_at);
    CREATE INDEX ix_shifts_starts_at ON shifts (starts_at);

    CREATE TABLE checkin_keys (
        id          uuid NOT NULL,
        officer_id  uuid NOT NULL,
        recorded_at timestamptz NOT NULL,
        body_hash   bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_checkin_keys PRIMARY KEY (id)
    );

    CREATE TABLE checkins (
        id                   uuid NOT NULL,
        officer_id           uuid NOT NULL,
        jurisdiction_code    varchar(32) NOT NULL,
        kind                 varchar(10) NOT NULL,
        recorded_at          timestamptz NOT NULL,
        received_at          timestamptz NOT NULL DEFAULT now(),
        location             geography(Point, 4326) NOT NULL,
        accuracy_m           double precision NOT NULL,
        crs                  varchar(8) NOT NULL DEFAULT 'wgs84',
        shift_id             uuid,
        post_id              uuid,
        school_id            uuid,
        distance_to_school_m double precision,
        in_school_zone       boolean NOT NULL,
        distance_to_post_m   double precision,
        geofence             varchar(10),
        in_post_geofence     boolean,
        in_duty_window       boolean NOT NULL,
        flags                text[] NOT NULL DEFAULT '{}',
        vehicle              boolean,
        lights               boolean,
        mock_location        boolean NOT NULL DEFAULT false,
        note                 varchar(500),
        device               jsonb,
        CONSTRAINT pk_checkins PRIMARY KEY (id, recorded_at),
        CONSTRAINT fk_checkins_officer_id_users FOREIGN KEY (officer_id) REFERENCES users (id),
        CONSTRAINT ck_checkins_kind_known CHECK (kind IN ('arrive','heartbeat','depart')),
        CONSTRAINT ck_checkins_geofence_known CHECK (geofence IN ('inside','outside','uncertain')),
        CONSTRAINT ck_checkins_accuracy_positive CHECK (accuracy_m > 0)
    ) PARTITION BY RANGE (recorded_at);
    CREATE INDEX ix_checkins_officer_id_recorded_at ON checkins (officer_id, recorded_at);
    CREATE INDEX ix_checkins_shift_id ON checkins (shift_id);
    CREATE INDEX ix_checkins_school_id_recorded_at ON checkins (school_id, recorded_at);
    CREATE INDEX ix_checkins_jurisdiction_code_recorded_at ON checkins (jurisdiction_code, recorded_at);
    CREATE INDEX ix_checkins_location ON checkins USING gist (location);
    CREATE INDEX ix_checkins_post_id_recorded_at ON checkins (post_id, recorded_at);

    CREATE FUNCTION huxiao_ensure_checkin_partitions(first_month date, months integer) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
        m date := date_trunc('month', first_month)::date; --
        made integer := 0; --
        name text; --
    BEGIN
        FOR i IN 0..months - 1 LOOP
            name := format('checkins_p%s', to_char(m, 'YYYYMM')); --
            IF to_regclass(name) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF checkins FOR VALUES FROM (%L) TO (%L)',
                               name, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC'); --
                made := made + 1; --
            END IF; --
            m := (m + interval '1 month')::date; --
        END LOOP; --
        RETURN made; --
    END
    $$;

    SELECT huxiao_ensure_checkin_partitions((now() AT TIME ZONE 'UTC' - interval '13 months')::date, 17);

    CREATE TABLE unit_positions (
        officer_id        uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        location          geography(Point, 4326) NOT NULL,
        accuracy_m        double precision NOT NULL,
        recorded_at       timestamptz NOT NULL,
        checkin_id        uuid NOT NULL,
        shift_id          uuid,
        post_id           uuid,
        CONSTRAINT pk_unit_positions PRIMARY KEY (officer_id),
        CONSTRAINT fk_unit_positions_officer_id_users FOREIGN KEY (officer_id) REFERENCES users (id)
    );
    CREATE INDEX ix_unit_positions_location ON unit_positions USING gist (location);
    CREATE INDEX ix_unit_positions_recorded_at ON unit_positions (recorded_at);

    CREATE TABLE duty_alerts (
        id                uuid NOT NULL,
        kind              varchar(16) NOT NULL,
        dedupe_key        varchar(200) NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        school_id         uuid,
        post_id           uuid NOT NULL,
        shift_id          uuid,
        officer_id        uuid,
        checkin_id        uuid,
        at                timestamptz NOT NULL,
        details           jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_duty_alerts PRIMARY KEY (id),
        CONSTRAINT uq_duty_alerts_dedupe_key UNIQUE (dedupe_key),
        CONSTRAINT fk_duty_alerts_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_duty_alerts_kind_known CHECK (kind IN ('uncovered_post','off_post'))
    );
    CREATE INDEX ix_duty_alerts_jurisdiction_code_at ON duty_alerts (jurisdiction_code, at);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE IF EXISTS duty_alerts;
    DROP TABLE unit_positions;
    DROP TABLE checkins;
    DROP FUNCTION huxiao_ensure_checkin_partitions(date, integer);
    DROP TABLE checkin_keys;
    DROP TABLE shifts;
    DROP TABLE non_school_days;
    DROP TABLE duty_windows;
    DROP TABLE posts;
    """):
        op.execute(statement)
