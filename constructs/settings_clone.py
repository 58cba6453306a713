"""The custom resource that reads the source environment with GetEnvironment and returns its settings,
translated for the target Airflow version, as attributes the new environment reads with Fn::GetAtt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import CfnResource, CustomResource, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from constructs import Construct, IConstruct
from constructs.acknowledgments import acknowledge
from constructs.execution_role import environment_arn
from mwaa_migration.clone_lambda import CLONE_SETTINGS_DIR

RESOURCE_TYPE = "Custom::CloneMwaaSettings"
# A failure reaches CloudFormation in minutes instead of after the default hour.
SERVICE_TIMEOUT = Duration.minutes(5)
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


class SourceSettingsClone(Construct):
    """One GetEnvironment call per Create or Update, on one environment; Delete does nothing (it owns nothing)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_environment_name: str,
        source_region: str,
        target_environment_name: str,
        target_airflow_version: str,
        overrides: Mapping[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)
        handler_logs, handler_role, handler_policy = self._function_identity(
            "Handler",
            f"Reads the MWAA environment {source_environment_name} to clone its settings",
            iam.PolicyStatement(
                sid="ReadSourceEnvironment",
                actions=["airflow:GetEnvironment"],
                resources=[environment_arn(self, source_environment_name, region=source_region)],
            ),
        )
        self.handler = lambda_.Function(
            self,
            "Handler",
            description="Clones an MWAA environment's settings for a new Airflow version",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="clone_handler.on_event",
            code=lambda_.Code.from_asset(str(CLONE_SETTINGS_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=Duration.seconds(60),
            memory_size=256,
            role=handler_role,
            log_group=handler_logs,
        )
        provider_logs, provider_role, provider_policy = self._function_identity(
            "Provider",
            "Lets the custom resource framework invoke the clone handler",
            iam.PolicyStatement(
                sid="InvokeCloneHandler", actions=["lambda:InvokeFunction"], resources=[self.handler.function_arn]
            ),
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler,
            log_group=provider_logs,
            # Immutable, so the framework adds no inline policy of its own: the managed policy above is all it gets.
            framework_on_event_role=provider_role.without_policy_updates(),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "SourceEnvironmentName": source_environment_name,
                "SourceRegion": source_region,
                "TargetEnvironmentName": target_environment_name,
                "TargetRegion": Stack.of(self).region,
                "TargetAirflowVersion": target_airflow_version,
                # One sorted JSON string, so the template diff shows exactly which override changed.
                "Overrides": json.dumps(overrides, sort_keys=True, separators=(",", ":")),
            },
        )
        # The functions' permissions are managed policies, which CloudFormation attaches independently of the
        # roles: the clone must not run before both are in place.
        self.resource.node.add_dependency(handler_policy, provider_policy)
        for function in (self.handler, provider.node.find_child("framework-onEvent")):
            _acknowledge_function_findings(function)
            # CDK makes a function depend on its role, which its GetAtt of the role's ARN already does (W3005).
            cast(CfnResource, function.node.default_child).add_deletion_override("DependsOn")

    def _function_identity(
        self, prefix: str, description: str, permission: iam.PolicyStatement
    ) -> tuple[logs.LogGroup, iam.Role, iam.ManagedPolicy]:
        """A function's log group, and a role whose only rights are `permission` and writing to that group."""
        log_group = logs.LogGroup(self, f"{prefix}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        acknowledge(
            log_group,
            "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
            "Holds request types, warnings and errors only: the handler never logs option values or the "
            "cloned settings, and the framework's event logging is off.",
        )
        role = iam.Role(
            self, f"{prefix}Role", description=description, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
        )
        write_logs = iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        )
        policy = iam.ManagedPolicy(self, f"{prefix}Policy", roles=[role], statements=[permission, write_logs])
        return log_group, role, policy

    def string(self, attribute: str) -> str:
        return self.resource.get_att_string(attribute)

    def number(self, attribute: str) -> float:
        return Token.as_number(self.resource.get_att(attribute))

    def flag(self, attribute: str) -> Any:
        return self.resource.get_att(attribute)


def _acknowledge_function_findings(function: IConstruct) -> None:
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
    acknowledge(
        function,
        "NIST.800.53.R5-LambdaInsideVPC",
        "Calls only the public MWAA API (GetEnvironment); an MWAA source may give no VPC to place it in, "
        "and a VPC would need a NAT or an MWAA endpoint just for this call.",
    )
