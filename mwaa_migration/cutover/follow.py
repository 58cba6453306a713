"""Start a cut-over execution and follow it from its history: the step it is in, the counts each step returns,
the elapsed time, and at the end the verification report or the reason it failed.

The executions' steps return counts and ids only, so nothing printed here can hold a secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from mwaa_migration.console import Progress, table

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# What a poll step returns about the polling itself: a step's line is printed when its other numbers change.
POLL_KEYS = frozenset({"next_wait_seconds", "waited_seconds"})


class FollowError(Exception):
    """The execution can't be started or found; names the state machine and what to do."""


def running_execution(sfn: Any, machine_arn: str) -> str | None:
    response = sfn.list_executions(stateMachineArn=machine_arn, statusFilter="RUNNING", maxResults=10)
    executions = response.get("executions", [])
    return str(executions[0]["executionArn"]) if executions else None


def latest_execution(sfn: Any, machine_arn: str) -> str | None:
    response = sfn.list_executions(stateMachineArn=machine_arn, maxResults=1)
    executions = response.get("executions", [])
    return str(executions[0]["executionArn"]) if executions else None


def start(sfn: Any, *, machine_arn: str, execution_input: dict[str, Any], name: str) -> str:
    """Refuses while another execution runs: the machine's guard would fail it anyway, after it had started."""
    running = running_execution(sfn, machine_arn)
    if running is not None:
        raise FollowError(
            f"an execution is already running ({running.rsplit(':', 1)[-1]}): follow it with `cutover.py status`"
        )
    response = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))
    return str(response["executionArn"])


def _new_events(sfn: Any, execution_arn: str, seen: int) -> list[dict[str, Any]]:
    """Events after id `seen`, oldest first: newest pages are read until one reaches what was seen."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": 100}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        fresh = [event for event in page["events"] if event["id"] > seen]
        events.extend(fresh)
        token = page.get("nextToken")
        if not token or len(fresh) < len(page["events"]):
            return sorted(events, key=lambda event: int(event["id"]))


def counts(step_output: Any) -> str:
    """`name=number` for the numbers a step returned (ids and lists are left to the report)."""
    if not isinstance(step_output, dict):
        return ""
    return ", ".join(
        f"{key}={value}"
        for key, value in step_output.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in POLL_KEYS
    )


def _news(value: Any) -> Any:
    return {k: v for k, v in value.items() if k not in POLL_KEYS} if isinstance(value, dict) else value


def _changed(before: dict[str, Any], after: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in after.items():
        if key != "input" and _news(before.get(key)) != _news(value):
            yield key, value


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    progress: Progress,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Prints each step as it starts and what it returned; returns DescribeExecution's answer once it is final."""
    seen, steps = 0, 0
    state: dict[str, Any] = {}
    current = "starting"
    while True:
        for event in _new_events(sfn, execution_arn, seen):
            seen = int(event["id"])
            if "stateEnteredEventDetails" in event:
                current = event["stateEnteredEventDetails"]["name"]
                steps += 1
            elif "stateExitedEventDetails" in event:
                output = json.loads(event["stateExitedEventDetails"].get("output") or "{}")
                if isinstance(output, dict):
                    # What the steps returned; a Pass state's bookkeeping (a start time, a first slice) is not news.
                    if event.get("type") == "TaskStateExited":
                        for key, value in _changed(state, output):
                            name = event["stateExitedEventDetails"]["name"]
                            progress.message(f"{name}: {key} {counts(value)}".rstrip())
                    state = output
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        progress.update(current, steps, 0)
        if description["status"] in TERMINAL:
            progress.close()
            return description
        sleep(poll_seconds)


def failure(description: dict[str, Any]) -> str:
    """The failed step's error name and message, without the Lambda's stack trace."""
    error = description.get("error") or description["status"]
    cause = description.get("cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = str(parsed["errorMessage"])
    return f"{error}: {cause}" if cause else str(error)


def report_table(report: dict[str, Any]) -> str:
    rows = [
        [c["entity"], c["archive"], c["target"], c["matching"], c["missing_count"], c["different_count"]]
        for c in report["checks"]
    ]
    lines = [table(["entity", "archive", "target", "matching", "missing", "different"], rows)]
    for check in report["checks"]:
        for kind in ("missing", "different"):
            if check[kind]:
                more = check[f"{kind}_count"] - len(check[kind])
                names = ", ".join(check[kind]) + (f" and {more} more" if more else "")
                lines.append(f"{check['entity']} {kind}: {names}")
    return "\n".join(lines)


def read_report(s3: Any, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    report: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return report
