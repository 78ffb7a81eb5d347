"""Settings of the meetings service (environment prefix ``MEETINGS_``)."""

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class MeetingsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEETINGS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/accord_meetings"
    http_port: int = 8002
