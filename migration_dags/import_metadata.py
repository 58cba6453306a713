"""Import the migration archive into this Airflow 2.x environment (guide step 4), and copy the old task logs.

One self-contained file, copied as is into the new environment's DAG folder, so it needs nothing beyond what MWAA
installs with Airflow (SQLAlchemy, boto3) and keeps to Python 3.8 syntax.

DAG `mwaa_migration_import` (paused on creation, manual trigger only): `import_metadata` >> `copy_task_logs`.
`conf` may give:
  export_id    the archive to import (default: the newest complete export under exports/MIGRATION_NAME/)
  on_existing  overwrite (default) | skip | fail: what happens to a target row whose key the archive has too and
               whose values differ. Identical rows are left alone, so a re-run writes nothing; `fail` fails the
               task naming the keys before anything is written.
  log_days     task logs of the last N days (default 30)
  log_states   task instance states whose logs are copied (default: every final state)
  copy_logs    false: skip the log copy (default: copy, for an MWAA source)
On a 3.x target `import_metadata` does nothing (the REST importer's job); `copy_task_logs` runs on every target.

What the import takes (a 2.x target, through Airflow's models and SQLAlchemy Core on Airflow's session):
  variables, connections  through the models, so the target's Fernet key encrypts values, passwords and extras
  slot_pool, dag_run, task_instance, task_instance_history, task_fail, xcom, sla_miss   rows mapped by column name
Every part is checked (bytes, sha256, rows) before anything is written: a damaged archive changes nothing.
The old environment's audit `log`, `job` and the dataset tables stay in the archive (see IMPORTED_TABLES).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import logging
import pathlib
import pickle
import re
import time
from typing import Any, Callable, Collection, Iterable, Iterator

# Filled in by the deployment (plain text substitution of the tokens).
MIGRATION_BUCKET = "__MWAA_MIGRATION_BUCKET__"
MIGRATION_NAME = "__MWAA_MIGRATION_NAME__"
# Empty for a self-managed source (no CloudWatch task logs to copy).
SOURCE_TASK_LOG_GROUP = "__MWAA_SOURCE_TASK_LOG_GROUP__"
SOURCE_REGION = "__MWAA_SOURCE_REGION__"
TARGET_TASK_LOG_GROUP = "__MWAA_TARGET_TASK_LOG_GROUP__"

FORMAT = 1
DAG_ID = "mwaa_migration_import"
BATCH_ROWS = 1000
ON_EXISTING = ("overwrite", "skip", "fail")
FINAL_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")
DEFAULT_LOG_DAYS = 30
# Keys named in a refusal or a `fail`; the rest are counted.
NAMED_KEYS = 20

# Import order (parents first) and each table's natural key. None: no key (task_fail), rows are compared whole
# and counted, so a re-run adds none. The target's own surrogate ids are never taken from the source.
IMPORTED_TABLES = (
    ("slot_pool", ("pool",)),
    ("dag_run", ("dag_id", "run_id")),
    ("task_instance", ("dag_id", "task_id", "run_id", "map_index")),
    ("task_instance_history", ("dag_id", "task_id", "run_id", "map_index", "try_number")),
    ("task_fail", None),
    ("xcom", ("dag_id", "run_id", "task_id", "map_index", "key")),
    ("sla_miss", ("task_id", "dag_id", "execution_date")),
)
RUN_CHILDREN = ("task_instance", "task_instance_history", "task_fail", "xcom")
# Lookup columns of the keyless table (its rows are then compared whole).
KEYLESS_LOOKUP = ("dag_id", "task_id", "run_id", "map_index")
# Values that refer to the source's own rows elsewhere (jobs, triggers, log templates) don't hold on the target:
# set here instead (log_template_id: filled with the target's current template, so the run's log names follow it).
CLEARED_COLUMNS = {
    "dag_run": ("creating_job_id",),
    "task_instance": ("job_id", "queued_by_job_id", "trigger_id"),
    "task_instance_history": ("job_id", "queued_by_job_id", "trigger_id"),
    # The target's own id of the run, looked up by (dag_id, run_id).
    "xcom": ("dag_run_id",),
}
# Python-side defaults of Airflow's models for NOT NULL columns an older source lacks (others: by type).
KNOWN_DEFAULTS = {
    "task_instance.pool_slots": 1,
    "task_instance_history.pool_slots": 1,
    "dag_run.clear_number": 0,
    "slot_pool.include_deferred": False,
}

log = logging.getLogger(__name__)


class MetadataImportError(Exception):
    """A reason the import can't run or finish; names tables and keys, never a secret value."""


# --- Reading the archive ---------------------------------------------------------------------------------------


class ArchiveReader:
    """One export's objects by relative key (`manifest.json`, `tables/dag_run/part-00000.jsonl.gz`)."""

    description = "archive"

    def read(self, key: str) -> bytes | None:
        raise NotImplementedError

    def write(self, key: str, body: bytes) -> None:
        raise NotImplementedError


class LocalReader(ArchiveReader):
    def __init__(self, root: str) -> None:
        self.root = pathlib.Path(root)
        self.description = str(self.root)

    def read(self, key: str) -> bytes | None:
        path = self.root.joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, body: bytes) -> None:
        path = self.root.joinpath(*key.split("/"))
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)


def _s3_missing(error: Exception) -> bool:
    code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
    # 403: S3's answer for a missing key to a role that may not list the bucket (this one may not).
    return code in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden")


class S3Reader(ArchiveReader):
    """GetObject by key only (the role lists nothing but exports/<name>/)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/"
        self.client = client
        self.description = f"s3://{bucket}/{self.prefix}"

    def read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as error:
            if _s3_missing(error):
                return None
            raise
        return bytes(response["Body"].read())

    def write(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body)


def latest_export(client: Any, bucket: str, migration: str) -> str | None:
    """The complete export (one with a manifest) that finished last; prefixes without a manifest are ignored."""
    root = f"exports/{migration}/"
    ids: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root, Delimiter="/"):
        ids.extend(item["Prefix"][len(root) :].strip("/") for item in page.get("CommonPrefixes", []))
    best: tuple[str, str] | None = None
    for export_id in ids:
        body = S3Reader(bucket, root + export_id, client).read("manifest.json")
        if body is None:
            continue
        try:
            finished = str(json.loads(body.decode("utf-8")).get("finished_at") or "")
        except ValueError:
            continue
        if best is None or (finished, export_id) > best:
            best = (finished, export_id)
    return best[1] if best else None


def read_manifest(reader: ArchiveReader) -> dict[str, Any]:
    body = reader.read("manifest.json")
    if body is None:
        raise MetadataImportError(f"{reader.description} has no manifest.json: not a complete export")
    try:
        manifest = json.loads(body.decode("utf-8"))
    except ValueError:
        raise MetadataImportError(f"{reader.description}manifest.json is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MetadataImportError(
            f"{reader.description}: manifest format {manifest.get('format')!r}, expected {FORMAT}"
        )
    for section in ("tables", "secrets"):
        if not isinstance(manifest.get(section), dict):
            raise MetadataImportError(f"{reader.description}: manifest has no `{section}`")
    return manifest


def read_part(reader: ArchiveReader, part: dict[str, Any]) -> list[dict[str, Any]]:
    """One part's rows, after checking its size, checksum and row count against the manifest."""
    key = str(part["key"])
    body = reader.read(key)
    if body is None:
        raise MetadataImportError(f"{key}: missing from {reader.description}")
    if len(body) != part["bytes"]:
        raise MetadataImportError(f"{key}: {len(body)} bytes, the manifest says {part['bytes']}")
    if hashlib.sha256(body).hexdigest() != part["sha256"]:
        raise MetadataImportError(f"{key}: sha256 differs from the manifest's")
    try:
        rows = [json.loads(line) for line in gzip.decompress(body).decode("utf-8").splitlines() if line]
    except (OSError, ValueError, EOFError):
        raise MetadataImportError(f"{key}: not gzipped JSON lines") from None
    if len(rows) != part["rows"]:
        raise MetadataImportError(f"{key}: {len(rows)} rows, the manifest says {part['rows']}")
    return rows


def iter_rows(reader: ArchiveReader, entry: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    for part in (entry or {}).get("parts", []):
        yield from read_part(reader, part)


def verify_archive(reader: ArchiveReader, manifest: dict[str, Any], names: list[str], secrets: bool) -> int:
    """Every part the import will read, checked before anything is written; returns the bytes read."""
    total = 0
    entries = [manifest["tables"].get(name) for name in names]
    if secrets:
        entries += [manifest["secrets"].get(name) for name in ("variable", "connection")]
    for entry in entries:
        for part in (entry or {}).get("parts", []):
            read_part(reader, part)
            total += int(part["bytes"])
    return total


def write_run_ids(reader: ArchiveReader, run_ids: dict[str, dict[str, str]]) -> None:
    body = json.dumps({"format": FORMAT, "dags": run_ids}, sort_keys=True).encode("utf-8")
    reader.write("run-ids.json", body)


def read_run_ids(reader: ArchiveReader) -> dict[str, dict[str, str]]:
    body = reader.read("run-ids.json")
    if body is None:
        return {}
    dags = json.loads(body.decode("utf-8")).get("dags") or {}
    return {str(dag): {str(k): str(v) for k, v in runs.items()} for dag, runs in dags.items()}


# --- Values from the archive to the target's columns -----------------------------------------------------------

UTC = datetime.timezone.utc


def parse_datetime(text: Any) -> Any:
    """ISO text (the archive) or a datetime (a database read, naive on SQLite) as an aware UTC datetime."""
    if text is None:
        return None
    value = text if isinstance(text, datetime.datetime) else datetime.datetime.fromisoformat(str(text))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _column_kind(column: Any) -> str:
    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

    if isinstance(column.type, sa.JSON):
        return "json"
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return "any"
    if python_type is datetime.datetime:
        return "datetime"
    if python_type is bytes:
        return "binary"
    if python_type is str:
        return "text"
    return "any"


def _plain(value: Any) -> Any:
    """A value as JSON would give it back (tuples as lists, datetimes as text), for comparisons."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class Converter:
    """One column: archive value -> value to bind, and target value -> comparable form."""

    def __init__(self, table: str, column: Any, encoding: str | None) -> None:
        self.where = f"{table}.{column.name}"
        self.kind = _column_kind(column)
        # A timestamp without time zone (SQLite, trigger_timeout) gets naive UTC: a driver would otherwise shift an
        # aware value by the session's time zone.
        self.naive = self.kind == "datetime" and not getattr(column.type, "timezone", False)
        # "unpickled" (a pickle on the source, JSON in the archive), "base64", "text", "mixed" or None
        self.encoding = encoding

    def to_target(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            if self.kind == "datetime":
                parsed = parse_datetime(value)
                return parsed.replace(tzinfo=None) if self.naive else parsed
            if self.kind == "binary":
                if self.encoding == "unpickled":
                    # Airflow reads these columns with pickle (dag_run.conf, executor_config): pickled again.
                    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                if self.encoding == "text" or not isinstance(value, str):
                    return json.dumps(value).encode("utf-8") if not isinstance(value, str) else value.encode()
                return base64.b64decode(value)
            if self.kind == "text" and isinstance(value, (dict, list)):
                return json.dumps(value)
        except (ValueError, TypeError) as error:
            # The error's type only: a value may be secret.
            raise MetadataImportError(f"{self.where}: a value that doesn't fit ({type(error).__name__})") from None
        return value

    def comparable(self, value: Any, bound: bool) -> Any:
        """Both sides brought to one form: `bound` values come from to_target, the others from the database."""
        if value is None:
            return None
        if self.kind == "datetime" and isinstance(value, datetime.datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if self.kind == "binary" and self.encoding == "unpickled":
            try:
                # Our own database's pickles, read as Airflow itself reads them.
                return _plain(pickle.loads(bytes(value)))  # noqa: S301
            except Exception:
                return ("unreadable", bytes(value))
        if self.kind == "binary":
            return bytes(value)
        if self.kind == "json":
            return _plain(value)
        return value


# --- The import ------------------------------------------------------------------------------------------------


class TablePlan:
    """How one archive table lands in the target's table."""

    def __init__(self, name: str, key: tuple[str, ...] | None, table: Any, entry: dict[str, Any]) -> None:
        self.name = name
        self.table = table
        source_columns = list(entry.get("columns") or {})
        target_columns = {c.name: c for c in table.columns}
        surrogate = _surrogate(table)
        cleared = CLEARED_COLUMNS.get(name, ())
        self.dropped = [c for c in source_columns if c not in target_columns]
        # The columns taken from the archive (never the target's own id, never references to the source's rows).
        self.columns = [c for c in source_columns if c in target_columns and c != surrogate and c not in cleared]
        self.cleared = [c for c in cleared if c in target_columns]
        self.defaults: dict[str, Any] = {}
        self.filled: list[str] = []
        for column in table.columns:
            if column.name in source_columns or column.name == surrogate or column.nullable:
                continue
            if column.server_default is not None:
                self.filled.append(f"{name}.{column.name} (the database's default)")
                continue
            value = KNOWN_DEFAULTS.get(f"{name}.{column.name}", _type_default(column))
            self.defaults[column.name] = value
            self.filled.append(f"{name}.{column.name} = {value!r}")
        binary = entry.get("binary") or {}
        self.converters = {c: Converter(name, target_columns[c], binary.get(c)) for c in self.columns}
        self.compared = list(self.columns)
        self.key = key
        self.lookup = key if key is not None else tuple(c for c in KEYLESS_LOOKUP if c in self.columns)
        missing = [c for c in self.lookup if c not in self.columns]
        if missing:
            raise MetadataImportError(f"table {name}: the archive lacks its key columns {', '.join(missing)}")

    def bind(self, row: dict[str, Any]) -> dict[str, Any]:
        values = {c: self.converters[c].to_target(row.get(c)) for c in self.columns}
        for column in self.cleared:
            values[column] = None
        values.update(self.defaults)
        return values

    def identity(self, values: dict[str, Any], bound: bool) -> tuple[Any, ...]:
        columns = self.key if self.key is not None else self.compared
        return tuple(self.converters[c].comparable(values.get(c), bound) for c in columns)

    def same(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        for column in self.compared:
            converter = self.converters[column]
            if converter.comparable(new.get(column), True) != converter.comparable(old.get(column), False):
                return False
        return True


def _superset(table: Any, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Any:
    """The rows whose every key column is among the batch's values: a superset of the batch's keys that the key
    index serves (`a IN (..) AND b IN (..)`), where a row-value IN list of a thousand tuples took a quarter of a
    second a batch on PostgreSQL. The archive's key order keeps the superset close to the batch itself."""
    import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

    return sa.and_(*[table.c[c].in_(sorted({row[c] for row in rows}, key=repr)) for c in columns])


def _surrogate(table: Any) -> str | None:
    key = list(table.primary_key.columns)
    if len(key) == 1 and key[0].name == "id":
        return "id"
    return None


def _type_default(column: Any) -> Any:
    kind = _column_kind(column)
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is bool:
        return False
    if python_type in (int, float):
        return 0
    if kind == "datetime":
        return datetime.datetime.now(UTC)
    if kind == "json":
        return {}
    return ""


class Counts:
    def __init__(self) -> None:
        self.inserted = self.updated = self.unchanged = self.skipped = self.refused = 0
        self.conflicts: list[str] = []
        self.seconds = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
        }


def _key_text(values: tuple[Any, ...]) -> str:
    return "/".join(str(value) for value in values)


class Importer:
    """The archive into this Airflow's database. `session_factory` is Airflow's create_session (a context manager
    committing on exit): one transaction per batch."""

    def __init__(
        self,
        *,
        reader: ArchiveReader,
        manifest: dict[str, Any],
        engine: Any,
        session_factory: Callable[[], Any],
        on_existing: str = "overwrite",
        batch_rows: int = BATCH_ROWS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if on_existing not in ON_EXISTING:
            raise MetadataImportError(f"on_existing must be one of {', '.join(ON_EXISTING)}, not {on_existing!r}")
        self.reader = reader
        self.manifest = manifest
        self.engine = engine
        self.session_factory = session_factory
        self.on_existing = on_existing
        self.batch_rows = batch_rows
        self.progress = progress or (lambda message: log.info("%s", message))
        self.counts: dict[str, Counts] = {}
        self.warnings: list[str] = []
        self.refused: list[str] = []
        # (dag_id, run_id) of the archive's runs the target now has under the same id, and those it refused.
        self.runs: set[tuple[str, str]] = set()
        self.refused_runs: set[tuple[str, str]] = set()
        self.plans: dict[str, TablePlan] = {}

    # Planning -------------------------------------------------------------------------------------------------

    def plan(self) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        present = set(sa.inspect(self.engine).get_table_names())
        for name, key in IMPORTED_TABLES:
            entry = self.manifest["tables"].get(name)
            if entry is None:
                continue
            if name not in present:
                self.warnings.append(f"table {name}: {entry['rows']} rows in the archive, not in this Airflow: left")
                continue
            table = sa.Table(name, sa.MetaData(), autoload_with=self.engine)
            plan = TablePlan(name, key, table, entry)
            for column in plan.dropped:
                self.warnings.append(f"column {name}.{column}: not in this Airflow, dropped")
            for filled in plan.filled:
                self.warnings.append(f"column {filled}: not in the archive, filled")
            self.plans[name] = plan
        if "log_template" in present and "dag_run" in self.plans:
            # The target's current template, as for a run it creates itself: the copied task logs are named by it.
            template = sa.Table("log_template", sa.MetaData(), autoload_with=self.engine)
            with self.engine.connect() as connection:
                newest = connection.execute(sa.select(sa.func.max(template.c.id))).scalar()
            self.plans["dag_run"].defaults["log_template_id"] = newest
        skipped = sorted(set(self.manifest["tables"]) - {name for name, _ in IMPORTED_TABLES} - {"variable"})
        if skipped:
            self.warnings.append("tables kept in the archive only: " + ", ".join(skipped))

    # Entry point ----------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.plan()
        read = verify_archive(self.reader, self.manifest, list(self.plans), secrets=True)
        self.progress(f"archive {self.reader.description}: every part checked ({read} bytes)")
        if self.on_existing == "fail":
            conflicts = self._dry_run()
            if conflicts:
                raise MetadataImportError(
                    f"on_existing=fail: {len(conflicts)} target entries differ from the archive, nothing written: "
                    + ", ".join(conflicts[:NAMED_KEYS])
                    + (" ..." if len(conflicts) > NAMED_KEYS else "")
                )
        self._variables(write=True)
        self._connections(write=True)
        for name in self.plans:
            self._table(name, write=True)
        run_ids: dict[str, dict[str, str]] = {}
        for dag_id, run_id in sorted(self.runs):
            run_ids.setdefault(dag_id, {})[run_id] = run_id
        write_run_ids(self.reader, run_ids)
        self._report_runs()
        return {
            "export_id": self.manifest.get("export_id"),
            "on_existing": self.on_existing,
            "counts": {name: counts.as_dict() for name, counts in self.counts.items()},
            "refused": self.refused,
            "warnings": self.warnings,
            "runs": len(self.runs),
            "seconds": round(time.monotonic() - started, 3),
        }

    def _dry_run(self) -> list[str]:
        self._variables(write=False)
        self._connections(write=False)
        for name in self.plans:
            self._table(name, write=False)
        conflicts = [c for counts in self.counts.values() for c in counts.conflicts]
        self.counts = {}
        self.runs = set()
        self.refused_runs = set()
        self.refused = []
        return conflicts

    # Secrets, through the models ------------------------------------------------------------------------------

    def _batches(self, rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= self.batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    def _decide(self, counts: Counts, what: str, key: str) -> bool:
        """A target entry that differs: True when it is to be overwritten."""
        if self.on_existing == "overwrite":
            counts.updated += 1
            return True
        if self.on_existing == "fail":
            counts.conflicts.append(f"{what} {key}")
        counts.skipped += 1
        return False

    def _variables(self, write: bool) -> None:
        from airflow.models.variable import Variable  # type: ignore[import-not-found, unused-ignore]

        counts = self.counts.setdefault("variable", Counts())
        started = time.monotonic()
        entry = self.manifest["secrets"].get("variable")
        for batch in self._batches(iter_rows(self.reader, entry)):
            with self.session_factory() as session:
                keys = [str(row["key"]) for row in batch]
                existing = {v.key: v for v in session.query(Variable).filter(Variable.key.in_(keys))}
                for row in batch:
                    key = str(row["key"])
                    if row.get("val") is None:
                        self.warnings.append(f"variable {key}: no value in the archive (the source couldn't decrypt)")
                    old = existing.get(key)
                    if old is None:
                        counts.inserted += 1
                        if write:
                            session.add(Variable(key=key, val=row.get("val"), description=row.get("description")))
                        continue
                    try:
                        same = old.val == row.get("val") and old.description == row.get("description")
                    except Exception:
                        same = False  # the target's value doesn't decrypt with its key: replaced
                    if same:
                        counts.unchanged += 1
                    elif self._decide(counts, "variable", key) and write:
                        old.set_val(row.get("val"))
                        old.description = row.get("description")
                if not write:
                    session.rollback()
        counts.seconds += time.monotonic() - started
        self.progress(f"variable: {counts.as_dict()}")

    def _connections(self, write: bool) -> None:
        from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]

        counts = self.counts.setdefault("connection", Counts())
        started = time.monotonic()
        entry = self.manifest["secrets"].get("connection")
        model_columns = {c.name for c in Connection.__table__.columns}
        # password and extra through the model's properties, which encrypt; the flags follow from them.
        fields = [
            c
            for c in list((entry or {}).get("columns") or {})
            if c not in ("id", "conn_id", "is_encrypted", "is_extra_encrypted", "password", "extra")
            and c in model_columns
        ]
        for column in (entry or {}).get("columns") or {}:
            if column not in model_columns:
                self.warnings.append(f"column connection.{column}: not in this Airflow, dropped")
        for batch in self._batches(iter_rows(self.reader, entry)):
            with self.session_factory() as session:
                ids = [str(row["conn_id"]) for row in batch]
                existing = {c.conn_id: c for c in session.query(Connection).filter(Connection.conn_id.in_(ids))}
                for row in batch:
                    conn_id = str(row["conn_id"])
                    old = existing.get(conn_id)
                    if old is None:
                        counts.inserted += 1
                        if write:
                            new = Connection(conn_id=conn_id)
                            _set_connection(new, row, fields)
                            session.add(new)
                        continue
                    try:
                        same = (
                            all(getattr(old, f) == row.get(f) for f in fields)
                            and old.password == row.get("password")
                            and old.extra == row.get("extra")
                        )
                    except Exception:
                        same = False  # the target's password doesn't decrypt with its key: replaced
                    if same:
                        counts.unchanged += 1
                    elif self._decide(counts, "connection", conn_id) and write:
                        _set_connection(old, row, fields)
                if not write:
                    session.rollback()
        counts.seconds += time.monotonic() - started
        self.progress(f"connection: {counts.as_dict()}")

    # History and pools, through SQLAlchemy Core ---------------------------------------------------------------

    def _table(self, name: str, write: bool) -> None:
        plan = self.plans[name]
        counts = self.counts.setdefault(name, Counts())
        started = time.monotonic()
        done = 0
        for batch in self._batches(iter_rows(self.reader, self.manifest["tables"][name])):
            try:
                with self.session_factory() as session:
                    self._batch(session, plan, counts, batch, write)
                    if not write:
                        session.rollback()
            except MetadataImportError:
                raise
            except Exception as error:
                # The database's first line names the constraint; its detail lines may hold values.
                reason = str(getattr(error, "orig", error)).strip().splitlines()[:1]
                raise MetadataImportError(
                    f"table {name}: writing rows {done + 1} to {done + len(batch)} failed: {type(error).__name__} "
                    f"{reason[0] if reason else ''}"
                ) from None
            done += len(batch)
            if write:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.progress(f"{name}: {done} of {self.manifest['tables'][name]['rows']} rows ({rate:.0f} rows/s)")
        counts.seconds += time.monotonic() - started
        if write:
            self.progress(f"{name}: {counts.as_dict()}")

    def _batch(self, session: Any, plan: TablePlan, counts: Counts, batch: list[dict[str, Any]], write: bool) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        table = plan.table
        if plan.name in RUN_CHILDREN:
            kept = [row for row in batch if (row.get("dag_id"), row.get("run_id")) not in self.refused_runs]
            counts.refused += len(batch) - len(kept)
            batch = kept
        rows = [plan.bind(row) for row in batch]
        if plan.name == "dag_run":
            rows = self._refuse_run_clashes(session, plan, counts, rows)
        if not rows:
            return
        found = session.execute(sa.select(table).where(_superset(table, plan.lookup, rows))).mappings().all()
        existing: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for old in found:
            # The superset's extra rows match no identity of the batch and are never looked at.
            existing.setdefault(plan.identity(dict(old), False), []).append(dict(old))
        inserts: list[dict[str, Any]] = []
        for row in rows:
            identity = plan.identity(row, True)
            matches = existing.get(identity)
            if plan.key is None:
                # Keyless: a row equal to one the target has is that row (each target row matched once).
                if matches:
                    matches.pop()
                    counts.unchanged += 1
                else:
                    counts.inserted += 1
                    inserts.append(row)
                continue
            if plan.name == "dag_run":
                self.runs.add((row["dag_id"], row["run_id"]))
            if not matches:
                counts.inserted += 1
                inserts.append(row)
            elif plan.same(row, matches[0]):
                counts.unchanged += 1
            elif self._decide(counts, plan.name, _key_text(identity)) and write:
                where = sa.and_(*[table.c[c] == row[c] for c in plan.key])
                # The archive's columns only: the target's references (its run id, job ids) stay as they are.
                session.execute(table.update().where(where).values({c: row[c] for c in plan.columns}))
        if inserts and write:
            if "dag_run_id" in table.c and plan.name == "xcom":
                self._fill_run_ids(session, inserts)
            session.execute(table.insert(), inserts)

    def _refuse_run_clashes(
        self, session: Any, plan: TablePlan, counts: Counts, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A target run at the same logical date under another run id is the target's own: never replaced."""
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        table = plan.table
        if "execution_date" not in table.c:
            return rows
        query = sa.select(table.c.dag_id, table.c.run_id, table.c.execution_date).where(
            _superset(table, ("dag_id", "execution_date"), rows)
        )
        taken = {(r.dag_id, parse_datetime(r.execution_date)): r.run_id for r in session.execute(query)}
        kept = []
        for row in rows:
            other = taken.get((row["dag_id"], parse_datetime(row["execution_date"])))
            if other is not None and other != row["run_id"]:
                counts.refused += 1
                self.refused_runs.add((row["dag_id"], row["run_id"]))
                self.refused.append(
                    f"dag_run {row['dag_id']}/{row['run_id']}: the target has its own run {other} at that logical date"
                )
                continue
            kept.append(row)
        return kept

    def _fill_run_ids(self, session: Any, rows: list[dict[str, Any]]) -> None:
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        dag_run = self.plans["dag_run"].table if "dag_run" in self.plans else None
        if dag_run is None:
            dag_run = sa.Table("dag_run", sa.MetaData(), autoload_with=self.engine)
        query = sa.select(dag_run.c.id, dag_run.c.dag_id, dag_run.c.run_id).where(
            _superset(dag_run, ("dag_id", "run_id"), rows)
        )
        ids = {(r.dag_id, r.run_id): r.id for r in session.execute(query)}
        for row in rows:
            row["dag_run_id"] = ids.get((row["dag_id"], row["run_id"]))

    def _report_runs(self) -> None:
        """Runs for DAGs the target doesn't know (imported all the same) and runs that hadn't finished."""
        import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

        dag_ids = {dag_id for dag_id, _ in self.runs}
        if not dag_ids or "dag_run" not in self.plans:
            return
        known: set[str] = set()
        if sa.inspect(self.engine).has_table("dag"):
            dag = sa.Table("dag", sa.MetaData(), autoload_with=self.engine)
            with self.engine.connect() as connection:
                known = {r[0] for r in connection.execute(sa.select(dag.c.dag_id).where(dag.c.dag_id.in_(dag_ids)))}
        unknown = sorted(dag_ids - known)
        if unknown:
            self.warnings.append(
                "runs imported for DAGs this Airflow doesn't know (yet; their files aren't parsed): "
                + ", ".join(unknown)
            )
        unfinished = [
            f"{r.get('dag_id')}/{r.get('run_id')} ({r.get('state')})"
            for r in iter_rows(self.reader, self.manifest["tables"]["dag_run"])
            if r.get("state") not in ("success", "failed")
        ]
        if unfinished:
            self.warnings.append(
                f"{len(unfinished)} runs had not finished at export time (the scheduler takes them up once their DAG "
                "is unpaused): " + ", ".join(unfinished[:NAMED_KEYS])
            )


def _set_connection(connection: Any, row: dict[str, Any], fields: list[str]) -> None:
    for field in fields:
        setattr(connection, field, row.get(field))
    connection.password = row.get("password")
    connection.extra = row.get("extra")


# --- As a DAG --------------------------------------------------------------------------------------------------


def _airflow_major() -> int:
    import airflow  # type: ignore[import-not-found, unused-ignore]

    return int(re.findall(r"\d+", airflow.__version__)[0])


def _conf(dag_run: Any) -> dict[str, Any]:
    return dict(getattr(dag_run, "conf", None) or {})


def _s3_client(region: str | None = None) -> Any:
    import boto3  # type: ignore[import-not-found, unused-ignore]

    return boto3.client("s3", region_name=region) if region else boto3.client("s3")


def open_export(conf: dict[str, Any]) -> ArchiveReader:
    """The export `conf` names, or the newest complete one."""
    if MIGRATION_BUCKET.startswith("__MWAA_"):
        raise MetadataImportError("this copy of the file was not filled in by the deployment (no bucket)")
    client = _s3_client()
    export_id = conf.get("export_id")
    if export_id is None:
        export_id = latest_export(client, MIGRATION_BUCKET, MIGRATION_NAME)
        if export_id is None:
            raise MetadataImportError(f"no complete export under s3://{MIGRATION_BUCKET}/exports/{MIGRATION_NAME}/")
    if not isinstance(export_id, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", export_id):
        raise MetadataImportError("conf export_id must be an export's id, e.g. 20261128T134500Z")
    return S3Reader(MIGRATION_BUCKET, f"exports/{MIGRATION_NAME}/{export_id}/", client)


def run_import(reader: ArchiveReader, on_existing: str) -> dict[str, Any]:
    """The import on this Airflow's database (its engine and sessions), logging progress and a summary."""
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]
    from airflow.utils.session import create_session  # type: ignore[import-not-found, unused-ignore]

    manifest = read_manifest(reader)
    log.info(
        "importing export %s (Airflow %s, %s) from %s, on_existing=%s",
        manifest.get("export_id"),
        (manifest.get("source") or {}).get("airflow_version"),
        (manifest.get("source") or {}).get("dialect"),
        reader.description,
        on_existing,
    )
    importer = Importer(
        reader=reader,
        manifest=manifest,
        engine=settings.engine,
        session_factory=create_session,
        on_existing=on_existing,
    )
    summary = importer.run()
    for warning in summary["warnings"]:
        log.warning("%s", warning)
    for name, counts in summary["counts"].items():
        log.info("%-22s %s", name, counts)
    if summary["refused"]:
        raise MetadataImportError(
            f"{len(summary['refused'])} rows refused (everything else is imported): "
            + "; ".join(summary["refused"][:NAMED_KEYS])
        )
    return summary


def import_task(dag_run: Any = None, **_: Any) -> dict[str, Any]:
    """The `import_metadata` task."""
    if _airflow_major() >= 3:
        log.info("Airflow 3 target: the metadata import is the REST importer's job (cutover.py import); nothing here")
        return {}
    conf = _conf(dag_run)
    on_existing = str(conf.get("on_existing") or "overwrite")
    if on_existing not in ON_EXISTING:
        raise MetadataImportError(f"conf on_existing must be one of {', '.join(ON_EXISTING)}")
    return run_import(open_export(conf), on_existing)


# --- Task-log copy -------------------------------------------------------------------------------------------

# Stream names. Airflow's CloudWatch handler (apache-airflow-providers-amazon: `CloudwatchTaskHandler._render_filename`
# and `CloudWatchRemoteLogIO`) renders `[logging] log_filename_template` and replaces every ':' with '_', since
# CloudWatch forbids ':' and '*' in stream names. With Airflow >= 2.3's default template a source stream is
# `dag_id=<d>/run_id=<r>/task_id=<t>/[map_index=<m>/]attempt=<n>.log`, with <r> sanitised: it is matched to the
# archive's run ids sanitised the same way (two run ids that sanitise alike are reported as ambiguous, never guessed).
# The target name renders the target's template with the NEW run id (`run_ids[dag_id][old_run_id]`), then the same
# replacement. Names that don't parse, runs the archive lacks and runs that were not imported are counted and listed.
#
# Re-runs resume, never duplicate: when a target stream already exists, its last timestamp T and the number of its
# events at T are read, and the source is read from T on, skipping that many events at T. Events are written in the
# source's order, so the target always holds a prefix of the copyable source events; a crash between two batches
# loses nothing and a finished stream copies nothing ("already copied").
#
# Limits (PutLogEvents): at most 1,048,576 bytes (message UTF-8 bytes + 26 per event) and 10,000 events a call, in
# timestamp order, spanning less than 24 hours. Events older than 14 days, or than the target group's retention, are
# counted as too old and not sent; so are whole streams whose last event is older (those aren't read).


LOG_COPY_MAX_BATCH_BYTES = 1048576
LOG_COPY_EVENT_OVERHEAD = 26
LOG_COPY_MAX_BATCH_EVENTS = 10000
LOG_COPY_MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
LOG_COPY_MAX_AGE_DAYS = 14
LOG_COPY_MAX_STREAM_NAME = 512
# Stream names listed per reason in the summary (the counts are always complete).
LOG_COPY_EXAMPLES = 20
LOG_COPY_RETRY_CODES = frozenset({"ThrottlingException", "ServiceUnavailableException"})
# Errors that would fail every stream the same way: stop at once instead of listing each stream.
LOG_COPY_FATAL_CODES = frozenset({"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"})


class LogCopyError(Exception):
    """Names the operation, the group or stream and AWS's error code; never a log message's content."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


_LOGS_SOURCE_NAME = re.compile(
    r"dag_id=(?P<dag_id>[^/]+)/run_id=(?P<run_id>.+)/task_id=(?P<task_id>[^/]+)/"
    r"(?:map_index=(?P<map_index>-?\d+)/)?attempt=(?P<attempt>\d+)\.log"
)
# Airflow < 2.3's default, `{{ ti.dag_id }}/{{ ti.task_id }}/{{ ts }}/{{ try_number }}.log`: named by logical date,
# which the task_instance rows don't carry; reported apart so the reason is clear.
_LOGS_LEGACY_NAME = re.compile(r"[^/=]+/[^/=]+/\d{4}-\d\d-\d\dT[^/]+/\d+\.log")
_LOGS_TAG = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)
_LOGS_EXPRESSIONS = {
    "ti.dag_id": "dag_id",
    "ti.task_id": "task_id",
    "ti.run_id": "run_id",
    "ti.map_index": "map_index",
    "ti.try_number": "try_number",
    "try_number": "try_number",
    "try_number|default(ti.try_number)": "try_number",
}
_LOGS_CONDITIONS = {"ti.map_index>=0": "mapped"}
_LOGS_SUMMARY_COUNTS = """streams_found streams_copied streams_already_copied streams_nothing_to_copy
    streams_not_selected streams_run_not_imported streams_too_old streams_failed events_copied events_already_present
    events_too_old events_too_large events_rejected_too_new bytes_copied put_log_events_calls
    describe_log_streams_pages get_log_events_pages throttled_retries"""


def _logs_compile_template(template: str) -> list[tuple[str, str, bool]]:
    """(kind, value, only when mapped) parts of the supported subset of Jinja; anything else is refused."""

    def refuse(detail: str) -> LogCopyError:
        return LogCopyError(
            f"unsupported log_filename_template {template!r}: {detail}; supported: "
            "{{ ti.dag_id|task_id|run_id|map_index }}, {{ try_number }} (optionally |default(ti.try_number)) and "
            "{% if ti.map_index >= 0 %}...{% endif %}"
        )

    parts: list[tuple[str, str, bool]] = []
    mapped = False
    position = 0
    for match in _LOGS_TAG.finditer(template):
        if match.start() > position:
            parts.append(("text", template[position : match.start()], mapped))
        position = match.end()
        if match.group(1) is not None:
            field = _LOGS_EXPRESSIONS.get(re.sub(r"\s+", "", match.group(1)))
            if field is None:
                raise refuse(f"expression {match.group(0)!r}")
            parts.append(("field", field, mapped))
            continue
        statement = " ".join(match.group(2).split())
        if statement.startswith("if ") and not mapped:
            if _LOGS_CONDITIONS.get(statement[3:].replace(" ", "")) is None:
                raise refuse(f"condition {match.group(0)!r}")
            mapped = True
        elif statement == "endif" and mapped:
            mapped = False
        else:
            raise refuse(f"statement {match.group(0)!r}")
    if mapped:
        raise refuse("an {% if %} without {% endif %}")
    if position < len(template):
        parts.append(("text", template[position:], False))
    if "{" in "".join(value for kind, value, _ in parts if kind == "text"):
        raise refuse("an unbalanced or unknown tag")
    return parts


def _logs_render(parts: list[tuple[str, str, bool]], fields: dict[str, Any]) -> str:
    pieces = []
    for kind, value, only_mapped in parts:
        if only_mapped and int(fields["map_index"]) < 0:
            continue
        pieces.append(value if kind == "text" else str(fields[value]))
    return "".join(pieces)


def _logs_sanitise(name: str) -> str:
    # What the CloudWatch handler does to every stream name it writes or reads.
    return name.replace(":", "_")


def _logs_parse_time(value: Any) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return _logs_aware(value)
    text = str(value)
    return _logs_aware(datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text))


def _logs_aware(value: datetime.datetime) -> datetime.datetime:
    # The archive's datetimes are UTC; a naive one is read as UTC too.
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)


def _logs_millis(value: datetime.datetime) -> int:
    return int(_logs_aware(value).timestamp() * 1000)


def _logs_error_code(error: BaseException) -> str | None:
    if isinstance(error, LogCopyError):
        return error.code
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class _LogsCopier:
    """One copy: the clients, the cut-off, the counters and the retry policy."""

    def __init__(
        self,
        *,
        source: Any,
        target: Any,
        source_group: str,
        target_group: str,
        sleep: Callable[[float], None],
        max_attempts: int,
    ) -> None:
        self.source = source
        self.target = target
        self.source_group = source_group
        self.target_group = target_group
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.cutoff_ms = 0
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def note(self, reason: str, stream: str) -> None:
        self.add("streams_" + reason)
        listed = self.examples.setdefault(reason, [])
        if len(listed) < LOG_COPY_EXAMPLES:
            listed.append(stream)

    def call(self, operation: str, where: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call, throttling retried with exponential backoff; other errors become a LogCopyError naming
        `where` (a group or stream) and the error code only: a PutLogEvents validation message can quote an event."""
        attempt = 1
        while True:
            try:
                return method(**kwargs)
            except Exception as error:
                code = _logs_error_code(error)
                if code is None:
                    raise
                if code in LOG_COPY_RETRY_CODES and attempt < self.max_attempts:
                    self.add("throttled_retries")
                    self.sleep(min(0.25 * 2**attempt, 20.0))
                    attempt += 1
                    continue
                raise LogCopyError(f"{operation} on {where} failed: {code}", code=code) from None

    def retention_days(self) -> int | None:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupNamePrefix": self.target_group}
            if token:
                kwargs["nextToken"] = token
            page = self.call("DescribeLogGroups", self.target_group, self.target.describe_log_groups, **kwargs)
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == self.target_group:
                    days = group.get("retentionInDays")
                    return int(days) if days else None
            token = page.get("nextToken")
            if not token:
                raise LogCopyError(f"target log group {self.target_group} does not exist", code="NotFound")

    def source_streams(self) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.source_group, "limit": 50}
            if token:
                kwargs["nextToken"] = token
            page = self.call("DescribeLogStreams", self.source_group, self.source.describe_log_streams, **kwargs)
            self.add("describe_log_streams_pages")
            yield from page.get("logStreams", [])
            new_token = page.get("nextToken")
            if not new_token or new_token == token:
                return
            token = new_token

    def events(
        self, client: Any, group: str, stream: str, *, start_time: int | None = None, backward: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every page of GetLogEvents, following the token until it repeats (pages may be empty midway)."""
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": not backward}
        if start_time is not None:
            kwargs["startTime"] = start_time
        if backward:
            kwargs["limit"] = 1
        token_key = "nextBackwardToken" if backward else "nextForwardToken"
        token = None
        while True:
            if token:
                kwargs["nextToken"] = token
            page = self.call("GetLogEvents", group + ":" + stream, client.get_log_events, **kwargs)
            self.add("get_log_events_pages")
            page_events = page.get("events", [])
            yield from (reversed(page_events) if backward else page_events)
            new_token = page.get(token_key)
            if not new_token or new_token == token:
                return
            token = new_token

    def resume_point(self, stream: str) -> tuple[int, int] | None:
        """(last timestamp, events at it) of an existing target stream, None when it is empty."""
        last = next(self.events(self.target, self.target_group, stream, backward=True), None)
        if last is None:
            return None
        last_ts = int(last["timestamp"])
        at_last = sum(
            1
            for event in self.events(self.target, self.target_group, stream, start_time=last_ts)
            if int(event["timestamp"]) == last_ts
        )
        return last_ts, at_last

    def put(self, stream: str, batch: list[dict[str, Any]], size: int) -> None:
        response = self.call(
            "PutLogEvents",
            self.target_group + ":" + stream,
            self.target.put_log_events,
            logGroupName=self.target_group,
            logStreamName=stream,
            logEvents=batch,
        )
        self.add("put_log_events_calls")
        # Indexes per the API reference: tooOld and expired end indexes are exclusive, tooNew's start inclusive.
        rejected = response.get("rejectedLogEventsInfo") or {}
        too_old = max(int(rejected.get("tooOldLogEventEndIndex", 0)), int(rejected.get("expiredLogEventEndIndex", 0)))
        too_new = len(batch) - int(rejected.get("tooNewLogEventStartIndex", len(batch)))
        self.add("events_too_old", too_old)
        self.add("events_rejected_too_new", too_new)
        self.add("events_copied", len(batch) - too_old - too_new)
        self.add("bytes_copied", size)

    def copy_stream(self, source_stream: str, target_stream: str) -> None:
        resume = None
        try:
            self.call(
                "CreateLogStream",
                self.target_group + ":" + target_stream,
                self.target.create_log_stream,
                logGroupName=self.target_group,
                logStreamName=target_stream,
            )
        except LogCopyError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise
            resume = self.resume_point(target_stream)
        skip_at_resume = resume[1] if resume else 0
        batch: list[dict[str, Any]] = []
        size = 0
        copied_before = self.counts.get("events_copied", 0)
        start = resume[0] if resume else None
        for event in self.events(self.source, self.source_group, source_stream, start_time=start):
            timestamp = int(event["timestamp"])
            if resume is not None and timestamp <= resume[0]:
                if timestamp == resume[0] and skip_at_resume > 0:
                    skip_at_resume -= 1
                    self.add("events_already_present")
                    continue
                if timestamp < resume[0]:
                    continue
            if timestamp < self.cutoff_ms:
                self.add("events_too_old")
                continue
            event_size = len(event["message"].encode("utf-8")) + LOG_COPY_EVENT_OVERHEAD
            if event_size > LOG_COPY_MAX_BATCH_BYTES:
                self.add("events_too_large")
                continue
            if batch and (
                size + event_size > LOG_COPY_MAX_BATCH_BYTES
                or len(batch) >= LOG_COPY_MAX_BATCH_EVENTS
                or timestamp - int(batch[0]["timestamp"]) >= LOG_COPY_MAX_BATCH_SPAN_MS
                or timestamp < int(batch[-1]["timestamp"])
            ):
                self.put(target_stream, batch, size)
                batch, size = [], 0
            batch.append({"timestamp": timestamp, "message": event["message"]})
            size += event_size
        if batch:
            self.put(target_stream, batch, size)
        if self.counts.get("events_copied", 0) > copied_before:
            self.add("streams_copied")
        elif resume is not None:
            self.note("already_copied", source_stream)
        else:
            self.add("streams_nothing_to_copy")


def _logs_select(
    task_instances: Iterable[dict[str, Any]],
    *,
    days: int | None,
    states: Collection[str] | None,
    now: datetime.datetime,
) -> tuple[set[tuple[str, str, str, int]], dict[tuple[str, str], str | None]]:
    """The selected task instances as (dag, sanitised run, task, map index), and every run of the archive by
    (dag, sanitised run) -> old run id (None when two run ids sanitise alike). Memory grows with the selection and
    the number of runs, not with the whole task_instance history."""
    since = None if days is None else _logs_aware(now) - datetime.timedelta(days=days)
    selected: set[tuple[str, str, str, int]] = set()
    runs: dict[tuple[str, str], str | None] = {}
    for row in task_instances:
        dag_id, run_id = str(row["dag_id"]), str(row["run_id"])
        run_key = (dag_id, _logs_sanitise(run_id))
        known = runs.get(run_key, run_id)
        runs[run_key] = run_id if known == run_id else None
        if states is not None and row.get("state") not in states:
            continue
        if since is not None:
            started = _logs_parse_time(row.get("start_date"))
            if started is None or started < since:
                continue
        map_index = row.get("map_index")
        selected.add((dag_id, run_key[1], str(row["task_id"]), -1 if map_index is None else int(map_index)))
    return selected, runs


def copy_task_logs(
    *,
    source_client: Any,
    target_client: Any,
    source_group: str,
    target_group: str,
    task_instances: Iterable[dict[str, Any]],
    run_ids: dict[str, dict[str, str]],
    target_template: str,
    days: int | None,
    states: Collection[str] | None,
    now: datetime.datetime,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 8,
) -> dict[str, Any]:
    """Copy the selected task instances' log streams (every attempt) from `source_group` to `target_group`.

    `task_instances`: the archive's task_instance rows; a stream is copied when its task instance started within
    `days` before `now` (None: any time) and its state is in `states` (None: any state). Returns a summary of
    counts and stream names (never log content); per-stream failures are listed in `failed` and the copy goes on,
    so the caller should fail the task when `streams_failed` is not zero. Raises LogCopyError for an unsupported
    template, a missing source or target group, and access errors."""
    parts = _logs_compile_template(target_template)
    copier = _LogsCopier(
        source=source_client,
        target=target_client,
        source_group=source_group,
        target_group=target_group,
        sleep=sleep,
        max_attempts=max_attempts,
    )
    retention = copier.retention_days()
    max_age = LOG_COPY_MAX_AGE_DAYS if retention is None else min(LOG_COPY_MAX_AGE_DAYS, retention)
    copier.cutoff_ms = _logs_millis(now) - max_age * 24 * 3600 * 1000
    selected, runs = _logs_select(task_instances, days=days, states=states, now=now)
    jobs: list[tuple[str, str]] = []
    for stream in copier.source_streams():
        name = str(stream["logStreamName"])
        copier.add("streams_found")
        match = _LOGS_SOURCE_NAME.fullmatch(name)
        if match is None:
            copier.note("legacy_template" if _LOGS_LEGACY_NAME.fullmatch(name) else "unrecognised_name", name)
            continue
        dag_id, run_key = match.group("dag_id"), match.group("run_id")
        if (dag_id, run_key) not in runs:
            copier.note("run_not_in_archive", name)
            continue
        old_run_id = runs[(dag_id, run_key)]
        if old_run_id is None:
            copier.note("ambiguous_run_id", name)
            continue
        map_index = int(match.group("map_index") or -1)
        if (dag_id, run_key, match.group("task_id"), map_index) not in selected:
            copier.add("streams_not_selected")
            continue
        new_run_id = run_ids.get(dag_id, {}).get(old_run_id)
        if new_run_id is None:
            copier.note("run_not_imported", name)
            continue
        last_event = stream.get("lastEventTimestamp")
        if last_event is not None and int(last_event) < copier.cutoff_ms:
            copier.note("too_old", name)
            continue
        fields = {
            "dag_id": dag_id,
            "task_id": match.group("task_id"),
            "run_id": new_run_id,
            "map_index": map_index,
            "try_number": int(match.group("attempt")),
        }
        target_name = _logs_sanitise(_logs_render(parts, fields))
        if not target_name or "*" in target_name or len(target_name) > LOG_COPY_MAX_STREAM_NAME:
            copier.note("invalid_target_name", name)
            continue
        jobs.append((name, target_name))
    if progress is not None:
        progress("{} of {} streams selected for copying".format(len(jobs), copier.counts.get("streams_found", 0)))
    failed: list[dict[str, str]] = []
    for number, (source_name, target_name) in enumerate(jobs, 1):
        try:
            copier.copy_stream(source_name, target_name)
        except LogCopyError as error:
            if error.code in LOG_COPY_FATAL_CODES:
                raise
            copier.add("streams_failed")
            if len(failed) < LOG_COPY_EXAMPLES:
                failed.append({"stream": source_name, "target_stream": target_name, "error": str(error)})
        if progress is not None and (number % 50 == 0 or number == len(jobs)):
            progress("{}/{} streams, {} events copied".format(number, len(jobs), copier.counts.get("events_copied", 0)))
    summary: dict[str, Any] = {
        "source_group": source_group,
        "target_group": target_group,
        "cutoff": datetime.datetime.fromtimestamp(copier.cutoff_ms / 1000.0, datetime.timezone.utc).isoformat(),
        "target_retention_days": retention,
        "task_instances_selected": len(selected),
        "streams_selected": len(jobs),
    }
    # Every counter, zero included, so a summary always has the same keys.
    for key in _LOGS_SUMMARY_COUNTS.split():
        summary[key] = copier.counts.get(key, 0)
    unmatched_reasons = ("unrecognised_name", "legacy_template", "run_not_in_archive", "ambiguous_run_id")
    summary["unmatched"] = {
        reason: copier.counts["streams_" + reason]
        for reason in (*unmatched_reasons, "invalid_target_name")
        if copier.counts.get("streams_" + reason)
    }
    summary["examples"] = copier.examples
    summary["failed"] = failed
    return summary


def run_log_copy(conf: dict[str, Any]) -> dict[str, Any]:
    """The `copy_task_logs` work: the old environment's task log streams into this one's group."""
    if not SOURCE_TASK_LOG_GROUP:
        log.info("log copy not configured: the source is self-managed (no CloudWatch task log group)")
        return {}
    if conf.get("copy_logs") is False:
        log.info("log copy not asked for (conf copy_logs: false)")
        return {}
    import boto3  # type: ignore[import-not-found, unused-ignore]
    from airflow.configuration import conf as airflow_conf  # type: ignore[import-not-found, unused-ignore]

    days = int(conf.get("log_days") or DEFAULT_LOG_DAYS)
    states = list(conf.get("log_states") or FINAL_STATES)
    now = datetime.datetime.now(UTC)
    reader = open_export(conf)
    manifest = read_manifest(reader)
    # logging.log_filename_template since 2.0; Airflow 3 reads the same option.
    template = airflow_conf.get("logging", "log_filename_template")
    result: dict[str, Any] = copy_task_logs(
        source_client=boto3.client("logs", region_name=SOURCE_REGION or None),
        target_client=boto3.client("logs"),
        source_group=SOURCE_TASK_LOG_GROUP,
        target_group=TARGET_TASK_LOG_GROUP,
        # Every task instance of the archive, streamed: the copy selects by days and states, and maps all runs.
        task_instances=iter_rows(reader, manifest["tables"].get("task_instance")),
        run_ids=read_run_ids(reader),
        target_template=template,
        days=days,
        states=states,
        now=now,
        progress=lambda message: log.info("%s", message),
    )
    if result.get("streams_failed"):
        raise MetadataImportError(f"task log copy: {result['streams_failed']} streams failed: {result.get('failed')}")
    return result


def log_copy_task(dag_run: Any = None, **_: Any) -> dict[str, Any]:
    """The `copy_task_logs` task."""
    return run_log_copy(_conf(dag_run))


# --- The DAG ---------------------------------------------------------------------------------------------------


def _build_dag() -> Any:
    import airflow  # type: ignore[import-not-found, unused-ignore]
    from airflow import DAG

    try:  # Airflow 3 (and 2.x with the standard provider)
        from airflow.providers.standard.operators.python import (  # type: ignore[import-not-found, unused-ignore]
            PythonOperator,
        )
    except ImportError:
        from airflow.operators.python import PythonOperator  # type: ignore[import-not-found, unused-ignore]

    major_minor = tuple(int(part) for part in re.findall(r"\d+", airflow.__version__)[:2])
    # `schedule` arrived in 2.4 and `schedule_interval` left in 3.0.
    schedule = {"schedule": None} if major_minor >= (2, 4) else {"schedule_interval": None}
    dag = DAG(
        DAG_ID,
        description="Import the migration archive into this environment (manual runs only)",
        start_date=datetime.datetime(2021, 1, 1, tzinfo=UTC),
        catchup=False,
        is_paused_upon_creation=True,
        max_active_runs=1,
        tags=["mwaa-migration"],
        **schedule,
    )
    importing = PythonOperator(task_id="import_metadata", python_callable=import_task, dag=dag)
    copying = PythonOperator(task_id="copy_task_logs", python_callable=log_copy_task, dag=dag)
    importing >> copying
    return dag


try:
    import airflow as _airflow  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # outside Airflow (the log copy's tests and benchmark): functions only
    _airflow = None
AIRFLOW_PRESENT = _airflow is not None
if AIRFLOW_PRESENT and __name__ != "__main__":
    # Imported by Airflow's DAG processor (or a test): the DAG, found by its module-level name.
    dag = _build_dag()
