"""What the diagrams are drawn from: each stack's resources as diagram nodes, and each policy statement resolved
to the node it reaches (a bucket and key pattern, an environment and Airflow role, a log group)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_migration.diagram.mermaid import node_id

Template = Mapping[str, Any]

_PATH_HASH = re.compile(r"(?<=[a-z0-9])[0-9A-F]{8}$")
_AIRFLOW_ROLE = re.compile(r":airflow:[^:]*:[^:]*:role/([^/]+)/([^/]+)$")
_AIRFLOW_ENVIRONMENT = re.compile(r":airflow:[^:]*:[^:]*:environment/([^/]+)$")
_LOG_GROUP = re.compile(r":log-group:([^:]+)")
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9]+)?\}")
_STACK_OUTPUT = re.compile(r"\$\{stack:([^.}]+)\.([^}]+)\}")
# Shown one by one, with custom resources; the rest is counted by type in groups.
_MAIN_TYPES = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::MWAA::Environment", "AWS::StepFunctions::StateMachine"}
_MAIN_TYPES |= {"AWS::EC2::SecurityGroup", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
_RUNS_AS_ROLE = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
_PLUMBING = ("AWS::Lambda::Function", "AWS::Logs::LogGroup")
_VERBS: dict[str, str] = {"Get": "read", "List": "list", "Describe": "read", "Put": "write", "Delete": "delete"}
_VERBS |= {"Decrypt": "decrypt", "GenerateDataKey": "encrypt", "InvokeRestApi": "REST"}


def flat(value: Any) -> str:
    """An intrinsic as one string, references as ${...}: enough to match names and ARNs across stacks."""
    if isinstance(value, str):
        return value.replace("${AWS::", "${AWS_")  # so ARNs still split on `:`
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{str(argument).replace('AWS::', 'AWS_')}}}"
        if function == "Fn::GetAtt":
            return f"${{{argument[0]}.{argument[1]}}}"
        if function == "Fn::Join":
            return str(argument[0]).join(flat(part) for part in argument[1])
        if function == "Fn::Sub":
            return flat(argument[0] if isinstance(argument, list) else argument)
        if function == "Fn::GetStackOutput":
            return f"${{stack:{argument['StackName']}.{argument['OutputName']}}}"
    if isinstance(value, list):
        return ",".join(flat(item) for item in value)
    if isinstance(value, dict):
        return " ".join(flat(item) for _key, item in sorted(value.items()))
    return json.dumps(value)


def readable(logical_id: str) -> str:
    """A logical id without CDK's path hash."""
    return _PATH_HASH.sub("", logical_id) or logical_id


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def references(value: Any) -> set[str]:
    """Logical ids a property refers to (Ref or GetAtt)."""
    return set(_REFERENCE.findall(flat(value)))


def definition_of(template: Template) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The state machine's ASL and each Task's function as a logical id; None without a machine."""
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    if not machines:
        return None
    (machine,) = machines
    definition: dict[str, Any] = json.loads(flat(machine["Properties"]["DefinitionString"]))
    functions = {
        name: next(iter(references(state["Resource"])))
        for name, state in definition["States"].items()
        if state["Type"] == "Task"
    }
    return definition, functions


def verbs(actions: list[str]) -> set[str]:
    """IAM actions as what they let a reader picture: read, write, delete, REST, ..."""
    names = [action.split(":", 1)[-1] for action in actions]
    return {verb for name in names for prefix, verb in _VERBS.items() if name.startswith(prefix)}


@dataclass
class Access:
    """One policy statement's reach: what `principal` may do (`actions`) where (`target`, `detail` inside it:
    an object key pattern, an Airflow role, a log group)."""

    principal: str
    actions: list[str]
    target: str
    detail: str


@dataclass
class Model:
    names: list[str]  # stack names, in deploy order
    templates: dict[str, Template]
    main: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # stack: [(logical id, resource)]
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # stack: {group title: [types]}
    owner: dict[tuple[str, str], str] = field(default_factory=dict)  # (stack, logical id): node
    external: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node outside the stacks: label lines
    environments: dict[str, str] = field(default_factory=dict)  # environment name: node
    buckets: dict[str, str] = field(default_factory=dict)  # bucket name, ${Logical} or ${Logical.Arn}: node
    bucket_names: dict[str, str] = field(default_factory=dict)  # named bucket's node: name
    step_names: dict[str, str] = field(default_factory=dict)  # step function logical id: step name
    step_nodes: dict[str, str] = field(default_factory=dict)  # step node: step name
    step_group: str = ""
    access: list[Access] = field(default_factory=list)


def build_model(templates: Mapping[str, Template]) -> Model:
    model = Model(names=list(templates), templates=dict(templates))
    for index, stack in enumerate(model.names):
        _classify(model, f"s{index}", stack, templates[stack]["Resources"])
    for stack in model.names:
        _resolve_access(model, stack)
    return model


def _classify(model: Model, prefix: str, stack: str, resources: Mapping[str, Any]) -> None:
    parsed = definition_of({"Resources": resources})
    steps = set(parsed[1].values()) if parsed else set()
    props = {logical: resource.get("Properties", {}) for logical, resource in resources.items()}
    kinds = {logical: resource["Type"] for logical, resource in resources.items()}
    # Plumbing, counted rather than shown: functions, log groups, the roles functions and the machine run as, and
    # the policies on those roles. A step's policy acts for its step.
    step_roles = {
        role: node_id(prefix, "step", _step_name(props[s])) for s in steps for role in references(props[s]["Role"])
    }
    runs_as = references([p.get("Role") or p.get("RoleArn") for x, p in props.items() if kinds[x] in _RUNS_AS_ROLE])
    access_logs = references([p.get("LoggingConfiguration", {}).get("DestinationBucketName") for p in props.values()])
    plumbing = (
        "roles, policies, logs of the machine and step Lambdas" if steps else "functions, their roles, policies, logs"
    )
    groups: dict[str, list[str]] = defaultdict(list)
    main = []
    for logical, resource in resources.items():
        kind = resource["Type"]
        attached = references(props[logical].get("Roles", [])) if kind == "AWS::IAM::ManagedPolicy" else set()
        if logical in steps:
            node = model.owner[(stack, logical)] = node_id(prefix, "step", _step_name(props[logical]))
            model.step_names[logical] = model.step_nodes[node] = _step_name(props[logical])
            model.step_group = node_id(prefix, "steps")
            continue
        if len(attached) == 1 and attached <= set(step_roles):
            model.owner[(stack, logical)] = step_roles[min(attached)]
        if kind in _PLUMBING or logical in runs_as or (attached and attached <= runs_as):
            groups[plumbing].append(kind)
        elif logical in access_logs or kind == "AWS::S3::BucketPolicy":
            groups["access logs, bucket policies"].append(kind)
        elif kind in _MAIN_TYPES or kind.startswith("Custom::"):
            main.append((logical, resource))
        else:
            groups["other"].append(kind)
    model.main[stack] = sorted(main, key=lambda item: (item[1]["Type"], item[0]))
    model.groups[stack] = dict(sorted(groups.items()))
    for logical, resource in main:
        node = model.owner[(stack, logical)] = node_id(prefix, readable(logical))
        properties = resource["Properties"]
        if resource["Type"] == "AWS::MWAA::Environment":
            model.environments[properties["Name"]] = node
        elif resource["Type"] == "AWS::S3::Bucket":
            if "BucketName" in properties:
                model.buckets[flat(properties["BucketName"])] = node
                model.bucket_names[node] = flat(properties["BucketName"])
            model.buckets |= {f"${{{logical}.Arn}}": node, f"${{{logical}}}": node}


def _step_name(function: Any) -> str:
    return str(function["Handler"]).rsplit(".", 1)[-1]


def _resolve_access(model: Model, stack: str) -> None:
    """The statements of the policies drawn as actors: those shown one by one and the steps'."""
    for logical, resource in model.templates[stack]["Resources"].items():
        principal = model.owner.get((stack, logical))
        if resource["Type"] != "AWS::IAM::ManagedPolicy" or principal is None:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(action) for action in as_list(statement["Action"])]
            for item in as_list(statement.get("Resource", [])):
                resolved = _target_of(model, stack, flat(item))
                # A role's rights on its own plumbing (a step's log group) say nothing about the migration.
                if resolved is not None and resolved[0] != principal:
                    model.access.append(Access(principal, actions, *resolved))


def _target_of(model: Model, stack: str, resource: str) -> tuple[str, str] | None:
    """The node a policy resource names, and what inside it."""
    if (match := _AIRFLOW_ROLE.search(resource)) is not None:
        return environment_node(model, match.group(1)), match.group(2)
    if (match := _AIRFLOW_ENVIRONMENT.search(resource)) is not None:
        return environment_node(model, match.group(1)), ""
    if (match := _LOG_GROUP.search(resource)) is not None:
        group = match.group(1)
        node = node_id("x", "log", group)
        # MWAA names its log groups airflow-<environment>-<module>: the new environment's, or the source's.
        if any(group.startswith(f"airflow-{name}-") for name in model.environments):
            model.external.setdefault(node, ("log groups", group, "(MWAA creates them)"))
        else:
            model.external.setdefault(node, ("log group", group, "(the source's)"))
        return node, group
    if ":s3:::" in resource or resource.startswith("${"):
        bucket, _, key = resource.split(":s3:::", 1)[-1].partition("/")
        if bucket in model.buckets:
            return model.buckets[bucket], key
    if (match := _STACK_OUTPUT.search(resource)) is not None:
        other, output = match.groups()
        value = model.templates.get(other, {}).get("Outputs", {}).get(output, {}).get("Value")
        stack, resource = other, flat(value)
    for logical in sorted(references(resource)):
        if (stack, logical) in model.owner:
            return model.owner[(stack, logical)], ""
    return None


def environment_node(model: Model, name: str) -> str:
    """The environment a stack creates, or the one outside the stacks (the source)."""
    if name in model.environments:
        return model.environments[name]
    node = node_id("x", "env", name)
    model.external.setdefault(node, ("MWAA environment", name, "(the source, old environment)"))
    return node
