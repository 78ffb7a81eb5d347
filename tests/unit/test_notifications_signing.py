"""Webhook signatures verify with the reference library, and tampering is caught."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.inbox.render import render
from services.notifications.orm import Endpoint
from services.notifications.webhooks.keyring import new_key_entry, parse_keys
from services.notifications.webhooks.secrets_at_rest import (
    active_secrets,
    keep_as_previous,
    store_secret,
)
from services.notifications.webhooks.signing import new_secret, signature_headers
from tests.support.plan_events import status_changed
from tests.support.receiver import verifies

BODY = '{"data":{"new_status":"completed"},"type":"org.accord.plans.action_line.status_changed"}'


def signed(*secrets: str, at: datetime | None = None) -> dict[str, str]:
    return signature_headers("msg_1", BODY, secrets, at or datetime.now(UTC))


def test_a_genuine_webhook_verifies() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert verifies(secret, BODY.encode(), signed(secret))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"completed", b"ongoing"), headers),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
        ),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_2"}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-id"}),
    ],
    ids=["body", "timestamp", "id", "missing-header"],
)
def test_a_tampered_webhook_is_rejected(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    body, headers = tamper(BODY.encode(), signed(secret))
    assert not verifies(secret, body, headers)


def test_an_old_webhook_and_a_wrong_secret_are_rejected() -> None:
    secret = new_secret()
    old = signed(secret, at=datetime.now(UTC) - timedelta(minutes=10))
    assert not verifies(secret, BODY.encode(), old)
    assert not verifies(new_secret(), BODY.encode(), signed(secret))


def test_during_a_rotation_both_secrets_verify() -> None:
    new, old = new_secret(), new_secret()
    headers = signed(new, old)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verifies(new, BODY.encode(), headers)
    assert verifies(old, BODY.encode(), headers)


def test_the_previous_secret_signs_only_while_the_overlap_lasts() -> None:
    now = datetime.now(UTC)
    keyring = parse_keys(new_key_entry(), "test keys")
    endpoint = Endpoint(id=uuid.uuid4())
    store_secret(endpoint, keyring, "whsec_old")
    keep_as_previous(endpoint, now + timedelta(hours=1))
    store_secret(endpoint, keyring, "whsec_new")
    assert active_secrets(endpoint, keyring, now) == ("whsec_new", "whsec_old")
    endpoint.previous_secret_until = now - timedelta(seconds=1)
    assert active_secrets(endpoint, keyring, now) == ("whsec_new",)


def test_an_inbox_entry_is_rendered_from_a_status_change() -> None:
    plan, line = uuid.uuid4(), uuid.uuid4()
    title, body = render(
        status_changed(plan_id=plan, action_line_id=line, note="reported at the CPR-UN meeting"),
        {str(plan): "ASEAN-UN Plan of Action 2016-2020", str(line): "Peacekeeping training"},
    )
    assert title == "Action line 1.2.3: ongoing -> completed"
    assert body.startswith("ASEAN-UN Plan of Action 2016-2020: action line 1.2.3")
    assert "Peacekeeping training" in body and "reported at the CPR-UN meeting" in body
