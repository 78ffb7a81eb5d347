"""How a process reaches Kafka and who it is there: the options of every aiokafka client.

A broker run for Accord authenticates its clients with SASL/SCRAM and authorises them with
ACLs (``shared/kafka_acls.py``): each service is a principal of its own, so a service can
only write its own topic, and an operator's admin principal creates topics and ACLs. Every
client Accord makes (relay, consumer, dead-letter producer, topic creation, replay, probes)
takes its options from one ``KafkaAccess``, so no client can forget the credentials.

``PLAINTEXT`` (no authentication) is for a broker without users, e.g. one a developer runs by
hand; production refuses it (``shared/config.py``).
"""

import ssl
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap_servers: str
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    username: str = ""
    # Never in a repr: these objects end up in log lines and test failures.
    password: str = field(default="", repr=False)
    # SSL / SASL_SSL: the context built from the TLS settings (shared/tls.py); None: the
    # system's CAs.
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def authenticated(self) -> bool:
        return self.security_protocol.uses_sasl

    def as_user(self, username: str, password: str) -> "KafkaAccess":
        """The same broker, as another principal."""
        return replace(self, username=username, password=password)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol.value,
        }
        if self.authenticated:
            options |= {
                "sasl_mechanism": self.sasl_mechanism.value,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol.uses_tls:
            options["ssl_context"] = self.tls or ssl.create_default_context()
        return options
