"""Settings read from the environment (and `.env`), documented in README.md."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUXIAO_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "HUXIAO_DATABASE_URL"),
        description="PostgreSQL+PostGIS URL; unset means the local cluster managed under HUXIAO_DATA_DIR.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "HUXIAO_PORT"))
    data_dir: Path = REPO_ROOT / ".data"
    pg_port: int | None = Field(default=None, description="Port of the managed local cluster (default: first free from 55432).")

    db_pool_size: int = Field(default=20, description="Connections kept open per worker process.")
    db_ingest_pool_size: int = Field(default=8, description="Connections per worker kept for check-in ingest, "
                                     "whose large statement runs with a generic plan.")
    db_listing_pool_size: int = Field(default=8, description="Connections per worker kept for listings planned "
                                      "for their own values (OGC items: a bbox may match 10 rows or 100,000).")
    db_pool_timeout_s: float = Field(default=5.0, description="How long a request waits for a free connection "
                                     "before it is answered 503.")
    db_pool_recycle_s: int = Field(default=1800, description="Close connections idle for longer than this.")
    db_connect_timeout_s: float = 3.0
    db_reconnect_max_s: float = Field(default=2.0, gt=0, le=60, description="Longest pause between attempts to "
                                      "reconnect each worker's listener (live feed, cache invalidations) while the "
                                      "database is away.")
    db_statement_timeout_ms: int = 30_000
    db_command_timeout_s: float | None = Field(
        default=None, gt=0, description="How long a statement waits for the database's answer before the request "
        "is answered 503 (a database that accepts connections but answers nothing: frozen, cut off); default the "
        "statement timeout + 2 s, so that PostgreSQL ends a merely slow statement first.")

    zone_index: bool = Field(default=True, description="Answer zone look-ups from an in-memory index of the "
                             "schools (kept fresh by LISTEN/NOTIFY); off: every look-up is a PostgreSQL query.")

    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024
    log_level: str = "INFO"
    retry_after_s: int = 5
    cors_origins: str = Field(default="", description="Comma-separated origins (e.g. `https://screen.example.org`) "
                              "whose pages may call the API from a browser; empty: none (same origin only).")
    stream_max_per_credential: int = Field(default=5, ge=1, description="Open live-feed streams one person or API "
                                           "key may hold at once, across all workers; more are answered 429.")
    metrics_token: str | None = Field(default=None, description="When set, /metrics wants `Authorization: Bearer "
                                      "<token>`; unset, it answers loopback clients only.")
    header_timeout_s: float = Field(default=10.0, gt=0, description="A request's line and headers must arrive "
                                    "within this (else 408 and the connection closes): slow clients are cut off.")
    body_timeout_s: float = Field(default=60.0, gt=0, description="A request's body must arrive within this "
                                  "after its headers.")

    gzip: bool = Field(default=True, description="Compress answers for clients that accept gzip (never the live "
                       "feed's Server-Sent Events).")
    gzip_min_bytes: int = Field(default=1024, ge=0, description="Answers smaller than this are sent uncompressed.")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain) for `huxiao serve` to speak "
                                  "HTTPS itself; with HUXIAO_TLS_KEY.")
    tls_key: Path | None = Field(default=None, description="PEM private key of HUXIAO_TLS_CERT.")
    proxy_headers: bool = Field(default=False, description="Behind a reverse proxy: take the client's address and "
                                "scheme from X-Forwarded-For / X-Forwarded-Proto, only from HUXIAO_FORWARDED_ALLOW_IPS.")
    forwarded_allow_ips: str = Field(default="127.0.0.1", description="Comma-separated addresses or networks of "
                                     "the proxies trusted for X-Forwarded-* headers (with HUXIAO_PROXY_HEADERS).")

    jwt_secret: str | None = Field(default=None, description="HS256 key; unset means one generated once under HUXIAO_DATA_DIR.")
    jwt_issuer: str = "huxiao"
    jwt_audience: str = "huxiao-api"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Password hashing (argon2id). The defaults are argon2-cffi's (RFC 9106's second recommendation: 64 MiB,
    # 3 passes); every hash stores its own parameters, so changing these affects new hashes only.
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    login_max_failures: int = 5
    login_window_s: int = 15 * 60
    login_backoff_s: int = 30

    # Duty and check-in judgement.
    checkin_clock_skew_s: int = 120
    checkin_poor_accuracy_m: float = 100.0
    checkin_stale_s: int = 15 * 60
    checkin_future_tolerance_s: int = 10 * 60
    checkin_max_age_s: int = 7 * 24 * 3600
    checkin_max_speed_mps: float = 50.0
    heartbeat_cover_s: int = 300
    duty_alert_grace_s: int = 300
    duty_sweep_interval_s: float = Field(default=60.0, description="How often the leader worker sweeps for "
                                         "uncovered posts (and makes partitions, prunes old events).")

    # Trackers: Traccar Client (OsmAnd protocol).
    tracker_path: str = Field(default="/osmand", pattern=r"^/[A-Za-z0-9_\-/]{1,64}$",
                              description="Path on the API's port where Traccar Client posts positions.")
    tracker_port: int | None = Field(default=None, ge=1, le=65535, description="When set, `huxiao serve` also "
                                     "listens on this port (Traccar's own is 5055) and answers every request "
                                     "there as a tracker position, whatever its path.")
    tracker_rate_limit: int = Field(default=120, ge=1, description="Positions one device may post per "
                                    "`tracker_rate_window_s`; more are answered 429 (the app retries later).")
    tracker_rate_window_s: int = Field(default=60, ge=1, le=3600)
    tracker_unknown_max: int = Field(default=10_000, ge=0, description="Unknown identifiers counted at most "
                                     "(beyond that, positions of new unknown identifiers are dropped uncounted).")

    # Incidents.
    arrival_max_distance_m: float = 150.0
    arrival_max_delay_s: int = 6 * 3600
    foot_speed_mps: float = 1.4
    vehicle_speed_mps: float = 8.0
    nearest_units_seen_within_s: int = 30 * 60

    # Webhooks (README "Webhooks").
    webhook_allow_http: bool = Field(default=False, description="Accept http:// webhook URLs (tests, a receiver "
                                     "on a trusted network); otherwise https:// only.")
    webhook_allow_private: bool = Field(default=False, description="Accept webhook hosts that resolve to "
                                        "loopback, private, link-local or reserved addresses.")
    webhook_secret_key: str | None = Field(default=None, description="Key the webhook secrets are encrypted "
                                           "with at rest; unset: derived from the JWT secret.")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="A delivery's whole request (connect, "
                                     "send, answer) must finish within this.")
    webhook_backoff_first_s: float = Field(default=10.0, gt=0, description="Delay before the second attempt; it "
                                           "doubles with each failure (with jitter) up to the cap.")
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0, description="Longest delay between attempts.")
    webhook_max_attempts: int = Field(default=16, ge=1, le=100, description="Attempts before a delivery is "
                                      "`failed` (it can be replayed).")
    webhook_concurrency: int = Field(default=8, ge=1, le=256, description="Deliveries one worker process sends "
                                     "at once.")
    webhook_poll_s: float = Field(default=5.0, gt=0, description="The delivery workers look for due deliveries "
                                  "this often besides waking on NOTIFY (retries come due by time).")
    webhook_dispatch: bool = Field(default=True, description="Run the delivery worker in this process.")

    # The map page (/map): a plain background unless a tile server is configured.
    map_tile_url: str | None = Field(default=None, description="Basemap tile URL template with {z}, {x}, {y} "
                                     "(and optionally {s}); unset: features on a plain background.")
    map_tile_datum: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="Datum the basemap is drawn in: gcj02 for AMap/Gaode and Tencent tiles; the "
        "page then shifts every feature from WGS-84 into GCJ-02 so it sits on the right street.")
    map_tile_attribution: str = Field(default="", max_length=500, description="Shown in the map's corner.")
    map_tile_subdomains: str = Field(default="abc", max_length=20, description="Values of {s} in the URL.")
    map_tile_max_zoom: int = Field(default=18, ge=1, le=22)

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://", "/")) or not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError("HUXIAO_MAP_TILE_URL must be an http(s) URL template with {z}, {x} and {y}")
        return value

    # Exports (CSV/XLSX).
    export_max_concurrent: int = Field(default=4, description="Exports a worker runs at once (each holds a "
                                       "database connection while it streams); more are answered 429.")
    export_statement_timeout_ms: int = Field(default=30 * 60 * 1000, description="Statement timeout of an "
                                             "export's query (a slow client slows the COPY down).")
    export_stall_timeout_s: float = Field(default=300.0, description="An export whose client takes nothing for "
                                          "this long is ended.")
    export_tmpdir: str | None = Field(default=None, description="Where XLSX files are built (default: the "
                                      "system's temporary directory).")

    def webhook_lease_s(self) -> float:
        """How long a claimed delivery stays claimed: past it, a delivery whose worker died is sent again."""
        return self.webhook_timeout_s * 2 + 5

    # Ledgers: hazard photos.
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest hazard photo accepted "
                                 "(`POST /v1/hazards/{id}/photos`); a bigger body is answered 413.")
    photo_dir: Path | None = Field(default=None, description="Directory the local-disk photo store keeps hazard "
                                   "photos in (default: `<data_dir>/photos`).")
    photo_max_pixels: int = Field(default=60_000_000, gt=0, description="Largest photo in pixels (width × "
                                  "height); a bigger one is refused as not an acceptable image (415).")

    def resolved_photo_dir(self) -> Path:
        return self.photo_dir or self.data_dir / "photos"

    # Key persons (issue 12): identity numbers are encrypted at rest with AES-256-GCM.
    pii_key: str | None = Field(default=None, description="32 bytes as URL-safe base64 (`python -c \"import "
                                "secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())\"`): "
                                "the key identity numbers are encrypted with. Unset: a development key generated "
                                "once under HUXIAO_DATA_DIR (`pii_key`); set one (and back it up) in production.")

    def command_timeout_s(self) -> float:
        return self.db_command_timeout_s or self.db_statement_timeout_ms / 1000 + 2

    def resolved_jwt_secret(self) -> str:
        """The signing key: the configured one, else one kept under the data directory."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        # Read once per settings object: this runs on every authenticated request.
        self.jwt_secret = path.read_text().strip()
        return self.jwt_secret


    def resolved_pii_key(self) -> bytes:
        """The 32-byte key for identity numbers: the configured one, else a development key kept under the data
        directory (generated on first use, mode 0600)."""
        import base64

        if not self.pii_key:
            path = self.data_dir / "pii_key"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
                path.chmod(0o600)
            self.pii_key = path.read_text().strip()
        try:
            key = base64.urlsafe_b64decode(self.pii_key + "=" * (-len(self.pii_key) % 4))
        except ValueError as exc:
            raise ValueError("HUXIAO_PII_KEY must be 32 bytes as URL-safe base64") from exc
        if len(key) != 32:
            raise ValueError("HUXIAO_PII_KEY must be 32 bytes as URL-safe base64")
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
