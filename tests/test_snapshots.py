"""Each stack's template as reviewers see it in a pull request; only asset hashes are normalised."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synth_app import SynthesizedApp, migration_paths, normalised

# Every migration the shared synth builds: a migration added under migrations/ needs only --snapshot-update.
MIGRATIONS = [path.stem for path in migration_paths()]


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", MIGRATIONS)
@pytest.mark.parametrize("stack", ["migration_bucket", "new_environment", "cutover"])
def test_template_snapshot(
    synthesized: SynthesizedApp, snapshot_json: SnapshotAssertion, name: str, stack: str
) -> None:
    assert normalised(synthesized.template(getattr(synthesized.stacks[name], stack))) == snapshot_json


def test_every_synthesized_migration_has_snapshots(synthesized: SynthesizedApp) -> None:
    assert sorted(synthesized.stacks) == sorted(MIGRATIONS)
