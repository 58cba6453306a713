"""A custom resource handler behind the CDK Provider framework, each function with its own log group and a role
whose only rights are the statements given and writing its own logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aws_cdk import CfnResource, CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from constructs import Construct, IConstruct
from constructs.acknowledgments import acknowledge

LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# Bytecode differs between machines and Python versions: it would change the asset hash, not the code.
ASSET_EXCLUDES = ["__pycache__", "*.pyc"]


@dataclass(frozen=True)
class ProviderHandler:
    function: lambda_.Function
    provider: cr.Provider
    handler_policy: iam.ManagedPolicy
    provider_policy: iam.ManagedPolicy

    @property
    def policies(self) -> tuple[iam.ManagedPolicy, iam.ManagedPolicy]:
        """Managed policies attach apart from their roles: a custom resource must depend on both."""
        return self.handler_policy, self.provider_policy

    def custom_resource(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource_type: str,
        service_timeout: Duration,
        properties: Mapping[str, Any],
    ) -> CustomResource:
        """A custom resource served by this handler, created only once both functions' policies are attached."""
        resource = CustomResource(
            scope,
            construct_id,
            service_token=self.provider.service_token,
            resource_type=resource_type,
            service_timeout=service_timeout,
            properties=dict(properties),
        )
        resource.node.add_dependency(*self.policies)
        return resource


def provider_handler(
    scope: Construct,
    *,
    code_dir: Path,
    handler: str,
    description: str,
    role_description: str,
    invoke_sid: str,
    permissions: Sequence[iam.PolicyStatement],
    outside_vpc_reason: str,
    timeout: Duration,
    memory_size: int,
) -> ProviderHandler:
    """Children of `scope`: Handler{,Logs,Role,Policy} and Provider{,Logs,Role,Policy}."""
    handler_logs, handler_role, handler_policy = _function_identity(scope, "Handler", role_description, permissions)
    function = lambda_.Function(
        scope,
        "Handler",
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler=handler,
        code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDES),
        timeout=timeout,
        memory_size=memory_size,
        role=handler_role,
        log_group=handler_logs,
    )
    provider_logs, provider_role, provider_policy = _function_identity(
        scope,
        "Provider",
        f"Lets the custom resource framework invoke the function: {description}",
        [
            # GetFunction: after a failed invoke the framework waits for the function to be active again.
            iam.PolicyStatement(
                sid=invoke_sid,
                actions=["lambda:GetFunction", "lambda:InvokeFunction"],
                resources=[function.function_arn],
            )
        ],
    )
    provider = cr.Provider(
        scope,
        "Provider",
        on_event_handler=function,
        log_group=provider_logs,
        # Immutable, so the framework adds no inline policy of its own: the managed policy above is all it gets.
        framework_on_event_role=provider_role.without_policy_updates(),
    )
    for each in (function, provider.node.find_child("framework-onEvent")):
        _acknowledge_function_findings(each, outside_vpc_reason)
        # CDK makes a function depend on its role, which its GetAtt of the role's ARN already does (W3005).
        cast(CfnResource, each.node.default_child).add_deletion_override("DependsOn")
    return ProviderHandler(function, provider, handler_policy, provider_policy)


def _function_identity(
    scope: Construct, prefix: str, description: str, permissions: Sequence[iam.PolicyStatement]
) -> tuple[logs.LogGroup, iam.Role, iam.ManagedPolicy]:
    log_group = logs.LogGroup(
        scope, f"{prefix}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    )
    acknowledge(
        log_group,
        "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
        "Holds request types, counts, warnings and errors only: the handlers never log option values, settings "
        "or file contents, and the framework's event logging is off.",
    )
    role = iam.Role(
        scope, f"{prefix}Role", description=description, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
    )
    write_logs = iam.PolicyStatement(
        sid="WriteOwnLogs",
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn],
    )
    policy = iam.ManagedPolicy(scope, f"{prefix}Policy", roles=[role], statements=[*permissions, write_logs])
    return log_group, role, policy


def _acknowledge_function_findings(function: IConstruct, outside_vpc_reason: str) -> None:
    acknowledge(
        function,
        "NIST.800.53.R5-LambdaConcurrency",
        "Runs once per deploy of this stack; reserving concurrency would take from the account's pool and "
        "fails to deploy in accounts at the 10-execution minimum.",
    )
    acknowledge(
        function,
        "NIST.800.53.R5-LambdaDLQ",
        "A custom resource event has nowhere to be replayed from: a failure is reported to CloudFormation, "
        "which fails the deploy within ServiceTimeout.",
    )
    acknowledge(function, "NIST.800.53.R5-LambdaInsideVPC", outside_vpc_reason)
