"""Step Functions ends a Standard execution at 25,000 history events, and no Catch can intercept that: this bounds
the events of the longest execution of each synthesized cut-over state machine at the largest inputs the guard
accepts, and checks that its polls start short.

Counting model (the events Step Functions records, by state type):
- the execution: ExecutionStarted, then ExecutionSucceeded / ExecutionFailed / ...: 2;
- a Task on a Lambda function ARN: TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted,
  LambdaFunctionSucceeded (or Failed / TimedOut), TaskStateExited: 5. Each retried attempt adds another
  LambdaFunctionScheduled, LambdaFunctionStarted and LambdaFunctionFailed (or ...StartFailed / ...TimedOut): 3;
- Choice, Wait, Pass, Succeed: ...StateEntered and ...StateExited: 2; Fail: FailStateEntered: 1.
A path through the definition costs the sum of its states'. A loop (the states of a cycle) runs at most as often
as its one Task may be called, and every state of the loop is counted that often (its Choice runs once per call,
its Wait at most once):
- a poll (Drain, ExportStatus, ManifestCheck, ImportDagStatus, TaskLogDagStatus): the step fails once its timeout
  has passed, and the Wait before each call lasts its fixed `Seconds` or, as the stacks have it,
  polling.next_wait(elapsed), which never shrinks as elapsed grows; so no execution polls more often than one
  whose steps take no time at all, simulated by `polls`;
- the REST import's slices: at most polling.import_slices(wait_timeout_seconds), then ImportTimeoutError;
- unpause and rollback slices: at most polling.MAX_SLICES, then SliceLimitError.
An execution's longest path then is the longest path through the loops so bounded, from StartAt to any state.
The largest inputs are cutover_input.LIMITS' upper ends. Retries are not in that path: every Task state's retriers
retried to the full once each (a burst of throttling at each step) is added on top, and the sum must stay 10%
below the limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from mwaa_cutover.cutover_input import DEFAULTS, LIMITS, InputError, validate
from mwaa_cutover.polling import MAX_SLICES, import_slices, next_wait
from tests.moto_bucket import versioned_bucket
from tests.synth_app import SynthesizedApp
from tests.test_cutover_stack import MIGRATIONS
from tests.test_state_machine_walk import BUCKET, busy, definition_of, world_for

HISTORY_LIMIT = 25_000
MARGIN = 2_500
EVENTS = {"Task": 5, "Choice": 2, "Wait": 2, "Pass": 2, "Succeed": 2, "Fail": 1}
EVENTS_PER_RETRY = 3
EXECUTION_EVENTS = 2


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


def polls(timeout: int, wait: Callable[[float], int] = next_wait) -> int:
    """Calls of a poll step up to the one that fails, the clock starting at 0 and every step taking no time."""
    elapsed, calls = 0, 0
    while True:
        calls += 1
        if elapsed > timeout:
            return calls
        elapsed += wait(elapsed)


# The loops of the definitions, by their one Task: the input that times a poll out, or how many slices may run.
POLL_TIMEOUTS = {
    "Drain": "drain_timeout_seconds",
    "ExportStatus": "wait_timeout_seconds",
    "ManifestCheck": "wait_timeout_seconds",
    "ImportDagStatus": "wait_timeout_seconds",
    "TaskLogDagStatus": "wait_timeout_seconds",
}
SLICE_LIMITS: dict[str, Callable[[Mapping[str, int]], int]] = {
    "ImportSlice": lambda inputs: import_slices(inputs["wait_timeout_seconds"]),
    "UnpauseNew": lambda _inputs: MAX_SLICES,
    "Rollback": lambda _inputs: MAX_SLICES,
}


def loop_calls(states: Mapping[str, Any], members: frozenset[str], inputs: Mapping[str, int]) -> int:
    """How often the loop's one Task may run: a poll's by its Wait's own schedule, a sliced step's by its limit."""
    (task,) = [name for name in members if states[name]["Type"] == "Task"]
    waits = [states[name] for name in members if states[name]["Type"] == "Wait"]
    if not waits:
        assert task in SLICE_LIMITS, f"a loop without a bound: {sorted(members)}"
        return SLICE_LIMITS[task](inputs)
    assert task in POLL_TIMEOUTS and len(waits) == 1, f"a loop without a bound: {sorted(members)}"
    timeout = inputs[POLL_TIMEOUTS[task]]
    if "Seconds" in waits[0]:
        return polls(timeout, lambda _elapsed: int(waits[0]["Seconds"]))
    # As long as the poll step said: polling.next_wait.
    assert waits[0]["SecondsPath"] == states[task]["ResultPath"] + ".next_wait_seconds", task
    return polls(timeout)


def successors(state: Mapping[str, Any]) -> list[str]:
    found = [rule["Next"] for rule in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return found + [state[key] for key in ("Next", "Default") if key in state]


def worst_case(definition: Mapping[str, Any], inputs: Mapping[str, int]) -> int:
    """The history events of the longest execution (see the module's counting model), retries left out."""
    states = definition["States"]

    @functools.cache
    def reach(name: str) -> frozenset[str]:
        seen: set[str] = set()
        todo = successors(states[name])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += successors(states[current])
        return frozenset(seen)

    def component(name: str) -> frozenset[str]:
        return frozenset({name} | {other for other in reach(name) if name in reach(other)})

    def cost(members: frozenset[str]) -> int:
        events = sum(EVENTS[states[name]["Type"]] for name in members)
        (first,) = members if len(members) == 1 else (None,)
        if first is not None and first not in reach(first):
            return events  # not a loop
        return loop_calls(states, members, inputs) * events

    @functools.cache
    def longest(members: frozenset[str]) -> int:
        after = {component(n) for name in members for n in successors(states[name])} - {members}
        return cost(members) + max((longest(other) for other in after), default=0)

    return EXECUTION_EVENTS + longest(component(definition["StartAt"]))


def retry_allowance(definition: Mapping[str, Any]) -> int:
    """Every Task state's retriers each retried to the full once."""
    return EVENTS_PER_RETRY * sum(
        int(retrier["MaxAttempts"])
        for state in definition["States"].values()
        if state["Type"] == "Task"
        for retrier in state.get("Retry", [])
    )


@pytest.mark.parametrize("name", MIGRATIONS)
def test_the_longest_execution_at_the_largest_inputs_stays_under_the_history_limit(
    synthesized: SynthesizedApp, name: str
) -> None:
    definition, _handlers = definition_of(synthesized.template(synthesized.stacks[name].cutover))
    names = ("drain_timeout_seconds", "wait_timeout_seconds")
    largest = worst_case(definition, {key: LIMITS[key][1] for key in names})
    defaults = worst_case(definition, {key: DEFAULTS[key] for key in names})
    assert defaults < largest
    assert largest + retry_allowance(definition) < HISTORY_LIMIT - MARGIN, (name, largest)


def test_the_schedule_starts_short_never_shrinks_and_is_capped() -> None:
    waits = [next_wait(seconds) for seconds in range(0, 200_000, 7)]
    assert waits[0] <= 10 and max(waits) == 300
    assert waits == sorted(waits)  # the bound above rests on it
    assert polls(60) == 14 and polls(0) == 2  # 5 s apart up to 60 s, then one past it


def test_the_input_check_refuses_waits_beyond_what_the_count_covers() -> None:
    assert validate({"mode": "cutover", "wait_timeout_seconds": 172800}, operator_export=False)
    with pytest.raises(InputError, match="wait_timeout_seconds: must be a whole number from 60 to 172800"):
        validate({"mode": "cutover", "wait_timeout_seconds": 604800}, operator_export=False)


def poll_definition(wait: dict[str, Any], result: str = "$.export") -> dict[str, Any]:
    """A Start, then a poll loop of Task, Choice, Wait: the shape of the export's loop."""
    return {
        "StartAt": "ExportStart",
        "States": {
            "ExportStart": {"Type": "Task", "Next": "ExportWait"},
            "ExportWait": {"Type": "Wait", **wait, "Next": "ExportStatus"},
            "ExportStatus": {"Type": "Task", "ResultPath": result, "Next": "Exported?"},
            "Exported?": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "ExportWait"},
            "Done": {"Type": "Succeed"},
        },
    }


def test_the_count_is_of_the_loops_it_means() -> None:
    ten_minutes = {"wait_timeout_seconds": 600}
    # Fixed 60 s: polls at 0, 60, ..., 600 s and the failing one at 660 s.
    assert worst_case(poll_definition({"Seconds": 60}), ten_minutes) == 2 + 5 + 12 * 9 + 2
    scheduled = poll_definition({"SecondsPath": "$.export.next_wait_seconds"})
    assert worst_case(scheduled, ten_minutes) == 2 + 5 + polls(600) * 9 + 2
    with pytest.raises(AssertionError, match="ExportStatus"):  # a Wait that isn't the poll step's own schedule
        worst_case(poll_definition({"SecondsPath": "$.export.next_wait_seconds"}, "$.other"), ten_minutes)
    unbounded = {
        "StartAt": "Mystery",
        "States": {
            "Mystery": {"Type": "Task", "ResultPath": "$.mystery", "Next": "Again?"},
            "Again?": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "Mystery"},
            "Done": {"Type": "Succeed"},
        },
    }
    with pytest.raises(AssertionError, match="a loop without a bound"):
        worst_case(unbounded, ten_minutes)


def test_a_cut_over_reacts_within_10_s_and_polls_less_often_as_it_waits(synthesized: SynthesizedApp, s3: Any) -> None:
    world = world_for(synthesized, s3, "example")
    busy(world, until=40)  # about ten minutes of drain at this schedule
    status, output, execution = world.execute({"mode": "cutover"})
    assert status == "SUCCEEDED", output
    waits = [name for name in execution.visited if execution.definition["States"][name]["Type"] == "Wait"]
    assert len(waits) == len(world.waits)
    first: dict[str, float] = {}
    for name, seconds in zip(waits, world.waits, strict=True):
        first.setdefault(name, seconds)
    assert set(first) == {"DrainWait", "ExportWait", "TaskLogDagWait"} and max(first.values()) <= 10
    drain = [seconds for name, seconds in zip(waits, world.waits, strict=True) if name == "DrainWait"]
    assert drain == sorted(drain) and drain[-1] > 3 * drain[0]
    assert output["drain"]["verdict"] == "done" and output["drain"]["next_wait_seconds"] >= 5
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/example/")["KeyCount"] == 1


def test_an_import_that_needs_more_slices_than_its_wait_allows_stops_before_unpausing(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "example")
    world.slice_budget = 1  # many slices for this small archive
    status, error, execution = world.execute({"mode": "cutover", "wait_timeout_seconds": 60})
    assert status == "FAILED" and error.error == "ImportTimeoutError", error
    assert "not done after 1 slices" in error.cause and "larger wait_timeout_seconds" in error.cause
    assert execution.visited.count("ImportSlice") == import_slices(60) and "UnpauseNew" not in execution.visited
    assert all(world.envs.new.states().values())
