"""The operator commands' region: the one asked for, else AWS_REGION (as the AWS and CDK CLIs read it), else boto3's."""

from __future__ import annotations

import pytest

from mwaa_migration import aws_session


def test_the_region_comes_from_the_argument_then_aws_region_then_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert aws_session.session("ap-south-1").region_name == "ap-south-1"
    assert aws_session.session().region_name == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    assert aws_session.session().region_name == "us-east-1"
