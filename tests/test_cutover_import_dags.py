"""`cutover.py import`'s order of the migration DAGs, with the target, the archive and the DAG runs stood in for: on
Airflow 2 the import DAG, then the task-log DAG; on Airflow 3 the REST import, then the task-log DAG; each with its
own conf, the task-log DAG left out with --no-logs and after an import DAG run that failed. The real runs:
tests/test_cutover_cli.py (REST), tests/test_import_dag.py (the DAGs in real Airflow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import cutover
from mwaa_cutover import archive, dag_runs, rest_import
from mwaa_migration.cutover import target as cutover_target


@dataclass
class Recorded:
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)


@dataclass
class RestResult:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    calls: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)
    unguaranteed: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Recorded:
    api_version, refused = request.param
    found = Recorded()

    def run_to_completion(transport: Any, dag_id: str, *, conf: dict[str, Any], **_: Any) -> str:
        found.runs.append((dag_id, conf))
        return found.states.get(dag_id, "success")

    def import_archive(**_: Any) -> RestResult:
        found.runs.append(("REST import", {}))
        return RestResult(refused=[{"entity": "pool", "key": "p", "reason": "r"}] if refused else [])

    monkeypatch.setattr(cutover, "_session", lambda: None)
    monkeypatch.setattr(cutover_target, "open_archive", lambda *_, **__: type("A", (), {"description": "a"}))
    monkeypatch.setattr(archive, "read_manifest", lambda _: {"export_id": "20261128T134500Z"})
    monkeypatch.setattr(
        cutover_target,
        "target",
        lambda *_, **__: cutover_target.Target(None, api_version, "t"),  # type: ignore[arg-type]
    )
    monkeypatch.setattr(dag_runs, "run_to_completion", run_to_completion)
    monkeypatch.setattr(rest_import, "import_archive", import_archive)
    return found


EXPORT = "20261128T134500Z"
LOG_CONF = {"export_id": EXPORT, "log_days": 3, "log_states": ["success", "failed"]}
ARGS = ["import", "--migration", "example", "--log-days", "3", "--log-states", "success, failed"]


@pytest.mark.parametrize("recorded", [("v1", False)], indirect=True)
def test_airflow_2_runs_the_import_dag_then_the_task_log_dag(recorded: Recorded) -> None:
    assert cutover.main([*ARGS, "--on-existing", "skip"]) == 0
    assert recorded.runs == [
        ("mwaa_migration_import", {"export_id": EXPORT, "on_existing": "skip"}),
        ("mwaa_migration_task_logs", LOG_CONF),
    ]


@pytest.mark.parametrize("recorded", [("v1", False)], indirect=True)
def test_airflow_2_copies_no_logs_after_a_failed_import_nor_with_no_logs(recorded: Recorded) -> None:
    assert cutover.main([*ARGS, "--no-logs"]) == 0
    assert [dag for dag, _ in recorded.runs] == ["mwaa_migration_import"]
    recorded.runs.clear()
    recorded.states["mwaa_migration_import"] = "failed"
    assert cutover.main(ARGS) == 1
    assert [dag for dag, _ in recorded.runs] == ["mwaa_migration_import"]


@pytest.mark.parametrize("recorded", [("v2", True)], indirect=True)
def test_airflow_3_runs_the_rest_import_then_the_task_log_dag_refusals_or_not(recorded: Recorded) -> None:
    # A refused entity fails the command, but the REST import wrote the run-id map: the logs are still copied.
    assert cutover.main(ARGS) == 1
    assert recorded.runs == [("REST import", {}), ("mwaa_migration_task_logs", LOG_CONF)]
    recorded.runs.clear()
    recorded.states["mwaa_migration_task_logs"] = "failed"
    assert cutover.main([*ARGS, "--no-logs"]) == 1
    assert recorded.runs == [("REST import", {})]
