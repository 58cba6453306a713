"""The custom resource that reads the source environment with GetEnvironment and returns its settings,
translated for the target Airflow version, as attributes the new environment reads with Fn::GetAtt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from constructs import Construct
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
        handler_logs = logs.LogGroup(self, "HandlerLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        handler_role = iam.Role(
            self,
            "HandlerRole",
            description=f"Reads the MWAA environment {source_environment_name} to clone its settings",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        handler_policy = iam.ManagedPolicy(
            self,
            "HandlerPolicy",
            roles=[handler_role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadSourceEnvironment",
                    actions=["airflow:GetEnvironment"],
                    resources=[environment_arn(self, source_environment_name, region=source_region)],
                ),
                _write_logs_statement(handler_logs),
            ],
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
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
        )
        provider_role = iam.Role(
            self,
            "ProviderRole",
            description="Lets the custom resource framework invoke the clone handler",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        provider_policy = iam.ManagedPolicy(
            self,
            "ProviderPolicy",
            roles=[provider_role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeCloneHandler",
                    actions=["lambda:InvokeFunction"],
                    resources=[self.handler.function_arn],
                ),
                _write_logs_statement(provider_logs),
            ],
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
            _drop_redundant_role_dependency(function)

        self._log_groups = [handler_logs, provider_logs]
        self._acknowledge_findings(provider)

    def _acknowledge_findings(self, provider: cr.Provider) -> None:
        functions = [self.handler, provider.node.find_child("framework-onEvent")]
        for function in functions:
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
        for log_group in self._log_groups:
            acknowledge(
                log_group,
                "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
                "Holds request types, warnings and errors only: the handler never logs option values or the "
                "cloned settings, and the framework's event logging is off.",
            )

    def string(self, attribute: str) -> str:
        return self.resource.get_att_string(attribute)

    def number(self, attribute: str) -> float:
        return Token.as_number(self.resource.get_att(attribute))

    def flag(self, attribute: str) -> Any:
        return self.resource.get_att(attribute)


def _write_logs_statement(log_group: logs.ILogGroup) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="WriteOwnLogs",
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn],
    )


def _drop_redundant_role_dependency(function: Any) -> None:
    """CDK makes a function depend on its role, which its GetAtt of the role's ARN already does (cfn-lint W3005)."""
    function.node.default_child.add_deletion_override("DependsOn")
