"""Pre-flight checks: requirements.txt, DAGs (through ruff) and plugins, rule by rule, on the broken fixtures
in tests/fixtures/workflows and on the example workflow, which must pass clean for Airflow 3.0.6."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import pytest

from mwaa_migration.airflow_versions import (
    airflow_major,
    constraints_url,
    mwaa_python_version,
)
from mwaa_migration.plugins_zip import build_plugins_zip
from mwaa_migration.preflight import workflows as preflight
from mwaa_migration.preflight.context import REMOVED_CONTEXT_KEYS, REPLACEMENTS, template_variables
from mwaa_migration.preflight.workflows import (
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
    # ruff's own fix, with the command that applies it (safe here; unsafe fixes say so).
    assert findings[1].format() == (
        "legacy_v2/dags/legacy_dag.py:15: error AIR301 `schedule_interval` is removed in Airflow 3.0: "
        "Use `schedule` instead; `ruff check --select AIR301 --fix` fixes this"
    )
    assert findings[2].message.endswith(
        "; unsafe fix available: `ruff check --select AIR302 --fix --unsafe-fixes`, then review the change"
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
    findings = check_dags(tmp_path, TARGET)
    if sys.version_info >= (3, 12):
        assert findings == []
    else:
        # ruff judged it, but this interpreter can't parse it for the other checks, and says so.
        assert [f.format(tmp_path) for f in findings] == [
            f"typed_dag.py: warning PARSE001 only partly checked: ruff accepts it for MWAA's Python 3.12, but the "
            f"Python 3.{sys.version_info.minor} running the pre-flight can't parse it for the other checks; run the "
            "pre-flight with Python 3.12"
        ]
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


def test_plugins_go_through_ruff_and_a_plugin_check_says_it_once(tmp_path: Path) -> None:
    # ruff's AIR301 also names `operators` on line 8 of my_plugin.py; PLUGIN003 already reports it (a warning:
    # the plugin still loads), so the legacy list above has no AIR301 line. A removed import is ruff's error.
    (tmp_path / "plugin.py").write_text(
        "from airflow.plugins_manager import AirflowPlugin\n"
        "from airflow.utils.decorators import apply_defaults\n\n\n"
        "class Legacy(AirflowPlugin):\n"
        "    name = 'legacy'\n"
        "    hooks = []\n\n\n"
        "@apply_defaults\n"
        "def build():\n"
        "    pass\n"
    )
    assert [f.format(tmp_path) for f in check_plugins(tmp_path, TARGET)] == [
        "plugin.py:7: warning PLUGIN003 plugin Legacy registers `hooks`, which Airflow 2.0 dropped along with "
        "airflow.hooks.<plugin> imports: put those classes in the DAGs folder (or a package you install) and import "
        "them as regular Python modules",
        "plugin.py:10: error AIR301 `apply_defaults` is removed in Airflow 3.0: `apply_defaults` is now "
        "unconditionally done and can be safely removed; `ruff check --select AIR301 --fix` fixes this",
    ]
    # Airflow 2 keeps apply_defaults: ruff doesn't run on plugins for a 2.x target.
    assert summary(check_plugins(tmp_path, "2.10.3"), tmp_path) == [("plugin.py", "PLUGIN003", 7, "warning")]


def test_plugin_ruff_failure_is_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "_ruff_executable", lambda: sys.executable)
    with pytest.raises(RuntimeError, match=r"ruff failed \(exit 2\)"):
        check_plugins(LEGACY / "plugins", TARGET)


# --- Airflow 3 breakages ruff doesn't see (tests/fixtures/workflows/airflow3_breakages) --------------------------

BREAKAGES = FIXTURES / "airflow3_breakages"

# What the derivation in mwaa_migration.preflight.context compares, read from the two releases the tests install:
# apache-airflow 2.10.3's KNOWN_CONTEXT_KEYS, and the task SDK's `Context` that apache-airflow-core 3.0.6 pairs with.
READ_CONTEXT_KEYS = {
    "2.10.3": "from airflow.utils.context import KNOWN_CONTEXT_KEYS as keys",
    "3.0.6": "from airflow.sdk.definitions.context import Context; keys = Context.__annotations__",
}


def airflow_context_keys(version: str) -> frozenset[str]:
    python = REPO_ROOT / f".venv-airflow-{version}" / "bin" / "python"
    code = READ_CONTEXT_KEYS[version] + "; print(json.dumps(sorted(keys)))"
    done = subprocess.run(  # noqa: S603 (the test's own interpreter and code)
        [str(python), "-c", "import json; " + code], capture_output=True, text=True, check=True, timeout=120
    )
    return frozenset(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def context_keys() -> dict[str, frozenset[str]]:
    return {version: airflow_context_keys(version) for version in READ_CONTEXT_KEYS}


def test_removed_context_keys_are_airflow_2_keys_airflow_3_lacks(context_keys: dict[str, frozenset[str]]) -> None:
    assert set(REMOVED_CONTEXT_KEYS) == context_keys["2.10.3"] - context_keys["3.0.6"]
    assert set(REPLACEMENTS) == set(REMOVED_CONTEXT_KEYS)


@pytest.mark.parametrize("key", REMOVED_CONTEXT_KEYS)
def test_each_replacement_only_uses_what_airflow_3_has(key: str, context_keys: dict[str, frozenset[str]]) -> None:
    airflow_3 = context_keys["3.0.6"]
    replacement = REPLACEMENTS[key]
    assert replacement.template or replacement.note
    if replacement.template:
        names = set(re.findall(r"(?<![\w.])[a-z_]+(?![\w(=])", replacement.template))
        assert names <= airflow_3, names
    if replacement.python:
        assert set(re.findall(r'\["(\w+)"\]', replacement.python)) <= airflow_3
    if replacement.parameter:
        assert replacement.parameter in airflow_3


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("{{ execution_date }}", [(3, "execution_date")]),
        ("{{ ds }} {{next_ds|ds_nodash}}", [(11, "next_ds")]),
        ("{% if prev_ds %}x{% endif %}", [(6, "prev_ds")]),
        ("{{ dag_run.conf }} {{ ti.execution_date }}", []),  # attributes, not variables
        ("{{ 'execution_date' }} {{ \"conf\" }}", []),  # strings
        ("{{ macros.f(conf=1) }} {{ x == conf }}", [(31, "conf")]),  # a keyword argument; a comparison
        ("{# execution_date #} execution_date {execution_date}", []),  # a comment; no template
    ],
)
def test_template_variables(text: str, found: list[tuple[int, str]]) -> None:
    assert list(template_variables(text)) == found


def formatted(findings: list[Finding], name: str) -> list[str]:
    """The report lines of one fixture file, relative to the breakages folder."""
    return [f.format(BREAKAGES) for f in findings if f.path.name == name]


_NO_PREVIOUS = (
    "nothing replaces it exactly: `prev_data_interval_start_success` is the last successful run's, and the previous "
    "schedule's date has to be derived from `data_interval_start` and the schedule"
)


def test_removed_context_keys_in_dags() -> None:
    findings = check_dags(BREAKAGES / "dags", TARGET)
    assert formatted(findings, "removed_context.py") == [
        # A python_callable's parameter, and lookups on its **kwargs.
        "dags/removed_context.py:9: error CTX003 task function report takes `next_execution_date`, which Airflow 3.0 "
        "no longer passes: take `data_interval_end` instead",
        "dags/removed_context.py:10: error CTX002 `conf` was removed from the task context in Airflow 3.0: nothing "
        "replaces it: pass the value in through `params` or a Variable, or read it in Python with "
        "`from airflow.configuration import conf`",
        "dags/removed_context.py:10: error CTX002 `yesterday_ds` was removed from the task context in Airflow 3.0: "
        'use `(kwargs["logical_date"] - timedelta(days=1)).strftime("%Y-%m-%d")` instead',
        # A @task function: ruff's AIR301 names these three too; one line each, with ruff's fix where it has one.
        "dags/removed_context.py:14: error CTX003 task function summarize takes `prev_execution_date_success`, which "
        "Airflow 3.0 no longer passes: take `prev_data_interval_start_success` instead",
        "dags/removed_context.py:15: error CTX002 `execution_date` was removed from the task context in Airflow 3.0: "
        'use `context["logical_date"]` instead',
        "dags/removed_context.py:15: error CTX002 `triggering_dataset_events` was removed from the task context in "
        'Airflow 3.0: use `context["triggering_asset_events"]` instead; `ruff check --select AIR301 --fix` fixes '
        "this",
        # get_current_context(); ctx["ds"] is still there.
        f"dags/removed_context.py:20: error CTX002 `prev_ds` was removed from the task context in Airflow 3.0: "
        f"{_NO_PREVIOUS}",
        # execute(self, context); the constructor's kwargs.get("conf") is not the context.
        "dags/removed_context.py:30: error CTX002 `tomorrow_ds_nodash` was removed from the task context in Airflow "
        '3.0: use `(context["logical_date"] + timedelta(days=1)).strftime("%Y%m%d")` instead',
        # Jinja in strings: one line, then a multi-line string, each on its own line; not the docstring on line 1.
        "dags/removed_context.py:40: error CTX001 template variable `execution_date` was removed in Airflow 3.0, so "
        "rendering fails: write `{{ logical_date }}` instead",
        "dags/removed_context.py:44: error CTX001 template variable `next_ds` was removed in Airflow 3.0, so rendering "
        "fails: write `{{ data_interval_end | ds }}` instead",
        f"dags/removed_context.py:46: error CTX001 template variable `prev_ds_nodash` was removed in Airflow 3.0, so "
        f"rendering fails: {_NO_PREVIOUS}",
    ]


def test_removed_template_variables_in_template_files() -> None:
    findings = check_dags(BREAKAGES / "dags", TARGET)
    assert formatted(findings, "load.sh") + formatted(findings, "report.sql") == [
        "dags/sql/load.sh:4: error CTX001 template variable `yesterday_ds_nodash` was removed in Airflow 3.0, so "
        "rendering fails: write `{{ (logical_date - macros.timedelta(days=1)) | ds_nodash }}` instead",
        "dags/sql/load.sh:5: error CTX001 template variable `next_execution_date` was removed in Airflow 3.0, so "
        "rendering fails: write `{{ data_interval_end }}` instead",
        # Not line 1's {# comment #}.
        "dags/sql/report.sql:4: error CTX001 template variable `tomorrow_ds` was removed in Airflow 3.0, so "
        "rendering fails: write `{{ macros.ds_add(ds, 1) }}` instead",
    ]


def test_subdags_in_every_spelling() -> None:
    def imported(line: int, module: str) -> str:
        return (
            f"dags/subdags.py:{line}: error SUBDAG001 `{module}` was removed in Airflow 3.0 with SubDAGs, so this "
            "import fails and the file with it: rewrite each SubDagOperator as a TaskGroup "
            "(`from airflow.sdk import TaskGroup`)"
        )

    def called(line: int, name: str) -> str:
        return (
            f"dags/subdags.py:{line}: error SUBDAG001 `{name}` runs a SubDAG, which Airflow 3.0 removed: put the "
            'sub-DAG\'s tasks in this DAG inside `with TaskGroup(group_id="..."):` instead '
            "(`from airflow.sdk import TaskGroup`)"
        )

    # ruff's AIR301 names lines 17 and 19 (twice) and misses the subdag_operator alias; SUBDAG001 says it once each.
    assert formatted(check_dags(BREAKAGES / "dags", TARGET), "subdags.py") == [
        imported(3, "airflow.operators.subdag"),  # import airflow.operators.subdag
        imported(5, "airflow.operators.subdag_operator"),  # from airflow.operators import subdag_operator as ...
        imported(6, "airflow.operators.subdag"),  # from airflow.operators.subdag import SubDagOperator as Section
        called(17, "Section"),
        called(18, "legacy_subdags.SubDagOperator"),
        called(19, "airflow.operators.subdag.SubDagOperator"),
    ]


_SLA = (
    "error SLA001 SLAs were removed in Airflow 3.0: `sla` no longer does anything, so this SLA would never alert; "
    "remove it, and to catch a late task set its `execution_timeout` (the task then fails, which "
    "`on_failure_callback` can report)"
)
_PAUSE = (
    "error PAUSE001 `is_paused_upon_creation=False` starts this DAG on the new environment as soon as it is "
    "deployed, while the old environment still runs it: remove it, so the DAG starts paused, and unpause it when "
    "you cut over"
)


def test_slas_and_dags_unpaused_at_creation() -> None:
    assert formatted(check_dags(BREAKAGES / "dags", TARGET), "sla_and_pause.py") == [
        f"dags/sla_and_pause.py:10: {_SLA}",  # default_args = {... "sla": ...}
        f"dags/sla_and_pause.py:11: {_SLA}",  # args, passed as default_args=args; not service_levels on line 13
        f"dags/sla_and_pause.py:12: {_SLA}",  # args["sla"] = ...
        # ruff's AIR311 calls these two "still works": it is accepted and ignored, so an error says more.
        "dags/sla_and_pause.py:25: error SLA002 SLAs were removed in Airflow 3.0: `sla_miss_callback` is never "
        "called; remove it, and to catch a late run set the DAG's `dagrun_timeout` (the run then fails, which the "
        "DAG's `on_failure_callback` can report)",
        f"dags/sla_and_pause.py:26: {_PAUSE}",  # DAG(...)
        f"dags/sla_and_pause.py:28: {_SLA}",  # EmptyOperator(sla=...)
        # sla=None sets no SLA, so no SLA001; ruff's own warning about the argument stays.
        "dags/sla_and_pause.py:29: warning AIR311 `sla` is removed in Airflow 3.0; It still works in Airflow 3.0 but "
        "is expected to be removed in a future version",
        f"dags/sla_and_pause.py:32: {_PAUSE}",  # @dag(...); not is_paused_upon_creation=True on line 39
    ]


def test_only_the_pause_check_applies_to_airflow_2() -> None:
    assert [f.format(BREAKAGES) for f in check_dags(BREAKAGES / "dags", "2.10.3")] == [
        f"dags/sla_and_pause.py:26: {_PAUSE}",
        f"dags/sla_and_pause.py:32: {_PAUSE}",
    ]


_FAB = (
    "a part of the Airflow 2 web UI: Airflow 3 serves it only through the FAB provider (under /pluginsv2), and its "
    "API server won't start without that provider, so make sure apache-airflow-providers-fab is installed (in "
    "requirements.txt); the Airflow 3 UI's own plugin interfaces are where it should move in time"
)
BREAKAGES_PLUGIN_FINDINGS = [
    # A callback the DAGs import: context['execution_date'] inside an f-string.
    "callbacks.py:5: error CTX002 `execution_date` was removed from the task context in Airflow 3.0: use "
    '`context["logical_date"]` instead',
    # Airflow 2 UI parts are advice: the plugin keeps working with the FAB provider.
    f"company_ui.py:23: warning PLUGIN006 plugin CompanyUiPlugin sets `flask_blueprints`, {_FAB}",
    f"company_ui.py:24: warning PLUGIN006 plugin CompanyUiPlugin sets `appbuilder_views`, {_FAB}",
    f"company_ui.py:25: warning PLUGIN006 plugin CompanyUiPlugin sets `appbuilder_menu_items`, {_FAB}",
    # ruff's rules on plugin code, with the fix each has.
    "legacy_hook.py:7: error AIR301 `airflow.hooks.base_hook.BaseHook` is removed in Airflow 3.0: `BaseHook` has "
    "been moved to `airflow.hooks.base` since Airflow 3.0. Import `BaseHook` from `airflow.hooks.base` is suggested "
    "in Airflow 3.0, but it is deprecated in Airflow 3.1+; unsafe fix available: "
    "`ruff check --select AIR301 --fix --unsafe-fixes`, then review the change",
    "legacy_hook.py:7: warning PLUGIN001 custom hook WarehouseHook is in the plugins: since Airflow 2.0, operators, "
    "hooks and sensors are not loaded through plugins: move it to the DAGs folder (or a package you install) and "
    "import it as a regular Python module",
    "legacy_hook.py:8: error AIR301 `apply_defaults` is removed in Airflow 3.0: `apply_defaults` is now "
    "unconditionally done and can be safely removed; `ruff check --select AIR301 --fix` fixes this",
]


def test_airflow3_breakages_in_plugins_folder() -> None:
    plugins = BREAKAGES / "plugins"
    assert [f.format(plugins) for f in check_plugins(plugins, TARGET)] == BREAKAGES_PLUGIN_FINDINGS
    assert summary(check_plugins(plugins, "2.10.3"), plugins) == [("legacy_hook.py", "PLUGIN001", 7, "warning")]


def test_airflow3_breakages_in_plugins_zip(tmp_path: Path) -> None:
    plugins_zip = tmp_path / "plugins.zip"
    plugins_zip.write_bytes(build_plugins_zip(BREAKAGES / "plugins"))
    # ruff lints copies in a temporary folder; findings name the files inside the zip, and nothing is left over.
    assert [f.format(plugins_zip) for f in check_plugins(plugins_zip, TARGET)] == BREAKAGES_PLUGIN_FINDINGS
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plugins.zip"]


def test_zip_member_names_stay_inside_the_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Copies go to <tmp>/mwaa-preflight-*/<n>/: three `..` from there would reach tmp_path.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    plugins_zip = tmp_path / "plugins.zip"
    with zipfile.ZipFile(plugins_zip, "w") as archive:
        archive.writestr(
            "../../../escaped.py",
            "from airflow.utils.decorators import apply_defaults\n\n\n@apply_defaults\ndef build():\n    pass\n",
        )
    findings = check_plugins(plugins_zip, TARGET)
    assert summary(findings, plugins_zip) == [("../../../escaped.py", "AIR301", 4, "error")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plugins.zip", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_example_workflows_are_clean_of_the_airflow3_checks() -> None:
    # The example's plugin is a macro plugin, which Airflow 3 loads as it is.
    assert check_plugins(EXAMPLE_WORKFLOWS / "plugins", TARGET) == []
