"""How a service holds the JWKS document's keys: read once and kept, read again for an unknown
key id only when the refetch pause allows, kept when the document cannot be read, 503 when it
never could; from a file or over http."""

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.jwks import JwksKeys, JwksUnavailable
from shared.problems import ServiceUnavailable
from shared.signing_keys import SigningKey, add_key, remove_key
from shared.tokens import JwksKeySource
from tests.support.waiting import eventually

NEVER = 1e9  # seconds: within a test, never again


async def test_an_unknown_kid_is_looked_up_again_only_after_the_refetch_pause(
    tmp_path: Path,
) -> None:
    jwks, first, second = tmp_path / "jwks.json", SigningKey.generate(), SigningKey.generate()
    add_key(jwks, first)
    patient = JwksKeys(str(jwks), refresh_seconds=NEVER, refetch_seconds=NEVER)
    eager = JwksKeys(str(jwks), refresh_seconds=NEVER, refetch_seconds=0)
    assert await patient.key(first.kid) is not None
    assert await eager.key(first.kid) is not None
    add_key(jwks, second)
    assert await patient.key(second.kid) is None  # made-up kids cannot make it read again
    assert await eager.key(second.kid) is not None
    assert await eager.key(first.kid) is not None  # both valid at once


async def test_a_removed_key_goes_once_the_document_is_read_again(tmp_path: Path) -> None:
    """A known key due for a refresh is answered at once while the document is read in the
    background; once read, a key taken out of it is refused."""
    jwks, old, new = tmp_path / "jwks.json", SigningKey.generate(), SigningKey.generate()
    add_key(jwks, old)
    add_key(jwks, new)
    keys = JwksKeys(str(jwks), refresh_seconds=1e-9, refetch_seconds=0)
    assert await keys.key(old.kid) is not None
    remove_key(jwks, old.kid)

    async def gone() -> bool:
        return await keys.key(old.kid) is None

    await eventually(gone, what="the removed key gone")
    assert await keys.key(new.kid) is not None


async def test_the_keys_held_stay_when_the_document_cannot_be_read(tmp_path: Path) -> None:
    jwks, key = tmp_path / "jwks.json", SigningKey.generate()
    add_key(jwks, key)
    keys = JwksKeys(str(jwks), refresh_seconds=1e-9, refetch_seconds=0)
    assert await keys.key(key.kid) is not None
    jwks.write_text("not json")
    assert await keys.key(key.kid) is not None
    jwks.unlink()
    assert await keys.key(key.kid) is not None


async def test_a_document_never_read_is_a_503(tmp_path: Path) -> None:
    keys = JwksKeys(str(tmp_path / "missing.json"), refresh_seconds=NEVER, refetch_seconds=0)
    with pytest.raises(JwksUnavailable):
        await keys.key("any")
    with pytest.raises(ServiceUnavailable) as refused:
        await JwksKeySource(keys).key_for({"kid": "any", "alg": "EdDSA"})
    assert (refused.value.status, refused.value.headers) == (503, {"Retry-After": "5"})


@pytest.fixture
def served_jwks(tmp_path: Path) -> Iterator[tuple[str, SigningKey]]:
    key = SigningKey.generate()
    add_key(tmp_path / "jwks.json", key)
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *args, directory=str(tmp_path)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", key
    finally:
        server.shutdown()
        server.server_close()


async def test_the_document_is_read_from_a_url(served_jwks: tuple[str, SigningKey]) -> None:
    base, key = served_jwks
    keys = JwksKeys(f"{base}/jwks.json", refresh_seconds=NEVER, refetch_seconds=0)
    assert await keys.key(key.kid) is not None
    missing = JwksKeys(f"{base}/nothing.json", refresh_seconds=NEVER, refetch_seconds=0)
    with pytest.raises(JwksUnavailable):
        await missing.key(key.kid)
