"""The operator commands' boto3 session, with the region read from AWS_REGION too.

boto3 takes its region from AWS_DEFAULT_REGION or the profile only, while the AWS CLI v2 and the CDK CLI read
AWS_REGION first, and the README and the commands' messages say AWS_REGION: an operator who set only that got "You
must specify a region". Imported only by the commands (synth never calls AWS), so boto3 is imported late.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from boto3.session import Session


def session(region: str | None = None) -> Session:
    """`region`, else AWS_REGION, else boto3's own lookup (AWS_DEFAULT_REGION, then the profile's region)."""
    import boto3

    return boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
