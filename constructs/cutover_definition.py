"""The cut-over state machine's states (JSONPath ASL), built per migration: which steps exist depends on whether the
machine can reach the old environment (an MWAA source on Airflow 2.4.3 or later) and on the target's major version.

State: {"input": the guard's checked input, then one key per step with that step's latest result}. Loops are a
Choice on the step's `done` (or the drain's `verdict`) and a Wait as long as the step's `next_wait_seconds`, or,
for the steps that work in slices until a deadline (the REST import, unpause, rollback), a Choice alone; a step's
failure is its Lambda error, by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from constructs import Construct

INPUT = {"input.$": "$.input"}
THROTTLED = "Lambda.TooManyRequestsException"
FIRST_SLICE = {"done": False, "position": 0, "slices": 0}


def _task(scope: Construct, name: str, function: lambda_.IFunction, payload: Mapping[str, Any], result: str) -> Any:
    task = tasks.LambdaInvoke(
        scope,
        name,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(dict(payload)),
        # The function's own return value is the state's result: no invocation metadata in the history.
        payload_response_only=True,
        result_path=result,
    )
    # Throttling (the account's concurrency, shared with everything else in it) is not among CDK's default
    # service-exception retries; without this a busy account would fail a cut-over halfway.
    task.add_retry(errors=[THROTTLED], interval=Duration.seconds(2), backoff_rate=2, max_attempts=6)
    return task


def _wait(scope: Construct, name: str, result: str) -> sfn.Wait:
    """As long as the step before said: 5 s first, then longer (polling.next_wait), so a quick step is seen in
    seconds and a long wait stays within Step Functions' 25,000 history events."""
    return sfn.Wait(scope, name, time=sfn.WaitTime.seconds_path(f"$.{result}.next_wait_seconds"))


def _done(path: str) -> sfn.Condition:
    return sfn.Condition.boolean_equals(path, True)


def _dag_run(
    scope: Construct,
    name: str,
    done: str,
    function: lambda_.IFunction,
    *,
    start: Mapping[str, Any],
    status: Mapping[str, Any],
    result: str,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """One of the migration's own DAG runs: <name>Start, then <name>Wait and <name>Status until its `done`."""
    path = f"$.{result}"
    check = _task(
        scope, f"{name}Status", function, {**status, "action": "status", "started_at.$": f"{path}.started_at"}, path
    )
    wait = _wait(scope, f"{name}Wait", result).next(check)
    check.next(sfn.Choice(scope, done).when(_done(f"{path}.done"), then).otherwise(wait))
    started: sfn.IChainable = _task(scope, f"{name}Start", function, {**start, "action": "start"}, path).next(wait)
    return started


def _sliced(
    scope: Construct, name: str, done: str, function: lambda_.IFunction, *, result: str, then: sfn.IChainable
) -> sfn.IChainable:
    """A step that works in slices until its `done`: Start<name> gives the first its progress (nothing done yet),
    each later one gets the previous slice's result. No Wait: each slice runs until the function's deadline."""
    path = f"$.{result}"
    step = _task(scope, name, function, {**INPUT, "progress.$": path}, path)
    step.next(sfn.Choice(scope, done).when(_done(f"{path}.done"), then).otherwise(step))
    first = sfn.Pass(scope, f"Start{name}", result=sfn.Result.from_object(FIRST_SLICE), result_path=path)
    started: sfn.IChainable = first.next(step)
    return started


def build_definition(
    scope: Construct, *, functions: Mapping[str, lambda_.IFunction], machine_exports: bool, rest_import: bool
) -> sfn.IChainable:
    """`machine_exports`: the machine freezes the old environment and runs its export DAG (else both are the
    operator's and it waits for a manifest); `rest_import`: an Airflow 3 target, imported through its REST API."""
    f = functions
    mode_is = {mode: sfn.Condition.string_equals("$.input.mode", mode) for mode in ("rehearsal", "cutover", "rollback")}
    export_id = {**INPUT, "export_id.$": "$.export.export_id"}

    # --- after the export: import, the import DAG (2.x import and logs), verify; a cut-over goes on ---------------
    cut_over = sfn.Succeed(scope, "CutOver")
    after_secrets: sfn.IChainable = cut_over
    if machine_exports:
        unpause = _sliced(scope, "UnpauseNew", "Unpaused?", f["unpause"], result="unpause", then=cut_over)
        after_secrets = (
            sfn.Choice(scope, "UnpauseWanted?")
            .when(sfn.Condition.boolean_equals("$.input.unpause", True), unpause)
            .otherwise(cut_over)
        )
    delete_secrets = _task(scope, "DeleteSecrets", f["delete_secrets"], export_id, "$.secrets").next(after_secrets)
    verify = _task(scope, "Verify", f["verify"], export_id, "$.verify").next(
        sfn.Choice(scope, "CuttingOver?")
        .when(mode_is["cutover"], delete_secrets)
        .otherwise(sfn.Succeed(scope, "Rehearsed"))
    )
    # The old task logs, named after the new run ids the import wrote (same function: same Airflow role).
    task_logs = {**export_id, "dag": "task_logs"}
    task_log_dag = _dag_run(
        scope,
        "TaskLogDag",
        "TaskLogDagDone?",
        f["import_dag"],
        start=task_logs,
        status=task_logs,
        result="task_logs",
        then=verify,
    )
    if rest_import:
        slice_ = _task(scope, "ImportSlice", f["import_slice"], export_id, "$.import")
        # No Wait: each slice runs until its deadline, the next one carries on from the cursor in the bucket. The
        # import DAG has nothing to do on Airflow 3: the logs come next.
        slice_.next(sfn.Choice(scope, "Imported?").when(_done("$.import.done"), task_log_dag).otherwise(slice_))
        import_start: sfn.IChainable = slice_
    else:
        import_start = _dag_run(
            scope,
            "ImportDag",
            "ImportDagDone?",
            f["import_dag"],
            start=export_id,
            status=export_id,
            result="import_dag",
            then=task_log_dag,
        )

    # --- the export: the machine's export DAG run, or the operator's manifest -----------------------------------
    if machine_exports:
        export: sfn.IChainable = _dag_run(
            scope,
            "Export",
            "Exported?",
            f["export_dag"],
            start={**INPUT, "action": "start", "export_id.$": "$.input.export_id"},
            status=export_id,
            result="export",
            then=import_start,
        )
    else:
        check = _task(scope, "ManifestCheck", f["manifest_wait"], INPUT, "$.export")
        wait = _wait(scope, "ManifestWait", "export").next(check)
        check.next(sfn.Choice(scope, "ManifestThere?").when(_done("$.export.done"), import_start).otherwise(wait))
        export = check

    # --- the cut-over's freeze: record once, pause, drain --------------------------------------------------------
    cutover_start: sfn.IChainable = export
    if machine_exports:
        drain = _task(scope, "Drain", f["drain"], {**INPUT, "drain_started.$": "$.drain_started.at"}, "$.drain")
        drain_wait = _wait(scope, "DrainWait", "drain").next(drain)
        drain.next(
            sfn.Choice(scope, "Drained?")
            .when(sfn.Condition.string_equals("$.drain.verdict", "wait"), drain_wait)
            .otherwise(export)
        )
        cutover_start = (
            _task(scope, "RecordPauseStates", f["record"], INPUT, "$.record")
            .next(_task(scope, "FreezeOld", f["freeze"], INPUT, "$.freeze"))
            .next(
                sfn.Pass(
                    scope,
                    "StartDrain",
                    # When the drain began: its timeout counts from here, also in a restarted execution.
                    parameters={"at": sfn.JsonPath.string_at("$$.State.EnteredTime")},
                    result_path="$.drain_started",
                )
            )
            .next(drain)
        )

    rolled_back = sfn.Succeed(scope, "RolledBack")
    rollback = _sliced(scope, "Rollback", "RollbackDone?", f["rollback"], result="rollback", then=rolled_back)
    guard = _task(
        scope,
        "Guard",
        f["guard"],
        {
            "execution.$": "$",
            "execution_arn": sfn.JsonPath.string_at("$$.Execution.Id"),
            "started_at": sfn.JsonPath.string_at("$$.Execution.StartTime"),
        },
        "$",
    )
    chain: sfn.IChainable = guard.next(
        sfn.Choice(scope, "Mode")
        .when(mode_is["rollback"], rollback)
        .when(mode_is["cutover"], cutover_start)
        .when(mode_is["rehearsal"], export)
    )
    return chain
