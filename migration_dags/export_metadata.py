"""Export an Airflow 2.x metadata database into the migration archive (guide step 3).

One self-contained file, copied as is into the old environment's DAG folder, so it needs nothing beyond what MWAA
installs with Airflow (SQLAlchemy, boto3) and keeps to Python 3.7 syntax (MWAA's oldest 2.x images).

As a DAG (`mwaa_migration_export`, paused on creation, manual trigger only), `conf` may give:
  export_id  the archive's id (the cut-over passes its own; default: the UTC time, e.g. 20261128T134500Z)
  tables     a subset of TABLES
  since      ISO date: history window for runs and what belongs to them (RUN_WINDOWED), logs and jobs
The archive goes to s3://MIGRATION_BUCKET/exports/MIGRATION_NAME/<export id>/.

As a script (self-managed sources), reading the database URL and Fernet key the way Airflow does:
  python export_metadata.py --out DIR            (DIR is the archive; its secrets/ is made private)
  python export_metadata.py --s3 s3://bucket/prefix

The archive:
  tables/<table>/part-NNNNN.jsonl.gz  one JSON object per row, columns by reflection, at most PART_ROWS rows a part
  secrets/connection.jsonl.gz         connections, password and extra decrypted (no connection rows in tables/)
  secrets/variable.jsonl.gz           variables with their values decrypted; tables/variable has them without `val`
  manifest.json                       written last, only when everything else is uploaded
Binary columns are base64, except pickles, which are unpickled here (where their classes live) into JSON; the
manifest's `binary` map says per column which encoding its values have ("base64", "unpickled", "text" for a value
the column's type didn't announce, or "mixed").
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import gzip
import hashlib
import io
import json
import logging
import math
import os
import pathlib
import pickle
import re
import sys
import tempfile
import time
import uuid
from typing import Any, BinaryIO, Callable, Iterator

import sqlalchemy as sa  # type: ignore[import-not-found, unused-ignore]

# Filled in by the deployment (plain text substitution of the two tokens).
MIGRATION_BUCKET = "__MWAA_MIGRATION_BUCKET__"
MIGRATION_NAME = "__MWAA_MIGRATION_NAME__"

FORMAT = 1
DAG_ID = "mwaa_migration_export"
PART_ROWS = 100000
FETCH_ROWS = 2000
# Upload attempts of one object and the first back-off (doubled after each failure).
UPLOAD_TRIES = 3
RETRY_DELAY_SECONDS = 2.0

# Export order; tables a source lacks are skipped with a warning (each version has a different set).
TABLES = (
    "variable",
    "connection",
    "slot_pool",
    "dag",
    "dag_run",
    "task_instance",
    "task_fail",
    "task_instance_history",
    "xcom",
    "log",
    "sla_miss",
    "job",
    "dataset",
    "dataset_event",
    "dagrun_dataset_event",
    "dataset_dag_run_queue",
    "asset",
    "asset_event",
    "dagrun_asset_event",
)
SECRET_TABLES = ("variable", "connection")
# The one table exported partly: the new environment takes only these (its parser fills in the rest).
DAG_COLUMNS = ("dag_id", "is_paused", "is_active")
# The `since` window: runs by their logical date, and everything that belongs to a run by its run, so a run's task
# instances, tries, xcom and SLA misses come with it or not at all (an xcom's own timestamp is when it was written:
# an old run cleared last week would bring xcom without their task instance). Tables keyed by run_id (2.2+, xcom
# 2.3+) follow their run's date through dag_run; older ones have the run's logical date as execution_date.
WINDOW_COLUMNS = {
    "dag_run": ("execution_date", "logical_date"),
    "log": ("dttm",),
    "job": ("start_date",),
}
RUN_WINDOWED = ("task_instance", "task_fail", "task_instance_history", "xcom", "sla_miss")
EXPORT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

log = logging.getLogger(__name__)


class ExportError(Exception):
    """A reason the export can't run or finish; never carries a secret value."""


# --- Where the archive goes ------------------------------------------------------------------------------------


class ArchiveWriter:
    """One archive: objects are written whole under relative keys such as `tables/log/part-00000.jsonl.gz`."""

    description = "archive"

    def put(self, key: str, body: BinaryIO, size: int, secret: bool) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError


class LocalWriter(ArchiveWriter):
    """A local folder; `secrets/` is 0700 and its files 0600, and each object appears only once complete."""

    def __init__(self, root: str) -> None:
        self.root = pathlib.Path(root).resolve()
        self.description = str(self.root)
        self.warned = False

    def put(self, key: str, body: BinaryIO, size: int, secret: bool) -> None:
        path = self.root.joinpath(*key.split("/"))
        folder = path.parent
        folder.mkdir(parents=True, exist_ok=True)
        if secret:
            folder.chmod(0o700)
            if not self.warned:
                self.warned = True
                sys.stderr.write(
                    f"warning: {folder} holds decrypted connections and variables; keep it private, delete it "
                    "after the import\n"
                )
        partial = path.with_name(path.name + ".partial")
        # Created with its final mode: a secret is never readable by others, not even for a moment.
        fd = os.open(str(partial), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as out:
            body.seek(0)
            while True:
                chunk = body.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        # The rename makes the object appear whole: a reader never sees half a manifest.
        partial.replace(path)

    def exists(self, key: str) -> bool:
        return self.root.joinpath(*key.split("/")).is_file()


class S3Writer(ArchiveWriter):
    """An S3 prefix, through boto3 (the execution role's or the shell's credentials)."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        if client is None:
            import boto3  # type: ignore[import-not-found, unused-ignore]

            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.description = f"s3://{bucket}/{self.prefix}"

    def put(self, key: str, body: BinaryIO, size: int, secret: bool) -> None:
        body.seek(0)
        # The bucket's default encryption (its KMS key) applies; a single PUT keeps to the s3:PutObject grant.
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body, ContentLength=size)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as error:
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            # 403: S3's answer for a missing key to a role that may not list the bucket (this one may not).
            if code in ("404", "NoSuchKey", "NotFound", "403", "Forbidden"):
                return False
            raise
        return True


def put_with_retry(writer: ArchiveWriter, key: str, body: BinaryIO, size: int, secret: bool) -> None:
    delay = RETRY_DELAY_SECONDS
    for attempt in range(1, UPLOAD_TRIES + 1):
        try:
            writer.put(key, body, size, secret)
            return
        except Exception as error:
            if attempt == UPLOAD_TRIES:
                raise ExportError(f"writing {key} failed {UPLOAD_TRIES} times: {type(error).__name__}") from error
            log.warning("writing %s failed (%s), retrying in %.1fs", key, type(error).__name__, delay)
            time.sleep(delay)
            delay *= 2


# --- Values to JSON --------------------------------------------------------------------------------------------


_ZERO = datetime.timedelta(0)


def _utc_iso(value: datetime.datetime) -> str:
    # Airflow stores UTC; a naive value (MySQL DATETIME, SQLite) is UTC too.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    elif value.utcoffset() != _ZERO:
        value = value.astimezone(datetime.timezone.utc)
    return value.isoformat()


def _is_pickle(raw: bytes) -> bool:
    # Protocol 2+ pickles start with PROTO and end with STOP; JSON bytes can't start with 0x80 (not UTF-8).
    return len(raw) > 2 and raw[0] == 0x80 and 2 <= raw[1] <= 5 and raw[-1:] == b"."


def to_json_value(value: Any) -> Any:
    """A value unpickled or read from a column, as JSON; TypeError when it has no faithful JSON form."""
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"a number JSON can't hold ({value})")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):
        return _utc_iso(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise TypeError(f"a key of type {type(key).__name__}")
            out[str(key) if not isinstance(key, str) else key] = to_json_value(item)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_json_value(item) for item in items]
    raise TypeError(f"a value of type {type(value).__name__}")


class TableStats:
    """What the manifest says about one table, and the warnings its values raised (counted, not repeated)."""

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = columns
        self.rows = 0
        self.parts: list[dict[str, Any]] = []
        self.binary: dict[str, set[str]] = {}
        self.problems: dict[tuple[str, str], int] = {}

    def problem(self, column: str, reason: str) -> None:
        self.problems[(column, reason)] = self.problems.get((column, reason), 0) + 1


class RowEncoder:
    """One table's rows as JSON-ready dicts. Which columns need converting is decided once, from the reflected
    types, so a row costs a conversion per datetime, binary or unusual column, not an isinstance chain per value."""

    # Pickles up to this size are remembered by their bytes: most rows repeat one (an empty executor_config).
    CACHED_PICKLE_BYTES = 1024
    CACHED_PICKLES = 1000

    def __init__(self, keys: list[str], kinds: dict[str, str], stats: TableStats) -> None:
        self.keys = keys
        self.stats = stats
        # (position, column, kind) for each column that isn't a plain str/int/float/bool.
        self.steps = [(i, key, kinds.get(key, "any")) for i, key in enumerate(keys) if kinds.get(key) != "plain"]
        self._pickles: dict[bytes, Any] = {}

    def encode(self, row: Any) -> dict[str, Any]:
        values = list(row)
        for index, key, kind in self.steps:
            value = values[index]
            if value is None:
                continue
            if kind == "datetime" and type(value) is str:
                values[index] = _postgres_timestamp(value)
            elif kind == "datetime" and type(value) is datetime.datetime:
                values[index] = _utc_iso(value)
            elif kind == "binary":
                values[index] = self._binary(key, value)
            else:
                values[index] = self._any(key, value)
        return dict(zip(self.keys, values))

    def _any(self, key: str, value: Any) -> Any:
        try:
            return to_json_value(value)
        except TypeError as error:
            self.stats.problem(key, f"{error}: null")
            return None

    def _binary(self, key: str, value: Any) -> Any:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            # A type that lies (SQLite keeps text in a BLOB column): written as it is, and the manifest says so.
            self.stats.binary.setdefault(key, set()).add("text")
            return self._any(key, value)
        raw = bytes(value)
        if not _is_pickle(raw):
            self.stats.binary.setdefault(key, set()).add("base64")
            return base64.b64encode(raw).decode("ascii")
        self.stats.binary.setdefault(key, set()).add("unpickled")
        if raw in self._pickles:
            return self._pickles[raw]
        try:
            # The source's own data, unpickled where Airflow itself unpickles it.
            decoded = to_json_value(pickle.loads(raw))  # noqa: S301
        except Exception as error:
            self.stats.problem(key, f"pickled value with no JSON form ({type(error).__name__}): null")
            decoded = None
        if len(raw) <= self.CACHED_PICKLE_BYTES and len(self._pickles) < self.CACHED_PICKLES:
            self._pickles[raw] = decoded
        return decoded


def column_kind(column: Any) -> str:
    """How a column's values become JSON: plain (as they are), datetime, binary (base64 or unpickled), or any."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return "any"
    if python_type is bytes:
        return "binary"
    if python_type is datetime.datetime:
        return "datetime"
    return "plain" if python_type in (str, int, float, bool) else "any"


# --- Parts -----------------------------------------------------------------------------------------------------


# One encoder for every row: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class PartWriter:
    """Gzipped JSON lines into a spooled temporary file (memory bounded), uploaded when it holds PART_ROWS rows."""

    def __init__(self, writer: ArchiveWriter, stats: TableStats, key_for: Callable[[int], str], secret: bool) -> None:
        self.writer = writer
        self.stats = stats
        self.key_for = key_for
        self.secret = secret
        self.limit = PART_ROWS
        self._file: Any = None
        self._gzip: Any = None
        self._rows = 0

    def _open(self) -> None:
        # Closed in flush(), after the upload: a context manager can't span the rows of a part.
        self._file = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115
        # mtime=0: the same rows give the same bytes (and checksum). Level 1: at level 6 compressing took about a
        # tenth of the export's time (benchmarks/export_benchmark.py); the parts are somewhat larger, not slower.
        self._gzip = gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=1, mtime=0)

    def add_many(self, records: list[dict[str, Any]]) -> None:
        """Rows in column order (deterministic without sorting), written a batch at a time, split at the part size."""
        start = 0
        while start < len(records):
            if self._gzip is None:
                self._open()
            batch = records[start : start + self.limit - self._rows]
            self._gzip.write("".join([self._line(record) for record in batch]).encode("utf-8"))
            self._rows += len(batch)
            start += len(batch)
            if self._rows >= self.limit:
                self.flush()

    def _line(self, record: dict[str, Any]) -> str:
        try:
            return _ENCODER.encode(record) + "\n"
        except (TypeError, ValueError):
            # A value its column's type didn't announce (SQLite stores anything anywhere), or NaN: the thorough way.
            fixed = {}
            for key, value in record.items():
                try:
                    fixed[key] = to_json_value(value)
                except TypeError as error:
                    self.stats.problem(key, f"{error}: null")
                    fixed[key] = None
            return _ENCODER.encode(fixed) + "\n"

    def flush(self, force: bool = False) -> None:
        if self._gzip is None:
            if not force:
                return
            self._open()
        self._gzip.close()
        body = self._file
        digest = hashlib.sha256()
        body.seek(0)
        size = 0
        while True:
            chunk = body.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
        key = self.key_for(len(self.stats.parts))
        put_with_retry(self.writer, key, body, size, self.secret)
        body.close()
        self.stats.parts.append({"key": key, "rows": self._rows, "bytes": size, "sha256": digest.hexdigest()})
        self.stats.rows += self._rows
        self._file = self._gzip = None
        self._rows = 0


# --- Reading the database --------------------------------------------------------------------------------------

_SA_VERSION = tuple(int(part) for part in re.findall(r"\d+", sa.__version__)[:2])


def _reflect(connection: Any, name: str) -> Any:
    if _SA_VERSION < (1, 4):
        return sa.Table(name, sa.MetaData(), autoload=True, autoload_with=connection)
    return sa.Table(name, sa.MetaData(), autoload_with=connection)


def _select(columns: list[Any]) -> Any:
    if _SA_VERSION < (1, 4):
        return sa.select(columns)
    return sa.select(*columns)


def _type_name(column: Any) -> str:
    try:
        return str(column.type)
    except Exception:
        return type(column.type).__name__


def _window(table: Any, name: str, since: datetime.datetime | None, tables: dict[str, Any]) -> tuple[Any, str]:
    """The WHERE clause of the `since` window and a note of how it applies (or None, "")."""
    if since is None:
        return None, ""
    for column in WINDOW_COLUMNS.get(name, ()):
        if column in table.c:
            return table.c[column] >= since, column
    if name not in RUN_WINDOWED:
        return None, ""
    dag_run = tables.get("dag_run")
    if dag_run is not None and "run_id" in table.c and "run_id" in dag_run.c:
        date = next((dag_run.c[c] for c in WINDOW_COLUMNS["dag_run"] if c in dag_run.c), None)
        if date is not None:
            runs = _select([dag_run.c.run_id]).where(sa.and_(dag_run.c.dag_id == table.c.dag_id, date >= since))
            return table.c.run_id.in_(runs), "run"
    if "execution_date" in table.c:
        return table.c.execution_date >= since, "execution_date"
    return None, ""


def _rows(engine: Any, query: Any) -> Iterator[tuple[list[str], list[Any]]]:
    """Batches of rows through a server-side cursor where the dialect has one (SQLite's cursor is lazy anyway)."""
    if engine.dialect.driver == "psycopg2":
        yield from _postgres_rows(engine, query)
        return
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(query)
        keys = list(result.keys())
        try:
            while True:
                batch = result.fetchmany(FETCH_ROWS)
                if not batch:
                    break
                yield keys, batch
        finally:
            result.close()


# PostgreSQL's own text for timestamps: parsing it into datetimes to print them again was a third of the export's
# time. With the transaction's time zone set to UTC it is ISO-8601 but for a space and a short offset.
_PG_TIMESTAMP_OIDS = (1114, 1184)  # timestamp, timestamptz


def _postgres_rows(engine: Any, query: Any) -> Iterator[tuple[list[str], list[Any]]]:
    import psycopg2.extensions  # type: ignore[import-untyped]  # MWAA's and Airflow's PostgreSQL driver

    as_text = psycopg2.extensions.new_type(_PG_TIMESTAMP_OIDS, "MWAA_MIGRATION_TIMESTAMP_TEXT", _keep_text)
    compiled = query.compile(dialect=engine.dialect)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as setup:
            # LOCAL: for this read-only transaction only, which is rolled back below; the pool sees no change.
            setup.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor = raw.cursor(name="mwaa_migration_export")  # server-side: rows come FETCH_ROWS at a time
        psycopg2.extensions.register_type(as_text, cursor)
        cursor.itersize = FETCH_ROWS
        cursor.execute(str(compiled), compiled.params)
        keys: list[str] | None = None
        while True:
            batch = cursor.fetchmany(FETCH_ROWS)
            if keys is None:
                keys = [column[0] for column in cursor.description]
            if not batch:
                break
            yield keys, batch
        cursor.close()
    finally:
        raw.rollback()
        raw.close()


def _keep_text(value: str | None, cursor: Any) -> str | None:
    return value


def _postgres_timestamp(text: str) -> str:
    """`2026-01-01 00:05:00.5+00` (or without an offset) as Python's isoformat writes it for UTC:
    `2026-01-01T00:05:00.500000+00:00`. Anything else (infinity) stays as PostgreSQL wrote it."""
    # The two shapes nearly every value has, without the general parse below.
    if len(text) == 29 and text[26:] == "+00" and text[19] == ".":
        return text[:10] + "T" + text[11:26] + "+00:00"
    if len(text) == 22 and text[19:] == "+00":
        return text[:10] + "T" + text[11:19] + "+00:00"
    if len(text) < 19 or text[10] != " ":
        return text
    seconds, rest = text[:19], text[19:]
    offset = rest[-3:] if rest.endswith(("+00", "-00")) else ""
    fraction = rest[: len(rest) - len(offset)]
    if offset == "" and rest[-3:-2] in ("+", "-"):
        return text  # an offset other than UTC: the session's time zone wasn't applied
    if fraction and (fraction[0] != "." or not fraction[1:].isdigit()):
        return text
    # PostgreSQL drops trailing zeros of the fraction; isoformat writes all six digits, or none.
    fraction = fraction.ljust(7, "0") if fraction else ""
    return seconds.replace(" ", "T") + fraction + "+00:00"


# --- The export ------------------------------------------------------------------------------------------------


class Exporter:
    def __init__(
        self,
        engine: Any,
        writer: ArchiveWriter,
        fernet: Any,
        export_id: str,
        migration: str,
        tables: list[str] | None = None,
        since: datetime.datetime | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.fernet = fernet
        self.export_id = export_id
        self.migration = migration
        self.selected = list(TABLES) if not tables else list(tables)
        unknown = sorted(set(self.selected) - set(TABLES))
        if unknown:
            raise ExportError("unknown tables {}; known: {}".format(", ".join(unknown), ", ".join(TABLES)))
        self.since = since
        self.progress = progress or (lambda message: log.info("%s", message))
        self.warnings: list[str] = []
        self.reflected: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        # A finished export is never rewritten: its parts would change under a manifest that no longer matches.
        if self.writer.exists("manifest.json"):
            raise ExportError(
                f"export {self.export_id} is already complete in {self.writer.description}; start a new export id"
            )
        started = _utc_iso(datetime.datetime.now(datetime.timezone.utc))
        present = set(sa.inspect(self.engine).get_table_names())
        with self.engine.connect() as connection:
            for name in TABLES:
                if name in present:
                    self.reflected[name] = _reflect(connection, name)
        manifest_tables: dict[str, Any] = {}
        manifest_secrets: dict[str, Any] = {}
        for name in self.selected:
            if name not in self.reflected:
                self.warnings.append(f"table {name}: not in this source's database, skipped")
                continue
            if name in SECRET_TABLES:
                manifest_secrets[name] = self._export_secret(name)
            if name != "connection":
                manifest_tables[name] = self._export_table(name)
        manifest = {
            "format": FORMAT,
            "migration": self.migration,
            "export_id": self.export_id,
            "source": self._source(),
            "started_at": started,
            "finished_at": _utc_iso(datetime.datetime.now(datetime.timezone.utc)),
            "since": _utc_iso(self.since) if self.since else None,
            "tables": manifest_tables,
            "secrets": manifest_secrets,
            "paused": self._paused(),
            "warnings": self.warnings,
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
        # Last, and only now: its presence means every part above is in place.
        put_with_retry(self.writer, "manifest.json", io.BytesIO(body), len(body), False)
        return manifest

    def _query(self, name: str, table: Any, columns: list[Any]) -> Any:
        query = _select(columns)
        where, _how = _window(table, name, self.since, self.reflected)
        if self.since is not None and (name in WINDOW_COLUMNS or name in RUN_WINDOWED) and where is None:
            self.warnings.append(f"table {name}: no date column for the `since` window, exported whole")
        if where is not None:
            query = query.where(where)
        key = list(table.primary_key.columns)
        if key:
            query = query.order_by(*key)
        else:
            # Without a key, all columns: a stable order, so a re-run writes the same parts.
            self.warnings.append(f"table {name}: no primary key, ordered by all columns")
            query = query.order_by(*columns)
        return query

    def _stream(self, name: str, columns: list[Any], parts: PartWriter, transform: Any = None) -> TableStats:
        table = self.reflected[name]
        stats = parts.stats
        kinds = {c.name: column_kind(c) for c in columns}
        encoder: RowEncoder | None = None
        count = 0
        for keys, batch in _rows(self.engine, self._query(name, table, columns)):
            encoder = encoder or RowEncoder(keys, kinds, stats)
            records = [encoder.encode(row) for row in batch]
            if transform is not None:
                records = [transform(record, stats) for record in records]
            parts.add_many(records)
            count += len(batch)
            if count % PART_ROWS < FETCH_ROWS:
                self.progress(f"{name}: {count} rows")
        parts.flush(force=not stats.parts)
        for (column, reason), times in sorted(stats.problems.items()):
            self.warnings.append(f"table {name}, column {column}: {times} rows, {reason}")
        self.progress(f"{name}: {stats.rows} rows, {len(stats.parts)} parts")
        return stats

    def _manifest_entry(self, stats: TableStats) -> dict[str, Any]:
        entry: dict[str, Any] = {"rows": stats.rows, "columns": stats.columns, "parts": stats.parts}
        binary = {}
        for column, kinds in sorted(stats.binary.items()):
            binary[column] = kinds.pop() if len(kinds) == 1 else "mixed"
        if binary:
            entry["binary"] = binary
        return entry

    def _export_table(self, name: str) -> dict[str, Any]:
        table = self.reflected[name]
        columns = list(table.columns)
        if name == "dag":
            columns = [c for c in columns if c.name in DAG_COLUMNS]
        elif name == "variable":
            columns = [c for c in columns if c.name != "val"]
        stats = TableStats({c.name: _type_name(c) for c in columns})

        def key_for(index: int) -> str:
            return f"tables/{name}/part-{index:05d}.jsonl.gz"

        self._stream(name, columns, PartWriter(self.writer, stats, key_for, False))
        return self._manifest_entry(stats)

    def _export_secret(self, name: str) -> dict[str, Any]:
        table = self.reflected[name]
        columns = list(table.columns)
        stats = TableStats({c.name: _type_name(c) for c in columns})
        pairs: tuple[tuple[str, str], ...] = (("val", "is_encrypted"),)
        if name == "connection":
            pairs = (("password", "is_encrypted"), ("extra", "is_extra_encrypted"))

        def decrypt(record: dict[str, Any], stats: TableStats) -> dict[str, Any]:
            for column, flag in pairs:
                if record.get(flag) and record.get(column) is not None:
                    try:
                        record[column] = self.fernet.decrypt(record[column].encode("utf-8")).decode("utf-8")
                    except Exception as error:
                        # The error's type only: its message could hold the value.
                        stats.problem(column, f"can't decrypt ({type(error).__name__}): null")
                        record[column] = None
                if flag in record:
                    record[flag] = False
            return record

        def key_for(index: int) -> str:
            return f"secrets/{name}.jsonl.gz" if index == 0 else f"secrets/{name}-{index:05d}.jsonl.gz"

        self._stream(name, columns, PartWriter(self.writer, stats, key_for, True), decrypt)
        return self._manifest_entry(stats)

    def _paused(self) -> list[str]:
        dag = self.reflected.get("dag")
        if dag is None or "is_paused" not in dag.c:
            return []
        paused: list[str] = []
        for _, batch in _rows(self.engine, _select([dag.c.dag_id, dag.c.is_paused]).order_by(dag.c.dag_id)):
            paused.extend(row[0] for row in batch if row[1])
        return paused

    def _source(self) -> dict[str, Any]:
        revision = None
        try:
            with self.engine.connect() as connection:
                revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except Exception as error:
            self.warnings.append(f"alembic revision unreadable ({type(error).__name__})")
        try:
            import airflow  # type: ignore[import-not-found, unused-ignore]

            version = airflow.__version__
        except Exception:
            version = None
        return {
            "airflow_version": version,
            "alembic_revision": revision,
            "dialect": self.engine.dialect.name,
            "environment_name": os.environ.get("AIRFLOW_ENV_NAME"),
        }


def parse_since(text: Any) -> datetime.datetime | None:
    if not text:
        return None
    if not isinstance(text, str):
        raise ExportError(f"since: {text!r} is not an ISO date or date-time")
    try:
        # fromisoformat takes a date alone too; "Z" only from Python 3.11.
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(f"since: {text!r} is not an ISO date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def new_export_id() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def check_export_id(export_id: Any) -> str:
    # It becomes part of the key: no slash, no `..`, no trailing newline (fullmatch, not match with `$`).
    if not isinstance(export_id, str) or not EXPORT_ID_PATTERN.fullmatch(export_id) or ".." in export_id:
        raise ExportError(f"export_id must match {EXPORT_ID_PATTERN.pattern}")
    return export_id


def airflow_fernet() -> Any:
    """Airflow's own Fernet (its key from the environment or airflow.cfg, several keys for a rotation)."""
    from airflow.models.crypto import get_fernet  # type: ignore[import-not-found, unused-ignore]

    return get_fernet()


def airflow_database_url() -> str:
    from airflow.configuration import conf  # type: ignore[import-not-found, unused-ignore]

    # [database] since Airflow 2.3, [core] before.
    if conf.has_option("database", "sql_alchemy_conn"):
        return str(conf.get("database", "sql_alchemy_conn"))
    return str(conf.get("core", "sql_alchemy_conn"))


# --- As a DAG --------------------------------------------------------------------------------------------------


def make_s3_writer(bucket: str, prefix: str) -> ArchiveWriter:
    return S3Writer(bucket, prefix)


def run_from_dag(dag_run: Any = None, **_: Any) -> str:
    if MIGRATION_BUCKET.startswith("__MWAA_"):
        raise ExportError("this copy of the file was not filled in by the deployment (no bucket)")
    conf = dict(getattr(dag_run, "conf", None) or {})
    export_id = check_export_id(str(conf.get("export_id") or new_export_id()))
    tables = conf.get("tables")
    if tables is not None and not isinstance(tables, list):
        raise ExportError("conf tables must be a list of table names")
    from airflow import settings  # type: ignore[import-not-found, unused-ignore]

    prefix = f"exports/{MIGRATION_NAME}/{export_id}/"
    writer = make_s3_writer(MIGRATION_BUCKET, prefix)
    exporter = Exporter(
        settings.engine,
        writer,
        airflow_fernet(),
        export_id,
        MIGRATION_NAME,
        tables=tables,
        since=parse_since(conf.get("since")),
    )
    manifest = exporter.run()
    for warning in manifest["warnings"]:
        log.warning("%s", warning)
    log.info("export %s complete in %s", export_id, writer.description)
    return f"s3://{MIGRATION_BUCKET}/{prefix}"


def _build_dag() -> Any:
    import airflow  # type: ignore[import-not-found, unused-ignore]
    from airflow import DAG
    from airflow.operators.python import PythonOperator  # type: ignore[import-not-found, unused-ignore]

    major_minor = tuple(int(part) for part in re.findall(r"\d+", airflow.__version__)[:2])
    # `schedule` arrived in 2.4 and `schedule_interval` left in 3.0.
    schedule = {"schedule": None} if major_minor >= (2, 4) else {"schedule_interval": None}
    dag = DAG(
        DAG_ID,
        description="Export this environment's metadata for mwaa-migration (manual runs only)",
        start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        is_paused_upon_creation=True,
        max_active_runs=1,
        tags=["mwaa-migration"],
        **schedule,
    )
    PythonOperator(task_id="export", python_callable=run_from_dag, dag=dag)
    return dag


# --- As a script -----------------------------------------------------------------------------------------------


def _parse_s3(url: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/?(.*)$", url)
    if not match:
        raise ExportError("--s3 takes s3://bucket/prefix")
    return match.group(1), match.group(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export this Airflow's metadata database into a migration archive.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="a new or empty local folder: the archive")
    where.add_argument("--s3", help="s3://bucket/prefix: the archive (e.g. s3://<bucket>/exports/<name>/<id>)")
    parser.add_argument("--export-id", help="default: the UTC time, e.g. 20261128T134500Z")
    parser.add_argument("--migration", help="the migration's name, for the manifest")
    parser.add_argument("--tables", help="comma-separated subset of: " + ", ".join(TABLES))
    parser.add_argument("--since", help="ISO date: history window for runs, task instances, logs, xcom and jobs")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    try:
        export_id = check_export_id(args.export_id or new_export_id())
        migration = args.migration or (MIGRATION_NAME if not MIGRATION_NAME.startswith("__") else "self-managed")
        if args.out:
            out = pathlib.Path(args.out)
            if out.is_dir() and any(out.iterdir()):
                raise ExportError(f"{args.out} is not empty: an archive goes into a new or empty folder")
            writer: ArchiveWriter = LocalWriter(args.out)
        else:
            bucket, prefix = _parse_s3(args.s3)
            writer = S3Writer(bucket, prefix)
        engine = sa.create_engine(airflow_database_url())
        tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
        exporter = Exporter(
            engine,
            writer,
            airflow_fernet(),
            export_id,
            migration,
            tables=tables,
            since=parse_since(args.since),
            progress=say,
        )
        manifest = exporter.run()
    except ExportError as error:
        say(f"export failed: {error}")
        return 1
    for warning in manifest["warnings"]:
        say(f"warning: {warning}")
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    say(
        f"export {export_id} complete: {len(manifest['tables'])} tables, {rows} rows, "
        f"{len(manifest['secrets'])} secret tables, in {writer.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:
    # Imported by Airflow's DAG processor (or a test): the DAG, found by its module-level name.
    dag = _build_dag()
