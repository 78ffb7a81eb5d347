"""A small progress printer (the project does not depend on rich): a bar redrawn in place
on a terminal, a single line when the count is done otherwise (logs, CI)."""

import sys
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self._live = self.stream.isatty()
        self._finished = False

    def update(self, done: int) -> None:
        self.done = min(done, self.total)
        if self._live:
            filled = WIDTH * self.done // self.total
            bar = "#" * filled + "." * (WIDTH - filled)
            self.stream.write(f"\r  {self.label:<40} [{bar}] {self.done}/{self.total}")
            self.stream.flush()

    def advance(self, step: int = 1) -> None:
        self.update(self.done + step)

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._live:
            self.stream.write("\n")
        else:
            self.stream.write(f"  {self.label:<40} {self.done}/{self.total}\n")
        self.stream.flush()
