"""Builds the stacks of each migration into one CDK app, and the security gate that checks them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from mwaa_migration.migration import MigrationConfig
from stacks.cutover_stack import CutoverStack
from stacks.migration_bucket_stack import MigrationBucketStack
from stacks.new_environment_stack import NewEnvironmentStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def new_app(outdir: str | None = None) -> App:
    """An App with cdk.json's feature flags, also when the CLI didn't start it (`python app.py`, tests); the
    CLI's own context still takes precedence over these."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return App(context=context, outdir=outdir)


@dataclass(frozen=True)
class MigrationStacks:
    migration: MigrationConfig
    migration_bucket: MigrationBucketStack
    new_environment: NewEnvironmentStack
    cutover: CutoverStack


def add_migrations(app: App, migrations: Sequence[MigrationConfig]) -> list[MigrationStacks]:
    """Three stacks per migration, named after it, so many migrations share one app and one account; and the
    security gate over all of them."""
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
        cutover_stack = CutoverStack(
            app,
            f"{migration.name}-cutover",
            migration=migration,
            migration_key=bucket_stack.key,
            description=f"MWAA migration {migration.name}: cut-over state machine (rehearsal, cut-over, rollback)",
        )
        # Deployed after the environment it cuts over to (its guard reads that environment's status).
        cutover_stack.add_stack_dependency(environment_stack)
        built.append(MigrationStacks(migration, bucket_stack, environment_stack, cutover_stack))
    # cdk-nag rule packs as validation plugins: any unacknowledged finding fails synth.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
    return built
