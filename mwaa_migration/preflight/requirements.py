"""Pre-flight checks of requirements.txt: Airflow's constraints URL for the target, no pin on Airflow itself, and
lines pip can read. The file is read with pip's own rules (continuations, comments, options), never installed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from mwaa_migration.airflow_versions import constraints_url, mwaa_python_version
from mwaa_migration.preflight.findings import Finding, sorted_findings

# pip drops a comment that starts a line or follows whitespace; a `#` inside a URL (`#egg=`) is kept.
_COMMENT = re.compile(r"(^|\s+)#.*$")

# Options pip accepts in a requirements file (pip/_internal/req/req_file.py): short aliases, options of their own
# line (with a value, or flags), and options allowed after a requirement.
_SHORT_OPTIONS = {
    "-i": "--index-url",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
    "-f": "--find-links",
}
_LINE_OPTIONS_WITH_VALUE = frozenset(
    {
        "--index-url",
        "--extra-index-url",
        "--constraint",
        "--requirement",
        "--editable",
        "--find-links",
        "--no-binary",
        "--only-binary",
        "--trusted-host",
        "--use-feature",
    }
)
_LINE_FLAGS = frozenset({"--no-index", "--prefer-binary", "--require-hashes", "--pre"})
_REQUIREMENT_OPTIONS = frozenset({"--hash", "--config-settings", "--global-option"})

_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar")
_EGG_FRAGMENT = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
# Airflow's constraints URL, to say which Airflow and Python a wrong one is for.
_CONSTRAINTS_URL = re.compile(r"/constraints-(?P<airflow>[^/]+)/constraints-(?:[a-z-]+-)?(?P<python>\d+\.\d+)\.txt$")
# Distributions that are Airflow itself (3.x splits the core out); MWAA installs them, a pin fights that.
_AIRFLOW_ITSELF = frozenset({"apache-airflow", "apache-airflow-core"})


class _LineError(Exception):
    """A requirements line pip would reject."""


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, logical line) with pip's rules for `\\` continuations and comments."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        is_comment = _COMMENT.match(raw) is not None
        if raw.endswith("\\") and not is_comment:
            start = start if pending else number
            pending.append(raw[:-1])
            continue
        if pending:
            # A comment line ends a continuation; the leading space keeps it a comment once joined.
            pending.append(" " + raw if is_comment else raw)
            yield start, "".join(pending)
            pending = []
        else:
            yield number, raw
    if pending:
        yield start, "".join(pending)


def _split_args_options(line: str) -> tuple[str, list[str]]:
    """pip's split: words up to the first one starting with `-` are the requirement, the rest are options."""
    words = line.split()
    for index, word in enumerate(words):
        if word.startswith("-"):
            try:
                return " ".join(words[:index]), shlex.split(" ".join(words[index:]))
            except ValueError as exc:  # unbalanced quotes
                raise _LineError(f"cannot split options: {exc}") from None
    return " ".join(words), []


def _long_name(name: str, known: frozenset[str]) -> str:
    """Expand an unambiguous prefix (`--constr`), as pip's optparse does."""
    if name in known:
        return name
    matches = [option for option in known if option.startswith(name)]
    if len(matches) != 1:
        raise _LineError(f"unknown option {name}")
    return matches[0]


def _parse_options(tokens: list[str], with_value: frozenset[str], flags: frozenset[str]) -> list[tuple[str, str]]:
    """[(long option, value)] for option tokens; flags get an empty value."""
    parsed: list[tuple[str, str]] = []
    rest = iter(tokens)
    for token in rest:
        if token.startswith("--"):
            raw_name, has_value, value = token.partition("=")
            name = _long_name(raw_name, with_value | flags)
            inline: str | None = value if has_value else None
        elif token[:2] in _SHORT_OPTIONS and _SHORT_OPTIONS[token[:2]] in with_value:
            name, inline = _SHORT_OPTIONS[token[:2]], (token[2:] or None)
        else:
            raise _LineError(f"unknown option {token}")
        if name in flags:
            if inline is not None:
                raise _LineError(f"option {name} takes no value")
            parsed.append((name, ""))
            continue
        option_value = inline if inline is not None else next(rest, None)
        if not option_value:
            raise _LineError(f"option {name} needs a value")
        parsed.append((name, option_value))
    return parsed


def _looks_like_location(text: str) -> bool:
    """A URL, VCS URL, local path or archive file, which pip installs directly (not a PEP 508 requirement)."""
    return (
        "://" in text
        or text.startswith(_VCS_PREFIXES)
        or text.startswith((".", "/", "~"))
        or "\\" in text
        or text.lower().endswith(_ARCHIVE_SUFFIXES)
    )


def _name_from_location(location: str) -> str | None:
    """Project name of a URL or path: its `#egg=` fragment or wheel/sdist file name; None if it can't tell."""
    egg = _EGG_FRAGMENT.search(location)
    if egg:
        return egg.group(1)
    filename = re.split(r"[/\\]", location.split("#", 1)[0].split("?", 1)[0])[-1]
    try:
        if filename.lower().endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def _requirement_name(text: str) -> str | None:
    """Project name a requirement installs; _LineError if pip could not read it."""
    # A bare archive name (`foo-1.0-py3-none-any.whl`) is also a valid PEP 508 name, so check locations first.
    if "@" not in text and _looks_like_location(text):
        return _name_from_location(text)
    try:
        return Requirement(text).name
    except InvalidRequirement as exc:
        if _looks_like_location(text):
            return _name_from_location(text)
        # packaging's message adds the line and a caret underneath; a finding is one line.
        raise _LineError(f"not a valid requirement: {str(exc).splitlines()[0]}") from None


@dataclass(frozen=True)
class _Line:
    number: int
    requirement_names: tuple[str, ...]
    constraints: tuple[str, ...]


def _parse_line(number: int, line: str) -> _Line:
    requirement, option_tokens = _split_args_options(line)
    if requirement:
        name = _requirement_name(requirement)
        _parse_options(option_tokens, _REQUIREMENT_OPTIONS, frozenset())
        return _Line(number, (name,) if name else (), ())
    options = _parse_options(option_tokens, _LINE_OPTIONS_WITH_VALUE, _LINE_FLAGS)
    editables = (_requirement_name(value) for name, value in options if name == "--editable")
    return _Line(
        number,
        tuple(name for name in editables if name),
        tuple(value for name, value in options if name == "--constraint"),
    )


def _constraint_finding(path: Path, number: int, value: str, airflow_version: str) -> Finding | None:
    expected = constraints_url(airflow_version)
    if value == expected:
        return None
    python = mwaa_python_version(airflow_version)
    if urlsplit(value).scheme.lower() not in {"http", "https"}:
        # The MWAA guide allows a local, edited copy: /usr/local/airflow/dags/constraints-3.11-updated.txt.
        return Finding(
            "warning",
            path,
            number,
            "REQ005",
            f"constraints file {value} is local, so its versions can't be checked: make sure it is Airflow "
            f"{airflow_version}'s for Python {python} ({expected}) with only the edits you mean",
        )
    match = _CONSTRAINTS_URL.search(value)
    found = f" is for Airflow {match['airflow']} on Python {match['python']}" if match else " is not Airflow's"
    return Finding(
        "error",
        path,
        number,
        "REQ002",
        f"constraint {value}{found}, but MWAA runs Airflow {airflow_version} on Python {python}: "
        f'use --constraint "{expected}"',
    )


def _line_findings(path: Path, line: _Line, airflow_version: str) -> Iterator[Finding]:
    for name in line.requirement_names:
        if canonicalize_name(name) in _AIRFLOW_ITSELF:
            yield Finding(
                "error",
                path,
                line.number,
                "REQ003",
                f"requirement on {name} itself: MWAA installs Airflow {airflow_version}, and installing "
                "Airflow again breaks the environment; remove the line (apache-airflow-providers-* are fine)",
            )
    for value in line.constraints:
        finding = _constraint_finding(path, line.number, value, airflow_version)
        if finding:
            yield finding


def check_requirements(path: Path, airflow_version: str) -> list[Finding]:
    """Check a requirements.txt for the target version: Airflow's constraints URL, no Airflow pin, pip syntax.

    Raises FileNotFoundError if the file is missing and ValueError for a version MWAA doesn't offer.
    """
    expected = constraints_url(airflow_version)
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM some editors add
    except UnicodeDecodeError as exc:
        return [Finding("error", path, None, "REQ004", f"not UTF-8 text: {exc}")]
    findings: list[Finding] = []
    has_constraint = False
    for number, raw in _logical_lines(text):
        line_text = _COMMENT.sub("", raw).strip()
        if not line_text:
            continue
        try:
            line = _parse_line(number, line_text)
        except _LineError as exc:
            findings.append(Finding("error", path, number, "REQ004", f"pip cannot read this line: {exc}"))
            continue
        has_constraint = has_constraint or bool(line.constraints)
        findings.extend(_line_findings(path, line, airflow_version))
    if not has_constraint:
        findings.append(
            Finding(
                "error",
                path,
                None,
                "REQ001",
                f'no --constraint line: add --constraint "{expected}" so pip installs versions that work '
                f"with Airflow {airflow_version}",
            )
        )
    return sorted_findings(findings)
