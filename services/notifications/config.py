"""Settings of the notifications service (environment prefix ``NOTIFICATIONS_``)."""

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/accord_notifications"
    http_port: int = 8003
