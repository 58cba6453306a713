"""Guide step 5: the cut-over state machine (rehearsal, cut-over, rollback) and its Lambdas, each with a role
scoped to what its one step calls: one Airflow role on each environment it touches, the bucket's prefixes it
reads or writes, the migration key through S3."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, Aws, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from constructs.acknowledgments import acknowledge, acknowledge_wildcard_resource
from constructs.cutover_definition import build_definition
from constructs.cutover_function import CutoverFunction, cutover_code
from constructs.migration_bucket import migration_bucket_name
from constructs.provider_handler import LOG_RETENTION
from mwaa_cutover import bucket_keys
from mwaa_cutover.bucket_keys import ANY
from mwaa_migration.airflow_versions import airflow_major
from mwaa_migration.cutover.names import machine_exports, state_machine_name
from mwaa_migration.migration import MigrationConfig

STEP_TIMEOUT = Duration.minutes(5)
LONG_STEP_TIMEOUT = Duration.minutes(15)


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

        def airflow_role(environment: str, airflow: str, *, old: bool) -> str:
            return self.format_arn(
                service="airflow",
                resource="role",
                resource_name=f"{environment}/{airflow}",
                region=source.region if old else None,
                account=source.account if old else None,
            )

        def invoke(sid: str, environment: str, airflow: str, *, old: bool) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid=sid, actions=["airflow:InvokeRestApi"], resources=[airflow_role(environment, airflow, old=old)]
            )

        def objects(sid: str, actions: list[str], *keys: str) -> iam.PolicyStatement:
            return iam.PolicyStatement(sid=sid, actions=actions, resources=[bucket.arn_for_objects(k) for k in keys])

        def key_use(*, write: bool) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid="MigrationKeyThroughS3",
                # Decrypt reads; GenerateDataKey encrypts what the step writes.
                actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if write else [])],
                resources=[migration_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            )

        old_env, new_env = source.environment_name or "", target.environment_name
        exports_root, manifests = bucket_keys.export_root(name), bucket_keys.manifest_key(name, ANY)
        tables = bucket_keys.table_parts(name, ANY) + ANY
        secrets = bucket_keys.secret_parts(name, ANY) + ANY
        run_ids = bucket_keys.run_ids_key(name, ANY)
        record_key, marker_key = bucket_keys.record_key(name), bucket_keys.marker_key(name)
        cursors, history = bucket_keys.import_root(name) + ANY, bucket_keys.history_root(name) + ANY
        reports = bucket_keys.report_root(name) + ANY
        new_environment_arn = self.format_arn(service="airflow", resource="environment", resource_name=new_env)

        # One Airflow role per environment and step: Viewer reads, User (un)pauses and triggers, Op imports and
        # reads variables, pools and connections (Airflow's default roles; MWAA maps role/<env>/<role> to them).
        specs: dict[str, tuple[str, list[iam.PolicyStatement], Duration]] = {
            "guard": (
                "checks the input, that no other execution runs, that the new environment is AVAILABLE and that the "
                "environments answer InvokeRestApi",
                [
                    iam.PolicyStatement(sid="NoOverlap", actions=["states:ListExecutions"], resources=[machine_arn]),
                    iam.PolicyStatement(
                        sid="NewEnvironmentStatus", actions=["airflow:GetEnvironment"], resources=[new_environment_arn]
                    ),
                    # One read each, before anything changes: an old environment may need an update first.
                    *([invoke("ReadOldDags", old_env, "Viewer", old=True)] if exports else []),
                    invoke("ReadNewDags", new_env, "Viewer", old=False),
                ],
                STEP_TIMEOUT,
            ),
            "import_dag": (
                "runs the import DAG on the new environment (the import on Airflow 2, the task-log copy)",
                [invoke("TriggerImportDag", new_env, "User", old=False)],
                STEP_TIMEOUT,
            ),
            "verify": (
                "compares the new environment with the export and writes the report",
                [
                    invoke("ReadNewMetadata", new_env, "Op", old=False),
                    objects("ReadExport", ["s3:GetObject"], manifests, tables, secrets, run_ids),
                    objects("WriteReport", ["s3:PutObject"], reports),
                    key_use(write=True),
                ],
                LONG_STEP_TIMEOUT,
            ),
            "delete_secrets": (
                "deletes every version of the export's decrypted secrets after a verified import",
                [
                    objects("ReadManifest", ["s3:GetObject"], manifests),
                    iam.PolicyStatement(
                        sid="ListSecretVersions",
                        actions=["s3:ListBucketVersions"],
                        resources=[bucket.bucket_arn],
                        conditions={"StringLike": {"s3:prefix": [secrets]}},
                    ),
                    objects("DeleteSecretVersions", ["s3:DeleteObjectVersion"], secrets),
                    key_use(write=False),
                ],
                STEP_TIMEOUT,
            ),
            "rollback": (
                "pauses the new environment and restores the old one's recorded pause states",
                [invoke("PauseNew", new_env, "User", old=False)]
                + (
                    [
                        invoke("RestoreOld", old_env, "User", old=True),
                        objects("ReadRecords", ["s3:GetObject"], record_key, marker_key),
                        # Once restored, both move to history/ (a copy, then a delete): the next cut-over records anew.
                        objects("ArchiveRecords", ["s3:PutObject"], history),
                        objects("RetireRecords", ["s3:DeleteObject"], record_key, marker_key),
                        key_use(write=True),
                    ]
                    if exports
                    else []
                ),
                STEP_TIMEOUT,
            ),
        }
        if rest_import:
            specs["import_slice"] = (
                "imports the export into the Airflow 3 environment through its REST API, one slice per call",
                [
                    invoke("ImportIntoNew", new_env, "Op", old=False),
                    objects("ReadExport", ["s3:GetObject"], manifests, tables, secrets, run_ids),
                    objects("WriteRunIdMap", ["s3:PutObject"], run_ids),
                    objects("KeepCursor", ["s3:GetObject", "s3:PutObject"], cursors),
                    key_use(write=True),
                ],
                LONG_STEP_TIMEOUT,
            )
        if exports:
            specs |= {
                "record": (
                    "records the old environment's pause states once, before the first freeze",
                    [
                        invoke("ListOldDags", old_env, "Viewer", old=True),
                        objects("WriteOnceRecord", ["s3:GetObject", "s3:PutObject"], record_key),
                        key_use(write=True),
                    ],
                    STEP_TIMEOUT,
                ),
                "freeze": (
                    "pauses every DAG on the old environment but the export DAG",
                    [invoke("PauseOld", old_env, "User", old=True)],
                    STEP_TIMEOUT,
                ),
                "drain": (
                    "lists what still runs on the old environment",
                    [invoke("ListOldRuns", old_env, "Viewer", old=True)],
                    STEP_TIMEOUT,
                ),
                "export_dag": (
                    "runs the export DAG on the old environment and checks its manifest",
                    [
                        invoke("TriggerExportDag", old_env, "User", old=True),
                        objects("ReadManifest", ["s3:GetObject"], manifests),
                        key_use(write=False),
                    ],
                    STEP_TIMEOUT,
                ),
                "unpause": (
                    "unpauses on the new environment the DAGs active on the old one, checking they are paused there",
                    [
                        invoke("CheckOldPaused", old_env, "Viewer", old=True),
                        invoke("UnpauseNew", new_env, "User", old=False),
                        objects("ReadRecord", ["s3:GetObject"], record_key),
                        objects("WriteOnceMarker", ["s3:GetObject", "s3:PutObject"], marker_key),
                        # On Airflow 3: the import's result names the DAGs it couldn't import wholly; they stay paused.
                        *([objects("ReadImportResult", ["s3:GetObject"], cursors)] if rest_import else []),
                        key_use(write=True),
                    ],
                    STEP_TIMEOUT,
                ),
            }
        else:
            specs["manifest_wait"] = (
                "waits for the operator's export: its manifest, or the newest complete one",
                [
                    objects("ReadManifest", ["s3:GetObject"], manifests),
                    iam.PolicyStatement(
                        sid="FindNewestExport",
                        actions=["s3:ListBucket"],
                        resources=[bucket.bucket_arn],
                        # latest_complete_export lists the export ids, then looks for each one's manifest.
                        conditions={"StringLike": {"s3:prefix": [exports_root, manifests]}},
                    ),
                    key_use(write=False),
                ],
                STEP_TIMEOUT,
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
        for step, (description, statements, timeout) in specs.items():
            construct_id = "".join(part.title() for part in step.split("_"))
            function = CutoverFunction(
                steps,
                construct_id,
                step=step,
                description=description,
                statements=statements,
                environment=environment,
                timeout=timeout,
                code=code,
                memory_size=1024 if timeout is LONG_STEP_TIMEOUT else 512,
            )
            self.functions[step] = function
            for statement in statements:
                for resource in statement.resources:
                    if "*" in str(self.resolve(resource)):
                        acknowledge_wildcard_resource(function.policy, resource, _WILDCARD_REASONS[str(statement.sid)])

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


_WILDCARD_REASONS = {
    "ReadExport": "Reads the export it imports or verifies: tables, manifest, run-id map and secrets of one "
    "export id of this migration; the wildcards are the export id and the part's key.",
    "WriteRunIdMap": "The REST importer keeps the old-to-new run id map beside the export it imports; the "
    "wildcard is the export id.",
    "KeepCursor": "The REST import's cursor and tally, one object per export id and execution under this "
    "migration's cutover/<name>/import/ prefix; the wildcard is the export id and the execution's start.",
    "ReadImportResult": "Reads the REST import's result (cursor and tally) of this execution under this migration's "
    "cutover/<name>/import/ prefix, to keep the DAGs it refused or can't guarantee paused; the wildcard is the "
    "export id and the execution's start.",
    "ArchiveRecords": "After a rollback, copies the pause record and the unpause marker under this migration's "
    "cutover/<name>/history/ prefix; the wildcard is the record's time and the two names.",
    "WriteReport": "The verification report of each export id under this migration's reports/<name>/ prefix; the "
    "wildcard is the export id and the report's name.",
    "ReadManifest": "Reads an export's manifest only; the wildcard is the export id.",
    "DeleteSecretVersions": "Deletes the versions of the decrypted secrets parts of an export after its import is "
    "verified; the wildcards are the export id and the part's name under secrets/.",
}
