"""Settings shared by every service, read from the environment.

Common settings use the ``ACCORD_`` prefix; each service adds its own with its prefix
(``PLANS_``, ``MEETINGS_``, ``NOTIFICATIONS_``). Defaults work on localhost; in production
mode the signing secret has no default and the service refuses to start without one.
"""

from enum import StrEnum

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import failpoints

DEVELOPMENT_JWT_SECRET = "accord-development-secret-do-not-use-in-production"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    jwt_secret: str = Field(default=DEVELOPMENT_JWT_SECRET, min_length=32)
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

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "CommonSettings":
        if self.environment is Environment.PRODUCTION and self.jwt_secret == DEVELOPMENT_JWT_SECRET:
            raise ValueError("ACCORD_JWT_SECRET must be set to a real secret in production")
        if self.environment is Environment.PRODUCTION and self.failpoints:
            raise ValueError("ACCORD_FAILPOINTS is for fault tests and refused in production")
        failpoints.parse(self.failpoints)
        return self


class ServiceSettings(BaseSettings):
    """Per-service settings; subclasses set ``env_prefix`` and the default port and database."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str
    http_host: str = "127.0.0.1"
    http_port: int
    db_pool_size: int = 10
