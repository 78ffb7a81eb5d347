"""How the operator's command prints: tables for people (rich), JSON for scripts, and a
progress bar on stderr for what takes a while."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

PIPED_WIDTH = 200
WHOLE_COLUMNS = frozenset(
    {"where", "parked at", "parked as", "original", "from", "sent as", "when", "topic"}
)


class Out:
    """Where a command prints: stdout for its answer (a table, or JSON with --json), stderr
    for errors and progress."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=False)
        if not self.console.is_terminal and "COLUMNS" not in os.environ:
            # Piped or logged: wide enough that coordinates stay on one line to copy.
            self.console.width = PIPED_WIDTH
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            # Coordinates and times are copied whole into the next command: never folded.
            table.add_column(column, overflow="fold", no_wrap=column in WHOLE_COLUMNS)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def progress(self) -> RichProgress:
        return RichProgress(self.errors)


class RichProgress:
    """A bar on stderr while a scan or a redrive runs (nothing when stderr is not a terminal,
    so that JSON on stdout and logs stay clean)."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._bar.stop()

    def start(self, total: int, what: str) -> None:
        self._task = self._bar.add_task(what, total=total)

    def advance(self, done: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, done)
