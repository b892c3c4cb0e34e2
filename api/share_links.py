"""Share links: expiring, read-only links to the map of one jurisdiction (admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import Admin
from api.deps import AppSettings, Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, Page
from domain import share_links

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


class ShareLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$", examples=["500243"])
    name: str = Field(min_length=1, max_length=200, examples=["县教育局 大屏 12月"],
                      description="Who the link is for; shown in listings and the audit log.")
    expires_at: AwareDatetime = Field(description=f"When the link stops working; at most "
                                                  f"{share_links.SHARE_LINK_MAX_DAYS} days ahead.")


class ShareLink(BaseModel):
    id: uuid.UUID
    prefix: str = Field(description="The key's public prefix (`hx_<prefix>_…`), to tell links apart.")
    name: str
    jurisdiction_code: str
    created_at: datetime
    created_by: uuid.UUID | None
    expires_at: datetime
    revoked_at: datetime | None
    active: bool = Field(description="Neither revoked nor expired.")


class ShareLinkCreated(ShareLink):
    key: str = Field(description="The viewer key. It is shown only now; it works as `?key=` on GET endpoints "
                                 "or as `X-API-Key`.")
    url: str = Field(description="The map page for this link: `<base>/map?key=<key>`.")


def _map_url(request: Request, key: str) -> str:
    return str(request.url_for("map_page").include_query_params(key=key))


@router.post("/share-links", response_model=ShareLinkCreated, status_code=201, tags=["share links"],
             summary="Mint an expiring read-only link to the map of a jurisdiction (admin); the key is shown once")
async def create_share_link(body: ShareLinkCreate, caller: Admin, db: Tx, settings: AppSettings,
                            request: Request) -> dict:
    row, key = await share_links.create(db, settings, caller=caller, jurisdiction_code=body.jurisdiction_code,
                                        name=body.name, expires_at=body.expires_at)
    return {**row, "active": True, "key": key, "url": _map_url(request, key)}


@router.get("/share-links", response_model=Page[ShareLink], tags=["share links"],
            summary="Share links in your jurisdictions, newest first (admin)")
async def list_share_links(
    caller: Admin, db: Reads, paging: Paging,
    active: Annotated[bool | None, Query(description="true: still working; false: revoked or expired")] = None,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
) -> dict:
    items, nxt = await share_links.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                             active=active, jurisdiction_code=jurisdiction_code)
    return {"items": items, "next_cursor": nxt}


@router.delete("/share-links/{link_id}", response_model=ShareLink, tags=["share links"],
               summary="Revoke a share link (admin): it stops working at once")
async def revoke_share_link(link_id: uuid.UUID, caller: Admin, db: Tx) -> dict:
    return await share_links.revoke(db, caller=caller, link_id=link_id)
