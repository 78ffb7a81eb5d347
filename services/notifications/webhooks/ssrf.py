"""Server-side request forgery guard for webhook URLs.

A webhook URL is chosen by a delegation but fetched from inside our network, so it must never
reach private, loopback, link-local, reserved or multicast addresses. The check runs when an
endpoint is registered and again right before every delivery (a name may resolve elsewhere by
then: DNS rebinding); the dispatcher then connects to the very address that was checked.

Two traps this module closes on purpose: Python's ``is_global`` lets some IPv6 forms that embed
an IPv4 address through (``::ffff:100.64.0.1``), so embedded addresses are unwrapped and checked
as IPv4; and hosts may be spelt as decimal, octal or hex numbers (``2130706433``, ``0177.1``,
``0x7f.0.0.1``), which resolvers accept, so those spellings are parsed here the way
``inet_aton`` does rather than trusted to look harmless.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Networks ``is_global`` does not cover (or not in every Python version) that must be refused.
_ALSO_FORBIDDEN = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and broadcast
        "64:ff9b:1::/48",  # local-use NAT64
        "fc00::/7",  # unique local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
_IPV4_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


class UnsafeURL(ValueError):
    """The URL may not be used as a webhook target. The message is what the caller is told;
    ``detail`` says why in full, for the log. They differ for a host name: what a name
    resolves to from inside our network (or whether it resolves at all) is not the caller's
    to learn, or the refusal would be an oracle for the internal DNS."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class Target:
    """A checked URL and the addresses it may be fetched from."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_numeric_host(host: str) -> IPAddress | None:
    """An IP address from any spelling a resolver accepts, or None for a name.

    IPv4 follows ``inet_aton``: one to four dot-separated parts, each decimal, octal (leading
    0) or hex (0x); the last part fills the remaining bytes (``127.1`` is 127.0.0.1).
    """
    text = host.strip("[]").rstrip(".")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_inet_aton_part(p) for p in parts]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(parts)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(parts)) + last
    return ipaddress.IPv4Address(value)


def _inet_aton_part(part: str) -> int:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)
    if not part.isdigit():
        raise ValueError(part)
    return int(part)


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, -compatible, 6to4, Teredo or NAT64 IPv6 one."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _IPV4_EMBEDDING) and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why this address may not be a webhook target, or None when it may."""
    inner = unwrap(address)
    if inner.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    for kind, flag in (
        ("unspecified", inner.is_unspecified),
        ("private", inner.is_private),
        ("link-local", inner.is_link_local),
        ("multicast", inner.is_multicast),
        ("reserved", inner.is_reserved),
    ):
        if flag:
            return f"{address} is a {kind} address"
    if any(inner in net for net in _ALSO_FORBIDDEN if net.version == inner.version):
        return f"{address} is in a non-public range"
    if not inner.is_global:
        return f"{address} is not a public address"
    return None


def check_syntax(url: str, *, allow_http: bool) -> tuple[SplitResult, str, int]:
    """The URL's parts, if its form is acceptable: http(s), a host, no credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURL(f"the URL must use {' or '.join(schemes)}")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL may not carry credentials")
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def check_url(
    url: str,
    *,
    allow_loopback: bool,
    allow_http: bool,
    resolver: Resolver = system_resolver,
) -> Target:
    """Check a webhook URL and resolve it; every address it resolves to must be allowed."""
    _, host, port = check_syntax(url, allow_http=allow_http)
    numeric = parse_numeric_host(host)
    if numeric is not None:
        # The caller wrote the address: saying what is wrong with it tells them nothing new.
        reason = refusal(numeric, allow_loopback=allow_loopback)
        if reason is not None:
            raise UnsafeURL(f"the URL's host {host!r} is not allowed: {reason}")
        return Target(url=url, host=host, port=port, addresses=(str(numeric),))
    not_allowed = f"the URL's host {host!r} is not an allowed webhook target"
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise UnsafeURL(not_allowed, detail=f"{host!r} does not resolve: {exc}") from exc
    if not addresses:
        raise UnsafeURL(not_allowed, detail=f"{host!r} does not resolve")
    for text in addresses:
        reason = refusal(ipaddress.ip_address(text.split("%", 1)[0]), allow_loopback=allow_loopback)
        if reason is not None:
            raise UnsafeURL(not_allowed, detail=f"{host!r} resolves to {reason}")
    return Target(url=url, host=host, port=port, addresses=tuple(dict.fromkeys(addresses)))
