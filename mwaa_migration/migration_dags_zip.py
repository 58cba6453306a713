"""The migration DAGs' zip: the import DAG, the task-log DAG and what they share, as one reproducible unit.

Airflow loads a `.zip` in the DAG folder as packaged DAGs (`DagBag._load_modules_from_zip`, 2.x and 3.x alike): it
imports the `.py` files at the zip's root as DAG files, with the zip on sys.path while it does, and never parses
anything in a folder of the zip as a DAG file. So the root holds exactly the two DAG files, and the code they share
is the package `mwaa_migration_support/` (a prefixed name: the zip lands on the target's sys.path, where a user's
module of a plain name must not be shadowed). One object in the DAG folder, written and removed as a whole by the
deployment, so a worker never sees half of an update.

The archive reader is not kept twice: the build copies ARCHIVE_SOURCE, the cut-over's reader, into the package, with
the sibling modules it imports (relative imports, or absolute ones of its own folder or package, which the copy
makes relative). Everything that runs on the new environment keeps to Python 3.8 syntax; the build checks it.

The bytes depend on the files' names and contents only (mwaa_migration/plugins_zip.py's build_zip: sorted entries,
fixed timestamps and modes, stored), so the CDK asset hash changes only when the code does.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from mwaa_migration.assets import CUTOVER_DIR, MIGRATION_DAGS_DIR, package_dir
from mwaa_migration.plugins_zip import WORKFLOW_EXCLUDES, build_zip

# The one source of the archive reader: the cut-over package's own module.
ARCHIVE_SOURCE = package_dir(CUTOVER_DIR) / "archive.py"

ZIP_NAME = "mwaa_migration_dags.zip"
SUPPORT_PACKAGE = "mwaa_migration_support"
# The DAG files, at the zip's root: Airflow imports each under its file name, so they carry the prefix too.
DAG_FILES = ("mwaa_migration_import.py", "mwaa_migration_task_logs.py")
# The deployment fills this entry's `__MWAA_<NAME>__` values in (lambda/deploy_export_dag/export_dag_deploy.py).
SETTINGS_ENTRY = f"{SUPPORT_PACKAGE}/settings.json"
PYTHON = (3, 8)  # the oldest a 2.7+ target could run; MWAA runs 3.11 and later
# What the copied reader may import besides its siblings: the standard library and what MWAA installs with Airflow.
INSTALLED = frozenset({"boto3", "botocore"})


class UnitBuildError(Exception):
    """The unit can't be built as it must run: names the file and what to change."""


def _python(name: str, source: bytes) -> None:
    try:
        ast.parse(source, filename=name, feature_version=PYTHON)
    except SyntaxError as error:
        raise UnitBuildError(
            f"{name}:{error.lineno}: not Python {PYTHON[0]}.{PYTHON[1]} syntax ({error.msg}); the migration DAGs run "
            "on the new environment's Python"
        ) from None


def _excluded(path: Path) -> bool:
    return any(path.match(pattern) or any(part == pattern for part in path.parts) for pattern in WORKFLOW_EXCLUDES)


def support_files(root: Path = MIGRATION_DAGS_DIR) -> dict[str, bytes]:
    """The package's own files (modules and the settings template), by name in the zip."""
    folder = root / SUPPORT_PACKAGE
    files = {
        f"{SUPPORT_PACKAGE}/{path.relative_to(folder).as_posix()}": path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not _excluded(path.relative_to(folder))
    }
    if f"{SUPPORT_PACKAGE}/__init__.py" not in files or SETTINGS_ENTRY not in files:
        raise UnitBuildError(f"{folder} must hold __init__.py and settings.json")
    return files


def reader_files(source: Path = ARCHIVE_SOURCE) -> dict[str, bytes]:
    """archive.py and the sibling modules it imports (transitively), as modules of the support package."""
    folder = source.parent
    package = folder.name if (folder / "__init__.py").is_file() else None
    copied: dict[str, bytes] = {}
    pending = [source.stem]
    while pending:
        module = pending.pop()
        path = folder / f"{module}.py"
        if f"{SUPPORT_PACKAGE}/{path.name}" in copied:
            continue
        if not path.is_file():
            raise UnitBuildError(f"{source.name} imports {module}, which is not a file beside it ({path})")
        text, siblings = _relative_imports(path, folder, package)
        copied[f"{SUPPORT_PACKAGE}/{path.name}"] = text.encode("utf-8")
        pending.extend(siblings)
    return copied


def _relative_imports(path: Path, folder: Path, package: str | None) -> tuple[str, list[str]]:
    """The module's text with its imports of siblings made relative, and the siblings it imports."""
    text = path.read_bytes().decode("utf-8")  # as it is: no newline translation
    siblings: list[str] = []
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, str, str]] = []  # (line index, old statement start, new statement start)

    def sibling(name: str) -> bool:
        return (folder / f"{name}.py").is_file()

    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 1:
                # `from . import x` or `from .x import y`: the same in the support package.
                siblings += [alias.name for alias in node.names] if not parts else [parts[0]]
                continue
            if node.level > 1:
                dots = "." * node.level
                raise UnitBuildError(f"{path.name}:{node.lineno}: an import from outside its folder ({dots})")
            if package is not None and parts and parts[0] == package:
                rest = parts[1:]
                new = f"from .{'.'.join(rest)}" if rest else "from ."
                siblings += [rest[0]] if rest else [alias.name for alias in node.names]
            elif parts and sibling(parts[0]):
                new = f"from .{node.module}"
                siblings.append(parts[0])
            else:
                _installed(path, node.lineno, parts[0])
                continue
            edits.append((node.lineno - 1, f"from {node.module}", new))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == package or sibling(top):
                    raise UnitBuildError(
                        f"{path.name}:{node.lineno}: `import {alias.name}`: import a sibling module with `from . "
                        f"import ...` or `from .{top} import ...`, which the migration DAGs' copy keeps as it is"
                    )
                _installed(path, node.lineno, top)
    for index, old, new in edits:
        found = re.match(rf"(\s*){re.escape(old)}(?=\s)", lines[index])
        if found is None:
            raise UnitBuildError(f"{path.name}:{index + 1}: write the import as `{old} import ...` on one line")
        lines[index] = found.group(1) + new + lines[index][found.end() :]
    return "".join(lines), siblings


def _installed(path: Path, line: int, top: str) -> None:
    if top not in sys.stdlib_module_names and top not in INSTALLED and top != "__future__":
        raise UnitBuildError(
            f"{path.name}:{line}: imports {top}, which an MWAA environment doesn't install with Airflow: the "
            "migration DAGs' copy of the archive reader may only use the standard library and boto3"
        )


def unit_entries(root: Path = MIGRATION_DAGS_DIR, archive_source: Path = ARCHIVE_SOURCE) -> dict[str, bytes]:
    """Every file of the zip by name: the DAG files at the root, the support package, the reader's copy."""
    entries = {name: (root / name).read_bytes() for name in DAG_FILES}
    own = support_files(root)
    copies = reader_files(archive_source)
    twice = sorted(set(own) & set(copies))
    if twice:
        raise UnitBuildError(
            f"{', '.join(twice)}: in {root / SUPPORT_PACKAGE} and copied from {archive_source.parent}; the reader "
            "has one source: remove the file from the support package"
        )
    entries.update(own)
    entries.update(copies)
    for name, content in entries.items():
        if name.endswith(".py"):
            _python(name, content)
    for name in DAG_FILES:
        # Airflow's safe mode (the default) imports only files that mention both words.
        lowered = entries[name].lower()
        if b"airflow" not in lowered or b"dag" not in lowered:
            raise UnitBuildError(f"{name}: a DAG file must mention `airflow` and `dag`, or Airflow skips it")
    return entries


def build_migration_dags_zip(root: Path = MIGRATION_DAGS_DIR, archive_source: Path = ARCHIVE_SOURCE) -> bytes:
    """mwaa_migration_dags.zip, byte-for-byte the same for the same sources."""
    return build_zip(unit_entries(root, archive_source).items())
