"""build_plugins_zip: byte-for-byte reproducible, whatever the timestamps, modes and caches on disk."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from mwaa_migration.plugins_zip import build_plugins_zip, plugin_files


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    (folder / "operators" / "__pycache__").mkdir(parents=True)
    (folder / "hooks").mkdir()
    (folder / "operators" / "__init__.py").write_text("")
    (folder / "operators" / "export.py").write_text("class Export:\n    pass\n")
    (folder / "operators" / "__pycache__" / "export.cpython-312.pyc").write_bytes(b"\x00cache")
    (folder / "operators" / "__pycache__" / "lock").write_bytes(b"")  # skipped with its folder, not by suffix
    (folder / "hooks" / "service.py").write_text("class Service:\n    pass\n")
    (folder / "hooks" / "stale.pyc").write_bytes(b"\x00stale")
    (folder / ".DS_Store").write_bytes(b"\x00finder")
    (folder / "hooks" / ".DS_Store").write_bytes(b"\x00finder")
    (folder / "plugin.py").write_text("NAME = 'plugin'\n")
    (folder / "Zeta.txt").write_text("sorted by name, upper case first\n")
    return folder


def entries(data: bytes) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return archive.infolist()


def test_same_bytes_twice(plugins: Path) -> None:
    assert build_plugins_zip(plugins) == build_plugins_zip(plugins)


def test_same_bytes_after_touch(plugins: Path) -> None:
    before = build_plugins_zip(plugins)
    export = plugins / "operators" / "export.py"
    stat = export.stat()
    os.utime(export, (stat.st_atime + 86_400, stat.st_mtime + 86_400))  # touch, a day later
    assert export.stat().st_mtime != stat.st_mtime
    assert build_plugins_zip(plugins) == before


def test_same_bytes_whatever_the_file_mode(plugins: Path) -> None:
    before = build_plugins_zip(plugins)
    (plugins / "plugin.py").chmod(0o755)
    assert build_plugins_zip(plugins) == before


def test_content_change_changes_bytes(plugins: Path) -> None:
    before = build_plugins_zip(plugins)
    (plugins / "plugin.py").write_text("NAME = 'renamed'\n")
    assert build_plugins_zip(plugins) != before


def test_sorted_files_only_without_caches(plugins: Path) -> None:
    names = [info.filename for info in entries(build_plugins_zip(plugins))]
    assert names == [
        "Zeta.txt",
        "hooks/service.py",
        "operators/__init__.py",
        "operators/export.py",
        "plugin.py",
    ]
    assert [name for name, _ in plugin_files(plugins)] == names


def test_fixed_timestamp_and_mode(plugins: Path) -> None:
    for info in entries(build_plugins_zip(plugins)):
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_STORED
        assert not info.is_dir()


def test_contents_round_trip(plugins: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(build_plugins_zip(plugins))) as archive:
        assert archive.read("operators/export.py") == (plugins / "operators" / "export.py").read_bytes()
        assert archive.read("plugin.py") == b"NAME = 'plugin'\n"


def test_same_bytes_for_a_copy_elsewhere(plugins: Path, tmp_path: Path) -> None:
    # Another checkout, created in another order: only names and contents matter.
    copy = tmp_path / "copy"
    for name, path in reversed(plugin_files(plugins)):
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    assert build_plugins_zip(copy) == build_plugins_zip(plugins)


def test_empty_folder_gives_an_empty_zip(tmp_path: Path) -> None:
    assert entries(build_plugins_zip(tmp_path)) == []


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        build_plugins_zip(tmp_path / "plugins")
