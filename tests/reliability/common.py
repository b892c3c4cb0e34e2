"""What the reliability suites share: throwaway databases and clusters, the server as a process group, people."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HUXIAO = str(Path(sys.executable).with_name("huxiao"))
PASSWORD = "reliability-pass-2026"
JWT_SECRET = "reliability-" + "r" * 40


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- databases ---------------------------------------------------------------------------------------

def server_url() -> str:
    """The PostgreSQL server the crash suite uses: DATABASE_URL, else the managed local cluster."""
    from cli.cluster import Cluster, ensure_postgis
    from domain.database import database_url
    from domain.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return database_url(settings)
    ensure_postgis()
    port = Cluster(settings.data_dir, port=settings.pg_port).start()
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"


def throwaway_database(server: str, prefix: str) -> str:
    """A new database `<prefix>_<random>` on `server`, migrated to the head; its URL."""
    from cli.databases import ensure_database, migrate

    name = f"{prefix}_{secrets.token_hex(4)}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    ensure_database(url)
    migrate(url)
    return url


class OutageCluster:
    """A PostgreSQL cluster of its own under /tmp/huxiao-outage-XXXX (reachable by the `postgres` OS user), made
    with the project's `cli.cluster.Cluster`, so that stopping it never touches anyone else's database."""

    def __init__(self) -> None:
        from cli.cluster import Cluster, ensure_postgis

        ensure_postgis()
        self.home = Path(tempfile.mkdtemp(prefix="huxiao-outage-", dir="/tmp"))
        self.home.chmod(0o755)
        self.cluster = Cluster(self.home, port=free_port())
        self.port = self.cluster.start()

    def url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{dbname}"

    def stop_immediate(self) -> None:
        """`pg_ctl stop -m immediate`: every backend ends at once, no checkpoint (a crash, recovered at start)."""
        self.cluster.stop(mode="immediate")

    def start(self) -> None:
        self.cluster.start()

    def _processes(self) -> list[int]:
        """The postmaster's pid, then its children's (backends and helpers): this cluster's processes only."""
        postmaster = int((self.cluster.pgdata / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP to the postmaster (first, so it forks nothing new) and its children: connections are accepted
        by the kernel and statements sent, but nothing answers (a frozen host, a cut-off network)."""
        self._frozen = self._processes()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(getattr(self, "_frozen", [])):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def remove(self) -> None:
        import shutil

        try:
            self.thaw()
            self.cluster.stop(mode="immediate")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


# --- the server as a process group ----------------------------------------------------------------------

class ServerGroup:
    """`huxiao serve --workers N` in a process group of its own, so that the whole group can be killed at once."""

    def __init__(self, database_url: str, *, workers: int = 2, extra_env: dict[str, str] | None = None,
                 log_path: Path | None = None):
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.data_dir = Path(tempfile.mkdtemp(prefix="huxiao-reliability-"))
        self.log_path = log_path or self.data_dir / "server.log"
        self.env = {**os.environ, "DATABASE_URL": database_url, "HUXIAO_JWT_SECRET": JWT_SECRET,
                    "HUXIAO_DATA_DIR": str(self.data_dir), "HUXIAO_LOG_LEVEL": "WARNING",
                    "HUXIAO_ACCESS_TOKEN_TTL_S": "21600", **(extra_env or {})}
        self.starts = 0

    def start(self) -> None:
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(
            [HUXIAO, "serve", "--no-prepare", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=REPO_ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        self.starts += 1

    def wait_ready(self, timeout_s: float = 120.0, path: str = "/healthz") -> float:
        """Seconds until `path` answers 200 (every worker binds the same socket; one answering is enough)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout_s} s; see {self.log_path}")

    def kill_group(self) -> None:
        """SIGKILL to the whole process group (supervisor and workers alike), then reap the supervisor."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        _wait_group_gone(self.proc.pid)
        self.proc = None

    def remove_files(self, *, keep: bool) -> None:
        """Remove the server's data directory and log, or say where they are (after a failed run)."""
        if keep:
            log(f"server log kept: {self.log_path}")
        else:
            import shutil

            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill_group()
        self.proc = None


def _wait_group_gone(pgid: int, timeout_s: float = 10.0) -> None:
    """Until no process of the group is left (killed workers are reaped by init once their parent is gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


# --- people --------------------------------------------------------------------------------------------

@dataclass
class Person:
    id: str
    username: str
    role: str
    unit_type: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def seed_people(url: str, *, code: str, officers: int, commanders: int = 1) -> list[Person]:
    """A county `code` and its people (officers are police, so they may arrive at any tier)."""
    from domain import jurisdictions, users
    from domain.callers import Role, UnitType
    from domain.database import connected, unit_of_work
    from domain.settings import Settings

    settings = Settings(database_url=url, jwt_secret=JWT_SECRET)
    people: list[Person] = []
    async with connected(settings, url=url) as pool, unit_of_work(pool) as db:
        await jurisdictions.ensure(db, new=jurisdictions.NewJurisdiction(code, "Reliability county", "county"))
        for role, count in (("commander", commanders), ("officer", officers)):
            for n in range(count):
                username = f"rel.{role}{n}.{code.lower()}"
                row = await users.ensure(db, new=users.NewUser(
                    username=username, display_name=f"{role} {n}", role=Role(role), jurisdiction_code=code,
                    password=PASSWORD, unit_type=UnitType.police))
                people.append(Person(str(row["id"]), username, role, "police"))
    return people


async def log_in(base_url: str, people: list[Person]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for p in people:
            r = await client.post("/v1/auth/token", data={"username": p.username, "password": PASSWORD})
            r.raise_for_status()
            p.token = r.json()["access_token"]


def write_results(name: str, figures: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return path


def run(main) -> None:
    """Run an async suite; exit 1 when it failed."""
    ok = asyncio.run(main())
    sys.exit(0 if ok else 1)
