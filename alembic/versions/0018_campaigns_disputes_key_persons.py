"""Campaigns (专项行动) with their period, covered jurisdictions, report due dates and scoring policies; disputes
(矛盾纠纷) involving a school; key persons (重点人员) with identity numbers encrypted at rest, and their visit log;
settled shifts' duty verdicts, judged once for campaign reports.

Revision ID: 0018_campaigns_key_persons
Revises: 0017_ledgers_hazards_venues
Create Date: 2026-12-05
"""

from alembic import op

from domain.schema import sql_statements

revision = "0018_campaigns_key_persons"
down_revision = "0017_ledgers_hazards_venues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE campaigns (
        id                 uuid NOT NULL,
        jurisdiction_code  varchar(32) NOT NULL,
        name               varchar(200) NOT NULL,
        description        varchar(4000),
        starts_on          date NOT NULL,
        ends_on            date NOT NULL,
        jurisdiction_codes varchar(32)[] NOT NULL,
        report_dues        jsonb NOT NULL DEFAULT '[]'::jsonb,
        policy_keys        varchar(40)[] NOT NULL DEFAULT '{1-3-5@v1}',
        created_by         uuid,
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_campaigns PRIMARY KEY (id),
        CONSTRAINT fk_campaigns_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code)
            REFERENCES jurisdictions (code),
        CONSTRAINT ck_campaigns_ends_after_start CHECK (ends_on >= starts_on)
    );
    CREATE INDEX ix_campaigns_jurisdiction_code_starts_on ON campaigns (jurisdiction_code, starts_on);

    CREATE TABLE disputes (
        id                     uuid NOT NULL,
        jurisdiction_code      varchar(32) NOT NULL,
        school_id              uuid NOT NULL,
        kind                   varchar(24) NOT NULL,
        parties                jsonb NOT NULL DEFAULT '[]'::jsonb,
        summary                varchar(4000),
        mediation_status       varchar(12) NOT NULL DEFAULT 'registered',
        responsible_officer_id uuid,
        found_on               date NOT NULL,
        resolved_at            timestamptz,
        closing_note           varchar(2000),
        created_by             uuid,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_disputes PRIMARY KEY (id),
        CONSTRAINT fk_disputes_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code)
            REFERENCES jurisdictions (code),
        CONSTRAINT fk_disputes_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT fk_disputes_responsible_officer_id_users FOREIGN KEY (responsible_officer_id) REFERENCES users (id),
        CONSTRAINT ck_disputes_status_known
            CHECK (mediation_status IN ('registered','mediating','resolved','referred'))
    );
    CREATE INDEX ix_disputes_jurisdiction_code_created_at ON disputes (jurisdiction_code, created_at);
    CREATE INDEX ix_disputes_school_id ON disputes (school_id);

    CREATE TABLE key_persons (
        id                     uuid NOT NULL,
        jurisdiction_code      varchar(32) NOT NULL,
        school_id              uuid,
        category               varchar(32) NOT NULL,
        name                   varchar(100) NOT NULL,
        id_number_cipher       bytea NOT NULL,
        id_number_digest       bytea NOT NULL,
        id_number_masked       varchar(18) NOT NULL,
        address                varchar(500),
        risk_level             varchar(8) NOT NULL DEFAULT 'medium',
        control_measures       varchar(4000),
        responsible_officer_id uuid,
        status                 varchar(8) NOT NULL DEFAULT 'active',
        last_visit_at          timestamptz,
        created_by             uuid,
        created_at             timestamptz NOT NULL DEFAULT now(),
        updated_at             timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_key_persons PRIMARY KEY (id),
        CONSTRAINT fk_key_persons_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code)
            REFERENCES jurisdictions (code),
        CONSTRAINT fk_key_persons_school_id_schools FOREIGN KEY (school_id) REFERENCES schools (id),
        CONSTRAINT fk_key_persons_responsible_officer_id_users FOREIGN KEY (responsible_officer_id)
            REFERENCES users (id),
        CONSTRAINT ck_key_persons_risk_known CHECK (risk_level IN ('low','medium','high')),
        CONSTRAINT ck_key_persons_status_known CHECK (status IN ('active','closed'))
    );
    CREATE UNIQUE INDEX uq_key_persons_jurisdiction_code_id_number_digest
        ON key_persons (jurisdiction_code, id_number_digest);
    CREATE INDEX ix_key_persons_school_id ON key_persons (school_id);

    CREATE TABLE key_person_visits (
        id                      uuid NOT NULL,
        key_person_id           uuid NOT NULL,
        visited_at              timestamptz NOT NULL,
        visited_by              uuid,
        findings                varchar(4000),
        dangerous_items_found   boolean NOT NULL DEFAULT false,
        measures                varchar(2000),
        created_at              timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_key_person_visits PRIMARY KEY (id),
        CONSTRAINT fk_key_person_visits_key_person_id_key_persons FOREIGN KEY (key_person_id)
            REFERENCES key_persons (id),
        CONSTRAINT fk_key_person_visits_visited_by_users FOREIGN KEY (visited_by) REFERENCES users (id)
    );
    CREATE INDEX ix_key_person_visits_key_person_id_visited_at ON key_person_visits (key_person_id, visited_at);

    CREATE TABLE shift_verdicts (
        shift_id    uuid NOT NULL,
        cover_s     double precision NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        school_id   uuid NOT NULL,
        post_id     uuid NOT NULL,
        starts_at   timestamptz NOT NULL,
        ends_at     timestamptz NOT NULL,
        shift_created_at timestamptz NOT NULL,
        verdict     varchar(8) NOT NULL,
        coverage    numeric NOT NULL,
        computed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_shift_verdicts PRIMARY KEY (shift_id, cover_s),
        CONSTRAINT fk_shift_verdicts_shift_id_shifts FOREIGN KEY (shift_id) REFERENCES shifts (id) ON DELETE CASCADE
    );
    CREATE INDEX ix_shift_verdicts_jurisdiction_code_starts_at ON shift_verdicts (jurisdiction_code, starts_at);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE shift_verdicts;
    DROP TABLE key_person_visits;
    DROP TABLE key_persons;
    DROP TABLE disputes;
    DROP TABLE campaigns;
    """):
        op.execute(statement)
