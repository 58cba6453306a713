"""Custom resource handler: one migration DAG object in an environment's DAG folder (the export DAG in the old
environment, guide step 3; the migration DAGs' zip, the import and task-log DAGs, in the new one, step 4).

Runs behind aws_cdk.custom_resources.Provider, which turns an exception into FAILED with its message. The
physical ID is the object's location: a new DAG file is an update in place (and its rollback an update back),
and only a new location, or deleting the stack, removes a file, which the deployment does only while it is its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mwaa_export_dag_deploy.export_dag_deploy import MigrationDagError, MigrationDagRequest, deploy, remove

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def _s3_client() -> S3Client:
    # Imported here: boto3 costs most of a cold start.
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard"}))


# The seam tests replace to hand in their own client.
client_factory: Callable[[], S3Client] = _s3_client


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    request_type = event.get("RequestType")
    LOGGER.info("%s request for %s", request_type, event.get("LogicalResourceId"))
    if request_type not in ("Create", "Update", "Delete"):
        raise MigrationDagError(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")
    physical_id = str(event.get("PhysicalResourceId") or "")
    if request_type == "Delete":
        try:
            request = MigrationDagRequest.from_properties(event.get("ResourceProperties") or {})
        except MigrationDagError:
            return {"PhysicalResourceId": physical_id}  # a create that failed early wrote nothing
        removed = _call(lambda: remove(client_factory(), request), request)
        LOGGER.info("%s %s", "Removed" if removed else "Left (not this migration's file)", request.location)
        return {"PhysicalResourceId": physical_id}
    request = MigrationDagRequest.from_properties(event.get("ResourceProperties") or {})
    data = _call(lambda: deploy(client_factory(), request), request)
    LOGGER.info("Wrote %s", request.location)
    return {"PhysicalResourceId": request.location, "Data": data}


def _call(action: Callable[[], Any], request: MigrationDagRequest) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return action()
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code")
        hint = (
            "; the deployment's role may only read its staged asset and write that one key: check the bucket policy, "
            "its encryption key's policy, permissions boundaries and SCPs"
            if code in ("AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException")
            else ""
        )
        raise MigrationDagError(
            f"{error.operation_name} failed for {request.location}: {code} {details.get('Message')}{hint}"
        ) from None
    except BotoCoreError as error:
        raise MigrationDagError(f"could not reach S3 for {request.location}: {error}") from None
