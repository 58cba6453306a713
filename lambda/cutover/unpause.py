"""The cut-over's last step: unpause on the NEW environment exactly the DAGs that were active on the old one.

"No DAG unpaused on both environments" is checked here, not only implied by the order of the steps: every DAG this
step would unpause must be paused (or gone) on the old environment right now, or nothing is unpaused at all.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from airflow_api import Transport
from dag_pausing import list_dags, listed, set_paused
from pause_states import mark_unpaused, read_pause_states

MIGRATION_DAGS = ("mwaa_migration_export", "mwaa_migration_import")


class InvariantError(Exception):
    """A step would leave a DAG unpaused on both environments; names the DAGs and changes nothing."""


def to_unpause(record: dict[str, Any], *, exclude: Collection[str]) -> list[str]:
    """The recorded DAGs that were active and unpaused on the old environment, minus `exclude`."""
    inactive = set(record["inactive"])
    return sorted(
        dag_id
        for dag_id, paused in record["dags"].items()
        if not paused and dag_id not in inactive and dag_id not in exclude
    )


def unpaused_on(transport: Transport, dag_ids: Collection[str]) -> list[str]:
    """Those of `dag_ids` that are unpaused on the environment now (absent ones aren't)."""
    states = list_dags(transport)
    return sorted(dag_id for dag_id in dag_ids if dag_id in states and not states[dag_id].paused)


def unpause_new(
    new: Transport,
    old: Transport,
    s3: Any,
    *,
    bucket: str,
    migration: str,
    now: str,
    exclude: Collection[str] = MIGRATION_DAGS,
) -> dict[str, Any]:
    """Cut-over, last step, after verify and delete_secrets (skipped with `unpause: false`; then the operator unpauses).

    Reads the pause-states record; for the DAGs active on the old environment (minus `exclude`), checks that each is
    paused or absent on OLD (InvariantError naming them otherwise, before any change), records the first unpause
    time (`cutover/<migration>/unpaused.json`, the rollback's "since"), then unpauses them on NEW. A DAG missing on
    the new environment is reported by name and doesn't stop the others. Idempotent: already unpaused ones count as
    `already`.

    Returns {"wanted", "checked_on_old", "unpaused", "already", "absent": [ids], "absent_count",
    "unreachable": [ids], "unreachable_count", "new_only" (DAGs only on the new environment: they stay paused),
    "unpaused_at"}."""
    record = read_pause_states(s3, bucket=bucket, migration=migration)
    wanted = to_unpause(record, exclude=exclude)
    old_states = list_dags(old)
    both = sorted(dag_id for dag_id in wanted if dag_id in old_states and not old_states[dag_id].paused)
    if both:
        raise InvariantError(
            f"{len(both)} DAGs are unpaused on the old environment ({old.description}); unpausing them on the new "
            f"one would run them twice, so nothing was unpaused: {', '.join(listed(both))}. Pause them there first."
        )
    new_states = list_dags(new)
    present = [dag_id for dag_id in wanted if dag_id in new_states]
    absent = [dag_id for dag_id in wanted if dag_id not in new_states]
    changing = [dag_id for dag_id in present if new_states[dag_id].paused]
    unpaused_at = mark_unpaused(s3, bucket=bucket, migration=migration, unpaused_at=now) if wanted else ""
    result = set_paused(new, changing, paused=False, tolerate=wanted)
    recorded = set(record["dags"])
    return {
        "wanted": len(wanted),
        "checked_on_old": sum(1 for dag_id in wanted if dag_id in old_states),
        "unpaused": result["changed"],
        "already": len(present) - len(changing),
        "absent": listed(absent + result["absent"]),
        "absent_count": len(absent) + result["absent_count"],
        "unreachable": result["unreachable"],
        "unreachable_count": result["unreachable_count"],
        "new_only": sum(1 for dag_id in new_states if dag_id not in recorded),
        "unpaused_at": unpaused_at,
    }
