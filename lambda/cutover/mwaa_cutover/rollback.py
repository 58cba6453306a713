"""Rollback: pause every DAG on the new environment, then give the old one back exactly its recorded pause states.

The old environment's scheduler resumes each DAG after its own last run there; whatever the new environment ran
in between, the old one would run again. So runs the new environment started since the cut-over are listed, and
the rollback needs `force` to go on over them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from mwaa_cutover.airflow_api import Transport
from mwaa_cutover.dag_pausing import NOTHING_SET, add_results, batch_list, list_dags, listed, pause_all, set_paused
from mwaa_cutover.pause_states import archive_records, cutover_since, read_pause_states
from mwaa_cutover.unpause import MIGRATION_DAGS, InvariantError, unpaused_on

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
    progress: Mapping[str, Any] | None = None,
    more: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Rollback mode (idempotent: a restarted execution does it again and changes nothing more):
    1. pauses every DAG on NEW (bulk route; PauseError naming any that stays unpaused);
    2. rollback_check since the first unpause (`unpaused.json`), else since the record: RollbackRefusedError listing the
       runs when there are any and `force` is off;
    3. checks again that every DAG about to be unpaused on OLD is paused or absent on NEW (InvariantError);
    4. sets each recorded DAG on OLD back to its recorded state (paused ones stay or become paused, then active ones
       are unpaused), except `exclude`. DAGs the record has but OLD no longer has are reported by name;
    5. moves the record and the marker to history (pause_states.archive_records) unless a DAG was unreachable.

    In slices: `more()` is asked after each DAG it changes on OLD; once it answers False the call returns `done:
    false`, and the next call, given this result as `progress`, carries on at its `position` in the record's (fixed)
    order, with the counts adding up to those of one call. Every slice does 1 to 3 again before it changes anything,
    so the new environment is paused and checked before each slice's unpauses, as in one call; 5 comes with the last.

    Returns {"done", "position", "slices", "new": {dags, patched}, "runs_since": rollback_check result, "forced",
    "unpaused", "paused", "unchanged", "absent": [ids], "absent_count", "unreachable": [ids], "unreachable_count",
    "history": prefix or None}; the counts and lists are this and the earlier slices' together."""
    before = dict(progress or {})
    record = read_pause_states(s3, bucket=bucket, migration=migration)
    paused_new = pause_all(new)
    check = rollback_check(new, since=cutover_since(s3, bucket=bucket, migration=migration), exclude=exclude,
                           imported=imported)  # fmt: skip
    if check["runs"] and not force:
        more_runs = check["runs"] - len(check["listed"])
        raise RollbackRefusedError(
            f"the new environment ran {check['runs']} runs of its own since the cut-over ({check['completed']} "
            f"completed, {check['running']} running) in {check['dag_count']} DAGs: {', '.join(check['listed'])}"
            + (f" and {more_runs} more" if more_runs > 0 else "")
            + ". The old environment would run those intervals again; start the rollback with force: true to go on."
        )
    recorded: dict[str, bool] = {dag_id: paused for dag_id, paused in record["dags"].items() if dag_id not in exclude}
    # The order every slice walks: the DAGs to be paused, then those to be unpaused (the record doesn't change).
    order = sorted(recorded, key=lambda dag_id: (not recorded[dag_id], dag_id))
    old_states = list_dags(old)
    to_unpause = {d for d, paused in recorded.items() if not paused and d in old_states and old_states[d].paused}
    both = unpaused_on(new, to_unpause)
    if both:
        raise InvariantError(
            f"{len(both)} DAGs are unpaused on the new environment ({new.description}); nothing was unpaused on "
            f"the old one: {', '.join(listed(both))}"
        )
    # The bulk route for a long id sets every DAG its pattern matches: only DAGs meant to end in that state may be hit.
    tolerate = {True: {d for d, p in recorded.items() if p}, False: to_unpause}
    changed = {True: int(before.get("paused", 0)), False: int(before.get("unpaused", 0))}
    problems = {**NOTHING_SET, **{key: before[key] for key in NOTHING_SET if key in before}}  # absent, unreachable
    unchanged = int(before.get("unchanged", 0))
    position = int(before.get("position", 0))
    while position < len(order):
        dag_id = order[position]
        position += 1
        wanted = recorded[dag_id]
        if dag_id not in old_states:
            problems = add_results(problems, {**NOTHING_SET, "absent": [dag_id], "absent_count": 1})
        elif old_states[dag_id].paused == wanted:
            unchanged += 1
        else:
            result = set_paused(old, [dag_id], paused=wanted, tolerate=tolerate[wanted])
            changed[wanted] += result["changed"]
            problems = add_results(problems, {**result, "changed": 0})
            if more is not None and not more():
                break
    done = position >= len(order)
    # Restored: the record and the marker go to history, so the next cut-over records afresh. Not while a DAG was
    # unreachable: starting the rollback again needs the record to finish.
    history = None
    if done and not problems["unreachable_count"]:
        history = archive_records(s3, bucket=bucket, migration=migration, recorded_at=record["recorded_at"])
    patched = int(before.get("new", {}).get("patched", 0)) + paused_new["patched"]
    return {
        "done": done,
        "position": position,
        "slices": int(before.get("slices", 0)) + 1,
        "new": {"dags": paused_new["dags"], "patched": patched},
        "runs_since": check,
        "forced": bool(check["runs"]) and force,
        "unpaused": changed[False],
        "paused": changed[True],
        "unchanged": unchanged,
        "absent": problems["absent"],
        "absent_count": problems["absent_count"],
        "unreachable": problems["unreachable"],
        "unreachable_count": problems["unreachable_count"],
        "history": history,
    }
