"""The clone Lambda as CloudFormation drives it, with the MWAA API stubbed by botocore's Stubber.

The Stubber checks every request and response against botocore's MWAA model, so these responses are ones the
real API could send (the saved `aws mwaa get-environment` outputs, timestamps turned back into datetimes).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import clone_handler
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.stub import Stubber
from clone_rules import CloneRefused, CloneRequest, clone_settings, encode_attributes

from mwaa_migration.clone_lambda import CLONE_SETTINGS_DIR
from tests.clone_fixtures import GET_ENVIRONMENT_DIR, GET_ENVIRONMENT_OUTPUT_SHAPE, get_environment_document

if TYPE_CHECKING:
    from mypy_boto3_mwaa import MWAAClient

ACCOUNT = "111122223333"
STACK_ID = (
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/orders-v3-environment/8d3f1c20-a1b2-11ef-9c4d-06e5f7a8b9c0"
)
SERVICE_TOKEN = (
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders-v3-environment-CloneProviderframeworkonEv-Xq7Lm2Pz9Rb4"
)
SECRET = "s3cr3t-Pa55w0rd"


def with_datetimes(value: Any, shape: Shape) -> Any:
    """The CLI prints timestamps as ISO strings; the API model (and so the Stubber) wants datetimes."""
    if shape.type_name == "timestamp" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(shape, StructureShape):
        return {key: with_datetimes(item, shape.members[key]) for key, item in value.items()}
    if isinstance(shape, ListShape):
        return [with_datetimes(item, shape.member) for item in value]
    if isinstance(shape, MapShape):
        return {key: with_datetimes(item, shape.value) for key, item in value.items()}
    return value


def get_environment_response(version: str, **changes: Any) -> dict[str, Any]:
    document = get_environment_document(version)
    document["Environment"].update(changes)
    response: dict[str, Any] = with_datetimes(document, GET_ENVIRONMENT_OUTPUT_SHAPE)
    return response


def cfn_properties(**changes: str) -> dict[str, str]:
    """ResourceProperties as CloudFormation sends them: every value a string, ServiceToken included."""
    props = {
        "ServiceToken": SERVICE_TOKEN,
        "SourceEnvironmentName": "orders",
        "SourceRegion": "eu-west-1",
        "TargetEnvironmentName": "orders-v3",
        "TargetRegion": "eu-west-1",
        "TargetAirflowVersion": "3.0.6",
        "Overrides": json.dumps({"MaxWorkers": 25, "Tags": {"migration": "orders-v3"}}),
    }
    props.update(changes)
    return props


def cfn_event(
    request_type: str,
    properties: Mapping[str, str],
    *,
    physical_id: str | None = None,
    old_properties: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": (
            "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/"
            f"arn%3Aaws%3Acloudformation%3Aeu-west-1%3A{ACCOUNT}%3Astack/orders-v3-environment/"
            "8d3f1c20-a1b2-11ef-9c4d-06e5f7a8b9c0%7CCloneSettings%7C4c1f9e2a?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        ),
        "StackId": STACK_ID,
        "RequestId": "4c1f9e2a-7b3d-4e85-a6c0-d9b2f1e8a347",
        "LogicalResourceId": "CloneSettings5E8A2B4C",
        "ResourceType": "Custom::CloneMwaaSettings",
        "ResourceProperties": dict(properties),
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old_properties is not None:
        event["OldResourceProperties"] = dict(old_properties)
    return event


class StubbedMwaa:
    """Hands the handler a real MWAA client whose one expected call is stubbed, and counts factory calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.regions: list[str] = []
        self.stubber: Stubber | None = None

    def _install(self, region: str) -> Stubber:
        client: MWAAClient = boto3.client("mwaa", region_name=region)
        self.stubber = Stubber(client)
        self.stubber.activate()

        def factory(requested_region: str) -> MWAAClient:
            self.regions.append(requested_region)
            return client

        self.monkeypatch.setattr(clone_handler, "client_factory", factory)
        return self.stubber

    def returns(self, response: Mapping[str, Any], name: str = "orders", region: str = "eu-west-1") -> None:
        self._install(region).add_response("get_environment", dict(response), {"Name": name})

    def fails(self, code: str, status: int, message: str = "", region: str = "eu-west-1") -> None:
        self._install(region).add_client_error(
            "get_environment", service_error_code=code, service_message=message, http_status_code=status
        )

    def forbid_calls(self) -> None:
        def factory(region: str) -> MWAAClient:
            raise AssertionError(f"Delete must not create a client (asked for {region})")

        self.monkeypatch.setattr(clone_handler, "client_factory", factory)

    def assert_called_once(self) -> None:
        assert self.stubber is not None
        self.stubber.assert_no_pending_responses()
        assert len(self.regions) == 1
        self.regions.clear()


@pytest.fixture
def mwaa(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedMwaa]:
    stubbed = StubbedMwaa(monkeypatch)
    yield stubbed
    if stubbed.stubber is not None:
        stubbed.stubber.deactivate()


def refusal(event: Mapping[str, Any]) -> str:
    with pytest.raises(CloneRefused) as caught:
        clone_handler.on_event(event, None)
    message = str(caught.value)
    assert "\n" not in message, "CloudFormation shows the reason as one line"
    return message


# --- the happy path --------------------------------------------------------------------------------------


def test_create_returns_the_clone_as_masked_string_attributes(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("2.10.3"))
    props = cfn_properties()

    response = clone_handler.on_event(cfn_event("Create", props), None)

    mwaa.assert_called_once()
    assert set(response) == {"PhysicalResourceId", "Data", "NoEcho"}
    assert response["PhysicalResourceId"] == "clone-settings/eu-west-1/orders"
    assert response["NoEcho"] is True
    environment = json.loads((GET_ENVIRONMENT_DIR / "airflow-2.10.3.json").read_text())["Environment"]
    expected = clone_settings(environment, CloneRequest.from_properties(props)).settings
    assert response["Data"] == encode_attributes(expected)
    assert response["Data"]["MaxWorkers"] == "25"
    assert json.loads(response["Data"]["Tags"]) == {
        "Environment": "production",
        "Owner": "orders-team@example.com",
        "migration": "orders-v3",
    }


def test_create_update_delete_like_a_deploy(mwaa: StubbedMwaa) -> None:
    created_props = cfn_properties()
    mwaa.returns(get_environment_response("2.10.3"))
    created = clone_handler.on_event(cfn_event("Create", created_props), None)
    mwaa.assert_called_once()

    updated_props = cfn_properties(Overrides=json.dumps({"MaxWorkers": 10, "Schedulers": 4}))
    mwaa.returns(get_environment_response("2.10.3"))
    update_event = cfn_event(
        "Update", updated_props, physical_id=created["PhysicalResourceId"], old_properties=created_props
    )
    updated = clone_handler.on_event(update_event, None)
    mwaa.assert_called_once()

    mwaa.forbid_calls()
    delete_event = cfn_event("Delete", updated_props, physical_id=updated["PhysicalResourceId"])
    deleted = clone_handler.on_event(delete_event, None)

    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"], "an update in place, never a replacement"
    assert (updated["Data"]["MaxWorkers"], updated["Data"]["Schedulers"]) == ("10", "4")
    assert deleted == {"PhysicalResourceId": created["PhysicalResourceId"]}


def test_delete_after_a_failed_create_needs_no_valid_properties(mwaa: StubbedMwaa) -> None:
    mwaa.forbid_calls()
    event = cfn_event("Delete", {"ServiceToken": SERVICE_TOKEN, "Overrides": "{broken"}, physical_id="whatever-id")

    assert clone_handler.on_event(event, None) == {"PhysicalResourceId": "whatever-id"}


def test_the_source_region_decides_the_client(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("1.10.12"), name="analytics", region="us-east-1")
    props = cfn_properties(SourceEnvironmentName="analytics", SourceRegion="us-east-1", TargetRegion="us-east-1")

    response = clone_handler.on_event(cfn_event("Create", props), None)

    assert mwaa.regions == ["us-east-1"]
    assert response["PhysicalResourceId"] == "clone-settings/us-east-1/analytics"


def test_the_default_client_uses_the_region_and_standard_retries() -> None:
    assert clone_handler.client_factory is clone_handler._mwaa_client

    client = clone_handler._mwaa_client("ap-southeast-2")

    assert client.meta.region_name == "ap-southeast-2"
    assert vars(client.meta.config)["retries"]["mode"] == "standard"


def test_warnings_and_the_request_type_are_logged_but_never_values(
    mwaa: StubbedMwaa, caplog: pytest.LogCaptureFixture
) -> None:
    options = {"core.default_timezone": "utc", "secrets.backend_kwargs": f'{{"password": "{SECRET}"}}'}
    mwaa.returns(get_environment_response("1.10.12", AirflowConfigurationOptions=options), "analytics", "us-east-1")
    props = cfn_properties(SourceEnvironmentName="analytics", SourceRegion="us-east-1", TargetRegion="us-east-1")
    caplog.set_level(logging.INFO, logger="clone_handler")

    response = clone_handler.on_event(cfn_event("Create", props), None)

    assert SECRET in response["Data"]["AirflowConfigurationOptions"]
    assert "Create request for CloneSettings5E8A2B4C" in caplog.text
    assert any(record.levelno == logging.WARNING and "no Schedulers" in record.message for record in caplog.records)
    assert SECRET not in caplog.text
    assert response["Data"]["AirflowConfigurationOptions"] not in caplog.text


# --- refusals: one line that says what to do ------------------------------------------------------------------


def test_a_missing_source_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.fails("ResourceNotFoundException", 404, "Environment orders not found")

    message = refusal(cfn_event("Create", cfn_properties()))

    mwaa.assert_called_once()
    assert message == (
        "no MWAA environment named 'orders' in eu-west-1; "
        "check source.environment_name and source.region in the migration file"
    )


def test_access_denied_names_the_action_and_arn(mwaa: StubbedMwaa) -> None:
    mwaa.fails("AccessDeniedException", 403, "User is not authorized to perform: airflow:GetEnvironment")

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message.startswith(
        f"access denied to airflow:GetEnvironment on arn:aws:airflow:eu-west-1:{ACCOUNT}:environment/orders; "
        "the clone function's role needs that action on that ARN"
    )


def test_other_api_errors_are_refused_with_their_code(mwaa: StubbedMwaa) -> None:
    mwaa.fails("ValidationException", 400, "1 validation error detected:\nName failed")

    message = refusal(cfn_event("Update", cfn_properties(), physical_id="clone-settings/eu-west-1/orders"))

    assert message == (
        "GetEnvironment for 'orders' in eu-west-1 failed: ValidationException: "
        "1 validation error detected: Name failed; deploy again once fixed"
    )


def test_an_unreachable_endpoint_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreachable:
        def get_environment(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
            raise EndpointConnectionError(endpoint_url="https://airflow.eu-west-1.amazonaws.com/environments/orders")

    monkeypatch.setattr(clone_handler, "client_factory", lambda region: Unreachable())

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message.startswith("could not reach MWAA in eu-west-1 to read 'orders' (Could not connect")
    assert message.endswith("check source.region in the migration file and deploy again")


def test_a_source_that_is_not_available_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("2.10.3", Status="UPDATING"))

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message == (
        "the source environment 'orders' is UPDATING, not AVAILABLE; "
        "deploy again when `aws mwaa get-environment` reports AVAILABLE"
    )


def test_an_older_target_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("3.0.6"), name="reporting", region="us-west-2")
    props = cfn_properties(
        SourceEnvironmentName="reporting",
        SourceRegion="us-west-2",
        TargetRegion="us-west-2",
        TargetAirflowVersion="2.11.0",
    )

    message = refusal(cfn_event("Create", props))

    assert message == (
        "target.airflow_version 2.11.0 is older than the source's 3.0.6: MWAA can't downgrade and Airflow's "
        "metadata database can't move to an older schema, so pick 3.0.6 or newer"
    )


def test_the_source_name_in_the_same_region_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("2.10.3"))

    message = refusal(cfn_event("Create", cfn_properties(TargetEnvironmentName="orders")))

    assert message == (
        "target.environment_name 'orders' is the source's name in eu-west-1 and MWAA names are unique per region; "
        "pick a new name, such as the old one with a version suffix"
    )


def test_a_response_over_4096_bytes_is_refused(mwaa: StubbedMwaa) -> None:
    big = {f"custom.option_{index:02d}": "v" * 150 for index in range(18)}
    mwaa.returns(get_environment_response("2.10.3", AirflowConfigurationOptions=big))

    message = refusal(cfn_event("Create", cfn_properties()))

    assert "over CloudFormation's 4096-byte limit for a custom resource" in message
    assert "the largest are option custom.option_" in message
    assert "v" * 20 not in message


def test_bad_properties_are_refused_before_any_call(mwaa: StubbedMwaa) -> None:
    mwaa.forbid_calls()

    message = refusal(cfn_event("Create", cfn_properties(Overrides='{"MaxWorkers": "many"}')))

    assert message == "target.max_workers must be a whole number, got 'many'"


def test_an_unknown_request_type_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.forbid_calls()

    assert refusal(cfn_event("Replace", cfn_properties())) == (
        "unknown RequestType 'Replace'; expected Create, Update or Delete"
    )


# --- cold start ------------------------------------------------------------------------------------------------


def test_importing_the_handler_is_fast_and_loads_no_sdk() -> None:
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "import clone_handler\n"
        "print(time.perf_counter() - start, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    # A fresh interpreter, so nothing this test session imported counts.
    result = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", code], cwd=CLONE_SETTINGS_DIR, capture_output=True, text=True, check=True
    )

    seconds, boto3_loaded, botocore_loaded = result.stdout.split()
    assert (boto3_loaded, botocore_loaded) == ("False", "False")
    assert float(seconds) < 0.2


def test_fixtures_are_valid_get_environment_responses() -> None:
    # The Stubber refuses a response that doesn't fit botocore's GetEnvironment model; this names the file.
    for path in sorted(GET_ENVIRONMENT_DIR.glob("*.json")):
        client: MWAAClient = boto3.client("mwaa", region_name="us-east-1")
        with Stubber(client) as stubber:
            stubber.add_response("get_environment", get_environment_response(path.stem.removeprefix("airflow-")))
            environment = client.get_environment(Name="anything")["Environment"]
        # The clone refuses any other status, so every clone test relies on this.
        assert environment["Status"] == "AVAILABLE", path.name
