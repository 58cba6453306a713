"""Custom resource handler: deploy one workflow file, or the DAG folder, into the environment's source bucket.

Runs behind aws_cdk.custom_resources.Provider, which turns an exception into FAILED with its message. Delete
removes nothing: the environment is retained when its stack is deleted, and it still runs these files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mwaa_workflow_deploy.workflow_deploy import (
    DagsRequest,
    DeploymentError,
    FileRequest,
    deploy_dags,
    deploy_file,
    physical_resource_id,
    request_from_properties,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def _s3_client() -> S3Client:
    # Imported here, not at module level: boto3 costs most of a cold start, and Delete never needs it.
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard"}))


# The seam tests replace to hand in their own client; called once per Create or Update, never on Delete.
client_factory: Callable[[], S3Client] = _s3_client


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    request_type = event.get("RequestType")
    LOGGER.info("%s request for %s", request_type, event.get("LogicalResourceId"))
    if request_type == "Delete":
        physical_id = event.get("PhysicalResourceId")
        if not isinstance(physical_id, str) or not physical_id:
            raise DeploymentError("the Delete request has no PhysicalResourceId; CloudFormation always sends one")
        return {"PhysicalResourceId": physical_id}
    if request_type not in ("Create", "Update"):
        raise DeploymentError(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")

    request = request_from_properties(event.get("ResourceProperties") or {})
    s3 = client_factory()
    from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client

    try:
        data: Mapping[str, Any] = (
            deploy_file(s3, request) if isinstance(request, FileRequest) else deploy_dags(s3, request)
        )
    except ClientError as error:
        details = error.response.get("Error", {})
        raise DeploymentError(
            f"{error.operation_name} failed for {physical_resource_id(request)}: {details.get('Code')} "
            f"{details.get('Message')}{_access_hint(details.get('Code'), request)}"
        ) from None
    except BotoCoreError as error:
        raise DeploymentError(f"could not reach S3 for {physical_resource_id(request)}: {error}") from None
    LOGGER.info("Deployed %s: %s", physical_resource_id(request), data)
    # Attributes as strings, as the clone returns its own: one type for whatever reads them with Fn::GetAtt.
    return {
        "PhysicalResourceId": physical_resource_id(request),
        "Data": {key: str(value) for key, value in data.items()},
    }


def _access_hint(code: object, request: FileRequest | DagsRequest) -> str:
    if code not in ("AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"):
        return ""
    kind = "DAG folder" if isinstance(request, DagsRequest) else "file"
    return (
        f"; the {kind} deployment's role may only read its staged asset and write {physical_resource_id(request)}: "
        "check the bucket policy, its encryption key's policy, permissions boundaries and SCPs"
    )
