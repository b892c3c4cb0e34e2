"""Scoring policies belong to a jurisdiction: a key `name@vN` is unique per jurisdiction and inherited by the
jurisdictions below it unless they define their own. `jurisdiction_code = ''` marks the built-in policies every
jurisdiction sees (the 1/3/5 rule).

Revision ID: 0013_policy_scopes
Revises: 0012_stream_leases
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0013_policy_scopes"
down_revision = "0012_stream_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    ALTER TABLE scoring_policies ADD COLUMN jurisdiction_code varchar(32) NOT NULL DEFAULT '';
    ALTER TABLE scoring_policies DROP CONSTRAINT pk_scoring_policies;
    ALTER TABLE scoring_policies ADD CONSTRAINT pk_scoring_policies PRIMARY KEY (jurisdiction_code, name, version);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DELETE FROM scoring_policies WHERE jurisdiction_code <> '';
    ALTER TABLE scoring_policies DROP CONSTRAINT pk_scoring_policies;
    ALTER TABLE scoring_policies DROP COLUMN jurisdiction_code;
    ALTER TABLE scoring_policies ADD CONSTRAINT pk_scoring_policies PRIMARY KEY (name, version);
    """):
        op.execute(statement)
