"""The custom resource that reads the source environment with GetEnvironment and returns its settings,
translated for the target Airflow version, as attributes the new environment reads with Fn::GetAtt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import CustomResource, Duration, Stack, Token
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs.execution_role import environment_arn
from constructs.provider_handler import provider_handler
from mwaa_migration.clone_lambda import CLONE_SETTINGS_DIR

RESOURCE_TYPE = "Custom::CloneMwaaSettings"
# A failure reaches CloudFormation in minutes instead of after the default hour.
SERVICE_TIMEOUT = Duration.minutes(5)


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
        handler = provider_handler(
            self,
            code_dir=CLONE_SETTINGS_DIR,
            handler="clone_handler.on_event",
            description="Clones an MWAA environment's settings for a new Airflow version",
            role_description=f"Reads the MWAA environment {source_environment_name} to clone its settings",
            invoke_sid="InvokeCloneHandler",
            permissions=[
                iam.PolicyStatement(
                    sid="ReadSourceEnvironment",
                    actions=["airflow:GetEnvironment"],
                    resources=[environment_arn(self, source_environment_name, region=source_region)],
                )
            ],
            outside_vpc_reason="Calls only the public MWAA API (GetEnvironment); an MWAA source may give no VPC to "
            "place it in, and a VPC would need a NAT or an MWAA endpoint just for this call.",
            timeout=Duration.seconds(60),
            memory_size=256,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=handler.provider.service_token,
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
        # The clone must not run before both functions' policies are attached.
        self.resource.node.add_dependency(*handler.policies)

    def string(self, attribute: str) -> str:
        return self.resource.get_att_string(attribute)

    def number(self, attribute: str) -> float:
        return Token.as_number(self.resource.get_att(attribute))

    def flag(self, attribute: str) -> Any:
        return self.resource.get_att(attribute)
