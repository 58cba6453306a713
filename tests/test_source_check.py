"""The deploy-time source check as CloudFormation drives it, with the MWAA API stubbed by botocore's Stubber.

The Stubber checks every request and response against botocore's MWAA model, so these responses are ones the
real API could send (the saved `aws mwaa get-environment` outputs, timestamps turned back into datetimes). The
expected fingerprints are the ones synth writes from the committed snapshot of the same environment.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.stub import Stubber

from mwaa_clone import source_check_handler
from mwaa_clone.sensitive_options import MASKED
from mwaa_clone.source_check import SourceCheckFailed, fingerprints
from mwaa_migration.assets import CLONE_SETTINGS_DIR
from mwaa_migration.migration.snapshot import snapshot_document
from tests.clone_fixtures import GET_ENVIRONMENT_DIR, GET_ENVIRONMENT_OUTPUT_SHAPE, get_environment_document

if TYPE_CHECKING:
    from mypy_boto3_mwaa import MWAAClient

ACCOUNT = "111122223333"
STACK_ID = (
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/orders-v3-environment/8d3f1c20-a1b2-11ef-9c4d-06e5f7a8b9c0"
)
SERVICE_TOKEN = (
    f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:orders-v3-environment-SourceCheckProviderframewo-Xq7Lm2Pz9Rb4"
)
SECRET = "s3cr3t-Pa55w0rd"
PHYSICAL_ID = "source-check/eu-west-1/orders"


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


def get_environment_response(version: str = "2.10.3", **changes: Any) -> dict[str, Any]:
    document = get_environment_document(version)
    document["Environment"].update(changes)
    response: dict[str, Any] = with_datetimes(document, GET_ENVIRONMENT_OUTPUT_SHAPE)
    return response


def snapshot_fingerprints(version: str = "2.10.3", **changes: Any) -> dict[str, str]:
    """What synth puts in the template for a snapshot saved from this environment (masked by snapshot.py)."""
    environment = snapshot_document(get_environment_document(version)["Environment"] | changes)["Environment"]
    return fingerprints(environment)


def cfn_properties(**changes: Any) -> dict[str, Any]:
    """ResourceProperties as CloudFormation sends them, ServiceToken included."""
    props: dict[str, Any] = {
        "ServiceToken": SERVICE_TOKEN,
        "ServiceTimeout": "300",
        "Migration": "orders",
        "SourceEnvironmentName": "orders",
        "SourceRegion": "eu-west-1",
        "Fingerprints": snapshot_fingerprints(),
    }
    props.update(changes)
    return props


def cfn_event(
    request_type: str,
    properties: Mapping[str, Any],
    *,
    physical_id: str | None = None,
    old_properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": (
            "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/"
            f"arn%3Aaws%3Acloudformation%3Aeu-west-1%3A{ACCOUNT}%3Astack/orders-v3-environment/"
            "8d3f1c20-a1b2-11ef-9c4d-06e5f7a8b9c0%7CSourceCheck%7C4c1f9e2a?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        ),
        "StackId": STACK_ID,
        "RequestId": "4c1f9e2a-7b3d-4e85-a6c0-d9b2f1e8a347",
        "LogicalResourceId": "SourceCheck5E8A2B4C",
        "ResourceType": "Custom::MwaaSourceCheck",
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

        self.monkeypatch.setattr(source_check_handler, "client_factory", factory)
        return self.stubber

    def returns(self, response: Mapping[str, Any], name: str = "orders", region: str = "eu-west-1") -> None:
        self._install(region).add_response("get_environment", dict(response), {"Name": name})

    def fails(self, code: str, status: int, message: str = "", region: str = "eu-west-1") -> None:
        self._install(region).add_client_error(
            "get_environment", service_error_code=code, service_message=message, http_status_code=status
        )

    def forbid_calls(self) -> None:
        def factory(region: str) -> MWAAClient:
            raise AssertionError(f"no AWS call expected here (asked for {region})")

        self.monkeypatch.setattr(source_check_handler, "client_factory", factory)

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
    with pytest.raises(SourceCheckFailed) as caught:
        source_check_handler.on_event(event, None)
    message = str(caught.value)
    assert "\n" not in message, "CloudFormation shows the reason as one line"
    return message


# --- the happy path --------------------------------------------------------------------------------------------


def test_an_unchanged_source_passes_with_one_call(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response())

    response = source_check_handler.on_event(cfn_event("Create", cfn_properties()), None)

    mwaa.assert_called_once()
    assert response == {"PhysicalResourceId": PHYSICAL_ID}, "no Data: nothing of the source flows into the stack"


def test_a_masked_secret_is_compared_masked(mwaa: StubbedMwaa) -> None:
    options = get_environment_document("2.10.3")["Environment"]["AirflowConfigurationOptions"]
    live = {**options, "smtp.smtp_password": SECRET}
    mwaa.returns(get_environment_response(AirflowConfigurationOptions=live))
    props = cfn_properties(Fingerprints=snapshot_fingerprints(AirflowConfigurationOptions=live))
    assert MASKED not in live.values()

    # Passes: the snapshot holds the mask, and the live secret is masked before it is compared.
    assert source_check_handler.on_event(cfn_event("Create", props), None) == {"PhysicalResourceId": PHYSICAL_ID}


def test_update_with_the_same_snapshot_makes_no_call(mwaa: StubbedMwaa) -> None:
    old = cfn_properties()
    new = cfn_properties(ServiceToken=SERVICE_TOKEN + "-new")
    mwaa.forbid_calls()

    response = source_check_handler.on_event(
        cfn_event("Update", new, physical_id=PHYSICAL_ID, old_properties=old), None
    )

    assert response == {"PhysicalResourceId": PHYSICAL_ID}


def test_update_with_a_new_snapshot_checks_again(mwaa: StubbedMwaa) -> None:
    old = cfn_properties(Fingerprints=snapshot_fingerprints(MaxWorkers=5))
    mwaa.returns(get_environment_response())

    source_check_handler.on_event(
        cfn_event("Update", cfn_properties(), physical_id=PHYSICAL_ID, old_properties=old), None
    )

    mwaa.assert_called_once()


def test_a_rollback_to_the_old_snapshot_passes_while_the_source_matches_the_new_one(mwaa: StubbedMwaa) -> None:
    # Forward: the snapshot was refreshed after MaxWorkers changed on the source; then the deploy fails, and
    # CloudFormation sends the old properties back as an Update.
    stale = cfn_properties(Fingerprints=snapshot_fingerprints())
    fresh = cfn_properties(Fingerprints=snapshot_fingerprints(MaxWorkers=5))
    mwaa.returns(get_environment_response(MaxWorkers=5))
    source_check_handler.on_event(cfn_event("Update", fresh, physical_id=PHYSICAL_ID, old_properties=stale), None)
    mwaa.assert_called_once()

    mwaa.returns(get_environment_response(MaxWorkers=5))
    rollback = cfn_event("Update", stale, physical_id=PHYSICAL_ID, old_properties=fresh)

    assert source_check_handler.on_event(rollback, None) == {"PhysicalResourceId": PHYSICAL_ID}


def test_an_update_to_a_snapshot_the_source_matches_neither_way_is_refused(mwaa: StubbedMwaa) -> None:
    old = cfn_properties(Fingerprints=snapshot_fingerprints(MaxWorkers=5))
    new = cfn_properties(Fingerprints=snapshot_fingerprints(MaxWorkers=6))
    mwaa.returns(get_environment_response(MaxWorkers=7))

    message = refusal(cfn_event("Update", new, physical_id=PHYSICAL_ID, old_properties=old))

    assert "changed since its snapshot was saved (MaxWorkers)" in message


def test_the_old_snapshot_of_another_source_does_not_excuse_the_new_one(mwaa: StubbedMwaa) -> None:
    old = cfn_properties(SourceEnvironmentName="orders-old", Fingerprints=snapshot_fingerprints(MaxWorkers=7))
    mwaa.returns(get_environment_response(MaxWorkers=7))

    message = refusal(cfn_event("Update", cfn_properties(), physical_id=PHYSICAL_ID, old_properties=old))

    assert "changed since its snapshot was saved (MaxWorkers)" in message


def test_delete_makes_no_call_and_needs_no_valid_properties(mwaa: StubbedMwaa) -> None:
    mwaa.forbid_calls()
    event = cfn_event("Delete", {"ServiceToken": SERVICE_TOKEN}, physical_id="whatever-id")

    assert source_check_handler.on_event(event, None) == {"PhysicalResourceId": "whatever-id"}


def test_the_source_region_decides_the_client(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response("1.10.12"), name="analytics", region="us-east-1")
    props = cfn_properties(
        SourceEnvironmentName="analytics", SourceRegion="us-east-1", Fingerprints=snapshot_fingerprints("1.10.12")
    )

    response = source_check_handler.on_event(cfn_event("Create", props), None)

    assert mwaa.regions == ["us-east-1"]
    assert response["PhysicalResourceId"] == "source-check/us-east-1/analytics"


def test_the_default_client_uses_the_region_and_standard_retries() -> None:
    assert source_check_handler.client_factory is source_check_handler._mwaa_client

    client = source_check_handler._mwaa_client("ap-southeast-2")

    assert client.meta.region_name == "ap-southeast-2"
    assert vars(client.meta.config)["retries"]["mode"] == "standard"


# --- refusals: one line that says what to do, naming fields and never values ------------------------------


CHANGED_FIELDS = [
    ({"EnvironmentClass": "mw1.xlarge"}, "EnvironmentClass"),
    ({"MaxWorkers": 30}, "MaxWorkers"),
    ({"Schedulers": 4}, "Schedulers"),
    ({"AirflowVersion": "2.11.0"}, "AirflowVersion"),
    ({"WeeklyMaintenanceWindowStart": "WED:01:00"}, "WeeklyMaintenanceWindowStart"),
    ({"KmsKey": None}, "KmsKey"),
    (
        {
            "NetworkConfiguration": {
                "SubnetIds": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
                "SecurityGroupIds": ["sg-0d4e5f60718293a4b", "sg-0c1d2e3f405162738"],
            }
        },
        "NetworkConfiguration.SubnetIds",
    ),
    ({"Tags": {"Environment": "staging", "Owner": "orders-team@example.com"}}, "Tags.Environment"),
    ({"Tags": {"Environment": "production"}}, "Tags.Owner (removed)"),
    ({"WebserverAccessMode": "PUBLIC_ONLY"}, "WebserverAccessMode"),
    ({"EndpointManagement": "CUSTOMER"}, "EndpointManagement"),
    ({"MinWebservers": 3}, "MinWebservers"),
    ({"MaxWebservers": 4}, "MaxWebservers"),
    ({"MinWorkers": 1}, "MinWorkers"),
    (
        {"Teams": {"finance": {"DagS3Path": "teams/finance/dags", "SourceBucketArn": "arn:aws:s3:::finance-dags"}}},
        "Teams",
    ),
    (
        {
            "NetworkConfiguration": {
                "SubnetIds": ["subnet-0a1b2c3d4e5f60789", "subnet-0b2c3d4e5f6071890"],
                "SecurityGroupIds": ["sg-0d4e5f60718293a4b"],
            }
        },
        "NetworkConfiguration.SecurityGroupIds",
    ),
    (
        {
            "LoggingConfiguration": {
                **get_environment_document("2.10.3")["Environment"]["LoggingConfiguration"],
                "WorkerLogs": {"Enabled": False, "LogLevel": "INFO"},
            }
        },
        "LoggingConfiguration.WorkerLogs",
    ),
]


@pytest.mark.parametrize(("changes", "named"), CHANGED_FIELDS, ids=[named for _, named in CHANGED_FIELDS])
def test_each_changed_field_is_named(mwaa: StubbedMwaa, changes: dict[str, Any], named: str) -> None:
    environment = get_environment_document("2.10.3")["Environment"] | changes
    response = with_datetimes(
        {"Environment": {k: v for k, v in environment.items() if v is not None}}, GET_ENVIRONMENT_OUTPUT_SHAPE
    )
    mwaa.returns(response)

    message = refusal(cfn_event("Create", cfn_properties()))

    mwaa.assert_called_once()
    assert message == (
        f"the source environment 'orders' changed since its snapshot was saved ({named}); refresh it with "
        "`python snapshot.py --migration orders`, review the template diff, and deploy again"
    )


def test_changed_options_are_named_and_their_values_never_shown(mwaa: StubbedMwaa) -> None:
    options = get_environment_document("2.10.3")["Environment"]["AirflowConfigurationOptions"]
    live = {**options, "core.default_timezone": "asia/tokyo", "smtp.smtp_password": SECRET}
    mwaa.returns(get_environment_response(AirflowConfigurationOptions=live))

    message = refusal(cfn_event("Create", cfn_properties()))

    assert (
        "(AirflowConfigurationOptions.core.default_timezone, AirflowConfigurationOptions.smtp.smtp_password (added))"
        in message
    )
    assert "tokyo" not in message and SECRET not in message


def test_a_changed_secret_is_not_seen_through_its_mask(mwaa: StubbedMwaa) -> None:
    options = get_environment_document("2.10.3")["Environment"]["AirflowConfigurationOptions"]
    mwaa.returns(get_environment_response(AirflowConfigurationOptions={**options, "smtp.smtp_password": "new"}))
    props = cfn_properties(
        Fingerprints=snapshot_fingerprints(AirflowConfigurationOptions={**options, "smtp.smtp_password": "old"})
    )

    source_check_handler.on_event(cfn_event("Create", props), None)


def test_a_source_that_is_not_available_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.returns(get_environment_response(Status="UPDATING"))

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message == (
        "the source environment 'orders' is UPDATING, not AVAILABLE; "
        "deploy again when `aws mwaa get-environment` reports AVAILABLE"
    )


def test_a_missing_source_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.fails("ResourceNotFoundException", 404, "Environment orders not found")

    message = refusal(cfn_event("Create", cfn_properties()))

    mwaa.assert_called_once()
    assert message == (
        "no MWAA environment named 'orders' in eu-west-1: it was deleted or renamed since its snapshot was saved; "
        "check source.environment_name in the migration file and the snapshot's Arn"
    )


def test_access_denied_names_the_action_and_arn(mwaa: StubbedMwaa) -> None:
    mwaa.fails("AccessDeniedException", 403, "User is not authorized to perform: airflow:GetEnvironment")

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message.startswith(
        f"access denied to airflow:GetEnvironment on arn:aws:airflow:eu-west-1:{ACCOUNT}:environment/orders; "
        "the source check's role needs that action on that ARN"
    )


def test_other_api_errors_are_refused_with_their_code(mwaa: StubbedMwaa) -> None:
    mwaa.fails("ValidationException", 400, "1 validation error detected:\nName failed")

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message == (
        "GetEnvironment for 'orders' in eu-west-1 failed: ValidationException: "
        "1 validation error detected: Name failed; deploy again"
    )


def test_an_unreachable_endpoint_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreachable:
        def get_environment(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
            raise EndpointConnectionError(endpoint_url="https://airflow.eu-west-1.amazonaws.com/environments/orders")

    monkeypatch.setattr(source_check_handler, "client_factory", lambda region: Unreachable())

    message = refusal(cfn_event("Create", cfn_properties()))

    assert message.startswith("could not reach MWAA in eu-west-1 to read 'orders' (Could not connect")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Migration": ""}, "the custom resource property Migration is missing"),
        ({"SourceRegion": None}, "the custom resource property SourceRegion is missing"),
        ({"Fingerprints": "abc"}, "Fingerprints must map paths to digests"),
    ],
)
def test_bad_properties_are_refused_before_any_call(mwaa: StubbedMwaa, changes: dict[str, Any], expected: str) -> None:
    mwaa.forbid_calls()

    assert expected in refusal(cfn_event("Create", cfn_properties(**changes)))


def test_an_unknown_request_type_is_refused(mwaa: StubbedMwaa) -> None:
    mwaa.forbid_calls()

    assert refusal(cfn_event("Replace", cfn_properties())) == (
        "unknown RequestType 'Replace'; expected Create, Update or Delete"
    )


def test_the_request_is_logged_but_never_values(mwaa: StubbedMwaa, caplog: pytest.LogCaptureFixture) -> None:
    options = {"core.default_timezone": "utc", "smtp.smtp_password": SECRET}
    mwaa.returns(get_environment_response(AirflowConfigurationOptions=options))
    caplog.set_level(logging.INFO, logger="source_check_handler")

    with pytest.raises(SourceCheckFailed):
        source_check_handler.on_event(cfn_event("Create", cfn_properties()), None)

    assert "Create request for SourceCheck5E8A2B4C" in caplog.text
    assert SECRET not in caplog.text


# --- cold start ------------------------------------------------------------------------------------------------


def test_importing_the_handler_is_fast_and_loads_no_sdk() -> None:
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "import mwaa_clone.source_check_handler\n"
        "print(time.perf_counter() - start, 'boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    # A fresh interpreter, so nothing this test session imported counts; in the asset's folder, as the runtime has it.
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
        assert environment["Status"] == "AVAILABLE", path.name
