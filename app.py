#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth -c migration=<name | path.toml | all>` (default: migrations/example.toml)."""

from __future__ import annotations

import sys

from aws_cdk import App

from mwaa_migration.config import MigrationFileError, load_migrations
from stacks.migration_app import add_migration_stacks, add_security_checks, cdk_json_context


def main() -> int:
    app = App(context=cdk_json_context())
    # The only context read in the app: which migration(s) to build. Constructs never read context.
    selector = app.node.try_get_context("migration")
    try:
        migrations = load_migrations(selector)
    except MigrationFileError as error:
        print(error, file=sys.stderr)
        return 2
    add_migration_stacks(app, migrations)
    add_security_checks(app)
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
