"""Rollback: pause every DAG on the new environment, then give the old one back exactly its recorded pause states.

The old environment's scheduler resumes each DAG after its own last run there; whatever the new environment ran
in between, the old one would run again. So runs the new environment started since the cut-over are listed, and
the rollback needs `force` to go on over them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from airflow_api import Transport
from dag_pausing import batch_list, list_dags, listed, pause_all, set_paused
from pause_states import archive_records, cutover_since, read_pause_states
from unpause import MIGRATION_DAGS, InvariantError, unpaused_on

FINAL_RUN_STATES = frozenset({"success", "failed"})


class RollbackRefusedError(Exception):
    """The new environment has runs of its own since the cut-over and `force` is off; names them (ids only)."""


def rollback_check(
    new: Transport,
    *,
    since: str,
    exclude: Collection[str] = MIGRATION_DAGS,
    imported: Mapping[str, Collection[str]] | None = None,
) -> dict[str, Any]:
    """Rollback, after the new environment is paused (also usable alone, as a dry run): the runs the NEW
    environment started at or after `since` (ISO-8601 with offset), minus the migration's own DAGs and the runs the
    importer created (`imported`: {dag_id: new run ids}, from run-ids.json; marking an imported run's state sets its
    end date to the import's time, so an end-date filter alone would count them).

    Returns {"runs", "completed", "running", "dags": [first 20 ids], "dag_count", "listed": ["dag_id/run_id", ...
    first 20]}."""
    known = {dag_id: set(ids) for dag_id, ids in (imported or {}).items()}
    found: list[tuple[str, str, str]] = []
    for item in batch_list(new, "/dags/~/dagRuns/list", "dag_runs", {"start_date_gte": since}):
        dag_id, run_id = str(item["dag_id"]), str(item["dag_run_id"])
        if dag_id in exclude or run_id in known.get(dag_id, ()):
            continue
        found.append((dag_id, run_id, str(item["state"])))
    dags = {dag_id for dag_id, _run, _state in found}
    return {
        "runs": len(found),
        "completed": sum(1 for *_ids, state in found if state in FINAL_RUN_STATES),
        "running": sum(1 for *_ids, state in found if state not in FINAL_RUN_STATES),
        "dags": listed(dags),
        "dag_count": len(dags),
        "listed": listed(f"{dag_id}/{run_id}" for dag_id, run_id, _state in found),
    }


def rollback(
    new: Transport,
    old: Transport,
    s3: Any,
    *,
    bucket: str,
    migration: str,
    force: bool = False,
    exclude: Collection[str] = MIGRATION_DAGS,
    imported: Mapping[str, Collection[str]] | None = None,
) -> dict[str, Any]:
    """Rollback mode, one step (idempotent: a restarted execution does it again and changes nothing more):
    1. pauses every DAG on NEW (bulk route; PauseError naming any that stays unpaused);
    2. rollback_check since the first unpause (`unpaused.json`), else since the record: RollbackRefusedError listing the
       runs when there are any and `force` is off;
    3. checks again that every DAG about to be unpaused on OLD is paused or absent on NEW (InvariantError);
    4. sets each recorded DAG on OLD back to its recorded state (paused ones stay or become paused, active ones are
       unpaused), except `exclude`. DAGs the record has but OLD no longer has are reported by name;
    5. moves the record and the marker to history (pause_states.archive_records) unless a DAG was unreachable.

    Returns {"new": {dags, patched}, "runs_since": rollback_check result, "forced", "unpaused", "paused",
    "unchanged", "absent": [ids], "absent_count", "unreachable": [ids], "unreachable_count", "history": prefix or
    None}."""
    record = read_pause_states(s3, bucket=bucket, migration=migration)
    paused_new = pause_all(new)
    check = rollback_check(new, since=cutover_since(s3, bucket=bucket, migration=migration), exclude=exclude,
                           imported=imported)  # fmt: skip
    if check["runs"] and not force:
        more = check["runs"] - len(check["listed"])
        raise RollbackRefusedError(
            f"the new environment ran {check['runs']} runs of its own since the cut-over ({check['completed']} "
            f"completed, {check['running']} running) in {check['dag_count']} DAGs: {', '.join(check['listed'])}"
            + (f" and {more} more" if more > 0 else "")
            + ". The old environment would run those intervals again; start the rollback with force: true to go on."
        )
    recorded: dict[str, bool] = {dag_id: paused for dag_id, paused in record["dags"].items() if dag_id not in exclude}
    old_states = list_dags(old)
    absent = sorted(dag_id for dag_id in recorded if dag_id not in old_states)
    to_unpause = sorted(d for d, paused in recorded.items() if not paused and d in old_states and old_states[d].paused)
    to_pause = sorted(d for d, paused in recorded.items() if paused and d in old_states and not old_states[d].paused)
    both = unpaused_on(new, to_unpause)
    if both:
        raise InvariantError(
            f"{len(both)} DAGs are unpaused on the new environment ({new.description}); nothing was unpaused on "
            f"the old one: {', '.join(listed(both))}"
        )
    # The bulk route for a long id sets every DAG its pattern matches: only DAGs meant to end in that state may be hit.
    paused = set_paused(old, to_pause, paused=True, tolerate={d for d, p in recorded.items() if p})
    unpaused = set_paused(old, to_unpause, paused=False, tolerate=set(to_unpause))
    missing = absent + paused["absent"] + unpaused["absent"]
    unreachable = paused["unreachable_count"] + unpaused["unreachable_count"]
    # Restored: the record and the marker go to history, so the next cut-over records afresh. Not while a DAG was
    # unreachable: starting the rollback again needs the record to finish.
    history = None if unreachable else archive_records(s3, bucket=bucket, migration=migration,
                                                       recorded_at=record["recorded_at"])  # fmt: skip
    return {
        "new": {"dags": paused_new["dags"], "patched": paused_new["patched"]},
        "runs_since": check,
        "forced": bool(check["runs"]) and force,
        "unpaused": unpaused["changed"],
        "paused": paused["changed"],
        "unchanged": len(recorded) - len(absent) - len(to_unpause) - len(to_pause),
        "absent": listed(missing),
        "absent_count": len(absent) + paused["absent_count"] + unpaused["absent_count"],
        "unreachable": listed(paused["unreachable"] + unpaused["unreachable"]),
        "unreachable_count": unreachable,
        "history": history,
    }
