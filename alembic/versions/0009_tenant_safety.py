"""Tenant-safe writes and credentials that really end.

- `checkins.place_code`: the jurisdiction of the school zone a check-in lies in, when that is not the
  jurisdiction the check-in belongs to (an officer checking in inside another jurisdiction's zone): that
  jurisdiction may read the record, which covers nothing there.
- `auth_sessions`: one row per login (a refresh-token family). Access tokens carry its id (`sid`); revoking the
  session (logout, reused refresh token, password change, deactivation) ends every token of that login at once.
- `login_throttle`: failed sign-ins counted per (account, address) and per address, claimed atomically before
  the password is checked, with exponential backoff; replaces `login_failures`.

Revision ID: 0009_tenant_safety
Revises: 0008_school_notify
Create Date: 2026-12-03
"""

from alembic import op

from domain.schema import sql_statements

revision = "0009_tenant_safety"
down_revision = "0008_school_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    ALTER TABLE checkins ADD COLUMN place_code varchar(32);

    CREATE TABLE auth_sessions (
        id         uuid NOT NULL,
        user_id    uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_reason varchar(40),
        CONSTRAINT pk_auth_sessions PRIMARY KEY (id),
        CONSTRAINT fk_auth_sessions_user_id_users FOREIGN KEY (user_id) REFERENCES users (id)
    );
    CREATE INDEX ix_auth_sessions_user_id ON auth_sessions (user_id);
    INSERT INTO auth_sessions (id, user_id, created_at, revoked_at, revoked_reason)
        SELECT family_id, min(CAST(user_id AS text))::uuid, min(created_at), max(revoked_at),
               CASE WHEN max(revoked_at) IS NOT NULL THEN 'migrated' END
        FROM refresh_tokens GROUP BY family_id;

    CREATE TABLE login_throttle (
        username     varchar(64) NOT NULL,
        client_addr  varchar(64) NOT NULL,
        failures     integer NOT NULL DEFAULT 0,
        last_at      timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz,
        CONSTRAINT pk_login_throttle PRIMARY KEY (username, client_addr)
    );
    DROP TABLE login_failures;
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE login_failures (
        id          serial NOT NULL,
        username    varchar(64) NOT NULL,
        client_addr varchar(64) NOT NULL,
        at          timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_login_failures PRIMARY KEY (id)
    );
    CREATE INDEX ix_login_failures_username_at ON login_failures (lower(username), at);
    CREATE INDEX ix_login_failures_client_addr_at ON login_failures (client_addr, at);
    DROP TABLE login_throttle;
    DROP TABLE auth_sessions;
    ALTER TABLE checkins DROP COLUMN place_code;
    """):
        op.execute(statement)
