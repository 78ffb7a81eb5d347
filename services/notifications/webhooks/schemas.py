"""HTTP request and response models of webhook endpoints and deliveries."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from services.notifications.schemas import EVENT_TYPES_DOC, DelegationCode, EventTypePattern
from services.notifications.webhooks.domain import DeliveryStatus
from shared.schemas import RequestModel, ResponseModel, representable_in_utc


class EndpointCreate(RequestModel):
    delegation: DelegationCode | None = Field(
        default=None, description="Whose endpoint; a delegation's token implies its own"
    )
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        examples=["https://hooks.mission.example.vn/accord"]
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    event_types: list[EventTypePattern] = Field(
        default_factory=list, max_length=30, description=EVENT_TYPES_DOC
    )


class EndpointUpdate(RequestModel):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    event_types: list[EventTypePattern] | None = Field(default=None, max_length=30)
    enabled: StrictBool | None = Field(
        default=None, description="Re-enabling resumes the deliveries that were waiting"
    )


class EndpointRead(ResponseModel):
    id: uuid.UUID
    delegation_code: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="`gone` (a 410) or `failing`")
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(
        description="The signing secret, shown this once only",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotated(ResponseModel):
    secret: str = Field(description="The new signing secret, shown this once only")
    previous_secret_valid_until: datetime = Field(
        description="Until then every webhook carries two signatures, one per secret"
    )


class RecoverRequest(RequestModel):
    since: Annotated[datetime, AfterValidator(representable_in_utc)] = Field(
        examples=["2020-09-15T00:00:00Z"]
    )


class RecoverResult(ResponseModel):
    scheduled: int = Field(description="Failed deliveries scheduled to be sent again")


class RetryNowResult(ResponseModel):
    released: int = Field(
        description="Deliveries that waited on the retry schedule and are now due, in order"
    )


class AttemptRead(ResponseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_body: str | None = Field(
        description="The first 4 KiB (NOTIFICATIONS_RESPONSE_PREFIX_BYTES) of the receiver's "
        "answer; the rest is never read"
    )


class DeliveryRead(ResponseModel):
    id: int
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    endpoint_id: uuid.UUID
    delegation_code: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    tries: int = Field(description="Attempts in the current round (a redelivery starts one)")
    attempts_total: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    succeeded_at: datetime | None


class DeliveryDetail(DeliveryRead):
    attempts: list[AttemptRead]
