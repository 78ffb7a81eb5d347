"""The ports the local stack and the tests listen on stay out of the kernel's ephemeral range,
so that no client's reconnect can take a server's port as its source port while the server
is down (a loopback self-connect that keeps the server from binding again)."""

import socket
from pathlib import Path

import pytest

from deploy.local import processes, stack
from deploy.local.processes import free_port


def _kernel_range() -> tuple[int, int]:
    text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    low, high = (int(n) for n in text.split())
    return low, high


def test_the_ephemeral_range_is_read_from_the_kernel() -> None:
    assert processes.ephemeral_port_range() == _kernel_range()


def test_every_port_free_port_hands_out_is_outside_the_ephemeral_range() -> None:
    low, high = _kernel_range()
    ports = [free_port() for _ in range(200)]
    inside = [port for port in ports if low <= port <= high]
    assert not inside, f"ports inside the ephemeral range {low}-{high}: {inside[:10]}"
    assert len(set(ports)) == len(ports), "a port handed out twice"


def test_free_port_follows_the_kernel_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose ephemeral range starts lower leaves fewer ports; none of them in it."""
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("25000\t60999\n")
    monkeypatch.setattr(processes, "EPHEMERAL_PORT_RANGE_FILE", range_file)
    assert all(processes.PORT_BAND[0] <= free_port() < 25000 for _ in range(50))


def test_free_port_never_hands_out_a_port_something_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        monkeypatch.setattr(processes, "PORT_BAND", (port, port))
        monkeypatch.setattr(processes, "EPHEMERAL_PORT_RANGE_FILE", Path("/nonexistent"))
        monkeypatch.setattr(processes, "LINUX_DEFAULT_EPHEMERAL_RANGE", (0, 0))
        with pytest.raises(processes.StackError):
            free_port()


def test_the_local_stack_listens_outside_the_ephemeral_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("POSTGRES", "KAFKA", "KAFKA_CONTROLLER", "RECEIVER", "PLANS"):
        monkeypatch.delenv(f"ACCORD_STACK_{variable}_PORT", raising=False)
    local = stack.LocalStack(tmp_path)
    ports = [
        local.postgres.port,
        local.kafka.port,
        local.kafka.controller_port,
        local.receiver_port,
        *(launch.port for launch in stack.SERVICES),
    ]
    low, high = _kernel_range()
    assert not [port for port in ports if low <= port <= high], ports
