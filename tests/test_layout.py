"""The layout the code is installed and deployed from: each Lambda asset folder holds one package, the only code its
function can import, and pyproject.toml installs that same package, so the CLIs, stacks and tests import the code
the functions run (mwaa_migration/assets.py names the folders)."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

import mwaa_migration
from mwaa_migration.assets import ASSET_PACKAGES, REPO_ROOT, package_dir
from tests.synth_app import SynthesizedApp, resources_of_type

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ASSET_DIRS = sorted(ASSET_PACKAGES)
# What a function's runtime has besides its asset: the standard library and the runtime's own boto3.
RUNTIME_MODULES = {*sys.stdlib_module_names, "__future__", "boto3", "botocore"}
# Python that changes sys.path (product code and tests alike: the packages are installed instead).
SYS_PATH_EDIT = re.compile(r"sys\.path\s*(\.(insert|append|extend)\b|\[[^]]*\]\s*=|\+=|=)")


def _asset_id(asset_dir: Path) -> str:
    return asset_dir.name


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level module names imported, leaving out `if TYPE_CHECKING:` blocks (stubs the Lambda never loads)."""
    if isinstance(tree, ast.If) and isinstance(tree.test, ast.Name) and tree.test.id == "TYPE_CHECKING":
        return set()
    if isinstance(tree, ast.Import):
        return {alias.name.split(".")[0] for alias in tree.names}
    if isinstance(tree, ast.ImportFrom) and tree.module and not tree.level:
        return {tree.module.split(".")[0]}
    return {name for child in ast.iter_child_nodes(tree) for name in _runtime_imports(child)}


@pytest.mark.parametrize("asset_dir", ASSET_DIRS, ids=_asset_id)
def test_each_asset_folder_holds_its_package_only(asset_dir: Path) -> None:
    assert sorted(p.name for p in asset_dir.iterdir() if p.name != "__pycache__") == [ASSET_PACKAGES[asset_dir]]
    assert (package_dir(asset_dir) / "__init__.py").is_file()


@pytest.mark.parametrize("asset_dir", ASSET_DIRS, ids=_asset_id)
def test_each_asset_imports_only_its_own_package_and_the_runtime(asset_dir: Path) -> None:
    # The function gets this folder and the runtime's boto3: nothing else can be imported there.
    for path in sorted(package_dir(asset_dir).glob("*.py")):
        imported = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
        outside = imported - {ASSET_PACKAGES[asset_dir]} - RUNTIME_MODULES
        assert not outside, f"{path.relative_to(REPO_ROOT)} imports {sorted(outside)}"


def test_pyproject_installs_each_asset_package_from_its_folder() -> None:
    expected = {package: str(package_dir(folder).relative_to(REPO_ROOT)) for folder, package in ASSET_PACKAGES.items()}
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == expected


def test_pyproject_lists_every_package() -> None:
    ours = [
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in sorted(REPO_ROOT.glob("mwaa_migration/**/__init__.py"))
    ]
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted([*ours, *ASSET_PACKAGES.values()])


def test_the_installed_packages_are_this_checkouts() -> None:
    # An install from another checkout would have the tests and the CLIs run code the assets don't hold.
    assert Path(mwaa_migration.__file__).parent == REPO_ROOT / "mwaa_migration"
    for folder, package in ASSET_PACKAGES.items():
        imported = importlib.import_module(package)
        assert Path(str(imported.__file__)).parent == package_dir(folder), f"{package} is installed from elsewhere"


def test_every_python_function_handler_is_in_its_asset_package(synthesized: SynthesizedApp) -> None:
    handlers = set()
    for item in synthesized.stacks.values():
        for stack in (item.migration_bucket, item.new_environment, item.cutover):
            for function in resources_of_type(synthesized.template(stack), "AWS::Lambda::Function").values():
                if function["Properties"]["Runtime"].startswith("python"):
                    handlers.add(function["Properties"]["Handler"])
    assert handlers
    for handler in sorted(handlers):
        module, _, function = handler.rpartition(".")
        assert module.split(".")[0] in ASSET_PACKAGES.values(), handler
        assert callable(getattr(importlib.import_module(module), function)), handler


def test_no_python_file_edits_sys_path() -> None:
    skipped = {".git", "node_modules", "cdk.out", "fixtures", "__pycache__"}
    files = [
        path
        for path in REPO_ROOT.rglob("*.py")
        if not any(part in skipped or part.startswith(".venv") for part in path.relative_to(REPO_ROOT).parts)
    ]
    assert len(files) > 100
    editing = [str(path.relative_to(REPO_ROOT)) for path in files if SYS_PATH_EDIT.search(path.read_text("utf-8"))]
    # These put the migration DAGs' zip on sys.path, as Airflow's DagBag does when it loads a zipped DAG
    # (_load_modules_from_zip): that is the unit under test, not a way into this repository's own code.
    zip_loaders = ["tests/import_dag_harness.py", "tests/migration_dags_unit.py", "tests/test_migration_dags_zip.py"]
    assert sorted(editing) == zip_loaders
