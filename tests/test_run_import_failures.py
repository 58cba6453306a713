"""run_import when the target fails half-way through a run: a run created by the POST whose state PATCH then fails
would stay `queued`, and a queued run starts as soon as its DAG is unpaused (Airflow 3.0.6's
`DagRun.get_queued_dag_runs_to_set_running` joins `is_paused == false`). The importer deletes it (else marks it
failed) and keeps it refused. The answers are scripted: what matters here is which calls the importer makes after
the failure, which a real api-server can't be made to fail on cue."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from mwaa_cutover.airflow_api import ApiError
from mwaa_cutover.row_mapping import SourceRun
from mwaa_cutover.run_import import SERVER_ERROR_TRIES, VISIBILITY_TRIES, DagPlan, RunImporter, Tally

DAG = "etl_daily"
LOGICAL = datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC)
RUN = SourceRun(DAG, "manual__one", "manual", "success", LOGICAL, None, None, {})
PATH = f"/dags/{DAG}/dagRuns/manual__one"
Answer = Callable[[Any], Any]


def fails(status: int) -> Answer:
    def answer(_body: Any) -> Any:
        raise ApiError(status=status, method="?", path="?", detail=f"scripted {status}")

    return answer


class Scripted:
    """A Transport whose answers are set per (method, path), optionally per the body's `state`; it keeps every call."""

    api_version = "v2"
    description = "scripted"

    def __init__(self, answers: Mapping[tuple[str, str], Answer]) -> None:
        self.answers = dict(answers)
        self.calls = 0
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        self.calls += 1
        self.requests.append((method, path, body))
        return self.answers[(method, path)](body)


def import_one(answers: Mapping[tuple[str, str], Answer]) -> tuple[Scripted, Tally, dict[str, dict[str, str]]]:
    base: dict[tuple[str, str], Answer] = {
        ("GET", f"/dags/{DAG}/dagRuns"): lambda _b: {"dag_runs": [], "total_entries": 0},
        ("POST", f"/dags/{DAG}/dagRuns"): lambda body: {"dag_run_id": body["dag_run_id"], "state": "queued"},
    }
    transport = Scripted({**base, **answers})
    tally, run_ids = Tally(), dict[str, dict[str, str]]()
    importer = RunImporter(
        transport=transport, tally=tally, run_ids=run_ids, on_existing="overwrite", sleep=lambda _s: None
    )
    assert importer.import_dag(DagPlan(DAG, [RUN]), 0, lambda: True) is None
    return transport, tally, run_ids


def patch_state(failing: Answer) -> Answer:
    """PATCH of the run: the import's final state fails; `failed` (the fallback) succeeds."""

    def answer(body: Any) -> Any:
        if body["state"] == "failed":
            return {"dag_run_id": "manual__one", "state": "failed"}
        return failing(body)

    return answer


def test_a_run_whose_state_patch_fails_is_deleted_and_stays_refused() -> None:
    deleted: list[str] = []
    transport, tally, run_ids = import_one(
        {("PATCH", PATH): patch_state(fails(500)), ("DELETE", PATH): lambda _b: deleted.append(PATH)}
    )
    methods = [(method, path) for method, path, _body in transport.requests]
    assert methods.count(("PATCH", PATH)) == SERVER_ERROR_TRIES  # retried, then given up
    assert methods[-1] == ("DELETE", PATH) and deleted == [PATH]
    assert tally.counts["dag_run"] == {"created": 0, "updated": 0, "skipped": 0, "refused": 1}
    (refusal,) = tally.refused
    assert refusal["key"] == f"{DAG}/manual__one"
    assert refusal["reason"].startswith("HTTP 500 on ") and refusal["reason"].endswith(
        "the run was deleted on the target"
    )
    assert run_ids == {}  # not in the run-id map: nothing imported for it


def test_when_the_delete_fails_too_the_run_is_marked_failed() -> None:
    transport, tally, _run_ids = import_one({("PATCH", PATH): patch_state(fails(400)), ("DELETE", PATH): fails(403)})
    bodies = [body for method, path, body in transport.requests if (method, path) == ("PATCH", PATH)]
    assert bodies == [{"state": "success"}, {"state": "failed"}]
    assert tally.refused[0]["reason"].endswith("deleting the run failed, it was marked failed on the target")


def test_when_nothing_works_the_refusal_says_to_delete_the_run_before_unpausing() -> None:
    transport, tally, _run_ids = import_one({("PATCH", PATH): fails(404), ("DELETE", PATH): fails(404)})
    methods = [(method, path) for method, path, _body in transport.requests]
    # 404s are taken for "not visible yet" and looked at again before giving up, for each of the three writes.
    assert methods.count(("DELETE", PATH)) == VISIBILITY_TRIES
    assert methods.count(("PATCH", PATH)) == 2 * VISIBILITY_TRIES
    reason = tally.refused[0]["reason"]
    assert "it may be queued on the target, delete run manual__one there before unpausing etl_daily" in reason
    assert tally.counts["dag_run"]["refused"] == 1
