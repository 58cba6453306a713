"""Unpause and rollback in slices: with hundreds of DAGs each call stops at its deadline and the next carries on, and
the slices together end exactly where one call ends, with the same counts, and "no DAG unpaused on both
environments" checked after every request (by TwoEnvironments) and by the steps before each slice's changes."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from mwaa_cutover.freeze import EXPORT_DAG, freeze
from mwaa_cutover.pause_states import read_pause_states, record_pause_states
from mwaa_cutover.polling import MAX_SLICES
from mwaa_cutover.rollback import rollback
from mwaa_cutover.unpause import InvariantError, unpause_new
from tests.fake_airflow import TwoEnvironments
from tests.moto_bucket import versioned_bucket
from tests.synth_app import SynthesizedApp
from tests.test_state_machine_walk import BUCKET, world_for

T0 = "2026-11-28T15:00:00+00:00"
T1 = "2026-11-28T16:00:00+00:00"
LONG = "long_" + "x" * 60  # too long for a path: set through the bulk route with the id as its pattern
DAGS = 600
SLICE = ("done", "position", "slices")


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


def add_dags(envs: TwoEnvironments) -> None:
    """600 DAGs (every fifth paused by its users, every 50th inactive), a long id, one missing on the new side."""
    for number in range(DAGS):
        envs.add(f"dag_{number:04d}", paused=number % 5 == 0, active=number % 50 != 7)
    envs.add(LONG, paused=False)
    envs.add("only_on_old", paused=False, on_new=False)


def environments() -> TwoEnvironments:
    envs = TwoEnvironments()
    add_dags(envs)
    envs.old.add(EXPORT_DAG, paused=True)
    envs.new.add("mwaa_migration_import", paused=True)
    return envs


def frozen(envs: TwoEnvironments, s3: Any, migration: str) -> None:
    record_pause_states(envs.old_api, s3, bucket=BUCKET, migration=migration, recorded_at=T0, environment="old")
    freeze(envs.old_api)


class Budget:
    """A slice's deadline as `more()`: True for the first `changes - 1` changes, then False."""

    def __init__(self, changes: int) -> None:
        self.left = changes

    def __call__(self) -> bool:
        self.left -= 1
        return self.left > 0


def in_slices(step: Any, changes: int, **kwargs: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    progress = None
    while not results or not results[-1]["done"]:
        results.append(step(progress=progress, more=Budget(changes), **kwargs))
        progress = results[-1]
    return results


def without_slices(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key not in SLICE}


def test_unpause_in_slices_ends_as_one_call_does(s3: Any) -> None:
    one, sliced = environments(), environments()
    frozen(one, s3, "one")
    frozen(sliced, s3, "sliced")
    whole = unpause_new(one.new_api, one.old_api, s3, bucket=BUCKET, migration="one", now=T1)
    assert whole["done"] and whole["slices"] == 1
    results = in_slices(
        unpause_new, 50, new=sliced.new_api, old=sliced.old_api, s3=s3, bucket=BUCKET, migration="sliced", now=T1
    )
    assert len(results) > 5 and not any(result["done"] for result in results[:-1])
    assert [result["slices"] for result in results] == list(range(1, len(results) + 1))
    changes = [results[0]["unpaused"]] + [b["unpaused"] - a["unpaused"] for a, b in itertools.pairwise(results)]
    assert set(changes[:-1]) == {50}  # each slice stopped at its deadline
    assert sliced.new.states() == one.new.states() and sliced.old.states() == one.old.states()
    assert without_slices(results[-1]) == without_slices(whole)
    assert whole["unpaused"] == 469 and whole["absent"] == ["only_on_old"]  # 480 active, 12 inactive, LONG, only_old
    assert not sliced.new.dags[LONG].paused


def test_each_slice_checks_every_dag_on_the_old_side_before_it_changes_anything(s3: Any) -> None:
    envs = environments()
    frozen(envs, s3, "m")
    kwargs = {"bucket": BUCKET, "migration": "m", "now": T1}
    first = unpause_new(envs.new_api, envs.old_api, s3, progress=None, more=Budget(10), **kwargs)
    assert not first["done"] and first["unpaused"] == 10
    envs.old.dags["dag_0599"].paused = False  # unpaused again in the old UI, a slice before its turn
    before = envs.new.states()
    with pytest.raises(InvariantError, match="dag_0599"):
        unpause_new(envs.new_api, envs.old_api, s3, progress=first, more=Budget(10), **kwargs)
    assert envs.new.states() == before


def test_rollback_in_slices_ends_as_one_call_does_and_retires_the_record_last(s3: Any) -> None:
    one, sliced = environments(), environments()
    for envs, migration in ((one, "one"), (sliced, "sliced")):
        frozen(envs, s3, migration)
        unpause_new(envs.new_api, envs.old_api, s3, bucket=BUCKET, migration=migration, now=T1)
        envs.old.dags["dag_0000"].paused = False  # recorded paused: the rollback pauses it again
    recorded = read_pause_states(s3, bucket=BUCKET, migration="one")["dags"]
    whole = rollback(one.new_api, one.old_api, s3, bucket=BUCKET, migration="one")
    results = in_slices(rollback, 40, new=sliced.new_api, old=sliced.old_api, s3=s3, bucket=BUCKET, migration="sliced")
    assert len(results) > 5 and all(result["history"] is None for result in results[:-1])
    assert results[-1]["history"] == whole["history"].replace("/one/", "/sliced/")
    assert sliced.old.states() == one.old.states() and sliced.new.states() == one.new.states()
    assert {dag_id: one.old.dags[dag_id].paused for dag_id in recorded} == recorded
    assert all(dag.paused for dag in sliced.new.dags.values())
    assert without_slices({**results[-1], "history": None}) == without_slices({**whole, "history": None})
    assert (whole["paused"], whole["unpaused"]) == (1, 482)


def test_a_cut_over_and_a_rollback_of_600_dags_go_in_slices_each_in_its_functions_time(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    add_dags(world.envs)
    world.slice_budget = 120  # about a hundred DAGs a slice
    world.request_limit = 300  # a 5-minute function at a second a request: one call can't do 470 DAGs
    status, output, execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    assert execution.visited.count("UnpauseNew") == output["unpause"]["slices"] > 3
    recorded = read_pause_states(s3, bucket=BUCKET, migration="example")
    active = {d for d, paused in recorded["dags"].items() if not paused and d not in recorded["inactive"]}
    assert {d for d, paused in world.envs.new.states().items() if not paused} == active - {"only_on_old"}
    assert output["unpause"]["unpaused"] == len(active) - 1 and output["unpause"]["absent"] == ["only_on_old"]
    world.now += datetime.timedelta(hours=1)
    status, output, execution = world.execute({"mode": "rollback"})
    assert status == "SUCCEEDED", output
    assert execution.visited.count("Rollback") == output["rollback"]["slices"] > 3
    assert execution.visited[:3] == ["Guard", "Mode", "StartRollback"]
    assert world.envs.old.states() == {**recorded["dags"]}
    assert all(world.envs.new.states().values()) and output["rollback"]["history"]


def test_an_unpause_that_needs_more_slices_than_allowed_stops_naming_how_far_it_got(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "byo-kms")
    add_dags(world.envs)
    world.slice_budget = 1  # one DAG a slice
    status, error, execution = world.execute({"mode": "cutover"})
    assert status == "FAILED" and error.error == "SliceLimitError"
    assert f"not done after {MAX_SLICES} slices" in error.cause and "stay paused" in error.cause
    assert execution.visited.count("UnpauseNew") == MAX_SLICES
    assert sum(1 for paused in world.envs.new.states().values() if not paused) == MAX_SLICES
