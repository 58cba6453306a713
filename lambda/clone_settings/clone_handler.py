"""Custom resource handler: read the source environment once, return the clone's settings as attributes.

Runs behind aws_cdk.custom_resources.Provider, which calls on_event and turns an exception into FAILED with
its message as the reason, so every refusal is one line that says what to do. Create and Update make exactly
one AWS call (GetEnvironment on the source); Delete makes none, since the resource owns nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clone_rules import (
    CloneRefused,
    CloneRequest,
    check_response_size,
    clone_settings,
    encode_attributes,
    physical_resource_id,
    response_body,
)

if TYPE_CHECKING:
    from mypy_boto3_mwaa import MWAAClient

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def _mwaa_client(region: str) -> MWAAClient:
    # Imported here, not at module level: boto3 costs most of a cold start, and Delete never needs it.
    import boto3
    from botocore.config import Config

    return boto3.client("mwaa", region_name=region, config=Config(retries={"mode": "standard"}))


# The seam tests replace to hand in a stubbed client; called once per Create or Update, never on Delete.
client_factory: Callable[[str], MWAAClient] = _mwaa_client


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Provider framework entry point; returns the response, raises CloneRefused to fail with its message."""
    request_type = event.get("RequestType")
    LOGGER.info("%s request for %s", request_type, event.get("LogicalResourceId"))
    if request_type == "Delete":
        physical_id = event.get("PhysicalResourceId")
        if not isinstance(physical_id, str) or not physical_id:
            raise CloneRefused("the Delete request has no PhysicalResourceId; CloudFormation always sends one")
        return {"PhysicalResourceId": physical_id}
    if request_type not in ("Create", "Update"):
        raise CloneRefused(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")

    request = CloneRequest.from_properties(event.get("ResourceProperties") or {})
    physical_id = physical_resource_id(request)
    environment = _get_source_environment(request, str(event.get("StackId", "")))
    result = clone_settings(environment, request)
    for warning in result.warnings:
        LOGGER.warning("%s", warning)
    data = encode_attributes(result.settings)
    body = response_body(
        data,
        physical_id=physical_id,
        stack_id=str(event.get("StackId", "")),
        request_id=str(event.get("RequestId", "")),
        logical_id=str(event.get("LogicalResourceId", "")),
    )
    size = check_response_size(result.settings, body)
    LOGGER.info("Cloned %s in %s: %d warnings, %d-byte response", *_source(request), len(result.warnings), size)
    # NoEcho: configuration values can hold secrets, so GetAtt results stay masked in the console and logs.
    return {"PhysicalResourceId": physical_id, "Data": data, "NoEcho": True}


def _source(request: CloneRequest) -> tuple[str, str]:
    return request.source_environment_name, request.source_region


def _get_source_environment(request: CloneRequest, stack_id: str) -> Mapping[str, Any]:
    """GetEnvironment on the source; AWS errors become one-line refusals that say what to fix."""
    name, region = _source(request)
    client = client_factory(region)
    # botocore is loaded by now (the client needs it), so these imports cost nothing.
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        environment: Mapping[str, Any] = client.get_environment(Name=name)["Environment"]
    except ClientError as error:
        raise _refusal(error.response.get("Error", {}), request, stack_id) from None
    except BotoCoreError as error:
        raise CloneRefused(
            f"could not reach MWAA in {region} to read {name!r} ({_one_line(str(error))}); "
            "check source.region in the migration file and deploy again"
        ) from None
    return environment


def _refusal(error: Mapping[str, Any], request: CloneRequest, stack_id: str) -> CloneRefused:
    name, region = _source(request)
    code = str(error.get("Code", "Unknown"))
    if code == "ResourceNotFoundException":
        return CloneRefused(
            f"no MWAA environment named {name!r} in {region}; "
            "check source.environment_name and source.region in the migration file"
        )
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        return CloneRefused(
            f"access denied to airflow:GetEnvironment on {_environment_arn(request, stack_id)}; "
            "the clone function's role needs that action on that ARN (check permissions boundaries and SCPs too)"
        )
    message = _one_line(str(error.get("Message", "")))
    return CloneRefused(f"GetEnvironment for {name!r} in {region} failed: {code}: {message}; deploy again once fixed")


def _environment_arn(request: CloneRequest, stack_id: str) -> str:
    # The stack's ARN gives the partition and account: the source is read in the deploying account.
    parts = stack_id.split(":")
    partition, account = (parts[1], parts[4]) if len(parts) > 5 and parts[0] == "arn" else ("aws", "<account-id>")
    return f"arn:{partition}:airflow:{request.source_region}:{account}:environment/{request.source_environment_name}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
