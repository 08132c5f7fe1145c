"""How jobs look on a terminal (rich tables and panels) and as JSON (``--json``).

A job is shown as a person reads it: operations with their status and error, images with their
keys, rounds and what their checks found, timings and the execution's console link; never the
raw DynamoDB item. Text that comes from the record (ids, titles, errors, keys) goes into tables as
``plain`` text: control characters removed (``printable``), and never read as rich markup (an
error text ``[link=...]`` would otherwise become a clickable link).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from studio_cli.printable import printable
from studio_cli.stack import Damaged, Stack, repair_hint
from studio_core.domain.gallery import gallery_key
from studio_core.domain.keys import CATALOGUE_SUFFIXES, error_report_key, result_key
from studio_core.domain.overview import review_text
from studio_core.domain.record import JobRecord, JobStatus, RequestKind
from studio_core.domain.review import describe_decision

STATUS_STYLES = {
    JobStatus.SUCCEEDED: "bold green",
    JobStatus.PARTIAL: "bold yellow",
    JobStatus.FAILED: "bold red",
    JobStatus.TIMED_OUT: "bold red",
}
RUNNING_STYLE = "bold cyan"


def console(stderr: bool = False) -> Console:
    """A console for this process: colour on a terminal, plain wide text in a pipe or a file."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else max(int(os.environ.get("COLUMNS", "0") or 0), 200)
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


def plain(value: object, style: str = "") -> Text:
    """Text from the bucket, the table or Aiuta, as a cell: printable, and no markup."""
    return Text(printable(str(value)), style=style)


def status_text(status: JobStatus | str) -> Text:
    value = JobStatus(status) if status in JobStatus.__members__.values() else None
    style = STATUS_STYLES.get(value, RUNNING_STYLE) if value else RUNNING_STYLE
    return plain(getattr(status, "value", status), style=style)


def print_json(document: Any) -> None:
    """JSON on stdout, nothing else: for ``jq`` and scripts."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


# --- a list of jobs ---------------------------------------------------------------------------


def jobs_table(records: Sequence[JobRecord], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in ("JOB", "PRODUCT", "STATUS", "KIND", "IMAGES", "TIME", "NOTE"):
        table.add_column(column, no_wrap=column != "NOTE", overflow="fold")
    for record in records:
        kinds = ",".join(k.value for k in record.job.kind) if record.job else "-"
        table.add_row(
            plain(record.job_id),
            plain(record.product_id),
            status_text(record.status),
            kinds,
            images_summary(record),
            elapsed(record),
            plain(note(record)),
        )
    return table


def print_damaged(damaged: Sequence[Damaged], table: str, out: Console) -> None:
    """Items that are no job record, each in a line with what is wrong, and how to remove them."""
    for item in damaged:
        out.print(f"[red]damaged[/] {escape(item.job_id)}: {escape(item.problem)}", highlight=False)
    if damaged:
        out.print(f"  [yellow]→[/] {escape(repair_hint(table, damaged[0].job_id))}", highlight=False)


def images_summary(record: JobRecord) -> str:
    copied, missing = record.image_counts()
    return f"{copied}" + (f" (+{missing} missing)" if missing else "")


def note(record: JobRecord, limit: int = 100) -> str:
    text = record.error or ""
    if not text and record.base_job_id:
        text = f"regenerates {record.base_job_id}"
    if not text and record.catalogue_line and record.source_key:
        text = f"{record.source_key} line {record.catalogue_line}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def elapsed(record: JobRecord) -> str:
    seconds = seconds_between(record.created_at, record.finished_at)
    if seconds is None:
        return "-"
    return duration(seconds) + ("" if record.finished_at else " so far")


def seconds_between(start: str | None, end: str | None) -> float | None:
    try:
        begin = datetime.fromisoformat(start) if start else None
        finish = datetime.fromisoformat(end) if end else datetime.now(UTC)
    except ValueError:
        return None
    return (finish - begin).total_seconds() if begin else None


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --- one job ----------------------------------------------------------------------------------


def job_detail(stack: Stack, record: JobRecord) -> RenderableType:
    """Everything about one job, in the order a person asks: what, how it went, where things are."""
    parts: list[RenderableType] = [_headline(record)]
    if record.error:
        parts.append(plain(f"  {record.error}", style=STATUS_STYLES.get(record.status, "red")))
    parts.append(_facts(stack, record))
    if record.operations:
        parts.append(_operations(record))
    if record.images:
        parts.append(_images(record))
    if record.rounds:
        parts.append(_rounds(record))
    hints = next_steps(record)
    if hints:
        parts.append(Text.assemble(("Next  ", "bold"), "\n      ".join(printable(h) for h in hints)))
    return Group(*parts)


def _headline(record: JobRecord) -> Text:
    title = record.job.product.title if record.job and record.job.product.title else None
    return Text.assemble(
        (printable(record.product_id), "bold"),
        (f" ({printable(title)})" if title else ""),
        "  job ",
        (printable(record.job_id), "bold"),
        "  ",
        status_text(record.status),
    )


def _facts(stack: Stack, record: JobRecord) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    source = record.request_kind.value if record.request_kind else "job"
    if record.request_kind is None and is_catalogue_row(record):
        source = "catalogue row" + (f" {row_number(record)}" if row_number(record) else "")
    where = f" from {record.source_key}" if record.source_key else ""
    line = f" line {record.catalogue_line}" if record.catalogue_line else ""
    facts.add_row(
        "Input",
        plain(
            f"{source}{where}{line}" + (f", regenerating {record.base_job_id}" if record.base_job_id else "")
        ),
    )
    if record.job is not None:
        facts.add_row("Request", plain(request_summary(record)))
    facts.add_row("Work", plain(work_summary(record)))
    if record.review_state or record.review_decisions or (record.job and record.job.review):
        facts.add_row("Review", plain(review_summary(record)))
    facts.add_row("Timings", plain(timings(record)))
    arn = stack.execution_arn(record)
    if arn:
        facts.add_row("Execution", plain(arn))
        url = stack.console_url(arn)
        facts.add_row(
            "Console",
            plain(
                url
                or "(none locally: aws stepfunctions get-execution-history --execution-arn <the ARN above>)"
            ),
        )
    # Only the files the job has: a job rejected before it ran has neither result nor gallery.
    storage = stack.storage()
    for name, key in where_things_are(record).items():
        if storage.exists(key):
            facts.add_row(name, plain(stack.s3_url(key)))
        elif name == "Result" and not record.status.is_terminal:
            facts.add_row(name, "written when the job ends")
    if record.cleanup_problems:
        facts.add_row("Cleanup", plain("; ".join(record.cleanup_problems)))
    return facts


def work_summary(record: JobRecord) -> str:
    """Why the job runs, what it was quoted and what it paid: ``new · quoted 2 operations, 3
    images · paid 1 operation, 2 images · 3 later uploads unchanged``."""
    parts = [("forced: a new generation asked for on purpose" if record.forced else record.novelty or "new")]
    if record.retry_of:
        parts.append(f"runs again the work of {record.retry_of}")
    if record.quote is not None:
        more = (
            f" (+ up to {record.quote.may_add_images} for automatic rounds)"
            if record.quote.may_add_images
            else ""
        )
        parts.append(f"quoted {record.quote.operations} operation(s), {record.quote.images} image(s){more}")
    paid = record.paid()
    parts.append(f"paid {paid.operations} operation(s), {paid.images} image(s)")
    if record.unchanged_requests:
        parts.append(
            f"{record.unchanged_requests} later upload(s) of the same work started nothing "
            f"(last: {record.last_unchanged_source})"
        )
    if record.cancel_requested_at:
        parts.append(f"cancelled by {record.cancelled_by} at {record.cancel_requested_at}")
    return " · ".join(parts)


def where_things_are(record: JobRecord) -> dict[str, str]:
    """The keys a job's files have (or will have): its result and gallery once it ran, else the
    error report of the input it was rejected for."""
    if ran(record):
        return {
            "Result": record.result_key or result_key(record.product_id, record.job_id),
            "Gallery": gallery_key(record.product_id, record.job_id),
        }
    if record.source_key:
        return {"Error report": error_report_key(record.source_key, record.product_id)}
    return {}


def ran(record: JobRecord) -> bool:
    """Whether the job had an execution (a job rejected at ingest or by a catalogue's check had none)."""
    return bool(record.execution_name or record.operations or record.result_key)


def is_catalogue_row(record: JobRecord) -> bool:
    source = (record.source_key or "").lower()
    return record.request_kind is RequestKind.CATALOGUE or source.endswith(tuple(CATALOGUE_SUFFIXES))


def row_number(record: JobRecord) -> int | None:
    """The catalogue row of a job: recorded, or named by the check's rejection ("row 5 ...")."""
    if record.catalogue_line:
        return record.catalogue_line
    found = re.match(r"(?:row|line) (\d+)\b", record.error or "")
    return int(found.group(1)) if found else None


def when(timestamp: str | None) -> str:
    """A stored time (whatever its precision) as every view shows one: UTC, to the second."""
    if not timestamp:
        return "-"
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def request_summary(record: JobRecord) -> str:
    assert record.job is not None
    spec = record.job
    parts = [
        "+".join(k.value for k in spec.kind),
        f"{spec.input_mode.value} inputs",
        str(getattr(spec.operation_priority, "value", spec.operation_priority)),
        f"{spec.number_of_generations} generation(s) per type",
    ]
    for kind in spec.kind:
        parts.append(f"{kind.value}: " + ", ".join(t.label for t in spec.types_for(kind)))
    if spec.output_image_size:
        parts.append(f"{spec.output_image_size.width}x{spec.output_image_size.height}")
    if spec.on_figure_model_preset_id:
        parts.append(f"preset {spec.on_figure_model_preset_id}")
    if spec.regeneration.rounds:
        parts.append(f"{len(spec.regeneration.rounds)} planned regeneration round(s)")
    return " · ".join(parts)


def timings(record: JobRecord) -> str:
    parts = [f"created {when(record.created_at)}"]
    submitted = seconds_between(record.created_at, record.submitted_at) if record.submitted_at else None
    if submitted is not None:
        parts.append(f"submitted to Aiuta after {duration(submitted)}")
    if record.poll_attempts:
        # Checks that change nothing are recorded at most once a minute: while the job runs the
        # count is the last recorded one; the round's last check is always recorded.
        recorded = "" if record.finished_at else f", the last recorded at {when(record.last_checked_at)}"
        parts.append(f"{record.poll_attempts} status check(s){recorded}")
    total = seconds_between(record.created_at, record.finished_at)
    if record.finished_at and total is not None:
        parts.append(f"finished {when(record.finished_at)} ({duration(total)} in all)")
    elif total is not None:
        parts.append(f"running for {duration(total)}")
    if record.resumes:
        parts.append(f"resumed {record.resumes} time(s)")
    return " · ".join(parts)


def _operations(record: JobRecord) -> Table:
    table = Table(title="Aiuta operations", title_justify="left", header_style="bold", box=None)
    for column in ("KIND", "ROUND", "OPERATION", "STATUS", "TYPES", "ERROR"):
        table.add_column(column, overflow="fold")
    for op in record.operations:
        style = "green" if op.succeeded else "red" if op.failed else "cyan"
        table.add_row(
            op.kind.value,
            str(op.round),
            plain(op.operation_id or "(not created)"),
            plain(op.status, style=style),
            plain(", ".join(t.label for t in op.image_types)),
            plain(op.error or ""),
        )
    return table


def _images(record: JobRecord) -> Table:
    table = Table(title="Images", title_justify="left", header_style="bold", box=None)
    for column in ("KIND", "TYPE", "V", "ROUND", "KEY", "SIZE", "PROBLEM"):
        table.add_column(column, overflow="fold")
    for image in sorted(record.images, key=lambda i: (i.kind.value, i.round, i.image_type.label, i.variant)):
        size = f"{image.width}x{image.height}" if image.width and image.height else ""
        table.add_row(
            image.kind.value,
            plain(image.image_type.label),
            str(image.variant),
            str(image.round),
            plain(image.key) if image.key else Text("not copied", style="red"),
            size,
            plain(image.error or "", style="red"),
        )
    return table


def _rounds(record: JobRecord) -> Table:
    table = Table(title="Rounds", title_justify="left", header_style="bold", box=None)
    table.add_column("ROUND")
    table.add_column("CHECKS", overflow="fold")
    for entry in record.rounds:
        table.add_row(str(entry.round), plain("; ".join(entry.findings) or "every image arrived as asked"))
    return table


def review_summary(record: JobRecord) -> str:
    """``required: waiting for a decision on round 0 (by ...); 1 decision; 3 image(s) published``."""
    mode = record.job.review_mode.value if record.job else "none"
    parts = [f"{mode}: {review_text(record)}"]
    if record.status is JobStatus.AWAITING_REVIEW:
        parts[0] += f" on round {record.review_round or 0}" + (
            f" (decide by {record.review_deadline_at})" if record.review_deadline_at else ""
        )
    for decision in record.review_decisions:
        parts.append(f"{decision.at} {decision.by}: {describe_decision(decision)}")
    if record.published_images:
        parts.append(
            f"{len(record.published_images)} image(s) published: {record.published_images[0].key} ..."
        )
    return "\n".join(parts)


def next_steps(record: JobRecord) -> list[str]:
    """What a person can do about the job now, as commands."""
    job = record.job_id
    if record.status is JobStatus.AWAITING_REVIEW:
        return [
            f"studio review   (the review page), or studio review {job} --approve TYPE:N --reject TYPE:REASON"
        ]
    if not record.status.is_terminal:
        return [f"studio watch {job}"]
    steps = []
    if record.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL):
        steps.append(f"studio results {job} --download DIR   (images, result.json and the gallery)")
    if record.can_resume():
        steps.append(f"studio resume {job}   (check the unfinished operations again)")
    if record.finished_on_figure_operations():
        steps.append(f"studio regenerate {job} --type VIEWPOINT/POSE   (more on-figure shots)")
    if record.status is JobStatus.FAILED and not ran(record):
        if is_catalogue_row(record):
            row = f"row {row_number(record)}" if row_number(record) else "the row named above"
            source = record.source_key or "inbox/FILE"
            steps.append(
                f"fix {row} of {source} and upload the catalogue again: studio submit "
                f"{source.rsplit('/', 1)[-1]}   (a new version is a new run)"
            )
        elif record.request_kind is RequestKind.REGENERATION:
            steps.append(
                "fix the regeneration request named above and drop it again (or `studio regenerate`)"
            )
        else:
            steps.append("fix the input named above and submit the folder again")
    return steps


def job_document(stack: Stack, record: JobRecord) -> dict[str, Any]:
    """One job for ``--json``: the typed record plus the links the terminal view shows."""
    arn = stack.execution_arn(record)
    files = where_things_are(record)
    return {
        **record.model_dump(mode="json", exclude_none=True),
        "execution_arn": arn,
        "console_url": stack.console_url(arn) if arn else None,
        # None for a job that never ran: it has neither
        "result_key": files.get("Result"),
        "gallery_key": files.get("Gallery"),
        "next": next_steps(record),
    }


def panel(title: str, lines: Iterable[str], style: str = "cyan") -> Panel:
    return Panel(
        "\n".join(escape(printable(line)) for line in lines),
        title=title,
        title_align="left",
        border_style=style,
    )
