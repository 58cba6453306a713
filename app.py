#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth -c migration=<name | path.toml | all>` (default: migrations/example.toml)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# jsii prints a boxed end-of-life banner for Node 18 and 20 on every synth, which buries the clone warnings and the
# pre-flight report; it is about the machine's Node (the README says which to use), so `npx cdk` stays quiet too.
# Set before aws_cdk loads: jsii reads it when its Node process starts.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from mwaa_migration.migration import MigrationFileError, load_migrations
from mwaa_migration.preflight.workflows import PreflightError, report_preflight
from stacks.migration_app import add_migrations, new_app


def main() -> int:
    app = new_app()
    # The only context read in the app: which migration(s) to build. Constructs never read context.
    selector = app.node.try_get_context("migration")
    try:
        migrations = load_migrations(selector)
    except MigrationFileError as error:
        print(error, file=sys.stderr)
        return 2
    # What the clone adapted or left out, said before anything is built: nothing is dropped silently.
    for migration in migrations:
        assert migration.environment is not None
        for warning in migration.environment.warnings:
            print(f"{migration.path.name}: warning: {warning}", file=sys.stderr)
    # Pre-flight of each migration's [workflows], before any construct: warnings are printed, errors stop synth.
    try:
        failed = report_preflight(migrations, sys.stderr, Path.cwd())
    except PreflightError as error:
        print(error, file=sys.stderr)
        return 2
    if failed:
        return 1
    add_migrations(app, migrations)
    try:
        app.synth()
    except RuntimeError as error:
        # cdk-nag findings: the report is already printed above; a traceback would only bury it.
        if "ValidationFailed" not in str(error):
            raise
        print(f"Security checks failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
