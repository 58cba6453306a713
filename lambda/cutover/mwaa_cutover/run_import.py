"""DAG runs into an Airflow 3 target through the REST API v2, so each DAG's scheduler resumes after the last imported
interval: no re-run, no gap, no backfill of what the import window left out.

How Airflow 3.0.6 picks the next run (read in its source):
- The dag-processor (dag_processing/collection.py, `_get_latest_runs_stmt` and `update_dags`) and the scheduler
  (jobs/scheduler_job_runner.py, after creating or finishing a run) call `DagModel.calculate_dagrun_date_fields(dag,
  dag.get_run_data_interval(last))` (models/dag.py), where `last` is the run with the greatest logical date among the
  DAG's runs of type `scheduled` or `backfill`, never `manual`; `get_run_data_interval` returns the run's stored
  data interval. That interval goes to `timetable.next_dagrun_info(last_automated_data_interval=...)`:
  - CronTriggerTimetable (Airflow 3's `schedule="@daily"` and any cron, unless [scheduler]
    create_cron_data_intervals): the next run fires at `_get_next(last.end)`, the first cron time strictly after the
    interval's end (timetables/trigger.py, `next_dagrun_info`, catchup branch);
  - CronDataIntervalTimetable / DeltaDataIntervalTimetable (Airflow 2's semantics): the next interval starts at
    `_align_to_prev(last.end)` (timetables/interval.py).
  Both read the END of the last automated run's data interval. An Airflow 2 run covering [D, D+1) fired at D+1 and
  the source's next run would fire at D+2. Imported with its logical date D and its data interval [D, D+1) kept as
  they are, the target's next run is [D+1, D+2) fired at D+2 on an interval timetable, and the run fired at
  `_get_next(D+1)` = D+2 on a trigger timetable: each moment fires once, in the source or in the target.
  (A backfill run created by the backfill API for logical date D gets the target timetable's own interval: on a
  trigger timetable that is [D, D], so the next run would fire at D+1 and repeat the source's last run.)
- A run created with `POST /dags/{dag_id}/dagRuns` is `manual` whatever its dates (routes/public/dag_run.py,
  `trigger_dag_run`), so it alone can't move next_dagrun. `POST /backfills` with `reprocess_behavior: completed` over
  exactly [D, D], when a finished run exists at D, clears that run and turns it into a `backfill` run
  (models/backfill.py, `_create_backfill_dag_run` -> `_handle_clear_run`) keeping its run id, data interval, conf and
  note. So the latest finished scheduled run of each DAG (the anchor) is created as a manual run with the source's
  dates, set to its final state, converted by a one-interval backfill, set to its final state again (the clear
  queued it), and the backfill cancelled (PUT /backfills/{id}/cancel completes it); two GETs in between wait until
  the previous write shows (see `_visible`): 7 calls. Every other run is created
  manual with its final state: 2 calls each. The DAG stays paused throughout, so the scheduler starts none of them.
- If the target's schedule has no run at D (a changed schedule), the backfill creates nothing and the PATCH answers
  `run_type: manual`: the DAG is reported in `unguaranteed`.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mwaa_cutover.airflow_api import ApiError, Transport
from mwaa_cutover.row_mapping import (
    NOTE_PREFIX,
    Refusal,
    SourceRun,
    anchor_of,
    iso,
    new_run_id,
    parse_time,
    run_body,
    run_path,
)

PAGE = 100
BACKFILL = "backfill"
# Waiting for the api-server's previous write to show: 0.1 s doubled up to 2 s, 8 looks (about 7 s in all).
VISIBILITY_TRIES = 8
VISIBILITY_DELAY = 0.1
VISIBILITY_MAX_DELAY = 2.0
SERVER_ERROR_TRIES = 3
CONVERSION_TRIES = 2


@dataclass
class DagPlan:
    dag_id: str
    runs: list[SourceRun]
    anchor: str | None = None  # old run id of the run to convert into a backfill run
    skip_reason: str | None = None  # set: no run of this DAG is imported


@dataclass
class Tally:
    """What one import did; carried across slices in the cursor."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    unguaranteed: list[dict[str, str]] = field(default_factory=list)

    def count(self, entity: str, outcome: str, number: int = 1) -> None:
        bucket = self.counts.setdefault(entity, {"created": 0, "updated": 0, "skipped": 0, "refused": 0})
        bucket[outcome] += number

    def refuse(self, entity: str, key: str, reason: str) -> None:
        self.count(entity, "refused")
        self.refused.append({"entity": entity, "key": key, "reason": reason})

    def unguarantee(self, dag_id: str, reason: str) -> None:
        self.unguaranteed.append({"dag_id": dag_id, "reason": reason})


def list_target_dags(transport: Transport) -> dict[str, dict[str, Any]]:
    """Every DAG the target has parsed (GET /dags pages of 100; stale DAGs, whose file is gone, are left out)."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = transport.request("GET", "/dags", query={"limit": PAGE, "offset": offset, "order_by": "dag_id"})
        dags = page.get("dags", []) if isinstance(page, dict) else []
        for dag in dags:
            found[str(dag["dag_id"])] = dag
        offset += len(dags)
        if not dags or offset >= int(page.get("total_entries", 0)):
            return found


def plan_dag(dag_id: str, runs: list[SourceRun], target: dict[str, Any] | None) -> tuple[DagPlan, str | None]:
    """What to import for one DAG, and why its continuity can't be guaranteed (None when it can or doesn't apply)."""
    if target is None:
        reason = "not on the target (no DAG file for it, or not parsed yet): none of its runs imported"
        return DagPlan(dag_id, runs, skip_reason=reason), reason
    if target.get("has_import_errors"):
        reason = "its file has import errors on the target: none of its runs imported"
        return DagPlan(dag_id, runs, skip_reason=reason), reason
    if not target.get("is_paused"):
        reason = "unpaused on the target (its scheduler would run imported runs): pause it and import again"
        return DagPlan(dag_id, runs, skip_reason=reason), reason
    if any(new_run_id(run) is None for run in runs):
        reason = (
            f"its id has {len(dag_id)} characters: /dags/{{dag_id}}/dagRuns/{{run_id}} can't fit InvokeRestApi's "
            "64-character path, so its runs can't be given a state: none imported"
        )
        return DagPlan(dag_id, runs, skip_reason=reason), reason
    final = [run for run in runs if run.final]
    anchor = anchor_of(final)
    summary = str(target.get("timetable_summary") or "None")
    if anchor is None or summary == "None":
        # No automated run to resume after, or no schedule on the target: continuity doesn't apply.
        return DagPlan(dag_id, runs), None
    if summary.lower().startswith(("asset", "dataset")):
        reason = "asset-triggered on the target: runs imported as manual; pending asset events are not imported"
        return DagPlan(dag_id, runs), reason
    if anchor.interval_end is None or anchor.interval_start is None:
        reason = f"its last scheduled run {anchor.run_id} has no data interval: the target can't resume after it"
        return DagPlan(dag_id, runs), reason
    return DagPlan(dag_id, runs, anchor=anchor.run_id), None


class RunImporter:
    def __init__(
        self,
        *,
        transport: Transport,
        tally: Tally,
        run_ids: dict[str, dict[str, str]],
        on_existing: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sleep = sleep
        self.transport = transport
        self.tally = tally
        self.run_ids = run_ids
        self.on_existing = on_existing

    def _call(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A request, again after an HTTP 500 (seen from a busy api-server: "database is locked"): every step here
        is safe to repeat (a repeated POST answers 409, which each caller takes as "already done")."""
        for attempt in range(SERVER_ERROR_TRIES):
            try:
                return self.transport.request(method, path, query=query, body=body)
            except ApiError as error:
                if error.status != 500 or attempt == SERVER_ERROR_TRIES - 1:
                    raise
                self.sleep(_delay(attempt + 3))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- one DAG ---------------------------------------------------------------------------------------------------

    def import_dag(self, plan: DagPlan, step: int, keep_going: Callable[[], bool]) -> int | None:
        """Carry on with one DAG from `step` (0: not started; n: the first n - 1 runs done); the step to resume from
        when `keep_going` says stop, None when the DAG is done."""
        if not keep_going():
            return step
        importable = [run for run in plan.runs if run.final]
        if step == 0:
            for run in plan.runs:
                if not run.final:
                    reason = f"{run.state or 'no state'} on the source, not finished: not imported"
                    self.tally.refuse("dag_run", run.key, reason)
            step = 1
        existing = self._existing_runs(plan.dag_id, importable) if importable else {}
        for index in range(step - 1, len(importable)):
            if not keep_going():
                return index + 1
            self._import_run(importable[index], existing, anchor=importable[index].run_id == plan.anchor)
        return None

    def _existing_runs(self, dag_id: str, runs: list[SourceRun]) -> dict[str, dict[str, Any]]:
        """The target's runs of this DAG between the first and last logical date to import, by run id."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        query = {
            "logical_date_gte": iso(runs[0].logical_date),
            "logical_date_lte": iso(runs[-1].logical_date),
            "order_by": "logical_date",
            "limit": PAGE,
        }
        while True:
            page = self._call("GET", f"/dags/{dag_id}/dagRuns", query={**query, "offset": offset})
            batch = page.get("dag_runs", []) if isinstance(page, dict) else []
            for run in batch:
                found[str(run["dag_run_id"])] = run
            offset += len(batch)
            if not batch or offset >= int(page.get("total_entries", 0)):
                return found

    # --- one run ---------------------------------------------------------------------------------------------------

    def _import_run(self, run: SourceRun, existing: dict[str, dict[str, Any]], *, anchor: bool) -> None:
        new_id = new_run_id(run)
        assert new_id is not None  # plan_dag skipped DAGs whose ids don't fit
        body = run_body(run, new_id)
        if isinstance(body, Refusal):
            self.tally.refuse("dag_run", body.key, body.reason)
            return
        current = existing.get(new_id)
        outcome = "created"
        posted = False
        if current is None:
            clash = next((r for r in existing.values() if _same_time(r.get("logical_date"), run.logical_date)), None)
            if clash is not None:
                reason = f"the target already has run {clash['dag_run_id']} at this logical date"
                self.tally.refuse("dag_run", run.key, reason)
                return
            try:
                current = self._call("POST", f"/dags/{run.dag_id}/dagRuns", body=body)
                posted = True
            except ApiError as error:
                # 409: created by a slice whose write the listing didn't show yet (see _visible); carry on with it.
                current = self._fetch(run, new_id) if error.status == 409 else None
                if current is None:
                    self.tally.refuse("dag_run", run.key, f"creating it failed: HTTP {error.status}: {error.detail}")
                    return
        if not posted:
            ours = current.get("note") == NOTE_PREFIX + run.run_id
            settled = current.get("state") == run.state and (not anchor or current.get("run_type") == BACKFILL)
            if ours and current.get("state") not in ("success", "failed"):
                outcome = "created"  # an import stopped half-way through this run: finish it
            elif settled:
                if anchor:
                    self._cancel_open_backfills(run)
                self._record(run, new_id)
                self.tally.count("dag_run", "skipped")
                return
            elif self.on_existing == "skip":
                self.tally.count("dag_run", "skipped")
                return
            elif self.on_existing == "fail":
                self.tally.refuse("dag_run", run.key, f"run {new_id} exists on the target in another state")
                return
            else:
                outcome = "updated"
        ours = posted or current.get("note") == NOTE_PREFIX + run.run_id
        try:
            if current.get("state") != run.state:
                current = self._set_state(run, new_id)
            if anchor and current.get("run_type") != BACKFILL:
                current = self._convert_to_backfill(run, new_id)
            elif anchor:
                # Converted by an import that stopped before completing its backfill.
                self._cancel_open_backfills(run)
        except ApiError as error:
            reason = f"HTTP {error.status} on {error.method} {error.path}: {error.detail}"
            self.tally.refuse("dag_run", run.key, reason + (self._withdraw(run, new_id) if ours else ""))
            return
        self._record(run, new_id)
        self.tally.count("dag_run", outcome)

    def _fetch(self, run: SourceRun, new_id: str) -> dict[str, Any] | None:
        for attempt in range(VISIBILITY_TRIES):
            try:
                found: dict[str, Any] = self._call("GET", run_path(run.dag_id, new_id))
                return found
            except ApiError as error:
                if error.status != 404:
                    raise
            self.sleep(_delay(attempt))
        return None

    def _record(self, run: SourceRun, new_id: str) -> None:
        self.run_ids.setdefault(run.dag_id, {})[run.run_id] = new_id

    def _set_state(self, run: SourceRun, new_id: str, state: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self._once_visible(
            "PATCH", run_path(run.dag_id, new_id), {"state": state or run.state}
        )
        return answer

    def _once_visible(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(VISIBILITY_TRIES):
            try:
                return self._call(method, path, body=body)
            except ApiError as error:
                # 404 right after the POST: the api-server commits after it has answered (see _visible).
                if error.status != 404 or attempt == VISIBILITY_TRIES - 1:
                    raise
                self.sleep(_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _withdraw(self, run: SourceRun, new_id: str) -> str:
        """A run this import wrote but couldn't finish may be queued (a POST creates it queued, a backfill's clear
        queues it again), and a queued run starts as soon as its DAG is unpaused (3.0.6 DagRun.
        get_queued_dag_runs_to_set_running only joins `is_paused == false`). So it is deleted (DELETE
        /dags/{dag_id}/dagRuns/{run_id}, routes/public/dag_run.py), else marked failed; it stays refused either way.
        Returns what became of it, for the refusal's reason."""
        path = run_path(run.dag_id, new_id)
        try:
            self._once_visible("DELETE", path)
            return "; the run was deleted on the target"
        except ApiError:
            pass
        try:
            self._set_state(run, new_id, state="failed")
            return "; deleting the run failed, it was marked failed on the target"
        except ApiError as error:
            return (
                f"; deleting the run and marking it failed failed too (HTTP {error.status}): it may be queued on "
                f"the target, delete run {new_id} there before unpausing {run.dag_id}"
            )

    def _visible(self, run: SourceRun, new_id: str, check: Callable[[dict[str, Any]], bool]) -> bool:
        """Wait until a GET shows what the previous call wrote. Airflow 3's api-server commits a request's session
        when FastAPI exits its dependencies, which FastAPI 0.118+ does after the response is sent: the next request
        can still read the old row (seen on 3.0.6 with FastAPI 0.165: a PATCH right after the POST answered 404).
        The backfill reads the run before deciding to reprocess it, so it must see the final state."""
        for attempt in range(VISIBILITY_TRIES):
            found = self._call("GET", run_path(run.dag_id, new_id))
            if isinstance(found, dict) and check(found):
                return True
            if attempt < VISIBILITY_TRIES - 1:
                self.sleep(_delay(attempt))
        return False

    def _convert_to_backfill(self, run: SourceRun, new_id: str) -> dict[str, Any]:
        """The anchor: a one-interval backfill that reprocesses the finished run at its logical date, which turns it
        into a `backfill` run (see the module docstring), then its final state again and the backfill completed."""
        body = {
            "dag_id": run.dag_id,
            "from_date": iso(run.logical_date),
            "to_date": iso(run.logical_date),
            "max_active_runs": 1,
            "reprocess_behavior": "completed",
            "run_backwards": False,
        }
        if not self._visible(run, new_id, lambda found: found.get("state") == run.state):
            raise ApiError(status=0, method="GET", path=run_path(run.dag_id, new_id), detail="its state never showed")
        answer: dict[str, Any] = {}
        for _ in range(CONVERSION_TRIES):
            backfill = self._create_backfill(run, body)
            try:
                if self._visible(run, new_id, lambda found: found.get("run_type") == BACKFILL):
                    answer = self._set_state(run, new_id)
            finally:
                self._cancel(int(backfill["id"]))
            if answer.get("run_type") == BACKFILL:
                return answer
            # Not converted: an open backfill left by an attempt that failed half-way (3.0.6 commits the backfill
            # row before converting the run; seen after an HTTP 500 "database is locked"), or no run at D in the
            # target's schedule. Cancelled above; once more with a new one.
        self.tally.unguarantee(
            run.dag_id,
            f"the target's schedule has no run at {iso(run.logical_date)} (the source's last scheduled interval):"
            " it will not resume after it",
        )
        found: dict[str, Any] = self._call("GET", run_path(run.dag_id, new_id))
        return found

    def _create_backfill(self, run: SourceRun, body: dict[str, Any]) -> dict[str, Any]:
        try:
            backfill: dict[str, Any] = self._call("POST", "/backfills", body=body)
            return backfill
        except ApiError as error:
            if error.status != 409:
                raise
            # One open backfill per DAG: ours, when a previous attempt or slice stopped after creating it.
            found = self._open_backfill(run)
            if found is None:
                raise
            return found

    def _open_backfill(self, run: SourceRun) -> dict[str, Any] | None:
        page = self._call("GET", "/backfills", query={"dag_id": run.dag_id, "limit": PAGE})
        for backfill in page.get("backfills", []) if isinstance(page, dict) else []:
            if (
                backfill.get("completed_at") is None
                and _same_time(backfill.get("from_date"), run.logical_date)
                and _same_time(backfill.get("to_date"), run.logical_date)
            ):
                return dict(backfill)
        return None

    def _cancel_open_backfills(self, run: SourceRun) -> None:
        backfill = self._open_backfill(run)
        if backfill is not None:
            self._cancel(int(backfill["id"]))

    def _cancel(self, backfill_id: int) -> None:
        try:
            self._call("PUT", f"/backfills/{backfill_id}/cancel")
        except ApiError as error:
            if error.status != 409:  # 409: already completed
                raise


def _delay(attempt: int) -> float:
    return float(min(VISIBILITY_DELAY * 2**attempt, VISIBILITY_MAX_DELAY))


def _same_time(text: Any, moment: datetime.datetime) -> bool:
    return parse_time(text) == moment
