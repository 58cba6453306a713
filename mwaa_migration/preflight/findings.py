"""What every pre-flight check reports: a Finding, and the one order they are shown in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem in one file; `line` is 1-based, or None when the finding is about the whole file."""

    severity: Severity
    path: Path
    line: int | None
    code: str
    message: str

    def format(self, base: Path | None = None) -> str:
        """`path:line: severity CODE message`, the path relative to `base` when it lies under it."""
        shown = self.path
        # Outside base, the full path is more useful than an error.
        if base is not None and self.path.absolute().is_relative_to(base.absolute()):
            shown = self.path.absolute().relative_to(base.absolute())
        where = shown.as_posix() if self.line is None else f"{shown.as_posix()}:{self.line}"
        return f"{where}: {self.severity} {self.code} {self.message}"


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable order (file, line, code) so output and tests don't depend on traversal order."""
    return sorted(findings, key=lambda f: (f.path.as_posix(), f.line or 0, f.code, f.message))


@dataclass
class Checked:
    """Findings of the checks that parse files, with the ruff diagnostics they already report: (file, line, name
    in ruff's message) → the finding here that says more, so one problem gives one line."""

    findings: list[Finding] = field(default_factory=list)
    covers: dict[tuple[Path, int, str], Finding] = field(default_factory=dict)
    _seen: set[Finding] = field(default_factory=set, repr=False)

    def add(self, finding: Finding, covers: Iterable[str] = ()) -> None:
        if finding in self._seen:  # e.g. a template variable twice on one line
            return
        self._seen.add(finding)
        self.findings.append(finding)
        for name in covers:
            if finding.line is not None:
                self.covers.setdefault((finding.path, finding.line, name), finding)

    def extend(self, other: Checked) -> None:
        for finding in other.findings:
            self.add(finding)
        for key, finding in other.covers.items():
            self.covers.setdefault(key, finding)
