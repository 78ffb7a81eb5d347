"""The operator's commands: each reads one thing (or redrives) and prints it through ``Out``.
``cli`` maps the command line onto them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from shared.ops import backlog, groups, parked, redrive, sources, webhooks
from shared.ops.output import Out


async def cmd_groups(args: argparse.Namespace, out: Out) -> int:
    found = await groups.consumer_groups(args.timeout, args.group)
    if out.as_json:
        out.json([g.as_json() for g in found])
        return 0
    if not found:
        out.line("no consumer group known to the broker")
    for group in found:
        members = ", ".join(group.members) or "none"
        out.table(
            f"{group.group}: {group.state}, lag {group.lag}, members: {members}",
            ["topic", "partition", "committed", "end", "lag", "member"],
            [
                [
                    p.topic,
                    p.partition,
                    "-" if p.committed is None else p.committed,
                    p.end,
                    p.lag,
                    p.member or "-",
                ]
                for p in group.partitions
            ],
        )
    return 0


async def cmd_outbox(args: argparse.Namespace, out: Out) -> int:
    found = [await backlog.outbox_backlog(s, args.timeout) for s in _services(args)]
    if out.as_json:
        out.json([b.__dict__ for b in found])
        return 0
    out.table(
        "outbox rows not yet published",
        ["service", "pending", "oldest since", "oldest age (s)"],
        [[b.service, b.pending, b.oldest_created_at or "-", b.oldest_age_seconds] for b in found],
    )
    return 0


async def cmd_dlt_list(args: argparse.Namespace, out: Out) -> int:
    if args.topic is None:
        counts = await parked.dead_letter_counts(args.timeout)
        if out.as_json:
            out.json(
                [
                    {"topic": t, "messages": sum(c.values()), "partitions": c}
                    for t, c in sorted(counts.items())
                ]
            )
            return 0
        out.table(
            "dead-letter topics (messages held, per partition)",
            ["topic", "messages", "per partition"],
            [
                [t, sum(c.values()), " ".join(f"{p}:{n}" for p, n in sorted(c.items()) if n)]
                for t, c in sorted(counts.items())
            ],
        )
        return 0
    found = []
    with out.progress() as progress:
        async for message in parked.scan(args.topic, _selection(args), args.timeout, progress):
            found.append(message)
            if args.limit and len(found) >= args.limit:
                break
    if out.as_json:
        out.json([m.summary() for m in found])
        return 0
    out.table(
        f"{args.topic}: {len(found)} message(s)"
        + (f" (first {args.limit})" if args.limit and len(found) >= args.limit else ""),
        ["where", "parked at", "group", "from", "reason"],
        [
            [
                m.where,
                m.timestamp.isoformat(timespec="seconds"),
                m.group,
                _where(m.original),
                m.reason[:200],
            ]
            for m in found
        ],
    )
    return 0


async def cmd_dlt_show(args: argparse.Namespace, out: Out) -> int:
    topic, partition, offset = args.where
    message = parked.ParkedMessage.of(await parked.fetch(topic, partition, offset, args.timeout))
    detail = message.detail()
    original = message.original
    if original is not None:
        try:
            [outcome] = await redrive.redrive(
                [_candidate(message)],
                send=False,
                timeout=args.timeout,
                progress=parked.NoProgress(),
            )
        except (sources.Unreachable, SQLAlchemyError, ValueError) as exc:
            # The message is worth seeing even when the record of redrives is out of reach.
            detail["redrive"] = {"status": f"unknown ({exc})"}
        else:
            detail["redrive"] = outcome.as_json()
    if out.as_json:
        out.json(detail)
        return 0
    out.table(
        message.where,
        ["field", "value"],
        [
            ["parked at", detail["parked_at"]],
            ["group", message.group],
            ["reason", message.reason],
            ["from", _where(original)],
            ["key", detail["key"]],
            ["size", f"{len(message.value)} bytes"],
            ["redrive", detail.get("redrive", {}).get("status", "-")],
        ],
    )
    out.table("headers", ["name", "value"], detail["headers"])
    out.line("payload:")
    payload = detail["payload"]
    out.line(json.dumps(payload, indent=2) if not isinstance(payload, str) else payload)
    return 0


async def cmd_dlt_redrive(args: argparse.Namespace, out: Out) -> int:
    selection = _selection(args)
    if selection == parked.Selection() and not args.all:
        raise UsageError(
            "say which messages: --partition/--offset, --reason, --group, or --all for every one"
        )
    candidates = []
    unusable = []
    with out.progress() as progress:
        async for message in parked.scan(args.topic, selection, args.timeout, progress):
            if message.original is None:
                unusable.append(message.where)
            else:
                candidates.append(_candidate(message))
    return await _redrive(args, out, candidates, unusable)


async def cmd_dlt_redrives(args: argparse.Namespace, out: Out) -> int:
    rows = []
    for service in _services(args):
        rows += [{"service": service, **r} for r in await redrive.recorded(service, args.timeout)]
    if out.as_json:
        out.json(rows)
        return 0
    out.table(
        f"redrives recorded: {len(rows)}",
        ["original", "parked as", "group", "sent as", "when", "by"],
        [
            [
                f"{r['topic']}/{r['partition']}/{r['offset']}",
                r["parked_as"],
                r["group_id"],
                f"{r['topic']}/{r['new_partition']}/{r['new_offset']}",
                r["redriven_at"],
                r["redriven_by"],
            ]
            for r in rows
        ],
    )
    return 0


async def cmd_table_list(args: argparse.Namespace, out: Out) -> int:
    rows = await parked.dead_letter_rows(_services(args), args.timeout)
    if out.as_json:
        out.json([r.summary() for r in rows])
        return 0
    out.table(
        f"dead_letters rows (messages the dead-letter topic refused): {len(rows)}",
        ["service", "id", "group", "from", "size", "recorded", "reason", "refused because"],
        [
            [
                r.service,
                r.id,
                r.group,
                _where(r.original),
                r.value_size,
                r.recorded_at.isoformat(timespec="seconds"),
                r.reason[:120],
                r.publish_error[:120],
            ]
            for r in rows
        ],
    )
    return 0


async def cmd_table_show(args: argparse.Namespace, out: Out) -> int:
    rows = await parked.dead_letter_rows([args.service], args.timeout, args.id)
    if not rows:
        raise LookupError(f"{args.service}'s dead_letters table has no row {args.id}")
    detail = rows[0].detail()
    if out.as_json:
        out.json(detail)
        return 0
    out.table(
        rows[0].where,
        ["field", "value"],
        [[k, v] for k, v in detail.items() if k not in ("headers", "payload_prefix")],
    )
    out.table("headers", ["name", "value"], detail["headers"])
    out.line(f"payload (first {len(rows[0].value_prefix)} of {rows[0].value_size} bytes):")
    out.line(detail["payload_prefix"][:4000])
    return 0


async def cmd_table_redrive(args: argparse.Namespace, out: Out) -> int:
    rows = []
    for row_id in args.ids:
        found = await parked.dead_letter_rows([args.service], args.timeout, row_id)
        if not found:
            raise LookupError(f"{args.service}'s dead_letters table has no row {row_id}")
        rows += found
    candidates = [
        redrive.Candidate(
            row.original, row.where, row.group, row.reason, _loader(row.original, args.timeout)
        )
        for row in rows
    ]
    return await _redrive(args, out, candidates, [])


async def cmd_endpoints(args: argparse.Namespace, out: Out) -> int:
    found = await webhooks.endpoints_in_trouble(args.timeout, args.limit)
    if out.as_json:
        out.json(found)
        return 0
    total = found[0]["in_trouble"] if found else 0
    out.table(
        f"webhook endpoints failing, disabled or with failed deliveries: {total}",
        ["delegation", "url", "state", "failing since (UTC)", "waiting", "failed", "endpoint"],
        [
            [
                e["delegation"],
                e["url"],
                "enabled" if e["enabled"] else f"disabled ({e['disabled_reason']})",
                e["failing_since"] or "-",
                e["waiting"],
                e["failed"],
                e["endpoint_id"],
            ]
            for e in found
        ],
    )
    return 0


async def cmd_deliveries(args: argparse.Namespace, out: Out) -> int:
    found = await webhooks.stuck_deliveries(args.timeout, args.late, args.limit)
    if out.as_json:
        out.json(found)
        return 0
    out.table(
        f"deliveries more than {args.late:g} s late: {len(found)}",
        ["id", "delegation", "url", "why", "due at", "late (s)", "tries", "last error"],
        [
            [
                d["delivery_id"],
                d["delegation"],
                d["url"],
                d["why"] + (f" ({d['leased_by']})" if d["leased_by"] else ""),
                d["due_at"],
                d["late_seconds"],
                d["tries"],
                d["last_error"] or d["last_status_code"] or "-",
            ]
            for d in found
        ],
    )
    return 0


class UsageError(Exception):
    pass


def _services(args: argparse.Namespace) -> list[str]:
    return [args.service] if getattr(args, "service", None) else list(sources.SERVICES)


def _where(original: parked.Original | None) -> str:
    if original is None:
        return "-"
    return f"{original.topic}/{original.partition}/{original.offset}"


def _selection(args: argparse.Namespace) -> parked.Selection:
    first = last = None
    if args.offset is not None:
        if args.partition is None:
            raise UsageError("--offset needs --partition: offsets are per partition")
        first, last = args.offset
    return parked.Selection(args.partition, first, last, args.reason, args.group)


def _candidate(message: parked.ParkedMessage) -> redrive.Candidate:
    original = message.original
    assert original is not None

    async def load() -> redrive.Message:
        return message.key, message.value, message.original_headers

    return redrive.Candidate(original, message.where, message.group, message.reason, load)


def _loader(original: parked.Original, timeout: float) -> Callable[[], Any]:
    """A dead_letters row keeps a prefix only: the message is read again from its topic."""

    async def load() -> redrive.Message:
        record = await parked.fetch(original.topic, original.partition, original.offset, timeout)
        return record.key, record.value or b"", list(record.headers or ())

    return load


async def _redrive(
    args: argparse.Namespace, out: Out, candidates: list[redrive.Candidate], unusable: list[str]
) -> int:
    with out.progress() as progress:
        outcomes = await redrive.redrive(
            candidates, send=args.yes, timeout=args.timeout, progress=progress
        )
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    if unusable:
        counts["not an Accord dead letter"] = len(unusable)
    if out.as_json:
        out.json(
            {
                "sent": bool(args.yes),
                "counts": counts,
                "outcomes": [o.as_json() for o in outcomes],
                "not_accord_dead_letters": unusable,
            }
        )
        return 0
    out.table(
        "redrive" + ("" if args.yes else " (dry run: nothing sent)"),
        ["parked as", "original", "outcome", "sent as", "when", "by"],
        [
            [
                o.parked_as,
                _where(o.original),
                o.status,
                "-"
                if o.new_offset is None
                else f"{o.original.topic}/{o.new_partition}/{o.new_offset}",
                o.redriven_at or "-",
                o.redriven_by or "-",
            ]
            for o in outcomes
        ],
    )
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing selected"
    out.line(summary)
    if not args.yes and counts.get("would redrive"):
        out.line("nothing was sent: run again with --yes to redrive these")
    return 0
