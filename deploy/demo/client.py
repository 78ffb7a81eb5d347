"""The demo as a client app: where the services are, tokens, and JSON calls that fail
loudly with the service's problem detail."""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from shared.tokens import Role, Signer, issue_token

T = TypeVar("T")
DEMO_SUBJECT = "accord-demo"


class DemoError(RuntimeError):
    """A call or a wait of the demo failed; the message says which and why."""


@dataclass(frozen=True)
class Target:
    """The running system the demo talks to."""

    plans: str
    meetings: str
    notifications: str
    receiver: str  # the demo receiver's base URL, as the notifications service reaches it
    signer: Signer  # the stack's token signing key
    state_dir: Path  # the receiver's secrets file and log
    # Whether notifications has an SMTP server to send to: without one (the compose file's
    # default, its Mailpit being behind the `mail` profile) emails wait, by design.
    email: bool = True

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "webhooks.jsonl"

    def webhook_url(self, delegation: str) -> str:
        return f"{self.receiver}/webhooks/{delegation}"

    def token(self, role: Role, delegation: str | None = None) -> str:
        subject = delegation or f"{DEMO_SUBJECT}-{role.value}"
        return issue_token(self.signer, subject=subject, role=role, delegation=delegation)

    def known_secrets(self) -> dict[str, list[str]]:
        try:
            loaded: dict[str, list[str]] = json.loads(self.secrets_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def remember_secret(self, delegation: str, secret: str) -> None:
        """Hand a signing secret to the receiver (atomically: it may be reading the file)."""
        secrets = self.known_secrets()
        secrets[delegation] = [secret, *secrets.get(delegation, [])][:2]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        staging = self.secrets_file.with_suffix(".tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(secrets, file, indent=1)
        staging.replace(self.secrets_file)


class Api:
    """JSON over HTTP with a bearer token; any unexpected status is a DemoError."""

    def __init__(self, http: httpx.AsyncClient, target: Target) -> None:
        self.http = http
        self.target = target
        self._secretariat = self._headers(Role.SECRETARIAT)

    @property
    def secretariat(self) -> dict[str, str]:
        return self._secretariat

    def _headers(self, role: Role, delegation: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.target.token(role, delegation)}"}

    def as_delegation(self, code: str) -> dict[str, str]:
        return self._headers(Role.DELEGATION, code)

    async def call(
        self,
        method: str,
        url: str,
        *,
        expect: int | tuple[int, ...] = 200,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        response = await self.http.request(
            method, url, headers=headers or self._secretariat, **kwargs
        )
        if response.status_code not in ((expect,) if isinstance(expect, int) else expect):
            raise DemoError(f"{method} {url}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    async def get(self, url: str, **kwargs: Any) -> Any:
        return await self.call("GET", url, **kwargs)

    async def post(
        self, url: str, body: Any = None, *, expect: int | tuple[int, ...] = 200, **kwargs: Any
    ) -> Any:
        return await self.call("POST", url, json=body, expect=expect, **kwargs)

    async def create_once_known(
        self, url: str, body: Any, *, field: str, what: str, **kwargs: Any
    ) -> Any:
        """POST a creation that names something made a moment ago in another service (a
        delegation as a participant, a plan or a meeting series to follow): until this
        service has taken in that event it answers 422 on ``field``, so try again, as any
        client must."""

        async def created() -> Any:
            response = await self.http.request(
                "POST", url, json=body, headers=kwargs.get("headers") or self._secretariat
            )
            if response.status_code == 422 and any(
                e["field"].startswith(field) for e in response.json().get("errors", [])
            ):
                return None
            if response.status_code != 201:
                raise DemoError(f"POST {url}: {response.status_code} {response.text[:2000]}")
            return response.json()

        return await wait_for(created, what)

    async def pages(self, url: str, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paginated list."""
        params = dict(kwargs.pop("params", {}), limit=200)
        while True:
            page = await self.get(url, params=params, **kwargs)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def all(self, url: str, **kwargs: Any) -> list[dict[str, Any]]:
        return [item async for item in self.pages(url, **kwargs)]


async def wait_for(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float = 60.0,
    on_poll: Callable[[], None] | None = None,
) -> T:
    """Poll until ``probe`` gives something truthy: the system is event-driven, so effects
    arrive a moment after the call that caused them. Bounded: fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if on_poll is not None:
            on_poll()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"gave up after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)
