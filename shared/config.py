"""Settings shared by every service, read from the environment.

Common settings use the ``ACCORD_`` prefix; each service adds its own with its prefix
(``PLANS_``, ``MEETINGS_``, ``NOTIFICATIONS_``). Defaults work on localhost; in production
mode the service refuses to start with a secret anyone could know (see ``secret_weakness``):
the signing secret, and the password in its database URL.
"""

from enum import StrEnum

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared import failpoints

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


def refuse_weak_secret(variable: str, secret: str) -> None:
    """Raise (naming the variable, never the value) if ``secret`` is not fit for production."""
    weakness = secret_weakness(secret)
    if weakness is not None:
        raise ValueError(
            f"{variable} {weakness}: production needs a secret of its own ({MAKE_A_SECRET})"
        )


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class CommonSettings(BaseSettings):
    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="ACCORD_", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
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

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, secret: str) -> str:
        # In every environment: a short HS256 key can be found by brute force.
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"ACCORD_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes")
        return secret

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "CommonSettings":
        if self.environment is Environment.PRODUCTION:
            refuse_weak_secret("ACCORD_JWT_SECRET", self.jwt_secret)
        if self.environment is Environment.PRODUCTION and self.failpoints:
            raise ValueError("ACCORD_FAILPOINTS is for fault tests and refused in production")
        failpoints.parse(self.failpoints)
        return self


class ServiceSettings(BaseSettings):
    """Per-service settings; subclasses set ``env_prefix`` and the default port and database."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    database_url: str
    http_host: str = "127.0.0.1"
    http_port: int
    db_pool_size: int = 10
    # The common setting, read here too: production checks the database URL's password.
    environment: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias="ACCORD_ENVIRONMENT"
    )

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
