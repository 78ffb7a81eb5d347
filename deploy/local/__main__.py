"""``python -m deploy.local up|down|status|restart|logs`` (behind ``deploy/stack``): the developer's
local stack under ``<repo>/.runtime/``; see ``deploy.local.stack`` for the ports' variables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deploy.local.processes import LOG_TAIL_LINES, StackError
from deploy.local.stack import BROKER_COUNTS, PARTS, LocalStack


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deploy/stack", description="Run Accord locally: PostgreSQL, Kafka, services."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="install what is missing, start everything, load the demo (once)"
    )
    up.add_argument("--no-demo", action="store_true", help="no demo receiver, no demo data")
    up.add_argument(
        "--brokers",
        type=int,
        choices=BROKER_COUNTS,
        help="Kafka brokers: 1, or a cluster of 3 (default: as many as the last up, else 1)",
    )
    up.add_argument(
        "--replicas",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="processes per service, behind the proxy (remembered; default: as before, or 1)",
    )
    commands.add_parser("down", help="stop everything")
    commands.add_parser(
        "status",
        help="one line per component, probed (a frozen one shows as not answering),"
        " dead-lettered events, failing webhook receivers",
    )
    restart = commands.add_parser(
        "restart", help="stop one component and start it again (no installs, no migrations)"
    )
    restart.add_argument("name", help=f"{', '.join(PARTS)}, or one replica (plans-2)")
    logs = commands.add_parser("logs", help="the end of the logs")
    logs.add_argument("name", nargs="?", help="one component or replica (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=LOG_TAIL_LINES)
    logs.add_argument("-f", "--follow", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    stack = LocalStack(brokers=getattr(args, "brokers", None))
    try:
        if args.command == "up":
            stack.up(demo=not args.no_demo, replicas=args.replicas)
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            stack.status()
        elif args.command == "restart":
            stack.restart(args.name)
        else:
            stack.logs(args.name, args.lines, args.follow)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
