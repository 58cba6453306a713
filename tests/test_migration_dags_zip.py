"""The migration DAGs' zip as the build makes it (mwaa_migration/migration_dags_zip.py): reproducible to the byte,
the DAG files alone at its root, the archive reader copied from its one source (with the siblings it imports), and
Python 3.8 throughout. Loading it in real Airflow: tests/test_import_dag.py."""

from __future__ import annotations

import compileall
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mwaa_migration.assets import MIGRATION_DAGS_DIR
from mwaa_migration.migration_dags_zip import (
    ARCHIVE_SOURCE,
    DAG_FILES,
    SETTINGS_ENTRY,
    SUPPORT_PACKAGE,
    UnitBuildError,
    build_migration_dags_zip,
    unit_entries,
)

SUPPORT_MODULES = ["__init__.py", "dags.py", "exports.py", "metadata_import.py", "task_logs.py"]


def names(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as unit:
        return unit.namelist()


def test_two_builds_are_byte_identical_whatever_the_files_times_and_modes(tmp_path: Path) -> None:
    first = build_migration_dags_zip()
    assert build_migration_dags_zip() == first
    # A clone with other times, modes and bytecode caches: the same bytes.
    root = tmp_path / "migration_dags"
    shutil.copytree(MIGRATION_DAGS_DIR, root)
    source = tmp_path / "cutover" / "archive.py"
    source.parent.mkdir()
    shutil.copy(ARCHIVE_SOURCE, source)
    for path in [*root.rglob("*.py"), source]:
        os.utime(path, (1_000_000_000, 1_000_000_000))
        path.chmod(0o755)
    compileall.compile_dir(root, quiet=1)
    assert any(root.rglob("*.pyc"))
    assert build_migration_dags_zip(root, source) == first


def test_the_root_holds_the_dag_files_only_and_the_rest_is_one_prefixed_package() -> None:
    with zipfile.ZipFile(io.BytesIO(build_migration_dags_zip())) as unit:
        infos = unit.infolist()
        listed = [info.filename for info in infos]
        assert listed == sorted(listed)
        assert [name for name in listed if "/" not in name] == sorted(DAG_FILES)
        assert sorted(name for name in listed if "/" in name) == sorted(
            [f"{SUPPORT_PACKAGE}/{module}" for module in [*SUPPORT_MODULES, "archive.py"]] + [SETTINGS_ENTRY]
        )
        assert {(info.date_time, info.external_attr >> 16, info.compress_type) for info in infos} == {
            ((1980, 1, 1, 0, 0, 0), 0o100644, zipfile.ZIP_STORED)
        }
        # The reader is the cut-over's, byte for byte; the other files are the folder's.
        assert unit.read(f"{SUPPORT_PACKAGE}/archive.py") == ARCHIVE_SOURCE.read_bytes()
        for name in listed:
            if not name.endswith("archive.py"):
                assert unit.read(name) == (MIGRATION_DAGS_DIR / name).read_bytes(), name
    assert not (MIGRATION_DAGS_DIR / SUPPORT_PACKAGE / "archive.py").exists(), "one source: lambda/cutover"


def fake_reader(folder: Path, text: str, **siblings: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in siblings.items():
        (folder / f"{name}.py").write_text(body)
    source = folder / "archive.py"
    source.write_text(text)
    return source


def import_from(unit: bytes, tmp_path: Path, code: str) -> str:
    """Runs `code` in a fresh interpreter with the zip on sys.path; its stdout."""
    path = tmp_path / "unit.zip"
    path.write_bytes(unit)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(path)!r})\n{code}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_a_reader_that_imports_no_sibling_is_copied_as_it_is() -> None:
    # What archive.py imports today: the standard library, and boto3 lazily.
    copied = unit_entries()[f"{SUPPORT_PACKAGE}/archive.py"]
    assert copied == ARCHIVE_SOURCE.read_bytes()


def test_siblings_of_a_flat_folder_come_along_with_their_imports_made_relative(tmp_path: Path) -> None:
    source = fake_reader(
        tmp_path / "cutover",
        "from __future__ import annotations\nimport json\nfrom errors import Damaged\n\n"
        "def check():\n    from formats import FORMAT\n    return json.dumps([Damaged.__name__, FORMAT])\n",
        errors="class Damaged(Exception):\n    pass\n",
        formats="FORMAT = 1\n",
        unused="raise SystemExit('never copied')\n",
    )
    unit = build_migration_dags_zip(MIGRATION_DAGS_DIR, source)
    entries = names(unit)
    assert {f"{SUPPORT_PACKAGE}/{n}.py" for n in ("archive", "errors", "formats")} <= set(entries)
    assert f"{SUPPORT_PACKAGE}/unused.py" not in entries
    with zipfile.ZipFile(io.BytesIO(unit)) as opened:
        copied = opened.read(f"{SUPPORT_PACKAGE}/archive.py").decode()
    assert "from .errors import Damaged" in copied and "    from .formats import FORMAT" in copied
    code = "from mwaa_migration_support import archive; print(archive.check())"
    assert import_from(unit, tmp_path, code) == '["Damaged", 1]'


def test_siblings_of_a_package_come_along_relative_or_absolute(tmp_path: Path) -> None:
    folder = tmp_path / "mwaa_cutover"
    source = fake_reader(
        folder,
        "from mwaa_cutover.errors import Damaged\nfrom . import formats\nfrom .names import NAME\n\n"
        "def check():\n    return [Damaged.__name__, formats.FORMAT, NAME]\n",
        __init__="",
        errors="class Damaged(Exception):\n    pass\n",
        formats="FORMAT = 1\n",
        names="NAME = 'archive'\n",
    )
    unit = build_migration_dags_zip(MIGRATION_DAGS_DIR, source)
    code = "from mwaa_migration_support import archive; print(archive.check())"
    assert import_from(unit, tmp_path, code) == "['Damaged', 1, 'archive']"
    assert f"{SUPPORT_PACKAGE}/__init__.py" in names(unit)  # the package's own, not the reader's folder's


@pytest.mark.parametrize(
    ("text", "siblings", "reason"),
    [
        ("import errors\n", {"errors": "X = 1\n"}, "`import errors`: import a sibling module with `from . import"),
        ("import requests\n", {}, "imports requests, which an MWAA environment doesn't install with Airflow"),
        ("from .missing import X\n", {}, "imports missing, which is not a file beside it"),
        ("match x:\n    case 1:\n        pass\n", {}, "archive.py:3: not Python 3.8 syntax (Pattern matching"),
        ("from .. import x\n", {}, "an import from outside its folder (..)"),
    ],
)
def test_what_cant_run_in_the_zip_stops_the_build(
    tmp_path: Path, text: str, siblings: dict[str, str], reason: str
) -> None:
    source = fake_reader(tmp_path / "cutover", text, **siblings)
    with pytest.raises(UnitBuildError) as raised:
        build_migration_dags_zip(MIGRATION_DAGS_DIR, source)
    assert reason in str(raised.value)


def test_a_second_copy_of_the_reader_in_the_support_package_stops_the_build(tmp_path: Path) -> None:
    root = tmp_path / "migration_dags"
    shutil.copytree(MIGRATION_DAGS_DIR, root)
    shutil.copy(ARCHIVE_SOURCE, root / SUPPORT_PACKAGE / "archive.py")
    with pytest.raises(UnitBuildError, match="the reader has one source"):
        build_migration_dags_zip(root)


def test_a_module_at_the_root_that_isnt_a_dag_file_stops_the_build(tmp_path: Path) -> None:
    root = tmp_path / "migration_dags"
    shutil.copytree(MIGRATION_DAGS_DIR, root)
    (root / "mwaa_migration_import.py").write_text('"""no such words"""\n')
    with pytest.raises(UnitBuildError, match="must mention `airflow` and `dag`"):
        build_migration_dags_zip(root)
