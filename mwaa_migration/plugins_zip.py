"""A reproducible plugins.zip: the same plugin files always give the same bytes (and the zip builder the migration
DAGs' unit uses too, mwaa_migration/migration_dags_zip.py).

MWAA applies a new plugins.zip by updating the environment (many minutes, workers restarted), and the S3
object version only changes when the bytes do. So nothing but plugin content may reach the zip: no timestamps,
no file modes, no traversal order, no bytecode caches.
"""

from __future__ import annotations

import fnmatch
import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

# The earliest date a zip entry can hold; any fixed date works, file mtimes would not.
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# A regular file, rw-r--r--, in the high 16 bits of external_attr (Unix host), whatever the mode on disk.
_FILE_ATTRIBUTES = 0o100644 << 16
_UNIX_HOST = 3
# Never deployed, in the zip or the DAG folder: bytecode caches and editor files that Airflow would only sync.
# Glob patterns, as CDK's asset `exclude` takes them; here matched against each file and folder name.
WORKFLOW_EXCLUDES = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in WORKFLOW_EXCLUDES)


def plugin_files(folder: Path) -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file that goes into the zip, sorted by name."""
    if not folder.is_dir():
        raise NotADirectoryError(f"plugins folder not found: {folder}")
    entries: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not _excluded(name)]
        for name in names:
            if _excluded(name):
                continue
            path = Path(root, name)
            entries.append((path.relative_to(folder).as_posix(), path))
    return sorted(entries)


def build_plugins_zip(folder: Path) -> bytes:
    """The plugins.zip for a folder, byte-for-byte the same for the same file names and contents."""
    return build_zip((name, path.read_bytes()) for name, path in plugin_files(folder))


def build_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of (name, content) entries, byte-for-byte the same for the same names and contents, in any order.

    Files only (directories are implied by the names), sorted by name, stored uncompressed: deflate output depends on
    the zlib build (zlib-ng and others differ), so compressing would make the bytes differ between machines.
    """
    files = sorted(entries)
    names = [name for name, _ in files]
    if len(set(names)) != len(names):
        raise ValueError(f"a zip can't hold a name twice: {sorted({n for n in names if names.count(n) > 1})}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE_TIME)
            info.create_system = _UNIX_HOST  # ZipInfo defaults to the current OS; Windows would differ
            info.external_attr = _FILE_ATTRIBUTES
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, content)
    return buffer.getvalue()
