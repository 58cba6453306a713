"""Who retries what in the cut-over: Step Functions retries a throttled Lambda invoke (every Task), and the MWAA
clients make exactly one HTTP attempt per call, since MwaaTransport does its own retries (and counts them)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from mwaa_cutover.cutover_handler import EnvironmentRuntime
from mwaa_migration.cutover import target as cutover_target
from mwaa_migration.migration import load_migration, resolve_migration_paths
from tests.synth_app import SynthesizedApp
from tests.test_cutover_stack import MIGRATIONS
from tests.test_state_machine_walk import definition_of

SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]
THROTTLED = {"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "BackoffRate": 2,
             "MaxAttempts": 6}  # fmt: skip


@pytest.mark.parametrize("name", MIGRATIONS)
def test_every_task_retries_a_throttled_invoke_and_keeps_the_service_exception_retry(
    synthesized: SynthesizedApp, name: str
) -> None:
    definition, _handlers = definition_of(synthesized.template(synthesized.stacks[name].cutover))
    tasks = {state_name: state for state_name, state in definition["States"].items() if state["Type"] == "Task"}
    assert len(tasks) >= 6
    for state_name, state in tasks.items():
        retriers = state.get("Retry", [])
        assert THROTTLED in retriers, state_name
        assert any(r["ErrorEquals"] == SERVICE_ERRORS and r["MaxAttempts"] == 6 for r in retriers), state_name


class Attempts:
    """Answers every HTTP request of a client with a 503 (a status botocore's retry modes retry) and counts them."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.mwaa.InvokeRestApi", self)

    def __call__(self, request: Any, **_kwargs: Any) -> AWSResponse:
        self.count += 1
        headers = HTTPHeaders()
        headers["x-amzn-ErrorType"] = "InternalServerException"

        class Raw:
            def stream(self, **_kwargs: Any) -> Any:
                yield b'{"message": "try later"}'

        return AWSResponse(request.url, 503, headers, Raw())


def one_call(client: Any) -> int:
    attempts = Attempts(client)
    with pytest.raises(ClientError):
        client.invoke_rest_api(Name="old", Path="/dags", Method="GET")
    return attempts.count


ENVIRON = {
    "MIGRATION": "example",
    "MIGRATION_BUCKET": "bucket",
    "OPERATOR_EXPORT": "false",
    "OLD_ENVIRONMENT": "analytics",
    "OLD_REGION": "us-east-1",
    "NEW_ENVIRONMENT": "analytics-v3",
    "NEW_API_VERSION": "v2",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:111122223333:stateMachine:mwaa-migration-example-cutover",
}


def test_the_handlers_mwaa_client_makes_exactly_one_attempt() -> None:
    runtime = EnvironmentRuntime(ENVIRON, remaining_ms=lambda: 300_000)
    for transport in (runtime.old(), runtime.new()):
        client = transport.client  # type: ignore[attr-defined]
        assert client.meta.config.retries["total_max_attempts"] == 1
        assert one_call(client) == 1


def test_cutover_pys_mwaa_client_makes_exactly_one_attempt() -> None:
    (path,) = resolve_migration_paths("example")
    session = boto3.session.Session(region_name="us-east-1")
    target = cutover_target.target(load_migration(path), environment=None, airflow_url=None, session=session)
    client = target.transport.client  # type: ignore[attr-defined]
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert one_call(client) == 1
