"""TLS to PostgreSQL and to Kafka, from settings (``shared/config.py``): the contexts given to
asyncpg and aiokafka. Made when the settings are read, so that a CA file that is missing or
unreadable stops the service at start-up with the variable's name, not at its first
connection. The local stack and the tests stay plain on loopback; see docs/security.md.
"""

import ssl
from enum import StrEnum
from pathlib import Path


class PostgresSslMode(StrEnum):
    """libpq's ``sslmode`` values, as asyncpg takes them."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"  # asyncpg's default: TLS if the server offers it, unverified
    REQUIRE = "require"  # TLS, the server's certificate not verified
    VERIFY_CA = "verify-ca"  # TLS, the certificate signed by the CA
    VERIFY_FULL = "verify-full"  # ... and naming the host connected to


def _file(path: str, variable: str) -> str:
    """``path`` if it names a readable file; else an error naming ``variable``."""
    try:
        with Path(path).open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{variable}: {path} cannot be read ({exc.strerror})") from None
    return path


def _context(cafile: str, cafile_variable: str) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (the system's CAs if empty); TLS 1.2 at least."""
    try:
        context = ssl.create_default_context(
            cafile=_file(cafile, cafile_variable) if cafile else None
        )
    except ssl.SSLError as exc:
        raise ValueError(f"{cafile_variable}: {cafile} holds no usable CA ({exc})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def postgres_ssl(
    mode: PostgresSslMode, root_cert: str, root_cert_variable: str
) -> ssl.SSLContext | str:
    """What asyncpg's ``ssl`` argument gets: a verifying context for the verify modes (with
    the CA file, or the system's CAs), else the mode's name."""
    if mode in (PostgresSslMode.VERIFY_CA, PostgresSslMode.VERIFY_FULL):
        context = _context(root_cert, root_cert_variable)
        context.check_hostname = mode is PostgresSslMode.VERIFY_FULL
        return context
    if root_cert:
        raise ValueError(
            f"{root_cert_variable} is set but the SSL mode is {mode.value!r}, which does not"
            " verify the server: use verify-full (or verify-ca)"
        )
    return mode.value


def kafka_ssl_context(
    cafile: str, certfile: str, keyfile: str, variables: tuple[str, str, str]
) -> ssl.SSLContext:
    """A context trusting ``cafile`` (or the system's CAs) that verifies the broker's name,
    with a client certificate if one is given (mutual TLS)."""
    cafile_variable, certfile_variable, keyfile_variable = variables
    context = _context(cafile, cafile_variable)
    if keyfile and not certfile:
        raise ValueError(f"{keyfile_variable} is set without {certfile_variable}")
    if certfile:
        try:
            context.load_cert_chain(
                _file(certfile, certfile_variable),
                _file(keyfile, keyfile_variable) if keyfile else None,
            )
        except ssl.SSLError as exc:
            raise ValueError(
                f"{certfile_variable} / {keyfile_variable}: no usable certificate and key ({exc})"
            ) from None
    return context
