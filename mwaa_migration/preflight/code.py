"""Checks of DAG and plugin code that ruff's Airflow rules don't make, on the parsed file (never imported or run).

For 3.x targets: removed context keys in Jinja strings (CTX001), in lookups on the task context (CTX002) and as
task-function parameters (CTX003), SubDAGs (SUBDAG001), SLAs (SLA001, SLA002). For every target: a DAG that
unpauses itself at creation (PAUSE001), which would run on both environments at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from mwaa_migration.airflow_versions import airflow_major
from mwaa_migration.preflight.context import (
    REMOVED_CONTEXT_KEYS,
    lookup_advice,
    parameter_advice,
    template_advice,
    template_variables,
)
from mwaa_migration.preflight.findings import Checked, Finding, Severity

_REMOVED = frozenset(REMOVED_CONTEXT_KEYS)
# Both spellings Airflow 2 had; 2.x kept subdag_operator as a deprecated alias of subdag.
_SUBDAG_MODULES = ("airflow.operators.subdag", "airflow.operators.subdag_operator")
_SUBDAG_OPERATOR = "SubDagOperator"
# What ruff's AIR301 names on a SubDagOperator line; a SUBDAG001 finding on that line says more.
_SUBDAG_RUFF_NAMES = (*_SUBDAG_MODULES, *(f"{module}.{_SUBDAG_OPERATOR}" for module in _SUBDAG_MODULES))

_SLA_ADVICE = (
    "SLAs were removed in Airflow 3.0: `sla` no longer does anything, so this SLA would never alert; remove it, "
    "and to catch a late task set its `execution_timeout` (the task then fails, which `on_failure_callback` can "
    "report)"
)
_SLA_CALLBACK_ADVICE = (
    "SLAs were removed in Airflow 3.0: `sla_miss_callback` is never called; remove it, and to catch a late run "
    "set the DAG's `dagrun_timeout` (the run then fails, which the DAG's `on_failure_callback` can report)"
)
_PAUSE_ADVICE = (
    "`is_paused_upon_creation=False` starts this DAG on the new environment as soon as it is deployed, while the "
    "old environment still runs it: remove it, so the DAG starts paused, and unpause it when you cut over"
)
_SUBDAG_IMPORT_ADVICE = (
    "`{module}` was removed in Airflow 3.0 with SubDAGs, so this import fails and the file with it: rewrite each "
    "SubDagOperator as a TaskGroup (`from airflow.sdk import TaskGroup`)"
)
_SUBDAG_CALL_ADVICE = (
    "`{name}` runs a SubDAG, which Airflow 3.0 removed: put the sub-DAG's tasks in this DAG inside "
    '`with TaskGroup(group_id="..."):` instead (`from airflow.sdk import TaskGroup`)'
)


def check_code(path: Path, source: str, tree: ast.Module, airflow_version: str) -> Checked:
    """The checks above on one parsed file; `source` is its text, for the lines of multi-line strings."""
    checker = _Checker(path, source, airflow3=airflow_major(airflow_version) >= 3)
    checker.check(tree)
    return checker.result


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a Name or an Attribute chain on one, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted(node.value)
        return f"{parent}.{node.attr}" if parent else None
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of this scope, not of the functions, lambdas and classes inside it."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(child))


def _is_task_decorator(node: ast.expr) -> bool:
    """`@task`, `@task(...)`, `@task.branch`, `@airflow.decorators.task`: Airflow passes such a function the
    context keys its parameters name."""
    target = node.func if isinstance(node, ast.Call) else node
    name = _dotted(target)
    return name is not None and "task" in name.split(".")


class _Checker(ast.NodeVisitor):
    def __init__(self, path: Path, source: str, *, airflow3: bool) -> None:
        self.path, self.source, self.airflow3 = path, source, airflow3
        self.result = Checked()
        # Names holding the task context, one set per enclosing function (closures see their parents').
        self._scopes: list[frozenset[str]] = [frozenset()]
        self._context_getters = {"get_current_context"}
        self._subdag_classes: set[str] = set()
        self._subdag_modules: set[str] = set(_SUBDAG_MODULES)
        self._python_callables: set[str] = set()
        self._default_args_names: set[str] = set()
        self._default_args_dicts: set[int] = set()
        self._bare_strings: set[int] = set()

    def check(self, tree: ast.Module) -> None:
        if self.airflow3:
            self._learn(tree)
        self._scopes = [self._context_names(tree)]
        self.visit(tree)

    def _add(self, severity: Severity, line: int, code: str, message: str, covers: Iterable[str] = ()) -> None:
        self.result.add(Finding(severity, self.path, line, code, message), covers)

    # --- what the file defines, before judging it ---------------------------------------------------------

    def _learn(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self._learn_import(node)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                self._bare_strings.add(id(node.value))  # docstrings and the like are never rendered
            elif isinstance(node, ast.keyword) and node.arg == "python_callable" and isinstance(node.value, ast.Name):
                self._python_callables.add(node.value.id)
            elif isinstance(node, ast.keyword) and node.arg == "default_args":
                if isinstance(node.value, ast.Name):
                    self._default_args_names.add(node.value.id)
                elif isinstance(node.value, ast.Dict):
                    self._default_args_dicts.add(id(node.value))
        # A second pass: `args = {...}` is a default_args dict when any call passes `default_args=args`.
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                targets = [target.id for target in node.targets if isinstance(target, ast.Name)]
                if any(map(self._is_default_args, targets)):
                    self._default_args_dicts.add(id(node.value))

    def _learn_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            self._subdag_modules.update(
                alias.asname for alias in node.names if alias.name in _SUBDAG_MODULES and alias.asname
            )
            return
        for alias in node.names:
            bound = alias.asname or alias.name
            if alias.name == "get_current_context":
                self._context_getters.add(bound)
            if node.module in _SUBDAG_MODULES and alias.name in (_SUBDAG_OPERATOR, "*"):
                self._subdag_classes.add(_SUBDAG_OPERATOR if alias.name == "*" else bound)
            if node.module == "airflow.operators" and f"airflow.operators.{alias.name}" in _SUBDAG_MODULES:
                self._subdag_modules.add(bound)

    def _is_default_args(self, name: str) -> bool:
        return name in self._default_args_names or name.lower() == "default_args"

    def _context_names(self, node: ast.AST) -> frozenset[str]:
        """Variables of this scope that hold the task context: a `context` parameter (execute, callbacks), the
        `**kwargs` Airflow fills with it (not a constructor's), and what get_current_context() returned."""
        names: set[str] = set()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = node.args
            if any(arg.arg == "context" for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)):
                names.add("context")
            if arguments.kwarg and getattr(node, "name", None) != "__init__":
                names.add(arguments.kwarg.arg)
        for child in _own_nodes(node):
            if isinstance(child, ast.Assign | ast.AnnAssign) and isinstance(child.value, ast.Call):
                callee = _dotted(child.value.func) or ""
                if callee.rsplit(".", 1)[-1] in self._context_getters:
                    targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                    names.update(target.id for target in targets if isinstance(target, ast.Name))
        return frozenset(names)

    # --- scopes -------------------------------------------------------------------------------------------

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._scopes.append(self._scopes[-1] | self._context_names(node))
        self.generic_visit(node)
        self._scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_task_parameters(node)
        self._visit_scope(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_task_parameters(node)
        self._visit_scope(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_scope(node)

    # --- removed context keys -----------------------------------------------------------------------------

    def _check_task_parameters(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if not self.airflow3:
            return
        if node.name not in self._python_callables and not any(map(_is_task_decorator, node.decorator_list)):
            return
        arguments = node.args
        for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
            if arg.arg in _REMOVED:
                self._add("error", arg.lineno, "CTX003", parameter_advice(arg.arg, node.name), (arg.arg,))

    def visit_Constant(self, node: ast.Constant) -> None:
        if self.airflow3 and isinstance(node.value, str) and id(node) not in self._bare_strings:
            for line, key in self._template_lines(node, node.value):
                self._add("error", line, "CTX001", template_advice(key))

    def _template_lines(self, node: ast.Constant, value: str) -> list[tuple[int, str]]:
        """(line, key) for each removed variable in a string. A multi-line literal is searched as written, to
        count its lines; where escapes make that disagree with its value, the literal's first line is used."""
        found = list(template_variables(value))
        if not found or node.end_lineno == node.lineno:
            return [(node.lineno, key) for _, key in found]
        written = ast.get_source_segment(self.source, node) or ""
        in_source = list(template_variables(written))
        if [key for _, key in in_source] != [key for _, key in found]:
            return [(node.lineno, key) for _, key in found]
        return [(node.lineno + written.count("\n", 0, offset), key) for offset, key in in_source]

    def _context_lookup(self, container: ast.expr, key_node: ast.expr) -> None:
        key = _string(key_node)
        if key in _REMOVED and isinstance(container, ast.Name) and container.id in self._scopes[-1]:
            self._add("error", key_node.lineno, "CTX002", lookup_advice(str(key), container.id), (str(key),))

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self.airflow3:
            self._context_lookup(node.value, node.slice)
            # default_args["sla"] = timedelta(...)
            if (
                isinstance(node.ctx, ast.Store)
                and _string(node.slice) == "sla"
                and isinstance(node.value, ast.Name)
                and self._is_default_args(node.value.id)
            ):
                self._add("error", node.lineno, "SLA001", _SLA_ADVICE, ("sla",))
        self.generic_visit(node)

    # --- calls: context.get, SubDagOperator, sla=, is_paused_upon_creation= -------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if self.airflow3:
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
                self._context_lookup(node.func.value, node.args[0])
            self._check_subdag_call(node)
            for keyword in node.keywords:
                if keyword.arg == "sla" and not _is_none(keyword.value):
                    self._add("error", keyword.lineno, "SLA001", _SLA_ADVICE, ("sla",))
                elif keyword.arg == "sla_miss_callback" and not _is_none(keyword.value):
                    self._add("error", keyword.lineno, "SLA002", _SLA_CALLBACK_ADVICE, ("sla_miss_callback",))
        for keyword in node.keywords:
            value = keyword.value
            # A literal False (or 0); None means "the environment's default", which is paused.
            if (
                keyword.arg == "is_paused_upon_creation"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, bool | int)
                and not value.value
            ):
                self._add("error", keyword.lineno, "PAUSE001", _PAUSE_ADVICE)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        if self.airflow3 and id(node) in self._default_args_dicts:
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and _string(key) == "sla" and not _is_none(value):
                    self._add("error", key.lineno, "SLA001", _SLA_ADVICE, ("sla",))
        self.generic_visit(node)

    # --- SubDAGs ------------------------------------------------------------------------------------------

    def _check_subdag_call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name is None:
            return
        module, _, attribute = name.rpartition(".")
        if (not module and name in self._subdag_classes) or (
            attribute == _SUBDAG_OPERATOR and module in self._subdag_modules
        ):
            self._add("error", node.lineno, "SUBDAG001", _SUBDAG_CALL_ADVICE.format(name=name), _SUBDAG_RUFF_NAMES)

    def visit_Import(self, node: ast.Import) -> None:
        if self.airflow3:
            for alias in node.names:
                if alias.name in _SUBDAG_MODULES:
                    self._add("error", node.lineno, "SUBDAG001", _SUBDAG_IMPORT_ADVICE.format(module=alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not self.airflow3 or node.level:
            return
        if node.module in _SUBDAG_MODULES:
            self._add("error", node.lineno, "SUBDAG001", _SUBDAG_IMPORT_ADVICE.format(module=node.module))
        elif node.module == "airflow.operators":
            for alias in node.names:
                module = f"airflow.operators.{alias.name}"
                if module in _SUBDAG_MODULES:
                    self._add("error", node.lineno, "SUBDAG001", _SUBDAG_IMPORT_ADVICE.format(module=module))
