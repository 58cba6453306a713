#!/usr/bin/env python3
"""Write lambda/clone_settings/mwaa_clone/sensitive_table.py: the configuration options Airflow marks sensitive.

    python -m tools.derive_sensitive_options --download   # fetch the pinned wheels missing from .cache/wheels
    python -m tools.derive_sensitive_options              # derive the table from them and write it

Airflow keeps a secret's value out of its logs and UI by the option's `sensitive: true` in config.yml (and, up
to 2.5, a set literal in configuration.py), by the same flag in each provider's `get_provider_info()`, and it
still reads each such option under the older names `deprecated_options` / `deprecated_sections` map it to.
This reads those facts from the released wheels of every Airflow version the app handles and of the providers
MWAA installs, without installing or importing any of them (yaml, `ast`), so the table can't fall behind a
release by hand. tests/test_sensitive_table.py derives it again and fails when the committed one differs.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The word rule lives in the Lambda asset; secret_names imports nothing, not the table this writes.
from mwaa_clone.secret_names import name_says_secret
from mwaa_migration.airflow_versions import MWAA_PYTHON_VERSIONS, version_key
from mwaa_migration.assets import CLONE_SETTINGS_DIR, REPO_ROOT, package_dir

WHEELS_DIR = REPO_ROOT / ".cache" / "wheels"
TABLE_PATH = package_dir(CLONE_SETTINGS_DIR) / "sensitive_table.py"

# Sources may still run a version MWAA no longer offers: the 2.x releases MWAA ran before 2.7.2.
OLDER_SOURCE_VERSIONS = ("2.0.2", "2.2.2", "2.4.3", "2.5.1", "2.6.3")
AIRFLOW_VERSIONS = tuple(sorted({*OLDER_SOURCE_VERSIONS, *MWAA_PYTHON_VERSIONS}, key=version_key))

# The providers MWAA installs with Airflow (its user guide's list, plus standard, where Airflow 3 moved the core
# operators, and openlineage), each at a release of autumn 2023 (when MWAA's oldest offered Airflow, 2.7.2, came
# out; or the provider's first release, if later) and at its newest: a provider's options don't depend on the
# Airflow it runs on, and the union keeps a flag a later release dropped. The one place these versions are pinned.
PROVIDER_VERSIONS: Mapping[str, tuple[str, ...]] = {
    "amazon": ("8.7.1", "9.39.0"),
    "celery": ("3.3.4", "3.26.0"),
    "common-io": ("1.1.0", "1.11.0"),
    "common-sql": ("1.7.2", "2.4.0"),
    "fab": ("1.0.2", "3.10.2"),
    "ftp": ("3.5.2", "3.16.1"),
    "http": ("4.5.2", "6.3.0"),
    "imap": ("3.3.2", "3.13.1"),
    "openlineage": ("1.1.1", "2.20.3"),
    "postgres": ("5.6.1", "7.1.1"),
    "smtp": ("1.3.2", "3.2.0"),
    "sqlite": ("3.4.3", "4.3.4"),
    "standard": ("0.0.1", "1.21.0"),
}

PROVIDER_PREFIX = "apache-airflow-providers-"
CONFIG_YML = "airflow/config_templates/config.yml"
# Where the parser class keeps deprecated_options and the pre-2.4 sensitive set (3.3 moved them to _shared).
PARSER_MODULES = ("airflow/configuration.py", "airflow/_shared/configuration/parser.py")


@dataclass(frozen=True)
class Wheel:
    distribution: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @property
    def file_prefix(self) -> str:
        # A wheel's file name spells the distribution with underscores (PEP 427).
        return f"{self.distribution.replace('-', '_')}-{self.version}-"


def airflow_wheel(version: str) -> Wheel:
    """Airflow 3 ships its core (config.yml, configuration.py) as apache-airflow-core; 2.x as apache-airflow."""
    return Wheel("apache-airflow-core" if version_key(version)[0] >= 3 else "apache-airflow", version)


def pinned_wheels() -> tuple[Wheel, ...]:
    providers = (
        Wheel(f"{PROVIDER_PREFIX}{name}", version)
        for name, versions in sorted(PROVIDER_VERSIONS.items())
        for version in versions
    )
    return (*(airflow_wheel(version) for version in AIRFLOW_VERSIONS), *providers)


# --- facts from one file (pure) ---------------------------------------------------------------------------------


def _key(section: object, option: object) -> str:
    return f"{section}.{option}".lower()


def options_in_config_yml(text: str) -> dict[str, bool]:
    """Each option config.yml documents (`section.option`), with whether it is flagged `sensitive: true`."""
    # A safe loader: libyaml's when PyYAML has it (several times faster on these 100 kB files).
    document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    # Up to 2.5 a list of {name, options: [{name, ...}]}; from 2.6 {section: {options: {name: {...}}}}.
    if isinstance(document, list):
        sections = {item["name"]: {option["name"]: option for option in item["options"] or ()} for item in document}
    else:
        sections = {name: dict(body.get("options") or {}) for name, body in document.items()}
    return _flags(sections)


def _flags(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    return {
        _key(section, option): isinstance(description, Mapping) and description.get("sensitive") is True
        for section, options in sections.items()
        for option, description in options.items()
    }


def _literal_assignments(source: str, name: str) -> list[Any]:
    """The literal values assigned anywhere in the module (class bodies too) to `name`, any case."""
    values = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id.lower() == name for target in targets):
            try:
                values.append(ast.literal_eval(value))
            except ValueError:
                continue  # computed (2.6+ derives the sensitive set from config.yml, read anyway)
    return values


@dataclass(frozen=True)
class ParserFacts:
    sensitive: frozenset[str]
    # `section.option` -> the older `section.option` Airflow still reads for it.
    old_options: Mapping[str, str]
    # section -> the older section Airflow still reads for it.
    old_sections: Mapping[str, str]


def parser_facts(source: str) -> ParserFacts:
    """What configuration.py says: the sensitive set (up to 2.5) and the deprecated option and section names."""
    sensitive = {_key(*pair) for value in _literal_assignments(source, "sensitive_config_values") for pair in value}
    old_options = {
        _key(*new): _key(*old[:2])
        for value in _literal_assignments(source, "deprecated_options")
        for new, old in value.items()
    }
    old_sections = {
        new.lower(): old[0].lower()
        for value in _literal_assignments(source, "deprecated_sections")
        for new, old in value.items()
    }
    return ParserFacts(frozenset(sensitive), old_options, old_sections)


def options_in_provider_info(source: str) -> dict[str, bool]:
    """Each option get_provider_info() documents, with its sensitive flag: its returned dict, by ast.literal_eval."""
    tree = ast.parse(source)
    function = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "get_provider_info"
    )
    returned = next(node for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None)
    assert returned.value is not None
    info = ast.literal_eval(returned.value)
    config = info.get("config") or {}
    return _flags({section: body.get("options") or {} for section, body in config.items()})


def with_older_names(options: Iterable[str], facts: Iterable[ParserFacts]) -> frozenset[str]:
    """The options and every older name any version reads for them, renames followed to the end."""
    old_options: dict[str, set[str]] = {}
    old_sections: dict[str, set[str]] = {}
    for fact in facts:
        for new, old in fact.old_options.items():
            old_options.setdefault(new, set()).add(old)
        for new, old in fact.old_sections.items():
            old_sections.setdefault(new, set()).add(old)
    names = set(options)
    pending = list(names)
    while pending:
        key = pending.pop()
        section, option = key.split(".", 1)
        older = old_options.get(key, set()) | {f"{old}.{option}" for old in old_sections.get(section, ())}
        for name in older - names:
            names.add(name)
            pending.append(name)
    return frozenset(names)


@dataclass(frozen=True)
class WheelFacts:
    # Each documented option, and whether this release flags it sensitive.
    options: Mapping[str, bool]
    parsers: tuple[ParserFacts, ...] = ()


@dataclass(frozen=True)
class Table:
    sensitive: frozenset[str]
    # Documented and not flagged, though named like a secret: Airflow's own flag decides for Airflow's options.
    not_sensitive: frozenset[str]


def table_from(wheels: Iterable[WheelFacts]) -> Table:
    """The union over every release read: flagged by one is sensitive, whatever the others say."""
    read = list(wheels)
    facts = [fact for wheel in read for fact in wheel.parsers]
    flagged = {key for wheel in read for key, sensitive in wheel.options.items() if sensitive}
    sensitive = with_older_names(flagged | {key for fact in facts for key in fact.sensitive}, facts)
    documented = with_older_names({key for wheel in read for key in wheel.options}, facts)
    not_sensitive = frozenset(key for key in documented - sensitive if name_says_secret(key))
    return Table(sensitive, not_sensitive)


# --- the wheels -------------------------------------------------------------------------------------------------


def wheel_path(wheels_dir: Path, wheel: Wheel) -> Path | None:
    found = sorted(wheels_dir.glob(f"{wheel.file_prefix}*.whl"))
    return found[0] if found else None


def missing_wheels(wheels_dir: Path) -> list[Wheel]:
    return [wheel for wheel in pinned_wheels() if wheel_path(wheels_dir, wheel) is None]


def download_batches(wheels: Iterable[Wheel]) -> list[list[Wheel]]:
    """The wheels in as few pip calls as can be: one call resolves one version of a distribution only."""
    batches: list[list[Wheel]] = []
    for wheel in wheels:
        batch = next((b for b in batches if all(w.distribution != wheel.distribution for w in b)), None)
        if batch is None:
            batches.append(batch := [])
        batch.append(wheel)
    return batches


def download(wheels_dir: Path) -> list[Wheel]:
    """Fetch the pinned wheels not in wheels_dir yet (pip, no dependencies); return those fetched."""
    missing = missing_wheels(wheels_dir)
    wheels_dir.mkdir(parents=True, exist_ok=True)
    for batch in download_batches(missing):
        # Read, never installed: the wheels' own Python and dependency requirements don't apply.
        subprocess.run(  # noqa: S603 - pip of this interpreter, pinned requirements
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--ignore-requires-python",
                "--dest",
                str(wheels_dir),
                *(wheel.requirement for wheel in batch),
            ],
            check=True,
        )
    still = missing_wheels(wheels_dir)
    if still:
        raise SystemExit(f"pip fetched no wheel for: {', '.join(wheel.requirement for wheel in still)}")
    return missing


def _member(archive: zipfile.ZipFile, name: str) -> str | None:
    try:
        return archive.read(name).decode("utf-8")
    except KeyError:
        return None


def read_wheel(path: Path, wheel: Wheel) -> WheelFacts:
    with zipfile.ZipFile(path) as archive:
        if wheel.distribution.startswith(PROVIDER_PREFIX):
            package = wheel.distribution.removeprefix(PROVIDER_PREFIX).replace("-", "/")
            info = _member(archive, f"airflow/providers/{package}/get_provider_info.py")
            if info is None:
                raise SystemExit(f"{path.name} has no get_provider_info.py; check the layout")
            return WheelFacts(options_in_provider_info(info))
        config = _member(archive, CONFIG_YML)
        sources = [_member(archive, name) for name in PARSER_MODULES]
    parsers = tuple(parser_facts(source) for source in sources if source is not None)
    options = options_in_config_yml(config) if config is not None else {}
    # A layout this doesn't know must stop the script, not shrink the table.
    if not any(options.values()) or not any(fact.old_options for fact in parsers):
        raise SystemExit(f"{path.name}: no sensitive option or no deprecated_options found; check the layout")
    return WheelFacts(options, parsers)


def derive(wheels_dir: Path) -> Table:
    """The table from the pinned wheels in wheels_dir; SystemExit naming what is missing or unreadable."""
    missing = missing_wheels(wheels_dir)
    if missing:
        raise SystemExit(
            f"{len(missing)} pinned wheel(s) missing from {wheels_dir} (first: {missing[0].requirement}); "
            "run `make .cache/wheels/.downloaded` (python -m tools.derive_sensitive_options --download)"
        )
    paths = {wheel: wheel_path(wheels_dir, wheel) for wheel in pinned_wheels()}
    return table_from(read_wheel(path, wheel) for wheel, path in paths.items() if path is not None)


def _frozenset_literal(name: str, keys: Iterable[str]) -> list[str]:
    return [f"{name}: Final = frozenset(", "    {", *(f'        "{key}",' for key in sorted(keys)), "    }", ")"]


def render(table: Table) -> str:
    """The committed module: sorted frozenset literals under a header naming the script and what it read."""
    airflow = "; ".join(
        f"{distribution} {', '.join(wheel.version for wheel in pinned_wheels() if wheel.distribution == distribution)}"
        for distribution in ("apache-airflow", "apache-airflow-core")
    )
    providers = ", ".join(f"{name} {' and '.join(versions)}" for name, versions in sorted(PROVIDER_VERSIONS.items()))
    read = textwrap.fill(
        f"Read from the wheels of {airflow}; and of the providers {providers}.", width=116, break_on_hyphens=False
    )
    lines = [
        '"""The options Airflow marks sensitive, and those it documents as not sensitive though named like secrets.',
        "",
        "Generated by tools/derive_sensitive_options.py (`make sensitive-table`): don't edit it by hand.",
        "tests/test_sensitive_table.py fails when it differs from what the script derives.",
        "",
        read,
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        "# Flagged `sensitive` by Airflow or a provider in a release read, and the older names Airflow reads for them.",
        *_frozenset_literal("SENSITIVE_OPTIONS", table.sensitive),
        "# Documented by Airflow or a provider, never flagged, though a word of the name says secret (secret_names).",
        *_frozenset_literal("NOT_SENSITIVE_OPTIONS", table.not_sensitive),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--download", action="store_true", help="fetch the missing wheels, then stop")
    parser.add_argument("--wheels", type=Path, default=WHEELS_DIR, help="the wheel cache (default .cache/wheels)")
    args = parser.parse_args(argv)
    if args.download:
        fetched = download(args.wheels)
        print(f"{len(fetched)} wheel(s) fetched into {args.wheels}, {len(pinned_wheels()) - len(fetched)} there")
        return 0
    table = derive(args.wheels)
    TABLE_PATH.write_text(render(table), encoding="utf-8")
    print(
        f"wrote {TABLE_PATH.relative_to(REPO_ROOT)}: {len(table.sensitive)} sensitive options, "
        f"{len(table.not_sensitive)} named like secrets but not"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
