"""The SSRF guard refuses every non-public target, in every spelling, and accepts public ones."""

import ipaddress

import pytest

from services.notifications.webhooks import ssrf
from shared.config import CommonSettings

REFUSED = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://127.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://012.0.0.1/",
    "http://0xa.0.0.1/",
    "http://167772161/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://100.64.0.1/",
    "http://[::ffff:100.64.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a00:1::]/",
    "http://[::10.0.0.1]/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.0.8/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://[2001:db8::1]/",
    "http://[::]/",
    "http://rebinding.example/",
]
ACCEPTED = [
    "https://8.8.8.8/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://[::ffff:8.8.8.8]/hook",
    "https://134744072/hook",
    "https://public.example/hook",
]
FAKE_DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "rebinding.example": ["93.184.216.34", "10.0.0.5"],
    "public.example": ["93.184.216.34"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    if host not in FAKE_DNS:
        raise OSError("no such host")
    return FAKE_DNS[host]


async def check(url: str, *, allow_loopback: bool = False) -> ssrf.Target:
    return await ssrf.check_url(
        url, allow_loopback=allow_loopback, allow_http=True, resolver=fake_resolver
    )


@pytest.mark.parametrize("url", REFUSED)
async def test_a_non_public_target_is_refused(url: str) -> None:
    with pytest.raises(ssrf.UnsafeURL):
        await check(url)


@pytest.mark.parametrize("url", ACCEPTED)
async def test_a_public_target_is_accepted(url: str) -> None:
    target = await check(url)
    assert target.addresses


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/", "http://localhost/", "http://[::1]/", "http://0x7f.1/"]
)
async def test_loopback_is_accepted_only_when_the_operator_allows_it(url: str) -> None:
    assert (await check(url, allow_loopback=True)).addresses
    with pytest.raises(ssrf.UnsafeURL) as refused:
        await check(url)
    assert "loopback" in refused.value.detail


async def test_a_refused_name_tells_the_caller_nothing_of_what_it_resolves_to() -> None:
    """Found by the probe: the refusal named the internal address a name resolves to, and
    "does not resolve" set apart the names that exist; an oracle for the internal DNS. Every
    refused name gets the same message; the log gets the reason."""
    told, logged = set(), []
    for host in ("rebinding.example", "localhost", "unknown.invalid"):
        with pytest.raises(ssrf.UnsafeURL) as refused:
            await check(f"http://{host}/")
        told.add(str(refused.value).replace(repr(host), "HOST"))
        logged.append(refused.value.detail)
    assert told == {"the URL's host HOST is not an allowed webhook target"}
    assert "10.0.0.5" in logged[0] and "loopback" in logged[1] and "resolve" in logged[2]


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://[::ffff:100.64.0.1]/"])
async def test_allowing_loopback_allows_nothing_else(url: str) -> None:
    with pytest.raises(ssrf.UnsafeURL):
        await check(url, allow_loopback=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://8.8.8.8/", "must use"),
        ("file:///etc/passwd", "must use"),
        ("gopher://8.8.8.8/", "must use"),
        ("https://user:pw@8.8.8.8/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://8.8.8.8:99999/", "not a valid URL"),
        ("https://unknown.invalid/", "not an allowed webhook target"),
    ],
)
async def test_a_malformed_url_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ssrf.UnsafeURL, match=reason):
        await check(url)


async def test_plain_http_needs_the_operator_setting() -> None:
    with pytest.raises(ssrf.UnsafeURL, match="https"):
        await ssrf.check_url(
            "http://8.8.8.8/", allow_loopback=False, allow_http=False, resolver=fake_resolver
        )


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("0X0A.0.0.1", "10.0.0.1"),
        ("8.8.8.8.", "8.8.8.8"),
        ("[::ffff:100.64.0.1]", "::ffff:6440:1"),
    ],
)
def test_numeric_spellings_are_read_like_inet_aton(host: str, address: str) -> None:
    assert ssrf.parse_numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1"])
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert ssrf.parse_numeric_host(host) is None


def test_python_is_global_alone_would_let_a_mapped_shared_address_through() -> None:
    mapped = ipaddress.ip_address("::ffff:100.64.0.1")
    assert mapped.is_global
    assert ssrf.refusal(mapped, allow_loopback=False) is not None


async def test_a_name_public_at_registration_and_loopback_at_delivery_is_refused_at_delivery() -> (
    None
):
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    registered = await ssrf.check_url(
        "https://flip.example/hook", allow_loopback=False, allow_http=False, resolver=rebinding
    )
    assert registered.addresses == ("93.184.216.34",)
    with pytest.raises(ssrf.UnsafeURL):
        await ssrf.check_url(
            "https://flip.example/hook", allow_loopback=False, allow_http=False, resolver=rebinding
        )


def test_the_operator_setting_that_allows_loopback_is_off_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACCORD_ALLOW_LOOPBACK_WEBHOOKS", raising=False)
    assert CommonSettings().allow_loopback_webhooks is False
