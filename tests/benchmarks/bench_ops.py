"""How long the operator's command takes over many dead letters, in one run on one machine.

    .venv/bin/python -m tests.benchmarks.bench_ops [--messages 5000]

It starts its own PostgreSQL and Kafka, parks N messages (500-byte JSON values with the
dlt.* headers a consumer adds) on accord.plans.events.dlt, and times, as an operator runs
them (a process each, so start-up included): one trivial command (the start-up cost alone),
`dlt list` of the topic, the redrive's dry run, the redrive of all of them, and the same
redrive again (every message skipped as already redriven). Not part of `deploy/stack bench`:
the command is for people, and only has to keep a bar moving.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.topics import PLANS_EVENTS, dead_letter_topic
from tests.support.stack import SERVICE_NAMES, Infrastructure, new_infrastructure


async def _park(infra: Infrastructure, count: int) -> None:
    producer = AIOKafkaProducer(**infra.kafka_admin.client_options(), acks="all")
    await producer.start()
    try:
        deliveries = [
            await producer.send(
                dead_letter_topic(PLANS_EVENTS),
                key=f"k{i}".encode(),
                value=json.dumps({"id": str(i), "pad": "x" * 500}).encode(),
                headers=[
                    ("dlt.reason", b"bench"),
                    ("dlt.group", b"accord-bench"),
                    ("dlt.topic", PLANS_EVENTS.encode()),
                    ("dlt.partition", b"0"),
                    ("dlt.offset", str(i).encode()),
                ],
            )
            for i in range(count)
        ]
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


def _timed(environment: dict[str, str], *args: str) -> tuple[float, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "shared.ops", *args, "--json"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, json.loads(done.stdout)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=5000)
    count = options.parse_args().messages
    with tempfile.TemporaryDirectory(prefix="accord-bench-ops-") as runtime:
        infra = new_infrastructure(Path(runtime))
        infra.start()
        try:
            asyncio.run(infra.create_topics())
            asyncio.run(_park(infra, count))
            environment = {
                **os.environ,
                # The command runs as operators run it: as the broker's admin.
                **infra.kafka.client_env(),
                **{f"{s.upper()}_DATABASE_URL": infra.database_url(s) for s in SERVICE_NAMES},
            }
            topic = dead_letter_topic(PLANS_EVENTS)
            steps = {
                "start-up and one query (outbox --service plans)": ("outbox", "--service", "plans"),
                f"dlt list {topic}": ("dlt", "list", topic),
                "dlt redrive --all (dry run)": ("dlt", "redrive", topic, "--all"),
                "dlt redrive --all --yes": ("dlt", "redrive", topic, "--all", "--yes"),
                "dlt redrive --all --yes, again": ("dlt", "redrive", topic, "--all", "--yes"),
            }
            print(f"{count} dead letters")
            for name, args in steps.items():
                seconds, answer = _timed(environment, *args)
                what = answer.get("counts") if isinstance(answer, dict) else f"{len(answer)} rows"
                print(f"  {name}: {seconds:.1f} s ({what})")
        finally:
            infra.stop()


if __name__ == "__main__":
    main()
