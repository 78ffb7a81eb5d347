"""Notifications' OpenAPI document describes every webhook a delegation can receive: one per
event type the intake takes in and one for its digests, with the Standard Webhooks headers
and the body's schema."""

from services.notifications.consumers import CONSUMED
from services.notifications.main import create
from shared.contracts.notifications import DigestReady

HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_every_event_taken_in_is_a_documented_webhook_with_its_headers() -> None:
    document = create().openapi()

    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == {c.event_type for c in CONSUMED} | {DigestReady.event_type}
    for event_type, item in document["webhooks"].items():
        operation = item["post"]
        required = {p["name"] for p in operation["parameters"] if p["required"]}
        assert required == HEADERS, event_type
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert body["properties"]["type"]["const"] == event_type
        assert set(body["required"]) == {"type", "timestamp", "event_id", "delegation", "data"}
        assert body["properties"]["data"]["$ref"].startswith("#/components/schemas/")
        assert {"200", "410", "default"} <= set(operation["responses"])
