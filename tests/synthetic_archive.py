"""A synthetic archive in the export's layout (migration_dags/export_metadata.py's docstring), with the sizes,
checksums and row counts archive.py checks: for tests and benchmarks that need many rows without a real export."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

SECRET_TABLES = ("variable", "connection")


def bulk_entities(number: int) -> dict[str, list[dict[str, Any]]]:
    """`number` variables, connections and pools named bench_*."""
    return {
        "variable": [{"key": f"bench_var_{i}", "val": f"value {i}", "description": None} for i in range(number)],
        "connection": [
            {"conn_id": f"bench_conn_{i}", "conn_type": "http", "host": "h", "password": f"p{i}", "extra": "{}"}
            for i in range(number)
        ],
        "slot_pool": [{"pool": f"bench_pool_{i}", "slots": 1, "description": None} for i in range(number)],
    }


def write_archive(root: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """One part per table; variables and connections under secrets/, as the export writes them."""
    manifest: dict[str, Any] = {
        "format": 1,
        "migration": "bench",
        "export_id": "bench",
        "source": {"airflow_version": "2.10.3", "alembic_revision": "5f2621c13b39", "dialect": "postgresql"},
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:00:01+00:00",
        "since": None,
        "tables": {},
        "secrets": {},
        "paused": [],
        "warnings": [],
    }
    for name, items in rows.items():
        section = "secrets" if name in SECRET_TABLES else "tables"
        key = f"secrets/{name}.jsonl.gz" if section == "secrets" else f"tables/{name}/part-00000.jsonl.gz"
        data = gzip.compress("".join(json.dumps(item) + "\n" for item in items).encode())
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        part = {"key": key, "rows": len(items), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        columns = dict.fromkeys(items[0], "VARCHAR")
        manifest[section][name] = {"rows": len(items), "columns": columns, "parts": [part]}
    (root / "manifest.json").write_text(json.dumps(manifest))
