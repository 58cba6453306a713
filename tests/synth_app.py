"""One synthesized app shared by every stack test: jsii costs seconds per app, so the suite builds it once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack, cx_api

from constructs import IConstruct
from mwaa_migration.migration import load_migration, resolve_migration_paths
from stacks.migration_app import MigrationStacks, add_migrations, new_app

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_MIGRATIONS = REPO_ROOT / "tests" / "fixtures" / "migrations"
EXAMPLE_WORKFLOWS = REPO_ROOT / "migrations" / "workflows" / "example"
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass
class SynthesizedApp:
    stacks: dict[str, MigrationStacks]
    assembly: cx_api.CloudAssembly

    def template(self, stack: Stack) -> dict[str, Any]:
        template: dict[str, Any] = self.assembly.get_stack_by_name(stack.stack_name).template
        return template

    def template_path(self, stack: Stack) -> Path:
        return Path(self.assembly.directory) / self.assembly.get_stack_by_name(stack.stack_name).template_file

    def environment(self, name: str) -> dict[str, Any]:
        """The AWS::MWAA::Environment resource of migration `name`."""
        template = self.template(self.stacks[name].new_environment)
        (resource,) = resources_of_type(template, "AWS::MWAA::Environment").values()
        return resource

    def validation_report(self) -> dict[str, Any]:
        """cdk-nag's report of the synth: each plugin's violations and acknowledged findings."""
        report: dict[str, Any] = json.loads((Path(self.assembly.directory) / "validation-report.json").read_text())
        return report


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


def logical_id(construct: IConstruct) -> str:
    child = construct.node.default_child or construct
    return Stack.of(construct).get_logical_id(child)  # type: ignore[arg-type]


def migration_paths() -> list[Path]:
    """Every migration file a user ships in migrations/, then the test migrations."""
    return resolve_migration_paths("all") + sorted(TEST_MIGRATIONS.glob("*.toml"))


def synthesize(outdir: Path) -> SynthesizedApp:
    """Every shipped migration and every test migration, in one app, with the cdk-nag gate on."""
    app = new_app(str(outdir))
    built = add_migrations(app, [load_migration(path) for path in migration_paths()])
    assembly = app.synth()
    return SynthesizedApp(stacks={item.migration.name: item for item in built}, assembly=assembly)


def normalised(template: dict[str, Any]) -> dict[str, Any]:
    """Only asset hashes vary between machines and code changes that the snapshot isn't about."""
    normalised_template: dict[str, Any] = json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))
    return normalised_template
