#!/usr/bin/env python3
"""What a deploy gives the new environment, and why, from the migration's committed source snapshot.

    python plan.py --migration <name or path.toml> [--source saved.json]

Prints one JSON object {"settings": ..., "warnings": [...], "changes": [...]}: settings use CreateEnvironment's
field names and are exactly what synth writes into the template; each change is one setting (an option or tag by
key) with its source value, its new value and why. `--source` plans against another saved `aws mwaa
get-environment` output (a fresher one, say) instead of the snapshot; its sensitive values are masked first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mwaa_clone import clone_rules, mwaa_limits, source_check
from mwaa_migration.environment.clone_overrides import clone_overrides
from mwaa_migration.environment.plan_types import EnvironmentPlan
from mwaa_migration.migration import (
    MigrationConfig,
    MigrationFileError,
    load_migration,
    resolve_migration_paths,
    snapshot,
)

CREATED = "created-by-the-stack"
WRITTEN = "written-by-the-deployment"


class PlanError(Exception):
    """A one-line reason the plan can't be made."""


def read_source(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PlanError(f"--source {path}: not a readable JSON file ({error})") from None
    if not isinstance(document, dict):
        raise PlanError(f"--source {path}: expected the output of `aws mwaa get-environment`")
    # Masked first, as snapshot.py would save it: the plan then refuses what synth would.
    environment = document.get("Environment", document)
    return snapshot.snapshot_document(environment if isinstance(environment, dict) else {})


def plan(migration: MigrationConfig) -> dict[str, Any]:
    source, target = migration.source, migration.target
    assert migration.environment is not None
    environment_plan = migration.environment
    account = source.account or "<account>"
    settings: dict[str, Any] = {
        "Name": target.environment_name,
        "AirflowVersion": target.airflow_version,
        "DagS3Path": target.dag_s3_path,
        "ExecutionRoleArn": target.execution_role_arn or f"arn:aws:iam::{account}:role/{CREATED}",
        "SourceBucketArn": target.source_bucket_arn or f"arn:aws:s3:::{CREATED}",
        **environment_plan.settings,
    }
    warnings = list(environment_plan.warnings)
    if target.execution_role_arn is None or target.source_bucket_arn is None:
        warnings.append(f"ExecutionRoleArn and SourceBucketArn marked {CREATED} are named at deploy time")
    if target.network is not None and not target.network.security_group_ids:
        settings["NetworkConfiguration"] = {**settings["NetworkConfiguration"], "SecurityGroupIds": [f"sg-{CREATED}"]}
    optional = {
        "PluginsS3Path": target.plugins_s3_path,
        "RequirementsS3Path": target.requirements_s3_path,
        "StartupScriptS3Path": target.startup_script_s3_path,
        "WorkerReplacementStrategy": target.worker_replacement_strategy,
    }
    settings.update({key: value for key, value in optional.items() if value is not None})
    # A deployed file's version is the one the workflow deployment writes at deploy time.
    versions = [f"{file.property_prefix}S3ObjectVersion" for file in migration.deployed_files]
    if versions:
        settings.update(dict.fromkeys(versions, WRITTEN))
        warnings.append(f"{', '.join(versions)} marked {WRITTEN} are set at deploy time")
    return {"settings": settings, "warnings": warnings, "changes": changes(migration, environment_plan, settings)}


def changes(migration: MigrationConfig, environment_plan: EnvironmentPlan, settings: dict[str, Any]) -> list[Any]:
    """Source value -> new value and why, for every setting either side has."""
    source_environment = migration.source.environment or {}
    before, after = (
        _present(source_check.cloned_values(source_environment)),
        _present(source_check.cloned_values(settings)),
    )
    chosen = _present(source_check.cloned_values(clone_overrides(migration.target, migration.name)))
    rows = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if path in chosen and chosen[path] == new:
            why = "set in the migration file"
        elif path == "AirflowVersion":
            why = "target.airflow_version"
        elif old == new:
            why = "cloned"
        elif path == f"AirflowConfigurationOptions.{mwaa_limits.PAUSED_OPTION}":
            why = "DAGs start paused on the new environment; the cut-over unpauses them"
        elif not source_environment:
            why = "MWAA's default (nothing to clone from a self-managed source)"
        elif new is None:
            why = "not carried over: see warnings"
        elif old is None:
            why = "added for the target version: see warnings"
        else:
            why = "adapted by the clone: see warnings"
        rows.append({"setting": path, "source": old, "new": new, "why": why})
    return rows


def _present(values: dict[str, object]) -> dict[str, object]:
    return {path: value for path, value in values.items() if value not in (None, {"Enabled": None, "LogLevel": None})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
    parser.add_argument("--source", type=Path, help="another saved `aws mwaa get-environment` output to plan from")
    args = parser.parse_args(argv)
    try:
        (path,) = resolve_migration_paths(args.migration)
        document = read_source(args.source) if args.source else None
        migration = load_migration(path, source_document=document)
        if document is not None and migration.source.kind != "mwaa":
            raise PlanError(f"{path.name}: source.kind is self-managed; there is no environment to clone")
        result = plan(migration)
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
