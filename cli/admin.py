"""CLI commands that act on the data: jurisdictions, users, API keys, school import."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain import credentials, jurisdictions, schools, users
from domain.callers import Role, UnitType, system_caller
from domain.database import Db, connected, unit_of_work
from domain.errors import DomainError
from domain.settings import get_settings

T = TypeVar("T")
console = Console()
IMPORT_CHUNK = 1000


def in_transaction(work: Callable[[Db], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction against the configured database."""

    async def run() -> T:
        async with connected(get_settings()) as pool, unit_of_work(pool) as db:
            return await work(db)

    try:
        return asyncio.run(run())
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        console.print(f"[red]error{where}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


def create_jurisdiction(
    code: str = typer.Argument(..., help="Stable code, e.g. 500243 (letters, digits, _)."),
    name: str = typer.Argument(..., help="Name, e.g. 彭水苗族土家族自治县."),
    level: str = typer.Option("county", help="province|city|county|district|township|street|station|other"),
    parent: str = typer.Option(None, help="Parent code; omit for a new root."),
    time_zone: str = typer.Option(jurisdictions.DEFAULT_TIME_ZONE, help="IANA time zone for duty windows."),
) -> None:
    """Create a jurisdiction (a root when --parent is omitted)."""
    row = in_transaction(lambda s: jurisdictions.create(s, caller=None, new=jurisdictions.NewJurisdiction(
        code=code, name=name, level=level, parent_code=parent, time_zone=time_zone)))
    console.print(f"created jurisdiction {row['code']} ({row['path']})")


def create_user(
    username: str = typer.Argument(...),
    role: Role = typer.Option(..., help="admin|commander|officer|viewer"),
    jurisdiction: str = typer.Option(..., help="Jurisdiction code."),
    display_name: str = typer.Option(None, help="Name shown to others (default: the username)."),
    unit_type: UnitType = typer.Option(UnitType.police, help="guard|auxiliary|police|volunteer"),
    phone: str = typer.Option(None),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="HUXIAO_NEW_PASSWORD", help="At least 8 characters."),
) -> None:
    """Create a user (asks for the password, or takes HUXIAO_NEW_PASSWORD)."""

    async def work(db: Db) -> dict:
        path = await jurisdictions.path_of(db, code=jurisdiction)
        if path is None:
            raise DomainError(f"no jurisdiction {jurisdiction!r}", field="jurisdiction")
        return await users.create(db, caller=system_caller(jurisdiction, path), new=users.NewUser(
            username=username, display_name=display_name or username, role=role, jurisdiction_code=jurisdiction,
            password=password, phone=phone, unit_type=unit_type))

    row = in_transaction(work)
    console.print(f"created user {row['username']} ({row['role']} in {row['jurisdiction_code']}) id {row['id']}")


def create_api_key(
    name: str = typer.Argument(..., help="What the key is for, e.g. 'county big screen'."),
    jurisdiction: str = typer.Option(..., help="Jurisdiction code the key may read."),
    role: Role = typer.Option(Role.viewer),
    expires_days: int = typer.Option(None, help="Days until the key expires (default: never)."),
) -> None:
    """Create a dashboard API key; the key is printed once."""
    settings = get_settings()
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None

    async def work(db: Db) -> tuple[dict, str]:
        return await credentials.create_api_key(db, settings, caller=system_caller(), name=name,
                                                jurisdiction_code=jurisdiction, role=role, expires_at=expires_at)

    row, key = in_transaction(work)
    console.print(f"API key {row['prefix']} for {row['jurisdiction_code']} ({row['role']}); send it as X-API-Key:")
    print(key)


def _features_from_csv(path: Path) -> list[dict[str, Any]]:
    """CSV rows with lon and lat columns (and name, kind, jurisdiction_code, …) as Point features."""
    out = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            props = {k: v for k, v in row.items() if k not in ("lon", "lat") and v not in (None, "")}
            if "zone_radius_m" in props:
                try:
                    props["zone_radius_m"] = float(props["zone_radius_m"])
                except ValueError:
                    pass
            try:
                coords = [float(row.get("lon", "")), float(row.get("lat", ""))]
            except ValueError:
                coords = [row.get("lon"), row.get("lat")]
            out.append({"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": coords}})
    return out


def import_schools(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="GeoJSON FeatureCollection or CSV (lon, lat)."),
    crs: str = typer.Option("wgs84", help="wgs84|gcj02|bd09: the CRS of the file's coordinates."),
) -> None:
    """Upsert schools by external_id from a file, with a progress bar and a summary."""
    if file.suffix.lower() == ".csv":
        features = _features_from_csv(file)
    else:
        data = json.loads(file.read_text(encoding="utf-8"))
        features = data.get("features", []) if isinstance(data, dict) else []
    totals = {"created": 0, "updated": 0, "rejected": 0}
    rejected: list[schools.ImportResult] = []

    async def work(db: Db) -> None:
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("schools", total=len(features))
            for start in range(0, len(features), IMPORT_CHUNK):
                chunk = features[start:start + IMPORT_CHUNK]
                results = await schools.import_features(db, caller=system_caller(), features=chunk, crs=crs,
                                                        offset=start)
                for r in results:
                    totals[r.status] += 1
                    if r.status == "rejected":
                        rejected.append(r)
                progress.advance(task, len(chunk))

    in_transaction(work)
    table = Table(title=f"import of {file.name}")
    for k in totals:
        table.add_column(k, justify="right")
    table.add_row(*(str(v) for v in totals.values()))
    console.print(table)
    if rejected:
        why = Table(title="rejected features (first 20)")
        why.add_column("feature", justify="right")
        why.add_column("field")
        why.add_column("reason")
        for r in rejected[:20]:
            err = (r.errors or [{}])[0]
            why.add_row(str(r.index), err.get("field", ""), err.get("message", ""))
        console.print(why)
    if totals["rejected"]:
        raise typer.Exit(2)
