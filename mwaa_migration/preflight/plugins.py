"""Pre-flight checks of what a plugins folder or plugins.zip holds: custom operators, hooks and sensors, which
Airflow 2.0 stopped loading through plugins, and Airflow 2 web UI parts, which Airflow 3 serves only through the
FAB provider. The zip is read in memory; files are parsed, never imported."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mwaa_migration.airflow_versions import airflow_major
from mwaa_migration.preflight.files import parse_python, python_files
from mwaa_migration.preflight.findings import Checked, Finding


@dataclass(frozen=True)
class PluginFile:
    """A .py file of the plugins: the path findings show (`plugins.zip/hooks/h.py` inside a zip), its bytes, and
    its syntax tree, or None when this interpreter can't parse it."""

    path: Path
    source: bytes
    tree: ast.Module | None


def _plugin_sources(plugins: Path) -> Iterator[tuple[Path, bytes]]:
    """(path shown in findings, source bytes) of each .py file in a plugins folder or plugins.zip."""
    if plugins.is_dir():
        for file in python_files(plugins):
            yield file, file.read_bytes()
        return
    with zipfile.ZipFile(plugins) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith(".py") and "__pycache__" not in member.split("/"):
                yield plugins / member, archive.read(member)


def read_plugins(plugins: Path) -> tuple[list[PluginFile], list[Finding]]:
    """The plugins' .py files, and PLUGIN004 for each this interpreter can't parse.

    Raises zipfile.BadZipFile for a file that is not a zip.
    """
    files: list[PluginFile] = []
    findings: list[Finding] = []
    for path, source in _plugin_sources(plugins):
        try:
            files.append(PluginFile(path, source, parse_python(source, path)))
        except (SyntaxError, ValueError) as exc:
            # This interpreter may be older than MWAA's, so a parse failure is reported, not judged.
            files.append(PluginFile(path, source, None))
            line = exc.lineno if isinstance(exc, SyntaxError) else None
            findings.append(Finding("warning", path, line, "PLUGIN004", f"not checked, cannot parse it: {exc}"))
    return files, findings


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
# Airflow 2 web UI parts of a plugin. Airflow 3 (apache-airflow-core 3.0.6, api_fastapi/core_api/app.py,
# init_flask_plugins) serves them from /pluginsv2 through the FAB provider's Flask app, and the API server
# refuses to start when a plugin has them and that provider is missing.
_FAB_ATTRIBUTES = frozenset({"appbuilder_views", "appbuilder_menu_items", "flask_blueprints"})
_ADVICE = (
    "since Airflow 2.0, operators, hooks and sensors are not loaded through plugins: move it to the DAGs "
    "folder (or a package you install) and import it as a regular Python module"
)


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


def _plugin_attributes(node: ast.ClassDef) -> Iterator[tuple[int, str]]:
    """(line, name) of the class attributes an AirflowPlugin subclass sets."""
    if "AirflowPlugin" not in filter(None, map(_base_name, node.bases)):
        return
    for statement in node.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                yield statement.lineno, target.id


def _attribute_findings(path: Path, node: ast.ClassDef, airflow3: bool, checked: Checked) -> None:
    for line, name in _plugin_attributes(node):
        if name in _REGISTRY_ATTRIBUTES:
            message = (
                f"plugin {node.name} registers `{name}`, which Airflow 2.0 dropped along with "
                f"airflow.{name}.<plugin> imports: put those classes in the DAGs folder (or a package you "
                "install) and import them as regular Python modules"
            )
            # ruff's AIR301 reports the same attribute as removed; the plugin still loads, so a warning says it.
            checked.add(Finding("warning", path, line, "PLUGIN003", message), covers=(name,))
        elif name in _FAB_ATTRIBUTES and airflow3:
            message = (
                f"plugin {node.name} sets `{name}`, a part of the Airflow 2 web UI: Airflow 3 serves it only "
                "through the FAB provider (under /pluginsv2), and its API server won't start without that "
                "provider, so make sure apache-airflow-providers-fab is installed (in requirements.txt); the "
                "Airflow 3 UI's own plugin interfaces are where it should move in time"
            )
            checked.add(Finding("warning", path, line, "PLUGIN006", message))


def _folder_kind(path: Path, plugins: Path) -> str | None:
    parts = path.relative_to(plugins).parts[:-1]
    return next((_KIND_FOLDERS[part] for part in parts if part in _KIND_FOLDERS), None)


def check_plugin_contents(plugins: Path, files: list[PluginFile], airflow_version: str) -> Checked:
    """PLUGIN001-003 (every target) and PLUGIN006 (3.x) for the parsed plugin files."""
    airflow3 = airflow_major(airflow_version) >= 3
    checked = Checked()
    classes = [
        (file.path, node)
        for file in files
        if file.tree is not None
        for node in ast.walk(file.tree)
        if isinstance(node, ast.ClassDef)
    ]
    kinds = _custom_kinds(classes)
    flagged: set[Path] = set()
    for path, node in classes:
        _attribute_findings(path, node, airflow3, checked)
        if node.name in kinds:
            flagged.add(path)
            message = f"custom {kinds[node.name]} {node.name} is in the plugins: {_ADVICE}"
            checked.add(Finding("warning", path, node.lineno, "PLUGIN001", message))
    for file in files:
        kind = _folder_kind(file.path, plugins)
        if file.tree is not None and kind and file.path not in flagged and file.path.name != "__init__.py":
            message = f"module under {kind}s/ in the plugins: if it holds a custom {kind}, {_ADVICE}"
            checked.add(Finding("warning", file.path, None, "PLUGIN002", message))
    return checked
