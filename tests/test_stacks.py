"""Fine-grained assertions on every security property of the synthesized stacks, plus the validators."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint_file

from mwaa_cutover import bucket_keys
from mwaa_migration.assets import CLONE_SETTINGS_DIR, EXPORT_DAG_DEPLOY_DIR, WORKFLOW_DEPLOY_DIR, package_dir
from tests.synth_app import REPO_ROOT, SynthesizedApp, logical_id, resources_of_type

OLD_ROLE_NAME = "AmazonMWAA-analytics-abc123"


def policy_statements(template: dict[str, Any], resource_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"][resource_id]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def all_policy_documents(template: dict[str, Any]) -> list[dict[str, Any]]:
    documents = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
    return documents


# --- Validators -------------------------------------------------------------------------------------------------


def test_every_migration_passes_cdk_nag(synthesized: SynthesizedApp) -> None:
    # Synth raises on any unacknowledged finding; the report it writes must also hold no violation.
    report = synthesized.validation_report()
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    assert set(plugins) == {"AwsSolutions", "NIST.800.53.R5"}
    for plugin in plugins.values():
        assert plugin["conclusion"] == "success"
        assert plugin["violations"] == []
        for suppressed in plugin["suppressedViolations"]:
            # Each acknowledgment names exactly the finding it answers, with a reason of its own.
            assert suppressed["acknowledgedId"] == f"{plugin['pluginName']}::{suppressed['ruleName']}"
            assert len(suppressed["reason"]) > 40
        if plugin["pluginName"] == "AwsSolutions":
            assert all(v["ruleName"].startswith("AwsSolutions-IAM5[Resource::") for v in plugin["suppressedViolations"])


def test_cfn_lint_reports_nothing_on_any_template(synthesized: SynthesizedApp) -> None:
    findings = {}
    for item in synthesized.stacks.values():
        for stack in (item.migration_bucket, item.new_environment):
            matches = lint_file(synthesized.template_path(stack))
            findings[stack.stack_name] = [str(match) for match in matches]
    assert findings == {name: [] for name in findings}
    assert len(findings) == 2 * len(synthesized.stacks)


@pytest.mark.parametrize(
    ("code_dir", "handler"),
    [
        (CLONE_SETTINGS_DIR, "source_check_handler.py"),
        (WORKFLOW_DEPLOY_DIR, "workflow_handler.py"),
        (EXPORT_DAG_DEPLOY_DIR, "export_dag_handler.py"),
    ],
)
def test_lambda_assets_have_no_bytecode(synthesized: SynthesizedApp, code_dir: Path, handler: str) -> None:
    # The shared synth puts bytecode in the handlers' folders first, so there is something to leave out.
    package = package_dir(code_dir)
    assert list(package.glob("__pycache__/*.pyc")), "nothing to exclude: this test would prove nothing"
    in_asset = package.relative_to(code_dir) / handler
    asset_dirs = [p for p in Path(synthesized.assembly.directory).glob("asset.*") if (p / in_asset).exists()]
    assert asset_dirs
    for asset in asset_dirs:
        assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.pyc"))


def test_no_policy_allows_a_wildcard_action(synthesized: SynthesizedApp) -> None:
    for item in synthesized.stacks.values():
        for stack in (item.migration_bucket, item.new_environment):
            for document in all_policy_documents(synthesized.template(stack)):
                for statement in document["Statement"]:
                    if statement["Effect"] != "Allow":
                        continue  # the TLS-only bucket policies deny s3:*, which is what they should do
                    actions = statement.get("Action", [])
                    for action in [actions] if isinstance(actions, str) else actions:
                        assert "*" not in action, f"{stack.stack_name}: {action}"


# --- Migration bucket stack ---------------------------------------------------------------------------------------


def test_migration_bucket_is_kms_encrypted_private_tls_only_and_retained(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].migration_bucket
    template = Template.from_json(synthesized.template(stack))
    key_id = logical_id(stack.key)
    bucket_id = logical_id(stack.bucket)

    template.has_resource(
        "AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "RetainExceptOnCreate"}
    )
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                            },
                        }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
                "LifecycleConfiguration": {
                    "Rules": Match.array_with(
                        [Match.object_like({"ExpirationInDays": 30, "Prefix": "exports/example/", "Status": "Enabled"})]
                    )
                },
            },
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )
    # Every bucket of the stack (exports and access logs) is retained and private.
    for resource in template.find_resources("AWS::S3::Bucket").values():
        assert resource["DeletionPolicy"] in ("RetainExceptOnCreate", "Retain")
        assert resource["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_only_the_exports_expire_never_the_cutovers_records(synthesized: SynthesizedApp) -> None:
    """A lifecycle rule without a filter would expire the pause-state record, the import cursors and the reports
    with the exports: a rollback after `retention_days` would then have no record to restore."""
    stack = synthesized.stacks["example"].migration_bucket
    rules = synthesized.template(stack)["Resources"][logical_id(stack.bucket)]["Properties"]["LifecycleConfiguration"]
    expiring = [rule for rule in rules["Rules"] if "ExpirationInDays" in rule or "NoncurrentVersionExpiration" in rule]
    assert [rule.get("Prefix") for rule in expiring] == ["exports/example/"]
    assert all("Filter" not in rule for rule in expiring)
    records = [
        bucket_keys.record_key("example"),
        bucket_keys.marker_key("example"),
        "cutover/example/import/20261204T120000Z-cutover/20261204T120000Z.json",
        "cutover/example/history/20261204T120000Z/pause-states.json",
        "reports/example/20261204T120000Z-cutover/report.json",
    ]
    for key in records:
        assert not any(key.startswith(rule["Prefix"]) for rule in expiring), key
    assert "exports/example/20261204T120000Z-cutover/manifest.json".startswith(expiring[0]["Prefix"])


def test_retention_days_come_from_the_file(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example-self-managed"].migration_bucket
    rules = synthesized.template(stack)["Resources"][logical_id(stack.bucket)]["Properties"]["LifecycleConfiguration"]
    (expiry,) = [rule for rule in rules["Rules"] if "ExpirationInDays" in rule]
    assert expiry["ExpirationInDays"] == 14


def test_the_export_dag_goes_into_the_old_dag_folder_with_a_one_key_permission(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].migration_bucket
    template = synthesized.template(stack)
    dag = stack.node.find_child("ExportDag")
    (resource,) = resources_of_type(template, "Custom::MwaaExportDag").values()
    props = resource["Properties"]
    assert (props["Bucket"], props["Key"], props["MigrationName"]) == (
        "airflow-analytics-111122223333-us-east-1",
        "dags/mwaa_migration_export.py",
        "example",
    )
    assert props["MigrationBucket"] == {"Ref": logical_id(stack.bucket)}
    assert props["IfTaken"] == ", or set [export] deploy_dag = false and add the export DAG yourself"
    assert "Placeholders" not in props, "the export DAG has only the migration bucket and name to fill in"
    statements = {s["Sid"]: s for s in policy_statements(template, logical_id(dag.node.find_child("HandlerPolicy")))}
    write = statements["WriteExportDagOnly"]
    assert write["Action"] == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert write["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":s3:::airflow-analytics-111122223333-us-east-1/dags/mwaa_migration_export.py",
            ],
        ]
    }
    assert set(statements) == {"ReadStagedExportDag", "WriteExportDagOnly", "WriteOwnLogs"}
    # Not before the bucket it writes to and the old role's permission to write there.
    assert logical_id(stack.write_access.policy) in resource["DependsOn"]


def test_no_export_dag_for_a_self_managed_source(synthesized: SynthesizedApp) -> None:
    template = synthesized.template(synthesized.stacks["example-self-managed"].migration_bucket)
    assert not resources_of_type(template, "Custom::MwaaExportDag")


def test_old_role_may_only_put_objects_under_the_export_prefix(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].migration_bucket
    template = synthesized.template(stack)
    policy_id = logical_id(stack.write_access.policy)
    assert template["Resources"][policy_id]["Properties"]["Roles"] == [OLD_ROLE_NAME]
    write, check, encrypt = policy_statements(template, policy_id)
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [logical_id(stack.bucket), "Arn"]}, "/exports/example/*"]]
    }
    # Read: only an export's manifest, to refuse rewriting a complete export.
    assert (check["Sid"], check["Action"]) == ("CheckExportComplete", "s3:GetObject")
    assert check["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [logical_id(stack.bucket), "Arn"]}, "/exports/example/*/manifest.json"]]
    }
    assert sorted(encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert encrypt["Resource"] == {"Fn::GetAtt": [logical_id(stack.key), "Arn"]}
    assert encrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    }


def test_self_managed_export_policy_is_attached_to_nothing_and_exported(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example-self-managed"].migration_bucket
    template = synthesized.template(stack)
    policy_id = logical_id(stack.write_access.policy)
    assert "Roles" not in template["Resources"][policy_id]["Properties"]
    assert template["Outputs"]["ExportPolicyArn"]["Value"] == {"Ref": policy_id}
    assert "ExportPolicyArn" not in synthesized.template(synthesized.stacks["example"].migration_bucket)["Outputs"]


def test_migration_bucket_outputs(synthesized: SynthesizedApp) -> None:
    outputs = synthesized.template(synthesized.stacks["example"].migration_bucket)["Outputs"]
    assert outputs["ExportPrefix"]["Value"] == "exports/example/"
    assert set(outputs) >= {"MigrationBucketName", "ExportPrefix", "MigrationKeyArn"}


# --- New-environment stack ----------------------------------------------------------------------------------------


def test_execution_role_trusts_mwaa_only_for_this_account_and_environment(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].new_environment
    template = synthesized.template(stack)
    roles = resources_of_type(template, "AWS::IAM::Role")
    execution_roles = [
        r for r in roles.values() if "airflow" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(execution_roles) == 1
    (statement,) = execution_roles[0]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"]["Service"] == ["airflow-env.amazonaws.com", "airflow.amazonaws.com"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "environment/analytics-v3" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert not execution_roles[0]["Properties"].get("ManagedPolicyArns")


def _execution_policy(synthesized: SynthesizedApp, name: str) -> list[dict[str, Any]]:
    stack = synthesized.stacks[name].new_environment
    policy = stack.node.find_child("ExecutionRole").node.find_child("Policy")
    return policy_statements(synthesized.template(stack), logical_id(policy))


def test_execution_policy_follows_the_user_guide_scoped_to_this_environment(synthesized: SynthesizedApp) -> None:
    statements = {s["Sid"]: s for s in _execution_policy(synthesized, "example")}
    assert set(statements) == {
        "PublishMetrics",
        "DenyListAllBuckets",
        "ReadSourceBucket",
        "CheckAccountPublicAccessBlock",
        "WriteEnvironmentLogs",
        "DescribeLogGroups",
        "PutMetricData",
        "UseCeleryQueues",
        "UseAwsOwnedQueueKey",
        "ReadSecretsBackendSecretsmanager",
    }
    assert "environment/analytics-v3" in json.dumps(statements["PublishMetrics"]["Resource"])
    assert "log-group:airflow-analytics-v3-*" in json.dumps(statements["WriteEnvironmentLogs"]["Resource"])
    assert ":airflow-celery-*" in json.dumps(statements["UseCeleryQueues"]["Resource"])
    assert statements["DenyListAllBuckets"]["Effect"] == "Deny"
    # Only the three actions with no resource-level permissions may use "*".
    star = [s for s in statements.values() if s.get("Resource") == "*"]
    assert sorted(s["Action"] for s in star) == [
        "cloudwatch:PutMetricData",
        "logs:DescribeLogGroups",
        "s3:GetAccountPublicAccessBlock",
    ]


def test_aws_owned_key_statement_is_the_user_guides_through_sqs_only(synthesized: SynthesizedApp) -> None:
    statements = {s["Sid"]: s for s in _execution_policy(synthesized, "example")}
    owned = statements["UseAwsOwnedQueueKey"]
    assert owned["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert "Resource" not in owned
    assert owned["NotResource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":kms:*:", {"Ref": "AWS::AccountId"}, ":key/*"]]
    }
    assert owned["Condition"] == {
        "StringLike": {"kms:ViaService": [{"Fn::Join": ["", ["sqs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}]}
    }


def test_a_customer_key_replaces_the_aws_owned_key_statement(synthesized: SynthesizedApp) -> None:
    with_key = {s["Sid"]: s for s in _execution_policy(synthesized, "micro-kms")}
    assert "UseAwsOwnedQueueKey" not in with_key
    key = with_key["UseEnvironmentKey"]
    assert key["Resource"] == "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert key["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert "kms:ViaService" in key["Condition"]["StringLike"]


def test_the_role_reads_the_cloned_secrets_backends_prefixes_only(synthesized: SynthesizedApp) -> None:
    statements = {s["Sid"]: s for s in _execution_policy(synthesized, "example")}
    read = statements["ReadSecretsBackendSecretsmanager"]
    assert read["Action"] == "secretsmanager:GetSecretValue"
    # connections and variables from the cloned backend_kwargs; config is the provider's default prefix.
    names = sorted(arn["Fn::Join"][1][-1].rsplit(":secret:", 1)[1] for arn in read["Resource"])
    assert names == ["airflow/config/*", "airflow/connections/*", "airflow/variables/*"]
    assert not [s for s in _execution_policy(synthesized, "example-self-managed") if "Secrets" in s["Sid"]]


def test_listed_managed_policies_are_attached_to_the_created_role(synthesized: SynthesizedApp) -> None:
    template = synthesized.template(synthesized.stacks["micro-kms"].new_environment)
    (role,) = [
        r
        for r in resources_of_type(template, "AWS::IAM::Role").values()
        if "airflow" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert role["Properties"]["ManagedPolicyArns"] == ["arn:aws:iam::111122223333:policy/tiny-dag-access"]


def test_the_read_policy_is_attached_to_the_created_role(synthesized: SynthesizedApp) -> None:
    # Statement by statement, for each kind of target: tests/test_import_access.py.
    stack = synthesized.stacks["example"].new_environment
    template = synthesized.template(stack)
    policy = stack.node.find_child("MigrationReadAccess").node.find_child("Policy")
    assert template["Resources"][logical_id(policy)]["Properties"]["Roles"] == [
        {"Ref": logical_id(stack.node.find_child("ExecutionRole").node.find_child("Role"))}
    ]


def test_named_role_gets_the_read_policy_and_no_role_is_created(synthesized: SynthesizedApp) -> None:
    template = synthesized.template(synthesized.stacks["byo-kms"].new_environment)
    roles = resources_of_type(template, "AWS::IAM::Role")
    assert not [r for r in roles.values() if "airflow" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    read = [
        p
        for p in resources_of_type(template, "AWS::IAM::ManagedPolicy").values()
        if "ReadMetadataExport" in json.dumps(p)
    ]
    assert read[0]["Properties"]["Roles"] == ["existing-mwaa-role"]
    # The old logs live in the source's region.
    assert ":logs:eu-west-1:111122223333:log-group:airflow-reporting-Task:*" in json.dumps(read[0])
    assert not resources_of_type(template, "AWS::S3::Bucket")


def test_source_bucket_is_versioned_private_tls_only_and_retained(synthesized: SynthesizedApp) -> None:
    template = Template.from_json(synthesized.template(synthesized.stacks["example"].new_environment))
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True}),
                }
            ),
            # It holds the deployed DAGs (and its access-log bucket the logs) before the environment is created.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    template.resource_count_is("AWS::S3::BucketPolicy", 2)


def test_created_security_group_references_itself_only(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example-self-managed"].new_environment
    template = synthesized.template(stack)
    group_id = logical_id(stack.node.find_child("SecurityGroup"))
    group = template["Resources"][group_id]["Properties"]
    assert group["VpcId"] == "vpc-0a1b2c3d4e5f67890"
    assert "SecurityGroupIngress" not in group
    (ingress,) = resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    environment = resources_of_type(template, "AWS::MWAA::Environment")
    (env,) = environment.values()
    assert env["Properties"]["NetworkConfiguration"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]


def test_environment_is_retained_and_waits_for_its_role_policies(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].new_environment
    env = synthesized.environment("example")
    # Kept on delete; removed when the first create rolls back, so a retry doesn't hit "already exists".
    assert env["DeletionPolicy"] == "RetainExceptOnCreate" and env["UpdateReplacePolicy"] == "Retain"
    execution_policy = stack.node.find_child("ExecutionRole").node.find_child("Policy")
    read_policy = stack.node.find_child("MigrationReadAccess").node.find_child("Policy")
    dag_folder = stack.node.find_child("Workflows").node.find_child("DagFolder")
    source_check = stack.node.find_child("SourceCheck").node.find_child("Resource")
    migration_dags = stack.node.find_child("MigrationDags").node.find_child("Resource")
    assert sorted(env["DependsOn"]) == sorted(
        [
            logical_id(execution_policy),
            logical_id(read_policy),
            logical_id(dag_folder),
            logical_id(source_check),
            logical_id(migration_dags),
        ]
    )


def test_a_failed_first_create_removes_what_is_empty_and_keeps_what_is_not(synthesized: SynthesizedApp) -> None:
    """CloudFormation deletes only empty buckets: one that gets objects during the create (the source bucket, the
    access-log buckets) is always retained and auto-named, so the rollback completes and a retry makes a fresh one;
    every other data store and log group goes with a failed first create and is kept after it."""
    kept = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::MWAA::Environment")
    seen = set()
    filled = 0
    for stacks in synthesized.stacks.values():
        for stack in (stacks.migration_bucket, stacks.new_environment, stacks.cutover):
            template = synthesized.template(stack)
            logged_into = {
                json.dumps(bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"])
                for bucket in resources_of_type(template, "AWS::S3::Bucket").values()
                if "LoggingConfiguration" in bucket["Properties"]
            }
            for resource_id, resource in template["Resources"].items():
                if resource["Type"] not in kept:
                    continue
                seen.add(resource["Type"])
                where = (stack.stack_name, resource_id)
                source_bucket = resource_id.startswith("SourceBucket") and resource["Type"] == "AWS::S3::Bucket"
                if source_bucket or json.dumps({"Ref": resource_id}) in logged_into:
                    filled += 1
                    assert resource.get("DeletionPolicy") == "Retain", where
                    assert "BucketName" not in resource["Properties"], where
                else:
                    assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", where
                assert resource.get("UpdateReplacePolicy") == "Retain", where
    assert seen == set(kept)
    assert filled > 0


def test_self_managed_environment_sets_every_property_from_file_or_mwaa_defaults(
    synthesized: SynthesizedApp,
) -> None:
    props = synthesized.environment("example-self-managed")["Properties"]
    assert {k: v for k, v in props.items() if not isinstance(v, (dict, list))} == {
        "Name": "etl-mwaa",
        "AirflowVersion": "2.11.0",
        "DagS3Path": "dags",
        "EnvironmentClass": "mw1.small",
        "MinWorkers": 1,
        "MaxWorkers": 5,
        "Schedulers": 2,
        "MinWebservers": 2,
        "MaxWebservers": 2,
        "WebserverAccessMode": "PRIVATE_ONLY",
        "EndpointManagement": "SERVICE",
    }
    assert props["LoggingConfiguration"]["WebserverLogs"] == {"Enabled": True, "LogLevel": "WARNING"}
    assert props["Tags"] == {"mwaa-migration": "example-self-managed", "team": "etl"}
    assert props["NetworkConfiguration"]["SubnetIds"] == ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]


def test_micro_defaults_and_console_logging_defaults(synthesized: SynthesizedApp) -> None:
    props = synthesized.environment("micro-kms")["Properties"]
    assert (props["MaxWorkers"], props["Schedulers"], props["MinWebservers"], props["MaxWebservers"]) == (1, 1, 1, 1)
    assert props["KmsKey"].endswith(":key/1234abcd-12ab-34cd-56ef-1234567890ab")
    logging = props["LoggingConfiguration"]
    assert logging["TaskLogs"] == {"Enabled": True, "LogLevel": "INFO"}
    assert logging["SchedulerLogs"] == {"Enabled": False, "LogLevel": "INFO"}


def test_named_resources_and_optional_properties_pass_through(synthesized: SynthesizedApp) -> None:
    props = synthesized.environment("byo-kms")["Properties"]
    assert props["ExecutionRoleArn"] == "arn:aws:iam::111122223333:role/existing-mwaa-role"
    assert props["SourceBucketArn"] == "arn:aws:s3:::existing-airflow-bucket"
    assert props["WorkerReplacementStrategy"] == "GRACEFUL"
    assert props["EndpointManagement"] == "CUSTOMER"
    assert props["PluginsS3Path"] == "plugins/plugins.zip"
    assert props["RequirementsS3Path"] == "requirements/requirements.txt"
    assert props["NetworkConfiguration"]["SecurityGroupIds"] == ["sg-0123456789abcdef0", "sg-0fedcba9876543210"]


def test_unset_properties_of_an_mwaa_source_are_the_snapshots_written_literally(synthesized: SynthesizedApp) -> None:
    source = json.loads((REPO_ROOT / "migrations" / "example.source.json").read_text())["Environment"]
    props = synthesized.environment("example")["Properties"]

    # Set in the file.
    assert props["EnvironmentClass"] == "mw1.medium"
    assert props["MaxWorkers"] == 10
    assert props["WeeklyMaintenanceWindowStart"] == "SUN:03:30"
    assert props["LoggingConfiguration"]["SchedulerLogs"] == {"Enabled": True, "LogLevel": "WARNING"}
    # Left out: the snapshot's values, as literals of the provider schema's types.
    for prop in ("MinWorkers", "Schedulers", "MinWebservers", "MaxWebservers", "WebserverAccessMode"):
        assert props[prop] == source[prop], prop
    assert props["EndpointManagement"] == "SERVICE"
    assert props["LoggingConfiguration"]["WorkerLogs"] == {"Enabled": True, "LogLevel": "INFO"}
    assert props["NetworkConfiguration"] == source["NetworkConfiguration"]
    options = props["AirflowConfigurationOptions"]
    assert "celery.worker_autoscale" not in options, "tuned for the source's mw1.large, not the new mw1.medium"
    assert options["dag_processor.refresh_interval"] == "120", "translated for Airflow 3"
    assert options["core.dags_are_paused_at_creation"] == "True"
    assert "smtp.smtp_password" not in options, "dropped by target.drop_options"
    assert "<masked" not in json.dumps(props)
    assert props["Tags"] == {
        "Environment": "production",
        "Owner": "analytics-team@example.com",
        "mwaa-migration": "example",
        "team": "data-platform",
    }


def test_the_source_check_carries_fingerprints_and_no_option_value(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].new_environment
    check_id = logical_id(stack.node.find_child("SourceCheck").node.find_child("Resource"))
    properties = synthesized.template(stack)["Resources"][check_id]["Properties"]
    assert (properties["Migration"], properties["SourceEnvironmentName"], properties["SourceRegion"]) == (
        "example",
        "analytics",
        "us-east-1",
    )
    fingerprints = properties["Fingerprints"]
    assert "AirflowConfigurationOptions.smtp.smtp_password" in fingerprints
    assert all(re.fullmatch(r"[0-9a-f]{16}", digest) for digest in fingerprints.values())
    assert "utc" not in json.dumps(properties) and "20,20" not in json.dumps(properties)


def _rules(synthesized: SynthesizedApp, name: str, stack: str = "new_environment") -> list[dict[str, Any]]:
    rules = synthesized.template(getattr(synthesized.stacks[name], stack)).get("Rules", {})
    assertions: list[dict[str, Any]] = rules.get("DeployTarget", {}).get("Assertions", [])
    return assertions


def test_template_rules_pin_the_cloned_network_region_and_the_old_roles_account(synthesized: SynthesizedApp) -> None:
    asserts = [rule["Assert"] for rule in _rules(synthesized, "example")]
    assert asserts == [
        {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
        {"Fn::Equals": [{"Ref": "AWS::AccountId"}, "111122223333"]},
    ]


def test_the_migration_bucket_stack_pins_the_old_roles_account(synthesized: SynthesizedApp) -> None:
    """It attaches its write policy to the old role by name and puts the export DAG into the old bucket: in another
    account the first would fail late and the second would write somewhere else."""
    for name, account in (("example", "111122223333"), ("byo-kms", "111122223333")):
        (rule,) = _rules(synthesized, name, "migration_bucket")
        assert rule["Assert"] == {"Fn::Equals": [{"Ref": "AWS::AccountId"}, account]}, name
        assert f"account {account}" in rule["AssertDescription"]
    assert _rules(synthesized, "example-self-managed", "migration_bucket") == []


def test_template_rules_refuse_the_source_name_in_its_region_and_a_key_elsewhere(synthesized: SynthesizedApp) -> None:
    rules = _rules(synthesized, "byo-kms")
    asserts = [rule["Assert"] for rule in rules]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}]} in asserts
    assert {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-central-1"]} in asserts, "the key is in eu-central-1"
    assert any("MWAA names are unique per region" in rule["AssertDescription"] for rule in rules)
    assert _rules(synthesized, "example-self-managed") == []


def test_customer_endpoints_output_the_services_to_create_endpoints_for(synthesized: SynthesizedApp) -> None:
    customer = synthesized.template(synthesized.stacks["byo-kms"].new_environment)["Outputs"]
    service = synthesized.template(synthesized.stacks["example"].new_environment)["Outputs"]
    for name in ("WebserverVpcEndpointService", "DatabaseVpcEndpointService"):
        assert customer[name]["Value"]["Fn::GetAtt"][1] == name
        assert name not in service


def test_provider_framework_may_wait_for_its_handler(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stacks["example"].new_environment
    check = stack.node.find_child("SourceCheck")
    template = synthesized.template(stack)
    (statement, _) = policy_statements(template, logical_id(check.node.find_child("ProviderPolicy")))
    assert statement["Action"] == ["lambda:GetFunction", "lambda:InvokeFunction"]
    assert statement["Resource"] == {"Fn::GetAtt": [logical_id(check.node.find_child("Handler")), "Arn"]}


def test_new_environment_outputs(synthesized: SynthesizedApp) -> None:
    outputs = synthesized.template(synthesized.stacks["example"].new_environment)["Outputs"]
    assert outputs["EnvironmentName"]["Value"] == "analytics-v3"
    assert set(outputs) >= {"EnvironmentArn", "SourceBucketName", "ExecutionRoleArn", "WebserverUrl"}


@pytest.mark.parametrize("name", ["example", "example-self-managed"])
def test_stack_names_are_prefixed_with_the_migration_name(synthesized: SynthesizedApp, name: str) -> None:
    stacks = synthesized.stacks[name]
    assert stacks.migration_bucket.stack_name == f"{name}-migration-bucket"
    assert stacks.new_environment.stack_name == f"{name}-new-environment"
