"""`huxiao` — the command line: serve, manage the local database, migrate, seed, import, export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console

from cli.cluster import Cluster, ClusterError, ensure_postgis
from domain.database import database_url
from domain.settings import REPO_ROOT, get_settings

app = typer.Typer(help="护校 huxiao — school-perimeter patrol and rapid response.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The local PostgreSQL + PostGIS cluster under .data/ (ignored when DATABASE_URL is set).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err = Console(stderr=True)


def _cluster() -> Cluster:
    settings = get_settings()
    return Cluster(settings.data_dir, port=settings.pg_port)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def prepare_database(*, seed: bool) -> str:
    """Make the database ready: PostGIS present, cluster up (unless DATABASE_URL), migrated, maybe seeded."""
    from cli.databases import ensure_database, migrate

    settings = get_settings()
    try:
        if not settings.database_url:
            ensure_postgis(echo=lambda m: console.print(f"[yellow]{m}[/yellow]"))
            port = _cluster().start()
            os.environ["HUXIAO_PG_PORT"] = str(port)
            get_settings.cache_clear()
            settings = get_settings()
        url = database_url(settings)
        ensure_database(url)
        migrate(url)
    except ClusterError as exc:
        _fail(str(exc))
    if seed:
        from cli.demo import seed_demo

        seed_demo(url, console=console)
    return url


@db_app.command("start")
def db_start() -> None:
    """Start the local cluster (initialising it, and installing PostGIS as root, the first time)."""
    try:
        ensure_postgis(echo=console.print)
        port = _cluster().start()
    except ClusterError as exc:
        _fail(str(exc))
    console.print(f"PostgreSQL listening on 127.0.0.1:{port}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the local cluster."""
    try:
        _cluster().stop()
    except ClusterError as exc:
        _fail(str(exc))
    console.print("stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the local cluster runs, where its files are and on which port."""
    c = _cluster()
    state = "running" if c.running() else ("stopped" if c.initialised() else "not initialised")
    console.print(f"{state}; data {c.link} ; port {c.recorded_port() or '-'}")
    if state != "running":
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL the app uses."""
    print(database_url(get_settings()))


@app.command()
def migrate() -> None:
    """Create the database if needed and run `alembic upgrade head`."""
    url = prepare_database(seed=False)
    console.print(f"migrated {url.rsplit('@', 1)[-1]}")


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load the demo data for the two seed counties (idempotent)."""
    prepare_database(seed=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default HUXIAO_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PORT, 8000)."),
    workers: str = typer.Option("1", help="uvicorn worker processes: a number, or `auto` for one per core."),
    prepare: bool = typer.Option(True, help="Start the local database, migrate and seed the demo first."),
    tls_cert: Path = typer.Option(None, help="PEM certificate (with its chain) to serve HTTPS (default "
                                  "HUXIAO_TLS_CERT); needs --tls-key."),
    tls_key: Path = typer.Option(None, help="PEM private key of the certificate (default HUXIAO_TLS_KEY)."),
    proxy_headers: bool = typer.Option(None, help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips "
                                       "(default HUXIAO_PROXY_HEADERS, off): behind a reverse proxy."),
    forwarded_allow_ips: str = typer.Option(None, help="Proxies trusted for X-Forwarded-* (default "
                                            "HUXIAO_FORWARDED_ALLOW_IPS, 127.0.0.1)."),
) -> None:
    """Serve the API with uvicorn (after preparing the database and demo data); HTTPS with a certificate."""
    import uvicorn

    count = _worker_count(workers)
    settings = get_settings()
    tls = _tls_files(tls_cert or settings.tls_cert, tls_key or settings.tls_key)
    if prepare:
        prepare_database(seed=True)
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    proxy = settings.proxy_headers if proxy_headers is None else proxy_headers
    _require_free_port(host, port)
    tracker_port = settings.tracker_port
    if tracker_port:
        _require_free_port(host, tracker_port)
    scheme = "https" if tls else "http"
    console.print(f"huxiao on {scheme}://{host}:{port}  —  docs: {scheme}://{host}:{port}/docs  —  "
                  f"officers' phones: {scheme}://{host}:{port}/m/")
    console.print(f"  Traccar Client server URL: {scheme}://{host}:{port}{settings.tracker_path}"
                  + (f"  or  {scheme}://{host}:{tracker_port}" if tracker_port else ""))
    from cli.demo import DEMO_LOGINS

    for username, password, role in DEMO_LOGINS:
        console.print(f"  demo login: {username} / {password} ({role})")
    ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
    # The HTTP protocol with header and body read deadlines (api/protocol.py): uvicorn alone has none.
    options = dict(host=host, port=port, workers=count, log_config=None, access_log=False, proxy_headers=proxy,
                   forwarded_allow_ips=forwarded_allow_ips or settings.forwarded_allow_ips,
                   http="api.protocol:DeadlineHttpToolsProtocol", **ssl)
    if not tracker_port:
        uvicorn.run("api.main:app", **options)
        return
    _serve_with_tracker_port(options, tracker_port=tracker_port)


def _tls_files(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with (both or neither), checked to load before anything starts."""
    import ssl

    if cert is None and key is None:
        return None
    if cert is None or key is None:
        _fail("HTTPS needs both a certificate and its key: --tls-cert and --tls-key "
              "(or HUXIAO_TLS_CERT and HUXIAO_TLS_KEY)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"cannot use the certificate {cert} with the key {key}: {exc}")
    return cert, key


def _serve_with_tracker_port(options: dict, *, tracker_port: int) -> None:
    """One uvicorn server — the same workers, the same app — listening on the API port and on the tracker port,
    where the app answers every request as a Traccar Client position (api.main.Huxiao); both with TLS when set."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("api.main:app", **options)
    tracker = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    tracker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tracker.bind((config.host, tracker_port))
    tracker.set_inheritable(True)
    sockets = [config.bind_socket(), tracker]
    if config.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)


def _worker_count(workers: str) -> int:
    """`auto` is one worker per core this process may run on; else a positive number."""
    if workers == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(workers)
    except ValueError:
        count = 0
    if count < 1:
        console.print(f"[red]--workers must be a positive number or auto, not {workers!r}[/red]")
        raise typer.Exit(2)
    return count


def _require_free_port(host: str, port: int) -> None:
    """Say plainly, before uvicorn starts, that something else already listens there."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            console.print(f"[red]cannot listen on {host}:{port}: {exc.strerror}.[/red] Another server (perhaps an "
                          f"earlier `make run`) is using it; stop it or choose another port: PORT=8001 make run")
            raise typer.Exit(1) from exc


@app.command("export-openapi")
def export_openapi(path: Path = typer.Argument(REPO_ROOT / "openapi" / "openapi.json")) -> None:
    """Write the OpenAPI document the app serves to openapi/openapi.json."""
    from api.main import app as api_app

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(api_app.openapi(), indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {path}")


from cli import admin  # noqa: E402

app.command("create-jurisdiction")(admin.create_jurisdiction)
app.command("create-user")(admin.create_user)
app.command("create-api-key")(admin.create_api_key)
app.command("import-schools")(admin.import_schools)


if __name__ == "__main__":
    app()
