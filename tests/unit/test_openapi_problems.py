"""Every error response in the services' OpenAPI documents is declared as a problem document,
as the services answer it (found by fuzzing: routes' own 409/404 were documented as JSON),
with the statuses any route may give for a bad body (400, 413)."""

import importlib

import pytest

from shared.problems import PROBLEM_MEDIA_TYPE


@pytest.mark.parametrize("service", ["plans", "meetings", "notifications"])
def test_every_error_response_is_documented_as_problem_json(service: str) -> None:
    app = importlib.import_module(f"services.{service}.main").create()
    document = app.openapi()

    errors = [
        (path, method, status, response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[0] in "45"
    ]
    assert len(errors) > 4 * len(document["paths"])
    for path, method, status, response in errors:
        assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (path, method, status)
        assert response["content"][PROBLEM_MEDIA_TYPE]["schema"] == {
            "$ref": "#/components/schemas/ProblemDetail"
        }
    conflict = document["paths"]["/plans"]["post"] if service == "plans" else None
    if conflict is not None:
        assert PROBLEM_MEDIA_TYPE in conflict["responses"]["409"]["content"]
    for operations in document["paths"].values():
        for operation in operations.values():
            assert {"400", "413", "422"} <= set(operation["responses"])
