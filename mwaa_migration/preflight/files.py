"""Which files the pre-flight reads, and how it parses them (never importing them)."""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path


def python_files(folder: Path) -> list[Path]:
    """Every .py file under the folder, sorted. Listed one by one so ruff lints them all: walking a folder, it
    would skip git-ignored files, which MWAA still syncs and Airflow still imports."""
    return files_with_suffixes(folder, frozenset({".py"}))


def files_with_suffixes(folder: Path, suffixes: frozenset[str]) -> list[Path]:
    """Files under the folder with one of these suffixes, sorted, without bytecode caches."""
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        files.extend(Path(root, name) for name in names if Path(name).suffix in suffixes)
    return sorted(files)


def parse_python(source: bytes, path: Path) -> ast.Module:
    """ast.parse without the SyntaxWarnings (invalid escapes) Python would print about the user's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source, filename=str(path))
