"""Campaigns (专项行动): a time-boxed effort over some jurisdictions, with report due dates and the scoring
policies in force; every report figure can be asked for over a campaign's period.

Rules:

1. A campaign belongs to a jurisdiction (its owner, default the caller's) and covers `jurisdiction_codes` (default
   the owner): each one in the caller's scope and at or below the owner; a code below another covered one is
   redundant and dropped (the subtree is covered already).
2. The period is the local dates `[starts_on, ends_on]` in the owner's time zone, i.e. the instants
   `[starts_on 00:00, ends_on + 1 day 00:00)` there; `ends_on >= starts_on`, at most `PERIOD_MAX_DAYS` long.
3. `report_dues` lists the reports owed, `{name, due}` (e.g. 半年工作总结 by 31 July), at most
   `REPORT_DUES_MAX`; a due date before `starts_on` is invalid. They are listed by due date.
4. `policy_keys` are the scoring policies in force (default `1-3-5@v1`), each resolvable at the owner
   (`domain.policies.load`); the first is the one a report scores with.
5. Who sees a campaign: callers whose scope holds its owner, and callers below the owner (a county's campaign is
   seen by its stations). Only admins and commanders in whose scope the owner lies create or change it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain import audit, jurisdictions, policies
from domain.callers import Caller, Role
from domain.database import Db, Query
from domain.errors import InvalidInput, NotFound
from domain.paging import decode_cursor, page_of

PERIOD_MAX_DAYS = 3 * 366
REPORT_DUES_MAX = 20
NAME_MAX_LEN = 200

COLUMNS = """
    c.id, c.jurisdiction_code, c.name, c.description, c.starts_on, c.ends_on, c.jurisdiction_codes,
    c.report_dues, c.policy_keys, c.created_by, c.created_at, c.updated_at, j.time_zone, j.path::text AS path
"""
FROM = "FROM campaigns c JOIN jurisdictions j ON j.code = c.jurisdiction_code"

GET = Query(f"SELECT {COLUMNS} {FROM} WHERE c.id = :id")


@dataclass
class CampaignInput:
    name: str
    starts_on: date
    ends_on: date
    jurisdiction_code: str | None = None
    jurisdiction_codes: list[str] | None = None
    report_dues: list[dict] | None = None
    policy_keys: list[str] | None = None
    description: str | None = None


def period_instants(*, starts_on: date, ends_on: date, time_zone: str) -> tuple[datetime, datetime]:
    """The campaign's period as instants: `[starts_on 00:00, ends_on + 1 day 00:00)` local time."""
    tz = ZoneInfo(time_zone)
    return (datetime.combine(starts_on, time(0), tzinfo=tz),
            datetime.combine(ends_on + timedelta(days=1), time(0), tzinfo=tz))


def _out(row: Any) -> dict:
    r = dict(row)
    r.pop("path", None)
    frm, to = period_instants(starts_on=r["starts_on"], ends_on=r["ends_on"], time_zone=r["time_zone"])
    r["period"] = {"from": frm, "to": to}
    r["jurisdiction_codes"] = list(r["jurisdiction_codes"] or [])
    r["policy_keys"] = list(r["policy_keys"] or [])
    return r


def visible_to(caller: Caller, path: str) -> bool:
    """A campaign owned at `path` is seen by callers whose scope holds it and by callers below it."""
    return caller.sees_path(path) or caller.scope_path.startswith(path + ".")


async def fetch(db: Db, *, caller: Caller, campaign_id: uuid.UUID) -> dict:
    """The campaign with its owner's time zone and path; 404 when the caller may not see it."""
    row = await db.fetchrow(GET, {"id": campaign_id})
    if row is None or not visible_to(caller, row["path"]):
        raise NotFound(f"no campaign {campaign_id}")
    return dict(row)


async def get(db: Db, *, caller: Caller, campaign_id: uuid.UUID) -> dict:
    return _out(await fetch(db, caller=caller, campaign_id=campaign_id))


def _check_period(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidInput("ends_on must not be before starts_on", field="ends_on")
    if (ends_on - starts_on).days + 1 > PERIOD_MAX_DAYS:
        raise InvalidInput(f"a campaign lasts at most {PERIOD_MAX_DAYS} days", field="ends_on")


def _check_dues(dues: list[dict], *, starts_on: date) -> list[dict]:
    if len(dues) > REPORT_DUES_MAX:
        raise InvalidInput(f"at most {REPORT_DUES_MAX} reports", field="report_dues")
    out = []
    for n, d in enumerate(dues):
        due = d["due"]
        if due < starts_on:
            raise InvalidInput("a report cannot be due before the campaign starts", field=f"report_dues.{n}.due")
        out.append({"name": d["name"], "due": due.isoformat()})
    return sorted(out, key=lambda d: (d["due"], d["name"]))


async def _covered(db: Db, *, caller: Caller, owner_path: str, codes: list[str]) -> list[str]:
    """The covered codes, each in the caller's scope and at or below the owner; nested ones dropped."""
    if not codes:
        raise InvalidInput("cover at least one jurisdiction", field="jurisdiction_codes")
    if len(codes) > 500:
        raise InvalidInput("at most 500 jurisdictions", field="jurisdiction_codes")
    paths: dict[str, str] = {}
    for n, code in enumerate(codes):
        j = await jurisdictions.in_scope(db, caller=caller, code=code, field=f"jurisdiction_codes.{n}")
        if not (j["path"] == owner_path or j["path"].startswith(owner_path + ".")):
            raise InvalidInput(f"{code} is not at or below the campaign's jurisdiction",
                               field=f"jurisdiction_codes.{n}")
        paths[code] = j["path"]
    return sorted(c for c, p in paths.items()
                  if not any(p != q and p.startswith(q + ".") for q in paths.values()))


async def _policies(db: Db, *, owner_path: str, keys: list[str]) -> list[str]:
    if not keys:
        raise InvalidInput("name at least one scoring policy", field="policy_keys")
    if len(keys) > 10:
        raise InvalidInput("at most 10 scoring policies", field="policy_keys")
    out: list[str] = []
    for n, key in enumerate(keys):
        policy = await policies.load(db, key, path=owner_path, field=f"policy_keys.{n}")
        if policy.key not in out:
            out.append(policy.key)
    return out


async def create(db: Db, *, caller: Caller, new: CampaignInput) -> dict:
    """Create a campaign (admins, commanders) owned by a jurisdiction in the caller's scope (rules above)."""
    caller.require(Role.commander)
    owner = await jurisdictions.in_scope(db, caller=caller, code=new.jurisdiction_code or caller.jurisdiction_code)
    _check_period(new.starts_on, new.ends_on)
    row = await db.fetchrow(f"""
        WITH c AS (
            INSERT INTO campaigns (id, jurisdiction_code, name, description, starts_on, ends_on, jurisdiction_codes,
                                   report_dues, policy_keys, created_by)
            VALUES (:id, :owner, :name, :description, :starts_on, :ends_on, CAST(:codes AS varchar[]),
                    CAST(:dues AS jsonb), CAST(:keys AS varchar[]), :created_by)
            RETURNING *
        )
        SELECT {COLUMNS} FROM c JOIN jurisdictions j ON j.code = c.jurisdiction_code
    """, {
        "id": uuid.uuid4(), "owner": owner["code"], "name": new.name, "description": new.description,
        "starts_on": new.starts_on, "ends_on": new.ends_on,
        "codes": await _covered(db, caller=caller, owner_path=owner["path"],
                                codes=new.jurisdiction_codes or [owner["code"]]),
        "dues": json.dumps(_check_dues(new.report_dues or [], starts_on=new.starts_on)),
        "keys": await _policies(db, owner_path=owner["path"], keys=new.policy_keys or [policies.DEFAULT_POLICY_KEY]),
        "created_by": caller.user_id,
    })
    await audit.record(db, caller=caller, entity="campaign", entity_id=row["id"], action="create",
                       jurisdiction_code=owner["code"],
                       changes={"name": new.name, "starts_on": new.starts_on, "ends_on": new.ends_on,
                                "jurisdiction_codes": row["jurisdiction_codes"]})
    return _out(row)


async def update(db: Db, *, caller: Caller, campaign_id: uuid.UUID, changes: dict[str, Any]) -> dict:
    """Change a campaign's name, description, period, coverage, report dues or policies (admins, commanders
    whose scope holds the owner)."""
    caller.require(Role.commander)
    row = await db.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE c.id = :id FOR UPDATE OF c", {"id": campaign_id})
    if row is None or not visible_to(caller, row["path"]):
        raise NotFound(f"no campaign {campaign_id}")
    if not caller.sees_path(row["path"]):
        raise NotFound(f"no campaign {campaign_id} in your jurisdictions to change")
    starts_on = changes.get("starts_on") or row["starts_on"]
    ends_on = changes.get("ends_on") or row["ends_on"]
    _check_period(starts_on, ends_on)
    for key in ("name", "starts_on", "ends_on", "jurisdiction_codes", "report_dues", "policy_keys"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", field=key)
    codes = (await _covered(db, caller=caller, owner_path=row["path"], codes=changes["jurisdiction_codes"])
             if "jurisdiction_codes" in changes else list(row["jurisdiction_codes"]))
    dues = (_check_dues(changes["report_dues"], starts_on=starts_on) if "report_dues" in changes
            else row["report_dues"])
    if "report_dues" not in changes and any(d["due"] < starts_on.isoformat() for d in dues):
        raise InvalidInput("a report would be due before the campaign starts", field="starts_on")
    keys = (await _policies(db, owner_path=row["path"], keys=changes["policy_keys"]) if "policy_keys" in changes
            else list(row["policy_keys"]))
    updated = await db.fetchrow(f"""
        WITH c AS (
            UPDATE campaigns SET name = :name, description = :description, starts_on = :starts_on,
                   ends_on = :ends_on, jurisdiction_codes = CAST(:codes AS varchar[]),
                   report_dues = CAST(:dues AS jsonb), policy_keys = CAST(:keys AS varchar[]), updated_at = now()
            WHERE id = :id
            RETURNING *
        )
        SELECT {COLUMNS} FROM c JOIN jurisdictions j ON j.code = c.jurisdiction_code
    """, {"id": campaign_id, "name": changes.get("name", row["name"]),
          "description": changes["description"] if "description" in changes else row["description"],
          "starts_on": starts_on, "ends_on": ends_on, "codes": codes,
          "dues": json.dumps(dues), "keys": keys})
    await audit.record(db, caller=caller, entity="campaign", entity_id=campaign_id, action="update",
                       jurisdiction_code=row["jurisdiction_code"], changes=changes)
    return _out(updated)


async def list_page(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                    jurisdiction_code: str | None = None, active_on: date | None = None) -> tuple[list[dict], str | None]:
    """Campaigns the caller sees (owned in its scope or above it), latest start first; `jurisdiction_code`
    keeps those owned at or below that jurisdiction, `active_on` those whose period holds that date."""
    after = decode_cursor(cursor, arity=2)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    rows = await db.fetch(f"""
        SELECT {COLUMNS} {FROM}
        WHERE (j.path <@ CAST(:scope AS ltree) OR (CAST(:narrowed AS boolean) IS FALSE
                                                   AND j.path @> CAST(:scope AS ltree)))
          AND (CAST(:active_on AS date) IS NULL OR (c.starts_on <= :active_on AND c.ends_on >= :active_on))
          AND (CAST(:a_on AS date) IS NULL OR (c.starts_on, c.id) < (CAST(:a_on AS date), CAST(:a_id AS uuid)))
        ORDER BY c.starts_on DESC, c.id DESC
        LIMIT :n
    """, {"scope": scope, "narrowed": jurisdiction_code is not None, "active_on": active_on,
          "a_on": date.fromisoformat(after[0]) if after else None, "a_id": after[1] if after else None,
          "n": limit + 1})
    items, nxt = page_of([dict(r) for r in rows], limit=limit,
                         key=lambda r: [r["starts_on"].isoformat(), str(r["id"])])
    return [_out(r) for r in items], nxt


async def ensure_demo(db: Db, *, caller: Caller, campaign_id: uuid.UUID, new: CampaignInput) -> bool:
    """Create the demo campaign with a fixed id unless it exists (demo data); True when it was made."""
    if await db.fetchval("SELECT 1 FROM campaigns WHERE id = :id", {"id": campaign_id}):
        return False
    owner = await jurisdictions.in_scope(db, caller=caller, code=new.jurisdiction_code or caller.jurisdiction_code)
    await db.execute("""
        INSERT INTO campaigns (id, jurisdiction_code, name, description, starts_on, ends_on, jurisdiction_codes,
                               report_dues, policy_keys)
        VALUES (:id, :owner, :name, :description, :starts_on, :ends_on, CAST(:codes AS varchar[]),
                CAST(:dues AS jsonb), CAST(:keys AS varchar[]))
    """, {"id": campaign_id, "owner": owner["code"], "name": new.name, "description": new.description,
          "starts_on": new.starts_on, "ends_on": new.ends_on,
          "codes": new.jurisdiction_codes or [owner["code"]],
          "dues": json.dumps(_check_dues(new.report_dues or [], starts_on=new.starts_on)),
          "keys": new.policy_keys or [policies.DEFAULT_POLICY_KEY]})
    return True
