from pathlib import Path

from shared.asyncapi import document, render
from shared.events import registered_contracts

CATALOGUE = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "asyncapi.json"


def test_the_committed_asyncapi_catalogue_is_what_the_contracts_generate() -> None:
    assert CATALOGUE.read_text() == render(), (
        "regenerate: python -m shared.asyncapi > shared/contracts/asyncapi.json"
    )


def test_every_registered_contract_is_a_message_of_its_service_topic() -> None:
    catalogue = document()
    listed = {
        message["name"]
        for channel in catalogue["channels"].values()
        for ref in channel.get("messages", {}).values()
        for message in [catalogue["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]]
    }
    assert listed == {cls.event_type for cls in registered_contracts()}
    assert catalogue["channels"]["accord_plans_events"]["address"] == "accord.plans.events"
    assert "ActionLineStatusChangedV1" in catalogue["channels"]["accord_plans_events"]["messages"]
