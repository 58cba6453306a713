"""Import an archive into an Airflow 3 environment through its REST API v2: variables, pools and connections with the
bulk PATCH routes, then the DAG runs of a window (run_import.py says how each DAG resumes after its last interval).

Resumable: with a `deadline` (a `clock()` value) the import stops between two calls once it is passed and returns a
`cursor`; `import_archive(..., cursor=that)` carries on, and the slices together end in the same state, with the same
counts, as one uninterrupted import. Every step is also safe to repeat, so starting from an older cursor (a slice
that was killed) does no harm. Nothing here logs or returns a secret value.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mwaa_cutover.airflow_api import ApiError, Transport
from mwaa_cutover.archive import Archive, iter_rows, iter_secret_rows, read_manifest, read_run_ids, write_run_ids
from mwaa_cutover.row_mapping import (
    Refusal,
    SourceRun,
    anchor_of,
    connection_entity,
    entity_key,
    pool_entity,
    select_runs,
    source_run,
    variable_entity,
)
from mwaa_cutover.run_import import DagPlan, RunImporter, Tally, list_target_dags, plan_dag

CURSOR_FORMAT = 1
DEFAULT_WINDOW = datetime.timedelta(days=7)
# Bulk calls: at least 100 entities each (the bar), at most this many, and at most CHUNK_BYTES of JSON per
# entity list (it is sent twice when overwriting). The answer lists keys only, far below InvokeRestApi's 6 MB.
CHUNK_ENTITIES = 250
CHUNK_BYTES = 1_000_000
ENTITIES = ("variable", "pool", "connection")
ROUTES = {"variable": "/variables", "pool": "/pools", "connection": "/connections"}
PHASES = (*ENTITIES, "dag_run")


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    now: datetime.datetime
    on_existing: Literal["overwrite", "skip", "fail"] = "overwrite"
    runs_since: datetime.datetime | None = None  # default: now - 7 days; plus the latest run of each DAG


@dataclass
class ImportResult:
    cursor: dict[str, Any] | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    unguaranteed: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportResult:
        return cls(**{name: data[name] for name in ("cursor", "counts", "refused", "unguaranteed", "calls")})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ImportResult:
        return cls.from_dict(json.loads(text))


class _Stop(Exception):  # noqa: N818 - control flow, not an error
    """The deadline passed: the cursor already says where to carry on."""


def import_archive(
    *,
    transport: Transport,
    archive: Archive,
    options: ImportOptions,
    cursor: Mapping[str, Any] | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportResult:
    if options.on_existing not in ("overwrite", "skip", "fail"):
        raise ValueError("on_existing must be overwrite, skip or fail")
    if transport.api_version != "v2":
        raise ValueError(f"{transport.description} serves API {transport.api_version}: this importer is for Airflow 3")
    state: dict[str, Any] = dict(cursor) if cursor else {"format": CURSOR_FORMAT, "phase": 0, "offset": 0}
    if state.get("format") != CURSOR_FORMAT:
        raise ValueError("the cursor is not one this importer wrote")
    calls_before = transport.calls
    tally = Tally(**state.get("tally", {}))
    job = _Job(transport, archive, options, state, tally, deadline, clock, progress)
    try:
        job.run()
        finished = True
    except _Stop:
        finished = False
    state["tally"] = asdict(tally)
    calls = int(state.get("calls", 0)) + transport.calls - calls_before
    state["calls"] = calls
    return ImportResult(
        cursor=None if finished else json.loads(json.dumps(state)),
        counts=tally.counts,
        refused=tally.refused,
        unguaranteed=tally.unguaranteed,
        calls=calls,
    )


class _Job:
    def __init__(
        self,
        transport: Transport,
        archive: Archive,
        options: ImportOptions,
        state: dict[str, Any],
        tally: Tally,
        deadline: float | None,
        clock: Callable[[], float],
        progress: Callable[[str, int, int], None] | None,
    ) -> None:
        self.transport = transport
        self.archive = archive
        self.options = options
        self.state = state
        self.tally = tally
        self.deadline = deadline
        self.clock = clock
        self.progress = progress
        self.manifest = read_manifest(archive)

    def keep_going(self) -> bool:
        return self.deadline is None or self.clock() < self.deadline

    def _check_deadline(self) -> None:
        if not self.keep_going():
            raise _Stop

    def run(self) -> None:
        while self.state["phase"] < len(PHASES):
            phase = PHASES[self.state["phase"]]
            if phase == "dag_run":
                self._runs()
            else:
                self._entities(phase)
            self.state.update(phase=self.state["phase"] + 1, offset=0)

    # --- variables, pools, connections ------------------------------------------------------------------------------

    def _rows(self, entity: str) -> Iterator[dict[str, Any]]:
        if entity == "pool":
            return iter_rows(self.archive, self.manifest, "slot_pool")
        return iter_secret_rows(self.archive, self.manifest, "variable" if entity == "variable" else "connection")

    def _total(self, entity: str) -> int:
        section, name = ("tables", "slot_pool") if entity == "pool" else ("secrets", entity)
        return int(self.manifest.get(section, {}).get(name, {}).get("rows", 0))

    def _entities(self, entity: str) -> None:
        mapper = {"variable": variable_entity, "pool": pool_entity, "connection": connection_entity}[entity]
        self.tally.counts.setdefault(entity, {"created": 0, "updated": 0, "skipped": 0, "refused": 0})
        total = self._total(entity)
        start = int(self.state["offset"])
        chunk: list[dict[str, Any] | Refusal] = []
        size = 0
        after = start
        for index, row in enumerate(self._rows(entity)):
            if index < start:
                continue
            mapped = mapper(row)
            encoded = 0 if isinstance(mapped, Refusal) else len(json.dumps(mapped))
            if len(chunk) >= CHUNK_ENTITIES or (chunk and size + encoded > CHUNK_BYTES):
                self._send_chunk(entity, chunk, index, total)
                chunk, size = [], 0
            chunk.append(mapped)
            size += encoded
            after = index + 1
        if chunk:
            self._send_chunk(entity, chunk, after, total)

    def _send_chunk(self, entity: str, chunk: list[dict[str, Any] | Refusal], after: int, total: int) -> None:
        """Send the rows before index `after` not yet sent; the cursor then points at `after`. Nothing is counted
        before the deadline check, so a slice that stops here leaves no trace of this chunk."""
        self._check_deadline()
        entities = [item for item in chunk if not isinstance(item, Refusal)]
        for item in chunk:
            if isinstance(item, Refusal):
                self.tally.refuse(entity, item.key, item.reason)
        if entities:
            self._bulk(entity, entities)
        self.state["offset"] = after
        if self.progress:
            self.progress(entity, min(after, total), total)

    def _bulk(self, entity: str, entities: list[dict[str, Any]]) -> None:
        """One bulk PATCH (3.0.6 routes/public/{variables,pools,connections}.py, services/public/*.py): `update` with
        action_on_non_existence skip (the existing ones: overwritten), then `create` with action_on_existence skip
        (the new ones). Skip and fail modes send only the create; what it didn't create exists already."""
        keys = [entity_key(item) for item in entities]
        actions: list[dict[str, Any]] = []
        if self.options.on_existing == "overwrite":
            actions.append({"action": "update", "entities": entities, "action_on_non_existence": "skip"})
        actions.append({"action": "create", "entities": entities, "action_on_existence": "skip"})
        try:
            answer = self.transport.request("PATCH", ROUTES[entity], body={"actions": actions})
        except ApiError as error:
            if error.status < 400 or error.status >= 500:
                raise
            if len(entities) > 1:  # one bad entity rejects the whole body: halve until it is found
                middle = len(entities) // 2
                self._bulk(entity, entities[:middle])
                self._bulk(entity, entities[middle:])
                return
            self.tally.refuse(entity, keys[0], f"HTTP {error.status}: {error.detail}")
            return
        answer = answer if isinstance(answer, dict) else {}
        created = set(_successes(answer, "create"))
        updated = set(_successes(answer, "update")) - created
        statuses = sorted({str(e.get("status_code", "?")) for a in answer.values() if a for e in a.get("errors", [])})
        for key in keys:
            if key in created:
                self.tally.count(entity, "created")
            elif key in updated:
                self.tally.count(entity, "updated")
            elif statuses:
                self.tally.refuse(entity, key, f"the target refused the bulk action (HTTP {', '.join(statuses)})")
            elif self.options.on_existing == "skip":
                self.tally.count(entity, "skipped")
            elif self.options.on_existing == "fail":
                self.tally.refuse(entity, key, "exists on the target (on_existing=fail)")
            else:
                self.tally.refuse(entity, key, "neither created nor updated by the target")

    # --- DAG runs ---------------------------------------------------------------------------------------------------

    def _runs(self) -> None:
        since = self.options.runs_since or self.options.now - DEFAULT_WINDOW
        rows = (source_run(row) for row in iter_rows(self.archive, self.manifest, "dag_run"))
        selected = select_runs((run for run in rows if run is not None), since)
        plans = self._plans(selected)
        run_ids = read_run_ids(self.archive)
        importer = RunImporter(
            transport=self.transport, tally=self.tally, run_ids=run_ids, on_existing=self.options.on_existing
        )
        total = sum(len(plan.runs) for plan in plans)
        done = sum(len(plan.runs) for plan in plans[: self.state.get("dag_index", 0)])
        self.tally.counts.setdefault("dag_run", {"created": 0, "updated": 0, "skipped": 0, "refused": 0})
        try:
            while self.state.get("dag_index", 0) < len(plans):
                plan = plans[self.state.get("dag_index", 0)]
                if plan.skip_reason is None:
                    resume = importer.import_dag(plan, int(self.state.get("run_index", 0)), self.keep_going)
                    if resume is not None:
                        self.state["run_index"] = resume
                        raise _Stop
                elif self.state.get("run_index", 0) == 0:
                    self.tally.count("dag_run", "refused", len(plan.runs))
                    self.tally.refused.append(
                        {"entity": "dag_run", "key": plan.dag_id, "reason": f"{len(plan.runs)} runs not imported"}
                    )
                done += len(plan.runs)
                self.state.update(dag_index=self.state.get("dag_index", 0) + 1, run_index=0)
                if self.progress:
                    self.progress("dag_run", done, total)
        finally:
            # Progressively, so a resumed or repeated import keeps the map (the log copy names streams with it).
            if run_ids:
                write_run_ids(self.archive, run_ids)

    def _plans(self, selected: dict[str, list[SourceRun]]) -> list[DagPlan]:
        """Each DAG's plan. The target is checked once per import; the cursor keeps only the exceptions (skipped
        DAGs with their reason, DAGs without an anchor), so it stays small with thousands of DAGs (Step Functions
        passes at most 256 KB between states); the anchor itself is recomputed from the archive."""
        if "skip" not in self.state:
            self._check_deadline()
            target = list_target_dags(self.transport) if selected else {}
            skip: dict[str, str] = {}
            no_anchor: list[str] = []
            for dag_id, runs in selected.items():
                plan, reason = plan_dag(dag_id, runs, target.get(dag_id))
                if reason:
                    self.tally.unguarantee(dag_id, reason)
                if plan.skip_reason:
                    skip[dag_id] = plan.skip_reason
                elif plan.anchor is None:
                    no_anchor.append(dag_id)
            self.state.update(skip=skip, no_anchor=no_anchor)
        skipped: dict[str, str] = self.state["skip"]
        anchorless = set(self.state["no_anchor"])
        plans = []
        for dag_id, runs in selected.items():
            anchor = anchor_of(run for run in runs if run.final)
            plans.append(
                DagPlan(
                    dag_id,
                    runs,
                    anchor=None if dag_id in anchorless or anchor is None else anchor.run_id,
                    skip_reason=skipped.get(dag_id),
                )
            )
        return plans


def _successes(answer: Mapping[str, Any], action: str) -> list[str]:
    part = answer.get(action)
    return [str(key) for key in part.get("success", [])] if isinstance(part, dict) else []
