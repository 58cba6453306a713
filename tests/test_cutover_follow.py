"""`cutover.py run/status`: starting an execution and following its history, against Step Functions' real model."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mwaa_migration.console import Progress
from mwaa_migration.cutover import follow as cutover_follow

MACHINE = "arn:aws:states:us-east-1:111122223333:stateMachine:mwaa-migration-example-cutover"
EXECUTION = "arn:aws:states:us-east-1:111122223333:execution:mwaa-migration-example-cutover:cutover-20261128T160000Z"
WHEN = datetime.datetime(2026, 11, 28, 16, 0, tzinfo=datetime.UTC)


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def entered(event_id: int, name: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "timestamp": WHEN,
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": name, "input": "{}"},
    }


def exited(event_id: int, name: str, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "timestamp": WHEN,
        "type": "TaskStateExited",
        "stateExitedEventDetails": {"name": name, "output": json.dumps(output)},
    }


def described(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "status": status,
        "startDate": WHEN,
        **extra,
    }


def test_start_refuses_while_an_execution_runs(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    running = {"executionArn": EXECUTION, "stateMachineArn": MACHINE, "name": "x", "status": "RUNNING"}
    stubber.add_response(
        "list_executions",
        {"executions": [{**running, "startDate": WHEN}]},
        {"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 10},
    )
    with pytest.raises(cutover_follow.FollowError, match=r"already running .*cutover\.py status"):
        cutover_follow.start(client, machine_arn=MACHINE, execution_input={"mode": "cutover"}, name="n")


def test_start_sends_the_checked_input(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_response(
        "list_executions", {"executions": []}, {"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 10}
    )
    stubber.add_response(
        "start_execution",
        {"executionArn": EXECUTION, "startDate": WHEN},
        {"stateMachineArn": MACHINE, "name": "cutover-1", "input": json.dumps({"mode": "cutover", "force": False})},
    )
    arn = cutover_follow.start(
        client, machine_arn=MACHINE, execution_input={"mode": "cutover", "force": False}, name="cutover-1"
    )
    assert arn == EXECUTION


def test_follow_prints_each_step_once_with_its_counts_until_the_end(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    history = {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 100}
    # First poll: two pages, newest first.
    stubber.add_response(
        "get_execution_history",
        {
            "events": [
                exited(3, "FreezeOld", {"input": {}, "freeze": {"dags": 12, "newly_paused": 9}}),
                entered(2, "FreezeOld"),
            ],
            "nextToken": "t",
        },
        history,
    )
    stubber.add_response("get_execution_history", {"events": [entered(1, "Guard")]}, {**history, "nextToken": "t"})
    stubber.add_response("describe_execution", described("RUNNING"), {"executionArn": EXECUTION})
    # Second poll: one new event; the page also holds one already seen, so no further page is read.
    stubber.add_response(
        "get_execution_history",
        {"events": [entered(4, "Drain"), exited(3, "FreezeOld", {})], "nextToken": "more"},
        history,
    )
    stubber.add_response(
        "describe_execution",
        described(
            "FAILED",
            error="DrainRefusedError",
            cause=json.dumps({"errorMessage": "2 runs still running: etl_a", "stackTrace": ["secret frame"]}),
        ),
        {"executionArn": EXECUTION},
    )
    out = io.StringIO()
    sleeps: list[float] = []
    description = cutover_follow.follow(
        client, EXECUTION, progress=Progress(stream=out, every=0.0), poll_seconds=7.0, sleep=sleeps.append
    )
    assert sleeps == [7.0]
    lines = out.getvalue().splitlines()
    assert lines[0] == "FreezeOld: freeze dags=12, newly_paused=9"
    assert lines[1].startswith("FreezeOld: 2  [")
    assert lines[2].startswith("Drain: 3  [")
    message = cutover_follow.failure(description)
    assert message == "DrainRefusedError: 2 runs still running: etl_a"
    assert "secret frame" not in message


def test_follow_prints_each_slice_of_a_sliced_step_and_not_the_pass_that_starts_it(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    first = {"done": False, "position": 0, "slices": 0}
    events = [
        entered(1, "StartUnpause"),
        {**exited(2, "StartUnpause", {"unpause": first}), "type": "PassStateExited"},
        entered(3, "UnpauseNew"),
        exited(4, "UnpauseNew", {"unpause": {"done": False, "position": 120, "slices": 1, "unpaused": 118}}),
        entered(5, "Unpaused?"),
        entered(6, "UnpauseNew"),
        exited(7, "UnpauseNew", {"unpause": {"done": True, "position": 200, "slices": 2, "unpaused": 197}}),
    ]
    history = {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 100}
    stubber.add_response("get_execution_history", {"events": list(reversed(events))}, history)
    stubber.add_response("describe_execution", described("SUCCEEDED"), {"executionArn": EXECUTION})
    out = io.StringIO()
    cutover_follow.follow(client, EXECUTION, progress=Progress(stream=out, every=0.0), sleep=lambda _s: None)
    messages = [line for line in out.getvalue().splitlines() if "[" not in line]
    assert messages == [
        "UnpauseNew: unpause position=120, slices=1, unpaused=118",
        "UnpauseNew: unpause position=200, slices=2, unpaused=197",
    ]


def test_follow_prints_a_poll_when_what_it_found_changes_not_each_round(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    rounds = [(2, 5, 5), (2, 10, 5), (2, 60, 6), (0, 66, 6)]  # busy, waited_seconds, next_wait_seconds
    events = [
        exited(n + 1, "Drain", {"drain": {"busy": busy, "waited_seconds": waited, "next_wait_seconds": wait}})
        for n, (busy, waited, wait) in enumerate(rounds)
    ]
    history = {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 100}
    stubber.add_response("get_execution_history", {"events": list(reversed(events))}, history)
    stubber.add_response("describe_execution", described("SUCCEEDED"), {"executionArn": EXECUTION})
    out = io.StringIO()
    cutover_follow.follow(client, EXECUTION, progress=Progress(stream=out, every=0.0), sleep=lambda _s: None)
    messages = [line for line in out.getvalue().splitlines() if "[" not in line]
    assert messages == ["Drain: drain busy=2", "Drain: drain busy=0"]


def test_report_table_lists_what_is_missing() -> None:
    report = {
        "checks": [
            {
                "entity": "variables",
                "archive": 3,
                "target": 2,
                "matching": 2,
                "missing": ["a"],
                "missing_count": 1,
                "different": [],
                "different_count": 0,
            }
        ]
    }
    text = cutover_follow.report_table(report)
    assert text.splitlines()[2] == "variables        3       2         2        1          0"
    assert text.endswith("variables missing: a")
