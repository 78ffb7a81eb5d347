"""Where the machine's CPU goes during a run: the CPU time (user + system, from /proc) of each
process of the system and of the load generator, read before and after, per status change.

Latency at a share of the maximum depends on how much of the machine is left: a figure per
process shows which one to make cheaper (the services' own figures, not a profile's guess).
A process counts with its live descendants; PostgreSQL's backends count for the database
they serve, its other processes (and backends that ended, through the postmaster's
``cutime``) as the server's.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Process:
    parent: int
    seconds: float  # its own user + system time
    reaped: float  # user + system time of its children that ended (cutime + cstime)
    cmdline: str


def _processes() -> dict[int, _Process]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        # After the command's name in parentheses (which may hold spaces): state, ppid, ...
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        found[int(entry.name)] = _Process(
            int(fields[1]), (utime + stime) / TICKS, (cutime + cstime) / TICKS, cmdline
        )
    return found


def _descendants(children: dict[int, list[int]], root: int) -> list[int]:
    """``root`` and every process under it (``children``: parent -> its children)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def take(
    roots: dict[str, int | None],
    postgres: int | None,
    databases: dict[str, str],
    *,
    alone: dict[str, int] | None = None,
) -> dict[str, float]:
    """Seconds of CPU so far per name: each of ``roots`` (a process and its descendants), each
    of ``alone`` (a process without its children: the load generator started the rest), and
    the PostgreSQL server at ``postgres`` split by ``databases`` (database name -> label)."""
    processes = _processes()
    children: dict[int, list[int]] = {}  # built once for every root below
    for number, process in processes.items():
        children.setdefault(process.parent, []).append(number)
    seconds: dict[str, float] = {}
    for name, root in roots.items():
        if root is not None and root in processes:
            seconds[name] = sum(processes[p].seconds for p in _descendants(children, root))
    for name, pid in (alone or {}).items():
        if pid in processes:
            seconds[name] = processes[pid].seconds
    if postgres is not None and postgres in processes:
        server = "PostgreSQL (server processes, ended backends)"
        seconds[server] = processes[postgres].seconds + processes[postgres].reaped
        for pid in _descendants(children, postgres)[1:]:
            # A backend's title: "postgres: <user> <database> <client> <state>".
            words = processes[pid].cmdline.split()
            label = databases.get(words[2], server) if len(words) > 2 else server
            seconds[label] = seconds.get(label, 0.0) + processes[pid].seconds
    return seconds


def per_change(before: dict[str, float], after: dict[str, float], changes: int) -> dict[str, Any]:
    """Milliseconds of CPU per change of each name, largest first, and their total."""
    spent = {
        name: round(1000 * (after[name] - before.get(name, 0.0)) / max(1, changes), 2)
        for name in after
    }
    ordered = dict(sorted(spent.items(), key=lambda item: -item[1]))
    return {"per_process": ordered, "total": round(sum(ordered.values()), 2)}
