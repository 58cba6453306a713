"""Terminal output for the long commands: a progress line and a plain-text summary table.

On a terminal the progress line redraws in place; in a pipe or a CI log it prints a line when the stage changes
or every `every` seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

BAR_WIDTH = 24


class Progress:
    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.every = every
        self.clock = clock
        self.started = clock()
        self.stage = ""
        self.last_print = float("-inf")
        self.drawn = False

    def update(self, stage: str, done: int, total: int) -> None:
        """`total` 0 means unknown: the count alone is shown."""
        now = self.clock()
        line = self._line(stage, done, total, now - self.started)
        if self.interactive:
            self.stream.write("\r\033[K" + line)
            self.drawn = True
        elif stage != self.stage or now - self.last_print >= self.every or (total and done >= total):
            self.stream.write(line + "\n")
            self.last_print = now
        self.stage = stage
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own, above the progress line."""
        if self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False
        self.stream.flush()

    @staticmethod
    def _line(stage: str, done: int, total: int, elapsed: float) -> str:
        clock = f"{int(elapsed) // 60:d}:{int(elapsed) % 60:02d}"
        if total <= 0:
            return f"{stage}: {done}  [{clock}]"
        filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{stage} [{bar}] {done}/{total}  [{clock}]"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text columns, numbers right-aligned, a rule under the header."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    numeric = [all(isinstance(row[i], int) for row in rows) and bool(rows) for i in range(len(headers))]

    def render(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [render(list(headers)), "  ".join("-" * width for width in widths)]
    lines.extend(render(row) for row in cells)
    return "\n".join(lines)
