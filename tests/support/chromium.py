"""Headless Chromium (Debian's ``chromium`` package) driven through the Chrome DevTools
Protocol by a small client of our own over a websocket: enough to open a page, read its DOM,
collect its console errors, print it to PDF and take a screenshot.

One browser per test module (starting it takes about a second); each test opens its own tab.
"""

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from tests.support.waiting import eventually

# Each command and each page load is bounded so that a hung browser fails the test instead of
# hanging the suite; the bound is far above what any of them takes.
COMMAND_TIMEOUT = 60.0


def chromium_binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise AssertionError("chromium is missing: deploy/stack installs it (Debian's package)")
    return found


class Browser:
    """A Chromium process and one websocket connection to it (flat sessions per tab)."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.process: asyncio.subprocess.Process | None = None
        self.socket: Any = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[tuple[str, str | None, asyncio.Queue[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        with (self.profile / "chromium.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                chromium_binary(),
                "--headless",
                # The suite runs as root, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        port_file = self.profile / "DevToolsActivePort"

        async def announced() -> list[str] | None:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"chromium exited: see {self.profile / 'chromium.log'}")
            lines = port_file.read_text().split() if port_file.exists() else []
            return lines if len(lines) >= 2 else None

        port, path = await eventually(announced, timeout=60, what="chromium's DevTools port")
        self.socket = await websockets.connect(
            f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024
        )
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            for method, session, queue in self._listeners:
                if message.get("method") == method and message.get("sessionId") == session:
                    queue.put_nowait(message.get("params", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self.socket.send(json.dumps(message))
        answer = await asyncio.wait_for(future, COMMAND_TIMEOUT)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def listen(self, method: str, session: str | None) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.append((method, session, queue))
        return queue

    @contextlib.asynccontextmanager
    async def tab(self) -> AsyncIterator["Tab"]:
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        tab = Tab(self, attached["sessionId"])
        await tab.enable()
        try:
            yield tab
        finally:
            await self.send("Target.closeTarget", {"targetId": target})


@dataclass
class Tab:
    browser: Browser
    session: str
    errors: list[str] = field(default_factory=list)

    async def enable(self) -> None:
        self._console = self.browser.listen("Runtime.consoleAPICalled", self.session)
        self._exceptions = self.browser.listen("Runtime.exceptionThrown", self.session)
        self._log = self.browser.listen("Log.entryAdded", self.session)
        self._loads = self.browser.listen("Page.loadEventFired", self.session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    async def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self._drain(self._loads)
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loads.get(), COMMAND_TIMEOUT)

    async def submit(self, form_selector: str, values: dict[str, str]) -> None:
        """Fill a form's fields by name and submit it as a person would, then wait for the
        page it leads to."""
        self._drain(self._loads)
        fill = json.dumps(values)
        await self.evaluate(
            f"(() => {{ const form = document.querySelector({json.dumps(form_selector)});"
            f" for (const [name, value] of Object.entries({fill})) form.elements[name].value = value;"
            " form.requestSubmit(); return true; })()"
        )
        await asyncio.wait_for(self._loads.get(), COMMAND_TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def console_errors(self) -> list[str]:
        """Everything the page reported as an error so far: console.error, uncaught
        exceptions, and the browser's own log (failed loads, refused content)."""
        for params in self._take(self._console):
            if params.get("type") in {"error", "assert"}:
                self.errors.append(f"console: {params.get('args')}")
        for params in self._take(self._exceptions):
            self.errors.append(f"exception: {params.get('exceptionDetails')}")
        for params in self._take(self._log):
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}")
        return list(self.errors)

    async def pdf(self) -> bytes:
        answer = await self.send("Page.printToPDF", {"printBackground": True})
        return base64.b64decode(answer["data"])

    async def screenshot(self, width: int = 1100) -> bytes:
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
        )
        answer = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(answer["data"])

    @staticmethod
    def _take(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    _drain = _take


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Browser]:
    browser = Browser(profile)
    try:
        await browser.start()
        yield browser
    finally:
        await browser.stop()
