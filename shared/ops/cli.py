"""``python -m shared.ops`` (``accord-ops``): the operator's command line. Parses the
arguments and runs one command (``commands``), printing tables for people or JSON for scripts
(``--json``). A broker or database that does not answer is one line on stderr and exit status
1; bad usage, 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from shared.ops import parked, sources
from shared.ops.commands import (
    UsageError,
    cmd_deliveries,
    cmd_dlt_list,
    cmd_dlt_redrive,
    cmd_dlt_redrives,
    cmd_dlt_show,
    cmd_endpoints,
    cmd_groups,
    cmd_outbox,
    cmd_table_list,
    cmd_table_redrive,
    cmd_table_show,
)
from shared.ops.output import Out

PROG = "accord-ops"
DEFAULT_TIMEOUT = 10.0

DESCRIPTION = """\
What Accord's pipeline holds and where it is stuck, for operators: consumer groups and their
lag, outbox backlogs, dead letters (and sending them back after a fix), failing webhook
endpoints and stuck deliveries. It reads the broker and each service's database with the
settings the services use: ACCORD_KAFKA_BOOTSTRAP_SERVERS, PLANS_DATABASE_URL,
MEETINGS_DATABASE_URL, NOTIFICATIONS_DATABASE_URL (run it where the services' environment is).
Every command prints a table, or JSON with --json; `accord-ops COMMAND --help` explains one."""

EPILOG = """\
examples:
  accord-ops groups                          lag of every consumer group, per partition
  accord-ops groups --group accord-notifications --json
  accord-ops outbox                          unpublished outbox rows per service, oldest age
  accord-ops dlt list                        how many messages each dead-letter topic holds
  accord-ops dlt list accord.plans.events.dlt --reason "handler failed"
  accord-ops dlt show accord.plans.events.dlt/3/12
  accord-ops dlt redrive accord.plans.events.dlt --group accord-notifications   (dry run)
  accord-ops dlt redrive accord.plans.events.dlt --partition 3 --offset 12-20 --yes
  accord-ops dlt redrives                    what was redriven, when, by whom
  accord-ops dlt-table list                  messages even the dead-letter topic refused
  accord-ops endpoints                       webhook endpoints failing or disabled
  accord-ops deliveries --late 600           deliveries due or leased more than 10 min ago

A dead letter is redriven at most once: every redrive is recorded in the database of the
service that owns the topic, and a second one of the same message is skipped.
exit status: 0 done, 1 a broker or database did not answer (or refused), 2 bad usage."""


def _offsets(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not OFFSET or FIRST-LAST") from None
    if low < 0 or high < low:
        raise argparse.ArgumentTypeError(f"{text!r} is not OFFSET or FIRST-LAST")
    return low, high


def _dead_letter_topic(text: str) -> str:
    """A dead-letter topic, or an event topic standing for its dead-letter topic."""
    return text if text.endswith(".dlt") else f"{text}.dlt"


def _where_arg(text: str) -> tuple[str, int, int]:
    try:
        topic, partition, offset = parked.parse_where(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return _dead_letter_topic(topic), partition, offset


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the broker or a database (default {DEFAULT_TIMEOUT:g})",
    )
    formatter = argparse.RawDescriptionHelpFormatter
    root = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, run: Callable[..., Coroutine[Any, Any, int]], help: str, text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common], help=help, description=text, formatter_class=formatter
        )
        sub.set_defaults(run=run)
        return sub

    def group(name: str, help: str, text: str) -> Any:
        """A command with commands of its own (``dlt list``, ``dlt show``, ...)."""
        sub = commands.add_parser(name, help=help, description=text, formatter_class=formatter)
        return sub.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    sub = command(
        commands,
        "groups",
        cmd_groups,
        "consumer groups and their lag per partition",
        "Every consumer group the broker knows (accord-plans, accord-meetings,\n"
        "accord-notifications, and any other): its state, its members, and per partition the\n"
        "offset it committed, the partition's end offset and the difference, the lag. '-' as\n"
        "committed: the group never committed there and reads the partition from its start.\n"
        "A lag that does not shrink while the group is Stable means its members are stuck.",
    )
    sub.add_argument("--group", help="only this consumer group")

    sub = command(
        commands,
        "outbox",
        cmd_outbox,
        "unpublished outbox rows per service",
        "Per service: rows its handlers committed to the outbox that the relay has not\n"
        "published yet, and how long the oldest has waited. A few rows for well under a\n"
        "second is normal; a growing count or an ageing oldest row means the relay cannot\n"
        "publish (the broker is away, or no process of the service runs its relay).",
    )
    sub.add_argument("--service", choices=sources.SERVICES, help="only this service")

    dlt_commands = group(
        "dlt",
        "dead-letter topics: list, show, redrive",
        "Messages a consumer group could not process, parked on <topic>.dlt with\n"
        "dlt.* headers: dlt.reason, dlt.group, and where they came from (dlt.topic,\n"
        "dlt.partition, dlt.offset). Nothing replays them by itself: once the cause is\n"
        "fixed, `dlt redrive` sends chosen ones back to their original topic.",
    )

    def selection_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--partition", type=int, help="only this partition of the topic")
        sub.add_argument(
            "--offset",
            type=_offsets,
            metavar="OFFSET|FIRST-LAST",
            help="only these offsets of the dead-letter topic (needs --partition)",
        )
        sub.add_argument("--reason", help="only messages whose dlt.reason contains this text")
        sub.add_argument("--group", help="only messages this consumer group parked")

    sub = command(
        dlt_commands,
        "list",
        cmd_dlt_list,
        "counts per topic, or the messages of one",
        "Without TOPIC: how many messages each dead-letter topic holds, per partition (from\n"
        "the offsets, instant). With TOPIC: its messages, read from the start (a bar shows\n"
        "the progress), each with where it is (TOPIC/PARTITION/OFFSET, what `dlt show`\n"
        "takes), when and by which group it was parked, where it came from, and why.",
    )
    sub.add_argument(
        "topic",
        nargs="?",
        type=_dead_letter_topic,
        help="a dead-letter topic (or its event topic), e.g. accord.plans.events.dlt",
    )
    selection_arguments(sub)
    sub.add_argument("--limit", type=int, default=0, help="stop after this many messages")

    sub = command(
        dlt_commands,
        "show",
        cmd_dlt_show,
        "one message with its headers and payload",
        "One parked message: its dlt.* headers (why, which group, where from), its key, all\n"
        "its headers, its payload (as JSON when it is JSON), and whether it was redriven.",
    )
    sub.add_argument(
        "where",
        type=_where_arg,
        metavar="TOPIC/PARTITION/OFFSET",
        help="as `dlt list TOPIC` prints it, e.g. accord.plans.events.dlt/3/12",
    )

    sub = command(
        dlt_commands,
        "redrive",
        cmd_dlt_redrive,
        "send parked messages back after a fix",
        "Send the chosen messages back to the topic they came from (their key, value and\n"
        "own headers; the dlt.* headers are dropped), where every consumer group reads them\n"
        "again: groups that had applied an event skip it by its id, the group that parked it\n"
        "applies it now. Choose with --partition/--offset, --reason, --group, or --all.\n\n"
        "A dry run unless --yes: it lists what would be sent and what was sent before. Each\n"
        "redrive is recorded in the database of the service owning the topic (the redrives\n"
        "table, `dlt redrives` lists it), keyed by the message's original coordinates: a\n"
        "message is redriven once, whichever group's copy is chosen; later attempts are\n"
        "skipped as 'already redriven'. If it fails again it is parked again, with new\n"
        "coordinates, and can be redriven after the next fix.",
    )
    sub.add_argument("topic", type=_dead_letter_topic, help="the dead-letter topic")
    selection_arguments(sub)
    sub.add_argument("--all", action="store_true", help="every message of the topic")
    sub.add_argument("--yes", action="store_true", help="really send (default: dry run)")

    sub = command(
        dlt_commands,
        "redrives",
        cmd_dlt_redrives,
        "the redrives recorded so far",
        "Every redrive recorded: the original message, the parked copy chosen, where the\n"
        "message was sent again, when and by whom (the operating-system user).",
    )
    sub.add_argument("--service", choices=sources.SERVICES, help="only the topic this service owns")

    table_commands = group(
        "dlt-table",
        "the dead_letters table of each service: list, show, redrive",
        "Messages even the dead-letter topic refused (a message just under the\n"
        "broker's size limit no longer fits with the dlt.* headers) are recorded in the\n"
        "consuming service's dead_letters table: where they came from, why, and the start\n"
        "of their value. The whole message is still on its original topic.",
    )
    sub = command(
        table_commands,
        "list",
        cmd_table_list,
        "the rows of every service (or one)",
        "The rows of each service's dead_letters table, oldest first.",
    )
    sub.add_argument("--service", choices=sources.SERVICES, help="only this service")
    sub = command(
        table_commands,
        "show",
        cmd_table_show,
        "one row with its headers and value prefix",
        "One row: where the message came from, why it could not be processed, why the\n"
        "dead-letter topic refused it, its key, headers and the start of its value.",
    )
    sub.add_argument("service", choices=sources.SERVICES)
    sub.add_argument("id", type=int)
    sub = command(
        table_commands,
        "redrive",
        cmd_table_redrive,
        "send rows' messages back after a fix",
        "Read each row's whole message from its original topic and send it there again,\n"
        "recorded like `dlt redrive` (once per message; a dry run unless --yes).",
    )
    sub.add_argument("service", choices=sources.SERVICES)
    sub.add_argument("ids", type=int, nargs="+", metavar="ID")
    sub.add_argument("--yes", action="store_true", help="really send (default: dry run)")

    sub = command(
        commands,
        "endpoints",
        cmd_endpoints,
        "webhook endpoints failing or disabled",
        "Webhook endpoints in trouble, from the notifications database: failing (no success\n"
        "since the first failure of a streak; they are probed and, after a while, disabled),\n"
        "disabled (by a 410 or after failing too long: their deliveries wait until the\n"
        "delegation re-enables them), or with deliveries that failed for good. The same list\n"
        "as `deploy/stack status`.",
    )
    sub.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")

    sub = command(
        commands,
        "deliveries",
        cmd_deliveries,
        "webhook deliveries stuck",
        "Pending deliveries of enabled endpoints that should have moved long ago: due more\n"
        "than --late seconds ago and not sent ('due, not sent': the dispatcher is not\n"
        "running or cannot keep up), or leased by a dispatcher whose lease ran out that long\n"
        "ago ('lease ran out': it died or hangs mid-attempt; another dispatcher takes the\n"
        "delivery over). Deliveries of disabled endpoints are parked on purpose: see\n"
        "`endpoints`.",
    )
    sub.add_argument(
        "--late", type=float, default=300.0, help="seconds past due to count as stuck (300)"
    )
    sub.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    return root


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The Kafka client logs every failed connection attempt; the command says it once, itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    out = Out(args.json)
    try:
        return asyncio.run(args.run(args, out))
    except UsageError as exc:
        out.errors.print(f"{PROG}: {exc}", markup=False)
        return 2
    except (sources.Unreachable, LookupError, ValueError) as exc:
        out.errors.print(f"{PROG}: {exc}", markup=False)
        return 1
    except ValidationError as exc:
        out.errors.print(f"{PROG}: the environment's settings are invalid: {exc}", markup=False)
        return 1
    except (KafkaError, TimeoutError, OSError) as exc:
        out.errors.print(
            f"{PROG}: the Kafka broker failed: {type(exc).__name__}: {exc}", markup=False
        )
        return 1
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        out.errors.print(f"{PROG}: a database refused: {text}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130


def main() -> None:
    sys.exit(run())
