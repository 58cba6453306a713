"""The guard's look at both environments: an environment that doesn't answer InvokeRestApi (an older MWAA
environment needs an update first) stops the execution in its first state, before anything is recorded or paused,
with an error that says what to do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mwaa_cutover import cutover_steps
from mwaa_cutover.airflow_api import MwaaTransport, Transport
from tests.cutover_world import EXECUTION, START, World
from tests.cutover_world import Runtime as WorldRuntime
from tests.fake_airflow import FakeAirflow, HttpError
from tests.moto_bucket import versioned_bucket
from tests.synth_app import SynthesizedApp
from tests.test_cutover_stack import role_statements
from tests.test_state_machine_walk import BUCKET, world_for

UPDATE = "Update your environment to use InvokeRestApi"


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


def refusing(env: FakeAirflow, status: int = 403) -> None:
    """Every request to `env` answered with an error, as MWAA answers an environment that needs an update."""

    def handle(method: str, path: str, query: Any, body: Any) -> Any:
        env.requests.append((method, path))
        raise HttpError(status, UPDATE)

    env.handle = handle  # type: ignore[method-assign]


@pytest.mark.parametrize("mode", ["rehearsal", "cutover", "rollback"])
def test_an_old_environment_that_doesnt_answer_stops_the_machine_before_anything_changes(
    synthesized: SynthesizedApp, s3: Any, mode: str
) -> None:
    world = world_for(synthesized, s3, "example")
    old_before, new_before = world.envs.old.states(), world.envs.new.states()
    refusing(world.envs.old)
    status, error, execution = world.execute({"mode": mode, "force": mode == "rollback"})
    assert status == "FAILED" and error.error == "OldEnvironmentUnreachableError"
    assert UPDATE in error.cause and "aws mwaa update-environment --name old" in error.cause
    assert "role/old/Viewer" in error.cause and "nothing was changed" in error.cause
    assert execution.visited == ["Guard"]
    assert world.envs.old.requests == [("GET", "/dags")] and world.envs.new.requests == []
    assert world.envs.old.states() == old_before and world.envs.new.states() == new_before
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="cutover/").get("KeyCount") == 0


def test_a_new_environment_that_doesnt_answer_stops_a_cut_over_before_the_freeze(
    synthesized: SynthesizedApp, s3: Any
) -> None:
    world = world_for(synthesized, s3, "byo-kms")
    old_before = world.envs.old.states()
    refusing(world.envs.new, status=400)
    status, error, execution = world.execute({"mode": "cutover"})
    assert status == "FAILED" and error.error == "NewEnvironmentUnreachableError"
    assert "role/new/Viewer" in error.cause and execution.visited == ["Guard"]
    assert world.envs.old.requests == [("GET", "/dags")]  # the old one answered; nothing more was asked of it
    assert world.envs.old.states() == old_before


def test_an_operator_exports_old_environment_is_never_called_by_the_guard(synthesized: SynthesizedApp, s3: Any) -> None:
    world = world_for(synthesized, s3, "example-self-managed")
    world.operator_exports_at = 1
    status, output, _execution = world.execute({"mode": "rehearsal"})
    assert status == "SUCCEEDED", output
    assert world.envs.old.requests == [] and world.envs.new.requests[0] == ("GET", "/dags")


class StubbedOld(WorldRuntime):
    """The world's runtime, with the old environment behind MwaaTransport on a stubbed boto3 mwaa client."""

    def __init__(self, world: World, client: Any) -> None:
        super().__init__(world)
        self.client = client

    def old(self) -> Transport:
        return MwaaTransport(client=self.client, environment_name="old", api_version="v1", sleep=lambda _s: None)


@pytest.mark.parametrize(
    ("code", "http_status", "message", "fields"),
    [
        ("ValidationException", 400, UPDATE, {}),
        ("AccessDeniedException", 403, "not authorized to perform: airflow:InvokeRestApi", {}),
        ("RestApiClientException", 403, "Forbidden", {"RestApiStatusCode": 403, "RestApiResponse": {"title": UPDATE}}),
    ],
)
def test_the_mwaa_clients_refusals_become_the_named_error(
    s3: Any, code: str, http_status: int, message: str, fields: dict[str, Any]
) -> None:
    client = boto3.client("mwaa", region_name="us-east-1")
    world = World({}, {}, migration="m", bucket=BUCKET, s3=s3, target_api="v2", operator_export=False)
    event = {"execution": {"mode": "cutover"}, "execution_arn": EXECUTION, "started_at": START.isoformat()}
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "invoke_rest_api",
            service_error_code=code,
            service_message=message,
            http_status_code=http_status,
            modeled_fields=fields,
            expected_params={"Name": "old", "Path": "/dags", "Method": "GET", "QueryParameters": {"limit": 1}},
        )
        with pytest.raises(cutover_steps.OldEnvironmentUnreachableError) as raised:
            cutover_steps.guard(event, StubbedOld(world, client))
        stubber.assert_no_pending_responses()  # one call: a refusal is not retried
    text = str(raised.value)
    assert f"HTTP {http_status}" in text and "update-environment --name old" in text
    assert (UPDATE if code != "AccessDeniedException" else message) in text
    assert world.envs.new.requests == []


def test_the_guard_may_read_each_environment_as_viewer_only(synthesized: SynthesizedApp) -> None:
    old = "arn:${AWS::Partition}:airflow:us-east-1:111122223333:role/analytics/Viewer"
    new = "arn:${AWS::Partition}:airflow:${AWS::Region}:${AWS::AccountId}:role/analytics-v3/Viewer"
    guard = role_statements(synthesized.template(synthesized.stacks["example"].cutover))["guard"]
    assert guard["ReadOldDags"] == (["airflow:InvokeRestApi"], [old], None)
    assert guard["ReadNewDags"] == (["airflow:InvokeRestApi"], [new], None)
    operator = role_statements(synthesized.template(synthesized.stacks["example-self-managed"].cutover))["guard"]
    assert "ReadOldDags" not in operator and "ReadNewDags" in operator
