"""Pre-flight checks of a workflow (DAGs, requirements.txt, plugins) for the target Airflow version on MWAA.

Guide step 2 by hand was: test in the local runner, fix the `--constraint` URL, move custom operators out of
plugins, rewrite what Airflow 3 removed. These checks catch the same mistakes before anything reaches S3. They
only read files: user code is parsed, never imported, DAGs and plugins go through the `ruff` executable's Airflow 3
rules, and nothing uses the network. This module runs ruff and puts the checks together; the checks themselves
are in the modules beside this one: requirements, code (DAG and plugin code), context and plugins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from mwaa_migration.airflow_versions import airflow_major, mwaa_python_version
from mwaa_migration.migration import MigrationConfig
from mwaa_migration.preflight.code import check_code
from mwaa_migration.preflight.context import TEMPLATE_SUFFIXES, check_template_file
from mwaa_migration.preflight.files import files_with_suffixes, parse_python, python_files
from mwaa_migration.preflight.findings import Checked, Finding, Severity, sorted_findings
from mwaa_migration.preflight.plugins import PluginFile, check_plugin_contents, read_plugins
from mwaa_migration.preflight.requirements import check_requirements

__all__ = [
    "Finding",
    "PreflightError",
    "RuffNotFoundError",
    "Severity",
    "check_dags",
    "check_plugins",
    "check_requirements",
    "check_workflows",
    "format_report",
    "report_preflight",
]

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
# The name an AIR rule's message starts with (`sla` is removed ...), to match it with a check that says more.
_RUFF_SUBJECT = re.compile(r"`([^`]+)` is ")


class RuffNotFoundError(RuntimeError):
    """The `ruff` executable the DAG and plugin checks need is not installed."""


def _ruff_executable() -> str:
    """ruff from this interpreter's environment first (the venv's pinned version), then from PATH."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        for name in ("ruff", "ruff.exe"):
            candidate = folder / name
            if candidate.is_file():
                return str(candidate)
    found = shutil.which("ruff")
    if found is None:
        raise RuffNotFoundError("the DAG and plugin checks need the `ruff` executable: pip install ruff")
    return found


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
    # Real paths on both sides: ruff may print a temp or symlinked folder resolved.
    return os.path.normcase(os.path.realpath(path))


def _fix_note(code: str, fix: Mapping[str, Any]) -> str:
    """What to run for a ruff fix: only the rule's own fix, since a plain `ruff check` doesn't select AIR rules."""
    applicability = fix.get("applicability")
    if applicability == "safe":
        return f"`ruff check --select {code} --fix` fixes this"
    if applicability == "unsafe":
        return f"unsafe fix available: `ruff check --select {code} --fix --unsafe-fixes`, then review the change"
    return ""  # display-only: no command applies it


def _with_ruff(
    diagnostics: list[dict[str, Any]], paths: Mapping[str, Path], checked: Checked, *, syntax_errors: bool
) -> list[Finding]:
    """ruff's AIR diagnostics as findings, with `checked`'s. A diagnostic a finding of `checked` already reports
    (same file, line and name) is left out, its fix note going to that finding. Syntax errors become SYNTAX
    findings when `syntax_errors`, else are left out."""
    findings: list[Finding] = []
    notes: dict[Finding, list[str]] = {}
    for diagnostic in diagnostics:
        # ruff prints absolute paths; findings keep the path as the caller gave it.
        path = paths.get(_path_key(diagnostic["filename"]), Path(diagnostic["filename"]))
        code = str(diagnostic.get("code"))
        line = int(diagnostic["location"]["row"])
        message = str(diagnostic["message"]).rstrip(" ;.")
        if code not in _AIR_RULES:
            # Only selected rules and syntax errors come back; ruff codes the latter invalid-syntax, null or E999.
            if syntax_errors:
                findings.append(Finding("error", path, line, "SYNTAX", message))
            continue
        fix = diagnostic.get("fix") or {}
        note = _fix_note(code, fix)
        subject = _RUFF_SUBJECT.match(message)
        covering = checked.covers.get((path, line, subject.group(1))) if subject else None
        if covering is not None:
            if note:
                notes.setdefault(covering, []).append(note)
            continue
        if fix.get("message"):
            message = f"{message}: {str(fix['message']).rstrip('.')}"
        findings.append(Finding(_AIR_RULES[code], path, line, code, f"{message}; {note}" if note else message))
    for finding in checked.findings:
        extra = "; ".join(dict.fromkeys(notes.get(finding, [])))
        findings.append(replace(finding, message=f"{finding.message}; {extra}") if extra else finding)
    return findings


def _air_rules(airflow_version: str) -> list[str]:
    return list(_AIR_RULES) if airflow_major(airflow_version) >= 3 else []


def check_dags(dag_folder: Path, airflow_version: str) -> list[Finding]:
    """Syntax errors for every target (for the Python MWAA runs), and for a 3.x target ruff's Airflow 3 rules:
    AIR301/AIR302 (removed or moved to a provider) are errors, AIR311/AIR312 (deprecated) warnings. Then the
    checks of the code module on each file, and removed template variables in template files (.sql, .sh, ...).

    Raises FileNotFoundError for a missing folder, ValueError for a version MWAA doesn't offer,
    RuffNotFoundError without ruff, RuntimeError if ruff fails.
    """
    python_version = mwaa_python_version(airflow_version)
    airflow3 = airflow_major(airflow_version) >= 3
    files = python_files(dag_folder)
    checked = Checked()
    if airflow3:
        for template in files_with_suffixes(dag_folder, TEMPLATE_SUFFIXES):
            text = template.read_bytes().decode("utf-8", errors="replace")
            for finding in check_template_file(template, text):
                checked.add(finding)
    if not files:
        return sorted_findings(checked.findings)
    paths = {_path_key(file): file for file in files}
    diagnostics = _run_ruff(files, _air_rules(airflow_version), python_version)
    ruff_syntax = {_path_key(d["filename"]) for d in diagnostics if str(d.get("code")) not in _AIR_RULES}
    for file in files:
        source = file.read_bytes()
        try:
            tree = parse_python(source, file)
        except (SyntaxError, ValueError):
            if _path_key(file) not in ruff_syntax:
                checked.add(_not_parsed(file, python_version))
            continue
        checked.extend(check_code(file, source.decode("utf-8", errors="replace"), tree, airflow_version))
    return sorted_findings(_with_ruff(diagnostics, paths, checked, syntax_errors=True))


def _not_parsed(file: Path, mwaa_python: str) -> Finding:
    # ruff accepts the file for MWAA's Python, but the interpreter running this can't parse it for the other checks.
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Finding(
        "warning",
        file,
        None,
        "PARSE001",
        f"only partly checked: ruff accepts it for MWAA's Python {mwaa_python}, but the Python {running} running "
        f"the pre-flight can't parse it for the other checks; run the pre-flight with Python {mwaa_python}",
    )


def _ruff_plugins(files: list[PluginFile], plugins: Path, airflow_version: str) -> list[dict[str, Any]]:
    """ruff's diagnostics for the plugin files, named by their plugins path. The files of a zip are linted from
    copies in a temporary folder, one numbered folder each, so no member name can write outside it."""
    rules, python_version = _air_rules(airflow_version), mwaa_python_version(airflow_version)
    if plugins.is_dir():
        return _run_ruff([file.path for file in files], rules, python_version)
    with tempfile.TemporaryDirectory(prefix="mwaa-preflight-") as folder:
        copies: list[Path] = []
        for index, file in enumerate(files):
            copy = Path(folder, str(index), file.path.name)
            copy.parent.mkdir()
            copy.write_bytes(file.source)
            copies.append(copy)
        originals = {_path_key(copy): file.path for copy, file in zip(copies, files, strict=True)}
        diagnostics = _run_ruff(copies, rules, python_version)
    for diagnostic in diagnostics:
        diagnostic["filename"] = str(originals.get(_path_key(diagnostic["filename"]), diagnostic["filename"]))
    return diagnostics


def check_plugins(plugins: Path, airflow_version: str) -> list[Finding]:
    """Custom operators, hooks and sensors (every target), and for a 3.x target Airflow 2 UI parts, ruff's
    Airflow 3 rules and the checks of the code module, in a plugins folder or plugins.zip (parsed, not run).

    Raises FileNotFoundError if `plugins` is missing, ValueError for a version MWAA doesn't offer,
    RuffNotFoundError without ruff, RuntimeError if ruff fails.
    """
    airflow3 = airflow_major(airflow_version) >= 3  # validates the version
    if not plugins.exists():
        raise FileNotFoundError(f"plugins not found: {plugins}")
    try:
        files, unparsed = read_plugins(plugins)
    except zipfile.BadZipFile as exc:
        return [Finding("error", plugins, None, "PLUGIN005", f"not a valid zip file: {exc}")]
    checked = check_plugin_contents(plugins, files, airflow_version)
    for finding in unparsed:
        checked.add(finding)
    for file in files:
        if file.tree is not None:
            source = file.source.decode("utf-8", errors="replace")
            checked.extend(check_code(file.path, source, file.tree, airflow_version))
    # On 2.x ruff would only judge syntax, which PLUGIN004 already reports as far as it can.
    diagnostics = _ruff_plugins(files, plugins, airflow_version) if airflow3 and files else []
    paths = {_path_key(file.path): file.path for file in files}
    return sorted_findings(_with_ruff(diagnostics, paths, checked, syntax_errors=False))


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
        try:
            findings += check_plugins(workflows.plugins, version)
        except RuntimeError as error:
            raise PreflightError(f"{migration.name}: the plugin checks could not run: {error}") from None
    return sorted_findings(findings)


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
