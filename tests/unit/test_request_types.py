"""Request bodies take JSON's own types: a boolean is `true`/`false`, a number a number.

Found by the probe: pydantic's lax mode read `"enabled": "yes"` as true, `"digest_hour": "7"`
as 7 and `"expected_version": 2.0` as 2, where the OpenAPI schema says boolean and integer.
Every boolean, integer and number field of every request model is strict."""

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

import services
from shared.schemas import RequestModel

SCALARS = {"bool", "int", "float"}


def _request_models() -> list[type[RequestModel]]:
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if module.name.endswith(("schemas", "documents")):
            importlib.import_module(module.name)
    found, pending = [], list(RequestModel.__subclasses__())
    while pending:
        model = pending.pop()
        if model.__module__.startswith("services."):  # not the tests' own models
            found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(found, key=lambda m: f"{m.__module__}.{m.__qualname__}")


def _lax_scalars(schema: Any, where: str = "") -> Iterator[str]:
    """Where a core schema validates a bool, int or float without ``strict``."""
    if isinstance(schema, dict):
        if schema.get("type") in SCALARS and not schema.get("strict"):
            yield f"{where} ({schema['type']})"
        for key, value in schema.items():
            if key == "fields" and isinstance(value, dict):
                for name, field in value.items():
                    yield from _lax_scalars(field, f"{where}.{name}")
            else:
                yield from _lax_scalars(value, where)
    elif isinstance(schema, list):
        for item in schema:
            yield from _lax_scalars(item, where)


MODELS = _request_models()


def test_the_request_models_are_found() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"EndpointUpdate", "DelegationCreate", "StatusChangeRequest", "LineDocument"} <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_boolean_and_number_of_a_request_model_is_strict(
    model: type[RequestModel],
) -> None:
    lax = sorted(set(_lax_scalars(model.__pydantic_core_schema__, model.__name__)))
    assert not lax, f"lax where JSON has a type of its own: {lax}"


@pytest.mark.parametrize(
    ("module", "model", "body", "field"),
    [
        (
            "services.notifications.webhooks.schemas",
            "EndpointUpdate",
            {"enabled": "yes"},
            "enabled",
        ),
        ("services.notifications.webhooks.schemas", "EndpointUpdate", {"enabled": 1}, "enabled"),
        ("services.notifications.schemas", "DelegationCreate", {"digest_hour": "7"}, "digest_hour"),
        (
            "services.plans.schemas",
            "StatusChangeRequest",
            {"expected_version": 2.0},
            "expected_version",
        ),
        (
            "services.plans.schemas",
            "StatusChangeRequest",
            {"expected_version": True},
            "expected_version",
        ),
    ],
)
def test_a_value_of_another_json_type_is_refused(
    module: str, model: str, body: dict[str, Any], field: str
) -> None:
    cls = getattr(importlib.import_module(module), model)
    with pytest.raises(ValidationError) as refused:
        cls.model_validate(body)
    assert field in {str(e["loc"][0]) for e in refused.value.errors()}
