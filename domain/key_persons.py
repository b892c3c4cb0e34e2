"""Key persons (重点人员) and disputes (矛盾纠纷): sensitive ledgers of people around schools.

Rules:

1. Only people with the role `commander` or `admin` read or write these ledgers, and only in their jurisdictions
   (a record elsewhere is 404); officers, viewers and every API key are refused (403).
2. Every read is audited — a list records the filter and the ids it returned, a single read the id — and so is
   every write. The audit entry never holds an identity number, only its masked form.
3. Identity numbers are validated, encrypted and masked as `domain.identity_numbers` says. An answer carries the
   masked number; an admin (not a commander) may read a number in clear by giving a reason, which is audited
   (`unmask`) with that reason. The same number twice in one jurisdiction is a conflict (409).
4. A key person's jurisdiction is its school's when it has one (the school must lie in the caller's scope), else
   the given one (default the caller's); the responsible officer must be an active user in the caller's scope.
5. A visit (走访) is stamped at `visited_at`, not in the future; the person's `last_visit_at` is the latest visit.
6. A dispute involves one school, in the caller's scope; its jurisdiction is the school's. Mediation moves
   `registered → mediating → resolved | referred` (stages may be skipped); `resolved` and `referred` are final
   (409 to move on), and `resolved_at` is stamped once by the server when it becomes `resolved`.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from domain import audit, jurisdictions
from domain.callers import Caller, Role
from domain.database import Db
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.identity_numbers import IdentityCipher, mask, validate
from domain.paging import decode_time_id_cursor, page_of

CATEGORIES = ("threatening_revenge", "released_prisoner", "drug_user", "severe_mental_disorder",
              "abnormal_petitioner", "other")
RISK_LEVELS = ("low", "medium", "high")
PERSON_STATUSES = ("active", "closed")
DISPUTE_KINDS = ("family_marriage", "neighbour", "student", "school_parent", "school_staff", "labour_contract",
                 "land_property", "other")
MEDIATION_STATUSES = ("registered", "mediating", "resolved", "referred")
MEDIATION_RANK = {s: i for i, s in enumerate(MEDIATION_STATUSES)}
FINAL_MEDIATION = ("resolved", "referred")
UNMASK_REASON_MIN_LEN = 4
VISIT_FUTURE_TOLERANCE_S = 300


def require_sensitive(caller: Caller) -> None:
    """Rule 1: commanders and admins (people, never keys)."""
    if caller.kind == "api_key":
        raise Forbidden("API keys never read key persons or disputes")
    caller.require(Role.commander)


async def _school_home(db: Db, *, caller: Caller, school_id: uuid.UUID | None) -> str | None:
    if school_id is None:
        return None
    row = await db.fetchrow("""
        SELECT s.jurisdiction_code, j.path::text AS path FROM schools s JOIN jurisdictions j ON j.code = s.jurisdiction_code
        WHERE s.id = :id AND s.deleted_at IS NULL
    """, {"id": school_id})
    if row is None or not caller.sees_path(row["path"]):
        raise InvalidInput(f"no school {school_id} in your jurisdictions", field="school_id")
    return row["jurisdiction_code"]


async def _check_officer(db: Db, *, caller: Caller, user_id: uuid.UUID | None) -> None:
    if user_id is None:
        return
    row = await db.fetchrow("""
        SELECT j.path::text AS path, u.active FROM users u JOIN jurisdictions j ON j.code = u.jurisdiction_code
        WHERE u.id = :id
    """, {"id": user_id})
    if row is None or not row["active"] or not caller.sees_path(row["path"]):
        raise InvalidInput(f"no active user {user_id} in your jurisdictions", field="responsible_officer_id")


def _check_choice(value: Any, choices: tuple[str, ...], field: str) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(f"{field} must be one of {', '.join(choices)}", field=field)


# --- key persons --------------------------------------------------------------------------------------

PERSON_COLUMNS = """
    k.id, k.jurisdiction_code, k.school_id, s.name AS school_name, k.category, k.name, k.id_number_masked,
    k.address, k.risk_level, k.control_measures, k.responsible_officer_id, k.status, k.last_visit_at,
    k.created_by, k.created_at, k.updated_at, j.path::text AS path
"""
PERSON_FROM = """
    FROM key_persons k JOIN jurisdictions j ON j.code = k.jurisdiction_code LEFT JOIN schools s ON s.id = k.school_id
"""


def _person_out(row: Any) -> dict:
    r = dict(row)
    r.pop("path", None)
    r.pop("id_number_cipher", None)
    r["id_number"] = r.pop("id_number_masked")
    r["id_number_masked"] = True
    return r


async def _person_row(db: Db, *, caller: Caller, person_id: uuid.UUID, lock: bool = False) -> dict:
    row = await db.fetchrow(f"""
        SELECT {PERSON_COLUMNS}, k.id_number_cipher {PERSON_FROM} WHERE k.id = :id {"FOR UPDATE OF k" if lock else ""}
    """, {"id": person_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no key person {person_id}")
    return dict(row)


async def create_person(db: Db, *, caller: Caller, cipher: IdentityCipher, body: dict[str, Any]) -> dict:
    """Register a key person (rules 1–4)."""
    require_sensitive(caller)
    _check_choice(body.get("category"), CATEGORIES, "category")
    _check_choice(body.get("risk_level"), RISK_LEVELS, "risk_level")
    number = validate(body["id_number"])
    home = await _school_home(db, caller=caller, school_id=body.get("school_id"))
    code = home or (await jurisdictions.in_scope(
        db, caller=caller, code=body.get("jurisdiction_code") or caller.jurisdiction_code))["code"]
    if home and body.get("jurisdiction_code") and body["jurisdiction_code"] != home:
        raise InvalidInput("a key person near a school belongs to the school's jurisdiction",
                           field="jurisdiction_code")
    await _check_officer(db, caller=caller, user_id=body.get("responsible_officer_id"))
    person_id = uuid.uuid4()
    try:
        async with db.transaction():
            await db.execute("""
                INSERT INTO key_persons (id, jurisdiction_code, school_id, category, name, id_number_cipher,
                                         id_number_digest, id_number_masked, address, risk_level, control_measures,
                                         responsible_officer_id, created_by)
                VALUES (:id, :code, :school_id, :category, :name, :cipher, :digest, :masked, :address,
                        COALESCE(CAST(:risk_level AS varchar), 'medium'), :control_measures,
                        :responsible_officer_id, :created_by)
            """, {"id": person_id, "code": code, "school_id": body.get("school_id"), "category": body["category"],
                  "name": body["name"], "cipher": cipher.encrypt(number, record_id=person_id),
                  "digest": cipher.digest(number), "masked": mask(number), "address": body.get("address"),
                  "risk_level": body.get("risk_level"), "control_measures": body.get("control_measures"),
                  "responsible_officer_id": body.get("responsible_officer_id"), "created_by": caller.user_id})
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("this identity number is already registered in this jurisdiction", field="id_number") from exc
    await audit.record(db, caller=caller, entity="key_person", entity_id=person_id, action="create",
                       jurisdiction_code=code, changes={"category": body["category"], "id_number": mask(number),
                                                        "school_id": body.get("school_id")})
    return _person_out(await _person_row(db, caller=caller, person_id=person_id))


async def get_person(db: Db, *, caller: Caller, cipher: IdentityCipher, person_id: uuid.UUID,
                     unmask: bool = False, reason: str | None = None) -> dict:
    """One key person, audited as read; with `unmask` (admins, with a reason) the number in clear, audited as
    unmask with the reason."""
    require_sensitive(caller)
    if unmask:
        if caller.role is not Role.admin:
            raise Forbidden("only an admin may read an identity number in clear")
        if reason is None or len(reason.strip()) < UNMASK_REASON_MIN_LEN:
            raise InvalidInput(f"say why you need the number in clear (at least {UNMASK_REASON_MIN_LEN} "
                               "characters)", field="reason")
    row = await _person_row(db, caller=caller, person_id=person_id)
    out = _person_out(row)
    if unmask:
        out["id_number"] = cipher.decrypt(row["id_number_cipher"], record_id=person_id)
        out["id_number_masked"] = False
    await audit.record(db, caller=caller, entity="key_person", entity_id=person_id,
                       action="unmask" if unmask else "read", jurisdiction_code=row["jurisdiction_code"],
                       changes={"reason": reason.strip()} if unmask else None)
    return out


async def _audit_list(db: Db, *, caller: Caller, entity: str, items: list[dict], filters: dict[str, Any]) -> None:
    """Every read of these ledgers is audited: a list with its filter and the ids it returned."""
    await audit.record(db, caller=caller, entity=entity, entity_id="list", action="read",
                       jurisdiction_code=filters.get("jurisdiction_code") or caller.jurisdiction_code,
                       changes={"filter": {k: v for k, v in filters.items() if v is not None},
                                "ids": [str(r["id"]) for r in items]})


async def list_persons(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                       jurisdiction_code: str | None = None, school_id: uuid.UUID | None = None,
                       category: str | None = None, status: str | None = None,
                       risk_level: str | None = None) -> tuple[list[dict], str | None]:
    """Key persons in the caller's jurisdictions, newest first; the read is audited with the ids returned."""
    require_sensitive(caller)
    _check_choice(category, CATEGORIES, "category")
    _check_choice(status, PERSON_STATUSES, "status")
    _check_choice(risk_level, RISK_LEVELS, "risk_level")
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    rows = await db.fetch(f"""
        SELECT {PERSON_COLUMNS} {PERSON_FROM}
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:school_id AS uuid) IS NULL OR k.school_id = :school_id)
          AND (CAST(:category AS text) IS NULL OR k.category = :category)
          AND (CAST(:status AS text) IS NULL OR k.status = :status)
          AND (CAST(:risk AS text) IS NULL OR k.risk_level = :risk)
          AND (CAST(:a_at AS timestamptz) IS NULL
               OR (k.created_at, k.id) < (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
        ORDER BY k.created_at DESC, k.id DESC
        LIMIT :n
    """, {"scope": scope, "school_id": school_id, "category": category, "status": status, "risk": risk_level,
          "a_at": after[0] if after else None, "a_id": after[1] if after else None,
          "n": limit + 1})
    items, nxt = page_of([dict(r) for r in rows], limit=limit,
                         key=lambda r: [r["created_at"].isoformat(), str(r["id"])])
    await _audit_list(db, caller=caller, entity="key_person", items=items, filters={
        "jurisdiction_code": jurisdiction_code, "school_id": school_id, "category": category, "status": status,
        "risk_level": risk_level})
    return [_person_out(r) for r in items], nxt


async def update_person(db: Db, *, caller: Caller, cipher: IdentityCipher, person_id: uuid.UUID,
                        changes: dict[str, Any]) -> dict:
    """Change a key person's category, school, risk, measures, responsible officer, status or number."""
    require_sensitive(caller)
    row = await _person_row(db, caller=caller, person_id=person_id, lock=True)
    for key in ("category", "name", "risk_level", "status", "id_number"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", field=key)
    _check_choice(changes.get("category"), CATEGORIES, "category")
    _check_choice(changes.get("risk_level"), RISK_LEVELS, "risk_level")
    _check_choice(changes.get("status"), PERSON_STATUSES, "status")
    code = row["jurisdiction_code"]
    if changes.get("school_id") is not None:
        code = await _school_home(db, caller=caller, school_id=changes["school_id"])
    if "responsible_officer_id" in changes:
        await _check_officer(db, caller=caller, user_id=changes["responsible_officer_id"])
    sets = {k: changes[k] for k in ("category", "name", "address", "risk_level", "control_measures",
                                    "responsible_officer_id", "status", "school_id") if k in changes}
    sets["jurisdiction_code"] = code
    logged = {k: v for k, v in changes.items() if k != "id_number"}
    if "id_number" in changes:
        number = validate(changes["id_number"])
        sets.update(id_number_cipher=cipher.encrypt(number, record_id=person_id),
                    id_number_digest=cipher.digest(number), id_number_masked=mask(number))
        logged["id_number"] = mask(number)
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    try:
        async with db.transaction():
            await db.execute(f"UPDATE key_persons SET {assignments}, updated_at = now() WHERE id = :id",
                             {**sets, "id": person_id})
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("this identity number is already registered in this jurisdiction", field="id_number") from exc
    await audit.record(db, caller=caller, entity="key_person", entity_id=person_id, action="update",
                       jurisdiction_code=code, changes=logged)
    return _person_out(await _person_row(db, caller=caller, person_id=person_id))


VISIT_COLUMNS = """v.id, v.key_person_id, v.visited_at, v.visited_by, u.display_name AS visited_by_name, v.findings,
                   v.dangerous_items_found, v.measures, v.created_at"""


async def add_visit(db: Db, *, caller: Caller, person_id: uuid.UUID, body: dict[str, Any], now: datetime) -> dict:
    """Log a visit (rule 5)."""
    require_sensitive(caller)
    row = await _person_row(db, caller=caller, person_id=person_id, lock=True)
    if body["visited_at"] > now + timedelta(seconds=VISIT_FUTURE_TOLERANCE_S):
        raise InvalidInput("visited_at lies in the future", field="visited_at")
    visit_id = uuid.uuid4()
    await db.execute("""
        INSERT INTO key_person_visits (id, key_person_id, visited_at, visited_by, findings, dangerous_items_found,
                                       measures)
        VALUES (:id, :person, :visited_at, :by, :findings, :dangerous, :measures)
    """, {"id": visit_id, "person": person_id, "visited_at": body["visited_at"], "by": caller.user_id,
          "findings": body.get("findings"), "dangerous": bool(body.get("dangerous_items_found")),
          "measures": body.get("measures")})
    await db.execute("""
        UPDATE key_persons SET last_visit_at = GREATEST(last_visit_at, CAST(:at AS timestamptz)), updated_at = now()
        WHERE id = :id
    """, {"id": person_id, "at": body["visited_at"]})
    await audit.record(db, caller=caller, entity="key_person", entity_id=person_id, action="visit",
                       jurisdiction_code=row["jurisdiction_code"],
                       changes={"visit_id": visit_id, "visited_at": body["visited_at"],
                                "dangerous_items_found": bool(body.get("dangerous_items_found"))})
    return dict(await db.fetchrow(f"""
        SELECT {VISIT_COLUMNS} FROM key_person_visits v LEFT JOIN users u ON u.id = v.visited_by WHERE v.id = :id
    """, {"id": visit_id}))


async def list_visits(db: Db, *, caller: Caller, person_id: uuid.UUID) -> list[dict]:
    """The visit log of a key person, latest first (audited as a read)."""
    require_sensitive(caller)
    row = await _person_row(db, caller=caller, person_id=person_id)
    rows = await db.fetch(f"""
        SELECT {VISIT_COLUMNS} FROM key_person_visits v LEFT JOIN users u ON u.id = v.visited_by
        WHERE v.key_person_id = :id ORDER BY v.visited_at DESC, v.id DESC LIMIT 1000
    """, {"id": person_id})
    await audit.record(db, caller=caller, entity="key_person", entity_id=person_id, action="read_visits",
                       jurisdiction_code=row["jurisdiction_code"], changes={"visits": len(rows)})
    return [dict(r) for r in rows]


# --- disputes ------------------------------------------------------------------------------------------

DISPUTE_COLUMNS = """
    d.id, d.jurisdiction_code, d.school_id, s.name AS school_name, d.kind, d.parties, d.summary,
    d.mediation_status, d.responsible_officer_id, d.found_on, d.resolved_at, d.closing_note, d.created_by,
    d.created_at, d.updated_at, j.path::text AS path
"""
DISPUTE_FROM = """
    FROM disputes d JOIN jurisdictions j ON j.code = d.jurisdiction_code JOIN schools s ON s.id = d.school_id
"""


def _dispute_out(row: Any) -> dict:
    r = dict(row)
    r.pop("path", None)
    return r


async def _dispute_row(db: Db, *, caller: Caller, dispute_id: uuid.UUID, lock: bool = False) -> dict:
    row = await db.fetchrow(f"""
        SELECT {DISPUTE_COLUMNS} {DISPUTE_FROM} WHERE d.id = :id {"FOR UPDATE OF d" if lock else ""}
    """, {"id": dispute_id})
    if row is None or not caller.sees_path(row["path"]):
        raise NotFound(f"no dispute {dispute_id}")
    return dict(row)


async def create_dispute(db: Db, *, caller: Caller, body: dict[str, Any], now: datetime) -> dict:
    """Register a dispute involving a school (rules 1, 2, 6)."""
    require_sensitive(caller)
    _check_choice(body.get("kind"), DISPUTE_KINDS, "kind")
    status = body.get("mediation_status") or "registered"
    _check_choice(status, MEDIATION_STATUSES, "mediation_status")
    found_on: date = body["found_on"]
    if found_on > now.date() + timedelta(days=1):
        raise InvalidInput("found_on lies in the future", field="found_on")
    code = await _school_home(db, caller=caller, school_id=body["school_id"])
    await _check_officer(db, caller=caller, user_id=body.get("responsible_officer_id"))
    dispute_id = uuid.uuid4()
    await db.execute("""
        INSERT INTO disputes (id, jurisdiction_code, school_id, kind, parties, summary, mediation_status,
                              responsible_officer_id, found_on, resolved_at, closing_note, created_by)
        VALUES (:id, :code, :school_id, :kind, CAST(:parties AS jsonb), :summary, CAST(:status AS varchar),
                :officer, :found_on, CASE WHEN CAST(:status AS varchar) = 'resolved' THEN now() END, :closing_note, :created_by)
    """, {"id": dispute_id, "code": code, "school_id": body["school_id"], "kind": body["kind"],
          "parties": json.dumps(body.get("parties") or [], ensure_ascii=False), "summary": body.get("summary"),
          "status": status, "officer": body.get("responsible_officer_id"), "found_on": found_on,
          "closing_note": body.get("closing_note"), "created_by": caller.user_id})
    await audit.record(db, caller=caller, entity="dispute", entity_id=dispute_id, action="create",
                       jurisdiction_code=code, changes={"school_id": body["school_id"], "kind": body["kind"],
                                                        "mediation_status": status})
    return _dispute_out(await _dispute_row(db, caller=caller, dispute_id=dispute_id))


async def get_dispute(db: Db, *, caller: Caller, dispute_id: uuid.UUID) -> dict:
    require_sensitive(caller)
    row = await _dispute_row(db, caller=caller, dispute_id=dispute_id)
    await audit.record(db, caller=caller, entity="dispute", entity_id=dispute_id, action="read",
                       jurisdiction_code=row["jurisdiction_code"])
    return _dispute_out(row)


async def list_disputes(db: Db, *, caller: Caller, limit: int, cursor: str | None,
                        jurisdiction_code: str | None = None, school_id: uuid.UUID | None = None,
                        mediation_status: str | None = None, kind: str | None = None) -> tuple[list[dict], str | None]:
    """Disputes in the caller's jurisdictions, newest first; the read is audited with the ids returned."""
    require_sensitive(caller)
    _check_choice(mediation_status, MEDIATION_STATUSES, "mediation_status")
    _check_choice(kind, DISPUTE_KINDS, "kind")
    after = decode_time_id_cursor(cursor)
    scope = await jurisdictions.narrowed_scope(db, caller=caller, code=jurisdiction_code)
    rows = await db.fetch(f"""
        SELECT {DISPUTE_COLUMNS} {DISPUTE_FROM}
        WHERE j.path <@ CAST(:scope AS ltree)
          AND (CAST(:school_id AS uuid) IS NULL OR d.school_id = :school_id)
          AND (CAST(:status AS text) IS NULL OR d.mediation_status = :status)
          AND (CAST(:kind AS text) IS NULL OR d.kind = :kind)
          AND (CAST(:a_at AS timestamptz) IS NULL
               OR (d.created_at, d.id) < (CAST(:a_at AS timestamptz), CAST(:a_id AS uuid)))
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT :n
    """, {"scope": scope, "school_id": school_id, "status": mediation_status, "kind": kind,
          "a_at": after[0] if after else None, "a_id": after[1] if after else None,
          "n": limit + 1})
    items, nxt = page_of([dict(r) for r in rows], limit=limit,
                         key=lambda r: [r["created_at"].isoformat(), str(r["id"])])
    await _audit_list(db, caller=caller, entity="dispute", items=items, filters={
        "jurisdiction_code": jurisdiction_code, "school_id": school_id, "kind": kind,
        "mediation_status": mediation_status})
    return [_dispute_out(r) for r in items], nxt


async def update_dispute(db: Db, *, caller: Caller, dispute_id: uuid.UUID, changes: dict[str, Any]) -> dict:
    """Move mediation forward (rule 6) or edit the parties, summary, officer or closing note."""
    require_sensitive(caller)
    row = await _dispute_row(db, caller=caller, dispute_id=dispute_id, lock=True)
    status = changes.get("mediation_status")
    if "mediation_status" in changes and status is None:
        raise InvalidInput("mediation_status cannot be null", field="mediation_status")
    _check_choice(status, MEDIATION_STATUSES, "mediation_status")
    current = row["mediation_status"]
    if status is not None and status != current:
        if current in FINAL_MEDIATION:
            raise Conflict(f"the dispute is {current}; that is final", field="mediation_status")
        if MEDIATION_RANK[status] < MEDIATION_RANK[current]:
            raise Conflict(f"mediation only moves forward (it is {current})", field="mediation_status")
    if "responsible_officer_id" in changes:
        await _check_officer(db, caller=caller, user_id=changes["responsible_officer_id"])
    sets = {k: changes[k] for k in ("summary", "responsible_officer_id", "closing_note") if k in changes}
    if "parties" in changes:
        sets["parties"] = json.dumps(changes["parties"] or [], ensure_ascii=False)
    assignments = [f"{k} = :{k}" if k != "parties" else "parties = CAST(:parties AS jsonb)" for k in sets]
    if status is not None:
        assignments.append("mediation_status = CAST(:status AS varchar)")
        assignments.append("resolved_at = CASE WHEN CAST(:status AS varchar) = 'resolved' AND resolved_at IS NULL "
                           "THEN now() ELSE resolved_at END")
    if assignments:
        await db.execute(f"UPDATE disputes SET {', '.join(assignments)}, updated_at = now() WHERE id = :id",
                         {**sets, "status": status, "id": dispute_id} if status is not None
                         else {**sets, "id": dispute_id})
    await audit.record(db, caller=caller, entity="dispute", entity_id=dispute_id, action="update",
                       jurisdiction_code=row["jurisdiction_code"],
                       changes={k: v for k, v in changes.items() if k != "parties"})
    return _dispute_out(await _dispute_row(db, caller=caller, dispute_id=dispute_id))
