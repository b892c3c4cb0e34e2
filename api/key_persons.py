"""Key persons (重点人员) and disputes (矛盾纠纷): commanders and admins only; every read audited; identity
numbers masked (an admin may unmask one, giving a reason)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentCaller
from api.deps import AppSettings, Now, Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, Day, Instant, Page
from domain import key_persons
from domain.callers import Caller
from domain.identity_numbers import cipher_for
from domain.settings import Settings

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

Category = Literal[key_persons.CATEGORIES]  # type: ignore[valid-type]
Risk = Literal[key_persons.RISK_LEVELS]  # type: ignore[valid-type]
PersonStatus = Literal[key_persons.PERSON_STATUSES]  # type: ignore[valid-type]
DisputeKind = Literal[key_persons.DISPUTE_KINDS]  # type: ignore[valid-type]
Mediation = Literal[key_persons.MEDIATION_STATUSES]  # type: ignore[valid-type]
CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]
CodeQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")]


async def sensitive_caller(caller: CurrentCaller) -> Caller:
    """Commanders and admins (people, never keys) — checked before the body is read, so a refused caller
    learns nothing about the body rules."""
    key_persons.require_sensitive(caller)
    return caller


Sensitive = Annotated[Caller, Depends(sensitive_caller)]


def _cipher(settings: Settings):
    return cipher_for(settings.resolved_pii_key())


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- key persons -----------------------------------------------------------------------------------------

class KeyPerson(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    school_id: uuid.UUID | None
    school_name: str | None
    category: Category
    name: str
    id_number: str = Field(description="Masked (`110***********1234`) unless an admin unmasked it.",
                           examples=["110***********0021"])
    id_number_masked: bool
    address: str | None
    risk_level: Risk
    control_measures: str | None
    responsible_officer_id: uuid.UUID | None
    status: PersonStatus
    last_visit_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class KeyPersonCreate(Strict):
    category: Category
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(max_length=32, description="18 characters with a valid check character; stored "
                                                      "encrypted, answered masked.")
    school_id: uuid.UUID | None = Field(default=None, description="The school near which the person lives or "
                                                                  "appears; sets the jurisdiction.")
    jurisdiction_code: CodeField | None = None
    address: str | None = Field(default=None, max_length=500)
    risk_level: Risk = "medium"
    control_measures: str | None = Field(default=None, max_length=4000, description="管控措施")
    responsible_officer_id: uuid.UUID | None = None


class KeyPersonPatch(Strict):
    category: Category = None
    name: str = Field(default=None, min_length=1, max_length=100)
    id_number: str = Field(default=None, max_length=32)
    school_id: uuid.UUID | None = None
    address: str | None = Field(default=None, max_length=500)
    risk_level: Risk = None
    control_measures: str | None = Field(default=None, max_length=4000)
    responsible_officer_id: uuid.UUID | None = None
    status: PersonStatus = None


class VisitCreate(Strict):
    visited_at: Instant
    findings: str | None = Field(default=None, max_length=4000, description="现实表现")
    dangerous_items_found: bool = Field(default=False, description="Petrol, firearms, explosives or controlled "
                                                                   "knives found (私藏汽油、枪支弹药、危爆物品、管制刀具)")
    measures: str | None = Field(default=None, max_length=2000)


class Visit(BaseModel):
    id: uuid.UUID
    key_person_id: uuid.UUID
    visited_at: datetime
    visited_by: uuid.UUID | None
    visited_by_name: str | None
    findings: str | None
    dangerous_items_found: bool
    measures: str | None
    created_at: datetime


@router.post("/key-persons", response_model=KeyPerson, status_code=201, tags=["key persons"],
             summary="Register a key person (commanders, admins); the identity number is encrypted at rest")
async def create_key_person(body: KeyPersonCreate, caller: Sensitive, db: Tx, settings: AppSettings) -> dict:
    return await key_persons.create_person(db, caller=caller, cipher=_cipher(settings), body=body.model_dump())


@router.get("/key-persons", response_model=Page[KeyPerson], tags=["key persons"],
            summary="Key persons in your jurisdictions (commanders, admins), newest first; the read is audited")
async def list_key_persons(
    caller: Sensitive, db: Reads, paging: Paging,
    jurisdiction_code: CodeQuery = None, school_id: uuid.UUID | None = None, category: Category | None = None,
    status: PersonStatus | None = None, risk_level: Risk | None = None,
) -> dict:
    items, nxt = await key_persons.list_persons(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                                jurisdiction_code=jurisdiction_code, school_id=school_id,
                                                category=category, status=status, risk_level=risk_level)
    return {"items": items, "next_cursor": nxt}


@router.get("/key-persons/{person_id}", response_model=KeyPerson, tags=["key persons"],
            summary="One key person (audited); `unmask=true` with a `reason`: the identity number in clear "
                    "(admins only; audited with the reason)")
async def get_key_person(
    person_id: uuid.UUID, caller: Sensitive, db: Reads, settings: AppSettings,
    unmask: bool = False,
    reason: Annotated[str | None, Query(max_length=500, description="Why the number is needed in clear")] = None,
) -> dict:
    return await key_persons.get_person(db, caller=caller, cipher=_cipher(settings), person_id=person_id,
                                        unmask=unmask, reason=reason)


@router.patch("/key-persons/{person_id}", response_model=KeyPerson, tags=["key persons"])
async def update_key_person(person_id: uuid.UUID, body: KeyPersonPatch, caller: Sensitive, db: Tx,
                            settings: AppSettings) -> dict:
    return await key_persons.update_person(db, caller=caller, cipher=_cipher(settings), person_id=person_id,
                                           changes=body.model_dump(exclude_unset=True))


@router.post("/key-persons/{person_id}/visits", response_model=Visit, status_code=201, tags=["key persons"],
             summary="Log a visit to a key person (走访)")
async def create_visit(person_id: uuid.UUID, body: VisitCreate, caller: Sensitive, db: Tx, now: Now) -> dict:
    return await key_persons.add_visit(db, caller=caller, person_id=person_id, body=body.model_dump(), now=now)


@router.get("/key-persons/{person_id}/visits", response_model=list[Visit], tags=["key persons"],
            summary="The visit log of a key person, latest first (audited)")
async def list_visits(person_id: uuid.UUID, caller: Sensitive, db: Reads) -> list[dict]:
    return await key_persons.list_visits(db, caller=caller, person_id=person_id)


# --- disputes ----------------------------------------------------------------------------------------------

class Party(Strict):
    name: str = Field(min_length=1, max_length=100)
    role: str | None = Field(default=None, max_length=100, examples=["学生家长"])
    phone: str | None = Field(default=None, max_length=32)


class Dispute(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    school_id: uuid.UUID
    school_name: str
    kind: DisputeKind
    parties: list[dict]
    summary: str | None
    mediation_status: Mediation
    responsible_officer_id: uuid.UUID | None
    found_on: date
    resolved_at: datetime | None = Field(description="Stamped by the server when mediation resolved it.")
    closing_note: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DisputeCreate(Strict):
    school_id: uuid.UUID
    kind: DisputeKind
    parties: list[Party] = Field(default_factory=list, max_length=50)
    summary: str | None = Field(default=None, max_length=4000)
    found_on: Day
    mediation_status: Mediation = "registered"
    responsible_officer_id: uuid.UUID | None = None
    closing_note: str | None = Field(default=None, max_length=2000)


class DisputePatch(Strict):
    mediation_status: Mediation = Field(default=None, description="Forward only: registered → mediating → "
                                                                  "resolved | referred (final)")
    parties: list[Party] = Field(default=None, max_length=50)
    summary: str | None = Field(default=None, max_length=4000)
    responsible_officer_id: uuid.UUID | None = None
    closing_note: str | None = Field(default=None, max_length=2000)


@router.post("/disputes", response_model=Dispute, status_code=201, tags=["disputes"],
             summary="Register a dispute involving a school (commanders, admins)")
async def create_dispute(body: DisputeCreate, caller: Sensitive, db: Tx, now: Now) -> dict:
    return await key_persons.create_dispute(db, caller=caller, body=body.model_dump(), now=now)


@router.get("/disputes", response_model=Page[Dispute], tags=["disputes"],
            summary="Disputes in your jurisdictions (commanders, admins), newest first; the read is audited")
async def list_disputes(
    caller: Sensitive, db: Reads, paging: Paging,
    jurisdiction_code: CodeQuery = None, school_id: uuid.UUID | None = None,
    mediation_status: Mediation | None = None, kind: DisputeKind | None = None,
) -> dict:
    items, nxt = await key_persons.list_disputes(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                                 jurisdiction_code=jurisdiction_code, school_id=school_id,
                                                 mediation_status=mediation_status, kind=kind)
    return {"items": items, "next_cursor": nxt}


@router.get("/disputes/{dispute_id}", response_model=Dispute, tags=["disputes"])
async def get_dispute(dispute_id: uuid.UUID, caller: Sensitive, db: Reads) -> dict:
    return await key_persons.get_dispute(db, caller=caller, dispute_id=dispute_id)


@router.patch("/disputes/{dispute_id}", response_model=Dispute, tags=["disputes"],
              summary="Move mediation forward, or edit parties, summary, officer, closing note")
async def update_dispute(dispute_id: uuid.UUID, body: DisputePatch, caller: Sensitive, db: Tx) -> dict:
    return await key_persons.update_dispute(db, caller=caller, dispute_id=dispute_id,
                                            changes=body.model_dump(exclude_unset=True))
