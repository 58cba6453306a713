"""The state machine as one flowchart per mode: the path an execution of that mode can take."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mwaa_migration.diagram.mermaid import Flowchart, node_id

# The order an operator runs the modes in; modes the machine adds come after.
_MODE_ORDER = ("rehearsal", "cutover", "rollback")
_OPERATORS = {"StringEquals": "=", "BooleanEquals": "=", "NumericEquals": "=", "NumericGreaterThan": ">"}
_OPERATORS |= {"NumericLessThan": "<", "IsPresent": "present:"}


def mode_variable(definition: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The input path the first Choice branches on, and its values: the execution's modes."""
    states = definition["States"]
    name = definition["StartAt"]
    while states[name]["Type"] != "Choice":
        if "Next" not in states[name]:
            raise ValueError("the state machine has no mode choice")
        name = states[name]["Next"]
    rules = states[name]["Choices"]
    variable = rules[0]["Variable"]
    values = [rule["StringEquals"] for rule in rules if rule.get("Variable") == variable]
    return variable, [m for m in _MODE_ORDER if m in values] + sorted(v for v in values if v not in _MODE_ORDER)


def _successors(state: Mapping[str, Any], variable: str, mode: str) -> list[tuple[str, str, str]]:
    """(next state, edge label, style) in one mode: a Choice on the mode is decided, any other shows all."""
    if state["Type"] == "Choice":
        rules = state["Choices"]
        if all(rule.get("Variable") == variable and "StringEquals" in rule for rule in rules):
            taken = next((rule["Next"] for rule in rules if rule["StringEquals"] == mode), state.get("Default"))
            return [(taken, f"mode = {mode}", "-->")] if taken else []
        found = [(rule["Next"], _condition(rule), "-->") for rule in rules]
        return found + ([(state["Default"], "otherwise", "-->")] if "Default" in state else [])
    found = [(state["Next"], "", "-->")] if "Next" in state else []
    return found + [
        (catch["Next"], "on " + ", ".join(catch["ErrorEquals"]), "-.->") for catch in state.get("Catch", [])
    ]


def _condition(rule: Mapping[str, Any]) -> str:
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for operator, symbol in _OPERATORS.items():
        if operator in rule:
            value = rule[operator]
            return f"{variable} {symbol} {value if isinstance(value, str) else json.dumps(value)}"
    return json.dumps({k: v for k, v in rule.items() if k != "Next"}, sort_keys=True)


def mode_states(definition: Mapping[str, Any], mode: str) -> list[str]:
    """The states an execution of `mode` can visit, in walk order."""
    variable, _modes = mode_variable(definition)
    order: list[str] = []
    pending = [definition["StartAt"]]
    while pending:
        name = pending.pop(0)
        if name not in order:
            order.append(name)
            pending += [target for target, _text, _style in _successors(definition["States"][name], variable, mode)]
    return order


def state_diagram(definition: Mapping[str, Any], steps: Mapping[str, str], mode: str) -> str:
    """`steps`: each Task state's step Lambda."""
    chart = Flowchart("TD")
    states = definition["States"]
    variable, _modes = mode_variable(definition)
    ids = {name: node_id("st", name.replace("?", "_q")) for name in states}
    chart.node("n_start", ["start"], "circle")
    chart.edge("n_start", ids[definition["StartAt"]])
    for name in mode_states(definition, mode):
        state = states[name]
        kind = state["Type"]
        if kind == "Task":
            chart.node(ids[name], [name, f"λ {steps[name]}"])
        elif kind == "Choice":
            chart.node(ids[name], [name], "rhombus")
        elif kind == "Wait":
            wait = f"wait {state['Seconds']} s" if "Seconds" in state else f"wait {state.get('SecondsPath', '')}"
            chart.node(ids[name], [name, wait], "stadium")
        elif kind in ("Succeed", "Fail"):
            chart.node(ids[name], [name, kind.lower()], "circle")
        else:
            chart.node(ids[name], [name, kind], "parallelogram")
        for target, text, style in _successors(state, variable, mode):
            chart.edge(ids[name], ids[target], text, style)
    return chart.render()
