"""The cut-over's per-step IAM table: for each step of the state machine, what its function does, what it may call
and how long it may take, and why each wildcard in its resources is there.

Each step may call what its one job needs: one Airflow role on each environment it touches (Viewer reads, User
(un)pauses and triggers, Op imports and reads variables, pools and connections: Airflow's default roles, which MWAA
maps role/<env>/<role> to), the migration bucket's keys it reads or writes (mwaa_cutover.bucket_keys, the layout the
functions use too), and the migration key through S3 only.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs.acknowledgments import acknowledge_wildcard_resource
from mwaa_cutover.bucket_keys import (
    ANY,
    export_root,
    history_root,
    import_root,
    manifest_key,
    marker_key,
    record_key,
    report_root,
    run_ids_key,
    secret_parts,
    table_parts,
)
from mwaa_migration.migration import MigrationConfig

STEP_TIMEOUT = Duration.minutes(5)
LONG_STEP_TIMEOUT = Duration.minutes(15)


@dataclass(frozen=True)
class StepPermissions:
    """One step's function: what it does (its description), the statements of its policy, and its timeout."""

    description: str
    statements: list[iam.PolicyStatement]
    timeout: Duration


def step_permissions(
    stack: Stack,
    *,
    migration: MigrationConfig,
    bucket: s3.IBucket,
    migration_key: kms.IKey,
    machine_arn: str,
    exports: bool,
    rest_import: bool,
) -> dict[str, StepPermissions]:
    """Every step the machine has, in the order its functions are made: `exports` when the machine runs the export
    on the old environment (else the operator does, and the machine waits for it), `rest_import` for an Airflow 3
    target (imported through its REST API, in slices)."""
    name, source, target = migration.name, migration.source, migration.target

    def airflow_role(environment: str, airflow: str, *, old: bool) -> str:
        return stack.format_arn(
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
    exports_root, manifests = export_root(name), manifest_key(name, ANY)
    tables, secrets = table_parts(name, ANY) + ANY, secret_parts(name, ANY) + ANY
    run_ids = run_ids_key(name, ANY)
    record, marker = record_key(name), marker_key(name)
    cursors, history, reports = import_root(name) + ANY, history_root(name) + ANY, report_root(name) + ANY
    new_environment_arn = stack.format_arn(service="airflow", resource="environment", resource_name=new_env)

    specs = {
        "guard": StepPermissions(
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
        "import_dag": StepPermissions(
            "runs the migration DAGs on the new environment: the import DAG (Airflow 2), then the task-log DAG",
            [invoke("TriggerImportDag", new_env, "User", old=False)],
            STEP_TIMEOUT,
        ),
        "verify": StepPermissions(
            "compares the new environment with the export and writes the report",
            [
                invoke("ReadNewMetadata", new_env, "Op", old=False),
                objects("ReadExport", ["s3:GetObject"], manifests, tables, secrets, run_ids),
                objects("WriteReport", ["s3:PutObject"], reports),
                key_use(write=True),
            ],
            LONG_STEP_TIMEOUT,
        ),
        "delete_secrets": StepPermissions(
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
        "rollback": StepPermissions(
            "pauses the new environment and restores the old one's recorded pause states",
            [invoke("PauseNew", new_env, "User", old=False)]
            + (
                [
                    invoke("RestoreOld", old_env, "User", old=True),
                    objects("ReadRecords", ["s3:GetObject"], record, marker),
                    # Once restored, both move to history/ (a copy, then a delete): the next cut-over records anew.
                    objects("ArchiveRecords", ["s3:PutObject"], history),
                    objects("RetireRecords", ["s3:DeleteObject"], record, marker),
                    key_use(write=True),
                ]
                if exports
                else []
            ),
            STEP_TIMEOUT,
        ),
    }
    if rest_import:
        specs["import_slice"] = StepPermissions(
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
            "record": StepPermissions(
                "records the old environment's pause states once, before the first freeze",
                [
                    invoke("ListOldDags", old_env, "Viewer", old=True),
                    objects("WriteOnceRecord", ["s3:GetObject", "s3:PutObject"], record),
                    key_use(write=True),
                ],
                STEP_TIMEOUT,
            ),
            "freeze": StepPermissions(
                "pauses every DAG on the old environment but the export DAG",
                [invoke("PauseOld", old_env, "User", old=True)],
                STEP_TIMEOUT,
            ),
            "drain": StepPermissions(
                "lists what still runs on the old environment",
                [invoke("ListOldRuns", old_env, "Viewer", old=True)],
                STEP_TIMEOUT,
            ),
            "export_dag": StepPermissions(
                "runs the export DAG on the old environment and checks its manifest",
                [
                    invoke("TriggerExportDag", old_env, "User", old=True),
                    objects("ReadManifest", ["s3:GetObject"], manifests),
                    key_use(write=False),
                ],
                STEP_TIMEOUT,
            ),
            "unpause": StepPermissions(
                "unpauses on the new environment the DAGs active on the old one, checking they are paused there",
                [
                    invoke("CheckOldPaused", old_env, "Viewer", old=True),
                    invoke("UnpauseNew", new_env, "User", old=False),
                    objects("ReadRecord", ["s3:GetObject"], record),
                    objects("WriteOnceMarker", ["s3:GetObject", "s3:PutObject"], marker),
                    # On Airflow 3: the import's result names the DAGs it couldn't import wholly; they stay paused.
                    *([objects("ReadImportResult", ["s3:GetObject"], cursors)] if rest_import else []),
                    key_use(write=True),
                ],
                STEP_TIMEOUT,
            ),
        }
    else:
        specs["manifest_wait"] = StepPermissions(
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
    return specs


def acknowledge_step_wildcards(policy: iam.ManagedPolicy, statements: list[iam.PolicyStatement]) -> None:
    """cdk-nag's wildcard finding, acknowledged for each resource of the step's statements that has one."""
    for statement in statements:
        for resource in statement.resources:
            if "*" in str(Stack.of(policy).resolve(resource)):
                acknowledge_wildcard_resource(policy, resource, WILDCARD_REASONS[str(statement.sid)])


WILDCARD_REASONS = {
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
