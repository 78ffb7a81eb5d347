"""Settings of the meetings service (environment prefix ``MEETINGS_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class MeetingsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEETINGS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/accord_meetings"
    http_port: int = 8002
    # Where browsers reach the plans service, whose ``/figures/{id}`` the briefing pages link
    # each frozen figure to: the local stack's plans by default; behind the single entry
    # point, its prefix (``/plans``).
    plans_public_url: str = Field(
        default="http://127.0.0.1:8001", pattern=r"^(https?://[^/?#\s]+)?(/[A-Za-z0-9._~-]+)*/?$"
    )
