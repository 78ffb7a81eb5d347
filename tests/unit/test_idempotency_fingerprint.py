"""Two requests are "the same" for an Idempotency-Key by method, path, query and body, a
JSON body by its content; any body can be fingerprinted (never an error, so never a 500)."""

from shared.idempotency import fingerprint


def test_a_json_body_is_the_same_whatever_its_key_order_and_spacing() -> None:
    first = fingerprint("POST", "/meetings", "", b'{"a": 1, "b": [1, 2]}')
    assert first == fingerprint("POST", "/meetings", "", b'{"b":[1,2],"a":1}')
    assert first != fingerprint("POST", "/meetings", "", b'{"a": 1, "b": [2, 1]}')
    assert first != fingerprint("POST", "/plans", "", b'{"a": 1, "b": [1, 2]}')
    assert first != fingerprint("POST", "/meetings", "x=1", b'{"a": 1, "b": [1, 2]}')


def test_any_body_has_a_fingerprint() -> None:
    for body in (b"", b"not json", b"\xff\xfe", b"[" * 100_000, b"code,status\n1.1,completed\n"):
        assert len(fingerprint("POST", "/plans/import", "", body)) == 64
