"""plan.py on saved get-environment outputs: valid CreateEnvironment requests, translated, with warnings."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import plan
from tests.clone_fixtures import GET_ENVIRONMENT_DIR, assert_valid_create_environment, load_environment

PLAN_MIGRATIONS = Path(__file__).resolve().parent / "fixtures" / "plan"
CASES = [
    ("airflow-1.10.12.json", "analytics.toml"),
    ("airflow-2.10.3.json", "orders.toml"),
    ("airflow-3.0.6.json", "reporting.toml"),
]


def run_plan(capsys: pytest.CaptureFixture[str], source: str, migration: str) -> dict[str, object]:
    code = plan.main(["--source", str(GET_ENVIRONMENT_DIR / source), "--migration", str(PLAN_MIGRATIONS / migration)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result: dict[str, object] = json.loads(captured.out)
    return result


@pytest.mark.parametrize(("source", "migration"), CASES)
def test_plan_is_a_valid_create_environment_request(
    capsys: pytest.CaptureFixture[str], source: str, migration: str
) -> None:
    result = run_plan(capsys, source, migration)
    assert set(result) == {"settings", "warnings", "changes"}
    settings = result["settings"]
    assert isinstance(settings, dict)
    assert_valid_create_environment(settings)
    assert settings["AirflowVersion"] == "3.0.6"
    assert settings["MaxWorkers"] == 8
    # Every saved source says utc: the file's value must win.
    assert settings["AirflowConfigurationOptions"]["core.default_timezone"] == "europe/dublin"
    assert settings["Tags"]["mwaa-migration"] == migration.removesuffix(".toml")


def test_plan_translates_a_1_10_source_for_airflow_3(capsys: pytest.CaptureFixture[str]) -> None:
    source_options = load_environment("1.10.12")["AirflowConfigurationOptions"]
    assert source_options["scheduler.max_threads"] == "2"
    assert source_options["secrets.backend"].startswith("airflow.contrib.")
    result = run_plan(capsys, "airflow-1.10.12.json", "analytics.toml")
    settings = result["settings"]
    assert isinstance(settings, dict)
    options = settings["AirflowConfigurationOptions"]
    assert "scheduler.max_threads" not in options
    assert options["dag_processor.parsing_processes"] == "2"
    assert options["secrets.backend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert result["warnings"]


def test_plan_refuses_a_source_that_is_not_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    code = plan.main(
        [
            "--source",
            str(GET_ENVIRONMENT_DIR / "airflow-2.10.3.json"),
            "--migration",
            str(PLAN_MIGRATIONS / "analytics.toml"),
        ]
    )
    assert code == 2
    assert "source.snapshot: --source is environment 'orders', and source.environment_name is 'analytics'" in (
        capsys.readouterr().err
    )


def test_plan_with_source_needs_no_committed_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    migration = tmp_path / "orders.toml"
    migration.write_text((PLAN_MIGRATIONS / "orders.toml").read_text())
    assert not (tmp_path / "orders.source.json").exists()

    code = plan.main(["--source", str(GET_ENVIRONMENT_DIR / "airflow-2.10.3.json"), "--migration", str(migration)])

    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["settings"]["Name"] == "orders-v3"


def test_plan_refuses_a_source_for_a_self_managed_migration(capsys: pytest.CaptureFixture[str]) -> None:
    source = str(GET_ENVIRONMENT_DIR / "airflow-2.10.3.json")

    assert plan.main(["--source", source, "--migration", "example-self-managed"]) == 1

    assert capsys.readouterr().err == (
        "plan refused: example-self-managed.toml: source.kind is self-managed; there is no environment to clone\n"
    )


def test_plan_runs_in_under_a_second() -> None:
    """Its CPU time (the child's user + system), not the wall clock: the suite's own Airflow servers share the two
    cores while this runs, which made the wall-clock figure swing from 0.4 s to over 1 s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "plan.py",
            "--source",
            str(GET_ENVIRONMENT_DIR / "airflow-2.10.3.json"),
            "--migration",
            str(PLAN_MIGRATIONS / "orders.toml"),
        ],
        cwd=Path(plan.__file__).parent,
        capture_output=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert json.loads(completed.stdout)["settings"]["Name"] == "orders-v3"
    assert cpu < 1.0


def test_plan_masks_a_fresher_sources_secret_and_refuses_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = json.loads((GET_ENVIRONMENT_DIR / "airflow-2.10.3.json").read_text())
    document["Environment"]["AirflowConfigurationOptions"]["sentry.sentry_dsn"] = (
        "https://hunter2-secret@sentry.example.com/1"
    )
    fresher = tmp_path / "orders.json"
    fresher.write_text(json.dumps(document))

    # Masked as snapshot.py would save it, then refused as synth refuses it: a migration-file error.
    assert plan.main(["--source", str(fresher), "--migration", str(PLAN_MIGRATIONS / "orders.toml")]) == 2

    error = capsys.readouterr().err
    assert "  - sentry.sentry_dsn (from the source) may hold a secret" in error
    assert "hunter2" not in error


def test_plan_defaults_to_the_snapshot_and_explains_each_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--migration", "example"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {row["setting"]: row for row in result["changes"]}

    assert rows["EnvironmentClass"] == {
        "setting": "EnvironmentClass",
        "source": "mw1.large",
        "new": "mw1.medium",
        "why": "set in the migration file",
    }
    assert rows["Schedulers"]["why"] == "cloned"
    assert rows["AirflowConfigurationOptions.smtp.smtp_password"]["new"] is None
    assert rows["AirflowConfigurationOptions.smtp.smtp_password"]["source"] == "<masked by snapshot.py>"
    assert rows["AirflowConfigurationOptions.webserver.expose_config"]["why"] == "not carried over: see warnings"
    assert rows["AirflowConfigurationOptions.api.expose_config"]["why"] == "added for the target version: see warnings"
    assert rows["AirflowConfigurationOptions.core.dags_are_paused_at_creation"]["new"] == "True"
    assert rows["Tags.mwaa-migration"] == {
        "setting": "Tags.mwaa-migration",
        "source": None,
        "new": "example",
        "why": "set in the migration file",
    }


def test_plan_shows_the_deployed_files_and_that_their_versions_come_at_deploy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = plan.main(["--source", str(GET_ENVIRONMENT_DIR / "airflow-1.10.12.json"), "--migration", "example"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    settings = result["settings"]
    assert_valid_create_environment(settings)
    assert {
        key: value for key, value in settings.items() if key.startswith(("Requirements", "Plugins", "Startup"))
    } == {
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": "written-by-the-deployment",
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": "written-by-the-deployment",
        "StartupScriptS3Path": "startup.sh",
        "StartupScriptS3ObjectVersion": "written-by-the-deployment",
    }
    assert (
        "RequirementsS3ObjectVersion, PluginsS3ObjectVersion, StartupScriptS3ObjectVersion marked "
        "written-by-the-deployment are set at deploy time"
    ) in result["warnings"]
