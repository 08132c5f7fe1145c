"""``studio``: the command line of Studio Pipeline.

The same commands talk to the local stack (source the env file ``studio local up`` writes) or
to a deployed one (``--stack NAME``: its CloudFormation outputs). Read commands take ``--json``.
Exit codes: 0 ok, 1 the job or request failed, 2 usage, 3 still running, 130 Ctrl-C (``errors``).
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)
from rich.markup import escape

from studio_cli import views
from studio_cli.errors import CliError, Exit, NotFound, Refused, UsageError
from studio_cli.last_jobs import Expected, recall, remember
from studio_cli.printable import printable
from studio_cli.stack import Stack
from studio_core.domain.record import JobStatus

Command = Callable[[argparse.Namespace], int]


# --- the stack --------------------------------------------------------------------------------


def stack_of(args: argparse.Namespace) -> Stack:
    name = getattr(args, "stack", None)
    return Stack.from_cloudformation(name) if name else Stack.from_env()


# --- commands ---------------------------------------------------------------------------------


def _submit(args: argparse.Namespace) -> int:
    from studio_cli.last_jobs import Catalogue
    from studio_cli.submitting import submit_paths

    stack = stack_of(args)
    submitted = submit_paths(
        stack,
        [Path(p) for p in args.paths],
        args.product_id,
        replace=args.replace,
        allow_invalid_rows=args.allow_invalid_rows,
        force=args.force,
        dry_run=args.dry_run,
    )
    if args.dry_run:
        return _print_quotes(submitted, args)
    expected = Expected(
        jobs=[j for s in submitted if s.catalogue is None and s.uploaded for j in s.job_ids],
        catalogues=[s.catalogue for s in submitted if isinstance(s.catalogue, Catalogue)],
        command="submit",
    )
    remember(stack.table, expected)
    if args.json and not args.watch:
        views.print_json([s.document() for s in submitted])
        return Exit.OK
    out = views.console()
    for item in submitted:
        if not item.uploaded:  # its work was done: nothing was uploaded
            job_id = item.job_ids[0]
            out.print(
                f"[bold]{escape(item.product_id or item.path)}[/]  unchanged: job [bold]{job_id}[/] "
                f"({item.already.get(job_id, 'known')}) already made these images from these photos and "
                "settings; nothing was uploaded or paid (--force generates them again, and pays again)"
            )
            continue
        what = item.product_id or item.keys[0]
        where = stack.s3_url(folder_of(item.keys[0]))
        out.print(f"[bold]{escape(what)}[/]  {len(item.keys)} file(s) -> {escape(where)}")
        if item.quote.get("images") is not None:
            out.print(f"  {_quote_text(item.quote)}")
        for skipped in item.skipped:
            out.print(f"  [yellow]skipped[/] {escape(skipped.name)}: {escape(skipped.reason)}")
        for text in item.notes:
            out.print(f"  [yellow]note[/] {escape(text)}")
        for line, reason in item.invalid_rows.items():
            out.print(f"  [red]row {line} will fail[/]: {escape(reason)}")
        if item.catalogue is None:
            for job_id in item.job_ids:
                out.print(f"  job [bold]{job_id}[/] starts {escape(item.starts)}")
        else:
            out.print(
                f"  {len(item.job_ids)} job(s) to run; the catalogue's check writes its quote to checked.json"
            )
    if args.watch:
        return _follow(stack, expected, args)
    ids = " ".join(expected.jobs) if len(expected.jobs) <= 3 and not expected.catalogues else ""
    out.print(f"Follow them: [bold]studio watch{(' ' + ids) if ids else ''}[/]")
    return Exit.OK


def _quote_text(quote: dict[str, Any]) -> str:
    """What an upload will pay: ``3 operations, 6 images (up to 4 more for automatic rounds)``."""
    more = quote.get("may_add_images") or 0
    extra = f" (up to {more} more if automatic regeneration rounds run)" if more else ""
    return f"pays for {quote.get('operations', 0)} operation(s), {quote.get('images', 0)} image(s){extra}"


def _print_quotes(submitted: list[Any], args: argparse.Namespace) -> int:
    """``studio submit --dry-run``: each path's quote, and nothing uploaded."""
    if args.json:
        views.print_json([s.document() for s in submitted])
        return Exit.OK
    out = views.console()
    for item in submitted:
        out.print(f"[bold]{escape(item.product_id or item.path)}[/]  (dry run: nothing uploaded)")
        if item.catalogue is None and item.product_id:
            outcome = item.quote.get("outcome", "")
            if item.quote.get("images") is not None:
                out.print(f"  {escape(outcome)}: {_quote_text(item.quote)}")
            else:
                out.print(f"  {escape(outcome)}: job {item.job_ids[0]} did this work; it would pay nothing")
        else:
            for text in item.notes:
                out.print(f"  {escape(text)}")
            out.print(f"  {_quote_text(item.quote)}")
            for line, reason in item.invalid_rows.items():
                out.print(f"  [red]row {line} would fail[/]: {escape(reason)}")
    return Exit.OK


def _cancel(args: argparse.Namespace) -> int:
    from studio_core.aws.reviews import ReviewCallbacks
    from studio_core.steps.ingest.cancels import NotCheckedYet, cancel_catalogue, cancel_job

    stack = stack_of(args)
    reviews = ReviewCallbacks(stack.client("stepfunctions"))
    at = datetime.now(UTC).isoformat(timespec="seconds")
    by = who_am_i(stack)
    target: str = args.target
    try:
        if target.lower().endswith((".csv", ".jsonl")):
            done = cancel_catalogue(stack.storage(), stack.jobs(), target, by=by, at=at, reviews=reviews)
        else:
            done = cancel_job(stack.jobs(), target, by=by, at=at, reviews=reviews)
    except NotCheckedYet as exc:
        raise Refused(str(exc), hint="run the same command again in a few seconds") from None
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\""), hint="`studio status` lists the jobs") from None
    if args.json:
        views.print_json({**done.document(), "by": by, "at": at})
        return Exit.OK
    out = views.console()
    out.print(f"cancelled [bold]{escape(done.target)}[/] (by {escape(by)})")
    out.print(f"  {len(done.stopped)} job(s) stopped before anything was paid")
    if done.finishing:
        out.print(
            f"  {len(done.finishing)} job(s) had created operations at Aiuta (paid, Aiuta has no cancel): "
            "they create nothing more, copy what they paid for and end CANCELLED"
        )
    if done.ended:
        out.print(f"  {len(done.ended)} job(s) had already ended")
    return Exit.OK


def who_am_i(stack: Stack, command: str = "studio cancel") -> str:
    """Who a cancel (or a review decision) is recorded as: the AWS identity, else the local user."""
    try:
        return str(stack.client("sts").get_caller_identity()["Arn"])
    except Exception:  # no credentials, or a stack without STS: the local user will do
        return f"{getpass.getuser()} ({command})"


def folder_of(key: str) -> str:
    return key.rsplit("/", 1)[0] + "/"


def _status(args: argparse.Namespace) -> int:
    stack = stack_of(args)
    jobs = stack.jobs()
    if args.job:
        record = jobs.get(args.job)
        if record is None:
            raise NotFound(
                f"there is no job {args.job!r} in {stack.table}", hint="`studio status` lists the jobs"
            )
        if args.json:
            views.print_json(views.job_document(stack, record))
        else:
            views.console().print(views.job_detail(stack, record))
        return Exit.OK
    if args.status:
        records = jobs.with_status(JobStatus(args.status))
        if args.product:
            records = [r for r in records if r.product_id == args.product]
    else:
        records = jobs.for_product(args.product) if args.product else jobs.all_jobs()
    records = sorted(records, key=lambda r: r.created_at)[-args.limit :] if args.limit else records
    damaged = list(jobs.damaged.values())
    if args.json:
        views.print_json([views.job_document(stack, r) for r in records])
        views.print_damaged(damaged, stack.table, views.console(stderr=True))
        return Exit.OK
    out = views.console()
    if not records and not damaged:
        which = " ".join(
            f for f in (args.status and f"{args.status}", args.product and f"of {args.product}") if f
        )
        out.print(f"no jobs{(' ' + which) if which else ''} in {stack.table}")
        return Exit.OK
    if records:
        out.print(views.jobs_table(records))
    views.print_damaged(damaged, stack.table, out)
    return Exit.OK


def _watch(args: argparse.Namespace) -> int:
    from studio_cli.watching import catalogue_in_bucket, is_catalogue_name, running_now

    stack = stack_of(args)
    remembered = recall(stack.table)
    if args.jobs:
        announced = set(remembered.jobs) if remembered else set()
        announced |= {j for c in (remembered.catalogues if remembered else []) for j in c.jobs}
        expected = Expected(command="watch")
        for name in dict.fromkeys(args.jobs):
            if is_catalogue_name(name):
                expected.catalogues.append(catalogue_in_bucket(stack, name))
            else:
                expected.jobs.append(name)
        return _follow(stack, expected, args, unannounced=[j for j in expected.jobs if j not in announced])
    if remembered is not None and (remembered.jobs or remembered.catalogues):
        expected = remembered
    else:
        expected = running_now(stack)
        if not expected.jobs:
            if args.json:
                views.print_json({"outcome": "nothing to watch", "jobs": []})
            else:
                views.console().print("nothing is running; `studio status` lists the jobs that ended")
            return Exit.OK
    return _follow(stack, expected, args)


def _follow(
    stack: Stack, expected: Expected, args: argparse.Namespace, unannounced: Sequence[str] = ()
) -> int:
    from studio_cli.watching import follow, keep_following, outcome_document

    out = views.console(stderr=args.json)
    if not args.json:
        source = (
            f" (from the last {expected.command})"
            if expected.command in ("submit", "regenerate", "resume")
            else ""
        )
        what = [f"{len(expected.jobs)} job(s)"] if expected.jobs or not expected.catalogues else []
        what += [f"{c.key} ({c.rows} rows)" for c in expected.catalogues]
        out.print(f"Following {' and '.join(what)}{source}:", highlight=False)
    try:
        outcome = follow(
            stack,
            expected,
            out,
            timeout_seconds=args.timeout,
            interval_seconds=args.interval,
            unannounced=unannounced,
        )
    except KeyboardInterrupt:
        out.print("stopped watching; the jobs carry on (`studio watch` picks them up again)")
        return Exit.INTERRUPTED
    if args.json:
        views.print_json(outcome_document(stack, outcome))
        return outcome.exit_code
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts().items()))
    code = outcome.exit_code
    waiting = [
        j for j, r in outcome.records.items() if r is not None and r.status is JobStatus.AWAITING_REVIEW
    ]
    if code is Exit.UNFINISHED and waiting and len(waiting) == len(outcome.unfinished()):
        out.print(
            f"[yellow]awaiting review[/] ({escape(counts)}): decide on the page (`studio review`) or with "
            f"`studio review {escape(waiting[0])} --approve TYPE:N`",
            highlight=False,
        )
    elif code is Exit.UNFINISHED:
        out.print(
            f"[yellow]still running after {args.timeout:g} s[/] ({escape(counts)}); keep following: "
            f"{escape(keep_following(outcome.unfinished()))}",
            highlight=False,
        )
    elif code is Exit.OK:
        out.print(f"[green]done[/]: {escape(counts)}", highlight=False)
    else:
        out.print(f"[red]done, not all succeeded[/]: {escape(counts)}", highlight=False)
        for job_id, record in outcome.records.items():
            if record is not None and record.status is not JobStatus.SUCCEEDED:
                out.print(f"  {job_id} {record.status.value}: {escape(record.error or '')}", highlight=False)
                for step in views.next_steps(record)[:2]:
                    out.print(f"    {escape(step)}", highlight=False)
        for progress in outcome.catalogues:
            failed = [row for row in outcome.rows.get(progress.key, []) if row.outcome != "SUCCEEDED"]
            if failed or progress.failed:
                where = f"; the report: {stack.s3_url(progress.report)}" if progress.report else ""
                out.print(
                    f"  {escape(progress.key)}: {max(len(failed), progress.failed)} of {progress.rows} rows "
                    f"failed or were rejected (each named above){escape(where)}",
                    highlight=False,
                )
                out.print("    fix those rows and upload the catalogue again (a new version is a new run)")
    return code


def _regenerate(args: argparse.Namespace) -> int:
    from studio_cli.regenerating import request_regeneration

    stack = stack_of(args)
    requested = request_regeneration(stack, args.job, args.types, args.generations, force=args.force)
    expected = Expected(jobs=[requested.job_id], command="regenerate")
    remember(stack.table, expected)
    if args.json and not args.watch:
        views.print_json(requested.document())
        return Exit.OK
    out = views.console()
    each = f", {requested.number_of_generations} each" if requested.number_of_generations else ""
    out.print(f"regeneration of {requested.base_job_id} requested: {', '.join(requested.image_types)}{each}")
    out.print(f"  request {stack.s3_url(requested.key)}")
    out.print(f"  new job [bold]{requested.job_id}[/]")
    if args.watch:
        return _follow(stack, expected, args)
    out.print(f"Follow it: [bold]studio watch {requested.job_id}[/]")
    return Exit.OK


def _resume(args: argparse.Namespace) -> int:
    from studio_core.aws.executions import Executions
    from studio_core.domain.errors import InvalidJob
    from studio_core.steps.resume import resume_job

    stack = stack_of(args)
    if not stack.state_machine_arn:
        raise CliError(
            "the stack's state machine is not known (STUDIO_STATE_MACHINE_ARN)",
            hint="source the local stack's env file, or pass --stack NAME",
        )
    try:
        name = resume_job(
            args.job,
            jobs=stack.jobs(),
            executions=Executions(stack.state_machine_arn, stack.client("stepfunctions")),
        )
    except InvalidJob as exc:
        raise Refused(str(exc)) from None
    except LookupError as exc:
        raise NotFound(str(exc), hint="`studio status` lists the jobs") from None
    expected = Expected(jobs=[args.job], command="resume")
    remember(stack.table, expected)
    out = views.console()
    out.print(f"resuming {args.job}: execution {name} checks its operations again and copies what finished")
    if args.watch:
        return _follow(stack, expected, args)
    out.print(f"Follow it: [bold]studio watch {args.job}[/]")
    return Exit.OK


def _review(args: argparse.Namespace) -> int:
    from studio_cli.reviewing import (
        decision_document,
        parse_approval,
        parse_rejection,
        retry_kinds,
        write_decision,
    )

    stack = stack_of(args)
    by = args.by or who_am_i(stack, "studio review")
    if args.job is None:
        if args.approve or args.reject or args.retry:
            raise UsageError(
                "--approve, --reject and --retry need a JOB", hint="studio review JOB --approve TYPE:N"
            )
        return _serve_review(stack, by, args.port)
    record = stack.jobs().get(args.job)
    if record is None:
        raise NotFound(
            f"there is no job {args.job!r} in {stack.table}",
            hint="`studio review` lists those awaiting review",
        )
    if not (args.approve or args.reject or args.retry):
        raise UsageError(
            "say what to decide",
            hint=f'studio review {args.job} --approve front/standing:1 --reject back/walking:"why"',
        )
    approve: dict[str, list[int]] = {}
    for text in args.approve:
        label, numbers = parse_approval(text)
        approve.setdefault(label, []).extend(numbers)
    reject = dict(parse_rejection(text) for text in args.reject)
    document = decision_document(
        record, approve=approve, reject=reject, retry=retry_kinds(args.retry), by=by, note=args.note
    )
    written = write_decision(stack.storage(), record, document)
    if args.json:
        views.print_json(
            {"key": written.key, "decision": written.document, "quote": written.quote, "what": written.what}
        )
        return Exit.OK
    out = views.console()
    out.print(f"decision for {record.job_id} written: {escape(stack.s3_url(written.key))}")
    out.print(f"  {escape(written.what)}")
    if written.quote["operations"]:
        out.print(f"  {_quote_text(written.quote)}")
    answer = escape(stack.s3_url(written.answer_key()))
    out.print(f"  the pipeline answers in {answer}; follow it: studio watch {record.job_id}")
    return Exit.OK


def _serve_review(stack: Stack, by: str, port: int) -> int:
    from studio_cli.review_server import ReviewSite, serve

    out = views.console()

    def ready(url: str) -> None:
        out.print(
            f"Review page: [bold]{url}[/]  (decisions are written as {escape(by)}; Ctrl-C stops)",
            highlight=False,
        )
        sys.stdout.flush()

    try:
        serve(ReviewSite(stack, by), port, ready)
    except KeyboardInterrupt:
        out.print("stopped the review page; decisions already written stand")
        return Exit.OK
    except OSError as exc:
        raise CliError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="choose another --port"
        ) from None
    return Exit.OK


def _redrive(args: argparse.Namespace) -> int:
    from studio_core.aws.dead_letters import redrive

    stack = stack_of(args)
    if not stack.queue_url:
        raise CliError(
            "the stack's ingest queue is not known (STUDIO_QUEUE_URL)",
            hint="source the local stack's env file, or pass --stack NAME",
        )
    moved = redrive(stack.queue_url, stack.client("sqs"), limit=args.limit)
    if args.json:
        views.print_json(
            {"dead_letter_queue_url": moved.dead_letter_queue_url, "moved": moved.moved, "left": moved.left}
        )
    elif moved.moved or moved.left:
        out = views.console()
        out.print(f"moved {moved.moved} message(s) from the dead-letter queue back to the ingest queue")
        if moved.left:
            out.print(
                f"[red]{moved.left} could not be sent back[/] and are still in {moved.dead_letter_queue_url}"
            )
        out.print(
            "Ingest handles them again (a duplicate starts nothing); follow new jobs with `studio watch`."
        )
    else:
        views.console().print("the dead-letter queue is empty: nothing to redrive")
    return Exit.FAILED if moved.left else Exit.OK


def _results(args: argparse.Namespace) -> int:
    from studio_cli.results import download, find_job, read_result

    stack = stack_of(args)
    record = find_job(stack, args.job)
    outcome = Exit.OK if record.status is JobStatus.SUCCEEDED else Exit.FAILED
    if not record.status.is_terminal:
        message = f"job {record.job_id} is {record.status.value}: it has no result yet"
        if args.json:
            views.print_json({"job_id": record.job_id, "status": record.status.value, "result": None})
        else:
            views.console(stderr=True).print(f"{message}; follow it: studio watch {record.job_id}")
        return Exit.UNFINISHED
    if not args.download:
        result = read_result(stack, record)
        if result is None:
            # Rejected at ingest: the record is all there is.
            result = {
                "job_id": record.job_id,
                "product_id": record.product_id,
                "status": record.status.value,
                "error": record.error,
            }
        views.print_json(result)
        return outcome
    saved = download(stack, record, Path(args.download))
    if args.json:
        views.print_json({**saved.document(), "status": record.status.value, "error": record.error})
        return outcome
    out = views.console()
    if record.status is not JobStatus.SUCCEEDED:
        out.print(
            f"job {escape(record.job_id)} [red]{record.status.value}[/]: "
            f"{escape(record.error or 'no reason recorded')}"
        )
    for key in saved.skipped:
        out.print(
            f"[yellow]skipped[/] {escape(printable(key))}: not a plain path inside "
            f"{escape(str(saved.directory))} ('..', '//', a leading '/' or a control character)"
        )
    if saved.images:
        out.print(f"saved {saved.images} image(s), result.json and the gallery to {saved.directory}")
    else:
        out.print(
            f"no generated images to download; saved what the job has ({len(saved.files)} file(s)) "
            f"to {saved.directory}"
        )
    out.print(f"open {saved.gallery}")
    return outcome


def _presets(args: argparse.Namespace) -> int:
    from studio_cli.presets import list_presets, presets_document, presets_table

    presets = list_presets(stack_of(args))
    if args.json:
        views.print_json(presets_document(presets))
    else:
        out = views.console()
        out.print(presets_table(presets))
        out.print(
            'Use one in product.json as "on_figure_model_preset_id" (instead of on_figure_model_settings).'
        )
    return Exit.OK


def _invoke(args: argparse.Namespace) -> int:
    from studio_cli.invoking import invoke, prepare_local_stack, read_event

    stack = stack_of(args)
    event = read_event(args.event)
    errors = views.console(stderr=True)
    made = prepare_local_stack(stack, event)
    if made:
        errors.print(
            "[dim]the local stack lacked what the event names; created " + escape("; ".join(made)) + "[/]",
            highlight=False,
        )
    invocation = invoke(stack, args.function, event)
    if invocation.logs:
        errors.print(
            f"[dim]--- logs of {invocation.function.logical_id} ({escape(invocation.log_source)}) ---[/]"
        )
        errors.file.flush()
        sys.stderr.write("".join(line + "\n" for line in invocation.logs))
        sys.stderr.flush()
        errors.print("[dim]--- end of logs ---[/]")
    elif not invocation.log_source:
        errors.print(
            "[dim](no logs: Lambda returned none and no local log file is named by STUDIO_LOCAL_LOG)[/]"
        )
    views.print_json(invocation.payload)
    if invocation.error:
        payload = invocation.payload if isinstance(invocation.payload, dict) else {}
        errors.print(
            f"[red]{invocation.function.logical_id} raised "
            f"{escape(str(payload.get('errorType', invocation.error)))}[/]: "
            f"{escape(str(payload.get('errorMessage', '')))}"
        )
        return Exit.FAILED
    return Exit.OK


def _sim(args: argparse.Namespace) -> int:
    from studio_sim.__main__ import main as sim_main

    return sim_main(args.sim_args)


def _seed_flows(args: argparse.Namespace) -> int:
    from studio_cli.seed_flows import run_seed_flows

    saved = run_seed_flows(Path(args.output))
    print(f"Done: {sum(saved.values())} images in {args.output}")
    return Exit.OK


def _local_up(args: argparse.Namespace) -> int:
    from studio_cli.demo import DEMO_OPERATION_SECONDS, DEMO_PARAMETERS
    from studio_cli.local_up import TO_TERMINAL, UpOptions, run

    parameters = dict(DEMO_PARAMETERS) if args.quick else {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(
                f"--parameter {item!r} is not NAME=VALUE", hint="e.g. --parameter PollMinWaitSeconds=1"
            )
        parameters[name] = value
    return run(
        UpOptions(
            env_file=Path(args.env_file),
            log_file=None if args.log_file == TO_TERMINAL else Path(args.log_file),
            port=args.port,
            sim_port=args.sim_port,
            parameters=parameters,
            operation_seconds=args.operation_seconds or (DEMO_OPERATION_SECONDS if args.quick else 4.0),
            batching_window_seconds=args.batching_window,
        )
    )


def _demo(args: argparse.Namespace) -> int:
    from studio_cli.demo import run_local_demo

    return run_local_demo(Path(args.output))


# --- the parser -------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """Usage errors name the command they belong to, with its usage, and a close match if any."""

    def error(self, message: str) -> None:  # type: ignore[override]
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            choices = re.findall(r"'([^']*)'", choice.group(2))
            message += did_you_mean(choice.group(1), choices)
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: {message}\n")
        raise SystemExit(Exit.USAGE)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            # The (sub)command whose line it is answers, with its own usage: not the top level's.
            owner: argparse.ArgumentParser = getattr(parsed, "parser", None) or self
            hint = did_you_mean(extras[0].split("=", 1)[0], list(owner._option_string_actions))
            owner.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed


def did_you_mean(given: str, known: Sequence[str]) -> str:
    """ "; did you mean --watch?" for a close match (argparse's own suggestions need Python 3.14)."""
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def generations(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 4:
        raise argparse.ArgumentTypeError(f"{value!r} is not 1-4 (Aiuta makes 1 to 4 images per type)")
    return int(value)


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return seconds


def status_name(value: str) -> str:
    if value.upper() not in JobStatus.__members__:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(JobStatus.__members__)}")
    return value.upper()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="a deployed stack, found by its CloudFormation outputs (default: the environment)",
    )
    reading = argparse.ArgumentParser(add_help=False, parents=[common])
    reading.add_argument("--json", action="store_true", help="JSON on stdout instead of tables")
    following = argparse.ArgumentParser(add_help=False)
    following.add_argument(
        "--timeout",
        type=positive_seconds,
        default=600,
        metavar="SECONDS",
        help="give up waiting after this many seconds, exit code 3 (default: 600)",
    )
    following.add_argument("--interval", type=positive_seconds, default=1.0, help="seconds between looks")

    parser = Parser(
        prog="studio",
        description="Studio Pipeline: product photos in S3 -> studio visuals from the Aiuta Studio API.",
        epilog="Exit codes: 0 ok, 1 the job or request failed, 2 usage, 3 still running, 130 interrupted.",
    )
    parser.add_argument(
        "--stack", metavar="NAME", help="a deployed stack, found by its CloudFormation outputs"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)

    local = commands.add_parser("local", help="the whole product on this machine")
    local_commands = local.add_subparsers(
        dest="local_command", metavar="COMMAND", required=True, parser_class=Parser
    )
    up = local_commands.add_parser(
        "up", help="moto server + Studio simulator + template.yaml deployed, in the foreground"
    )
    up.add_argument(
        "--env-file",
        default=".local-stack/env",
        metavar="PATH",
        help="where to write `export NAME=value` lines (default .local-stack/env; removed on exit)",
    )
    up.add_argument(
        "--log-file",
        default=".local-stack/local.log",
        metavar="PATH",
        help="where the stack's logs go (default .local-stack/local.log; - for this terminal)",
    )
    up.add_argument("--port", type=int, default=0, help="moto server port (default: any free port)")
    up.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any free port)")
    up.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, e.g. PollMinWaitSeconds=1 (repeatable)",
    )
    up.add_argument(
        "--operation-seconds",
        type=float,
        help="how long simulated operations take (default 4, 3 with --quick)",
    )
    up.add_argument(
        "--quick",
        action="store_true",
        help="the demo's short poll waits, quiet period and operations (seconds); --parameter wins",
    )
    up.add_argument(
        "--batching-window",
        type=float,
        metavar="SECONDS",
        help="replace the ingest queue's MaximumBatchingWindowInSeconds (0: deliver at once; tests, demos)",
    )
    up.set_defaults(run=_local_up)

    submit = commands.add_parser(
        "submit",
        parents=[reading, following],
        help="check, then upload product folders (or a .csv/.jsonl catalogue) to the inbox",
    )
    submit.add_argument(
        "paths", nargs="+", metavar="PATH", help="a folder of photos (+ product.json), or a catalogue"
    )
    submit.add_argument(
        "--product-id", help="the product id of the one folder given (default: the folder's name)"
    )
    submit.add_argument(
        "--replace",
        action="store_true",
        help="remove files an earlier upload left in the product's inbox folder",
    )
    submit.add_argument(
        "--allow-invalid-rows", action="store_true", help="upload a catalogue even if some rows will fail"
    )
    submit.add_argument(
        "--force",
        action="store_true",
        help="generate again (and pay again) work a job already did; recorded as forced",
    )
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="only say what it would pay: new, changed and unchanged work, operations and images",
    )
    submit.add_argument("--watch", action="store_true", help="then follow the jobs until they end")
    submit.set_defaults(run=_submit)

    status = commands.add_parser("status", parents=[reading], help="the jobs, or one job in detail")
    status.add_argument("job", nargs="?", help="a job id: that job in detail")
    status.add_argument(
        "--status", type=status_name, metavar="STATUS", help="only jobs in this status (FAILED, PARTIAL, ...)"
    )
    status.add_argument("--product", metavar="PRODUCT", help="only this product's jobs")
    status.add_argument("--limit", type=int, default=50, help="the latest N jobs (default 50; 0 for all)")
    status.set_defaults(run=_status)

    watch = commands.add_parser(
        "watch",
        parents=[reading, following],
        help="follow jobs live until they end; the exit code is their outcome",
        description=(
            "Follow jobs (and catalogues) until they end, 600 s at most unless --timeout says otherwise. "
            "A job not recorded yet is waited for: one no command announced is named at once as not "
            "existing yet. The exit code is the outcome: 0 all succeeded, 1 one did not, 3 still running."
        ),
    )
    watch.add_argument(
        "jobs",
        nargs="*",
        metavar="JOB",
        help=(
            "job ids, or catalogues (inbox/feed.csv); default: what the last submit / regenerate / "
            "resume expects, else every running job"
        ),
    )
    watch.set_defaults(run=_watch)

    regenerate = commands.add_parser(
        "regenerate",
        parents=[reading, following],
        help="regenerate on-figure image types of a finished job, as a new job",
    )
    regenerate.add_argument("job", help="the job id")
    regenerate.add_argument(
        "--type",
        dest="types",
        action="append",
        required=True,
        metavar="VIEWPOINT/POSE",
        help="e.g. back/walking (repeatable)",
    )
    regenerate.add_argument(
        "--generations", type=generations, help="images per type (1-4; default the job's)"
    )
    regenerate.add_argument(
        "--force", action="store_true", help="request (and pay for) a round that was requested before"
    )
    regenerate.add_argument("--watch", action="store_true", help="then follow the new job until it ends")
    regenerate.set_defaults(run=_regenerate)

    cancel = commands.add_parser(
        "cancel",
        parents=[reading],
        help="stop a job, or every job of a catalogue, before it pays for more",
    )
    cancel.add_argument("target", help="a job id, or a catalogue (feed.csv, inbox/feed.jsonl)")
    cancel.set_defaults(run=_cancel)

    review = commands.add_parser(
        "review",
        parents=[reading],
        help="review generated images: a page on 127.0.0.1, or a decision for one job from the command line",
        description=(
            "Without JOB: serve the review page on 127.0.0.1 (the jobs and catalogues awaiting review, one "
            "job at a time, keyboard shortcuts), with your own AWS credentials; nothing runs in AWS for it. "
            "With JOB: write its decision: --approve TYPE:N[,N] (the page's image numbers), --reject "
            'TYPE:"reason" (made again: on-figure with the same model, flat-lay as a new operation), '
            "--retry KIND (a kind whose operation failed). The decision is a file under review/."
        ),
    )
    review.add_argument("job", nargs="?", help="the job to decide on (default: serve the review page)")
    review.add_argument(
        "--approve", action="append", default=[], metavar="TYPE:N", help="e.g. front/standing:2"
    )
    review.add_argument(
        "--reject",
        action="append",
        default=[],
        metavar="TYPE:REASON",
        help='e.g. back/walking:"hands cut off"',
    )
    review.add_argument("--retry", action="append", default=[], metavar="KIND", help="on_figure or flat_lay")
    review.add_argument("--by", help="who decides (default: your AWS identity)")
    review.add_argument("--note", help="a note kept with the decision")
    review.add_argument(
        "--port", type=int, default=8790, help="the review page's port on 127.0.0.1 (default 8790)"
    )
    review.set_defaults(run=_review)

    resume = commands.add_parser(
        "resume",
        parents=[common, following],
        help="check a TIMED_OUT (or PARTIAL) job's operations again and copy what finished since",
    )
    resume.add_argument("job", help="the job id")
    resume.add_argument("--watch", action="store_true", help="then follow the job until it ends")
    resume.set_defaults(run=_resume, json=False)

    redrive = commands.add_parser(
        "redrive",
        parents=[reading],
        help="send the ingest dead-letter queue's messages back to the ingest queue",
    )
    redrive.add_argument("--limit", type=int, help="at most this many messages (default: all)")
    redrive.set_defaults(run=_redrive)

    results = commands.add_parser(
        "results",
        parents=[reading],
        help="a job's result.json, or its images and gallery with --download DIR",
    )
    results.add_argument("job", help="the job id")
    results.add_argument(
        "--download",
        metavar="DIR",
        help="save the job's folder (images, result.json, gallery, inputs) to DIR/<job>/",
    )
    results.set_defaults(run=_results)

    presets = commands.add_parser(
        "presets", parents=[reading], help="the Aiuta model presets (id, settings, sample image)"
    )
    presets.set_defaults(run=_presets)

    invoke = commands.add_parser(
        "invoke",
        parents=[common],
        help="run one of the stack's functions on an event, like `sam local invoke`",
    )
    invoke.add_argument(
        "function", metavar="FUNCTION", help="its logical id (FinalizeFunction) or short name (finalize)"
    )
    invoke.add_argument(
        "-e",
        "--event",
        required=True,
        metavar="EVENT",
        help="the event: a JSON file (events/<name>.json) or - for stdin",
    )
    invoke.set_defaults(run=_invoke)

    demo = commands.add_parser("demo", help="the whole product on this machine, with sample products")
    demo.add_argument("--output", default="demo-output", help="where to save the images and galleries")
    demo.set_defaults(run=_demo)

    seed = commands.add_parser(
        "seed-flows", help="the three Studio workflow flows with the client against the simulator"
    )
    seed.add_argument("--output", default="demo-output/seed-flows", help="where to save the images")
    seed.set_defaults(run=_seed_flows)

    sim = commands.add_parser("sim", help="the Aiuta Studio API simulator (same flags as studio-sim)")
    sim.add_argument("sim_args", nargs=argparse.REMAINDER, help="flags passed to studio-sim")
    sim.set_defaults(run=_sim)
    for command in (
        up,
        submit,
        status,
        watch,
        regenerate,
        review,
        resume,
        redrive,
        results,
        presets,
        invoke,
        demo,
        seed,
    ):
        command.set_defaults(parser=command)
    return parser


# --- running ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    name = f"studio {args.command}"
    try:
        return int(run(args))
    except CliError as exc:
        report(name, exc.message, exc.hint)
        return int(exc.code)
    except KeyboardInterrupt:
        report(name, "interrupted", None)
        return Exit.INTERRUPTED
    except (ClientError, BotoCoreError) as exc:
        message, hint = explain_aws_error(exc)
        report(name, message, hint)
        return Exit.FAILED
    except Exception as exc:
        if os.environ.get("STUDIO_DEBUG"):
            raise
        report(
            name,
            f"unexpected {type(exc).__name__}: {exc}",
            "a bug in studio: rerun with STUDIO_DEBUG=1 for the traceback and report it",
        )
        return Exit.FAILED


def report(name: str, message: str, hint: str | None) -> None:
    out = views.console(stderr=True)
    out.print(f"[bold red]{escape(name)}[/]: {escape(message)}")
    if hint:
        out.print(f"  [yellow]→[/] {escape(hint)}")


def explain_aws_error(exc: Exception) -> tuple[str, str | None]:
    """An AWS error as a sentence and what to do about it (never botocore's traceback)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if isinstance(exc, EndpointConnectionError) or (
        isinstance(exc, BotoCoreError) and "Connect" in type(exc).__name__
    ):
        if endpoint:
            return (
                f"the local stack at {endpoint} does not answer: it has stopped, "
                "but its environment is still set",
                "start it again (`studio local up`, then `. .local-stack/env`), "
                "or `unset AWS_ENDPOINT_URL` for AWS",
            )
        return f"AWS could not be reached: {exc}", "check the network and AWS_REGION"
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials",
            "configure them (`aws configure`, AWS_PROFILE) or source the local stack's env file",
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region", "set AWS_REGION (or AWS_DEFAULT_REGION)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "Error"), error.get("Message", "")
        if code in ("ResourceNotFoundException", "NoSuchBucket"):
            return (
                f"AWS says {code}: {text}",
                "the environment names a stack that no longer exists: source the env file of the running one",
            )
        if code in (
            "AccessDenied",
            "AccessDeniedException",
            "ExpiredToken",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
        ):
            return f"AWS refused the request ({code}): {text}", "check AWS_PROFILE and your credentials"
        return f"AWS answered {code}: {text}", None
    return f"AWS client error: {exc}", None


if __name__ == "__main__":
    sys.exit(main())
