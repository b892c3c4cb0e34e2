"""Incidents and the 1/3/5 rule: incidents, arrivals, versioned scoring policies, scores per policy.

Revision ID: 0006_incidents
Revises: 0005_duty
Create Date: 2026-11-30
"""

from alembic import op

from domain.schema import sql_statements

revision = "0006_incidents"
down_revision = "0005_duty"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE scoring_policies (
        name              varchar(40) NOT NULL,
        version           integer NOT NULL,
        tier_limits_s     jsonb NOT NULL,
        tiers_by_severity jsonb,
        description       varchar(500),
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_scoring_policies PRIMARY KEY (name, version)
    );
    INSERT INTO scoring_policies (name, version, tier_limits_s, description)
    VALUES ('1-3-5', 1, '{"1": 60, "2": 180, "3": 300}',
            'On-site guards within 60 s, mutual aid within 180 s, police reinforcement within 300 s of the alarm');

    CREATE TABLE incidents (
        id                        uuid NOT NULL,
        jurisdiction_code         varchar(32) NOT NULL,
        category                  varchar(32) NOT NULL,
        severity                  smallint NOT NULL,
        source                    varchar(20) NOT NULL,
        description               varchar(4000),
        location                  geography(Point, 4326) NOT NULL,
        crs                       varchar(8) NOT NULL DEFAULT 'wgs84',
        alarm_at                  timestamptz NOT NULL,
        received_at               timestamptz NOT NULL DEFAULT now(),
        in_zone                   boolean NOT NULL,
        zone_school_ids           uuid[] NOT NULL DEFAULT '{}',
        nearest_school_id         uuid,
        nearest_school_distance_m double precision,
        status                    varchar(12) NOT NULL DEFAULT 'open',
        dispatched_at             timestamptz,
        on_scene_at               timestamptz,
        controlled_at             timestamptz,
        closed_at                 timestamptz,
        policy_key                varchar(40) NOT NULL DEFAULT '1-3-5@v1',
        created_by                uuid,
        body_hash                 bytea,
        created_at                timestamptz NOT NULL DEFAULT now(),
        updated_at                timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_incidents PRIMARY KEY (id),
        CONSTRAINT fk_incidents_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_incidents_nearest_school_id_schools FOREIGN KEY (nearest_school_id) REFERENCES schools (id),
        CONSTRAINT ck_incidents_severity_range CHECK (severity BETWEEN 1 AND 4),
        CONSTRAINT ck_incidents_status_known CHECK (status IN ('open','dispatched','on_scene','controlled','closed')),
        CONSTRAINT ck_incidents_source_known
            CHECK (source IN ('call_110','one_button_alarm','patrol','school_report','other'))
    );
    CREATE INDEX ix_incidents_location ON incidents USING gist (location);
    CREATE INDEX ix_incidents_jurisdiction_code_alarm_at ON incidents (jurisdiction_code, alarm_at);
    CREATE INDEX ix_incidents_alarm_at_id ON incidents (alarm_at, id);
    CREATE INDEX ix_incidents_zone_school_ids ON incidents USING gin (zone_school_ids);

    CREATE TABLE arrivals (
        id             uuid NOT NULL,
        incident_id    uuid NOT NULL,
        responder_id   uuid NOT NULL,
        tier           smallint NOT NULL,
        arrived_at     timestamptz NOT NULL,
        location       geography(Point, 4326) NOT NULL,
        accuracy_m     double precision,
        crs            varchar(8) NOT NULL DEFAULT 'wgs84',
        distance_m     double precision NOT NULL,
        far_from_scene boolean NOT NULL,
        counts         boolean NOT NULL,
        flags          text[] NOT NULL DEFAULT '{}',
        body_hash      bytea NOT NULL,
        created_by     uuid,
        created_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_arrivals PRIMARY KEY (id),
        CONSTRAINT fk_arrivals_incident_id_incidents FOREIGN KEY (incident_id) REFERENCES incidents (id),
        CONSTRAINT fk_arrivals_responder_id_users FOREIGN KEY (responder_id) REFERENCES users (id),
        CONSTRAINT ck_arrivals_tier_range CHECK (tier BETWEEN 1 AND 3)
    );
    CREATE INDEX ix_arrivals_incident_id_arrived_at ON arrivals (incident_id, arrived_at);

    CREATE TABLE incident_scores (
        incident_id      uuid NOT NULL,
        policy_key       varchar(40) NOT NULL,
        computed_at      timestamptz NOT NULL DEFAULT now(),
        compliant        boolean,
        tiers            jsonb NOT NULL,
        tier1_elapsed_s  double precision,
        tier2_elapsed_s  double precision,
        tier3_elapsed_s  double precision,
        tier1_state      varchar(8),
        tier2_state      varchar(8),
        tier3_state      varchar(8),
        CONSTRAINT pk_incident_scores PRIMARY KEY (incident_id, policy_key),
        CONSTRAINT fk_incident_scores_incident_id_incidents FOREIGN KEY (incident_id) REFERENCES incidents (id)
    );
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE incident_scores;
    DROP TABLE arrivals;
    DROP TABLE incidents;
    DROP TABLE scoring_policies;
    """):
        op.execute(statement)
