"""Every synthesized AWS::MWAA::Environment as the MWAA resource provider reads it, not as cfn-lint does.

cfn-lint ships the provider schema with each JSON-typed property widened to "object or string"; the provider
validates the model against the schema it publishes, where those properties are objects, so a string there
fails the deploy. This test undoes the widening and checks every property: a literal of the schema's type
(with its enums, patterns and bounds), or a Ref/GetAtt only where the value is an ARN, an ID or an S3 version of a
resource in the stack.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cfnlint
import pytest
from jsonschema import Draft7Validator

from tests.synth_app import SynthesizedApp, migration_paths, resources_of_type

SCHEMAS = Path(cfnlint.__file__).resolve().parent / "data" / "schemas"
# Where a deploy-time token is honest: ARNs and IDs of resources the stack makes, and the S3 versions it writes.
TOKEN_PATHS = frozenset(
    {
        "ExecutionRoleArn",
        "SourceBucketArn",
        "NetworkConfiguration.SecurityGroupIds[]",
        "PluginsS3ObjectVersion",
        "RequirementsS3ObjectVersion",
        "StartupScriptS3ObjectVersion",
    }
)


def provider_schema() -> dict[str, Any]:
    """cfn-lint's copy of the AWS::MWAA::Environment provider schema, with its JSON widening undone."""
    index = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    schema: dict[str, Any] = json.loads((SCHEMAS / "resources" / f"{index['AWS::MWAA::Environment']}.json").read_text())
    for prop in schema["properties"].values():
        if prop.get("format") == "json" and prop.get("type") == ["object", "string"]:
            prop["type"] = "object"
            del prop["format"]
    return schema


SCHEMA = provider_schema()


def test_the_widening_is_undone_where_the_issue_found_it() -> None:
    for name in ("AirflowConfigurationOptions", "Tags"):
        assert SCHEMA["properties"][name] == {"type": "object"} | {
            k: v for k, v in SCHEMA["properties"][name].items() if k == "description"
        }


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def is_token(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt")


def problems(value: Any, node: dict[str, Any], path: str) -> Iterator[str]:
    node = resolve(node)
    if is_token(value):
        if path not in TOKEN_PATHS or node.get("type") != "string":
            yield f"{path}: a deploy-time token where the provider needs a literal {node.get('type')}"
        return
    if isinstance(value, dict) and any(key.startswith("Fn::") for key in value):
        yield f"{path}: an intrinsic function {sorted(value)} where the provider needs a literal"
        return
    if node.get("type") == "object" and isinstance(value, dict) and "properties" in node:
        for key, item in value.items():
            if key not in node["properties"]:
                yield f"{path}.{key}: not in the provider schema"
                continue
            yield from problems(item, node["properties"][key], f"{path}.{key}".lstrip("."))
        return
    if node.get("type") == "array" and isinstance(value, list):
        shallow = {k: v for k, v in node.items() if k != "items"}
        yield from (f"{path}: {error.message}" for error in Draft7Validator(shallow).iter_errors(value))
        for item in value:
            yield from problems(item, node.get("items", {}), f"{path}[]")
        return
    for error in Draft7Validator({k: v for k, v in node.items() if k != "description"}).iter_errors(value):
        yield f"{path}: {error.message}"


def environments(synthesized: SynthesizedApp) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, stacks in synthesized.stacks.items():
        template = synthesized.template(stacks.new_environment)
        for resource in resources_of_type(template, "AWS::MWAA::Environment").values():
            yield name, resource["Properties"]


@pytest.mark.parametrize("name", [path.stem for path in migration_paths()])
def test_every_property_is_a_literal_of_the_provider_schemas_type(synthesized: SynthesizedApp, name: str) -> None:
    (properties,) = [props for each, props in environments(synthesized) if each == name]

    found = list(problems(properties, {"type": "object", "properties": SCHEMA["properties"]}, ""))

    assert found == []


def test_the_check_catches_what_a_deploy_time_clone_wrote(synthesized: SynthesizedApp) -> None:
    # What the app wrote before the clone moved to synth: GetAtt strings for maps and counts.
    (properties,) = [props for each, props in environments(synthesized) if each == "example"]
    broken = copy.deepcopy(properties)
    broken["AirflowConfigurationOptions"] = {"Fn::GetAtt": ["Clone", "AirflowConfigurationOptions"]}
    broken["Tags"] = json.dumps({"team": "x"})
    broken["MinWorkers"] = "2"
    broken["LoggingConfiguration"]["TaskLogs"]["Enabled"] = "true"

    found = list(problems(broken, {"type": "object", "properties": SCHEMA["properties"]}, ""))

    assert found == [
        "AirflowConfigurationOptions: a deploy-time token where the provider needs a literal object",
        "LoggingConfiguration.TaskLogs.Enabled: 'true' is not of type 'boolean'",
        "MinWorkers: '2' is not of type 'integer'",
        "Tags: '{\"team\": \"x\"}' is not of type 'object'",
    ]
