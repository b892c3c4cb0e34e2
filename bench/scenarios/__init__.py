"""Scenarios by name. A scenario is a module with `NAME`, `TITLE` and `run(ctx, workers) -> Comparison`.

To add one (zone lookup, check-ins, incidents, ...): write `bench/scenarios/<name>.py` and list it in
`SCENARIOS` below. Use `ctx.server(...)` for app servers, `harness.http_variant` / `harness.pgbench_variant`
for what to measure and `ctx.compare(...)` to run them interleaved against a baseline of the same run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import harness
from bench.database import AuthFixture, bench_database_url, seed_auth


@dataclass
class Context:
    duration_s: float = 10.0
    repeats: int = 3
    warmup_s: float = 3.0
    connections: int = harness.DEFAULT_CONNECTIONS
    wrk_threads: int = 1
    breakdown: bool = True
    quiet_cores: float = 0.5
    quiet_wait_s: float = 20.0
    log_dir: Path = harness.RESULTS_DIR / "logs"
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    _db_url: str | None = None
    _auth: AuthFixture | None = None

    @property
    def db_url(self) -> str:
        """`huxiao_bench`, created and migrated on first use."""
        if self._db_url is None:
            self._db_url = bench_database_url()
        return self._db_url

    def auth(self) -> AuthFixture:
        """The bench jurisdiction, admin token and API key (seeded once per run)."""
        if self._auth is None:
            self._auth = seed_auth(self.db_url, jwt_secret=self.jwt_secret)
        return self._auth

    def server(self, app: str, *, workers: int, name: str | None = None, factory: bool = False,
               env: dict[str, str] | None = None) -> harness.Server:
        """A server on the bench database with the run's JWT secret (not started yet: use `with`)."""
        base = {"DATABASE_URL": self.db_url, "HUXIAO_JWT_SECRET": self.jwt_secret, "HUXIAO_LOG_LEVEL": "WARNING"}
        return harness.Server(app, name=name, workers=workers, factory=factory, env={**base, **(env or {})},
                              log_dir=self.log_dir)

    @property
    def db_name(self) -> str:
        return make_url(self.db_url).database

    def http(self, name: str, url: str, *, server: harness.Server | None = None, **kwargs) -> harness.Variant:
        """wrk on `url`; with `server`, also the CPU per request of that server and of the bench database."""
        return harness.http_variant(name, url, connections=self.connections, threads=self.wrk_threads,
                                    server=server, dbname=self.db_name if server else None, **kwargs)

    def compare(self, variants: list[harness.Variant], *, baseline: str, label: str) -> list[harness.Row]:
        return harness.compare(variants, baseline=baseline, repeats=self.repeats, duration_s=self.duration_s,
                               warmup_s=self.warmup_s, label=label, quiet_cores=self.quiet_cores,
                               quiet_wait_s=self.quiet_wait_s)


def _registry() -> dict:
    from bench.scenarios import auth, checkins, exports, incidents, ogc, peer, platform, trackers, zones

    return {m.NAME: m for m in (peer, platform, auth, zones, checkins, incidents, ogc, exports, trackers)}


SCENARIOS = _registry()
