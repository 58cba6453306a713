"""A small interpreter for the JSONPath ASL the cut-over stack synthesizes: Task (a function ARN as Resource),
Choice, Wait, Pass, Succeed, Fail; InputPath, Parameters (`.$` keys, `$$` context), ResultSelector, ResultPath,
OutputPath; Retry and Catch by error name. It raises on anything else, so a definition that grows a construct
this doesn't know fails the walk instead of being misread.

(moto 5.2.5 executes state machines only with the antlr4 runtime, which the project doesn't install; it would run
Wait states in real time and invoke Lambdas in Docker.)
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MISSING = object()


class StatesError(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def get_path(document: Any, path: str, context: dict[str, Any]) -> Any:
    """`$`, `$.a.b`, `$$.Execution.Id`; MISSING when a key is absent."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (document, path[1:])
    if not path.startswith("$"):
        raise ValueError(f"not a path: {path}")
    value = root
    for name in filter(None, rest.split(".")):
        if not isinstance(value, dict) or name not in value:
            return MISSING
        value = value[name]
    return value


def _require(document: Any, path: str, context: dict[str, Any]) -> Any:
    value = get_path(document, path, context)
    if value is MISSING:
        raise StatesError("States.Runtime", f"path {path} not found")
    return value


def set_path(document: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return document
    if path == "$":
        return value
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    target = result
    names = path[2:].split(".")
    for name in names[:-1]:
        target = target.setdefault(name, {})
    target[names[-1]] = value
    return result


def render(template: Any, document: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = _require(document, value, context)
            else:
                out[key] = render(value, document, context)
        return out
    if isinstance(template, list):
        return [render(item, document, context) for item in template]
    return template


def _matches(rule: dict[str, Any], document: Any, context: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(_matches(r, document, context) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, document, context) for r in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], document, context)
    value = get_path(document, rule["Variable"], context)
    for operator in ("StringEquals", "BooleanEquals", "NumericEquals"):
        if operator in rule:
            return bool(value is not MISSING and value == rule[operator] and type(value) is type(rule[operator]))
    if "IsPresent" in rule:
        return bool((value is not MISSING) == rule["IsPresent"])
    if "IsNull" in rule:
        return bool(value is not MISSING and (value is None) == rule["IsNull"])
    raise NotImplementedError(f"choice rule {sorted(rule)}")


@dataclass
class Execution:
    definition: dict[str, Any]
    invoke: Callable[[str, Any], Any]  # (resource, payload) -> result; raises an exception named as the error
    clock: Callable[[], datetime.datetime]
    sleep: Callable[[float], None]  # a Wait: the test's world moves on by that many seconds
    after_state: Callable[[str], None] = lambda _name: None
    execution_id: str = "arn:aws:states:us-east-1:123456789012:execution:machine:run-1"
    visited: list[str] = field(default_factory=list)
    max_states: int = 2000

    def run(self, execution_input: Any) -> tuple[str, Any]:
        """("SUCCEEDED", output) or ("FAILED", StatesError)."""
        context = {
            "Execution": {"Id": self.execution_id, "Input": execution_input, "StartTime": self.clock().isoformat()}
        }
        document = execution_input
        name = self.definition["StartAt"]
        while True:
            if len(self.visited) >= self.max_states:
                raise AssertionError(
                    f"more than {self.max_states} states: a loop that never ends? {self.visited[-10:]}"
                )
            self.visited.append(name)
            state = self.definition["States"][name]
            context["State"] = {"Name": name, "EnteredTime": self.clock().isoformat()}
            try:
                document, following = self._state(state, document, context)
            except StatesError as error:
                return "FAILED", error
            finally:
                self.after_state(name)
            if following is None:
                return "SUCCEEDED", document
            name = following

    def _state(self, state: dict[str, Any], document: Any, context: dict[str, Any]) -> tuple[Any, str | None]:
        kind = state["Type"]
        known = {
            "Type",
            "Next",
            "End",
            "Comment",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
            "Resource",
            "Retry",
            "Catch",
            "Choices",
            "Default",
            "Seconds",
            "SecondsPath",
            "Result",
            "Error",
            "Cause",
            "TimeoutSeconds",
        }
        unknown = set(state) - known
        if unknown:
            raise NotImplementedError(f"{kind} fields {sorted(unknown)}")
        if kind == "Choice":
            for rule in state["Choices"]:
                if _matches(rule, document, context):
                    return document, rule["Next"]
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", "no choice matched")
            return document, state["Default"]
        if kind == "Succeed":
            return document, None
        if kind == "Fail":
            raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
        effective = _require(document, state.get("InputPath", "$"), context)
        if kind == "Wait":
            seconds = state["Seconds"] if "Seconds" in state else _require(document, state["SecondsPath"], context)
            self.sleep(float(seconds))
            return document, state.get("Next")
        if "Parameters" in state:
            effective = render(state["Parameters"], effective, context)
        if kind == "Pass":
            result = state.get("Result", effective)
        elif kind == "Task":
            try:
                result = self._task(state, effective)
            except StatesError as error:
                for catcher in state.get("Catch", []):
                    if error.error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
                        caught = {"Error": error.error, "Cause": error.cause}
                        return set_path(document, catcher.get("ResultPath", "$"), caught), catcher["Next"]
                raise
            if "ResultSelector" in state:
                result = render(state["ResultSelector"], result, context)
        else:
            raise NotImplementedError(f"state type {kind}")
        output = set_path(document, state.get("ResultPath", "$"), result)
        output = _require(output, state.get("OutputPath", "$"), context)
        return output, None if state.get("End") else state["Next"]

    def _task(self, state: dict[str, Any], payload: Any) -> Any:
        attempts: dict[int, int] = {}
        while True:
            try:
                return copy.deepcopy(self.invoke(state["Resource"], copy.deepcopy(payload)))
            except Exception as raised:  # a Lambda's error, named by its class, as Lambda reports it
                error = StatesError(type(raised).__name__, str(raised))
            for index, retrier in enumerate(state.get("Retry", [])):
                if error.error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
                    attempts[index] = attempts.get(index, 0) + 1
                    if attempts[index] <= retrier.get("MaxAttempts", 3):
                        break
                    raise error
            else:
                raise error
