"""Webhooks: HTTPS endpoints an admin registers per jurisdiction, and the durable outbox of their deliveries.

An event published to the event log that a webhook subscribes to becomes one `webhook_deliveries` row per
matching webhook in the same transaction (domain/webhooks.py); delivery workers claim due rows with
`FOR UPDATE SKIP LOCKED`. The partial index on pending incident scores serves the sweep that announces
1/3/5 tiers whose deadline passed with no qualifying arrival.

Revision ID: 0016_webhooks_outbox
Revises: 0015_tracker_devices_calendar
Create Date: 2026-12-04
"""

from alembic import op

from domain.schema import sql_statements

revision = "0016_webhooks_outbox"
down_revision = "0015_tracker_devices_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE webhooks (
        id                uuid NOT NULL,
        jurisdiction_code varchar(32) NOT NULL,
        url               text NOT NULL,
        events            text[] NOT NULL,
        description       varchar(200),
        secret_enc        bytea NOT NULL,
        active            boolean NOT NULL DEFAULT true,
        created_by        uuid,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhooks PRIMARY KEY (id),
        CONSTRAINT fk_webhooks_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code)
            REFERENCES jurisdictions (code)
    );
    CREATE INDEX ix_webhooks_jurisdiction_code ON webhooks (jurisdiction_code);
    CREATE TABLE webhook_deliveries (
        id               uuid NOT NULL,
        webhook_id       uuid NOT NULL,
        event_key        varchar(64) NOT NULL,
        event            varchar(40) NOT NULL,
        body             text NOT NULL,
        state            varchar(10) NOT NULL DEFAULT 'pending',
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        last_attempt_at  timestamptz,
        last_status_code integer,
        last_error       text,
        delivered_at     timestamptz,
        replays          integer NOT NULL DEFAULT 0,
        created_at       timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id),
        CONSTRAINT fk_webhook_deliveries_webhook_id_webhooks FOREIGN KEY (webhook_id)
            REFERENCES webhooks (id) ON DELETE CASCADE,
        CONSTRAINT uq_webhook_deliveries_webhook_id_event_key UNIQUE (webhook_id, event_key),
        CONSTRAINT ck_webhook_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))
    );
    CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX ix_webhook_deliveries_webhook_id_created_at_id ON webhook_deliveries (webhook_id, created_at, id);
    CREATE INDEX ix_incident_scores_pending ON incident_scores (incident_id)
        WHERE tier1_state = 'pending' OR tier2_state = 'pending' OR tier3_state = 'pending';
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP INDEX ix_incident_scores_pending;
    DROP TABLE webhook_deliveries;
    DROP TABLE webhooks;
    """):
        op.execute(statement)
