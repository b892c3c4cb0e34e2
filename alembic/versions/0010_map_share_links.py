"""Share links: which API keys were minted as expiring, read-only links to the map (a viewer key with an end
date, usable in a URL). The key itself stays in `api_keys`, so revoking and expiring work as for any key.

Revision ID: 0010_map_share_links
Revises: 0009_tenant_safety
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0010_map_share_links"
down_revision = "0009_tenant_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE share_links (
        api_key_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_share_links PRIMARY KEY (api_key_id),
        CONSTRAINT fk_share_links_api_key_id_api_keys FOREIGN KEY (api_key_id) REFERENCES api_keys (id)
    );
    """):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE share_links")
