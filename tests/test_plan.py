"""plan.py on saved get-environment outputs: valid CreateEnvironment requests, translated, with warnings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

import plan

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = [
    ("airflow-1.10.12.json", "analytics.toml"),
    ("airflow-2.10.3.json", "orders.toml"),
    ("airflow-3.0.6.json", "reporting.toml"),
]


def run_plan(capsys: pytest.CaptureFixture[str], source: str, migration: str) -> dict[str, object]:
    code = plan.main(
        ["--source", str(FIXTURES / "get_environment" / source), "--migration", str(FIXTURES / "plan" / migration)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result: dict[str, object] = json.loads(captured.out)
    return result


@pytest.mark.parametrize(("source", "migration"), CASES)
def test_plan_is_a_valid_create_environment_request(
    capsys: pytest.CaptureFixture[str], source: str, migration: str
) -> None:
    result = run_plan(capsys, source, migration)
    assert set(result) == {"settings", "warnings"}
    shape = botocore.session.get_session().get_service_model("mwaa").operation_model("CreateEnvironment").input_shape
    settings = result["settings"]
    assert isinstance(settings, dict) and shape is not None
    report = ParamValidator().validate(settings, shape)
    assert not report.has_errors(), report.generate_report()
    assert settings["AirflowVersion"] == "3.0.6"
    assert settings["MaxWorkers"] == 8
    assert settings["AirflowConfigurationOptions"]["core.default_timezone"] == "utc"
    assert settings["Tags"]["mwaa-migration"] == migration.removesuffix(".toml")


def test_plan_translates_a_1_10_source_for_airflow_3(capsys: pytest.CaptureFixture[str]) -> None:
    source = json.loads((FIXTURES / "get_environment" / "airflow-1.10.12.json").read_text())["Environment"]
    result = run_plan(capsys, "airflow-1.10.12.json", "analytics.toml")
    settings = result["settings"]
    assert isinstance(settings, dict)
    options = settings["AirflowConfigurationOptions"]
    for key, value in source.get("AirflowConfigurationOptions", {}).items():
        if key == "secrets.backend":
            assert "contrib" not in options.get(key, "")
        if key == "scheduler.max_threads":
            assert key not in options and options["dag_processor.parsing_processes"] == value
    assert result["warnings"]


def test_plan_refuses_a_source_that_is_not_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    code = plan.main(
        [
            "--source",
            str(FIXTURES / "get_environment" / "airflow-2.10.3.json"),
            "--migration",
            str(FIXTURES / "plan" / "analytics.toml"),
        ]
    )
    assert code == 1
    assert "plan refused: --source is environment 'orders'" in capsys.readouterr().err


def test_plan_runs_in_under_a_second() -> None:
    start = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "plan.py",
            "--source",
            str(FIXTURES / "get_environment" / "airflow-2.10.3.json"),
            "--migration",
            str(FIXTURES / "plan" / "orders.toml"),
        ],
        cwd=Path(plan.__file__).parent,
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert json.loads(completed.stdout)["settings"]["Name"] == "orders-v3"
    assert elapsed < 1.0
