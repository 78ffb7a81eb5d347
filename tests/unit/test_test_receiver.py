"""The tests' webhook receiver (tests/support/receiver.py) records only requests that arrived
whole: a sender SIGKILLed between a request's head and the end of its body left a truncated
request, which the receiver recorded as a webhook that failed verification (the replica
SIGKILL scenario failed on it once in CI)."""

import asyncio
import socket
from datetime import UTC, datetime

from standardwebhooks import Webhook

from tests.support.receiver import Receiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _headers_for(body: bytes) -> dict[str, str]:
    signature = Webhook(SECRET).sign("msg_1", datetime.now(UTC), body.decode())
    timestamp = str(int(datetime.now(UTC).timestamp()))
    return {"webhook-id": "msg_1", "webhook-timestamp": timestamp, "webhook-signature": signature}


async def test_a_request_cut_short_is_counted_apart_not_received() -> None:
    receiver = Receiver()
    receiver.route("/hook", SECRET)
    body = b'{"type":"x","data":{}}'
    head = "".join(f"{k}: {v}\r\n" for k, v in _headers_for(body).items())
    request = (
        f"POST /hook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n{head}\r\n"
    ).encode()
    with receiver.running():
        with socket.create_connection(("127.0.0.1", receiver.port)) as cut:
            cut.sendall(request + body[:5])  # then the sender dies
        await asyncio.sleep(0.5)  # the server's thread reads to the end of the connection
    assert receiver.at("/hook") == []
    assert receiver.incomplete == ["/hook"]
