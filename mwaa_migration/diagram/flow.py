"""The cut-over's data flow: who reads and writes which keys of the migration bucket, and which Airflow role each
step calls each environment as."""

from __future__ import annotations

from collections import defaultdict

from mwaa_migration.diagram.mermaid import Flowchart, node_id
from mwaa_migration.diagram.model import Model, as_list, flat, references, verbs


def data_flow_diagram(model: Model) -> str:
    chart = Flowchart("LR")
    key_node, container_of = _key_nodes(model, chart)
    dags = _dags(model, chart)
    used: dict[tuple[str, str], set[str]] = defaultdict(set)  # (principal, node): reads, writes, deletes
    for access in model.access:
        if access.principal not in model.step_nodes and access.principal not in dags:
            continue  # the execution role's own rights are its daily work, not the cut-over
        key = key_node.get((access.target, access.detail))
        found = verbs(access.actions)
        if key is not None:
            for verb in ("read", "write", "delete"):
                # Which of an export's files each reads is detail: a read of any of them is a read of the export.
                node = container_of.get(key, key) if verb == "read" else key
                if verb in found:
                    used[(access.principal, node)].add(verb + "s")
        elif access.detail and access.principal in model.step_nodes and "REST" in found:
            chart.edge(access.principal, access.target, f"as {access.detail}")
        elif access.target.startswith(node_id("x", "log")):
            chart.edge(access.target, access.principal, "task logs")
    for (principal, node), done in sorted(used.items()):
        if done == {"reads"}:
            chart.edge(node, principal, "reads")
        else:
            chart.edge(principal, node, "/".join(sorted(done)))

    linked = {end for source, target, _style in chart.edges for end in (source, target)}
    for node, step in sorted(model.step_nodes.items()):
        if node in linked:
            chart.node(node, [f"λ {step}"], "round")
    for node in sorted(linked & set(model.external)):
        chart.node(node, model.external[node], "hexagon" if node.startswith(node_id("x", "env")) else "rect")
    for name, node in sorted(model.environments.items()):
        chart.node(node, ["new MWAA environment", name], "hexagon")
    return chart.render()


def _key_nodes(model: Model, chart: Flowchart) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """A node per key pattern of the migration bucket(s); a pattern others extend (exports/<name>/*) is a
    subgraph of them. Returns (bucket node, pattern): node, and each key node's container."""
    patterns: dict[str, set[str]] = defaultdict(set)
    for access in model.access:
        if access.target in model.bucket_names and access.detail:
            patterns[access.target].add(access.detail)
    key_node: dict[tuple[str, str], str] = {}
    container_of: dict[str, str] = {}
    for bucket, found in sorted(patterns.items()):
        chart.subgraph(node_id("d", bucket), f"migration bucket {model.bucket_names[bucket]}")
        for pattern in sorted(found):
            if pattern.endswith("*") and any(other.startswith(pattern + "/") for other in found):
                key_node[(bucket, pattern)] = container = node_id("d", pattern)
                chart.subgraph(container, pattern[:-1] + "<export id>/", 2)
                for inner in sorted(p for p in found if p.startswith(pattern + "/")):
                    key_node[(bucket, inner)] = node_id("d", inner)
                    container_of[node_id("d", inner)] = container
                    chart.node(node_id("d", inner), [inner[len(pattern) + 1 :].removesuffix("*")], "rect", 3)
                chart.end(2)
        for pattern in sorted(p for p in found if (bucket, p) not in key_node):
            key_node[(bucket, pattern)] = node_id("d", pattern)
            chart.node(key_node[(bucket, pattern)], [pattern.removesuffix("*")], "rect", 2)
        chart.end()
    return key_node, container_of


def _dags(model: Model, chart: Flowchart) -> set[str]:
    """Draws the export DAG and the migration DAGs (import, task-log copy) as the policies they run with (one attached
    by name to the source's role, one to the new execution role) and returns their nodes."""
    found = set()
    sources = sorted(node for node in model.external if node.startswith(node_id("x", "env")))
    for stack in model.names:
        by_role = {
            role: r["Properties"]
            for _l, r in model.main[stack]
            if r["Type"] == "AWS::MWAA::Environment"
            for role in references(r["Properties"]["ExecutionRoleArn"])
        }
        for logical, resource in model.main[stack]:
            node = model.owner[(stack, logical)]
            roles = as_list(resource["Properties"].get("Roles", []))
            named = [flat(role) for role in roles if not references(role)]
            ours = sorted(references(roles) & set(by_role))
            if not any(a.principal == node and a.target in model.bucket_names for a in model.access):
                continue  # reads nothing of the migration: no DAG's
            if named and sources:
                chart.node(node, ["export DAG", f"on the source, as {named[0]}"])
                chart.edge(sources[0], node, "metadata database")
            elif ours:
                environment = by_role[ours[0]]
                chart.node(node, ["import and task-log DAGs", f"on {environment['Name']}, as its execution role"])
                # On Airflow 2 the import DAG writes the metadata itself, through the ORM; on 3 a step does.
                orm = ", metadata (ORM)" if str(environment["AirflowVersion"]).startswith("2.") else ""
                chart.edge(node, model.environments[environment["Name"]], "task logs" + orm)
            found.add(node)
    return found
