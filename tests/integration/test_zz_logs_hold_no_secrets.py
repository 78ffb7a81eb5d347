"""Run late (the name sorts last): after the suite has exercised the services, their logs
must hold none of the bearer tokens the tests sent, no webhook signing secret and not the
private half of the key that signs the suite's tokens."""

import re

import pytest

from shared.signing_keys import b64url
from tests.support.stack import ISSUED_TOKENS, SERVICE_NAMES, SIGNING_KEY, Services

pytestmark = pytest.mark.integration

# Any JWT (header.claims.signature, base64url): also catches tokens issued outside
# ``tests.support.stack.token``, such as expired or forged ones.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def test_the_service_logs_hold_no_tokens_and_no_secrets(services: Services) -> None:
    assert ISSUED_TOKENS, "the suite issued no tokens: nothing was checked"
    for name in SERVICE_NAMES:
        log_path = services.processes[name].log_path
        text = log_path.read_text(errors="replace")
        assert len(text) > 0, f"{log_path} is empty: nothing was checked"
        leaked = [t for t in ISSUED_TOKENS if t in text]
        assert not leaked, f"{name}'s log holds {len(leaked)} bearer tokens"
        assert not JWT_SHAPE.findall(text), f"{name}'s log holds a JWT"
        assert "whsec_" not in text, f"{name}'s log holds a webhook signing secret"
        pem_body = SIGNING_KEY.pem().decode().splitlines()[1]
        raw = b64url(SIGNING_KEY.private_key.private_bytes_raw())
        assert pem_body not in text and raw not in text, f"{name}'s log holds the signing key"
