"""The cut-over's last steps on pause states: unpause on the new environment (a cut-over's end) and rollback.

Both change one DAG per call, so with hundreds of DAGs one Lambda call could run out of time (and a restarted
cut-over would export and import again): each call works until the Runtime's deadline and returns `done: false`
with its progress, which the state machine hands to the next call (its `progress`), until `done`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mwaa_cutover import pause_states
from mwaa_cutover import rollback as rolling_back
from mwaa_cutover import unpause as unpausing
from mwaa_cutover.bucket_keys import cursor_key
from mwaa_cutover.cutover_input import parse_time
from mwaa_cutover.dag_pausing import LISTED, pause_all
from mwaa_cutover.import_steps import held_back
from mwaa_cutover.polling import MAX_SLICES
from mwaa_cutover.step_runtime import Runtime


class SliceLimitError(Exception):
    """The unpause or the rollback is not done after MAX_SLICES slices; says how far it got and what to do."""


def _more(runtime: Runtime) -> Callable[[], bool]:
    deadline = runtime.deadline()
    return lambda: runtime.monotonic() < deadline


def _progress(event: dict[str, Any]) -> dict[str, Any]:
    """The previous slice's result (the state machine's first one is {"done": false, "position": 0, ...})."""
    progress = event.get("progress")
    return dict(progress) if isinstance(progress, dict) else {}


def unpause(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Unpauses the recorded active DAGs on the new environment, except, on an Airflow 3 target, those this
    execution's import named (refused runs, unguaranteed): even with `force` they stay paused, named in
    `kept_paused` with the reason, for the operator to look at."""
    values, s3 = event["input"], runtime.s3()
    held: dict[str, str] = {}
    if runtime.new_api_version == "v2":
        key = cursor_key(runtime.migration, str(values["export_id"]), parse_time(values["started_at"]))
        kept = pause_states.read_json(s3, bucket=runtime.bucket, key=key)
        if kept is None or kept["result"]["cursor"] is not None:
            raise pause_states.RecordError(
                f"s3://{runtime.bucket}/{key}: no finished import by this execution, so nothing was unpaused"
            )
        held = held_back(kept["result"])
    result = unpausing.unpause_new(
        runtime.new(),
        runtime.old(),
        s3,
        bucket=runtime.bucket,
        migration=runtime.migration,
        now=runtime.now().isoformat(),
        exclude={*unpausing.MIGRATION_DAGS, *held},
        progress=_progress(event),
        more=_more(runtime),
    )
    if not result["done"] and result["slices"] >= MAX_SLICES:
        raise SliceLimitError(
            f"the unpause is not done after {MAX_SLICES} slices: {result['position']} of {result['wanted']} DAGs "
            f"handled ({result['unpaused']} unpaused); the others stay paused on the new environment. Unpause them "
            "yourself, or start the cut-over again (it exports and imports again; the unpause skips DAGs already "
            "unpaused)"
        )
    kept_paused = [{"dag_id": dag_id, "reason": held[dag_id]} for dag_id in sorted(held)]
    return {**result, "kept_paused": kept_paused[:LISTED], "kept_paused_count": len(kept_paused)}


def rollback(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Pauses the new environment and gives the old one its recorded states back. Where the freeze was the
    operator's, the machine has no record and can't reach the old environment: it pauses the new one only."""
    force = bool(event["input"]["force"])
    if runtime.operator_export:
        paused = pause_all(runtime.new())
        return {
            "done": True,
            "new": {"dags": paused["dags"], "patched": paused["patched"]},
            "old": "the operator's to restore",
        }
    result = rolling_back.rollback(
        runtime.new(),
        runtime.old(),
        runtime.s3(),
        bucket=runtime.bucket,
        migration=runtime.migration,
        force=force,
        progress=_progress(event),
        more=_more(runtime),
    )
    if not result["done"] and result["slices"] >= MAX_SLICES:
        raise SliceLimitError(
            f"the rollback is not done after {MAX_SLICES} slices ({result['paused']} DAGs paused and "
            f"{result['unpaused']} unpaused on the old environment so far; the new one is paused): start the "
            "rollback again, it carries on (DAGs already restored count as unchanged)"
        )
    return result
