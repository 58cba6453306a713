"""Pre-flight checks: requirements.txt, DAGs (through ruff) and plugins, rule by rule, on the broken fixtures
in tests/fixtures/workflows and on the example workflow, which must pass clean for Airflow 3.0.6."""

from __future__ import annotations

import shutil
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from mwaa_migration import preflight
from mwaa_migration.airflow_versions import (
    airflow_major,
    constraints_url,
    mwaa_python_version,
)
from mwaa_migration.plugins_zip import build_plugins_zip
from mwaa_migration.preflight import (
    Finding,
    RuffNotFoundError,
    check_dags,
    check_plugins,
    check_requirements,
)
from tests.synth_app import EXAMPLE_WORKFLOWS, REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "workflows"
REQUIREMENTS = FIXTURES / "requirements"
LEGACY = FIXTURES / "legacy_v2"

TARGET = "3.0.6"
EXPECTED_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-3.0.6/constraints-3.12.txt"


def summary(findings: list[Finding], base: Path = FIXTURES) -> list[tuple[str, str, int | None, str]]:
    """(file relative to base, code, line, severity): what the rules promise, without the wording."""
    return [(f.path.relative_to(base).as_posix(), f.code, f.line, f.severity) for f in findings]


# --- Finding.format -----------------------------------------------------------------------------------------


def test_format_with_line_and_base() -> None:
    finding = Finding("error", FIXTURES / "dags" / "a.py", 12, "AIR301", "`schedule_interval` is removed")
    assert finding.format(FIXTURES) == "dags/a.py:12: error AIR301 `schedule_interval` is removed"


def test_format_without_line_or_base() -> None:
    finding = Finding("warning", Path("plugins/hooks/h.py"), None, "PLUGIN002", "module under hooks/")
    assert finding.format() == "plugins/hooks/h.py: warning PLUGIN002 module under hooks/"


def test_format_keeps_full_path_outside_base() -> None:
    finding = Finding("error", Path("/elsewhere/requirements.txt"), 3, "REQ003", "pin")
    assert finding.format(FIXTURES) == "/elsewhere/requirements.txt:3: error REQ003 pin"


def test_format_relative_path_under_absolute_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    finding = Finding("error", Path("legacy_v2/requirements.txt"), 4, "REQ003", "pin")
    assert finding.format(LEGACY) == "requirements.txt:4: error REQ003 pin"


# --- Airflow versions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("airflow", "python"),
    [("2.7.2", "3.11"), ("2.10.3", "3.11"), ("2.11.0", "3.12"), ("3.0.6", "3.12")],
)
def test_mwaa_python_version(airflow: str, python: str) -> None:
    assert mwaa_python_version(airflow) == python


def test_constraints_url() -> None:
    assert constraints_url("3.0.6") == EXPECTED_URL
    assert constraints_url("2.10.3").endswith("/constraints-2.10.3/constraints-3.11.txt")


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'1\.10\.12' is not a version Amazon MWAA offers.*3\.0\.6"):
        mwaa_python_version("1.10.12")
    with pytest.raises(ValueError, match="not a version"):
        airflow_major("3.1")
    with pytest.raises(ValueError, match="not a version"):
        check_requirements(EXAMPLE_WORKFLOWS / "requirements.txt", "2.6.3")


# --- requirements.txt ---------------------------------------------------------------------------------------


def test_example_requirements_pass() -> None:
    assert check_requirements(EXAMPLE_WORKFLOWS / "requirements.txt", TARGET) == []


def test_valid_complex_requirements_pass() -> None:
    # Continuations, comments, index options, -r, markers, hashes, URLs, wheels, VCS, editables.
    assert check_requirements(REQUIREMENTS / "valid_complex.txt", TARGET) == []


def test_missing_constraint_is_an_error() -> None:
    findings = check_requirements(REQUIREMENTS / "missing_constraint.txt", TARGET)
    assert summary(findings) == [("requirements/missing_constraint.txt", "REQ001", None, "error")]
    assert EXPECTED_URL in findings[0].message


def test_constraint_for_another_airflow_version_is_an_error() -> None:
    findings = check_requirements(REQUIREMENTS / "wrong_airflow_version.txt", TARGET)
    assert summary(findings) == [("requirements/wrong_airflow_version.txt", "REQ002", 2, "error")]
    assert "is for Airflow 2.10.3 on Python 3.12" in findings[0].message
    assert f'use --constraint "{EXPECTED_URL}"' in findings[0].message


def test_constraint_for_another_python_version_is_an_error() -> None:
    findings = check_requirements(REQUIREMENTS / "wrong_python_version.txt", TARGET)
    assert summary(findings) == [("requirements/wrong_python_version.txt", "REQ002", 2, "error")]
    assert "is for Airflow 3.0.6 on Python 3.11" in findings[0].message
    assert EXPECTED_URL in findings[0].message


def test_constraint_is_checked_against_the_target() -> None:
    # The old environment's file is right for 2.10.3 (apart from the pin) and wrong for 3.0.6.
    legacy = LEGACY / "requirements.txt"
    assert summary(check_requirements(legacy, "2.10.3")) == [("legacy_v2/requirements.txt", "REQ003", 4, "error")]
    assert summary(check_requirements(legacy, TARGET)) == [
        ("legacy_v2/requirements.txt", "REQ002", 2, "error"),
        ("legacy_v2/requirements.txt", "REQ003", 4, "error"),
    ]


def test_airflow_itself_is_an_error_in_every_spelling() -> None:
    findings = check_requirements(REQUIREMENTS / "airflow_pin.txt", TARGET)
    # Lines 2-8: ==, extras + case + underscore, dots, -core, name @ URL, wheel path, -e VCS #egg=.
    # Lines 9-11 (providers, apache-airflow-client) are other projects.
    assert summary(findings) == [("requirements/airflow_pin.txt", "REQ003", line, "error") for line in range(2, 9)]


def test_unparseable_lines_are_errors_with_their_line() -> None:
    findings = check_requirements(REQUIREMENTS / "unparseable.txt", TARGET)
    assert summary(findings) == [("requirements/unparseable.txt", "REQ004", line, "error") for line in range(2, 7)]
    assert "unknown option --no-such-option" in findings[1].message
    assert all("\n" not in finding.message for finding in findings)


def test_continued_line_reports_its_first_line(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# header\n"
        "--constraint \\\n"
        "  https://raw.githubusercontent.com/apache/airflow/constraints-3.0.6/constraints-3.11.txt\n"
        "apache-airflow\\\n"
        "==3.0.6\n"
    )
    assert summary(check_requirements(requirements, TARGET), tmp_path) == [
        ("requirements.txt", "REQ002", 2, "error"),
        ("requirements.txt", "REQ003", 4, "error"),
    ]


def test_commented_out_constraint_does_not_count(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# --constraint {EXPECTED_URL}\nboto3  # --constraint {EXPECTED_URL}\n")
    assert [f.code for f in check_requirements(requirements, TARGET)] == ["REQ001"]


def test_local_constraints_file_is_a_warning(tmp_path: Path) -> None:
    # The MWAA guide's pattern for an edited constraints file synced with the DAGs.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text('--constraint "/usr/local/airflow/dags/constraints-3.12-updated.txt"\nboto3\n')
    findings = check_requirements(requirements, TARGET)
    assert summary(findings, tmp_path) == [("requirements.txt", "REQ005", 1, "warning")]
    assert EXPECTED_URL in findings[0].message


def test_missing_requirements_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_requirements(tmp_path / "requirements.txt", TARGET)


# --- DAGs ---------------------------------------------------------------------------------------------------


def test_example_dags_pass() -> None:
    assert check_dags(EXAMPLE_WORKFLOWS / "dags", TARGET) == []
    # It really is an Airflow 3 SDK DAG, so "clean" means something.
    source = (EXAMPLE_WORKFLOWS / "dags" / "example_dag.py").read_text()
    assert "from airflow.sdk import dag, task" in source
    assert "schedule=" in source


def test_airflow2_dag_fails_airflow3_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative folder: findings keep the caller's paths, not ruff's absolute ones.
    monkeypatch.chdir(FIXTURES)
    findings = check_dags(Path("legacy_v2/dags"), TARGET)
    dag = Path("legacy_v2/dags/legacy_dag.py")
    assert [(f.path, f.code, f.line, f.severity) for f in findings] == [
        (dag, "AIR311", 13, "warning"),  # `from airflow import DAG`, used at `with DAG(`
        (dag, "AIR301", 15, "error"),  # schedule_interval=
        (dag, "AIR302", 19, "error"),  # airflow.operators.python_operator.PythonOperator
        (dag, "AIR312", 20, "warning"),  # airflow.operators.bash.BashOperator
    ]
    assert "Use `schedule` instead" in findings[1].message
    assert findings[1].format() == (
        "legacy_v2/dags/legacy_dag.py:15: error AIR301 `schedule_interval` is removed in Airflow 3.0: "
        "Use `schedule` instead"
    )


def test_airflow2_target_skips_airflow3_rules() -> None:
    assert check_dags(LEGACY / "dags", "2.10.3") == []


@pytest.mark.parametrize("airflow", ["2.10.3", TARGET])
def test_syntax_error_is_an_error_for_every_target(airflow: str) -> None:
    findings = check_dags(FIXTURES / "syntax_error" / "dags", airflow)
    assert findings
    assert {(f.path.name, f.code, f.line, f.severity) for f in findings} == {("broken_dag.py", "SYNTAX", 5, "error")}


def test_syntax_is_judged_for_the_python_mwaa_runs(tmp_path: Path) -> None:
    # PEP 695 needs Python 3.12: fine on Airflow 3.0.6 (3.12), a syntax error on 2.10.3 (3.11).
    (tmp_path / "typed_dag.py").write_text("type Payload = dict[str, int]\n")
    assert check_dags(tmp_path, TARGET) == []
    assert summary(check_dags(tmp_path, "2.10.3"), tmp_path) == [("typed_dag.py", "SYNTAX", 1, "error")]


def test_empty_folder_needs_no_ruff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ruff() -> str:
        raise AssertionError("ruff must not run without files")

    monkeypatch.setattr(preflight, "_ruff_executable", no_ruff)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "stale.py").write_text("def broken(:\n")
    (tmp_path / "README.md").write_text("not python\n")
    assert check_dags(tmp_path, TARGET) == []


def test_missing_dag_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_dags(tmp_path / "dags", TARGET)


def test_missing_ruff_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuffNotFoundError, match="pip install ruff"):
        check_dags(LEGACY / "dags", TARGET)


def test_ruff_failure_is_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter stands in for a broken ruff: `python check ...` exits 2.
    monkeypatch.setattr(preflight, "_ruff_executable", lambda: sys.executable)
    with pytest.raises(RuntimeError, match=r"ruff failed \(exit 2\)"):
        check_dags(LEGACY / "dags", TARGET)


# --- Plugins ------------------------------------------------------------------------------------------------

LEGACY_PLUGIN_FINDINGS = [
    ("hooks/my_hook.py", "PLUGIN001", 4, "warning"),  # ServiceHook(airflow.hooks.base.BaseHook)
    ("hooks/my_hook.py", "PLUGIN001", 8, "warning"),  # RetryingServiceHook(ServiceHook)
    ("my_plugin.py", "PLUGIN003", 8, "warning"),  # AirflowPlugin.operators = [...]
    ("operators/helpers.py", "PLUGIN002", None, "warning"),  # under operators/, no class found
    ("operators/my_operator.py", "PLUGIN001", 4, "warning"),  # CompanyBase(BaseOperator)
    ("operators/my_operator.py", "PLUGIN001", 8, "warning"),  # ExportOperator(CompanyBase)
]


@pytest.mark.parametrize("airflow", ["2.10.3", TARGET])
def test_custom_operators_in_plugins_folder_are_warnings(airflow: str) -> None:
    findings = check_plugins(LEGACY / "plugins", airflow)
    assert summary(findings, LEGACY / "plugins") == LEGACY_PLUGIN_FINDINGS
    operator = findings[5]
    assert "custom operator ExportOperator" in operator.message
    assert "move it to the DAGs folder" in operator.message
    assert "import it as a regular Python module" in operator.message


def test_custom_operators_in_plugins_zip_are_warnings(tmp_path: Path) -> None:
    plugins_zip = tmp_path / "plugins.zip"
    plugins_zip.write_bytes(build_plugins_zip(LEGACY / "plugins"))
    findings = check_plugins(plugins_zip, TARGET)
    assert summary(findings, plugins_zip) == LEGACY_PLUGIN_FINDINGS
    assert findings[0].format(tmp_path).startswith("plugins.zip/hooks/my_hook.py:4: warning PLUGIN001 ")


def test_plugins_without_operators_pass(tmp_path: Path) -> None:
    (tmp_path / "macros.py").write_text(
        "from airflow.plugins_manager import AirflowPlugin\n\n\n"
        "class Macros(AirflowPlugin):\n    name = 'macros'\n    macros = [len]\n"
    )
    (tmp_path / "operators").mkdir()
    (tmp_path / "operators" / "__init__.py").write_text("")
    assert check_plugins(tmp_path, TARGET) == []


def test_unparseable_plugin_is_reported_not_judged(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("class Broken(BaseOperator:\n    pass\n")
    assert summary(check_plugins(tmp_path, TARGET), tmp_path) == [("broken.py", "PLUGIN004", 1, "warning")]


def test_invalid_zip_is_an_error(tmp_path: Path) -> None:
    not_a_zip = tmp_path / "plugins.zip"
    not_a_zip.write_bytes(b"not a zip")
    assert summary(check_plugins(not_a_zip, TARGET), tmp_path) == [("plugins.zip", "PLUGIN005", None, "error")]


def test_zip_pycache_is_ignored(tmp_path: Path) -> None:
    plugins_zip = tmp_path / "plugins.zip"
    with zipfile.ZipFile(plugins_zip, "w") as archive:
        archive.writestr("__pycache__/op.py", "class Op(BaseOperator):\n    pass\n")
        archive.writestr("hooks/", "")
    assert check_plugins(plugins_zip, TARGET) == []
