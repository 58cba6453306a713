#!/usr/bin/env python3
"""Import an export into the new environment and verify it (guide step 4); run and follow the cut-over (step 5).

    python cutover.py import --migration <name> [--archive s3://... | DIR] [--environment NAME | --airflow-url URL]
                             [--runs-since YYYY-MM-DD] [--on-existing overwrite|skip|fail]
                             [--log-days N] [--log-states success,failed] [--no-logs]
    python cutover.py verify --migration <name> [--archive ...] [--environment NAME | --airflow-url URL]
    python cutover.py run --migration <name> --mode rehearsal|cutover|rollback [--force] [--no-unpause]
                          [--drain-timeout SECONDS] [--runs-since YYYY-MM-DD] [--on-existing ...] [--export-id ID]
    python cutover.py status --migration <name>

`run` starts the migration's cut-over state machine (deployed by the <name>-cutover stack) and follows it: the
step, the counts each step returns and the elapsed time, then the verification report; `status` reattaches to a
running execution (or shows how the last one ended).

The archive defaults to the newest complete export in the migration bucket; the target to the migration file's new
environment, called through MWAA's InvokeRestApi with your AWS credentials. `--airflow-url` calls any Airflow 2.7+
or 3.x API instead (a rehearsal against a local image), with AIRFLOW_API_TOKEN or AIRFLOW_API_USER and
AIRFLOW_API_PASSWORD from the environment. An Airflow 3 target is imported through the REST API from here; an
Airflow 2 target through the import DAG (mwaa_migration_import), which this triggers and follows. Then, on either,
the task-log DAG (mwaa_migration_task_logs) copies the old task logs for the imported runs, unless --no-logs.
Exit status: 0 done, 1 something was refused, differs or failed (named above the summary), 2 can't start.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_cutover import airflow_api, archive, cutover_input, dag_runs, rest_import, verify
from mwaa_migration import aws_session
from mwaa_migration.console import Progress, table
from mwaa_migration.cutover import follow as cutover_follow
from mwaa_migration.cutover import target as cutover_target
from mwaa_migration.cutover.names import machine_exports, state_machine_arn
from mwaa_migration.migration import MigrationConfig, MigrationFileError, load_migration, resolve_migration_paths

IMPORT_DAG_ID = "mwaa_migration_import"
TASK_LOG_DAG_ID = "mwaa_migration_task_logs"
ON_EXISTING = ("overwrite", "skip", "fail")
# A migration DAG's run: the ORM import of a long history, or the log copy, takes a while.
IMPORT_DAG_TIMEOUT_SECONDS = 6 * 3600


def _session() -> Any:
    return aws_session.session()


def _migration(selector: str) -> MigrationConfig:
    paths = resolve_migration_paths(selector)
    if len(paths) != 1:
        raise cutover_target.SetupError(f"--migration {selector}: name one migration (a cut-over is one at a time)")
    return load_migration(paths[0])


def _task_log_conf(args: argparse.Namespace, export_id: str) -> dict[str, Any]:
    conf: dict[str, Any] = {"export_id": export_id}
    if args.log_days is not None:
        conf["log_days"] = args.log_days
    if args.log_states:
        conf["log_states"] = [state.strip() for state in args.log_states.split(",") if state.strip()]
    return conf


def _run_dag(target: cutover_target.Target, dag_id: str, conf: dict[str, Any], progress: Progress) -> str:
    """Triggers one of the migration DAGs on the target and follows its run to the end; its final state."""
    run_id = dag_runs.run_id_for(json.dumps(conf, sort_keys=True))
    return dag_runs.run_to_completion(
        target.transport,
        dag_id,
        run_id=run_id,
        conf=conf,
        timeout=IMPORT_DAG_TIMEOUT_SECONDS,
        progress=progress.message,
    )


def command_import(args: argparse.Namespace, migration: MigrationConfig, progress: Progress) -> int:
    # Checked before anything is read or called: a typo must not cost a connection attempt's retries.
    runs_since = cutover_target.parse_day(args.runs_since, "--runs-since") if args.runs_since else None
    session = _session()
    source = cutover_target.open_archive(migration, args.archive, session=session)
    manifest = archive.read_manifest(source)
    target = cutover_target.target(
        migration, environment=args.environment, airflow_url=args.airflow_url, session=session
    )
    export_id = str(manifest["export_id"])
    progress.message(f"import {export_id} from {source.description} into {target.description}")
    failed = False
    if target.api_version == "v2":
        now = datetime.datetime.now(datetime.UTC)
        options = rest_import.ImportOptions(on_existing=args.on_existing, runs_since=runs_since, now=now)
        result = rest_import.import_archive(
            transport=target.transport, archive=source, options=options, progress=progress.update
        )
        progress.close()
        failed = _print_import_result(result)
        # The REST importer writes the run-id map as it goes; a refused entity doesn't stop it.
        imported = True
    else:
        conf = {"export_id": export_id, "on_existing": args.on_existing}
        state = _run_dag(target, IMPORT_DAG_ID, conf, progress)
        progress.close()
        print(f"import DAG run: {state}; its task logs have the summary; `cutover.py verify` compares the result")
        imported = state == "success"
        failed = not imported
    # After the import, whose run-id map names the new streams: not after an import DAG run that failed.
    if not args.no_logs and imported:
        state = _run_dag(target, TASK_LOG_DAG_ID, _task_log_conf(args, export_id), progress)
        progress.close()
        print(f"task-log DAG run: {state}; its task logs have the summary (streams and events copied, too old)")
        failed = failed or state != "success"
    return 1 if failed else 0


def _print_import_result(result: Any) -> bool:
    rows = [
        [entity, counts.get("created", 0), counts.get("updated", 0), counts.get("skipped", 0), counts.get("refused", 0)]
        for entity, counts in result.counts.items()
    ]
    print(table(["entity", "created", "updated", "skipped", "refused"], rows))
    print(f"{result.calls} API calls")
    for refused in result.refused:
        print(f"refused: {refused['entity']} {refused['key']}: {refused['reason']}")
    for dag in result.unguaranteed:
        print(f"not guaranteed to resume after its last imported run: {dag['dag_id']}: {dag['reason']}")
    return bool(result.refused or result.unguaranteed)


def command_verify(args: argparse.Namespace, migration: MigrationConfig, progress: Progress) -> int:
    session = _session()
    source = cutover_target.open_archive(migration, args.archive, session=session)
    manifest = archive.read_manifest(source)
    target = cutover_target.target(
        migration, environment=args.environment, airflow_url=args.airflow_url, session=session
    )
    report = verify.verify_import(
        transport=target.transport, archive=source, manifest=manifest, progress=progress.update
    )
    progress.close()
    location = cutover_target.save_report(migration, source, report, local_dir=Path.cwd())
    print(cutover_follow.report_table(report))
    print(f"report: {location}")
    return 0 if report["ok"] else 1


def _machine(migration: MigrationConfig, session: Any) -> tuple[Any, str]:
    region = session.region_name
    if not region:
        raise cutover_target.SetupError("no AWS region: set AWS_REGION to the region the migration's stacks are in")
    account = session.client("sts").get_caller_identity()["Account"]
    return session.client("stepfunctions"), state_machine_arn(migration.name, region=region, account=account)


def _finish(session: Any, description: dict[str, Any]) -> int:
    if description["status"] != "SUCCEEDED":
        print(f"{description['status']}: {cutover_follow.failure(description)}")
        return 1
    output = json.loads(description.get("output") or "{}")
    report = (output.get("verify") or {}).get("report")
    if report:
        print(cutover_follow.report_table(cutover_follow.read_report(session.client("s3"), report)))
        print(f"report: {report}")
    print("SUCCEEDED")
    return 0


def command_run(args: argparse.Namespace, migration: MigrationConfig, progress: Progress) -> int:
    raw: dict[str, Any] = {"mode": args.mode, "force": args.force, "unpause": not args.no_unpause}
    optional = {
        "drain_timeout_seconds": args.drain_timeout,
        "runs_since": args.runs_since,
        "on_existing": args.on_existing,
        "log_days": args.log_days,
        "export_id": args.export_id,
    }
    raw.update({key: value for key, value in optional.items() if value is not None})
    if args.log_states:
        raw["log_states"] = [state.strip() for state in args.log_states.split(",") if state.strip()]
    # The machine's own check, before anything starts.
    execution_input = cutover_input.validate(raw, operator_export=not machine_exports(migration))
    session = _session()
    sfn, machine = _machine(migration, session)
    name = f"{args.mode}-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}"
    execution = cutover_follow.start(sfn, machine_arn=machine, execution_input=execution_input, name=name)
    progress.message(f"started {name} on {machine}")
    return _finish(session, cutover_follow.follow(sfn, execution, progress=progress))


def command_status(args: argparse.Namespace, migration: MigrationConfig, progress: Progress) -> int:
    session = _session()
    sfn, machine = _machine(migration, session)
    execution = cutover_follow.running_execution(sfn, machine) or cutover_follow.latest_execution(sfn, machine)
    if execution is None:
        raise cutover_target.SetupError(f"{machine} has no execution yet: start one with `cutover.py run`")
    progress.message(f"following {execution.rsplit(':', 1)[-1]}")
    return _finish(session, cutover_follow.follow(sfn, execution, progress=progress))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("import", "verify"):
        sub = commands.add_parser(name)
        sub.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
        sub.add_argument("--archive", help="s3://bucket/prefix/ or a folder (default: the newest complete export)")
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--environment", help="the MWAA environment to call (default: target.environment_name)")
        where.add_argument("--airflow-url", help="an Airflow webserver or api-server URL instead of MWAA")
        if name == "import":
            sub.add_argument("--runs-since", help="import runs from this day on (default: the last 7 days)")
            sub.add_argument("--on-existing", choices=ON_EXISTING, default="overwrite")
            sub.add_argument("--log-days", type=int, help="copy task logs of tasks started in the last N days")
            sub.add_argument("--log-states", help="copy task logs of tasks in these states (comma-separated)")
            sub.add_argument("--no-logs", action="store_true", help="don't copy task logs")
    run = commands.add_parser("run")
    run.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
    run.add_argument("--mode", required=True, choices=cutover_input.MODES)
    run.add_argument("--force", action="store_true", help="go on past a drain timeout, a differing import, or runs")
    run.add_argument("--no-unpause", action="store_true", help="cut over but leave the new environment paused")
    run.add_argument("--drain-timeout", type=int, help="seconds to wait for the old environment's runs to end")
    run.add_argument("--runs-since", help="import runs from this day on (default: the last 7 days)")
    run.add_argument("--on-existing", choices=ON_EXISTING)
    run.add_argument("--log-days", type=int, help="copy task logs of tasks started in the last N days")
    run.add_argument("--log-states", help="copy task logs of tasks in these states (comma-separated)")
    run.add_argument("--export-id", help="the operator's export to import (self-managed or pre-2.4.3 sources)")
    status = commands.add_parser("status")
    status.add_argument("--migration", required=True, help="a name under migrations/ or a path to a .toml file")
    args = parser.parse_args(argv)
    progress = Progress()
    try:
        if getattr(args, "airflow_url", None):
            cutover_target.check_url(args.airflow_url)
        migration = _migration(args.migration)
        commands_by_name = {
            "import": command_import,
            "verify": command_verify,
            "run": command_run,
            "status": command_status,
        }
        return commands_by_name[args.command](args, migration, progress)
    except MigrationFileError as error:
        progress.close()
        # One problem (an unknown name, a missing file) on one line; a file's several problems one per line.
        text = f"{error.path}: {error.problems[0]}" if len(error.problems) == 1 else str(error)
        print(f"error: {text}", file=sys.stderr)
        return 2
    except (
        cutover_target.SetupError,
        archive.ArchiveError,
        cutover_input.InputError,
        cutover_follow.FollowError,
    ) as error:
        progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (airflow_api.ApiError, dag_runs.DagRunError) as error:
        progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        progress.close()
        print(f"error: AWS: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
