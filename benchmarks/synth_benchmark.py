"""Synth-time benchmark (run with `make benchmark`; not a test): each case is a fresh process, as with the CLI.

Prints the median wall time of each case and the two ratios the project budgets:
example migration / one-bucket app (<= 1.3) and 20 migrations / 1 migration (<= 2.0).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS = 3

ONE_BUCKET_APP = """
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
app = App()
s3.Bucket(Stack(app, "OneBucket"), "Bucket")
app.synth()
"""

MIGRATIONS_APP = """
import sys
from pathlib import Path
from mwaa_migration.migration import load_migration
from mwaa_migration.preflight.workflows import report_preflight
from stacks.migration_app import add_migrations, new_app
app = new_app()
migrations = [load_migration(Path(p)) for p in sys.argv[1:]]
report_preflight(migrations, sys.stderr)  # as app.py does
add_migrations(app, migrations)
app.synth()
"""


def timed(program: str, *args: str) -> float:
    samples = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as outdir:
            env = {**os.environ, "CDK_OUTDIR": outdir}
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", program, *args], cwd=REPO_ROOT, env=env, check=True)  # noqa: S603
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def copies_of_example(folder: Path, count: int) -> list[str]:
    text = (REPO_ROOT / "migrations" / "example.toml").read_text()
    snapshot = (REPO_ROOT / "migrations" / "example.source.json").read_text()
    paths = []
    for index in range(count):
        path = folder / f"bench{index:02d}.toml"
        copy = text.replace('environment_name = "analytics-v3"', f'environment_name = "analytics-v3-{index}"')
        # The copies sit one folder below migrations/, so the [workflows] paths get one more "../".
        path.write_text(copy.replace('"workflows/', '"../workflows/'))
        # Each copy clones the example's source snapshot.
        path.with_name(path.stem + ".source.json").write_text(snapshot)
        paths.append(str(path))
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory(dir=REPO_ROOT / "migrations") as folder:
        twenty = copies_of_example(Path(folder), 20)
        one_bucket = timed(ONE_BUCKET_APP)
        example = timed(MIGRATIONS_APP, str(REPO_ROOT / "migrations" / "example.toml"))
        many = timed(MIGRATIONS_APP, *twenty)
    print(f"one-bucket app synth:      {one_bucket:6.2f} s")
    print(f"example migration synth:   {example:6.2f} s  ratio {example / one_bucket:.2f} (budget 1.3)")
    print(f"20 migrations synth:       {many:6.2f} s  ratio {many / example:.2f} (budget 2.0)")


if __name__ == "__main__":
    main()
