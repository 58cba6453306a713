"""The deploy-time source check: before the new environment is created, the source must be AVAILABLE and match
the snapshot its settings were cloned from. One GetEnvironment call; its properties hold fingerprints, never
option values."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_iam as iam

from constructs import Construct
from constructs.execution_role import environment_arn
from constructs.provider_handler import provider_handler
from mwaa_migration.assets import CLONE_SETTINGS_DIR

RESOURCE_TYPE = "Custom::MwaaSourceCheck"
# A failure reaches CloudFormation in minutes instead of after the default hour.
SERVICE_TIMEOUT = Duration.minutes(5)


class SourceCheck(Construct):
    """Create, and an Update that changes the snapshot, call GetEnvironment once; Delete does nothing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        migration_name: str,
        source_environment_name: str,
        source_region: str,
        source_account: str,
        fingerprints: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        handler = provider_handler(
            self,
            code_dir=CLONE_SETTINGS_DIR,
            handler="mwaa_clone.source_check_handler.on_event",
            description="Checks that the source MWAA environment still matches its snapshot",
            role_description=f"Reads the MWAA environment {source_environment_name} to check it against its snapshot",
            invoke_sid="InvokeSourceCheck",
            permissions=[
                iam.PolicyStatement(
                    sid="ReadSourceEnvironment",
                    actions=["airflow:GetEnvironment"],
                    resources=[
                        environment_arn(self, source_environment_name, region=source_region, account=source_account)
                    ],
                )
            ],
            outside_vpc_reason="Calls only the public MWAA API (GetEnvironment); an MWAA source may give no VPC to "
            "place it in, and a VPC would need a NAT or an MWAA endpoint just for this call.",
            timeout=Duration.seconds(60),
            memory_size=256,
        )
        self.resource = handler.custom_resource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Migration": migration_name,
                "SourceEnvironmentName": source_environment_name,
                "SourceRegion": source_region,
                "Fingerprints": dict(fingerprints),
            },
        )
