"""Settings of the plans service (environment prefix ``PLANS_``)."""

from pydantic_settings import SettingsConfigDict

from shared.config import ServiceSettings


class PlansSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/accord_plans"
    http_port: int = 8001
