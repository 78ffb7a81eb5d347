"""The local and test brokers' users and settings (deploy/local/kafka.py), without starting
one: every service and the admin get a password of their own, kept private and stable; the
broker's configuration authenticates every listener and denies what no ACL allows."""

import stat
from pathlib import Path

import pytest

from deploy.local.kafka import ADMIN_USER, Kafka
from deploy.local.processes import StackError
from shared.kafka_acls import PRINCIPALS


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_user_gets_a_private_password_of_its_own_that_stays(tmp_path: Path) -> None:
    kafka = Kafka(tmp_path, 20001, 20002)
    credentials = kafka.credentials()
    assert sorted(credentials) == sorted([ADMIN_USER, *(p.name for p in PRINCIPALS)])
    assert len(set(credentials.values())) == len(credentials)
    assert Kafka(tmp_path, 20001, 20002).credentials() == credentials
    assert _mode(tmp_path / "kafka" / "credentials.json") == 0o600
    plans = kafka.access("plans")
    assert (plans.username, plans.password) == ("plans", credentials["plans"])
    assert kafka.client_env("plans")["ACCORD_KAFKA_PASSWORD"] == credentials["plans"]


def test_the_broker_authenticates_every_listener_and_denies_what_no_acl_allows(
    tmp_path: Path,
) -> None:
    kafka = Kafka(tmp_path, 20001, 20002)
    kafka._write_config()
    config_file = tmp_path / "kafka" / "server.properties"
    settings = dict(
        line.split("=", 1) for line in config_file.read_text().splitlines() if "=" in line
    )
    protocols = dict(
        pair.split(":") for pair in settings["listener.security.protocol.map"].split(",")
    )
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert settings["allow.everyone.if.no.acl.found"] == "false"
    assert settings["super.users"] == f"User:{ADMIN_USER}"
    assert settings["authorizer.class.name"].endswith("StandardAuthorizer")
    # It holds the admin's password.
    assert _mode(config_file) == 0o600


def test_a_storage_formatted_before_the_broker_had_users_is_named(tmp_path: Path) -> None:
    data = tmp_path / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("cluster.id=x\n")
    with pytest.raises(StackError, match="formatted without users"):
        Kafka(tmp_path, 20001, 20002).credentials()
