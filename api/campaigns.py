"""Campaigns (专项行动): period, covered jurisdictions, report due dates, scoring policies in force."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Commander, CurrentCaller
from api.deps import Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, Day, Page
from domain import campaigns

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["campaigns"])

CodeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{2,32}$")]
PolicyKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,40}@v[1-9][0-9]{0,5}$", examples=["1-3-5@v1"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportDueIn(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["半年工作总结"])
    due: Day = Field(examples=["2023-07-31"])


class ReportDue(BaseModel):
    name: str
    due: date


class Period(BaseModel):
    from_: datetime = Field(alias="from", description="The first instant: starts_on 00:00 local time.")
    to: datetime = Field(description="The end (exclusive): the day after ends_on, 00:00 local time.")


class Campaign(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str = Field(description="The owner: whose campaign it is.")
    name: str
    description: str | None
    starts_on: date
    ends_on: date = Field(description="The last day of the campaign (inclusive).")
    time_zone: str = Field(description="The owner's time zone, in which the dates are local.")
    period: Period
    jurisdiction_codes: list[str] = Field(description="The jurisdictions covered (with everything below them).")
    report_dues: list[ReportDue]
    policy_keys: list[str] = Field(description="Scoring policies in force; reports score with the first.")
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class CampaignCreate(Strict):
    name: str = Field(min_length=1, max_length=campaigns.NAME_MAX_LEN)
    description: str | None = Field(default=None, max_length=4000)
    starts_on: Day
    ends_on: Day
    jurisdiction_code: CodeField | None = Field(default=None, description="The owner (default: yours).")
    jurisdiction_codes: list[CodeField] | None = Field(default=None, max_length=500,
                                                        description="Covered (default: the owner).")
    report_dues: list[ReportDueIn] = Field(default_factory=list, max_length=campaigns.REPORT_DUES_MAX)
    policy_keys: list[PolicyKey] | None = Field(default=None, max_length=10,
                                                description="Default `[\"1-3-5@v1\"]`.")


class CampaignPatch(Strict):
    name: str = Field(default=None, min_length=1, max_length=campaigns.NAME_MAX_LEN)
    description: str | None = Field(default=None, max_length=4000)
    starts_on: Day = None
    ends_on: Day = None
    jurisdiction_codes: list[CodeField] = Field(default=None, max_length=500)
    report_dues: list[ReportDueIn] = Field(default=None, max_length=campaigns.REPORT_DUES_MAX)
    policy_keys: list[PolicyKey] = Field(default=None, max_length=10)


@router.post("/campaigns", response_model=Campaign, status_code=201,
             summary="Start a campaign (admins, commanders) over jurisdictions in your scope")
async def create_campaign(body: CampaignCreate, caller: Commander, db: Tx) -> dict:
    new = campaigns.CampaignInput(
        name=body.name, description=body.description, starts_on=body.starts_on, ends_on=body.ends_on,
        jurisdiction_code=body.jurisdiction_code, jurisdiction_codes=body.jurisdiction_codes,
        report_dues=[d.model_dump() for d in body.report_dues], policy_keys=body.policy_keys)
    return await campaigns.create(db, caller=caller, new=new)


@router.get("/campaigns", response_model=Page[Campaign],
            summary="Campaigns you see (your jurisdictions' and those above you), latest start first")
async def list_campaigns(
    caller: CurrentCaller, db: Reads, paging: Paging,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$",
                                                   description="Only those owned at or below it")] = None,
    active_on: Annotated[Day | None, Query(description="Only those whose period holds this local date")] = None,
) -> dict:
    items, nxt = await campaigns.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                           jurisdiction_code=jurisdiction_code, active_on=active_on)
    return {"items": items, "next_cursor": nxt}


@router.get("/campaigns/{campaign_id}", response_model=Campaign)
async def get_campaign(campaign_id: uuid.UUID, caller: CurrentCaller, db: Reads) -> dict:
    return await campaigns.get(db, caller=caller, campaign_id=campaign_id)


@router.patch("/campaigns/{campaign_id}", response_model=Campaign,
              summary="Change a campaign (admins, commanders whose scope holds its owner)")
async def update_campaign(campaign_id: uuid.UUID, body: CampaignPatch, caller: Commander, db: Tx) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return await campaigns.update(db, caller=caller, campaign_id=campaign_id, changes=changes)
