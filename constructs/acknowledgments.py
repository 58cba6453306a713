"""cdk-nag acknowledgments that name the exact finding, so a new finding on the same resource still fails synth."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations

from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    # The plugin prefix is the rule pack's name, the part of the rule ID before its first "-", as cdk-nag
    # prints it in "Acknowledge with '...'" (AwsSolutions::AwsSolutions-IAM5, NIST.800.53.R5::NIST.800.53.R5-...).
    pack = finding.split("-", 1)[0]
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}::{finding}", reason=reason))


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for one wildcard resource ARN, spelled as cdk-nag spells it."""
    flat = flatten_reference(Stack.of(scope).resolve(resource))
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::{flat}]", reason)


def flatten_reference(node: Any) -> str:
    """cdk-nag's rendering of a resolved CloudFormation value: Ref as <X>, GetAtt as <X.Attr>, Join concatenated."""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
