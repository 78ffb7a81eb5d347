"""The single entry point for client apps: HAProxy (Debian's package) in front of every API
replica of the three services (decision 36).

``/plans/...``, ``/meetings/...`` and ``/notifications/...`` go to that service's replicas
with the prefix taken off (``/plans/plans/{id}`` reaches the plans service as
``/plans/{id}``): a client configures one base URL per service, all on one address, and the
services keep their own paths (and their own ports, for operators). A replica takes requests
while its ``/readyz`` answers 200 (checked every second; two failures take it out, one success
brings it back), so a replica that drains before it stops (``ACCORD_SHUTDOWN_DRAIN_SECONDS``)
is out of rotation before it stops accepting. When no replica of a service is ready, requests
go to them all the same (unchecked backup servers): a service without its broker still takes
writes (they wait in its outbox), and one without its database answers 503 with Retry-After.
A connection refused is tried again on another replica (``retry-on conn-failure``: nothing was
sent, so even a POST is safe to resend); a request a replica took and never answered is not
resent.

Limits: at most ``MAX_CONNECTIONS_PER_CLIENT`` connections open from one client address, the
request's head within 10 s and the whole body announced under the services' own
limit (``ACCORD_MAX_BODY_BYTES``, default 1 MiB, else 413 at once), 2 s to connect to a replica,
60 s of silence from either side (a live stream's keepalives keep it open). The request id: the
caller's ``X-Request-ID`` is passed on, one is made (a UUID) when there is none, and the
service echoes it.
"""

from __future__ import annotations

import csv
import io
import shutil
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.local.processes import (
    ServiceProcess,
    StackError,
    apt_install,
    failure,
    run,
    wait_for,
)

PROXY = "proxy"
MAX_BODY_BYTES = 1_048_576
# Of the proxy's 4,096: a client app, a delegation's live streams and an operator's tools need
# far fewer; sixteen clients could still fill it, but no single one can.
MAX_CONNECTIONS_PER_CLIENT = 256


def install() -> None:
    if shutil.which("haproxy") is None:
        apt_install("haproxy")


def haproxy_config(
    port: int,
    upstreams: Mapping[str, Sequence[tuple[str, str]]],
    *,
    bind_host: str = "127.0.0.1",
    max_body_bytes: int = MAX_BODY_BYTES,
    stats_port: int | None = None,
    resolver: str | None = None,
    max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
) -> str:
    """The configuration: ``upstreams`` maps each service (its path prefix) to its replicas'
    (name, host:port); ``stats_port``: HAProxy's statistics page for operators, on loopback
    (``/;csv``: each replica's state as the checks see it); ``resolver``: a DNS server to
    look the replicas' names up again (compose's, whose containers change address when they
    are recreated)."""
    lines = [
        "# Made by deploy/local/proxy.py (haproxy_config); see decision 36.",
        "global",
        "    maxconn 4096",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option forwardfor",
        "    timeout connect 2s",
        "    timeout http-request 10s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout queue 10s",
        "    retries 3",
        "    retry-on conn-failure",
        "    option redispatch",
        "",
        "frontend accord",
        f"    bind {bind_host}:{port}",
        # One client address holds at most this many connections: without a cap, one client
        # opening thousands and sending nothing held every one of the proxy's (maxconn) and
        # nobody else got in. Further connections are closed at once.
        "    stick-table type ip size 100k expire 60s store conn_cur",
        "    tcp-request connection track-sc0 src",
        f"    tcp-request connection reject if {{ sc0_conn_cur gt {max_connections_per_client} }}",
        "    http-request set-header X-Request-ID %[uuid]"
        " unless { req.hdr(x-request-id) -m found }",
        "    http-request deny deny_status 413"
        f" if {{ req.hdr_val(content-length) gt {max_body_bytes} }}",
    ]  # fmt: skip
    for service in upstreams:
        lines.append(
            f"    use_backend {service} if {{ path /{service} }} || {{ path_beg /{service}/ }}"
        )
    lines += [
        "    default_backend unknown",
        "",
        "backend unknown",
        "    http-request return status 404 content-type application/problem+json"
        ' string \'{"type":"about:blank","title":"Not Found","status":404,'
        '"detail":"no service at this path: /plans/..., /meetings/... or /notifications/..."}\'',
        "",
    ]
    if resolver is not None:
        lines += ["resolvers dns", f"    nameserver dns {resolver}", "    hold valid 10s", ""]
    if stats_port is not None:
        lines += [
            "listen stats",
            f"    bind 127.0.0.1:{stats_port}",
            "    stats enable",
            "    stats uri /",
            "",
        ]
    for service, servers in upstreams.items():
        lines += [
            f"backend {service}",
            f"    http-request set-path / if {{ path /{service} }}",
            f"    http-request replace-path ^/{service}(/.*) \\1",
            "    option httpchk GET /readyz",
            "    http-check expect status 200",
            "    timeout check 5s",
            "    option allbackups",
            "    default-server inter 1s fall 2 rise 1"
            + (" resolvers dns init-addr last,libc,none" if resolver else ""),
            *(f"    server {name} {address} check" for name, address in servers),
            # The last resort, unchecked: when no replica is ready (the broker or the database
            # away), requests still reach one, which answers them or says why in a problem
            # document with Retry-After, rather than the proxy's bare 503.
            *(f"    server {name}-last-resort {address} backup" for name, address in servers),
            "",
        ]
    return "\n".join(lines)


# The compose file's proxy: the services by their names in the compose network, looked up
# when it starts (HAProxy's own resolver asking Docker's DNS left every server in maintenance
# on the isolated engine of the compose test): a service's container recreated with another
# address needs `docker compose restart proxy`.
COMPOSE_CONFIG = Path(__file__).resolve().parents[1] / "haproxy" / "haproxy-compose.cfg"


def compose_config() -> str:
    upstreams = {
        name: [(name, f"{name}:{port}")]
        for name, port in (("plans", 8001), ("meetings", 8002), ("notifications", 8003))
    }
    return haproxy_config(8000, upstreams, bind_host="*") + "\n"


class Proxy(ServiceProcess):
    """HAProxy in the foreground, its configuration in the runtime folder."""

    def __init__(self, runtime_dir: Path, port: int, stats_port: int, name: str = PROXY) -> None:
        self.config_path = runtime_dir.resolve() / "haproxy" / f"{name}.cfg"
        super().__init__(name, runtime_dir, ["haproxy", "-db", "-f", str(self.config_path)], {})
        self.port = port
        self.stats_port = stats_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(
        self,
        upstreams: Mapping[str, Sequence[tuple[str, str]]],
        max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
    ) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        config = haproxy_config(
            self.port,
            upstreams,
            stats_port=self.stats_port,
            max_connections_per_client=max_connections_per_client,
        )
        self.config_path.write_text(config)
        run(["haproxy", "-c", "-q", "-f", str(self.config_path)], "checking haproxy's config")

    def start(self, wait_healthy: float = 30) -> None:
        if not self.config_path.exists():
            raise StackError(f"{self.name}: no configuration at {self.config_path}")
        super().start(wait_healthy)
        answered = wait_for(lambda: self._exited() or self.servers_up() is not None, wait_healthy)
        if self._exited():
            raise failure(f"{self.name} exited while starting", self.log_path)
        if not answered:
            self.stop()
            raise failure(f"{self.name}: its statistics page did not answer", self.log_path)

    def servers_up(self) -> dict[str, bool] | None:
        """Per replica ("backend/server"), whether the proxy sends it requests (its checks
        pass); None if the proxy does not answer."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=2) as answer:
                rows = list(csv.reader(io.StringIO(answer.read().decode().lstrip("# "))))
        except OSError:
            return None
        header = rows[0]
        name, server, status = (
            header.index("pxname"),
            header.index("svname"),
            header.index("status"),
        )
        return {
            f"{row[name]}/{row[server]}": row[status].startswith("UP")
            for row in rows[1:]
            if row and row[server] not in ("FRONTEND", "BACKEND")
        }


if __name__ == "__main__":
    # python -m deploy.local.proxy > deploy/haproxy/haproxy-compose.cfg
    print(compose_config(), end="")
