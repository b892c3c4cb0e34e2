"""Each incident score carries the incident's fixed facts the statistics group and filter by (alarm time,
jurisdiction, first zone school, category), so `GET /v1/stats/response-times` reads one narrow table instead of
joining 10^6 incidents; a covering index holds every column they read. The facts never change after a report (PATCH changes only status and description), and
every score is written by one statement that copies them (`domain.policies.UPSERT_SCORES`).

Revision ID: 0014_score_facts
Revises: 0013_policy_scopes
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0014_score_facts"
down_revision = "0013_policy_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    ALTER TABLE incident_scores ADD COLUMN alarm_at timestamptz,
                                ADD COLUMN jurisdiction_code varchar(32),
                                ADD COLUMN school_id uuid,
                                ADD COLUMN category varchar(32);
    UPDATE incident_scores s
    SET alarm_at = i.alarm_at, jurisdiction_code = i.jurisdiction_code, school_id = i.zone_school_ids[1],
        category = i.category
    FROM incidents i WHERE i.id = s.incident_id;
    ALTER TABLE incident_scores ALTER COLUMN alarm_at SET NOT NULL,
                                ALTER COLUMN jurisdiction_code SET NOT NULL,
                                ALTER COLUMN category SET NOT NULL;
    CREATE INDEX ix_incident_scores_policy_key_alarm_at ON incident_scores (policy_key, alarm_at)
        INCLUDE (jurisdiction_code, school_id, category, tier1_state, tier2_state, tier3_state,
                 tier1_elapsed_s, tier2_elapsed_s, tier3_elapsed_s);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP INDEX ix_incident_scores_policy_key_alarm_at;
    ALTER TABLE incident_scores DROP COLUMN alarm_at, DROP COLUMN jurisdiction_code, DROP COLUMN school_id,
                                DROP COLUMN category;
    """):
        op.execute(statement)
