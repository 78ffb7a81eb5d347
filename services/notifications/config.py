"""Settings of the notifications service (environment prefix ``NOTIFICATIONS_``).

Durations are in seconds so that tests can run the whole retry schedule in a few seconds;
the defaults follow Svix's published schedule.
"""

from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import SettingsConfigDict

from services.notifications.webhooks.keyring import (
    Keyring,
    KeyringError,
    parse_keys,
    weak_key_ids,
)
from shared.config import PUBLISHED_SECRETS, Environment, ServiceSettings

DAY = 86_400.0
# The key that encrypts webhook secrets when none is given, outside production only.
DEVELOPMENT_SECRET_KEYS = "development:YWNjb3JkIGRldmVsb3BtZW50IHdlYmhvb2sga2V5cyE="
MAKE_A_KEY = "python -m services.notifications new-secret-key"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/accord_notifications"
    http_port: int = 8003

    # Delay before each attempt: the first is immediate, the last is the eighth. As JSON in
    # the environment, e.g. NOTIFICATIONS_RETRY_SCHEDULE='[0, 1, 2]'.
    retry_schedule: list[float] = Field(
        default=[0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000], min_length=1
    )
    # A 2xx within this time is a success; anything else, a failed attempt. It is the whole
    # attempt's deadline (connect, send, the answer and the part of its body that is read),
    # and the lease on the delivery is this plus 30 s, so it never runs out mid-attempt.
    delivery_timeout: float = Field(default=15.0, gt=0)
    # A Retry-After longer than this is capped, so a receiver cannot park a delivery forever.
    max_retry_after: float = Field(default=36_000.0, ge=0)
    # While an endpoint fails and its deliveries wait on a long step of the schedule, its
    # oldest waiting delivery is tried this often (never sooner than a Retry-After asks): the
    # first success releases everything that waits, so an outage costs about this much, not
    # the step it fell into. The pause grows with the outage (a tenth of it so far) up to
    # probe_interval_max, so that a receiver away for days is not asked every few seconds.
    probe_interval: float = Field(default=5.0, gt=0)
    probe_interval_max: float = Field(default=300.0, gt=0)
    dispatcher_concurrency: int = Field(default=64, ge=1, le=1000)
    # Attempts in flight at once to one endpoint, and to all the endpoints of one delegation:
    # a slow receiver holds at most these many of the dispatcher's slots.
    max_in_flight_per_endpoint: int = Field(default=32, ge=1)
    max_in_flight_per_delegation: int = Field(default=48, ge=1)
    # How much of a receiver's answer is read (and kept in the attempt's record).
    response_prefix_bytes: int = Field(default=4096, ge=0, le=65_536)
    # Fallback poll of the dispatcher and the stream when no NOTIFY arrives.
    poll_interval: float = Field(default=1.0, gt=0)
    # An endpoint failing without a single success for this long is disabled...
    disable_after: float = Field(default=5 * DAY, gt=0)
    # ...and its delegation is warned this long before (always at least once before).
    warn_before_disable: float = Field(default=DAY, ge=0)
    # After a secret rotation the old secret still signs (second signature) for this long.
    secret_overlap: float = Field(default=DAY, ge=0)
    # Accept plain-http webhook URLs (https always is). Loopback targets need
    # ACCORD_ALLOW_LOOPBACK_WEBHOOKS as well.
    allow_http_webhooks: bool = False
    # The keys that encrypt webhook secrets in the database (webhooks/keyring.py): entries
    # ``id:base64-key`` (32 bytes), the first one current, the others only read (rotation).
    # Given inline, or in a file (a mounted secret), never both; required in production.
    secret_keys: str = ""
    secret_keys_file: Path | None = None
    stream_keepalive: float = Field(default=15.0, gt=0)
    # Caps per delegation: webhook endpoints and subscriptions it holds (beyond: 409), live
    # streams it has open at once in each process (beyond: 429).
    max_endpoints_per_delegation: int = Field(default=20, ge=1)
    max_subscriptions_per_delegation: int = Field(default=500, ge=1)
    max_streams_per_delegation: int = Field(default=10, ge=1)
    max_contacts_per_delegation: int = Field(default=50, ge=1)
    digest_interval: float = Field(default=60.0, gt=0)

    # Email (email/): the SMTP server that relays the notices to contacts. No host: email is
    # off, and email deliveries wait until one is configured. STARTTLS upgrades the
    # connection before authenticating (a username asks for authentication).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    # Whole attempt: connecting, STARTTLS, authenticating and sending one message.
    smtp_timeout: float = Field(default=30.0, gt=0)
    email_from: str = "Accord notifications <notifications@accord.invalid>"
    # The right-hand side of every Message-ID (a domain the operator controls).
    email_message_id_domain: str = "notifications.accord.invalid"
    # Messages in flight at once (one SMTP connection each).
    email_concurrency: int = Field(default=4, ge=1, le=100)

    _keyring: Keyring = PrivateAttr()

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @model_validator(mode="after")
    def _secret_keys(self) -> "NotificationsSettings":
        self._keyring = _read_keyring(self)
        return self


def _read_keyring(settings: NotificationsSettings) -> Keyring:
    """The keyring from NOTIFICATIONS_SECRET_KEYS or NOTIFICATIONS_SECRET_KEYS_FILE; outside
    production, the development key when neither is given. Production refuses to start
    without keys, or with a published or non-random one."""
    production = settings.environment is Environment.PRODUCTION
    if settings.secret_keys and settings.secret_keys_file is not None:
        raise ValueError(
            "give NOTIFICATIONS_SECRET_KEYS or NOTIFICATIONS_SECRET_KEYS_FILE, not both"
        )
    try:
        if settings.secret_keys_file is not None:
            try:
                text = settings.secret_keys_file.read_text()
            except OSError as exc:
                raise KeyringError(
                    f"NOTIFICATIONS_SECRET_KEYS_FILE cannot be read: {exc.strerror}"
                ) from None
            keyring = parse_keys(text, "NOTIFICATIONS_SECRET_KEYS_FILE")
        elif settings.secret_keys:
            keyring = parse_keys(settings.secret_keys, "NOTIFICATIONS_SECRET_KEYS")
        elif production:
            raise KeyringError(
                "production needs the keys that encrypt webhook secrets: set"
                f" NOTIFICATIONS_SECRET_KEYS or NOTIFICATIONS_SECRET_KEYS_FILE ({MAKE_A_KEY})"
            )
        else:
            keyring = parse_keys(DEVELOPMENT_SECRET_KEYS, "the development key")
    except KeyringError as exc:
        raise ValueError(str(exc)) from None
    if production:
        weak = weak_key_ids(keyring, _published_keys())
        if weak:
            reasons = "; ".join(f"key {key_id!r} {why}" for key_id, why in weak.items())
            raise ValueError(
                f"NOTIFICATIONS_SECRET_KEYS: {reasons}: production needs keys of its own"
                f" ({MAKE_A_KEY})"
            )
    return keyring


def _published_keys() -> Keyring:
    """Every key the repository publishes: the development key, and any published value
    that reads as keys (.env.example's placeholder)."""
    keys: dict[str, bytes] = {}
    for value in sorted(PUBLISHED_SECRETS | {DEVELOPMENT_SECRET_KEYS}):
        try:
            published = parse_keys(value, "a published value")
        except KeyringError:
            continue
        keys |= {f"{len(keys) + n}": key for n, (_, key) in enumerate(published.entries())}
    return Keyring(keys, current=next(iter(keys)))
