"""``python -m deploy.demo <command>``: the operator's entry point to the demo and the local
stack's data. Run ``python -m deploy.demo --help`` (or ``<command> --help``) for the list.

Every command talks to the local stack of ``deploy/stack up`` (its ports can be moved with
the ``ACCORD_STACK_*_PORT`` variables, as for ``deploy/stack``); the HTTP commands sign
their tokens with the stack's private key (``ACCORD_JWT_PRIVATE_KEY_FILE``, else
``.runtime/keys/signing.pem``).
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from deploy.demo import story, summary
from deploy.demo.client import Api, DemoError, Target
from deploy.local.processes import StackError
from deploy.local.stack import SERVICES, LocalStack
from shared.auth import Role
from shared.kafka_access import KafkaAccess
from shared.signing_keys import load_signing_key
from shared.topics import ALL_TOPICS


def local_target(stack: LocalStack) -> Target:
    # Through the proxy, like any client app (deploy/local/proxy.py).
    urls = {spec.name: f"{stack.proxy.url}/{spec.name}" for spec in SERVICES}
    return Target(
        plans=urls["plans"],
        meetings=urls["meetings"],
        notifications=urls["notifications"],
        receiver=f"http://127.0.0.1:{stack.receiver_port}",
        signer=load_signing_key(
            Path(os.environ.get("ACCORD_JWT_PRIVATE_KEY_FILE") or stack.signing_key_path())
        ),
        state_dir=stack.demo_dir,
    )


async def _with_api(target: Target, work: Callable[[Api], Awaitable[Any]]) -> Any:
    # No proxy from the environment: every URL is local.
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        return await work(Api(http, target))


async def load_and_summarise(target: Target) -> str:
    async def work(api: Api) -> str:
        await story.play(api, say=lambda line: print(f"  {line}", flush=True))
        return summary.render(await summary.gather(api))

    text: str = await _with_api(target, work)
    return text


# --- commands --------------------------------------------------------------------------------


def cmd_load(stack: LocalStack, args: argparse.Namespace) -> int:
    print("demo: the ASEAN-UN story (played only where it is not there yet)", flush=True)
    print("\n" + asyncio.run(load_and_summarise(local_target(stack))))
    return 0


def cmd_summary(stack: LocalStack, args: argparse.Namespace) -> int:
    async def work(api: Api) -> str:
        return summary.render(await summary.gather(api))

    print(asyncio.run(_with_api(local_target(stack), work)))
    return 0


def cmd_token(stack: LocalStack, args: argparse.Namespace) -> int:
    role = Role(args.role)
    print(local_target(stack).token(role, args.delegation))
    return 0


def cmd_rollups(stack: LocalStack, args: argparse.Namespace) -> int:
    plans = next(spec for spec in SERVICES if spec.name == "plans")
    env = {**os.environ, **stack.service_env(plans)}
    argv = [stack.python, "-m", "services.plans", args.command]
    return subprocess.run(argv, env=env, check=False).returncode


def cmd_redeliver(stack: LocalStack, args: argparse.Namespace) -> int:
    base = local_target(stack).notifications

    async def work(api: Api) -> str:
        if args.delivery_id is not None:
            url = f"{base}/deliveries/{args.delivery_id}/redeliver"
            delivery = await api.post(url, expect=202)
            return f"delivery {delivery['id']} ({delivery['webhook_id']}) scheduled again"
        body = {"since": args.since.isoformat()}
        result = await api.post(f"{base}/endpoints/{args.endpoint}/recover", body)
        return f"{result['scheduled']} failed deliveries scheduled again"

    print(asyncio.run(_with_api(local_target(stack), work)))
    return 0


def cmd_reset(stack: LocalStack, args: argparse.Namespace) -> int:
    """Services and receiver stopped; databases dropped and re-created empty; Kafka topics
    (and with them the consumer groups' offsets) deleted; the receiver's state removed."""
    stack.receiver().stop()
    for spec in reversed(SERVICES):
        stack.service(spec).stop()
    stack.postgres.start()
    for spec in SERVICES:
        stack.postgres.drop_database(spec.database)
        stack.postgres.create_database(spec.database)
    stack.kafka.start()
    deleted = asyncio.run(_delete_topics(stack.kafka.access()))
    shutil.rmtree(stack.demo_dir, ignore_errors=True)
    print(f"reset: databases emptied, {deleted} topics deleted, demo receiver state removed")
    print("run `deploy/stack up` to start the services again and load the demo afresh")
    return 0


async def _delete_topics(kafka: KafkaAccess) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=30_000)
    await admin.start()
    try:
        present = [t for t in await admin.list_topics() if t in ALL_TOPICS]
        if present:
            await admin.delete_topics(present)
        return len(present)
    finally:
        await admin.close()


COMMANDS: dict[str, Callable[[LocalStack, argparse.Namespace], int]] = {
    "load": cmd_load,
    "summary": cmd_summary,
    "token": cmd_token,
    "rollups-check": cmd_rollups,
    "rollups-rebuild": cmd_rollups,
    "redeliver": cmd_redeliver,
    "reset": cmd_reset,
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.demo",
        description="Operate Accord's local stack and its demo (the ASEAN-UN Plan of Action "
        "story). Start the stack with `deploy/stack up` first.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser(
        "load",
        help="play the demo story through the public APIs where it is not there yet "
        "(idempotent: a second run changes nothing), then print the summary",
    )
    commands.add_parser(
        "summary",
        help="completion overall and per pillar, ahead-of-schedule counts, meetings, the new "
        "plan's state, webhooks received per delegation",
    )
    token = commands.add_parser("token", help="print a bearer token signed with the stack's key")
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.SECRETARIAT.value)
    token.add_argument("--delegation", help="for --role delegation: its code, e.g. VNM")
    commands.add_parser(
        "rollups-check",
        help="compare every rollup with a fresh recount (python -m services.plans "
        "rollups-check); exit 1 on any difference",
    )
    commands.add_parser(
        "rollups-rebuild",
        help="rebuild the rollup read model by replaying the plans topic "
        "(python -m services.plans rollups-rebuild)",
    )
    redeliver = commands.add_parser(
        "redeliver",
        help="send a webhook delivery again (its id), or every failed delivery to an endpoint "
        "since a time (--endpoint ID --since T); the webhook-id stays the same",
    )
    redeliver.add_argument("delivery_id", nargs="?", type=int, help="a delivery id")
    redeliver.add_argument("--endpoint", help="an endpoint id, with --since")
    redeliver.add_argument(
        "--since", type=datetime.fromisoformat, help="e.g. 2020-09-15T00:00:00+00:00"
    )
    commands.add_parser(
        "reset",
        help="drop the demo data: stop the services and the receiver, empty the three "
        "databases, delete the Kafka topics; `deploy/stack up` then loads the demo afresh",
    )
    args = parser.parse_args(argv)
    if args.command == "token" and (args.role == Role.DELEGATION.value) != bool(args.delegation):
        parser.error("--delegation is required for, and only for, --role delegation")
    if args.command == "redeliver" and (args.delivery_id is None) == (args.endpoint is None):
        parser.error("give either a delivery id or --endpoint ID --since T")
    if args.command == "redeliver" and args.endpoint and args.since is None:
        parser.error("--endpoint needs --since")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return COMMANDS[args.command](LocalStack(), args)
    except (DemoError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
