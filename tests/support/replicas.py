"""A fault stack whose services run as several replicas behind HAProxy, as ``deploy/stack up
--replicas N`` runs them: each replica a process with every role of its service, a stable
instance id of its own, and a drain period on SIGTERM (``shared/lifecycle.py``). Client
traffic (the fault suite's driver and oracle) goes through the proxy."""

import sys
from concurrent.futures import ThreadPoolExecutor

import httpx

from deploy.local.processes import ServiceProcess, free_port
from deploy.local.proxy import Proxy
from tests.support.faults import FaultStack
from tests.support.receiver import Receiver
from tests.support.stack import SERVICE_NAMES, Infrastructure

# Longer than the proxy needs to see a replica fail two checks a second apart.
DRAIN_SECONDS = "2.5"


class ReplicaStack(FaultStack):
    def __init__(self, infra: Infrastructure, receiver: Receiver, replicas: int = 2) -> None:
        super().__init__(infra, receiver)
        self.proxy = Proxy(infra.runtime_dir, free_port(), free_port())
        self.replicas: dict[str, list[ServiceProcess]] = {}
        self.ports: dict[str, list[int]] = {}
        for name in SERVICE_NAMES:
            self.ports[name] = [free_port() for _ in range(replicas)]
            self.services.ports[name] = self.ports[name][0]
            self.replicas[name] = [self._replica(name, i) for i in range(replicas)]

    def _replica(self, service: str, index: int) -> ServiceProcess:
        port = self.ports[service][index]
        env = {
            **self.services.environment(service),
            f"{service.upper()}_HTTP_PORT": str(port),
            "ACCORD_INSTANCE_ID": f"{service}-{index + 1}",
            "ACCORD_SHUTDOWN_DRAIN_SECONDS": DRAIN_SECONDS,
        }
        return ServiceProcess(
            f"{service}-{index + 1}",
            self.infra.runtime_dir,
            [sys.executable, "-m", f"services.{service}", "serve"],
            env,
            health_url=f"http://127.0.0.1:{port}/healthz",
        )

    def url(self, service: str) -> str:
        """Through the proxy, as a client app sees the service."""
        return f"{self.proxy.url}/{service}"

    def replica_url(self, service: str, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[service][index]}"

    def all_replicas(self) -> list[tuple[str, int, ServiceProcess]]:
        return [
            (name, index, process)
            for name in SERVICE_NAMES
            for index, process in enumerate(self.replicas[name])
        ]

    def start_services(self, *, wait_healthy: float = 90) -> None:
        # All at once: each takes seconds to import on a loaded machine.
        with ThreadPoolExecutor(max_workers=len(self.all_replicas())) as pool:
            started = [
                pool.submit(process.start, wait_healthy) for _, _, process in self.all_replicas()
            ]
            for future in started:
                future.result()
        # Its ports taken now rather than when the stack was made: nothing else grabs them.
        self.proxy = Proxy(self.infra.runtime_dir, free_port(), free_port())
        self.proxy.configure(
            {
                name: [
                    (process.name, f"127.0.0.1:{self.ports[name][index]}")
                    for index, process in enumerate(self.replicas[name])
                ]
                for name in SERVICE_NAMES
            }
        )
        self.proxy.start()

    def stop_all(self) -> None:
        self.proxy.stop()
        for _, _, process in self.all_replicas():
            process.stop()

    def in_rotation(self, service: str, index: int) -> bool:
        """Whether the proxy sends requests to this replica (its checks pass)."""
        servers = self.proxy.servers_up() or {}
        return servers.get(f"{service}/{self.replicas[service][index].name}", False)

    async def relay_leaders(self, http: httpx.AsyncClient, service: str) -> list[int]:
        """The replicas of ``service`` that say they hold the relay's lock."""
        leaders = []
        for index in range(len(self.replicas[service])):
            try:
                body = (await http.get(f"{self.replica_url(service, index)}/healthz")).json()
            except (httpx.HTTPError, ValueError):
                continue
            if body.get("relay", {}).get("leader"):
                leaders.append(index)
        return leaders

    async def work_shares(self, http: httpx.AsyncClient) -> dict[str, float]:
        """Per replica: events its consumer applied (since it started) and, for notifications,
        the webhook deliveries its dispatcher finished (its /metrics)."""
        shares: dict[str, float] = {}
        for name, index, process in self.all_replicas():
            base = self.replica_url(name, index)
            try:
                body = (await http.get(f"{base}/healthz")).json()
                shares[f"{process.name} events"] = body.get("consumer", {}).get("processed", 0)
                if name == "notifications":
                    text = (await http.get(f"{base}/metrics")).text
                    shares[f"{process.name} deliveries"] = sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line.startswith("accord_webhook_deliveries_finished_total")
                    )
            except (httpx.HTTPError, ValueError):
                continue
        return shares
