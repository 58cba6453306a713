"""docs/architecture.md is what mwaa_migration.diagram makes of the session's synthesized app: a stack change
without `make diagram` fails here, and the diagrams cover every stack and every state of the cut-over."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mwaa_migration.diagram.architecture import (
    ARCHITECTURE_MD,
    DIAGRAM_MIGRATION,
    REGENERATE,
    definition_of,
    mode_states,
    render,
)
from tests.synth_app import SynthesizedApp

MERMAID_BLOCK = re.compile(r"```mermaid\n(.*?)\n```", re.DOTALL)
# A node: a safe id, then a quoted label in one of the shapes the generator uses.
NODE = re.compile(r'^\s*(n_[A-Za-z0-9_]+)(\[|\(|\{|\[\(|\(\(|\(\[|\[/|\{\{)"([^"]*)"')


def templates(synthesized: SynthesizedApp) -> dict[str, dict[str, Any]]:
    stacks = synthesized.stacks[DIAGRAM_MIGRATION]
    return {
        stack.stack_name: synthesized.template(stack)
        for stack in (stacks.migration_bucket, stacks.new_environment, stacks.cutover)
    }


@pytest.fixture(scope="module")
def generated(synthesized: SynthesizedApp) -> str:
    return render(templates(synthesized))


def test_the_committed_diagram_is_current(generated: str) -> None:
    committed = ARCHITECTURE_MD.read_text() if ARCHITECTURE_MD.exists() else ""
    assert committed == generated, f"{ARCHITECTURE_MD.name} is stale: run `{REGENERATE}` and commit the result"


def test_the_three_stacks_are_subgraphs_of_the_deploy_diagram(synthesized: SynthesizedApp, generated: str) -> None:
    deploy = MERMAID_BLOCK.findall(generated)[0]
    for stack in templates(synthesized):
        assert re.search(rf'^\s*subgraph n_s\d\["{re.escape(stack)}"\]$', deploy, re.MULTILINE), stack
    for resource_type in ("AWS::MWAA::Environment", "AWS::KMS::Key", "AWS::StepFunctions::StateMachine"):
        assert resource_type in deploy


def test_every_state_of_the_machine_is_in_a_mode_flowchart(synthesized: SynthesizedApp, generated: str) -> None:
    parsed = definition_of(synthesized.template(synthesized.stacks[DIAGRAM_MIGRATION].cutover))
    assert parsed is not None
    definition, _functions = parsed
    labels = {match.group(3).split("<br/>")[0] for block in MERMAID_BLOCK.findall(generated) for match in _nodes(block)}
    assert set(definition["States"]) <= labels
    # Each mode's own walk reaches its end state, and the three walks together cover the machine.
    walks = {mode: mode_states(definition, mode) for mode in ("rehearsal", "cutover", "rollback")}
    assert set().union(*walks.values()) == set(definition["States"])
    assert "RecordPauseStates" not in walks["rehearsal"] and "Rollback" not in walks["cutover"]


def test_ids_are_safe_and_labels_quoted_and_no_account_shows(generated: str) -> None:
    for block in MERMAID_BLOCK.findall(generated):
        for line in block.splitlines()[1:]:
            stripped = line.strip()
            if stripped == "end":
                continue
            if stripped.startswith("subgraph "):
                assert re.fullmatch(r'subgraph n_[A-Za-z0-9_]+\["[^"]*"\]', stripped), line
            elif "->" in stripped:
                assert re.fullmatch(r'n_[A-Za-z0-9_]+ (-->|-\.->)(\|"[^"]*"\|)? n_[A-Za-z0-9_]+', stripped), line
            else:
                assert NODE.match(line), line
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", generated)
    assert not re.search(r"[0-9a-f]{64}", generated)


def _nodes(block: str) -> list[re.Match[str]]:
    return [match for line in block.splitlines() if (match := NODE.match(line))]
