"""One email over SMTP with ``aiosmtplib``: the message built from a delivery's stored parts,
and how the attempt ended (``SmtpResult``), never an exception."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from services.notifications.config import NotificationsSettings
from services.notifications.email.domain import SmtpResult, message_id


@dataclass(frozen=True)
class Outgoing:
    message_key: str
    to_address: str
    subject: str
    text: str
    html: str
    language: str
    # When the delivery was made: the Date of every attempt, as the same message's.
    created_at: datetime


def build(outgoing: Outgoing, settings: NotificationsSettings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = outgoing.to_address
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(outgoing.created_at)
    message["Message-ID"] = message_id(outgoing.message_key, settings.email_message_id_domain)
    message["Content-Language"] = outgoing.language
    # Mail systems should not answer a notice with vacation replies.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outgoing.text)
    message.add_alternative(outgoing.html, subtype="html")
    return message


async def send(message: EmailMessage, settings: NotificationsSettings) -> SmtpResult:
    try:
        # aiosmtplib's timeout bounds each command; the attempt as a whole gets the same
        # deadline, which the dispatcher's lease outlasts (LEASE_MARGIN).
        async with asyncio.timeout(settings.smtp_timeout):
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                start_tls=settings.smtp_starttls,
                username=settings.smtp_username or None,
                password=settings.smtp_password or None,
                timeout=settings.smtp_timeout,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if not exc.recipients:
            return SmtpResult(None, _said(exc, None), about_message=True)
        first = exc.recipients[0]
        return SmtpResult(first.code, _said(first, first.code), about_message=True)
    except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
        return SmtpResult(exc.code, _said(exc, exc.code), about_message=True)
    except aiosmtplib.SMTPResponseException as exc:
        return SmtpResult(exc.code, _said(exc, exc.code))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return SmtpResult(None, _said(exc, None))
    return SmtpResult()


def _said(exc: BaseException, code: int | None) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    prefix = f"SMTP {code}: " if code is not None else f"{type(exc).__name__}: "
    return (prefix + text)[:500]
