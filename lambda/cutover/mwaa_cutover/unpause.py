"""The cut-over's last step: unpause on the NEW environment exactly the DAGs that were active on the old one.

"No DAG unpaused on both environments" is checked here, not only implied by the order of the steps: every DAG this
step would unpause must be paused (or gone) on the old environment right now, or nothing is unpaused at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.dag_pausing import NOTHING_SET, add_results, list_dags, listed, set_paused
from mwaa_cutover.pause_states import mark_unpaused, read_pause_states

MIGRATION_DAGS = ("mwaa_migration_export", "mwaa_migration_import", "mwaa_migration_task_logs")


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
    progress: Mapping[str, Any] | None = None,
    more: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Cut-over, last step, after verify and delete_secrets (skipped with `unpause: false`; then the operator unpauses).

    Reads the pause-states record; for the DAGs active on the old environment (minus `exclude`), checks that each is
    paused or absent on OLD (InvariantError naming them otherwise, before any change), records the first unpause
    time (`cutover/<migration>/unpaused.json`, the rollback's "since"), then unpauses them on NEW. A DAG missing on
    the new environment is reported by name and doesn't stop the others. Idempotent: already unpaused ones count as
    `already`.

    In slices: `more()` is asked after each DAG it unpauses; once it answers False the call returns `done: false`,
    and the next call, given this result as `progress`, carries on at its `position` in the (sorted, fixed) list of
    DAGs to unpause, with the counts adding up to those of one call. Every slice checks ALL of them on OLD before it
    changes anything, so the invariant holds across slices as in one call.

    Returns {"done", "position", "slices", "wanted", "checked_on_old", "unpaused", "already", "absent": [ids],
    "absent_count", "unreachable": [ids], "unreachable_count", "new_only" (DAGs only on the new environment: they
    stay paused), "unpaused_at"}; the counts and lists are this and the earlier slices' together."""
    before = dict(progress or {})
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
    unpaused_at = str(before.get("unpaused_at") or "")
    if wanted and not unpaused_at:
        unpaused_at = mark_unpaused(s3, bucket=bucket, migration=migration, unpaused_at=now)
    # The earlier slices' counts, as a set_paused result (its "changed" is this step's "unpaused").
    total = {**NOTHING_SET, **{key: before[key] for key in NOTHING_SET if key in before}}
    total["changed"] = int(before.get("unpaused", 0))
    already = int(before.get("already", 0))
    position = int(before.get("position", 0))
    while position < len(wanted):
        dag_id = wanted[position]
        position += 1
        if dag_id not in new_states:
            total = add_results(total, {**NOTHING_SET, "absent": [dag_id], "absent_count": 1})
        elif not new_states[dag_id].paused:
            already += 1
        else:
            total = add_results(total, set_paused(new, [dag_id], paused=False, tolerate=wanted))
            if more is not None and not more():
                break
    recorded = set(record["dags"])
    return {
        "done": position >= len(wanted),
        "position": position,
        "slices": int(before.get("slices", 0)) + 1,
        "wanted": len(wanted),
        "checked_on_old": sum(1 for dag_id in wanted if dag_id in old_states),
        "unpaused": total["changed"],
        "already": already,
        "absent": total["absent"],
        "absent_count": total["absent_count"],
        "unreachable": total["unreachable"],
        "unreachable_count": total["unreachable_count"],
        "new_only": sum(1 for dag_id in new_states if dag_id not in recorded),
        "unpaused_at": unpaused_at,
    }
