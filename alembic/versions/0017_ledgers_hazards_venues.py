"""Ledgers (台账) of hazards and venues: hazards with an append-only log of their status and deadline (so any
figure can be recomputed as of a moment), hazard photos, the venue registry and venue inspections.

Revision ID: 0017_ledgers_hazards_venues
Revises: 0016_webhooks_outbox
Create Date: 2026-12-04
"""

from alembic import op

from domain.schema import sql_statements

revision = "0017_ledgers_hazards_venues"
down_revision = "0016_webhooks_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE hazards (
        id                  uuid NOT NULL,
        jurisdiction_code   varchar(32) NOT NULL,
        school_id           uuid,
        location            geography(Point, 4326) NOT NULL,
        crs                 varchar(8) NOT NULL DEFAULT 'wgs84',
        flags               text[] NOT NULL DEFAULT '{}',
        category            varchar(32) NOT NULL,
        severity            varchar(12) NOT NULL,
        description         varchar(4000) NOT NULL,
        found_by            uuid,
        found_by_name       varchar(200) NOT NULL,
        found_at            timestamptz NOT NULL,
        responsible_unit    varchar(200),
        deadline            timestamptz NOT NULL,
        status              varchar(12) NOT NULL DEFAULT 'open',
        escalation_reason   varchar(2000),
        escalated_at        timestamptz,
        closing_note        varchar(4000),
        closing_photo_ids   uuid[] NOT NULL DEFAULT '{}',
        closed_by           uuid,
        closed_by_name      varchar(200),
        closed_at           timestamptz,
        overdue_notified_at timestamptz,
        external_ref        varchar(100),
        created_by          uuid,
        body_hash           bytea,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_hazards PRIMARY KEY (id),
        CONSTRAINT fk_hazards_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_hazards_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT fk_hazards_found_by_users FOREIGN KEY (found_by) REFERENCES users (id),
        CONSTRAINT ck_hazards_status_known CHECK (status IN ('open','rectifying','escalated','closed')),
        CONSTRAINT ck_hazards_severity_known CHECK (severity IN ('general','significant','major')),
        CONSTRAINT ck_hazards_category_known CHECK (category IN ('facilities_civil','facilities_physical',
            'facilities_technical','traffic_facilities','food_safety','fire','venue','building','other')),
        CONSTRAINT ck_hazards_deadline_after_found CHECK (deadline >= found_at),
        CONSTRAINT ck_hazards_closed_with_evidence
            CHECK (status <> 'closed' OR (closed_at IS NOT NULL AND closing_note IS NOT NULL))
    );
    CREATE INDEX ix_hazards_location ON hazards USING gist (location);
    CREATE INDEX ix_hazards_found_at_id ON hazards (found_at, id);
    CREATE INDEX ix_hazards_jurisdiction_code_found_at ON hazards (jurisdiction_code, found_at);
    CREATE INDEX ix_hazards_school_id_found_at ON hazards (school_id, found_at);
    CREATE INDEX ix_hazards_open_deadline ON hazards (deadline) WHERE status <> 'closed';

    CREATE TABLE hazard_log (
        id          bigserial NOT NULL,
        hazard_id   uuid NOT NULL,
        kind        varchar(16) NOT NULL,
        at          timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        status      varchar(12) NOT NULL,
        deadline    timestamptz NOT NULL,
        note        varchar(4000),
        actor_id    uuid,
        actor_name  varchar(200),
        CONSTRAINT pk_hazard_log PRIMARY KEY (id),
        CONSTRAINT fk_hazard_log_hazard_id_hazards FOREIGN KEY (hazard_id) REFERENCES hazards (id),
        CONSTRAINT ck_hazard_log_kind_known CHECK (kind IN ('created','status','deadline','action','imported'))
    );
    CREATE INDEX ix_hazard_log_hazard_id_recorded_at ON hazard_log (hazard_id, recorded_at);

    CREATE TABLE hazard_photos (
        id               uuid NOT NULL,
        hazard_id        uuid NOT NULL,
        storage_key      varchar(300) NOT NULL,
        content_type     varchar(40) NOT NULL,
        size_bytes       integer NOT NULL,
        sha256           bytea NOT NULL,
        width            integer NOT NULL,
        height           integer NOT NULL,
        uploaded_by      uuid,
        uploaded_by_name varchar(200),
        uploaded_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_hazard_photos PRIMARY KEY (id),
        CONSTRAINT fk_hazard_photos_hazard_id_hazards FOREIGN KEY (hazard_id) REFERENCES hazards (id)
    );
    CREATE INDEX ix_hazard_photos_hazard_id ON hazard_photos (hazard_id);

    CREATE TABLE venues (
        id                uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        name              varchar(200) NOT NULL,
        kind              varchar(32) NOT NULL,
        address           varchar(500),
        location          geography(Point, 4326) NOT NULL,
        crs               varchar(8) NOT NULL DEFAULT 'wgs84',
        school_id         uuid,
        zone_school_ids   uuid[] NOT NULL DEFAULT '{}',
        flags             text[] NOT NULL DEFAULT '{}',
        operator_name     varchar(200),
        licence_no        varchar(100),
        phone             varchar(32),
        status            varchar(12) NOT NULL DEFAULT 'operating',
        closed_at         timestamptz,
        note              varchar(2000),
        external_ref      varchar(100),
        created_by        uuid,
        body_hash         bytea,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_venues PRIMARY KEY (id),
        CONSTRAINT fk_venues_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_venues_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT ck_venues_status_known CHECK (status IN ('operating','suspended','closed')),
        CONSTRAINT ck_venues_kind_known CHECK (kind IN ('internet_cafe','game_hall','ktv','hotel','small_inn',
            'rental_housing','esports_hotel','script_escape_room','food_stall','publication_seller','other'))
    );
    CREATE INDEX ix_venues_location ON venues USING gist (location);
    CREATE INDEX ix_venues_zone_school_ids ON venues USING gin (zone_school_ids);
    CREATE INDEX ix_venues_jurisdiction_code_created_at ON venues (jurisdiction_code, created_at);
    CREATE INDEX ix_venues_created_at_id ON venues (created_at, id);

    CREATE TABLE venue_inspections (
        id                uuid NOT NULL,
        venue_id          uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        inspected_at      timestamptz NOT NULL,
        inspector_id      uuid,
        inspector_name    varchar(200) NOT NULL,
        findings          varchar(4000),
        violations        text[] NOT NULL DEFAULT '{}',
        actions           text[] NOT NULL DEFAULT '{}',
        fine_yuan         numeric(12, 2),
        follow_up_on      date,
        flags             text[] NOT NULL DEFAULT '{}',
        created_by        uuid,
        body_hash         bytea,
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_venue_inspections PRIMARY KEY (id),
        CONSTRAINT fk_venue_inspections_venue_id_venues FOREIGN KEY (venue_id) REFERENCES venues (id),
        CONSTRAINT fk_venue_inspections_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_venue_inspections_inspector_id_users FOREIGN KEY (inspector_id) REFERENCES users (id),
        CONSTRAINT ck_venue_inspections_fine_not_negative CHECK (fine_yuan IS NULL OR fine_yuan >= 0)
    );
    CREATE INDEX ix_venue_inspections_venue_id_inspected_at ON venue_inspections (venue_id, inspected_at);
    CREATE INDEX ix_venue_inspections_jurisdiction_code_inspected_at ON venue_inspections (jurisdiction_code, inspected_at);
    CREATE INDEX ix_venue_inspections_inspected_at_id ON venue_inspections (inspected_at, id);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE venue_inspections;
    DROP TABLE venues;
    DROP TABLE hazard_photos;
    DROP TABLE hazard_log;
    DROP TABLE hazards;
    """):
        op.execute(statement)
