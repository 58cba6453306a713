"""The new environment's execution role with the MWAA user guide's least-privilege policy."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from constructs import Construct
from constructs.acknowledgments import acknowledge_wildcard_resource
from mwaa_migration.environment.secrets_access import SecretReads

# Read-only S3 calls MWAA makes on its source bucket: the guide's GetObject*/GetBucket*/List*, spelled out.
SOURCE_BUCKET_READ_ACTIONS = (
    "s3:GetBucketLocation",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
)
LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
    "logs:GetLogGroupFields",
    "logs:GetLogRecord",
    "logs:GetQueryResults",
    "logs:PutLogEvents",
)
CELERY_QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
)
KMS_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def environment_arn(
    scope: Construct, environment_name: str, region: str | None = None, account: str | None = None
) -> str:
    return Stack.of(scope).format_arn(
        service="airflow", resource="environment", resource_name=environment_name, region=region, account=account
    )


class MwaaExecutionRole(Construct):
    """Trusts MWAA only for this account and this environment; reads its source bucket, writes its own logs,
    uses its Celery queues, and uses the customer key only when the environment has one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        source_bucket: s3.IBucket,
        kms_key_arn: str | None,
        secret_reads: Sequence[SecretReads] = (),
        managed_policy_arns: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        env_arn = environment_arn(self, environment_name)
        # Confused-deputy guard: MWAA may assume the role only on behalf of this account's environment.
        trust_conditions = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": env_arn},
        }
        self.role = iam.Role(
            self,
            "Role",
            description=f"Execution role of the MWAA environment {environment_name}",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com", conditions=trust_conditions),
                iam.ServicePrincipal("airflow-env.amazonaws.com", conditions=trust_conditions),
            ),
        )
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"airflow-{environment_name}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        celery_queues = f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:*:airflow-celery-*"
        statements = [
            iam.PolicyStatement(sid="PublishMetrics", actions=["airflow:PublishMetrics"], resources=[env_arn]),
            iam.PolicyStatement(
                sid="DenyListAllBuckets",
                effect=iam.Effect.DENY,
                actions=["s3:ListAllMyBuckets"],
                resources=[source_bucket.bucket_arn, source_bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="ReadSourceBucket",
                actions=list(SOURCE_BUCKET_READ_ACTIONS),
                resources=[source_bucket.bucket_arn, source_bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="CheckAccountPublicAccessBlock",
                # MWAA refuses a bucket that could be public; this call has no resource-level permissions.
                actions=["s3:GetAccountPublicAccessBlock"],
                resources=["*"],
            ),
            iam.PolicyStatement(sid="WriteEnvironmentLogs", actions=list(LOG_ACTIONS), resources=[log_groups]),
            iam.PolicyStatement(
                sid="DescribeLogGroups",
                # DescribeLogGroups has no resource-level permissions.
                actions=["logs:DescribeLogGroups"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="PutMetricData",
                # PutMetricData has no resource-level permissions.
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="UseCeleryQueues",
                actions=list(CELERY_QUEUE_ACTIONS),
                # The queues live in an MWAA-owned account, so the account part can't be this one.
                resources=[celery_queues],
            ),
        ]
        if kms_key_arn is None:
            statements.append(
                iam.PolicyStatement(
                    sid="UseAwsOwnedQueueKey",
                    # The Celery queues live in MWAA's account, encrypted with an AWS-owned key: any key outside
                    # this account, used through SQS only (the MWAA user guide's statement, actions spelled out).
                    actions=list(KMS_ACTIONS),
                    not_resources=[f"arn:{Aws.PARTITION}:kms:*:{Aws.ACCOUNT_ID}:key/*"],
                    conditions={"StringLike": {"kms:ViaService": [f"sqs.{Aws.REGION}.amazonaws.com"]}},
                )
            )
        else:
            statements.append(
                iam.PolicyStatement(
                    sid="UseEnvironmentKey",
                    actions=list(KMS_ACTIONS),
                    resources=[kms_key_arn],
                    conditions={
                        "StringLike": {
                            "kms:ViaService": [
                                f"sqs.{Aws.REGION}.amazonaws.com",
                                f"s3.{Aws.REGION}.amazonaws.com",
                            ]
                        }
                    },
                )
            )
        secret_arns = [
            (read.service, f"arn:{Aws.PARTITION}:{read.service}:{read.region or Aws.REGION}:{Aws.ACCOUNT_ID}:{name}")
            for read in secret_reads
            for name in read.resources
        ]
        for service, action in (("secretsmanager", "secretsmanager:GetSecretValue"), ("ssm", "ssm:GetParameter")):
            arns = [arn for (svc, arn) in secret_arns if svc == service]
            if arns:
                statements.append(
                    iam.PolicyStatement(sid=f"ReadSecretsBackend{service.title()}", actions=[action], resources=arns)
                )
        self.policy = iam.ManagedPolicy(self, "Policy", statements=statements, roles=[self.role])
        for index, arn in enumerate(managed_policy_arns):
            # The DAGs' own AWS access, chosen by the migration file; the app can't know what they call.
            self.role.add_managed_policy(iam.ManagedPolicy.from_managed_policy_arn(self, f"DagPolicy{index}", arn))
        for _, arn in secret_arns:
            acknowledge_wildcard_resource(
                self.policy,
                arn,
                "Airflow's secrets backend looks connections, variables and config up by name under this prefix, "
                "which secrets.backend_kwargs sets; the action is read-only.",
            )
        acknowledge_wildcard_resource(
            self.policy,
            source_bucket.arn_for_objects("*"),
            "MWAA reads every DAG, plugin and requirements object in its own source bucket.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            "*",
            "s3:GetAccountPublicAccessBlock, logs:DescribeLogGroups and cloudwatch:PutMetricData have no "
            "resource-level permissions; every other statement names its resources.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            log_groups,
            "MWAA creates one log group per Airflow module, all named airflow-<environment>-<module>.",
        )
        acknowledge_wildcard_resource(
            self.policy,
            celery_queues,
            "MWAA creates the environment's Celery queues in its own service account under names it chooses, "
            "all starting with airflow-celery-.",
        )
