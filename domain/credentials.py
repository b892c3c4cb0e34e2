"""Credentials: access tokens (JWT), rotating refresh tokens, dashboard API keys, login throttling.

- A login is a session (`auth_sessions`): its refresh tokens are one family, its access tokens carry its id as
  `sid`. Revoking the session — logout, a reused refresh token, a password change, deactivation — ends every
  token of that login at once, on every worker (the caller cache is cleared cluster-wide by NOTIFY).
- Access tokens are HS256 JWTs with `sub`, `sid`, `iat`, `exp`, `jti`, `iss`, `aud`; the user and the session
  are looked up on every request (through a short in-process cache that every write here invalidates), so a
  deactivated user or a revoked token stops working at once.
- Refresh tokens are random, stored only as SHA-256, single-use: using one issues the next of the same
  family; presenting a used one again revokes the whole session (someone copied it), access tokens included.
- API keys are `hx_<prefix>_<secret>`, stored as HMAC-SHA256 with the server key, so checking one is a
  keyed hash and an indexed lookup, never argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from domain.paging import decode_cursor, page_of
from domain.settings import Settings

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX_LEN = 8
CALLER_CACHE_TTL_S = 60.0


# --- access tokens ---------------------------------------------------------------------------------

def issue_access_token(settings: Settings, *, user_id: uuid.UUID, session_id: uuid.UUID,
                       now: datetime | None = None) -> tuple[str, int]:
    """A signed access token for the user's session (login) and its lifetime in seconds."""
    now = now or datetime.now(UTC)
    ttl = settings.access_token_ttl_s
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": str(uuid.uuid4()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.resolved_jwt_secret(), algorithm=JWT_ALGORITHM), ttl


def read_access_token(settings: Settings, token: str) -> dict:
    """The claims of a valid token; expired, forged, `alg: none` or foreign-audience tokens are refused."""
    try:
        return jwt.decode(
            token,
            settings.resolved_jwt_secret(),
            algorithms=[JWT_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "sid", "jti", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the access token is not valid") from exc


# --- the caller cache ------------------------------------------------------------------------------

class CallerCache:
    """Who a token or key belongs to, remembered until a credential changes anywhere in the cluster.

    Every credential write (logout, revoked key or login, deactivated user, new password or role) calls
    `changed`, which clears this process' cache and NOTIFYs `huxiao_credentials` in the write's transaction; each
    worker's listener (api/stream.py) clears its own cache when the notification arrives, right after the
    commit. A worker whose listener is not connected could miss one, so its cache is off (`enabled` false) until
    the listener is back, and every request asks the database. `ttl_s` bounds an entry's life all the same.
    """

    def __init__(self, ttl_s: float = CALLER_CACHE_TTL_S):
        self.ttl_s = ttl_s
        self._entries: dict[object, tuple[float, Caller]] = {}
        self.generation = 0
        self.enabled = False

    def get(self, key: object) -> Caller | None:
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, key: object, caller: Caller, *, generation: int) -> None:
        """Remember `caller`, unless the cache was cleared since its row was read (`generation` has moved on):
        that row may predate the change that cleared it."""
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_s, caller)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def listening(self, connected: bool) -> None:
        """The listener (re)connected or lost its connection: start from an empty cache either way."""
        self.clear()
        self.enabled = connected


CREDENTIALS_CHANNEL = "huxiao_credentials"


async def changed(db: Db) -> None:
    """A credential changed: forget cached callers here now, and on every worker when the write commits."""
    CALLERS.clear()
    await db.execute(NOTIFY_CHANGED)


NOTIFY_CHANGED = Query(f"SELECT pg_notify('{CREDENTIALS_CHANNEL}', '')")


CALLERS = CallerCache()

USER_CALLER = Query("""
    SELECT u.id, u.username, u.role, u.unit_type, u.jurisdiction_code, j.path::text AS path
    FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
    WHERE u.id = :id AND u.active
      AND EXISTS (SELECT 1 FROM auth_sessions s WHERE s.id = :sid AND s.user_id = u.id AND s.revoked_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = :jti)
""")


async def caller_from_token(db: Db, settings: Settings, token: str, *, request_id: str | None) -> Caller:
    """The caller a bearer token speaks for; 401 when the token or its user is no longer good."""
    # A token seen in the last few seconds skips signature checking; its expiry is still enforced.
    hit = CALLERS.get(("jwt", token))
    if hit is not None and hit.token_exp is not None and hit.token_exp > time.time():
        return hit.for_request(request_id)
    generation = CALLERS.generation
    claims = read_access_token(settings, token)
    try:
        user_id, jti, sid = uuid.UUID(claims["sub"]), uuid.UUID(claims["jti"]), uuid.UUID(claims["sid"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise Unauthorized("the access token is not valid") from exc
    row = await db.fetchrow(USER_CALLER, {"id": user_id, "jti": jti, "sid": sid})
    if row is None:
        raise Unauthorized("the user is inactive, or the token or its login was revoked")
    cached = Caller(kind="user", id=row["id"], name=row["username"], role=Role(row["role"]),
                    jurisdiction_code=row["jurisdiction_code"], scope_path=row["path"],
                    unit_type=row["unit_type"], token_jti=jti, token_exp=claims["exp"], session_id=sid)
    CALLERS.put(("jwt", token), cached, generation=generation)
    return cached.for_request(request_id)


# --- login throttling ------------------------------------------------------------------------------
#
# Failed sign-ins count per (account, address), so a stranger who guesses an officer's username locks only
# himself out, never the officer signing in from elsewhere; and per address over all accounts (the row with
# account `*`), so one address cannot try many accounts. Each attempt claims its place in one statement
# (INSERT … ON CONFLICT DO UPDATE takes the row lock) before the password is checked, so parallel attempts
# across workers cannot slip past the limit together; a success gives the place back.

ANY_ACCOUNT = "*"

CLAIM_ATTEMPT = Query("""
    WITH k AS (SELECT CAST(:limit AS int) AS account_limit, CAST(:addr_limit AS int) AS address_limit,
                      make_interval(secs => CAST(:window AS float8)) AS win,
                      CAST(:base AS float8) AS base_s, make_interval(secs => CAST(:cap AS float8)) AS cap)
    INSERT INTO login_throttle AS t (username, client_addr, failures, last_at, locked_until)
    SELECT x.username, :addr, 1, now(), NULL FROM unnest(CAST(:names AS text[])) AS x(username)
    ON CONFLICT (username, client_addr) DO UPDATE SET
        failures = CASE WHEN t.last_at < now() - (SELECT win FROM k) THEN 1 ELSE t.failures + 1 END,
        last_at = now(),
        locked_until = (
            SELECT CASE
                WHEN t.last_at < now() - k.win THEN NULL
                WHEN t.failures + 1 >= lim THEN now() + LEAST(
                    make_interval(secs => k.base_s * power(2, LEAST(t.failures + 1 - lim, 16))), k.cap)
                END
            FROM k, LATERAL (SELECT CASE WHEN t.username = '*' THEN k.address_limit ELSE k.account_limit END
                             AS lim) l)
    WHERE t.locked_until IS NULL OR t.locked_until <= now()
    RETURNING t.username
""")

LOCKED_UNTIL = Query("""
    SELECT max(locked_until) FROM login_throttle
    WHERE username = ANY(CAST(:names AS text[])) AND client_addr = :addr AND locked_until > now()
""")

GIVE_BACK = Query("""
    WITH pair AS (DELETE FROM login_throttle WHERE username = :name AND client_addr = :addr)
    UPDATE login_throttle SET failures = GREATEST(failures - 1, 0)
    WHERE username = '*' AND client_addr = :addr
""")


def _account(username: str) -> str:
    return username.lower()[:64]


async def claim_login_attempt(db: Db, settings: Settings, *, username: str, client_addr: str) -> None:
    """Count this sign-in attempt against (account, address) and the address before checking the password;
    429 with Retry-After while either is locked. Each failure past `login_max_failures` doubles the lock,
    from `login_backoff_s` up to `login_window_s`."""
    if _account(username) == ANY_ACCOUNT:
        raise Unauthorized("wrong username or password, or the account is inactive")
    names = [_account(username), ANY_ACCOUNT]
    claimed = await db.fetch(CLAIM_ATTEMPT, {
        "names": names, "addr": client_addr[:64], "window": settings.login_window_s,
        "limit": settings.login_max_failures, "addr_limit": settings.login_max_failures * 4,
        "base": settings.login_backoff_s, "cap": settings.login_window_s})
    if len(claimed) < len(names):
        until = await db.fetchval(LOCKED_UNTIL, {"names": names, "addr": client_addr[:64]})
        retry = int((until - datetime.now(UTC)).total_seconds()) + 1 if until else 1
        raise TooManyRequests("too many failed sign-ins from this address; wait before trying again",
                              retry_after_s=max(1, retry))


async def login_succeeded(db: Db, *, username: str, client_addr: str) -> None:
    """The attempt was the owner's: forget the pair's failures and give the address its attempt back."""
    await db.execute(GIVE_BACK, {"name": _account(username), "addr": client_addr[:64]})


# --- refresh tokens --------------------------------------------------------------------------------

def _sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def start_session(db: Db, *, user_id: uuid.UUID) -> uuid.UUID:
    """A new login of the user: the id its refresh tokens share and its access tokens carry."""
    session_id = uuid.uuid4()
    await db.execute("INSERT INTO auth_sessions (id, user_id) VALUES (:id, :user_id)",
                     {"id": session_id, "user_id": user_id})
    return session_id


async def issue_refresh_token(db: Db, settings: Settings, *, user_id: uuid.UUID,
                              family_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    await db.execute("""
        INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
        VALUES (:id, :family, :user_id, :hash, now() + make_interval(secs => :ttl))
    """, {"id": uuid.uuid4(), "family": family_id, "user_id": user_id,
           "hash": _sha256(token), "ttl": settings.refresh_token_ttl_s})
    return token


@dataclass(frozen=True)
class RefreshOutcome:
    user_id: uuid.UUID | None
    family_id: uuid.UUID | None
    reused: bool = False


async def use_refresh_token(db: Db, *, token: str) -> RefreshOutcome:
    """Spend a refresh token once. A second use marks the family revoked (the caller commits that)."""
    row = await db.fetchrow("""
        SELECT r.id, r.family_id, r.user_id, r.used_at, r.revoked_at, r.expires_at < now() AS expired, u.active
        FROM refresh_tokens r JOIN users u ON u.id = r.user_id
        WHERE r.token_hash = :hash
        FOR UPDATE OF r
    """, {"hash": _sha256(token)})
    if row is None:
        raise Unauthorized("unknown refresh token")
    if row["used_at"] is not None or row["revoked_at"] is not None:
        await revoke_family(db, family_id=row["family_id"], reason="refresh_reused")
        return RefreshOutcome(user_id=row["user_id"], family_id=row["family_id"], reused=True)
    if row["expired"] or not row["active"]:
        raise Unauthorized("the refresh token has expired or its user is inactive")
    await db.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = :id", {"id": row["id"]})
    return RefreshOutcome(user_id=row["user_id"], family_id=row["family_id"])


REVOKE_SESSION = Query("""
    WITH s AS (
        UPDATE auth_sessions SET revoked_at = now(), revoked_reason = :reason
        WHERE id = :family AND revoked_at IS NULL
    )
    UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :family AND revoked_at IS NULL
""")


async def revoke_family(db: Db, *, family_id: uuid.UUID, reason: str) -> None:
    """End a login: its refresh tokens and (through `sid`) its access tokens, on every worker."""
    await db.execute(REVOKE_SESSION, {"family": family_id, "reason": reason})
    await changed(db)


async def logout(db: Db, settings: Settings, *, caller: Caller, refresh_token: str | None) -> None:
    """End the login in use — its access tokens and refresh tokens — and, when a refresh token of another of
    the caller's logins is given, that one too."""
    if caller.token_jti is not None:
        await db.execute("""
            INSERT INTO revoked_access_tokens (jti, expires_at)
            VALUES (:jti, now() + make_interval(secs => :ttl)) ON CONFLICT DO NOTHING
        """, {"jti": caller.token_jti, "ttl": settings.access_token_ttl_s})
    if caller.session_id is not None:
        await revoke_family(db, family_id=caller.session_id, reason="logout")
    if refresh_token:
        family = await db.fetchval("SELECT family_id FROM refresh_tokens WHERE token_hash = :h AND user_id = :u",
                                   {"h": _sha256(refresh_token), "u": caller.user_id})
        if family and family != caller.session_id:
            await revoke_family(db, family_id=family, reason="logout")
    await changed(db)


REVOKE_USER_SESSIONS = Query("""
    WITH s AS (
        UPDATE auth_sessions SET revoked_at = now(), revoked_reason = :reason
        WHERE user_id = :u AND revoked_at IS NULL AND id IS DISTINCT FROM CAST(:keep AS uuid)
    )
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE user_id = :u AND revoked_at IS NULL AND family_id IS DISTINCT FROM CAST(:keep AS uuid)
""")


async def revoke_all_for_user(db: Db, *, user_id: uuid.UUID, reason: str,
                              keep_session: uuid.UUID | None = None) -> None:
    """End every login of the user (but `keep_session`, the one changing its own password), tokens included."""
    await db.execute(REVOKE_USER_SESSIONS, {"u": user_id, "reason": reason, "keep": keep_session})
    await changed(db)


# --- API keys --------------------------------------------------------------------------------------

def _key_hash(settings: Settings, key: str) -> bytes:
    return hmac.new(settings.resolved_jwt_secret().encode(), key.encode(), hashlib.sha256).digest()


KEY_ROLES = (Role.viewer, Role.commander)
KEY_COMMANDER_MAX_DAYS = 366

API_KEY_COLUMNS = "k.id, k.prefix, k.name, k.role, k.jurisdiction_code, k.created_at, k.expires_at, k.revoked_at, k.last_used_at"


async def create_api_key(
    db: Db,
    settings: Settings,
    *,
    caller: Caller,
    name: str,
    jurisdiction_code: str,
    role: Role = Role.viewer,
    expires_at: datetime | None = None,
) -> tuple[dict, str]:
    """A new key for a dashboard; the full key is returned once and stored only as a keyed hash."""
    caller.require(Role.admin)
    await jurisdictions.in_scope(db, caller=caller, code=jurisdiction_code)
    if role not in KEY_ROLES:
        raise InvalidInput("an API key reads for a dashboard: its role is viewer or commander (never admin or "
                           "officer)", field="role")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if role is Role.commander and (expires_at is None
                                   or expires_at > datetime.now(UTC) + timedelta(days=KEY_COMMANDER_MAX_DAYS)):
        raise InvalidInput(f"a commander key (it reads officers' positions) needs an end date within "
                           f"{KEY_COMMANDER_MAX_DAYS} days", field="expires_at")
    prefix = secrets.token_hex(API_KEY_PREFIX_LEN // 2)
    key = f"hx_{prefix}_{secrets.token_urlsafe(32)}"
    key_id = uuid.uuid4()
    row = await db.fetchrow(f"""
        INSERT INTO api_keys AS k (id, prefix, key_hash, name, role, jurisdiction_code, created_by, expires_at)
        VALUES (:id, :prefix, :hash, :name, :role, :jurisdiction_code, :created_by, :expires_at)
        RETURNING {API_KEY_COLUMNS}
    """, {"id": key_id, "prefix": prefix, "hash": _key_hash(settings, key), "name": name, "role": role.value,
           "jurisdiction_code": jurisdiction_code, "created_by": caller.user_id,
           "expires_at": expires_at})
    await audit.record(db, caller=caller, entity="api_key", entity_id=key_id, action="create",
                       jurisdiction_code=jurisdiction_code, changes={"name": name, "role": role.value,
                                                                     "prefix": prefix})
    return dict(row), key


async def list_api_keys(db: Db, *, caller: Caller, limit: int, cursor: str | None
                        ) -> tuple[list[dict], str | None]:
    caller.require(Role.admin)
    after = decode_cursor(cursor, arity=1)
    rows = await db.fetch(f"""
        SELECT {API_KEY_COLUMNS} FROM api_keys k JOIN jurisdictions j ON j.code = k.jurisdiction_code
        WHERE j.path <@ CAST(:scope AS ltree) AND (CAST(:after AS text) IS NULL OR k.prefix > :after)
        ORDER BY k.prefix LIMIT :limit_plus_one
    """, {"scope": caller.scope_path, "after": after[0] if after else None,
           "limit_plus_one": limit + 1})
    return page_of([dict(r) for r in rows], limit=limit, key=lambda r: [r["prefix"]])


async def revoke_api_key(db: Db, *, caller: Caller, key_id: uuid.UUID) -> dict:
    caller.require(Role.admin)
    row = await db.fetchrow(f"""
        UPDATE api_keys AS k SET revoked_at = COALESCE(k.revoked_at, now())
        FROM jurisdictions j
        WHERE k.id = :id AND j.code = k.jurisdiction_code AND j.path <@ CAST(:scope AS ltree)
        RETURNING {API_KEY_COLUMNS}
    """, {"id": key_id, "scope": caller.scope_path})
    if row is None:
        raise NotFound(f"no API key {key_id}")
    await audit.record(db, caller=caller, entity="api_key", entity_id=key_id, action="revoke",
                       jurisdiction_code=row["jurisdiction_code"])
    await changed(db)
    return dict(row)


async def caller_from_api_key(db: Db, settings: Settings, key: str, *, request_id: str | None) -> Caller:
    """The dashboard a key speaks for; 401 for unknown, revoked or expired keys."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "hx" or len(parts[1]) != API_KEY_PREFIX_LEN:
        raise Unauthorized("the API key is not valid")
    digest = _key_hash(settings, key)
    cached = CALLERS.get(("key", digest))
    if cached is not None and cached.token_exp is not None and cached.token_exp <= time.time():
        cached = None  # a key with an end date (a share link) stops at it, cached or not
    if cached is None:
        generation = CALLERS.generation
        row = await db.fetchrow("""
            SELECT k.id, k.key_hash, k.name, k.role, k.jurisdiction_code, j.path::text AS path, k.expires_at
            FROM api_keys k JOIN jurisdictions j ON j.code = k.jurisdiction_code
            LEFT JOIN users maker ON maker.id = k.created_by
            WHERE k.prefix = :prefix AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
              AND k.role IN ('viewer', 'commander')
              -- a key made by a person ends with that person's admin rights (deactivated or no longer admin)
              AND (k.created_by IS NULL OR (maker.active AND maker.role = 'admin'))
        """, {"prefix": parts[1]})
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            raise Unauthorized("the API key is not valid, revoked or expired")
        expires = row["expires_at"]
        cached = Caller(kind="api_key", id=row["id"], name=row["name"], role=Role(row["role"]),
                        jurisdiction_code=row["jurisdiction_code"], scope_path=row["path"],
                        token_exp=int(expires.timestamp()) if expires is not None else None)
        CALLERS.put(("key", digest), cached, generation=generation)
    return cached.for_request(request_id)
