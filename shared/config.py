"""Settings shared by every service, read from the environment.

Common settings use the ``ACCORD_`` prefix; each service adds its own with its prefix
(``PLANS_``, ``MEETINGS_``, ``NOTIFICATIONS_``). Defaults work on localhost; in production
mode the service refuses to start with a secret anyone could know (see ``secret_weakness``):
the password in its database URL and its Kafka password; with a broker that does not
authenticate its clients; and with HS256 tokens (shared/tokens.py). TLS to Kafka and to
PostgreSQL is set here too (``shared/tls.py``, docs/security.md).
"""

import ipaddress
import ssl
from enum import StrEnum
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared import failpoints
from shared.kafka_access import KafkaAccess, SaslMechanism, SecurityProtocol
from shared.lifecycle import Role, parse_roles
from shared.tls import PostgresSslMode, kafka_ssl_context, postgres_ssl

DEVELOPMENT_JWT_SECRET = "accord-development-secret-do-not-use-in-production"
# Every secret this repository publishes: the development default, the placeholders of
# .env.example, and the test suite's. Production refuses them all; a test checks that this
# covers every secret value in .env.example and every default docker-compose.yml gives one.
PUBLISHED_SECRETS = frozenset(
    {
        DEVELOPMENT_JWT_SECRET,
        "replace-me-with-a-long-random-secret",
        "replace-me-with-a-database-password",
        "integration-tests-secret-0123456789",
        "replace-me-with-the-kafka-admin-password",
        "replace-me-with-the-kafka-plans-password",
        "replace-me-with-the-kafka-meetings-password",
        "replace-me-with-the-kafka-notifications-password",
        # NOTIFICATIONS_SECRET_KEYS in .env.example
        "replace-me:cmVwbGFjZSB0aGlzIHdpdGggYSBrZXkgb2YgeW91cnM=",
    }
)
MIN_SECRET_BYTES = 32
# A random secret of 32 bytes or more, even hex, has at least this many different characters.
MIN_DISTINCT_CHARACTERS = 10
MAKE_A_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is not fit for production, or None: a published value, fewer than 32
    bytes, too few different characters, or one short pattern repeated."""
    if secret in PUBLISHED_SECRETS:
        return "is a value published with Accord"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    if any(secret[period:] == secret[:-period] for period in range(1, len(secret) // 2 + 1)):
        return "repeats a shorter pattern"
    return None


def weak_secret_refusal(variable: str, secret: str) -> str | None:
    """Why ``secret`` is not fit for production, naming the variable (never the value)."""
    weakness = secret_weakness(secret)
    if weakness is None:
        return None
    return f"{variable} {weakness}: production needs a secret of its own ({MAKE_A_SECRET})"


def refuse_weak_secret(variable: str, secret: str) -> None:
    """Raise ``weak_secret_refusal`` if there is one."""
    refusal = weak_secret_refusal(variable, secret)
    if refusal is not None:
        raise ValueError(refusal)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class TokenAlgorithm(StrEnum):
    # Ed25519 signatures checked against a JWKS document: the default, and production's only.
    EDDSA = "EdDSA"
    # A shared secret that signs and checks: development only.
    HS256 = "HS256"


class CommonSettings(BaseSettings):
    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="ACCORD_", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Who this process is on the broker (shared/kafka_access.py): SASL_PLAINTEXT or SASL_SSL
    # with a username and password; PLAINTEXT only for a broker without users (refused in
    # production). Each service has a principal of its own, named after it.
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    kafka_username: str = ""
    kafka_password: str = ""
    # Bearer tokens (shared/tokens.py). EdDSA: checked against the public keys of the JWKS
    # document at jwks_url (a file path or an http(s) URL), read again every
    # jwks_refresh_seconds, and at most every jwks_refetch_seconds for a key id it lacks.
    jwt_algorithm: TokenAlgorithm = TokenAlgorithm.EDDSA
    jwks_url: str = ""
    jwks_refresh_seconds: float = Field(default=300.0, gt=0)
    jwks_refetch_seconds: float = Field(default=10.0, ge=0)
    jwt_issuer: str = "accord"
    # Longest exp - iat a token may have, and the clock skew allowed on exp, iat and nbf.
    jwt_max_lifetime_seconds: int = Field(default=12 * 3600, gt=0)
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    # TLS to the brokers (SSL, or SASL_SSL with SASL on top): the CA that signed their
    # certificates (empty: the system's CAs) and, for mutual TLS, a client certificate and
    # its key. Files are checked at start-up (shared/tls.py).
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    # HS256 only (development): the shared secret.
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    # /docs, /redoc and /openapi.json; unset: on in development, off in production.
    api_docs: bool | None = None
    # Requests per second and burst per source address (every path but health and metrics)
    # and per token subject, in each process; 0 turns a limit off (shared/rate_limits.py).
    rate_limit_address_per_second: float = Field(default=1000.0, ge=0)
    rate_limit_address_burst: int = Field(default=5000, ge=1)
    rate_limit_subject_per_second: float = Field(default=500.0, ge=0)
    rate_limit_subject_burst: int = Field(default=2500, ge=1)
    log_level: str = "INFO"
    # Webhooks to loopback addresses are refused unless an operator allows them (local use, tests).
    allow_loopback_webhooks: bool = False
    # How long a consumer may make no progress while it has lag before /healthz turns unhealthy.
    consumer_stall_seconds: float = 60.0
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1_048_576
    # Fault tests only: where this process kills itself (see shared/failpoints.py).
    failpoints: str = ""
    # A stable name for this process, unique among the running ones: the owner of the
    # webhook deliveries it has in flight, so that a restarted dispatcher resends them at once
    # instead of waiting for their lease to run out. Empty: leases simply expire.
    instance_id: str = ""
    # How long an Idempotency-Key is kept from its first use (shared/idempotency.py).
    idempotency_key_seconds: float = Field(default=86_400.0, gt=0)
    # What this process runs (shared/lifecycle.py): a comma-separated subset of api, relay,
    # consumer, dispatcher (notifications); empty: all of them.
    roles: str = ""
    # On SIGTERM: how long /readyz answers 503 while requests are still served (so a proxy
    # takes the process out first), then how long the relay, consumer and dispatcher get to
    # finish what they hold before they are cancelled.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    # How long an idle keep-alive connection stays open (decision 48): longer than the
    # clients and proxies in front keep theirs (the local proxy's 60 s, httpx's 5 s), so that
    # the client, not this process, closes it; closing first races the client's next request
    # on it, which fails unanswered (uvicorn's own 5 s did, to an httpx client).
    http_keep_alive_seconds: int = Field(default=75, gt=0)
    # The reverse proxies in front of this process (comma-separated addresses or networks):
    # from them, and only from them, the client's address is taken from X-Forwarded-For, so
    # that the rate limit per address counts each client rather than the proxy (behind one,
    # every client shared one bucket and one client could use it up for all). Empty: the
    # header is never believed.
    trusted_proxies: str = ""

    _kafka_ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, secret: str) -> str:
        # In every environment: a short HS256 key can be found by brute force.
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"ACCORD_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes")
        return secret

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                # "*" too: it would let any client name its own address and escape its limit.
                raise ValueError(
                    f"ACCORD_TRUSTED_PROXIES: {item!r} is not an IP address or network"
                ) from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: str) -> str:
        parse_roles(roles)
        return roles

    @property
    def role_set(self) -> frozenset[Role]:
        return parse_roles(self.roles)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> "CommonSettings":
        if self.kafka_security_protocol.uses_sasl and not (
            self.kafka_username and self.kafka_password
        ):
            raise ValueError(
                f"ACCORD_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol.value} needs"
                " ACCORD_KAFKA_USERNAME and ACCORD_KAFKA_PASSWORD"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "CommonSettings":
        if self.environment is Environment.PRODUCTION:
            # Every refusal at once, so an operator fixes the lot in one go.
            refusals = self._production_refusals()
            if refusals:
                raise ValueError("; ".join(refusals))
        failpoints.parse(self.failpoints)
        return self

    @model_validator(mode="after")
    def _kafka_tls(self) -> "CommonSettings":
        files = {
            "ACCORD_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "ACCORD_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "ACCORD_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        if not self.kafka_security_protocol.uses_tls:
            given = [variable for variable, value in files.items() if value]
            if given:
                raise ValueError(
                    f"{', '.join(given)} set but ACCORD_KAFKA_SECURITY_PROTOCOL is"
                    f" {self.kafka_security_protocol.value}: use SSL or SASL_SSL"
                )
            return self
        self._kafka_ssl_context = kafka_ssl_context(
            self.kafka_ssl_cafile,
            self.kafka_ssl_certfile,
            self.kafka_ssl_keyfile,
            variables=(
                "ACCORD_KAFKA_SSL_CAFILE",
                "ACCORD_KAFKA_SSL_CERTFILE",
                "ACCORD_KAFKA_SSL_KEYFILE",
            ),
        )
        return self

    def _production_refusals(self) -> list[str]:
        refusals = []
        if self.kafka_security_protocol is SecurityProtocol.PLAINTEXT:
            refusals.append(
                "ACCORD_KAFKA_SECURITY_PROTOCOL=PLAINTEXT is refused in production: the"
                " broker must authenticate its clients (SASL_PLAINTEXT, SASL_SSL, or SSL"
                " with client certificates)"
            )
        elif self.kafka_security_protocol is SecurityProtocol.SSL and not self.kafka_ssl_certfile:
            refusals.append(
                "ACCORD_KAFKA_SECURITY_PROTOCOL=SSL without ACCORD_KAFKA_SSL_CERTFILE: the broker"
                " would not know who connects (use SASL_SSL, or a client certificate)"
            )
        elif self.kafka_security_protocol.uses_sasl:
            weak = weak_secret_refusal("ACCORD_KAFKA_PASSWORD", self.kafka_password)
            if weak is not None:
                refusals.append(weak)
        if self.jwt_algorithm is TokenAlgorithm.HS256:
            refusals.append(
                "ACCORD_JWT_ALGORITHM=HS256 is for development only: production checks"
                " EdDSA tokens against a JWKS document (ACCORD_JWKS_URL)"
            )
        # Plain http would let anyone on the path replace the keys.
        if self.jwks_url.startswith("http://"):
            refusals.append("ACCORD_JWKS_URL must be a file path or an https URL")
        if self.failpoints:
            refusals.append("ACCORD_FAILPOINTS is for fault tests and refused in production")
        return refusals

    def kafka_access(self) -> KafkaAccess:
        return KafkaAccess(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password,
            tls=self._kafka_ssl_context,
        )

    @property
    def docs_served(self) -> bool:
        if self.api_docs is not None:
            return self.api_docs
        return self.environment is Environment.DEVELOPMENT


class ServiceSettings(BaseSettings):
    """Per-service settings; subclasses set ``env_prefix`` and the default port and database."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    database_url: str
    http_host: str = "127.0.0.1"
    http_port: int
    # The connections a process opens to its database at most, and keeps (shared/db.py).
    db_pool_size: int = 20
    # The path prefix an entry point routes to this service and removes (e.g. /meetings):
    # the briefing pages put it in their links, redirects and cookie path (shared/pages).
    root_path: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    # TLS to PostgreSQL (shared/tls.py): libpq's sslmode (unset: asyncpg's default, or the
    # URL's sslmode), and the CA that signed the server's certificate for verify-full or
    # verify-ca (empty: the system's CAs).
    database_ssl_mode: PostgresSslMode | None = None
    database_ssl_root_cert: str = ""
    # The common setting, read here too: production checks the database URL's password.
    environment: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias="ACCORD_ENVIRONMENT"
    )

    _database_ssl: ssl.SSLContext | str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _database_tls(self) -> "ServiceSettings":
        prefix = self.model_config.get("env_prefix", "")
        variable = f"{prefix}DATABASE_SSL_ROOT_CERT"
        if self.database_ssl_mode is None:
            if self.database_ssl_root_cert:
                raise ValueError(f"{variable} is set without {prefix}DATABASE_SSL_MODE")
            return self
        self._database_ssl = postgres_ssl(
            self.database_ssl_mode, self.database_ssl_root_cert, variable
        )
        return self

    def database_connect_args(self) -> dict[str, Any]:
        """asyncpg's connection arguments for TLS (none: its defaults)."""
        return {} if self._database_ssl is None else {"ssl": self._database_ssl}

    @model_validator(mode="after")
    def _production_needs_a_real_password(self) -> "ServiceSettings":
        if self.environment is not Environment.PRODUCTION:
            return self
        # A URL without a password (peer or certificate authentication) has none to check.
        password = make_url(self.database_url).password
        if password is not None:
            variable = f"{self.model_config.get('env_prefix', '')}DATABASE_URL"
            refuse_weak_secret(f"the password in {variable}", str(password))
        return self
