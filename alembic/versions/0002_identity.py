"""Identity and jurisdictions: the jurisdiction tree, users, tokens, API keys, login failures, audit log.

Revision ID: 0002_identity
Revises: 0001_platform
Create Date: 2026-11-30
"""

from alembic import op

from domain.schema import sql_statements

revision = "0002_identity"
down_revision = "0001_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("""
    CREATE TABLE jurisdictions (
        code        varchar(32) NOT NULL,
        name        varchar(200) NOT NULL,
        level       varchar(20) NOT NULL,
        parent_code varchar(32),
        path        ltree NOT NULL,
        time_zone   varchar(64) NOT NULL DEFAULT 'Asia/Shanghai',
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_jurisdictions PRIMARY KEY (code),
        CONSTRAINT fk_jurisdictions_parent_code_jurisdictions FOREIGN KEY (parent_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_jurisdictions_code_charset CHECK (code ~ '^[A-Za-z0-9_]{2,32}$'),
        CONSTRAINT ck_jurisdictions_level_known
            CHECK (level IN ('province','city','county','district','township','street','station','other'))
    );
    CREATE INDEX ix_jurisdictions_path ON jurisdictions USING gist (path);
    CREATE INDEX ix_jurisdictions_parent_code ON jurisdictions (parent_code);

    CREATE TABLE users (
        id                uuid NOT NULL,
        username          varchar(64) NOT NULL,
        display_name      varchar(200) NOT NULL,
        role              varchar(16) NOT NULL,
        unit_type         varchar(16) NOT NULL DEFAULT 'police',
        jurisdiction_code varchar(32) NOT NULL,
        phone             varchar(32),
        active            boolean NOT NULL DEFAULT true,
        password_hash     text NOT NULL,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_users PRIMARY KEY (id),
        CONSTRAINT fk_users_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT ck_users_role_known CHECK (role IN ('admin','commander','officer','viewer')),
        CONSTRAINT ck_users_unit_type_known CHECK (unit_type IN ('guard','auxiliary','police','volunteer'))
    );
    CREATE UNIQUE INDEX uq_users_username_lower ON users (lower(username));
    CREATE INDEX ix_users_jurisdiction_code ON users (jurisdiction_code);

    CREATE TABLE refresh_tokens (
        id          uuid NOT NULL,
        family_id   uuid NOT NULL,
        user_id     uuid NOT NULL,
        token_hash  bytea NOT NULL,
        expires_at  timestamptz NOT NULL,
        used_at     timestamptz,
        revoked_at  timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_refresh_tokens PRIMARY KEY (id),
        CONSTRAINT fk_refresh_tokens_user_id_users FOREIGN KEY (user_id) REFERENCES users (id),
        CONSTRAINT uq_refresh_tokens_token_hash UNIQUE (token_hash)
    );
    CREATE INDEX ix_refresh_tokens_family_id ON refresh_tokens (family_id);
    CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);

    CREATE TABLE revoked_access_tokens (
        jti        uuid NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT pk_revoked_access_tokens PRIMARY KEY (jti)
    );

    CREATE TABLE api_keys (
        id                uuid NOT NULL,
        prefix            varchar(16) NOT NULL,
        key_hash          bytea NOT NULL,
        name              varchar(200) NOT NULL,
        role              varchar(16) NOT NULL DEFAULT 'viewer',
        jurisdiction_code varchar(32) NOT NULL,
        created_by        uuid,
        created_at        timestamptz NOT NULL DEFAULT now(),
        expires_at        timestamptz,
        revoked_at        timestamptz,
        last_used_at      timestamptz,
        CONSTRAINT pk_api_keys PRIMARY KEY (id),
        CONSTRAINT uq_api_keys_prefix UNIQUE (prefix),
        CONSTRAINT fk_api_keys_jurisdiction_code_jurisdictions FOREIGN KEY (jurisdiction_code) REFERENCES jurisdictions (code),
        CONSTRAINT fk_api_keys_created_by_users FOREIGN KEY (created_by) REFERENCES users (id),
        CONSTRAINT ck_api_keys_role_known CHECK (role IN ('admin','commander','officer','viewer'))
    );

    CREATE TABLE login_failures (
        id          serial NOT NULL,
        username    varchar(64) NOT NULL,
        client_addr varchar(64) NOT NULL,
        at          timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_login_failures PRIMARY KEY (id)
    );
    CREATE INDEX ix_login_failures_username_at ON login_failures (lower(username), at);
    CREATE INDEX ix_login_failures_client_addr_at ON login_failures (client_addr, at);

    CREATE TABLE audit_log (
        id                serial NOT NULL,
        at                timestamptz NOT NULL DEFAULT now(),
        actor_kind        varchar(16) NOT NULL,
        actor_id          varchar(64),
        actor_name        varchar(200),
        jurisdiction_code varchar(32),
        entity            varchar(40) NOT NULL,
        entity_id         varchar(64) NOT NULL,
        action            varchar(40) NOT NULL,
        changes           jsonb NOT NULL DEFAULT '{}'::jsonb,
        request_id        varchar(128),
        CONSTRAINT pk_audit_log PRIMARY KEY (id)
    );
    CREATE INDEX ix_audit_log_entity_entity_id ON audit_log (entity, entity_id);
    CREATE INDEX ix_audit_log_at ON audit_log (at);
    """):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements("""
    DROP TABLE audit_log; DROP TABLE login_failures; DROP TABLE api_keys; DROP TABLE revoked_access_tokens;
    DROP TABLE refresh_tokens; DROP TABLE users; DROP TABLE jurisdictions;
    """):
        op.execute(statement)
