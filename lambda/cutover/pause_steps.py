"""The cut-over's last steps on pause states: unpause on the new environment (a cut-over's end) and rollback."""

from __future__ import annotations

from typing import Any

import pause_states
import rollback as rolling_back
import unpause as unpausing
from dag_pausing import LISTED, pause_all
from import_steps import cursor_key, held_back
from step_runtime import Runtime


def unpause(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Unpauses the recorded active DAGs on the new environment, except, on an Airflow 3 target, those this
    execution's import named (refused runs, unguaranteed): even with `force` they stay paused, named in
    `kept_paused` with the reason, for the operator to look at."""
    values, s3 = event["input"], runtime.s3()
    held: dict[str, str] = {}
    if runtime.new_api_version == "v2":
        key = cursor_key(runtime, str(values["export_id"]), values["started_at"])
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
    )
    kept_paused = [{"dag_id": dag_id, "reason": held[dag_id]} for dag_id in sorted(held)]
    return {**result, "kept_paused": kept_paused[:LISTED], "kept_paused_count": len(kept_paused)}


def rollback(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """Pauses the new environment and gives the old one its recorded states back. Where the freeze was the
    operator's, the machine has no record and can't reach the old environment: it pauses the new one only."""
    force = bool(event["input"]["force"])
    if runtime.operator_export:
        paused = pause_all(runtime.new())
        return {"new": {"dags": paused["dags"], "patched": paused["patched"]}, "old": "the operator's to restore"}
    return rolling_back.rollback(
        runtime.new(), runtime.old(), runtime.s3(), bucket=runtime.bucket, migration=runtime.migration, force=force
    )
