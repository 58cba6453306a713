"""The migration file contract (DESIGN.md, "The migration file (contract)"): every bad input is refused with its key
path and what is allowed, every problem in a file is reported at once, and the app exits 2 without a traceback."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mwaa_migration.airflow_versions import MWAA_TARGET_VERSIONS
from mwaa_migration.migration import (
    MIGRATIONS_DIR,
    MigrationConfig,
    MigrationFileError,
    NetworkConfig,
    load_migration,
    load_migrations,
    resolve_migration_paths,
)
from tests.clone_fixtures import write_source_snapshot
from tests.synth_app import REPO_ROOT

ROLE_ARN = "arn:aws:iam::111122223333:role/service-role/AmazonMWAA-analytics-abc123"
SUBNET_A = "subnet-0123456789abcdef0"
SUBNET_B = "subnet-0fedcba9876543210"
SUBNETS = f'subnet_ids = ["{SUBNET_A}", "{SUBNET_B}"]'
VPC_LINE = 'vpc_id = "vpc-0a1b2c3d4e5f67890"'
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# Valid bases: each bad case changes exactly one thing in one of them.
MWAA = f"""\
[source]
kind = "mwaa"
environment_name = "analytics"
execution_role_arn = "{ROLE_ARN}"

[target]
environment_name = "analytics-v3"
airflow_version = "3.0.6"
"""

SELF = f"""\
[source]
kind = "self-managed"
airflow_version = "2.5.1"

[target]
environment_name = "etl-mwaa"
airflow_version = "2.11.0"

[target.network]
{SUBNETS}
{VPC_LINE}
"""

TARGET_VERSIONS = "one of: " + ", ".join(MWAA_TARGET_VERSIONS)
NAME_RULE = "1 to 80 characters matching ^[a-zA-Z][0-9a-zA-Z_-]*$"
CLASSES = "one of: mw1.micro, mw1.small, mw1.medium, mw1.large, mw1.xlarge, mw1.2xlarge"
LEVELS = "one of: DISABLED, CRITICAL, ERROR, WARNING, INFO, DEBUG"
WINDOW_RULE = "DAY:HH:MM in UTC, DAY one of MON..SUN, HH 00-23, MM 00 or 30"
OPTION_KEY_RULE = "the key must be lowercase section.option"
FILE_NAME_RULE = "must be 1 to 20 lowercase letters, digits or '-', starting with a letter"


def sub(old: str, new: str, base: str = MWAA) -> str:
    """base with `old` replaced exactly once (so a typo in a case can't silently leave the base unchanged)."""
    assert base.count(old) == 1, f"{old!r} must occur exactly once in the base"
    return base.replace(old, new)


def src(line: str, base: str = MWAA) -> str:
    """base with one more line in [source]."""
    kind = 'kind = "mwaa"\n' if 'kind = "mwaa"\n' in base else 'kind = "self-managed"\n'
    return sub(kind, f"{kind}{line}\n", base)


def tgt_line(line: str, base: str = MWAA) -> str:
    """base with one more line in [target], right after target.airflow_version."""
    marker = "[target]\n"
    head, tail = base.split(marker)
    lines = tail.split("\n")
    return head + marker + "\n".join([*lines[:2], line, *lines[2:]])


def network(*lines: str) -> str:
    """The MWAA base with a [target.network] of these lines (on an MWAA source the table is optional, so a bad
    network is one problem, not also "network required" as it would be for a self-managed source)."""
    return table("target.network", *lines)


def table(header: str, *lines: str, base: str = MWAA) -> str:
    """base with one more table appended."""
    return base + f"\n[{header}]\n" + "".join(f"{x}\n" for x in lines)


def tags(count: int) -> str:
    return table("target.tags", *(f'tag{i} = "v"' for i in range(count)))


@dataclass(frozen=True)
class Bad:
    id: str
    doc: str
    key: str  # the exact key path the problem must start with
    expected: str  # the allowed values or expected form it must state
    file_name: str = "m1.toml"


BAD_CASES = [
    # Unknown keys at every level
    Bad("unknown-top-level-key", 'colour = "blue"\n' + MWAA, "(top level).colour", "source, target, migration_bucket"),
    Bad("unknown-top-level-table", table("extra", "a = 1"), "(top level).extra", "source, target, migration_bucket"),
    Bad(
        "unknown-source-key",
        src('environment = "analytics"'),
        "source.environment",
        "allowed keys in [source]: kind, environment_name, execution_role_arn, region, airflow_version",
    ),
    Bad("unknown-target-key", tgt_line("min_worker = 2"), "target.min_worker", "min_workers, max_workers, schedulers"),
    Bad(
        "unknown-network-key",
        network(SUBNETS, VPC_LINE, 'subnet = "subnet-0123456789abcdef0"'),
        "target.network.subnet",
        "allowed keys in [target.network]: subnet_ids, security_group_ids, vpc_id",
    ),
    Bad(
        "unknown-logging-module",
        table("target.logging", 'scheduler_logs = "INFO"'),
        "target.logging.scheduler_logs",
        "allowed keys in [target.logging]: dag_processing, scheduler, task, webserver, worker",
    ),
    Bad(
        "unknown-migration-bucket-key",
        table("migration_bucket", "retention = 7"),
        "migration_bucket.retention",
        "allowed keys in [migration_bucket]: retention_days",
    ),
    # Missing or mistyped tables
    Bad("no-source-table", "[target]" + MWAA.split("[target]")[1], "source", "missing table [source]"),
    Bad("empty-source-table", "[source]\n\n[target]" + MWAA.split("[target]")[1], "source", "missing table [source]"),
    Bad("no-target-table", MWAA.split("[target]")[0], "target", "missing table [target]"),
    Bad("empty-target-table", MWAA.split("[target]")[0] + "[target]\n", "target", "missing table [target]"),
    Bad(
        "target-not-a-table",
        'target = "analytics-v3"\n' + MWAA.split("[target]")[0],
        "target",
        "must be a table [target]",
    ),
    Bad("logging-not-a-table", tgt_line('logging = "INFO"'), "target.logging", "must be a table [target.logging]"),
    Bad("tags-not-a-table", tgt_line('tags = "team"'), "target.tags", "must be a table [target.tags]"),
    # [source]
    Bad("source-kind-unknown", sub('kind = "mwaa"', 'kind = "MWAA"'), "source.kind", "one of: mwaa, self-managed"),
    Bad("source-kind-missing", sub('kind = "mwaa"\n', ""), "source.kind", "required; one of: mwaa, self-managed"),
    Bad(
        "mwaa-source-without-environment-name",
        sub('environment_name = "analytics"\n', ""),
        "source.environment_name",
        NAME_RULE,
    ),
    Bad(
        "mwaa-source-without-role",
        sub(f'execution_role_arn = "{ROLE_ARN}"\n', ""),
        "source.execution_role_arn",
        "an IAM role ARN such as arn:aws:iam::111122223333:role/",
    ),
    Bad(
        "role-arn-11-digit-account",
        sub("111122223333", "11112222333"),
        "source.execution_role_arn",
        "an IAM role ARN such as",
    ),
    Bad(
        "role-arn-of-a-user",
        sub(":role/service-role/", ":user/"),
        "source.execution_role_arn",
        "an IAM role ARN such as",
    ),
    Bad("role-arn-without-slash", sub(":role/service-role/", ":role"), "source.execution_role_arn", "an IAM role ARN"),
    Bad("source-region-bad", src('region = "us-east"'), "source.region", "an AWS region such as us-east-1"),
    Bad("source-region-uppercase", src('region = "US-EAST-1"'), "source.region", "an AWS region such as us-east-1"),
    Bad(
        "airflow-version-on-mwaa-source",
        src('airflow_version = "2.5.1"'),
        "source.airflow_version",
        'only for kind = "self-managed"',
    ),
    Bad(
        "environment-name-on-self-managed",
        src('environment_name = "old"', SELF),
        "source.environment_name",
        'only for kind = "mwaa"',
    ),
    Bad("region-on-self-managed", src('region = "us-east-1"', SELF), "source.region", 'only for kind = "mwaa"'),
    Bad(
        "role-on-self-managed",
        src(f'execution_role_arn = "{ROLE_ARN}"', SELF),
        "source.execution_role_arn",
        'only for kind = "mwaa"',
    ),
    Bad(
        "self-managed-without-version",
        sub('airflow_version = "2.5.1"\n', "", SELF),
        "source.airflow_version",
        "such as 1.10.12 or 2.5.1",
    ),
    Bad(
        "self-managed-version-malformed",
        sub('"2.5.1"', '"2.5"', SELF),
        "source.airflow_version",
        "such as 1.10.12 or 2.5.1",
    ),
    Bad(
        "self-managed-without-network",
        SELF.split("[target.network]")[0],
        "target.network",
        "subnet_ids, and security_group_ids or vpc_id",
    ),
    Bad(
        "target-older-than-self-managed-source",
        sub('airflow_version = "2.11.0"', 'airflow_version = "2.9.2"', sub('"2.5.1"', '"2.10.3"', SELF)),
        "target.airflow_version",
        "Pick one of: 2.10.3, ",
    ),
    # [target] names and versions
    Bad("target-name-missing", sub('environment_name = "analytics-v3"\n', ""), "target.environment_name", NAME_RULE),
    Bad("target-name-starts-with-digit", sub('"analytics-v3"', '"3analytics"'), "target.environment_name", NAME_RULE),
    Bad("target-name-with-dot", sub('"analytics-v3"', '"analytics.v3"'), "target.environment_name", NAME_RULE),
    Bad("target-name-81-chars", sub('"analytics-v3"', f'"{"a" * 81}"'), "target.environment_name", NAME_RULE),
    Bad(
        "target-name-equals-source-name",
        sub('"analytics-v3"', '"analytics"'),
        "target.environment_name",
        "the cloned network keeps the new environment in the source's region us-east-1",
    ),
    Bad("target-version-missing", sub('airflow_version = "3.0.6"\n', ""), "target.airflow_version", TARGET_VERSIONS),
    Bad("target-version-2.5.1", sub('"3.0.6"', '"2.5.1"'), "target.airflow_version", TARGET_VERSIONS),
    Bad("target-version-3.9.9", sub('"3.0.6"', '"3.9.9"'), "target.airflow_version", TARGET_VERSIONS),
    Bad("target-version-a-number", sub('"3.0.6"', "3.0"), "target.airflow_version", TARGET_VERSIONS),
    # [target] sizes
    Bad("environment-class-unknown", tgt_line('environment_class = "mw1.tiny"'), "target.environment_class", CLASSES),
    Bad("min-workers-0", tgt_line("min_workers = 0"), "target.min_workers", "from 1 to 25"),
    Bad("max-workers-26", tgt_line("max_workers = 26"), "target.max_workers", "from 1 to 25"),
    Bad("max-workers-bool", tgt_line("max_workers = true"), "target.max_workers", "from 1 to 25"),
    Bad("min-workers-string", tgt_line('min_workers = "2"'), "target.min_workers", "from 1 to 25"),
    Bad("min-workers-float", tgt_line("min_workers = 2.0"), "target.min_workers", "from 1 to 25"),
    Bad("schedulers-6", tgt_line("schedulers = 6"), "target.schedulers", "from 1 to 5"),
    Bad("schedulers-0", tgt_line("schedulers = 0"), "target.schedulers", "from 1 to 5"),
    Bad("min-webservers-0", tgt_line("min_webservers = 0"), "target.min_webservers", "from 1 to 5"),
    Bad("max-webservers-6", tgt_line("max_webservers = 6"), "target.max_webservers", "from 1 to 5"),
    Bad("max-webservers-string", tgt_line('max_webservers = "3"'), "target.max_webservers", "from 1 to 5"),
    Bad(
        "min-workers-above-max",
        tgt_line("min_workers = 5\nmax_workers = 2"),
        "target.min_workers",
        "more than target.max_workers = 2; min must be <= max",
    ),
    Bad(
        "min-webservers-above-max",
        tgt_line("min_webservers = 4\nmax_webservers = 3"),
        "target.min_webservers",
        "more than target.max_webservers = 3; min must be <= max",
    ),
    Bad(
        "micro-max-workers-2",
        tgt_line('environment_class = "mw1.micro"\nmax_workers = 2'),
        "target.max_workers",
        "accepts exactly 1; got 2",
    ),
    Bad(
        "micro-min-workers-2",
        tgt_line('environment_class = "mw1.micro"\nmin_workers = 2'),
        "target.min_workers",
        "accepts exactly 1; got 2",
    ),
    Bad(
        "micro-schedulers-2",
        tgt_line('environment_class = "mw1.micro"\nschedulers = 2'),
        "target.schedulers",
        "accepts exactly 1; got 2",
    ),
    Bad(
        "micro-min-webservers-2",
        tgt_line('environment_class = "mw1.micro"\nmin_webservers = 2'),
        "target.min_webservers",
        "accepts exactly 1; got 2",
    ),
    # Larger classes run 2 to 5 schedulers and web servers on Airflow 2 and later, as the clone enforces.
    Bad(
        "small-schedulers-1",
        tgt_line('environment_class = "mw1.small"\nschedulers = 1'),
        "target.schedulers",
        "mw1.small on Airflow 3.0.6 accepts 2 to 5; got 1",
    ),
    Bad(
        "self-managed-default-class-min-webservers-1",
        sub("[target]\n", "[target]\nmin_webservers = 1\n", SELF),
        "target.min_webservers",
        "mw1.small on Airflow",
    ),
    Bad(
        "public-and-private-before-3-2",
        tgt_line('webserver_access_mode = "PUBLIC_AND_PRIVATE"'),
        "target.webserver_access_mode",
        "PUBLIC_AND_PRIVATE needs Airflow 3.2 or later",
    ),
    # [target] other settings
    Bad(
        "maintenance-hour-24",
        tgt_line('weekly_maintenance_window_start = "MON:24:00"'),
        "target.weekly_maintenance_window_start",
        WINDOW_RULE,
    ),
    Bad(
        "maintenance-minute-15",
        tgt_line('weekly_maintenance_window_start = "SUN:03:15"'),
        "target.weekly_maintenance_window_start",
        WINDOW_RULE,
    ),
    Bad(
        "maintenance-lowercase-day",
        tgt_line('weekly_maintenance_window_start = "sun:03:30"'),
        "target.weekly_maintenance_window_start",
        WINDOW_RULE,
    ),
    Bad(
        "webserver-access-mode",
        tgt_line('webserver_access_mode = "PRIVATE"'),
        "target.webserver_access_mode",
        "one of: PRIVATE_ONLY, PUBLIC_ONLY, PUBLIC_AND_PRIVATE",
    ),
    Bad(
        "endpoint-management",
        tgt_line('endpoint_management = "service"'),
        "target.endpoint_management",
        "one of: SERVICE, CUSTOMER",
    ),
    Bad(
        "worker-replacement-strategy",
        tgt_line('worker_replacement_strategy = "IMMEDIATE"'),
        "target.worker_replacement_strategy",
        "one of: FORCED, GRACEFUL",
    ),
    Bad(
        "kms-key-alias-name",
        tgt_line('kms_key = "alias/aws/airflow"'),
        "target.kms_key",
        "a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<uuid> (an alias can't scope an IAM policy)",
    ),
    Bad(
        "kms-key-alias-arn",
        tgt_line('kms_key = "arn:aws:kms:us-east-1:111122223333:alias/airflow"'),
        "target.kms_key",
        "a KMS key ARN such as",
    ),
    Bad("kms-key-bare-id", tgt_line(f'kms_key = "{KMS_ARN.split("/")[1]}"'), "target.kms_key", "a KMS key ARN"),
    Bad(
        "target-role-arn-malformed",
        tgt_line('execution_role_arn = "my-mwaa-role"'),
        "target.execution_role_arn",
        "an IAM role ARN such as",
    ),
    Bad(
        "bucket-arn-uppercase",
        tgt_line('source_bucket_arn = "arn:aws:s3:::My_Bucket"'),
        "target.source_bucket_arn",
        "an S3 bucket ARN such as arn:aws:s3:::my-bucket",
    ),
    Bad(
        "bucket-arn-bare-name",
        tgt_line('source_bucket_arn = "my-bucket"'),
        "target.source_bucket_arn",
        "an S3 bucket ARN such as arn:aws:s3:::my-bucket",
    ),
    Bad(
        "bucket-arn-with-key",
        tgt_line('source_bucket_arn = "arn:aws:s3:::my-bucket/dags"'),
        "target.source_bucket_arn",
        "an S3 bucket ARN",
    ),
    Bad(
        "requirements-not-txt",
        tgt_line('requirements_s3_path = "requirements.in"'),
        "target.requirements_s3_path",
        "a path inside the bucket ending in .txt, without a leading '/'",
    ),
    Bad(
        "plugins-leading-slash",
        tgt_line('plugins_s3_path = "/plugins/plugins.zip"'),
        "target.plugins_s3_path",
        "a path inside the bucket ending in .zip, without a leading '/'",
    ),
    Bad(
        "startup-script-not-sh",
        tgt_line('startup_script_s3_path = "startup.py"'),
        "target.startup_script_s3_path",
        "ending in .sh",
    ),
    Bad("dag-path-leading-slash", tgt_line('dag_s3_path = "/dags"'), "target.dag_s3_path", "must not start with '/'"),
    Bad("dag-path-with-space", tgt_line('dag_s3_path = "my dags"'), "target.dag_s3_path", "a folder inside the bucket"),
    # [target.network]
    Bad("one-subnet", network(f'subnet_ids = ["{SUBNET_A}"]', VPC_LINE), "target.network.subnet_ids", "exactly 2"),
    Bad(
        "three-subnets",
        network(f'subnet_ids = ["{SUBNET_A}", "{SUBNET_B}", "subnet-0aaaaaaaaaaaaaaaa"]', VPC_LINE),
        "target.network.subnet_ids",
        "must be a list of exactly 2 private subnet IDs",
    ),
    Bad(
        "subnet-id-malformed",
        network(f'subnet_ids = ["{SUBNET_A}", "subnet-xyz"]', VPC_LINE),
        "target.network.subnet_ids",
        "'subnet-xyz' not valid; expected private subnet IDs (subnet-...)",
    ),
    Bad(
        "duplicate-subnets",
        network(f'subnet_ids = ["{SUBNET_A}", "{SUBNET_A}"]', VPC_LINE),
        "target.network.subnet_ids",
        "must not repeat an ID",
    ),
    Bad("subnets-missing", network(VPC_LINE), "target.network.subnet_ids", "exactly 2 private subnet IDs"),
    Bad(
        "zero-security-groups",
        network(SUBNETS, "security_group_ids = []"),
        "target.network.security_group_ids",
        "1 to 5 security group IDs (sg-...)",
    ),
    Bad(
        "six-security-groups",
        network(SUBNETS, "security_group_ids = [" + ", ".join(f'"sg-0000000{i}"' for i in range(6)) + "]"),
        "target.network.security_group_ids",
        "1 to 5 security group IDs (sg-...)",
    ),
    Bad(
        "security-group-id-malformed",
        network(SUBNETS, 'security_group_ids = ["sg-xyz"]'),
        "target.network.security_group_ids",
        "expected security group IDs (sg-...)",
    ),
    Bad(
        "no-vpc-and-no-security-groups",
        network(SUBNETS),
        "target.network.vpc_id",
        "required when security_group_ids is omitted",
    ),
    Bad(
        "vpc-together-with-security-groups",
        network(SUBNETS, VPC_LINE, 'security_group_ids = ["sg-0123456789abcdef0"]'),
        "target.network.vpc_id",
        "remove it or security_group_ids",
    ),
    Bad("vpc-id-malformed", network(SUBNETS, 'vpc_id = "vpc-1"'), "target.network.vpc_id", "such as vpc-0123456789"),
    # [target.logging]
    Bad("log-level-unknown", table("target.logging", 'task = "VERBOSE"'), "target.logging.task", LEVELS),
    Bad("log-level-lowercase", table("target.logging", 'worker = "info"'), "target.logging.worker", LEVELS),
    # [target.airflow_configuration_options]
    Bad(
        "option-key-uppercase",
        table("target.airflow_configuration_options", '"Core.Default_Timezone" = "utc"'),
        'target.airflow_configuration_options."Core.Default_Timezone"',
        OPTION_KEY_RULE,
    ),
    Bad(
        "option-key-without-dot",
        table("target.airflow_configuration_options", '"timezone" = "utc"'),
        'target.airflow_configuration_options."timezone"',
        OPTION_KEY_RULE,
    ),
    Bad(
        "option-key-65-chars",
        table("target.airflow_configuration_options", f'"core.{"a" * 60}" = "x"'),
        f'target.airflow_configuration_options."core.{"a" * 60}"',
        OPTION_KEY_RULE,
    ),
    Bad(
        "option-value-int",
        table("target.airflow_configuration_options", '"core.parallelism" = 32'),
        'target.airflow_configuration_options."core.parallelism"',
        'must be a string (quote it: "32")',
    ),
    Bad(
        "option-value-non-ascii",
        table("target.airflow_configuration_options", '"core.default_timezone" = "Europe/Zürich"'),
        'target.airflow_configuration_options."core.default_timezone"',
        "value must be 1 to 65536 printable ASCII characters",
    ),
    Bad(
        "option-value-65537-chars",
        table("target.airflow_configuration_options", f'"webserver.instance_name" = "{"x" * 65537}"'),
        'target.airflow_configuration_options."webserver.instance_name"',
        "value must be 1 to 65536 printable ASCII characters",
    ),
    Bad(
        "option-dotted-bare-key",
        table("target.airflow_configuration_options", 'core.default_timezone = "utc"'),
        "target.airflow_configuration_options.core",
        'quote dotted keys, like "core.option" = "value"',
    ),
    # [target.tags]
    Bad("tag-aws-prefix", table("target.tags", '"aws:team" = "x"'), 'target.tags."aws:team"', "reserved by AWS"),
    Bad("tag-aws-prefix-upper", table("target.tags", '"AWS:Team" = "x"'), 'target.tags."AWS:Team"', "reserved by AWS"),
    Bad("tag-aws-prefix-mixed", table("target.tags", '"Aws:x" = "x"'), 'target.tags."Aws:x"', "reserved by AWS"),
    Bad("tag-value-257-chars", table("target.tags", f'team = "{"v" * 257}"'), 'target.tags."team"', "1 to 256"),
    Bad("tag-value-empty", table("target.tags", 'team = ""'), 'target.tags."team"', "1 to 256"),
    Bad("tag-value-bad-char", table("target.tags", 'team = "a;b"'), 'target.tags."team"', "_ . : / = + - @"),
    Bad("tag-value-bool", table("target.tags", "team = true"), 'target.tags."team"', "must be a string"),
    Bad("fifty-tags", tags(50), "target.tags", "at most 49 tags"),
    # [migration_bucket]
    Bad("retention-0", table("migration_bucket", "retention_days = 0"), "migration_bucket.retention_days", "1 to 3650"),
    Bad(
        "retention-4000",
        table("migration_bucket", "retention_days = 4000"),
        "migration_bucket.retention_days",
        "1 to 3650",
    ),
    # The file's own name prefixes stack and bucket names
    Bad("file-name-uppercase", MWAA, "file name", FILE_NAME_RULE, file_name="M1.toml"),
    Bad("file-name-21-chars", MWAA, "file name", FILE_NAME_RULE, file_name="a" * 21 + ".toml"),
    Bad("file-name-starts-with-digit", MWAA, "file name", FILE_NAME_RULE, file_name="1st.toml"),
    Bad("file-name-underscore", MWAA, "file name", FILE_NAME_RULE, file_name="my_migration.toml"),
]


def write(directory: Path, text: str, file_name: str = "m1.toml") -> Path:
    path = directory / file_name
    path.write_text(text, encoding="utf-8")
    write_source_snapshot(path, text)
    return path


def load_error(path: Path) -> MigrationFileError:
    with pytest.raises(MigrationFileError) as caught:
        load_migration(path)
    return caught.value


@pytest.mark.parametrize("base", [MWAA, SELF], ids=["mwaa", "self-managed"])
def test_bases_are_valid(tmp_path: Path, base: str) -> None:
    """Each bad case is one change away from one of these, so the change alone is what's refused."""
    assert load_migration(write(tmp_path, base)).name == "m1"


def test_a_self_managed_move_to_airflow_3_keeps_airflow_2s_scheduling_defaults(tmp_path: Path) -> None:
    """Its airflow.cfg isn't known: the new environment schedules as Airflow 2 did unless the file says otherwise."""
    doc = SELF.replace('airflow_version = "2.11.0"', 'airflow_version = "3.3.1"')
    chosen = doc + '\n[target.airflow_configuration_options]\n"scheduler.catchup_by_default" = "False"\n'
    moved = load_migration(write(tmp_path, doc)).environment
    kept = load_migration(write(tmp_path, chosen)).environment
    assert moved is not None and kept is not None
    options = moved.settings["AirflowConfigurationOptions"]
    assert options["scheduler.catchup_by_default"] == options["scheduler.create_cron_data_intervals"] == "True"
    assert any(warning.startswith("scheduler.catchup_by_default: True") for warning in moved.warnings)
    assert kept.settings["AirflowConfigurationOptions"]["scheduler.catchup_by_default"] == "False"
    assert kept.settings["AirflowConfigurationOptions"]["scheduler.create_cron_data_intervals"] == "True"


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.id for case in BAD_CASES])
def test_bad_input_names_key_path_and_allowed_values(tmp_path: Path, case: Bad) -> None:
    path = write(tmp_path, case.doc, case.file_name)
    error = load_error(path)
    message = str(error)
    assert error.path == path
    # One change, one problem: its line starts with the key path and says what is allowed.
    assert len(error.problems) == 1, error.problems
    assert error.problems[0].startswith(f"{case.key}: "), error.problems
    assert case.expected in error.problems[0]
    assert f"  - {case.key}: " in message
    assert message.startswith(f"{path}: 1 problem(s)")


def test_a_misspelt_key_gets_the_closest_allowed_one(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, tgt_line("max_worker = 2") + "\n[source.extra]\nx = 1\n"))

    assert sorted(error.problems) == [
        "source.extra: unknown key; allowed keys in [source]: kind, environment_name, execution_role_arn, region, "
        "airflow_version, snapshot",
        "target.max_worker: unknown key; did you mean max_workers? allowed keys in [target]: environment_name, "
        "airflow_version, environment_class, min_workers, max_workers, schedulers, min_webservers, max_webservers, "
        "webserver_access_mode, weekly_maintenance_window_start, endpoint_management, worker_replacement_strategy, "
        "kms_key, execution_role_arn, source_bucket_arn, dag_s3_path, plugins_s3_path, requirements_s3_path, "
        "startup_script_s3_path, drop_options, execution_role_policy_arns, network, logging, "
        "airflow_configuration_options, tags",
    ]


def test_an_unknown_quoted_key_with_a_dot_is_shown_quoted(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, tgt_line('"max.workers" = 2')))

    assert error.problems[0].startswith('target."max.workers": unknown key; did you mean max_workers?')


def test_a_missing_table_names_the_keys_it_needs(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, MWAA.split("[target]")[0]))

    assert error.problems == ["target: missing table [target]; it needs environment_name and airflow_version"]


def test_deploy_rules_no_region_can_satisfy_are_refused_at_synth(tmp_path: Path) -> None:
    # The cloned network pins the source's region (us-east-1); the key pins another.
    text = tgt_line('kms_key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"')

    error = load_error(write(tmp_path, text))

    assert len(error.problems) == 1
    assert error.problems[0].startswith(
        "no region can satisfy every deploy rule: The network is cloned from the source"
    )
    assert "must be in the region the environment is deployed to" in error.problems[0]


def test_a_malformed_snapshot_field_is_read_as_the_clone_reads_it_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, MWAA)
    snapshot = tmp_path / "m1.source.json"
    document = json.loads(snapshot.read_text())
    document["Environment"]["Tags"] = [{"Key": "team", "Value": "x"}]
    document["Environment"]["LoggingConfiguration"] = "on"
    snapshot.write_text(json.dumps(document))

    config = load_migration(path)

    assert config.environment is not None
    assert any(
        "LoggingConfiguration" not in w and "TaskLogs setting is incomplete" in w for w in config.environment.warnings
    )


def test_the_export_dag_goes_into_the_old_dag_folder_by_default(tmp_path: Path) -> None:
    config = load_migration(write(tmp_path, MWAA))

    assert config.export.deploy_dag is True
    assert config.environment is not None
    target = config.environment.export_dag
    assert target is not None
    assert (target.bucket, target.key) == ("airflow-analytics-111122223333-us-east-1", "dags/mwaa_migration_export.py")


def test_the_export_dag_can_be_left_to_the_user(tmp_path: Path) -> None:
    config = load_migration(write(tmp_path, table("export", "deploy_dag = false")))

    assert config.environment is not None and config.environment.export_dag is None


def test_deploying_the_export_dag_is_for_an_mwaa_source_only(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, table("export", "deploy_dag = true", base=SELF)))

    assert error.problems == [
        "export.deploy_dag: only for an MWAA source; add migration_dags/export_metadata.py to your own DAG folder, "
        "or run it as a script (README, step 3)"
    ]


def test_an_airflow_3_source_gets_no_export_dag_and_a_warning() -> None:
    config = load_migration(REPO_ROOT / "tests" / "fixtures" / "plan" / "reporting.toml")

    assert config.environment is not None
    assert config.environment.export_dag is None
    assert any(
        w.startswith("[export]: the export DAG runs on Airflow 2 sources only") for w in config.environment.warnings
    )


def test_a_bad_source_doesnt_hide_a_target_problem(tmp_path: Path) -> None:
    text = src(
        'region = "moon-1"',
        tgt_line(f'execution_role_arn = "{ROLE_ARN}"\nexecution_role_policy_arns = ["arn:aws:iam::aws:policy/x"]'),
    )

    keys = sorted(problem.split(":")[0] for problem in load_error(write(tmp_path, text)).problems)

    assert keys == ["source.region", "target.execution_role_policy_arns"]


def test_two_migrations_cant_both_deploy_the_export_dag_into_one_environment(tmp_path: Path) -> None:
    write(tmp_path, MWAA, "one.toml")
    write(tmp_path, sub('"analytics-v3"', '"analytics-v4"'), "two.toml")

    with pytest.raises(MigrationFileError) as caught:
        load_migrations("all", tmp_path)

    assert caught.value.problems == [
        "export.deploy_dag: one.toml already deploys the export DAG to s3://airflow-analytics-111122223333-us-east-1/"
        "dags/mwaa_migration_export.py; set [export] deploy_dag = false in one of them (both can use its exports)"
    ]


def test_a_dag_path_with_iam_wildcards_gets_no_export_dag_deployment(tmp_path: Path) -> None:
    path = write(tmp_path, MWAA)
    snapshot = tmp_path / "m1.source.json"
    document = json.loads(snapshot.read_text())
    document["Environment"]["DagS3Path"] = "dags/*"
    snapshot.write_text(json.dumps(document))

    error = load_error(path)

    assert error.problems[0].startswith("the source's DagS3Path 'dags/*' has *, ? or $")


def test_bad_case_ids_are_unique() -> None:
    assert len({case.id for case in BAD_CASES}) == len(BAD_CASES) >= 40


@pytest.mark.parametrize(
    "text",
    [
        MWAA + "max_workers 5\n",  # missing '='
        MWAA + 'environment_name = "twice"\n',  # duplicate key
        MWAA + '[target.tags]\nteam = "unterminated\n',
    ],
    ids=["missing-equals", "duplicate-key", "unterminated-string"],
)
def test_invalid_toml_is_one_problem_with_its_line(tmp_path: Path, text: str) -> None:
    error = load_error(write(tmp_path, text))
    assert len(error.problems) == 1
    assert error.problems[0].startswith("not valid TOML: ")
    assert "line " in error.problems[0]


def test_unreadable_file_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "m1.toml").mkdir()
    error = load_error(tmp_path / "m1.toml")
    assert error.problems[0].startswith("cannot be read: ")


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        'colour = "blue"\n'
        + src('region = "moon-1"')
        + "min_workers = 0\n"
        + 'environment_class = "mw1.huge"\n'
        + 'weekly_maintenance_window_start = "SUN:3:30"\n'
        + f'\n[target.network]\nsubnet_ids = ["{SUBNET_A}"]\n'
        + '\n[target.logging]\ntask = "LOUD"\n'
        + '\n[target.airflow_configuration_options]\n"core.parallelism" = 32\n'
        + '\n[target.tags]\n"aws:owner" = "me"\n'
        + "\n[migration_bucket]\nretention_days = 0\n"
    )
    error = load_error(write(tmp_path, text, "Bad_Name.toml"))
    keys = [problem.split(": ", 1)[0] for problem in error.problems]
    assert sorted(keys) == sorted(
        [
            "file name",
            "(top level).colour",
            "source.region",
            "target.min_workers",
            "target.environment_class",
            "target.weekly_maintenance_window_start",
            "target.network.subnet_ids",
            "target.network.vpc_id",
            "target.logging.task",
            'target.airflow_configuration_options."core.parallelism"',
            'target.tags."aws:owner"',
            "migration_bucket.retention_days",
        ]
    )
    assert str(error).startswith(f"{tmp_path / 'Bad_Name.toml'}: 12 problem(s)")
    assert str(error).count("\n  - ") == 12


# ---------------------------------------------------------------------------------------------------------------
# Selecting migration files


def test_default_selector_is_the_example() -> None:
    expected = [(MIGRATIONS_DIR / "example.toml").resolve()]
    assert resolve_migration_paths(None) == expected
    assert resolve_migration_paths("") == expected


def test_selector_by_name() -> None:
    assert resolve_migration_paths("example-self-managed") == [(MIGRATIONS_DIR / "example-self-managed.toml").resolve()]


def test_selector_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, MWAA, "elsewhere.toml")
    assert resolve_migration_paths(str(path)) == [path.resolve()]
    [config] = load_migrations(str(path))
    assert config.name == "elsewhere"
    assert config.export_prefix == "exports/elsewhere/"


def test_selector_all_is_sorted_and_loads_both_examples() -> None:
    paths = resolve_migration_paths("all")
    assert paths == sorted(paths)
    names = [path.name for path in paths]
    assert {"example.toml", "example-self-managed.toml"} <= set(names)
    assert names.index("example-self-managed.toml") < names.index("example.toml")
    configs = {name: load_migration(MIGRATIONS_DIR / f"{name}.toml") for name in ("example", "example-self-managed")}
    assert configs["example"].target.environment_name == "analytics-v3"
    assert configs["example-self-managed"].target.environment_name == "etl-mwaa"


def test_selector_all_in_a_folder(tmp_path: Path) -> None:
    write(tmp_path, MWAA, "b.toml")
    write(tmp_path, SELF, "a.toml")
    assert [path.name for path in resolve_migration_paths("all", tmp_path)] == ["a.toml", "b.toml"]
    assert [config.name for config in load_migrations("all", tmp_path)] == ["a", "b"]


def test_selector_all_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match=r"migration=all: no \.toml files"):
        resolve_migration_paths("all", tmp_path)


def test_unknown_name_lists_available_names(tmp_path: Path) -> None:
    write(tmp_path, MWAA, "beta.toml")
    write(tmp_path, SELF, "alpha.toml")
    with pytest.raises(MigrationFileError) as caught:
        load_migrations("gamma", tmp_path)
    [problem] = caught.value.problems
    assert problem.startswith("migration: no migration named 'gamma'")
    assert problem.endswith("allowed: all, a path to a .toml file, or one of: alpha, beta")


def test_unknown_name_in_the_real_folder_lists_the_examples() -> None:
    with pytest.raises(MigrationFileError) as caught:
        resolve_migration_paths("no-such-migration")
    [problem] = caught.value.problems
    available = problem.rsplit("one of: ", 1)[1].split(", ")
    assert {"example", "example-self-managed"} <= set(available)


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(MigrationFileError) as caught:
        load_migrations(str(missing))
    assert caught.value.path == missing
    assert caught.value.problems == ["migration: no such file"]


def test_two_migrations_with_the_same_target_are_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, MWAA, "first.toml")
    write(tmp_path, src('region = "eu-west-1"'), "second.toml")  # a different source, the same target name
    write(tmp_path, SELF, "third.toml")
    with pytest.raises(MigrationFileError) as caught:
        load_migrations("all", tmp_path)
    message = str(caught.value)
    assert "first.toml" in message
    assert "second.toml" in message
    assert "target.environment_name: 'analytics-v3'" in message
    assert "third.toml" not in message


def test_a_bad_file_in_all_is_refused(tmp_path: Path) -> None:
    write(tmp_path, MWAA, "good.toml")
    write(tmp_path, tgt_line("max_workers = 99"), "worse.toml")
    with pytest.raises(MigrationFileError) as caught:
        load_migrations("all", tmp_path)
    assert caught.value.path.name == "worse.toml"
    assert caught.value.problems[0].startswith("target.max_workers: ")


# ---------------------------------------------------------------------------------------------------------------
# Valid files


def test_example_loads_into_the_typed_model() -> None:
    [config] = load_migrations("example")
    assert isinstance(config, MigrationConfig)
    assert config.name == "example"
    assert config.path == (MIGRATIONS_DIR / "example.toml").resolve()
    assert config.export_prefix == "exports/example/"
    source, target = config.source, config.target
    assert (source.kind, source.environment_name, source.region, source.airflow_version) == (
        "mwaa",
        "analytics",
        "us-east-1",  # from the snapshot's ARN
        None,
    )
    assert source.account == "111122223333"
    assert (target.environment_name, target.airflow_version, target.environment_class) == (
        "analytics-v3",
        "3.0.6",
        "mw1.medium",
    )
    assert (target.min_workers, target.max_workers, target.schedulers) == (None, 10, None)
    assert target.weekly_maintenance_window_start == "SUN:03:30"
    assert target.network is None  # cloned from the source
    assert target.dag_s3_path == "dags"
    assert target.plugins_s3_path == "plugins.zip"  # deployed from [workflows], to the default path
    assert dict(target.logging) == {"task": "INFO", "scheduler": "WARNING"}
    assert dict(target.airflow_configuration_options) == {"core.default_timezone": "utc"}
    assert dict(target.tags) == {"team": "data-platform"}
    assert config.migration_bucket.retention_days == 30
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "changed"  # type: ignore[misc]


def test_self_managed_example_loads_into_the_typed_model() -> None:
    [config] = load_migrations("example-self-managed")
    assert config.export_prefix == "exports/example-self-managed/"
    assert (config.source.kind, config.source.airflow_version) == ("self-managed", "2.5.1")
    assert config.source.environment_name is None
    assert config.source.account is None
    target = config.target
    assert (target.environment_name, target.airflow_version) == ("etl-mwaa", "2.11.0")
    assert (target.environment_class, target.min_workers, target.max_workers) == ("mw1.small", 1, 5)
    assert target.webserver_access_mode == "PRIVATE_ONLY"
    assert target.network == NetworkConfig(
        subnet_ids=(SUBNET_A, SUBNET_B), security_group_ids=(), vpc_id="vpc-0a1b2c3d4e5f67890"
    )
    assert target.logging["webserver"] == "WARNING"
    assert sorted(target.logging) == ["dag_processing", "scheduler", "task", "webserver", "worker"]
    assert target.dag_s3_path == "dags"
    assert dict(target.airflow_configuration_options) == {}
    assert config.migration_bucket.retention_days == 14


def test_minimal_file_takes_the_defaults(tmp_path: Path) -> None:
    config = load_migration(write(tmp_path, MWAA, "minimal.toml"))
    assert config.migration_bucket.retention_days == 30
    assert config.export_prefix == "exports/minimal/"
    target = config.target
    assert target.dag_s3_path == "dags"
    assert target.network is None
    assert (target.environment_class, target.max_workers, target.kms_key, target.execution_role_arn) == (
        None,
        None,
        None,
        None,
    )
    assert dict(target.logging) == dict(target.airflow_configuration_options) == dict(target.tags) == {}


def test_every_key_at_its_limits_is_accepted(tmp_path: Path) -> None:
    """The other side of the bad cases: the validation is not stricter than the contract."""
    long_name = "A" + "b_-9" * 19 + "xyz"  # 80 characters
    long_key = "scheduler." + "a" * 54  # 64 characters
    groups = ", ".join(f'"sg-0123456789abcde{i:02d}"' for i in range(5))
    text = (
        MWAA.split("[target]")[0].replace('kind = "mwaa"\n', 'kind = "mwaa"\nregion = "us-gov-west-1"\n')
        + f"""
[target]
environment_name = "{long_name}"
airflow_version = "{MWAA_TARGET_VERSIONS[-1]}"
environment_class = "mw1.2xlarge"
min_workers = 25
max_workers = 25
schedulers = 5
min_webservers = 5
max_webservers = 5
webserver_access_mode = "PUBLIC_AND_PRIVATE"
weekly_maintenance_window_start = "SAT:23:30"
endpoint_management = "CUSTOMER"
worker_replacement_strategy = "GRACEFUL"
kms_key = "{KMS_ARN}"
execution_role_arn = "arn:aws-cn:iam::111122223333:role/path/to/Role+=,.@-_"
source_bucket_arn = "arn:aws:s3:::my.bucket-1"
dag_s3_path = "airflow/dags/"
plugins_s3_path = "airflow/plugins.zip"
requirements_s3_path = "airflow/requirements.txt"
startup_script_s3_path = "airflow/startup.sh"

[target.network]
{SUBNETS}
security_group_ids = [{groups}]

[target.logging]
dag_processing = "DISABLED"
scheduler = "CRITICAL"
task = "DEBUG"
webserver = "ERROR"
worker = "WARNING"

[target.airflow_configuration_options]
"{long_key}" = "{"~" * 256}"
"core.default_timezone" = " "
"core.dags_folder" = "{"~" * 65536}"

[target.tags]
"{"k" * 128}" = "{"v" * 256}"
"awsteam" = "x"
"cost:centre" = "a b/c=d+e-f@g_h.i"
"""
        + "".join(f'tag{i} = "v"\n' for i in range(46))
        + "\n[migration_bucket]\nretention_days = 3650\n"
    )
    config = load_migration(write(tmp_path, text, "a" * 20 + ".toml"))
    target = config.target
    assert target.environment_name == long_name
    assert len(long_name) == 80
    assert (target.min_workers, target.max_workers, target.schedulers) == (25, 25, 5)
    assert (target.min_webservers, target.max_webservers) == (5, 5)
    assert target.network is not None
    assert len(target.network.security_group_ids) == 5
    assert target.network.vpc_id is None
    assert len(target.tags) == 49
    assert target.airflow_configuration_options[long_key] == "~" * 256
    assert target.dag_s3_path == "airflow/dags/"
    assert config.source.region == "us-gov-west-1"
    assert config.migration_bucket.retention_days == 3650


def test_micro_with_one_of_everything_is_accepted(tmp_path: Path) -> None:
    text = tgt_line(
        'environment_class = "mw1.micro"\nmin_workers = 1\nmax_workers = 1\nschedulers = 1\n'
        "min_webservers = 1\nmax_webservers = 1"
    )
    assert load_migration(write(tmp_path, text)).target.environment_class == "mw1.micro"


def test_same_target_name_is_fine_with_a_network_for_another_region(tmp_path: Path) -> None:
    # Synth doesn't know the deploy region: the template's rule refuses the source's region (test_stacks).
    text = table("target.network", SUBNETS, VPC_LINE, base=sub('"analytics-v3"', '"analytics"'))
    config = load_migration(write(tmp_path, text))
    assert config.target.environment_name == config.source.environment_name == "analytics"


def test_self_managed_source_may_target_its_own_version(tmp_path: Path) -> None:
    text = sub('"2.5.1"', '"2.11.0"', SELF)
    assert load_migration(write(tmp_path, text)).source.airflow_version == "2.11.0"


# ---------------------------------------------------------------------------------------------------------------
# End to end: what a user sees from `cdk synth -c migration=<bad file>`


def test_app_exits_2_with_the_problems_and_no_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, tgt_line("max_workers = 26\nschedulers = 0"), "broken.toml")
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"migration": str(bad)}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    # As `npx cdk synth` runs it, without the Makefile's environment: app.py silences jsii's Node banner itself.
    env.pop("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", None)
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"{bad}: 2 problem(s) in the migration file:" in result.stderr
    assert "target.max_workers: must be a whole number from 1 to 25, got int 26" in result.stderr
    assert "target.schedulers: must be a whole number from 1 to 5, got int 0" in result.stderr
    assert "Traceback" not in output
    assert "end-of-life" not in output
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
