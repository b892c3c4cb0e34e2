"""The reusable core of the benchmarks.

- `Server`      an ASGI app under uvicorn in a subprocess on a free 127.0.0.1 port, ready once /healthz answers
- `wrk`         an HTTP load run (wrk with `--latency` and a Lua script for method, headers and body;
                a bounded async httpx client only when wrk cannot be installed) -> `Measurement`
- `pgbench`     a custom-script pgbench run (prepared mode) against a database -> `Measurement` (tps)
- `CpuMeter`    CPU per request of a server's processes and of the database's backends, read from /proc
- `compare`     variants measured in interleaved rounds (A, B, A, B, A, B) and summarised as medians,
                with ratios to a baseline measured in the same run -> rows of a `Comparison`; before each
                run it waits (bounded) for other work to leave the CPUs (`wait_for_quiet`)
- `Goal`, `markdown_table`, `write_results`

Every run is bounded in time (wrk/pgbench `-d`/`-T`, subprocess timeouts) and only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"

DEFAULT_CONNECTIONS = 32
DEFAULT_PGBENCH_CLIENTS = 8
# Non-2xx answers and socket errors above this share of requests make a measurement invalid.
MAX_ERROR_SHARE = 0.001


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- measurements ----------------------------------------------------------------------------------

@dataclass
class Measurement:
    """One load run. `rps` is requests/s for HTTP and transactions/s for pgbench."""

    tool: str
    rps: float
    requests: int
    duration_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    errors: int = 0  # socket errors and timeouts (wrk), failed transactions (pgbench)
    non_2xx: int = 0
    app_cpu_us: float | None = None  # CPU time of the server's processes per request
    db_cpu_us: float | None = None  # CPU time of the bench database's backends per request
    loadavg_1m: float = field(default_factory=lambda: os.getloadavg()[0])  # when the run ended: noise
    background_cores: float | None = None  # CPUs busy with other work just before the run

    @property
    def valid(self) -> bool:
        bad = self.errors + self.non_2xx
        return self.requests > 0 and bad <= MAX_ERROR_SHARE * self.requests

    def brief(self) -> str:
        p99 = f"p99 {self.p99_ms:.2f} ms" if self.p99_ms is not None else f"mean {self.mean_ms or 0:.2f} ms"
        cpu = "" if self.app_cpu_us is None else f"  cpu {self.app_cpu_us:.0f}+{self.db_cpu_us or 0:.0f} µs/req"
        bad = "" if self.valid else f"  INVALID: {self.errors} errors, {self.non_2xx} non-2xx"
        noise = "" if self.background_cores is None else f"  other work before: {self.background_cores:.1f} CPUs"
        return f"{self.rps:9.0f}/s  {p99}{cpu}{noise}{bad}"


# --- servers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, float]]:
    """(pid, process group, user+system CPU seconds) of every process we can read."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        out.append((int(entry), int(fields[2]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS))
    return out


def _cpu_snapshot(*, pgid: int | None = None, dbname: str | None = None) -> dict[int, float]:
    """CPU seconds so far per live process: of one process group, or of the backends serving `dbname`."""
    marker = f" {dbname} ".encode() if dbname else None
    out = {}
    for pid, group, cpu in _processes():
        if pgid is not None and group != pgid:
            continue
        if marker is not None:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if not (cmdline.startswith(b"postgres: ") and marker in cmdline):
                continue
        out[pid] = cpu
    return out


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots by the processes alive at the second (new ones count from zero).

    Processes that exit in between take their share along (pool churn closing backends): a lower bound then.
    """
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class CpuMeter:
    """CPU per request of a server's processes and of the database's backends around one load run."""

    def __init__(self, server: Server | None, dbname: str | None):
        self.server, self.dbname = server, dbname

    def __call__(self, run: Callable[[], Measurement]) -> Measurement:
        pgid = self.server.proc.pid if self.server and self.server.proc else None
        app0 = _cpu_snapshot(pgid=pgid) if pgid else None
        db0 = _cpu_snapshot(dbname=self.dbname) if self.dbname else None
        m = run()
        if m.requests:
            if app0 is not None:
                m.app_cpu_us = _cpu_delta(app0, _cpu_snapshot(pgid=pgid)) / m.requests * 1e6
            if db0 is not None:
                m.db_cpu_us = _cpu_delta(db0, _cpu_snapshot(dbname=self.dbname)) / m.requests * 1e6
        return m


def busy_cores(sample_s: float = 1.0) -> float:
    """How many CPUs were busy (all processes) over `sample_s` seconds, from /proc/stat."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values[:8]), idle

    total0, idle0 = read()
    time.sleep(sample_s)
    total1, idle1 = read()
    span = total1 - total0
    return (1 - (idle1 - idle0) / span) * (os.cpu_count() or 1) if span > 0 else 0.0


def wait_for_quiet(*, max_busy_cores: float, timeout_s: float) -> float:
    """Between runs (our servers idle): wait, at most `timeout_s`, until other work leaves the CPUs.

    Returns the busy CPUs of the last one-second sample, recorded with the next measurement as noise.
    """
    deadline = time.monotonic() + timeout_s
    busy = busy_cores()
    while busy > max_busy_cores and time.monotonic() < deadline:
        busy = busy_cores()
    return busy


class ServerError(RuntimeError):
    pass


class Server:
    """`uvicorn <app> --workers N --loop uvloop --http httptools` in its own process group.

    Use as a context manager; the server is stopped (SIGTERM, then SIGKILL after a grace period) on exit.
    """

    def __init__(self, app: str, *, name: str | None = None, workers: int = 1, factory: bool = False,
                 env: dict[str, str] | None = None, log_dir: Path | None = None, app_dir: Path | None = None,
                 health_path: str = "/healthz"):
        self.app = app
        self.app_dir = app_dir or REPO_ROOT
        self.health_path = health_path
        self.name = name or app
        self.workers = workers
        self.factory = factory
        self.env = env or {}
        self.log_dir = log_dir or RESULTS_DIR / "logs"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--app-dir", str(self.app_dir)]
        return [*argv, "--factory"] if self.factory else argv

    def start(self, timeout_s: float = 60.0) -> Server:
        self.port = free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
        self.log_path = self.log_dir / f"{slug}-w{self.workers}-{self.port}.log"
        env = {**os.environ, "HUXIAO_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = http_get(self.base_url + self.health_path, timeout_s=1.0)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"{self.name} did not answer {self.health_path} within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, grace_s: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # our own process group: the server and its workers
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def http_get(url: str, *, headers: dict[str, str] | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """One plain request (readiness and preflight checks); returns status and body, also for 4xx/5xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- wrk -------------------------------------------------------------------------------------------

_wrk_path: str | None = None
_wrk_checked = False


def ensure_wrk() -> str | None:
    """The wrk binary, installing the Debian package as root when missing; None when it cannot be had."""
    global _wrk_path, _wrk_checked
    if _wrk_checked:
        return _wrk_path
    _wrk_checked = True
    _wrk_path = shutil.which("wrk")
    if _wrk_path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk missing: apt-get update && apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            try:
                proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                break
            if proc.returncode != 0:
                log(f"{' '.join(argv)} failed: {proc.stderr[-500:]}")
                break
        _wrk_path = shutil.which("wrk")
    if _wrk_path is None:
        log("wrk is not available: falling back to the async httpx client (slower; it competes for the CPU)")
    return _wrk_path


def _lua_string(value: str) -> str:
    level = "=" * 4
    if f"]{level}]" in value:
        raise ValueError("value not representable as a Lua long string")
    return f"[{level}[{value}]{level}]"


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"connect\":%d,\"read\":%d,\"write\":%d," ..
    "\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d,\"mean_us\":%.3f,\"max_us\":%d}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


def wrk_script(*, method: str = "GET", headers: dict[str, str] | None = None, body: str | bytes | None = None,
               lua: str | None = None) -> str:
    """A wrk Lua script: static method, headers and body (wrk builds the request once), and a JSON summary.

    `lua` is appended as is: e.g. a `request = function() ... end` that varies the path or body per request
    (build it with `wrk.format(nil, path, nil, body)`, which keeps the method and headers set here)."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")  # `[[` would open a string
    if body is not None:
        text_body = body.decode() if isinstance(body, bytes) else body
        lines.append(f"wrk.body = {_lua_string(text_body)}")
    if lua:
        lines.append(lua)
    return "\n".join(lines) + "\n" + WRK_DONE


def parse_wrk(output: str) -> Measurement:
    """Read the JSON line our Lua `done` writes (percentiles from wrk's `--latency` histogram)."""
    match = re.search(r"^BENCHJSON (\{.*\})$", output, re.M)
    if not match:
        raise ValueError(f"no BENCHJSON line in wrk output:\n{output[-2000:]}")
    d = json.loads(match.group(1))
    duration_s = d["duration_us"] / 1e6
    return Measurement(
        tool="wrk", rps=d["requests"] / duration_s if duration_s else 0.0, requests=d["requests"],
        duration_s=duration_s, p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
        mean_ms=d["mean_us"] / 1000, errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        non_2xx=d["status"])


def wrk(url: str, *, duration_s: float, connections: int = DEFAULT_CONNECTIONS, threads: int = 1,
        method: str = "GET", headers: dict[str, str] | None = None, body: str | bytes | None = None,
        timeout_s: float = 5.0, lua: str | None = None) -> Measurement:
    """Load `url` with `connections` keep-alive connections for `duration_s` seconds."""
    binary = ensure_wrk()
    if binary is None and lua:
        raise RuntimeError("this variant varies its requests in a wrk Lua script: install wrk")
    if binary is None:
        return asyncio.run(_httpx_load(url, duration_s=duration_s, connections=connections, method=method,
                                       headers=headers, body=body, timeout_s=timeout_s))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-", delete=False) as f:
        f.write(wrk_script(method=method, headers=headers, body=body, lua=lua))
        script = f.name
    try:
        argv = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
                "--latency", "--timeout", f"{max(1, round(timeout_s))}s", "-s", script, url]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    finally:
        os.unlink(script)
    if proc.returncode != 0 or "BENCHJSON" not in proc.stdout:  # a broken script still lets wrk run
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-1000:]}{proc.stdout[-1000:]}")
    return parse_wrk(proc.stdout)


async def _httpx_load(url: str, *, duration_s: float, connections: int, method: str,
                      headers: dict[str, str] | None, body: str | bytes | None, timeout_s: float,
                      max_requests: int = 5_000_000) -> Measurement:
    """The fallback load generator: `connections` workers on one keep-alive pool, bounded in time and count."""
    import httpx

    latencies: list[float] = []
    errors = non_2xx = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        started = time.perf_counter()
        deadline = started + duration_s

        async def worker() -> None:
            nonlocal errors, non_2xx
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                t0 = time.perf_counter()
                try:
                    response = await client.request(method, url, headers=headers, content=body)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if not 200 <= response.status_code < 400:
                    non_2xx += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else None

    return Measurement(tool="httpx", rps=len(latencies) / elapsed, requests=len(latencies), duration_s=elapsed,
                       p50_ms=pct(50), p99_ms=pct(99),
                       mean_ms=statistics.fmean(latencies) * 1000 if latencies else None,
                       errors=errors, non_2xx=non_2xx)


# --- pgbench ---------------------------------------------------------------------------------------

def parse_pgbench(output: str) -> Measurement:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if not tps or not processed:
        raise ValueError(f"cannot parse pgbench output:\n{output[-2000:]}")
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    duration = re.search(r"duration: (\d+) s", output)
    return Measurement(tool="pgbench", rps=float(tps.group(1)), requests=int(processed.group(1)),
                       duration_s=float(duration.group(1)) if duration else 0.0,
                       mean_ms=float(latency.group(1)) if latency else None,
                       errors=int(failed.group(1)) if failed else 0)


def pgbench(db_url: str, script: str, *, duration_s: float, clients: int = DEFAULT_PGBENCH_CLIENTS,
            threads: int = 2, prepared: bool = True, variables: dict[str, str] | None = None) -> Measurement:
    """Run the SQL `script` (pgbench syntax, `\\set` etc. allowed) for `duration_s` seconds; tps as `rps`."""
    u = make_url(db_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="bench-", delete=False) as f:
        f.write(script)
        path = f.name
    argv = [PGBENCH, "-n", "-c", str(clients), "-j", str(min(threads, clients)), "-T", str(max(1, round(duration_s))),
            "-f", path, "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    if prepared:
        argv[1:1] = ["-M", "prepared"]
    for name, value in (variables or {}).items():
        argv += ["-D", f"{name}={value}"]
    argv.append(u.database)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = u.password
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=duration_s + 60)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return parse_pgbench(proc.stdout)


# --- comparisons -----------------------------------------------------------------------------------

@dataclass
class Variant:
    """One thing to measure. `measure(duration_s)` runs the load; `check()` is a preflight returning an error."""

    name: str
    measure: Callable[[float], Measurement]
    description: str = ""
    check: Callable[[], str | None] | None = None


def http_variant(name: str, url: str, *, description: str = "", connections: int = DEFAULT_CONNECTIONS,
                 threads: int = 1, method: str = "GET", headers: dict[str, str] | None = None,
                 body: str | bytes | None = None, expect_status: int = 200, server: Server | None = None,
                 dbname: str | None = None, lua: str | None = None) -> Variant:
    """Load `url` with wrk; with `server` / `dbname`, also the CPU per request of the server / database."""
    meter = CpuMeter(server, dbname)

    def measure(duration_s: float) -> Measurement:
        return meter(lambda: wrk(url, duration_s=duration_s, connections=connections, threads=threads,
                                 method=method, headers=headers, body=body, lua=lua))

    def check() -> str | None:
        if method != "GET":
            return None
        status, payload = http_get(url, headers=headers)
        if status != expect_status:
            return f"{name}: GET {url} answered {status}, expected {expect_status}: {payload[:300]!r}"
        return None

    return Variant(name, measure, description or f"{method} {url.split('/', 3)[-1]}", check)


def pgbench_variant(name: str, db_url: str, script: str, *, description: str = "",
                    clients: int = DEFAULT_PGBENCH_CLIENTS, variables: dict[str, str] | None = None) -> Variant:
    # No CPU meter: pgbench's backends exit with the run, taking their CPU accounting with them.
    def measure(duration_s: float) -> Measurement:
        return pgbench(db_url, script, duration_s=duration_s, clients=clients, variables=variables)

    return Variant(name, measure, description or f"pgbench {clients} clients, prepared")


@dataclass
class Row:
    name: str
    description: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    app_cpu_us: float | None  # median server CPU per request
    db_cpu_us: float | None  # median database-backend CPU per request
    ratio: float | None  # median rps / median baseline rps
    overhead_pct: float | None  # from throughput: (baseline rps / rps - 1) * 100
    cpu_overhead_pct: float | None  # from CPU per request (server + database) over the baseline's
    round_ratios: list[float]  # per-round rps ratio to the baseline's run of the same round
    valid: bool
    runs: list[Measurement] = field(default_factory=list)

    @property
    def cpu_us(self) -> float | None:
        if self.app_cpu_us is None:
            return None
        return self.app_cpu_us + (self.db_cpu_us or 0.0)


def _overhead(value: float | None, baseline: float | None, *, inverse: bool = False) -> float | None:
    """Extra cost in % of the baseline's; `inverse` for rates (requests/s), where less is more cost."""
    if not value or not baseline:
        return None
    return ((baseline / value) if inverse else (value / baseline)) * 100 - 100


@dataclass
class Goal:
    """`variant` may cost at most `max_overhead_pct` more than `baseline` per request.

    Judged on CPU per request (server + database) when measured — it barely moves when other processes
    take CPU from the run — else on throughput; both figures are reported.
    """

    variant: str
    baseline: str
    max_overhead_pct: float
    label: str

    def judge(self, rows: dict[str, Row]) -> dict:
        v, b = rows.get(self.variant), rows.get(self.baseline)
        by_rps = _overhead(v.rps, b.rps, inverse=True) if v and b else None
        by_cpu = _overhead(v.cpu_us, b.cpu_us) if v and b else None
        judged = by_cpu if by_cpu is not None else by_rps
        return {"label": self.label, "variant": self.variant, "baseline": self.baseline,
                "max_overhead_pct": self.max_overhead_pct, "overhead_pct": by_rps, "cpu_overhead_pct": by_cpu,
                "judged_on": "cpu" if by_cpu is not None else "rps",
                "met": judged is not None and judged <= self.max_overhead_pct}


def limit_goal(label: str, *, subject: str, value: float | None, limit: float, unit: str) -> dict:
    """A goal on an absolute figure (a latency, a duration) rather than an overhead: met when value ≤ limit.

    Goes into `Comparison.goals` next to `Goal.judge(...)` dicts; `markdown_table` prints both kinds."""
    return {"kind": "limit", "label": label, "variant": subject, "value": value, "limit": limit, "unit": unit,
            "met": value is not None and value <= limit}


@dataclass
class Threshold:
    """An absolute goal on one row: `metric` (a `Row` attribute such as "rps", "p50_ms", "p99_ms", "ratio"),
    times `scale` (e.g. 500 items per request), at most `limit` — or at least, with `at_least`."""

    variant: str
    metric: str
    limit: float
    label: str
    at_least: bool = False
    scale: float = 1.0
    unit: str = ""

    def judge(self, rows: dict[str, Row]) -> dict:
        row = rows.get(self.variant)
        raw = getattr(row, self.metric, None) if row else None
        value = None if raw is None else raw * self.scale
        met = value is not None and (value >= self.limit if self.at_least else value <= self.limit)
        shown = "–" if value is None else f"{value:,.{2 if abs(value) < 10 else 0}f}{self.unit}"
        return {"label": self.label, "variant": self.variant, "metric": self.metric, "scale": self.scale,
                "value": value, "limit": self.limit, "at_least": self.at_least, "met": met,
                "summary": f"`{self.variant}` {self.metric}{f' × {self.scale:g}' if self.scale != 1 else ''} = "
                           f"{shown} ({'≥' if self.at_least else '≤'} {self.limit:,g}{self.unit})"}


@dataclass
class Comparison:
    scenario: str
    title: str
    workers: int
    baseline: str
    rows: list[Row]
    goals: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setup: dict = field(default_factory=dict)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def compare(variants: list[Variant], *, baseline: str, repeats: int, duration_s: float, warmup_s: float,
            label: str = "", quiet_cores: float = 0.5, quiet_wait_s: float = 20.0) -> list[Row]:
    """Measure every variant `repeats` times in interleaved rounds (A, B, A, B, ...) after one warm-up each.

    Before each run, wait (at most `quiet_wait_s`) until other processes use at most `quiet_cores` CPUs.
    Medians per variant; ratios to the baseline's median, and per round to the baseline of the same round.
    """
    names = [v.name for v in variants]
    if baseline not in names or len(set(names)) != len(names):
        raise ValueError(f"baseline {baseline!r} must be one of the distinct variants {names}")
    problems = [p for v in variants if v.check and (p := v.check())]
    if problems:
        raise RuntimeError("preflight failed:\n" + "\n".join(problems))
    if warmup_s > 0:
        for v in variants:
            m = v.measure(warmup_s)
            log(f"  [{label}] warm-up {v.name:<30} {m.brief()}")
            if not m.valid:
                raise RuntimeError(f"{v.name}: {m.errors} socket errors and {m.non_2xx} non-2xx answers "
                                   f"in {m.requests} requests during warm-up; not measuring it")
    runs: dict[str, list[Measurement]] = {v.name: [] for v in variants}
    for r in range(repeats):
        for v in variants:
            background = wait_for_quiet(max_busy_cores=quiet_cores, timeout_s=quiet_wait_s)
            m = v.measure(duration_s)
            m.background_cores = round(background, 2)
            runs[v.name].append(m)
            log(f"  [{label}] round {r + 1}/{repeats} {v.name:<30} {m.brief()}")
    base = runs[baseline]
    base_rps = _median([m.rps for m in base])
    base_app, base_db = _median([m.app_cpu_us for m in base]), _median([m.db_cpu_us for m in base])
    base_cpu = None if base_app is None else base_app + (base_db or 0.0)
    rows = []
    for v in variants:
        ms = runs[v.name]
        rps = _median([m.rps for m in ms]) or 0.0
        row = Row(
            name=v.name, description=v.description, rps=rps,
            p50_ms=_median([m.p50_ms for m in ms]),
            p99_ms=_median([m.p99_ms if m.p99_ms is not None else m.mean_ms for m in ms]),
            app_cpu_us=_median([m.app_cpu_us for m in ms]), db_cpu_us=_median([m.db_cpu_us for m in ms]),
            ratio=rps / base_rps if base_rps else None, overhead_pct=_overhead(rps, base_rps, inverse=True),
            cpu_overhead_pct=None,
            round_ratios=[m.rps / b.rps for m, b in zip(ms, base, strict=True) if b.rps],
            valid=all(m.valid for m in ms), runs=ms)
        row.cpu_overhead_pct = _overhead(row.cpu_us, base_cpu)
        rows.append(row)
    return rows


# --- reporting -------------------------------------------------------------------------------------

def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def markdown_table(comparison: Comparison) -> str:
    lines = [f"**{comparison.title}** — {comparison.workers} worker(s), baseline `{comparison.baseline}`", "",
             "| variant | what | req/s | p99 ms | ratio | overhead (req/s) | CPU µs/req app + db "
             "| overhead (CPU) | ratio per round |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in comparison.rows:
        rounds = ", ".join(f"{r:.2f}" for r in row.round_ratios)
        flag = "" if row.valid else " ⚠ errors"
        is_base = row.name == comparison.baseline
        p99 = _fmt(row.p99_ms, ".1f")
        if row.runs and row.runs[0].tool == "pgbench":
            p99 = f"{p99} (mean)"
        cpu = "–" if row.app_cpu_us is None else f"{row.app_cpu_us:,.0f} + {row.db_cpu_us or 0:,.0f}"
        lines.append(
            f"| `{row.name}`{flag} | {row.description} | {row.rps:,.0f} | {p99} | {_fmt(row.ratio, '.2f')} | "
            f"{'baseline' if is_base else _fmt(row.overhead_pct, '+,.0f', ' %')} | {cpu} | "
            f"{'baseline' if is_base else _fmt(row.cpu_overhead_pct, '+,.0f', ' %')} | {rounds} |")
    background = [m.background_cores for row in comparison.rows for m in row.runs if m.background_cores is not None]
    if background:
        lines.append(f"\nOther work on the machine just before each run: median {statistics.median(background):.1f}, "
                     f"max {max(background):.1f} of {os.cpu_count()} CPUs busy.")
    for goal in comparison.goals:
        verdict = "met" if goal["met"] else "NOT met"
        if "summary" in goal:  # a Threshold
            lines.append(f"\nGoal — {goal['label']}: {goal['summary']}: **{verdict}**")
            continue
        if goal.get("kind") == "limit":
            lines.append(f"\nGoal — {goal['label']}: `{goal['variant']}` {_fmt(goal['value'], ',.1f')} "
                         f"{goal['unit']} (limit {goal['limit']:g} {goal['unit']}): **{verdict}**")
            continue
        lines.append(f"\nGoal — {goal['label']}: `{goal['variant']}` over `{goal['baseline']}` costs "
                     f"{_fmt(goal['cpu_overhead_pct'], '+,.1f', ' %')} CPU per request, "
                     f"{_fmt(goal['overhead_pct'], '+,.1f', ' %')} by throughput "
                     f"(limit {goal['max_overhead_pct']:.0f} %, judged on {goal['judged_on']}): **{verdict}**")
    for note in comparison.notes:
        lines.append(f"\n{note}")
    return "\n".join(lines)


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr).strip() else None


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg", "pydantic",
                 "prometheus-client", "pyjwt"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "wrk": _version([shutil.which("wrk") or "wrk", "--version"]),
        "pgbench": _version([PGBENCH, "--version"]),
    }


def write_results(payload: dict, *, stamp: str | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"

    def default(o):
        if isinstance(o, Measurement | Row | Comparison):
            return asdict(o)
        return str(o)

    path.write_text(json.dumps(payload, indent=2, default=default, ensure_ascii=False) + "\n")
    return path
