"""The deploy diagram: one subgraph per stack, what references what, and what each policy's role may do where."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mwaa_migration.diagram.mermaid import Flowchart, node_id
from mwaa_migration.diagram.model import Model, as_list, environment_node, flat, readable, references, verbs

_SHAPES = {"AWS::S3::Bucket": "cylinder", "AWS::MWAA::Environment": "hexagon"}


def deploy_diagram(model: Model) -> str:
    chart = Flowchart("LR")
    for index, stack in enumerate(model.names):
        prefix = f"s{index}"
        chart.subgraph(node_id(prefix), stack)
        for logical, resource in model.main[stack]:
            shape = (
                "parallelogram" if resource["Type"].startswith("Custom::") else _SHAPES.get(resource["Type"], "rect")
            )
            chart.node(model.owner[(stack, logical)], _resource_label(logical, resource), shape, 2)
        if model.step_group.startswith(node_id(prefix) + "_"):
            chart.subgraph(model.step_group, "step Lambdas", 2)
            for node, step in sorted(model.step_nodes.items()):
                chart.node(node, [f"λ {step}"], "round", 3)
            chart.end(2)
        for title, types in model.groups[stack].items():
            counts = Counter(resource_type.rsplit("::", 1)[-1] for resource_type in types)
            chart.node(
                node_id(prefix, "group", title), [title, *(f"{n} x {t}" for t, n in sorted(counts.items()))], "rect", 2
            )
        chart.end()
        _reference_edges(model, chart, stack)
    _access_edges(model, chart)
    chart.subgraph(node_id("x"), "outside the stacks")
    for node, lines in sorted(model.external.items()):
        chart.node(node, lines, "hexagon" if node.startswith(node_id("x", "env")) else "rect", 2)
    chart.end()
    return chart.render()


def _resource_label(logical: str, resource: Any) -> list[str]:
    properties = resource.get("Properties", {})
    resource_type = resource["Type"]
    lines = [readable(logical), resource_type]
    if resource_type == "AWS::MWAA::Environment":
        lines.insert(
            1, f"{properties['Name']}: Airflow {properties['AirflowVersion']}, {properties['EnvironmentClass']}"
        )
    elif resource_type == "AWS::S3::Bucket":
        encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
        algorithm = encryption.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "")
        if "BucketName" in properties:
            lines.insert(1, flat(properties["BucketName"]))
        lines.append({"aws:kms": "SSE-KMS", "AES256": "SSE-S3"}.get(algorithm, algorithm))
    elif resource_type == "AWS::KMS::Key" and properties.get("EnableKeyRotation"):
        lines.append("rotation on")
    elif resource_type == "AWS::StepFunctions::StateMachine":
        lines.insert(1, flat(properties["StateMachineName"]))
    elif resource_type == "AWS::IAM::ManagedPolicy" and properties.get("Description"):
        lines.append(flat(properties["Description"]))
    elif resource_type.startswith("Custom::") and (properties.get("Key") or properties.get("Prefix")):
        lines.append(flat(properties.get("Key") or properties.get("Prefix")))
    return lines


def _reference_edges(model: Model, chart: Flowchart, stack: str) -> None:
    """What each shown resource's properties point at: keys, roles, buckets, what it must come after."""
    for logical, resource in model.main[stack]:
        node = model.owner[(stack, logical)]
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::S3::Bucket":
            _link(model, chart, stack, properties.get("BucketEncryption"), node, "encrypts")
        elif kind == "AWS::IAM::ManagedPolicy":
            for role in as_list(properties.get("Roles", [])):
                if not references(role):
                    model.external[node_id("x", "role", flat(role))] = ("IAM role", flat(role), "(the source's)")
                    chart.edge(node, node_id("x", "role", flat(role)), "attached to")
                for target in sorted(references(role)):
                    chart.edge(node, model.owner[(stack, target)], "attached to")
        elif kind == "AWS::MWAA::Environment":
            for name in ("ExecutionRoleArn", "SourceBucketArn"):
                _link(model, chart, stack, properties.get(name), node, name)
            for before in sorted(as_list(resource.get("DependsOn", []))):
                if model.templates[stack]["Resources"][before]["Type"].startswith("Custom::"):
                    chart.edge(model.owner[(stack, before)], node, "before", "-.->")
        elif kind == "AWS::StepFunctions::StateMachine" and model.step_group:
            chart.edge(node, model.step_group, "invokes")
        elif kind.startswith("Custom::"):
            _custom_resource_edges(model, chart, stack, node, properties)


def _link(model: Model, chart: Flowchart, stack: str, source: Any, node: str, text: str) -> None:
    for logical in sorted(references(source)):
        if (stack, logical) in model.owner:
            chart.edge(model.owner[(stack, logical)], node, text)


def _custom_resource_edges(model: Model, chart: Flowchart, stack: str, node: str, properties: Any) -> None:
    """Where a custom resource writes, or which environment it checks."""
    bucket = properties.get("Bucket")
    key = flat(properties.get("Key") or properties.get("Prefix") or "")
    targets = [model.owner[(stack, t)] for t in sorted(references(bucket)) if (stack, t) in model.owner]
    if targets:
        chart.edge(node, targets[0], f"writes {key}")
    elif bucket is not None:
        folder, _, name = key.rpartition("/")
        external = node_id("x", "bucket", flat(bucket), folder)
        model.external[external] = ("the source's DAG folder", f"s3://{flat(bucket)}/{folder}/")
        chart.edge(node, external, f"writes {name}")
    if "SourceEnvironmentName" in properties:
        chart.edge(node, environment_node(model, flat(properties["SourceEnvironmentName"])), "GetEnvironment")


def _access_edges(model: Model, chart: Flowchart) -> None:
    """What each policy's role (the steps' as one) may do where; which keys, the data-flow diagram says."""
    for access in model.access:
        principal = model.step_group if access.principal in model.step_nodes else access.principal
        for verb in verbs(access.actions):
            chart.edge(principal, access.target, f"REST as {access.detail}" if verb == "REST" else verb)
