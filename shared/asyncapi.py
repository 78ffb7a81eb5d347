"""The catalogue of Accord's topics and events as an AsyncAPI 3.0 document, generated from the
registered contracts so that it cannot drift from the code.

    python -m shared.asyncapi > shared/contracts/asyncapi.json

A test checks that the committed file equals what this module generates. Every service
serves the same document at ``/asyncapi.json`` (``catalogue_router``): the catalogue is one
for the whole system, and a client reaches it from whichever service it talks to.
"""

import functools
import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared import contracts
from shared.events import STRUCTURED_CONTENT_TYPE, CloudEvent, registered_contracts
from shared.topics import MEETINGS_EVENTS, NOTIFICATIONS_EVENTS, PLANS_EVENTS, dead_letter_topic

# Which service publishes what, and on which topic, keyed by aggregate.
_PUBLISHERS = {
    "plans": (PLANS_EVENTS, contracts.plans.SOURCE, "plan id"),
    "meetings": (MEETINGS_EVENTS, contracts.meetings.SOURCE, "meeting id"),
    "notifications": (NOTIFICATIONS_EVENTS, contracts.notifications.SOURCE, "delegation code"),
}


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "CloudEvent": _schema(CloudEvent.model_json_schema(), definitions),
        "KafkaHeaders": {
            "type": "object",
            "description": (
                "CloudEvents Kafka protocol binding, structured content mode: no ce_ header; "
                "the message key equals the event's partitionkey"
            ),
            "properties": {"content-type": {"const": STRUCTURED_CONTENT_TYPE}},
            "required": ["content-type"],
        },
    }
    for service, (topic, source, key) in _PUBLISHERS.items():
        names = []
        for cls in registered_contracts():
            if not cls.event_type.startswith(f"org.accord.{service}."):
                continue
            name = f"{cls.__name__}V{cls.schema_version}"
            names.append(name)
            schemas[name] = _schema(cls.model_json_schema(), definitions)
            messages[name] = {
                "name": cls.event_type,
                "title": f"{cls.event_type} (data schema version {cls.schema_version})",
                "summary": (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
                # The CloudEvents Kafka binding, structured mode: the value is the whole
                # envelope (its data this contract), announced by the content-type header.
                "contentType": STRUCTURED_CONTENT_TYPE,
                "headers": {"$ref": "#/components/schemas/KafkaHeaders"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": f"the {key}"},
                        "bindingVersion": "0.5.0",
                    }
                },
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEvent"},
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": cls.event_type},
                                "dataschemaversion": {"const": cls.schema_version},
                                "data": {"$ref": f"#/components/schemas/{name}"},
                            },
                        },
                    ]
                },
                "x-cloudevents": {
                    "type": cls.event_type,
                    "source": source,
                    "dataschemaversion": cls.schema_version,
                },
            }
        channel = topic.replace(".", "_")
        channels[channel] = {
            "address": topic,
            "description": f"Published by the {service} service via its outbox, keyed by {key}.",
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        }
        channels[f"{channel}_dlt"] = {
            "address": dead_letter_topic(topic),
            "description": (
                f"Messages of {topic} a consumer group could not process, unchanged, with headers "
                "dlt.reason, dlt.group, dlt.topic, dlt.partition and dlt.offset."
            ),
        }
        operations[f"publish_{service}_events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
        }
    schemas.update(definitions)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Accord events",
            "version": "1",
            "description": (
                "Every message is a CloudEvents 1.0 event per the CloudEvents Kafka protocol "
                "binding in structured content mode: the value is the JSON event, the header "
                "`content-type: application/cloudevents+json` says so, and the key is the "
                "event's `partitionkey` extension (the aggregate's id); `data` "
                "follows the contract named by `type` and `dataschemaversion`. Contracts only "
                "gain optional fields; anything else is a new version beside the old one."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _schema(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Hoist pydantic's local ``$defs`` into the document's shared schemas."""
    for name, definition in schema.pop("$defs", {}).items():
        definitions[name] = definition
    return json.loads(json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/'))


catalogue_router = APIRouter(tags=["events"])


@functools.cache
def _served() -> dict[str, Any]:
    return document()


@catalogue_router.get("/asyncapi.json", summary="The catalogue of events (AsyncAPI 3.0)")
async def asyncapi() -> JSONResponse:
    """Every topic and event of the system, with each event's `data` schema: the same
    document from every service. No token needed."""
    return JSONResponse(_served())


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
