"""The local PostgreSQL + PostGIS cluster that `make run` and `make test` manage under `.data/`.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` OS user and
every server command runs through `runuser`. When the checkout sits where that user cannot reach
(a 0700 home), the cluster lives under /var/lib/postgresql/huxiao/ and `.data/pg` links to it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_VERSION = "15"
FIRST_PORT = 55432
POSTGIS_PACKAGE = f"postgresql-{PG_VERSION}-postgis-3"


class ClusterError(RuntimeError):
    pass


def pg_bin(name: str) -> str:
    for candidate in (Path(f"/usr/lib/postgresql/{PG_VERSION}/bin") / name,):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} not found: install PostgreSQL {PG_VERSION} (apt-get install postgresql-{PG_VERSION})")
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else argv


def _run(argv: list[str], *, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def postgis_available() -> bool:
    """True when the `postgis` extension can be created by this PostgreSQL."""
    sharedir = _run([pg_bin("pg_config"), "--sharedir"], check=False).stdout.strip() if shutil.which(
        "pg_config") or Path(f"/usr/lib/postgresql/{PG_VERSION}/bin/pg_config").exists() else ""
    candidates = [Path(sharedir) / "extension" / "postgis.control"] if sharedir else []
    candidates.append(Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control"))
    return any(p.exists() for p in candidates)


def ensure_postgis(echo=print) -> None:
    """Install PostGIS with apt when it is missing and we are root; otherwise say what to install."""
    if postgis_available():
        return
    if not _is_root() or not shutil.which("apt-get"):
        raise ClusterError(f"PostGIS is missing: install {POSTGIS_PACKAGE} (e.g. sudo apt-get install -y {POSTGIS_PACKAGE}) "
                           "or point DATABASE_URL at a PostGIS server.")
    echo(f"PostGIS missing: apt-get update && apt-get install -y {POSTGIS_PACKAGE}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", POSTGIS_PACKAGE]):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    if not postgis_available():
        raise ClusterError(f"{POSTGIS_PACKAGE} installed but postgis.control is still missing")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reachable_by_postgres(path: Path) -> bool:
    if not _is_root():
        return True
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)]).returncode == 0


@dataclass
class Cluster:
    """A cluster under `data_dir/pg`, listening on 127.0.0.1 only, with trust for local TCP."""

    data_dir: Path
    port: int | None = None

    @property
    def link(self) -> Path:
        return self.data_dir / "pg"

    @property
    def port_file(self) -> Path:
        return self.data_dir / "pg.port"

    @property
    def log_file(self) -> Path:
        return self.pgdata.parent / "pg.log"

    @property
    def pgdata(self) -> Path:
        return self.link.resolve() / "data"

    def _choose_home(self) -> Path:
        """Where the cluster files live: `.data/pg` itself, or a folder `postgres` can reach."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.link.exists() or self.link.is_symlink():
            return self.link.resolve()
        if _reachable_by_postgres(self.data_dir):
            self.link.mkdir()
            return self.link
        digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        home = Path("/var/lib/postgresql/huxiao") / digest
        home.mkdir(parents=True, exist_ok=True)
        self.link.symlink_to(home)
        return home

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        home = self._choose_home()
        if self.initialised():
            return
        if _is_root():
            shutil.chown(home, "postgres", "postgres")
            parent = Path("/var/lib/postgresql/huxiao")
            if parent in home.parents:
                shutil.chown(parent, "postgres", "postgres")
        _run(_as_pg_user([pg_bin("initdb"), "-D", str(home / "data"), "-U", "postgres", "--auth=trust",
                          "-E", "UTF8", "--locale=C.UTF-8"]))

    def recorded_port(self) -> int | None:
        if self.port_file.exists():
            return int(self.port_file.read_text().strip())
        return None

    def running(self) -> bool:
        if not self.initialised():
            return False
        return _run(_as_pg_user([pg_bin("pg_ctl"), "-D", str(self.pgdata), "status"]), check=False).returncode == 0

    def start(self) -> int:
        """Start the cluster (initialising it the first time) and return its port."""
        self.init()
        if self.running():
            port = self.recorded_port()
            if port:
                return port
        port = self.port or self.recorded_port() or FIRST_PORT
        if not _port_free(port):
            if self.port:
                raise ClusterError(f"port {port} is taken; set HUXIAO_PG_PORT to another one")
            port = next(p for p in range(FIRST_PORT, FIRST_PORT + 200) if _port_free(p))
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=on")
        log = self.log_file
        _run(_as_pg_user([pg_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-o", opts, "-w", "-t", "60",
                          "start"]))
        self.port_file.write_text(str(port))
        self._wait(port)
        return port

    def _wait(self, port: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise ClusterError(f"PostgreSQL did not start listening on 127.0.0.1:{port}; see {self.log_file}")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (or `immediate`: no checkpoint, recovered at the next start, as after a crash)."""
        if self.running():
            _run(_as_pg_user([pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"]))

    def url(self, dbname: str = "huxiao") -> str:
        port = self.recorded_port() or self.port or FIRST_PORT
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{dbname}"
