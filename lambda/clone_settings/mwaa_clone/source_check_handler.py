"""Custom resource handler: check once, at deploy, that the source is AVAILABLE and still matches its snapshot.

Runs behind aws_cdk.custom_resources.Provider, which turns an exception into FAILED with its message as the
reason, so every refusal is one line that says what to do. Create, and an Update whose source or snapshot
changed, make exactly one AWS call (GetEnvironment on the source); anything else makes none. An Update passes
when the source matches either the new snapshot or the one it replaces, so a rollback can always go back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mwaa_clone.source_check import CheckRequest, SourceCheckFailed, check_source

if TYPE_CHECKING:
    from mypy_boto3_mwaa import MWAAClient

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def _mwaa_client(region: str) -> MWAAClient:
    # Imported here, not at module level: boto3 costs most of a cold start, and Delete never needs it.
    import boto3
    from botocore.config import Config

    return boto3.client("mwaa", region_name=region, config=Config(retries={"mode": "standard"}))


# The seam tests replace to hand in a stubbed client.
client_factory: Callable[[str], MWAAClient] = _mwaa_client


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Provider framework entry point; returns the physical ID, raises SourceCheckFailed to fail the deploy."""
    request_type = event.get("RequestType")
    LOGGER.info("%s request for %s", request_type, event.get("LogicalResourceId"))
    if request_type not in ("Create", "Update", "Delete"):
        raise SourceCheckFailed(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")
    if request_type == "Delete":
        return {"PhysicalResourceId": str(event.get("PhysicalResourceId") or "source-check")}
    request = CheckRequest.from_properties(event.get("ResourceProperties") or {})
    physical_id = f"source-check/{request.source_region}/{request.source_environment_name}"
    previous = _previous_request(event) if request_type == "Update" else None
    if previous == request:
        LOGGER.info("Snapshot and source unchanged: nothing to check")
        return {"PhysicalResourceId": physical_id}
    environment = _get_source_environment(request, str(event.get("StackId", "")))
    # A rollback is an Update back to the old snapshot, which the changed source no longer matches: the live
    # source matching the snapshot being replaced is as good, or the rollback itself would fail.
    check_source(environment, request, previous)
    LOGGER.info("Source %s in %s matches its snapshot", request.source_environment_name, request.source_region)
    return {"PhysicalResourceId": physical_id}


def _previous_request(event: Mapping[str, Any]) -> CheckRequest | None:
    try:
        return CheckRequest.from_properties(event.get("OldResourceProperties") or {})
    except SourceCheckFailed:
        return None


def _get_source_environment(request: CheckRequest, stack_id: str) -> Mapping[str, Any]:
    """GetEnvironment on the source; AWS errors become one-line refusals that say what to fix."""
    name, region = request.source_environment_name, request.source_region
    client = client_factory(region)
    # botocore is loaded by now (the client needs it), so these imports cost nothing.
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        environment: Mapping[str, Any] = client.get_environment(Name=name)["Environment"]
    except ClientError as error:
        raise _refusal(error.response.get("Error", {}), request, stack_id) from None
    except BotoCoreError as error:
        raise SourceCheckFailed(
            f"could not reach MWAA in {region} to read {name!r} ({_one_line(str(error))}); deploy again"
        ) from None
    return environment


def _refusal(error: Mapping[str, Any], request: CheckRequest, stack_id: str) -> SourceCheckFailed:
    name, region = request.source_environment_name, request.source_region
    code = str(error.get("Code", "Unknown"))
    if code == "ResourceNotFoundException":
        return SourceCheckFailed(
            f"no MWAA environment named {name!r} in {region}: it was deleted or renamed since its snapshot was "
            "saved; check source.environment_name in the migration file and the snapshot's Arn"
        )
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        parts = stack_id.split(":")
        partition, account = (parts[1], parts[4]) if len(parts) > 5 and parts[0] == "arn" else ("aws", "<account>")
        return SourceCheckFailed(
            f"access denied to airflow:GetEnvironment on arn:{partition}:airflow:{region}:{account}:environment/"
            f"{name}; the source check's role needs that action on that ARN (check permissions boundaries and SCPs)"
        )
    message = _one_line(str(error.get("Message", "")))
    return SourceCheckFailed(f"GetEnvironment for {name!r} in {region} failed: {code}: {message}; deploy again")


def _one_line(text: str) -> str:
    return " ".join(text.split())
