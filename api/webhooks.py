"""Webhooks (admin): signed POSTs to a third party's HTTPS endpoint when incidents, missed tiers and duty alerts
happen in a jurisdiction; the outbox of deliveries with their last status, replay and ping."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import Admin
from api.deps import AppSettings, Paging, Reads, Tx
from api.schemas import PROBLEM_RESPONSES, Page
from domain import webhooks
from domain.webhook_delivery import Dispatcher

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["webhooks"])

EventName = Literal[tuple(webhooks.EVENTS)]  # type: ignore[valid-type]
EVENTS_DOC = ("Webhook events: " + ", ".join(f"`{name}`" for name in webhooks.EVENTS)
              + " (README, \"Webhooks\").")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,32}$", examples=["500243"],
                                   description="Events of this jurisdiction and those below it are delivered.")
    url: str = Field(min_length=1, max_length=webhooks.URL_MAX_CHARS, examples=["https://alerts.example.org/huxiao"],
                     description="An https:// URL whose host resolves to public addresses only.")
    events: list[EventName] = Field(min_length=1, max_length=len(webhooks.EVENTS), description=EVENTS_DOC)
    description: str | None = Field(default=None, max_length=200, examples=["县指挥中心 值班系统"])
    active: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(default=None, min_length=1, max_length=webhooks.URL_MAX_CHARS)
    events: list[EventName] = Field(default=None, min_length=1, max_length=len(webhooks.EVENTS))
    description: str | None = Field(default=None, max_length=200)
    active: bool = Field(default=None, description="false: nothing is queued or sent until it is true again "
                                                   "(deliveries already queued wait).")


class Webhook(BaseModel):
    id: uuid.UUID
    jurisdiction_code: str
    url: str
    events: list[str]
    description: str | None
    active: bool
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(description="The signing secret (`whsec_…`). It is shown only now: keep it with the "
                                    "receiver, which checks `Huxiao-Signature` with it.")


class Delivery(BaseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: str = Field(description="Sent as `Huxiao-Event-Id` and as the body's `id`: the same for every "
                                      "attempt and replay, so receivers can drop duplicates.")
    event: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="Attempts made (since the last replay).")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (pending only).")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's HTTP status of the last attempt, if any.")
    last_error: str | None
    delivered_at: datetime | None
    replays: int
    created_at: datetime


@router.post("/webhooks", response_model=WebhookWithSecret, status_code=201,
             summary="Register a webhook for a jurisdiction (admin); the signing secret is shown once")
async def create_webhook(body: WebhookCreate, caller: Admin, db: Tx, settings: AppSettings) -> dict:
    row, secret = await webhooks.create(db, settings, caller=caller, jurisdiction_code=body.jurisdiction_code,
                                        url=body.url, events=list(body.events), description=body.description,
                                        active=body.active)
    return {**row, "secret": secret}


@router.get("/webhooks", response_model=Page[Webhook], summary="Webhooks in your jurisdictions (admin)")
async def list_webhooks(
    caller: Admin, db: Reads, paging: Paging,
    jurisdiction_code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_]{2,32}$")] = None,
) -> dict:
    items, nxt = await webhooks.list_page(db, caller=caller, limit=paging.limit, cursor=paging.cursor,
                                          jurisdiction_code=jurisdiction_code)
    return {"items": items, "next_cursor": nxt}


@router.get("/webhooks/{webhook_id}", response_model=Webhook, summary="One webhook (admin)")
async def get_webhook(webhook_id: uuid.UUID, caller: Admin, db: Reads) -> dict:
    return await webhooks.get(db, caller=caller, webhook_id=webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=Webhook,
              summary="Change a webhook's URL, events, description or active flag (admin)")
async def update_webhook(webhook_id: uuid.UUID, body: WebhookPatch, caller: Admin, db: Tx,
                         settings: AppSettings) -> dict:
    return await webhooks.update(db, settings, caller=caller, webhook_id=webhook_id,
                                 changes=body.model_dump(exclude_unset=True))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response,
               summary="Remove a webhook and its deliveries (admin)")
async def delete_webhook(webhook_id: uuid.UUID, caller: Admin, db: Tx) -> Response:
    await webhooks.delete(db, caller=caller, webhook_id=webhook_id)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/secret", response_model=WebhookWithSecret,
             summary="Rotate a webhook's signing secret (admin); the new one is shown once")
async def rotate_webhook_secret(webhook_id: uuid.UUID, caller: Admin, db: Tx, settings: AppSettings) -> dict:
    row, secret = await webhooks.rotate_secret(db, settings, caller=caller, webhook_id=webhook_id)
    return {**row, "secret": secret}


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[Delivery],
            summary="A webhook's deliveries, newest first, with their last status (admin)")
async def list_deliveries(
    webhook_id: uuid.UUID, caller: Admin, db: Reads, paging: Paging,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
) -> dict:
    items, nxt = await webhooks.list_deliveries(db, caller=caller, webhook_id=webhook_id, limit=paging.limit,
                                                cursor=paging.cursor, state=state)
    return {"items": items, "next_cursor": nxt}


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", response_model=Delivery,
             status_code=202, summary="Send a delivery again now, same event id and body (admin)")
async def replay_delivery(webhook_id: uuid.UUID, delivery_id: uuid.UUID, caller: Admin, db: Tx) -> dict:
    return await webhooks.replay(db, caller=caller, webhook_id=webhook_id, delivery_id=delivery_id)


@router.post("/webhooks/{webhook_id}/ping", response_model=Delivery, status_code=202,
             summary="Queue a signed `ping` delivery to test the endpoint (admin)")
async def ping_webhook(webhook_id: uuid.UUID, caller: Admin, db: Tx) -> dict:
    return await webhooks.ping(db, caller=caller, webhook_id=webhook_id)


# --- the delivery worker in the app's lifespan --------------------------------------------------------------

def create_dispatcher(app: FastAPI) -> tuple:
    """Make the process' delivery worker (not started yet); answers the channel its LISTEN hub must add."""
    settings = app.state.settings
    if not settings.webhook_dispatch:
        app.state.webhook_dispatcher = None
        return ()
    dispatcher = Dispatcher(app.state.db, settings)
    app.state.webhook_dispatcher = dispatcher
    return ((webhooks.CHANNEL, dispatcher.notified, dispatcher.listening),)


async def start_dispatcher(app: FastAPI) -> None:
    dispatcher: Dispatcher | None = getattr(app.state, "webhook_dispatcher", None)
    if dispatcher is not None:
        await dispatcher.start()


async def stop_dispatcher(app: FastAPI) -> None:
    dispatcher: Dispatcher | None = getattr(app.state, "webhook_dispatcher", None)
    if dispatcher is not None:
        await dispatcher.stop()
