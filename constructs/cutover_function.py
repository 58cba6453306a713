"""One Lambda function of the cut-over state machine: its own log group, and a role whose only rights are the
statements given (what its one step calls) and writing its own logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct
from constructs.acknowledgments import acknowledge
from constructs.provider_handler import ASSET_EXCLUDES, LOG_RETENTION
from mwaa_migration.assets import CUTOVER_DIR

# The newest Python runtime Lambda offers (cdk-nag's AwsSolutions-L1 wants the latest); the code needs 3.11+ and
# nothing beyond the runtime's own boto3, so the asset is the folder as it is, without bundling.
RUNTIME = lambda_.Runtime.PYTHON_3_14


def cutover_code() -> lambda_.Code:
    """The asset, once per stack: every step's function shares it (one folder hash and one upload, not eleven)."""
    return lambda_.Code.from_asset(str(CUTOVER_DIR), exclude=ASSET_EXCLUDES)


class CutoverFunction(Construct):
    """Children: Logs, Role, Policy, Function (handler `mwaa_cutover.cutover_handler.<step>`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        step: str,
        description: str,
        statements: Sequence[iam.PolicyStatement],
        environment: Mapping[str, str],
        timeout: Duration,
        code: lambda_.Code,
        memory_size: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        self.step = step
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
        )
        acknowledge(
            self.log_group,
            "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
            "Holds the step's name, the keys of its result and errors that name DAGs, keys and counts only: the "
            "cut-over's handlers never log a variable, connection or setting value.",
        )
        self.role = iam.Role(
            self,
            "Role",
            description=f"Cut-over step {step}: {description}",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        write_logs = iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        )
        self.policy = iam.ManagedPolicy(self, "Policy", roles=[self.role], statements=[*statements, write_logs])
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"MWAA cut-over: {description}",
            runtime=RUNTIME,
            handler=f"mwaa_cutover.cutover_handler.{step}",
            code=code,
            timeout=timeout,
            memory_size=memory_size,
            role=self.role,
            log_group=self.log_group,
            environment=dict(environment),
        )
        # The function's GetAtt of the role's ARN already orders them; CDK's extra DependsOn is cfn-lint's W3005.
        cast(CfnResource, self.function.node.default_child).add_deletion_override("DependsOn")
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaConcurrency",
            "Invoked by one state machine whose executions can't overlap (its first state refuses a second one), "
            "one step at a time; reserving concurrency would take from the account's pool.",
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaDLQ",
            "Invoked synchronously by Step Functions, which records every failure in the execution's history and "
            "fails the execution; there is no asynchronous event to keep in a queue.",
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaInsideVPC",
            "Calls only AWS APIs (MWAA InvokeRestApi and GetEnvironment, S3, Step Functions) over their public "
            "endpoints with IAM; it opens no connection into the environments' VPCs.",
        )
