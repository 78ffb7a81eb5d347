"""The demo's webhook receiver: what a delegation's own system would run.

``python -m deploy.demo.receiver --port 8009 --secrets S.json --log L.jsonl`` serves
``POST /webhooks/<delegation>``: it verifies each request's Standard Webhooks signature
with the reference ``standardwebhooks`` library against that delegation's secrets (the JSON
file ``{"VNM": ["whsec_..."], ...}``, re-read whenever it changes, so the demo can add
endpoints while it runs), appends one JSON line per request to the log, and answers 200, or
400 for a bad signature (the sender then retries). A repeated ``webhook-id`` is answered
200 and counted as a duplicate, as a receiver that dedupes would.

``GET /counts`` gives, per delegation, the requests received, verified, invalid and
duplicated; ``GET /received`` every verified webhook (delegation, id, key, type);
``GET /healthz`` answers when it is up.
"""

import argparse
import json
import os
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from deploy.demo.expected import key_of

PREFIX = "/webhooks/"


class Secrets:
    """The secrets file, re-read when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._secrets: dict[str, list[str]] = {}

    def of(self, delegation: str) -> list[str]:
        try:
            stamp = self.path.stat().st_mtime
        except OSError:
            return []
        if stamp != self._stamp:
            self._secrets, self._stamp = json.loads(self.path.read_text() or "{}"), stamp
        return self._secrets.get(delegation, [])


def verified(secrets: list[str], body: bytes, headers: dict[str, str]) -> bool:
    """Whether any of the delegation's secrets verifies the signature (and the timestamp)."""
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        return True
    return False


class Ledger:
    """What was received, in memory and appended to the JSON-lines log. A restarted
    receiver reads its log back first, so its counts survive a restart of the stack."""

    def __init__(self, log_path: Path) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.received: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str]] = set()
        if log_path.exists():
            for line in log_path.read_text(encoding="utf-8").splitlines():
                self._count(json.loads(line))
        self._log = log_path.open("a", encoding="utf-8")

    def record(self, delegation: str, headers: dict[str, str], body: bytes, ok: bool) -> None:
        webhook_id = headers.get("webhook-id", "")
        entry: dict[str, Any] = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "delegation": delegation,
            "webhook_id": webhook_id,
            "verified": ok,
        }
        if ok:
            payload = json.loads(body)
            entry.update(type=payload.get("type"), key=key_of(payload))
        with self._lock:
            self._count(entry)
            self._log.write(json.dumps(entry) + "\n")
            self._log.flush()

    def _count(self, entry: dict[str, Any]) -> None:
        delegation, webhook_id = entry["delegation"], entry["webhook_id"]
        counts = self.counts[delegation]
        counts["received"] += 1
        if not entry["verified"]:
            counts["invalid"] += 1
        elif (delegation, webhook_id) in self._seen:
            counts["duplicates"] += 1
            entry["duplicate"] = True
        else:
            self._seen.add((delegation, webhook_id))
            counts["verified"] += 1
            self.received.append(entry)

    def snapshot(self) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]]]:
        with self._lock:
            return {k: dict(v) for k, v in self.counts.items()}, list(self.received)


def handler_class(secrets: Secrets, ledger: Ledger) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if not self.path.startswith(PREFIX):
                self._answer(404)
                return
            delegation = self.path[len(PREFIX) :].strip("/")
            headers = {k.lower(): v for k, v in self.headers.items()}
            ok = verified(secrets.of(delegation), body, headers)
            ledger.record(delegation, headers, body, ok)
            self._answer(200 if ok else 400)

        def do_GET(self) -> None:
            counts, received = ledger.snapshot()
            documents: dict[str, Any] = {
                "/healthz": {"status": "ok"},
                "/counts": counts,
                "/received": received,
            }
            if self.path not in documents:
                self._answer(404)
                return
            self._answer(200, json.dumps(documents[self.path]).encode())

        def _answer(self, status: int, content: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the ledger is the log

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo.receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secrets", type=Path, required=True, help="JSON: code -> secrets")
    parser.add_argument("--log", type=Path, required=True, help="JSON-lines file to append to")
    args = parser.parse_args()
    args.log.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(
        (args.host, args.port), handler_class(Secrets(args.secrets), Ledger(args.log))
    )
    print(f"demo receiver listening on http://{args.host}:{args.port}{PREFIX}<delegation>")
    print(f"pid {os.getpid()}, log {args.log}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
