#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth -c migration=<name | path.toml | all>` (default: migrations/example.toml)."""

from __future__ import annotations

import sys

from mwaa_migration.config import MigrationFileError, load_migrations
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
