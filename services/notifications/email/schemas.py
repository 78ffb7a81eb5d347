"""HTTP request and response models of contacts."""

import uuid
from datetime import datetime
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, StringConstraints, field_validator

from services.notifications.domain import ContactRole
from services.notifications.schemas import EVENT_TYPES_DOC, DelegationCode, EventTypePattern
from shared.schemas import RequestModel, ResponseModel

ContactName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# BCP 47, as far as a mail client needs it: a language, then subtags (en, fr-CA, zh-Hant-TW).
LanguageTag = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$", max_length=35),
    Field(examples=["en", "vi-VN"]),
]
EventTypes = Annotated[list[EventTypePattern], Field(max_length=30, description=EVENT_TYPES_DOC)]


def checked_address(value: str) -> str:
    """The address in its normalised form, if it is a valid address (RFC 5322/6531 syntax,
    checked by ``email-validator``; whether its domain receives mail is the SMTP server's
    to say, so no DNS here)."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: {exc}") from None


class ContactCreate(RequestModel):
    delegation: DelegationCode | None = Field(
        default=None, description="Whose contact; a delegation's token implies its own"
    )
    name: ContactName = Field(examples=["Nguyen Thi Lan"])
    address: Annotated[str, StringConstraints(max_length=320)] = Field(
        examples=["lan.nguyen@mission.example.vn"]
    )
    role: ContactRole = Field(
        description="`technical` contacts also hear about failing webhook endpoints"
    )
    language: LanguageTag = "en"
    event_types: EventTypes = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return checked_address(value)


class ContactUpdate(RequestModel):
    """The fields to change; a field left out keeps its value."""

    name: ContactName | None = None
    address: Annotated[str, StringConstraints(max_length=320)] | None = None
    role: ContactRole | None = None
    language: LanguageTag | None = None
    event_types: EventTypes | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else checked_address(value)

    @field_validator("name", "address", "role", "language", "event_types")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, not cleared")
        return value


class ContactRead(ResponseModel):
    id: uuid.UUID
    delegation_code: str
    name: str
    address: str
    role: ContactRole
    language: str
    event_types: list[str]
    created_at: datetime


class EmailDeliveryRead(ResponseModel):
    id: int
    contact_id: uuid.UUID
    to_address: str
    email_subject: str
    status: str
    tries: int
    next_attempt_at: datetime | None
    last_smtp_code: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
