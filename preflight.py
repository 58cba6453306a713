#!/usr/bin/env python3
"""The pre-flight report synth prints, without synthesizing: checks a migration's [workflows] for its target.

    python preflight.py --migration <name or path.toml | all>

Exit 0 when there are no errors (warnings may be printed), 1 with errors, 2 when the migration file is invalid
or the checks can't run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mwaa_migration.migration import MigrationFileError, load_migrations
from mwaa_migration.preflight.workflows import PreflightError, report_preflight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migration", required=True, help="a name under migrations/, a path to a .toml file, or all")
    args = parser.parse_args(argv)
    try:
        failed = report_preflight(load_migrations(args.migration), sys.stdout, Path.cwd())
    except (MigrationFileError, PreflightError) as error:
        print(error, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
