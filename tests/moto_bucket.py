"""A moto S3 bucket versioned like the migration bucket, for the cut-over's tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from moto import mock_aws


@contextlib.contextmanager
def versioned_bucket(name: str) -> Iterator[Any]:
    """Versioned, as the migration bucket is: a delete leaves a delete marker as the current version."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        yield client
