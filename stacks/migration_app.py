"""Builds the stacks of each migration into one CDK app, and the security gate that checks them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from mwaa_migration.config import MigrationConfig
from stacks.migration_bucket_stack import MigrationBucketStack
from stacks.new_environment_stack import NewEnvironmentStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's feature flags, for an App the CLI didn't start (`python app.py`, tests); the CLI's own
    context still takes precedence over these."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


@dataclass(frozen=True)
class MigrationStacks:
    migration: MigrationConfig
    migration_bucket: MigrationBucketStack
    new_environment: NewEnvironmentStack


def add_migration_stacks(app: App, migrations: Sequence[MigrationConfig]) -> list[MigrationStacks]:
    """Two stacks per migration, named after it, so many migrations share one app and one account."""
    built = []
    for migration in migrations:
        bucket_stack = MigrationBucketStack(
            app,
            f"{migration.name}-migration-bucket",
            migration=migration,
            description=f"MWAA migration {migration.name}: encrypted bucket for the Airflow metadata export",
        )
        environment_stack = NewEnvironmentStack(
            app,
            f"{migration.name}-new-environment",
            migration=migration,
            migration_key=bucket_stack.key,
            description=f"MWAA migration {migration.name}: new environment {migration.target.environment_name}",
        )
        built.append(MigrationStacks(migration, bucket_stack, environment_stack))
    return built


def add_security_checks(app: App) -> None:
    """cdk-nag rule packs as validation plugins: any unacknowledged finding fails synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
