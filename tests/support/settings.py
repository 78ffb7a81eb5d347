"""The services' settings classes as the deployment files' tests read them: which
environment variables each reads, and what a container's environment gives it."""

import os
from typing import Any, TypeVar

import pytest
from pydantic_settings import BaseSettings

from services.meetings.config import MeetingsSettings
from services.notifications.config import NotificationsSettings
from services.plans.config import PlansSettings
from shared.config import ServiceSettings

SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "plans": PlansSettings,
    "meetings": MeetingsSettings,
    "notifications": NotificationsSettings,
}
SETTINGS_PREFIXES = ("ACCORD_", "PLANS_", "MEETINGS_", "NOTIFICATIONS_")

Settings = TypeVar("Settings", bound=BaseSettings)


def setting_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{field}".upper() for field in settings_class.model_fields}


def load_settings(
    settings_class: type[Settings], environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings a container would get, untouched by the environment running the tests."""
    with monkeypatch.context() as env:
        for name in list(os.environ):
            if name.upper().startswith(SETTINGS_PREFIXES):
                env.delenv(name)
        for name, value in environment.items():
            env.setenv(name, str(value))
        return settings_class()
