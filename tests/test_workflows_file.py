"""The [workflows] section of the migration file, and the pre-flight report that synth and `preflight.py` print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mwaa_migration.migration import MigrationFileError, WorkflowsConfig, load_migration, load_migrations
from mwaa_migration.preflight import workflows as preflight_checks
from preflight import main as preflight_main
from tests.clone_fixtures import write_source_snapshot
from tests.synth_app import EXAMPLE_WORKFLOWS, REPO_ROOT

PREFLIGHT_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "preflight"

BASE = """\
[source]
kind = "mwaa"
environment_name = "analytics"
execution_role_arn = "arn:aws:iam::111122223333:role/AmazonMWAA-analytics"

[target]
environment_name = "analytics-v3"
airflow_version = "3.0.6"
"""
BUCKET_LINE = 'source_bucket_arn = "arn:aws:s3:::existing-airflow-bucket"\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A migration folder with one of each workflow file, next to where the tests write the migration file."""
    (tmp_path / "wf" / "dags").mkdir(parents=True)
    (tmp_path / "wf" / "dags" / "etl.py").write_text("")
    (tmp_path / "wf" / "plugins").mkdir()
    (tmp_path / "wf" / "requirements.txt").write_text("")
    (tmp_path / "wf" / "startup.sh").write_text("")
    (tmp_path / "wf" / "plugins.zip").write_bytes(b"")
    return tmp_path


def migration_file(folder: Path, workflows: str, target_lines: str = "", name: str = "m1.toml") -> Path:
    text = BASE.replace('airflow_version = "3.0.6"\n', 'airflow_version = "3.0.6"\n' + target_lines)
    path = folder / name
    path.write_text(f"{text}\n[workflows]\n{workflows}", encoding="utf-8")
    write_source_snapshot(path, text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(MigrationFileError) as caught:
        load_migration(path)
    return caught.value.problems


# --- The section ------------------------------------------------------------------------------------------------


def test_paths_are_relative_to_the_file_and_fill_in_the_s3_paths(folder: Path) -> None:
    config = load_migration(
        migration_file(
            folder,
            'dags = "wf/dags"\nrequirements = "wf/requirements.txt"\nplugins = "wf/plugins"\n'
            'startup_script = "wf/startup.sh"\n',
        )
    )
    assert config.workflows == WorkflowsConfig(
        dags=folder / "wf" / "dags",
        requirements=folder / "wf" / "requirements.txt",
        plugins=folder / "wf" / "plugins",
        startup_script=folder / "wf" / "startup.sh",
    )
    assert config.workflows.has_files
    target = config.target
    assert (target.requirements_s3_path, target.plugins_s3_path, target.startup_script_s3_path) == (
        "requirements.txt",
        "plugins.zip",
        "startup.sh",
    )


def test_the_files_own_s3_paths_take_precedence(folder: Path) -> None:
    config = load_migration(
        migration_file(
            folder,
            'requirements = "wf/requirements.txt"\nplugins = "wf/plugins.zip"\n',
            'requirements_s3_path = "config/requirements.txt"\nplugins_s3_path = "config/plugins.zip"\n',
        )
    )
    assert config.target.requirements_s3_path == "config/requirements.txt"
    assert config.target.plugins_s3_path == "config/plugins.zip"
    # Not deployed, so not set: an MWAA environment without a startup script stays without one.
    assert config.target.startup_script_s3_path is None


def test_no_section_deploys_nothing(folder: Path) -> None:
    path = folder / "m1.toml"
    path.write_text(BASE)
    write_source_snapshot(path, BASE)
    config = load_migration(path)
    assert not config.workflows.has_files
    assert config.target.requirements_s3_path is None


@pytest.mark.parametrize(
    ("workflows", "problem"),
    [
        ('dags = "wf/missing"', "workflows.dags: 'wf/missing' is not a DAG folder (looked for "),
        ('dags = "wf/startup.sh"', "workflows.dags: 'wf/startup.sh' is not a DAG folder"),
        ('requirements = "wf/dags"', "workflows.requirements: 'wf/dags' is not a requirements file"),
        ('plugins = "wf/startup.sh"', "workflows.plugins: 'wf/startup.sh' is not a plugins folder or a .zip file"),
        ('startup_script = "wf/none.sh"', "workflows.startup_script: 'wf/none.sh' is not a startup script file"),
        ('dags = "/srv/dags"', "workflows.dags: '/srv/dags' must be relative to the migration file"),
        ("dags = 3", "workflows.dags: must be a string (a path to a DAG folder, relative to the migration file)"),
        (
            'dag = "wf/dags"',
            "workflows.dag: unknown key; did you mean dags? allowed keys in [workflows]: dags, requirements, ",
        ),
        ('allow_existing_bucket = "yes"', "workflows.allow_existing_bucket: must be true or false, got 'yes'"),
    ],
)
def test_bad_paths_and_keys_name_the_key(folder: Path, workflows: str, problem: str) -> None:
    found = problems(migration_file(folder, workflows))
    assert len(found) == 1, found
    assert found[0].startswith(problem), found


def test_a_wrong_workflow_path_is_one_problem_not_also_a_false_one_about_where_it_goes(folder: Path) -> None:
    # The file names a requirements path in the bucket; the local file is missing: one problem, the real one.
    path = migration_file(folder, 'requirements = "wf/missing.txt"\n', 'requirements_s3_path = "reqs/r.txt"\n')

    assert [problem.split(":")[0] for problem in problems(path)] == ["workflows.requirements"]


def test_an_existing_bucket_needs_the_explicit_flag(folder: Path) -> None:
    (found,) = problems(migration_file(folder, 'dags = "wf/dags"\nrequirements = "wf/requirements.txt"\n', BUCKET_LINE))
    assert found == (
        "workflows: target.source_bucket_arn names an existing bucket, and deploying dags, requirements there "
        "overwrites those objects and deletes every object under 'dags/' that workflows.dags does not have; set "
        "workflows.allow_existing_bucket = true to accept that, or remove target.source_bucket_arn to deploy into "
        "a bucket the stack creates"
    )
    allowed = migration_file(
        folder, 'dags = "wf/dags"\nrequirements = "wf/requirements.txt"\nallow_existing_bucket = true\n', BUCKET_LINE
    )
    assert load_migration(allowed).workflows.allow_existing_bucket


def test_the_flag_without_an_existing_bucket_is_refused(folder: Path) -> None:
    assert problems(migration_file(folder, 'dags = "wf/dags"\nallow_existing_bucket = true\n')) == [
        "workflows.allow_existing_bucket: only with target.source_bucket_arn; without it the workflows go to a "
        "bucket the stack creates"
    ]


def test_a_deployed_file_inside_the_pruned_dag_folder_is_refused(folder: Path) -> None:
    found = problems(
        migration_file(
            folder,
            'dags = "wf/dags"\nrequirements = "wf/requirements.txt"\n',
            'dag_s3_path = "airflow/dags/"\nrequirements_s3_path = "airflow/dags/requirements.txt"\n',
        )
    )
    assert found == [
        "target.requirements_s3_path: 'airflow/dags/requirements.txt' is under target.dag_s3_path 'airflow/dags/', "
        "where deploying workflows.dags deletes what the DAG folder does not have; put it outside that folder"
    ]


def test_a_file_under_the_dag_path_is_fine_without_dags_to_sync(folder: Path) -> None:
    path = migration_file(folder, 'requirements = "wf/requirements.txt"\n', 'requirements_s3_path = "dags/r.txt"\n')
    assert load_migration(path).target.requirements_s3_path == "dags/r.txt"


# --- The report: the same from synth and from preflight.py -------------------------------------------------------


def run_app(migration: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"migration": str(migration)}), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def run_preflight(migration: Path | str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(REPO_ROOT)  # paths in the report are relative to where it runs, as from the app
    return preflight_main(["--migration", str(migration)])


LEGACY_REPORT = [
    "tests/fixtures/workflows/legacy_v2/dags/legacy_dag.py:13: warning AIR311 ",
    "tests/fixtures/workflows/legacy_v2/dags/legacy_dag.py:15: error AIR301 `schedule_interval` is removed in "
    "Airflow 3.0: Use `schedule` instead",
    "tests/fixtures/workflows/legacy_v2/dags/legacy_dag.py:19: error AIR302 "
    "`airflow.operators.python_operator.PythonOperator` is moved into `standard` provider in Airflow 3.0",
    "tests/fixtures/workflows/legacy_v2/dags/legacy_dag.py:20: warning AIR312 ",
    "tests/fixtures/workflows/legacy_v2/plugins/hooks/my_hook.py:4: warning PLUGIN001 custom hook ServiceHook is in "
    "the plugins: since Airflow 2.0, operators, hooks and sensors are not loaded through plugins: move it to the "
    "DAGs folder",
    "tests/fixtures/workflows/legacy_v2/plugins/hooks/my_hook.py:8: warning PLUGIN001 ",
    "tests/fixtures/workflows/legacy_v2/plugins/my_plugin.py:8: warning PLUGIN003 ",
    "tests/fixtures/workflows/legacy_v2/plugins/operators/helpers.py: warning PLUGIN002 ",
    "tests/fixtures/workflows/legacy_v2/plugins/operators/my_operator.py:4: warning PLUGIN001 ",
    "tests/fixtures/workflows/legacy_v2/plugins/operators/my_operator.py:8: warning PLUGIN001 ",
    "tests/fixtures/workflows/legacy_v2/requirements.txt:2: error REQ002 constraint "
    "https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt is for Airflow 2.10.3 "
    "on Python 3.11, but MWAA runs Airflow 3.0.6 on Python 3.12",
    "tests/fixtures/workflows/legacy_v2/requirements.txt:4: error REQ003 requirement on apache-airflow itself",
    "pre-flight legacy: 4 errors, 8 warnings for Airflow 3.0.6; synth stops until the errors are fixed",
]


def assert_lines_start_with(output: str, expected: list[str]) -> None:
    lines = output.splitlines()
    assert len(lines) == len(expected), output
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)


def test_every_legacy_problem_has_file_and_line_and_synth_stops_with_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_preflight(PREFLIGHT_FIXTURES / "legacy.toml", monkeypatch) == 1
    report = capsys.readouterr().out
    assert_lines_start_with(report, LEGACY_REPORT)
    result = run_app(PREFLIGHT_FIXTURES / "legacy.toml", tmp_path / "cdk.out")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
    # The same report, after the clone's own warnings (which the pre-flight doesn't print).
    clone_warnings, pre_flight = result.stderr[: -len(report)], result.stderr[-len(report) :]
    assert pre_flight == report
    assert all(line.startswith("legacy.toml: warning: ") for line in clone_warnings.splitlines())


def test_syntax_errors_and_airflow_pins_are_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_preflight(PREFLIGHT_FIXTURES / "broken.toml", monkeypatch) == 1
    output = capsys.readouterr().out
    assert "tests/fixtures/workflows/syntax_error/dags/broken_dag.py:5: error SYNTAX " in output
    assert "fine_dag.py" not in output
    assert (
        "tests/fixtures/workflows/requirements/airflow_pin.txt:2: error REQ003 requirement on apache-airflow" in output
    )
    assert output.endswith(
        "pre-flight broken: 9 errors, 0 warnings for Airflow 3.0.6; synth stops until the errors are fixed\n"
    )


def test_warnings_are_printed_and_synth_goes_on(tmp_path: Path) -> None:
    result = run_app(PREFLIGHT_FIXTURES / "warnings.toml", tmp_path / "cdk.out")
    assert result.returncode == 0, result.stderr
    assert "tests/fixtures/workflows/legacy_v2/plugins/operators/my_operator.py:8: warning PLUGIN001 " in result.stderr
    assert "pre-flight warnings: 0 errors, 6 warnings for Airflow 3.0.6\n" in result.stderr
    assert (tmp_path / "cdk.out" / "warnings-new-environment.template.json").is_file()


def test_every_shipped_migration_is_ready(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # By name: a migration a user adds under migrations/ is checked by its own synth, not by this test.
    assert run_preflight("example-self-managed", monkeypatch) == 0
    assert run_preflight("example", monkeypatch) == 0
    assert capsys.readouterr().out == (
        "pre-flight example-self-managed: no [workflows] to check\n"
        "pre-flight example: workflows ready for Airflow 3.0.6\n"
    )


def test_the_example_has_every_kind_of_workflow_file() -> None:
    workflows = load_migration(REPO_ROOT / "migrations" / "example.toml").workflows
    assert workflows == WorkflowsConfig(
        dags=EXAMPLE_WORKFLOWS / "dags",
        requirements=EXAMPLE_WORKFLOWS / "requirements.txt",
        plugins=EXAMPLE_WORKFLOWS / "plugins",
        startup_script=EXAMPLE_WORKFLOWS / "startup.sh",
    )


def test_a_bad_migration_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = migration_file(tmp_path, 'dags = "nowhere"\n')
    assert run_preflight(path, monkeypatch) == 2
    assert "workflows.dags: 'nowhere' is not a DAG folder" in capsys.readouterr().err


def test_checks_that_cannot_run_exit_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_ruff() -> str:
        raise preflight_checks.RuffNotFoundError("the DAG checks need the `ruff` executable: pip install ruff")

    monkeypatch.setattr(preflight_checks, "_ruff_executable", no_ruff)
    assert run_preflight("example", monkeypatch) == 2
    assert capsys.readouterr().err == (
        "example: the DAG checks could not run: the DAG checks need the `ruff` executable: pip install ruff\n"
    )


def test_two_migrations_may_not_prune_each_others_dags(folder: Path) -> None:
    workflows = 'dags = "wf/dags"\nallow_existing_bucket = true\n'
    migrations = folder / "migrations"
    migrations.mkdir()
    (migrations / "wf").symlink_to(folder / "wf")
    migration_file(migrations, workflows, BUCKET_LINE, name="one.toml")
    two = migration_file(migrations, workflows, BUCKET_LINE + 'dag_s3_path = "dags/team-b"\n', name="two.toml")
    two.write_text(two.read_text().replace('"analytics-v3"', '"analytics-b"'))
    with pytest.raises(MigrationFileError) as caught:
        load_migrations("all", migrations)
    assert caught.value.problems == [
        "workflows.dags: one.toml also syncs DAGs into arn:aws:s3:::existing-airflow-bucket under 'dags/', "
        "overlapping 'dags/team-b/', and each deploy would delete the other's files; give each migration a "
        "target.dag_s3_path of its own"
    ]
    two = migration_file(migrations, workflows, BUCKET_LINE + 'dag_s3_path = "team-b"\n', name="two.toml")
    # One export DAG per old environment: the second migration of the same source uses the first one's.
    two.write_text(two.read_text().replace('"analytics-v3"', '"analytics-b"') + "\n[export]\ndeploy_dag = false\n")
    assert [m.target.dag_s3_path for m in load_migrations("all", migrations)] == ["dags", "team-b"]
