"""Guide step 5: the cut-over state machine (rehearsal, cut-over, rollback) and its Lambdas, each with a role
scoped to what its one step calls (constructs/cutover_permissions.py has the table): one Airflow role on each
environment it touches, the bucket's prefixes it reads or writes, the migration key through S3."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, CfnOutput, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.acknowledgments import acknowledge
from constructs.cutover_definition import build_definition
from constructs.cutover_function import CutoverFunction, cutover_code
from constructs.cutover_permissions import LONG_STEP_TIMEOUT, acknowledge_step_wildcards, step_permissions
from constructs.migration_bucket import migration_bucket_name
from constructs.provider_handler import LOG_RETENTION
from mwaa_migration.airflow_versions import airflow_major
from mwaa_migration.cutover.names import machine_exports, state_machine_name
from mwaa_migration.migration import MigrationConfig


class CutoverStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, migration: MigrationConfig, migration_key: kms.IKey, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        name, source, target = migration.name, migration.source, migration.target
        exports = machine_exports(migration)
        rest_import = airflow_major(target.airflow_version) >= 3
        bucket = s3.Bucket.from_bucket_name(self, "MigrationBucket", migration_bucket_name(name))
        machine_name = state_machine_name(name)
        machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

        old_env, new_env = source.environment_name or "", target.environment_name
        specs = step_permissions(
            self,
            migration=migration,
            bucket=bucket,
            migration_key=migration_key,
            machine_arn=machine_arn,
            exports=exports,
            rest_import=rest_import,
        )

        environment = {
            "MIGRATION": name,
            "MIGRATION_BUCKET": migration_bucket_name(name),
            "OPERATOR_EXPORT": "false" if exports else "true",
            "OLD_ENVIRONMENT": old_env,
            "OLD_REGION": source.region or "",
            "NEW_ENVIRONMENT": new_env,
            "NEW_API_VERSION": "v2" if rest_import else "v1",
            "STATE_MACHINE_ARN": machine_arn,
        }
        self.functions: dict[str, CutoverFunction] = {}
        # Functions under their own scope: their ids are the step names, as are the states'.
        steps = Construct(self, "Steps")
        code = cutover_code()
        for step, spec in specs.items():
            construct_id = "".join(part.title() for part in step.split("_"))
            function = CutoverFunction(
                steps,
                construct_id,
                step=step,
                description=spec.description,
                statements=spec.statements,
                environment=environment,
                timeout=spec.timeout,
                code=code,
                memory_size=1024 if spec.timeout is LONG_STEP_TIMEOUT else 512,
            )
            self.functions[step] = function
            acknowledge_step_wildcards(function.policy, spec.statements)

        self.state_machine = self._state_machine(machine_name, exports=exports, rest_import=rest_import)
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.state_machine.state_machine_arn,
            description='Start with {"mode": "rehearsal" | "cutover" | "rollback"}',
        )

    def _state_machine(self, machine_name: str, *, exports: bool, rest_import: bool) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self, "StateMachineLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
        )
        acknowledge(
            log_group,
            "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
            "Holds state transitions without execution data (the machine logs no inputs or results), and its "
            "states' results are counts and ids only in any case.",
        )
        role = iam.Role(
            self,
            "StateMachineRole",
            description="Lets the cut-over state machine invoke its own functions, log and trace",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
        )
        functions = [item.function.function_arn for item in self.functions.values()]
        policy = iam.ManagedPolicy(
            self,
            "StateMachinePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(sid="InvokeSteps", actions=["lambda:InvokeFunction"], resources=functions),
                iam.PolicyStatement(
                    sid="DeliverLogs",
                    # CloudWatch Logs' log delivery for Step Functions takes these on "*" only.
                    actions=[
                        "logs:CreateLogDelivery",
                        "logs:GetLogDelivery",
                        "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="Trace",
                    actions=[
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                    ],
                    resources=["*"],
                ),
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs' vended log delivery (Create/Get/Update/Delete/ListLogDeliveries, resource policies) "
            "and X-Ray's PutTraceSegments/PutTelemetryRecords/GetSampling* support no resource-level permissions.",
        )
        definition = build_definition(
            self,
            functions={step: item.function for step, item in self.functions.items()},
            machine_exports=exports,
            rest_import=rest_import,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            # Immutable: CDK adds nothing of its own; the managed policy above is all the machine may do.
            role=role.without_policy_updates(),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # Step Functions checks at creation that the role may deliver logs: the policy first. Only the policy: the
        # role is ordered by the machine's GetAtt already (a DependsOn on it would be cfn-lint's W3005).
        cfn_policy = cast(CfnResource, policy.node.default_child)
        cast(CfnResource, machine.node.default_child).add_override("DependsOn", [self.get_logical_id(cfn_policy)])
        return machine
