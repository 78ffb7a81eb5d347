"""Every webhook a delegation can receive, described in the OpenAPI document (3.1 ``webhooks``).

One webhook per event type the intake takes in (``consumers.CONSUMED``), and one for the
digests (``digest.ready``, whose ``data`` is the digest, without ``context``): its body is the
envelope ``webhook_body`` writes (``type``, ``timestamp``, ``event_id``, ``delegation``) with
that type's contract as ``data``, and its headers are the three of Standard Webhooks. The
descriptions are built from the same contracts the consumer validates against, so a receiver
generated from the document cannot drift from what is sent.

The routes registered here only describe: FastAPI serves nothing for ``app.webhooks``.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from services.notifications.consumers import CONSUMED
from services.notifications.intake.context import NoticeContext
from services.notifications.intake.domain import Consumed
from shared.contracts.notifications import DigestReady

WEBHOOK_ID_DOC = (
    "The delivery's id, the same on every retry and redelivery: dedupe on it. "
    "Signed together with the timestamp and the body."
)
WEBHOOK_TIMESTAMP_DOC = (
    "Unix seconds of this attempt; refuse one more than five minutes away from your clock."
)
WEBHOOK_SIGNATURE_DOC = (
    '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` with the base64 '
    "part of the endpoint's `whsec_` secret as the key; two of them, space-separated, while a "
    "rotated secret's overlap lasts (either may verify)."
)

# What the receiver's answer does (``webhooks/domain.py``), said once for every webhook.
RESPONSES: dict[int | str, dict[str, Any]] = {
    410: {
        "description": "Gone: the endpoint is disabled at once; its deliveries (this one "
        "included) wait, and go out in order once the delegation re-enables it"
    },
    "default": {
        "description": "Anything else, or no answer within the deadline: retried on the "
        "schedule (a `Retry-After` header is honoured), with the same `webhook-id`"
    },
}


class WebhookEnvelope(BaseModel):
    """What every webhook body carries around the event's data."""

    # Open like the contracts: a field added later must not break a generated receiver.
    model_config = ConfigDict(extra="allow")

    timestamp: datetime = Field(description="When the event happened (its CloudEvents `time`)")
    event_id: str = Field(description="The event's CloudEvents `id`, the same for every delegation")
    delegation: str = Field(description="The delegation this copy is for", examples=["VNM"])
    dataschemaversion: int = Field(
        default=1,
        description="The version of `data`'s contract, present from a type's second version on "
        "(absent: version 1); a receiver that knows only an older one can tell",
    )
    context: NoticeContext | None = Field(
        default=None,
        description="What the event is about, by name, so that a person can act without "
        "another call (absent on events taken in before Accord recorded it)",
    )


# What a delegation can receive: every event taken in, and its digests.
DELIVERED: tuple[type[Consumed] | type[DigestReady], ...] = (*CONSUMED, DigestReady)


def payload_model(contract: type[Consumed] | type[DigestReady]) -> type[WebhookEnvelope]:
    """The body of the webhook sent for ``contract``'s events: its ``type`` a constant, so a
    receiver can tell the webhooks apart by it, and ``data`` the contract as published."""
    event_type = Literal[contract.event_type]  # type: ignore[name-defined]
    model: type[WebhookEnvelope] = create_model(
        f"{contract.__name__}Webhook",
        __base__=WebhookEnvelope,
        __doc__=_summary(contract),
        type=(event_type, Field(description="The event's type; names the webhook")),
        data=(contract, Field(description="The event's data exactly as its publisher wrote it")),
    )
    return model


def describe_webhooks(app: FastAPI) -> None:
    for contract in DELIVERED:
        app.webhooks.add_api_route(
            contract.event_type,
            _describing(payload_model(contract)),
            methods=["POST"],
            summary=contract.event_type,
            description=_summary(contract),
            tags=["webhooks"],
            response_class=Response,
            response_description="Delivered: any 2xx answer within the deadline (15 s); "
            "only the first 4 KiB of the answer is read",
            responses=RESPONSES,
            operation_id=f"webhook_{contract.event_type.removeprefix('org.accord.')}",
        )


def _describing(model: type[WebhookEnvelope]) -> Any:
    async def webhook(
        payload: model,  # type: ignore[valid-type]
        webhook_id: Annotated[str, Header(description=WEBHOOK_ID_DOC)],
        webhook_timestamp: Annotated[str, Header(description=WEBHOOK_TIMESTAMP_DOC)],
        webhook_signature: Annotated[str, Header(description=WEBHOOK_SIGNATURE_DOC)],
    ) -> None:
        """Never called: FastAPI only documents ``app.webhooks``."""

    return webhook


def _summary(contract: type[Consumed] | type[DigestReady]) -> str:
    return " ".join((contract.__doc__ or "").strip().split("\n\n")[0].split())
