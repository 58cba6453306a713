#!/usr/bin/env python3
"""What a deploy would give the new environment, from a saved `aws mwaa get-environment` output.

    python plan.py --source saved.json --migration <name or path.toml> [--region <deploy region>]

Prints one JSON object {"settings": ..., "warnings": [...]}; settings use CreateEnvironment's field names. It runs
the clone Lambda's own code (lambda/clone_settings), so a reviewer sees in the PR what the deploy will do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mwaa_migration.clone_lambda import clone_rules
from mwaa_migration.clone_overrides import clone_overrides
from mwaa_migration.config import MigrationConfig, MigrationFileError, load_migrations


class PlanError(Exception):
    """A one-line reason the plan can't be made."""


def read_source(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PlanError(f"--source {path}: not a readable JSON file ({error})") from None
    environment = document.get("Environment", document) if isinstance(document, dict) else None
    if not isinstance(environment, dict) or "Arn" not in environment:
        raise PlanError(f"--source {path}: expected the output of `aws mwaa get-environment` (an Environment object)")
    return environment


def plan(environment: dict[str, Any], migration: MigrationConfig, deploy_region: str | None) -> dict[str, Any]:
    source, target = migration.source, migration.target
    if source.kind != "mwaa" or source.environment_name is None:
        raise PlanError(f"{migration.path.name}: source.kind is self-managed; there is no environment to clone")
    _, _, _, source_region, account, _ = str(environment["Arn"]).split(":", 5)
    if environment.get("Name") != source.environment_name:
        raise PlanError(
            f"--source is environment {environment.get('Name')!r}, the migration file's source is "
            f"{source.environment_name!r}"
        )
    request = clone_rules.CloneRequest(
        source_environment_name=source.environment_name,
        source_region=source.region or source_region,
        target_environment_name=target.environment_name,
        target_region=deploy_region or source.region or source_region,
        target_airflow_version=target.airflow_version,
        overrides=clone_overrides(target, migration.name),
    )
    result = clone_rules.clone_settings(environment, request)
    # The deploy refuses a response CloudFormation can't take; the plan says so too, with the same message.
    attributes = clone_rules.encode_attributes(result.settings)
    body = clone_rules.response_body(attributes, physical_id=clone_rules.physical_resource_id(request))
    clone_rules.check_response_size(result.settings, body)
    warnings = list(result.warnings)
    settings: dict[str, Any] = {
        "Name": target.environment_name,
        "AirflowVersion": target.airflow_version,
        "DagS3Path": target.dag_s3_path,
        "ExecutionRoleArn": target.execution_role_arn or f"arn:aws:iam::{account}:role/created-by-the-stack",
        "SourceBucketArn": target.source_bucket_arn or "arn:aws:s3:::created-by-the-stack",
        **result.settings,
    }
    if target.execution_role_arn is None or target.source_bucket_arn is None:
        warnings.append("ExecutionRoleArn and SourceBucketArn marked created-by-the-stack are named at deploy time")
    optional = {
        "KmsKey": target.kms_key,
        "PluginsS3Path": target.plugins_s3_path,
        "RequirementsS3Path": target.requirements_s3_path,
        "StartupScriptS3Path": target.startup_script_s3_path,
    }
    settings.update({key: value for key, value in optional.items() if value is not None})
    # A deployed file's version is the one the workflow deployment writes at deploy time.
    versions = [f"{file.property_prefix}S3ObjectVersion" for file in migration.deployed_files]
    if versions:
        settings.update(dict.fromkeys(versions, "written-by-the-deployment"))
        warnings.append(f"{', '.join(versions)} marked written-by-the-deployment are set at deploy time")
    return {"settings": settings, "warnings": warnings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=Path, help="saved `aws mwaa get-environment` output")
    parser.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
    parser.add_argument("--region", help="the region you deploy to (default: the source's)")
    args = parser.parse_args(argv)
    try:
        (migration,) = load_migrations(args.migration)
        result = plan(read_source(args.source), migration, args.region)
    except MigrationFileError as error:
        print(error, file=sys.stderr)
        return 2
    except (PlanError, clone_rules.CloneRefused) as error:
        print(f"plan refused: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
