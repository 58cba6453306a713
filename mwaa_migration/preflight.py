"""Pre-flight checks of a workflow (DAGs, requirements.txt, plugins) for the target Airflow version on MWAA.

Guide step 2 by hand was: test in the local runner, fix the `--constraint` URL, move custom operators out of
plugins. These checks catch the same mistakes before anything reaches S3. They only read files: user code is
parsed, never imported, DAGs go through the `ruff` executable's Airflow 3 rules, and nothing uses the network.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from mwaa_migration.airflow_versions import airflow_major, constraints_url, mwaa_python_version
from mwaa_migration.config import MigrationConfig

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


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    """Stable order (file, line, code) so output and tests don't depend on traversal order."""
    return sorted(findings, key=lambda f: (f.path.as_posix(), f.line or 0, f.code, f.message))


# ------------------------------------------------------------------------------------------------------------
# requirements.txt
# ------------------------------------------------------------------------------------------------------------

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
    return _sorted(findings)


# ------------------------------------------------------------------------------------------------------------
# DAGs
# ------------------------------------------------------------------------------------------------------------

# ruff's Airflow 3 migration rules (stable in ruff 0.17, no --preview): removed or moved breaks on 3.x, while
# suggested updates still work on 3.0 but are deprecated.
_AIR_RULES: Mapping[str, Severity] = {
    "AIR301": "error",
    "AIR302": "error",
    "AIR311": "warning",
    "AIR312": "warning",
}
# Keeps each ruff command line well under Windows' 32k-character limit.
_MAX_ARGS_CHARS = 16_000


class RuffNotFoundError(RuntimeError):
    """The `ruff` executable the DAG checks need is not installed."""


def _ruff_executable() -> str:
    """ruff from this interpreter's environment first (the venv's pinned version), then from PATH."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        for name in ("ruff", "ruff.exe"):
            candidate = folder / name
            if candidate.is_file():
                return str(candidate)
    found = shutil.which("ruff")
    if found is None:
        raise RuffNotFoundError("the DAG checks need the `ruff` executable: pip install ruff")
    return found


def _python_files(folder: Path) -> list[Path]:
    """Every .py file under the folder, sorted. Listed one by one so ruff lints them all: walking a folder, it
    would skip git-ignored files, which MWAA still syncs and Airflow still imports."""
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        files.extend(Path(root, name) for name in names if name.endswith(".py"))
    return sorted(files)


def _batches(files: list[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for file in files:
        if batch and size + len(str(file)) > _MAX_ARGS_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(file)
        size += len(str(file)) + 1
    if batch:
        yield batch


def _run_ruff(files: list[Path], rules: list[str], python_version: str) -> list[dict[str, Any]]:
    """ruff's JSON diagnostics. `--isolated` ignores any ruff config next to the DAGs; the target Python makes
    ruff report syntax the MWAA interpreter would reject (e.g. 3.12-only syntax for a 3.11 target)."""
    command = [
        _ruff_executable(),
        "check",
        "--isolated",
        "--no-cache",
        "--output-format",
        "json",
        "--exit-zero",
    ]
    command += ["--target-version", "py" + python_version.replace(".", "")]
    # Without rules, `--ignore ALL` leaves only the syntax errors, which ruff always reports.
    command += ["--select", ",".join(rules)] if rules else ["--ignore", "ALL"]
    diagnostics: list[dict[str, Any]] = []
    for batch in _batches(files):
        # Trusted argv, no shell: the ruff binary we located and file paths we listed.
        argv = [*command, "--", *map(str, batch)]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"ruff failed (exit {result.returncode}): {result.stderr.strip()}")
        diagnostics.extend(json.loads(result.stdout))
    return diagnostics


def _path_key(path: str | Path) -> str:
    return os.path.normcase(Path(path).absolute())


def _dag_finding(diagnostic: Mapping[str, Any], paths: Mapping[str, Path]) -> Finding:
    # ruff prints absolute paths; findings keep the path as the caller gave it.
    path = paths.get(_path_key(diagnostic["filename"]), Path(diagnostic["filename"]))
    code = str(diagnostic.get("code"))
    line = int(diagnostic["location"]["row"])
    message = str(diagnostic["message"]).rstrip(" ;.")
    if code not in _AIR_RULES:
        # Only selected rules and syntax errors come back; ruff codes the latter invalid-syntax, null or E999.
        return Finding("error", path, line, "SYNTAX", message)
    fix = diagnostic.get("fix") or {}
    if fix.get("message"):
        message = f"{message}: {str(fix['message']).rstrip('.')}"
    return Finding(_AIR_RULES[code], path, line, code, message)


def check_dags(dag_folder: Path, airflow_version: str) -> list[Finding]:
    """Syntax errors for every target (for the Python MWAA runs), and for a 3.x target ruff's Airflow 3 rules:
    AIR301/AIR302 (removed or moved to a provider) are errors, AIR311/AIR312 (deprecated) warnings.

    Raises FileNotFoundError for a missing folder, ValueError for a version MWAA doesn't offer,
    RuffNotFoundError without ruff, RuntimeError if ruff fails.
    """
    python_version = mwaa_python_version(airflow_version)
    files = _python_files(dag_folder)
    if not files:
        return []
    rules = list(_AIR_RULES) if airflow_major(airflow_version) >= 3 else []
    paths = {_path_key(file): file for file in files}
    return _sorted(_dag_finding(diagnostic, paths) for diagnostic in _run_ruff(files, rules, python_version))


# ------------------------------------------------------------------------------------------------------------
# Plugins
# ------------------------------------------------------------------------------------------------------------

_AIRFLOW_BASES = {"BaseOperator": "operator", "BaseSensorOperator": "sensor", "BaseHook": "hook"}
# A base named like an operator/sensor/hook (PythonOperator, S3KeySensor, HttpHook) makes a custom one too.
_KIND_SUFFIXES = (
    ("SensorOperator", "sensor"),
    ("Sensor", "sensor"),
    ("Operator", "operator"),
    ("Hook", "hook"),
)
_KIND_FOLDERS = {"operators": "operator", "hooks": "hook", "sensors": "sensor"}
# AirflowPlugin attributes Airflow 1 used to expose classes as airflow.{operators,hooks,sensors}.<plugin>.
_REGISTRY_ATTRIBUTES = frozenset({"operators", "hooks", "sensors"})
_ADVICE = (
    "since Airflow 2.0, operators, hooks and sensors are not loaded through plugins: move it to the DAGs "
    "folder (or a package you install) and import it as a regular Python module"
)


def _plugin_sources(plugins: Path) -> Iterator[tuple[Path, bytes]]:
    """(path shown in findings, source bytes) of each .py file in a plugins folder or plugins.zip."""
    if plugins.is_dir():
        for file in _python_files(plugins):
            yield file, file.read_bytes()
        return
    with zipfile.ZipFile(plugins) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith(".py") and "__pycache__" not in member.split("/"):
                yield plugins / member, archive.read(member)


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # airflow.sdk.BaseOperator
        return node.attr
    return None


def _kind_of_base(name: str, known: Mapping[str, str]) -> str | None:
    if name in _AIRFLOW_BASES:
        return _AIRFLOW_BASES[name]
    if name in known:
        return known[name]
    return next((kind for suffix, kind in _KIND_SUFFIXES if name.endswith(suffix)), None)


def _custom_kinds(classes: list[tuple[Path, ast.ClassDef]]) -> dict[str, str]:
    """Class name → operator/hook/sensor, following bases defined in the plugins themselves
    (`class MyBase(BaseOperator)`, then `class MyOperator(MyBase)`)."""
    kinds: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for _, node in classes:
            if node.name in kinds:
                continue
            for base in filter(None, map(_base_name, node.bases)):
                kind = _kind_of_base(base, kinds)
                if kind:
                    kinds[node.name] = kind
                    changed = True
                    break
    return kinds


def _registry_findings(path: Path, node: ast.ClassDef) -> Iterator[Finding]:
    """Airflow 1 style `operators = [...]` on an AirflowPlugin."""
    if "AirflowPlugin" not in filter(None, map(_base_name, node.bases)):
        return
    for statement in node.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _REGISTRY_ATTRIBUTES:
                yield Finding(
                    "warning",
                    path,
                    statement.lineno,
                    "PLUGIN003",
                    f"plugin {node.name} registers `{target.id}`, which Airflow 2.0 dropped along with "
                    f"airflow.{target.id}.<plugin> imports: put those classes in the DAGs folder (or a "
                    "package you install) and import them as regular Python modules",
                )


def _parse_plugins(plugins: Path) -> tuple[list[tuple[Path, ast.Module]], list[Finding]]:
    modules: list[tuple[Path, ast.Module]] = []
    findings: list[Finding] = []
    for path, source in _plugin_sources(plugins):
        try:
            modules.append((path, ast.parse(source, filename=str(path))))
        except (SyntaxError, ValueError) as exc:
            # This interpreter may be older than MWAA's, so a parse failure is reported, not judged.
            line = exc.lineno if isinstance(exc, SyntaxError) else None
            findings.append(Finding("warning", path, line, "PLUGIN004", f"not checked, cannot parse it: {exc}"))
    return modules, findings


def _folder_kind(path: Path, plugins: Path) -> str | None:
    parts = path.relative_to(plugins).parts[:-1]
    return next((_KIND_FOLDERS[part] for part in parts if part in _KIND_FOLDERS), None)


def check_plugins(plugins: Path, airflow_version: str) -> list[Finding]:
    """Warn about custom operators, hooks and sensors in a plugins folder or plugins.zip (parsed, not run).

    Raises FileNotFoundError if `plugins` is missing and ValueError for a version MWAA doesn't offer.
    """
    airflow_major(airflow_version)  # every MWAA target is 2.x or 3.x, where the advice applies; validates it
    try:
        modules, findings = _parse_plugins(plugins)
    except zipfile.BadZipFile as exc:
        return [Finding("error", plugins, None, "PLUGIN005", f"not a valid zip file: {exc}")]
    classes = [(path, node) for path, module in modules for node in ast.walk(module) if isinstance(node, ast.ClassDef)]
    kinds = _custom_kinds(classes)
    flagged: set[Path] = set()
    for path, node in classes:
        findings.extend(_registry_findings(path, node))
        if node.name in kinds:
            flagged.add(path)
            message = f"custom {kinds[node.name]} {node.name} is in the plugins: {_ADVICE}"
            findings.append(Finding("warning", path, node.lineno, "PLUGIN001", message))
    for path, _ in modules:
        kind = _folder_kind(path, plugins)
        if kind and path not in flagged and path.name != "__init__.py":
            message = f"module under {kind}s/ in the plugins: if it holds a custom {kind}, {_ADVICE}"
            findings.append(Finding("warning", path, None, "PLUGIN002", message))
    return _sorted(findings)


# ------------------------------------------------------------------------------------------------------------
# A migration's workflows
# ------------------------------------------------------------------------------------------------------------


class PreflightError(RuntimeError):
    """The checks could not run (ruff missing or failing); not a finding about the user's files."""


def check_workflows(migration: MigrationConfig) -> list[Finding]:
    """Every check that applies to the migration's [workflows], for its target Airflow version."""
    workflows, version = migration.workflows, migration.target.airflow_version
    findings: list[Finding] = []
    if workflows.requirements is not None:
        findings += check_requirements(workflows.requirements, version)
    if workflows.dags is not None:
        try:
            findings += check_dags(workflows.dags, version)
        except RuntimeError as error:  # RuffNotFoundError too
            raise PreflightError(f"{migration.name}: the DAG checks could not run: {error}") from None
    if workflows.plugins is not None:
        findings += check_plugins(workflows.plugins, version)
    return _sorted(findings)


def format_report(migration: MigrationConfig, findings: list[Finding], base: Path | None = None) -> str:
    """One line per finding, then a summary line."""
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    target = f"Airflow {migration.target.airflow_version}"
    if not migration.workflows.has_files:
        summary = f"pre-flight {migration.name}: no [workflows] to check"
    elif not findings:
        summary = f"pre-flight {migration.name}: workflows ready for {target}"
    else:
        summary = f"pre-flight {migration.name}: {_count(errors, 'error')}, {_count(warnings, 'warning')} for {target}"
        if errors:
            summary += "; synth stops until the errors are fixed"
    return "\n".join([*(finding.format(base) for finding in findings), summary])


def report_preflight(migrations: Sequence[MigrationConfig], stream: TextIO, base: Path | None = None) -> bool:
    """Check and report every migration's workflows, as synth and `preflight.py` both do; True if any error.

    Raises PreflightError if the checks can't run.
    """
    failed = False
    for migration in migrations:
        findings = check_workflows(migration)
        print(format_report(migration, findings, base), file=stream)
        failed = failed or any(finding.severity == "error" for finding in findings)
    return failed


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
