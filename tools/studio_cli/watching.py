"""``studio watch``: follow named jobs (waiting for them to appear) until they end.

Jobs are followed by id: those given, else those the last ``submit`` / ``regenerate`` / ``resume``
expected, else whatever is running now. A job not recorded yet is shown as waiting (ingest has
not got to it, or a folder without product.json is still in its quiet period), never taken for
finished. A catalogue gets a progress bar: done / failed / running of its rows. On a terminal
the view updates in place; in a pipe or a log each change is one line.

The exit code is the outcome: 0 every job SUCCEEDED, 1 one ended FAILED, PARTIAL or TIMED_OUT,
3 some were still running (or never appeared) when ``--timeout`` came.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from studio_cli.errors import Exit
from studio_cli.last_jobs import Catalogue, Expected
from studio_cli.printable import printable
from studio_cli.stack import Stack
from studio_cli.views import elapsed, images_summary, note, plain, status_text
from studio_core.domain.record import JobRecord, JobStatus

WAITING = "waiting"  # not recorded yet
ROWS_SHOWN = 20

# The Labels of the catalogue state machine's two Maps; a map run's ARN carries its Map's label
# (arn:aws:states:<region>:<account>:mapRun:<state machine>/<label>:<id>).
CHECK_MAP_LABEL = "RecordRows"
JOBS_MAP_LABEL = "RunJobs"


@dataclass(frozen=True)
class CatalogueProgress:
    """A catalogue's rows by what has become of them so far.

    From the catalogue run's Map Run when the stack has one (``done``: the row's job ran to a
    successful end, SUCCEEDED or PARTIAL; ``failed``: a rejected row or a job that failed or timed
    out), else from the rows' job records. ``ended``: the run is over (its report is written).
    ``checked``: while the run still checks its rows (before any job runs), how many are checked;
    ``failed`` then counts the rejected ones.
    """

    key: str
    rows: int
    done: int = 0
    failed: int = 0
    running: int = 0
    ended: bool = True
    report: str | None = None
    checked: int | None = None

    @property
    def waiting(self) -> int:
        return max(0, self.rows - self.done - self.failed - self.running)

    @property
    def finished(self) -> bool:
        return self.ended and self.done + self.failed >= self.rows

    def line(self) -> str:
        if self.checked is not None:
            return f"{self.key}: checking rows, {self.checked} of {self.rows} checked, {self.failed} rejected"
        return (
            f"{self.key}: {self.done} done, {self.failed} failed, {self.running} running, "
            f"{self.waiting} waiting, of {self.rows}"
        )


def map_run_progress(stack: Stack, catalogue: Catalogue) -> CatalogueProgress | None:
    """The catalogue run's own counts (its Map Run), or None when this stack runs no catalogue runs."""
    if not stack.catalogue_state_machine_arn or not catalogue.etag:
        return None
    from studio_core.steps.catalogue_run import REPORT_NAME
    from studio_core.steps.ingest.catalogues import catalogue_run_name, report_prefix

    name = catalogue_run_name(catalogue.key, catalogue.etag)
    execution = f"{stack.catalogue_state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    sfn = stack.client("stepfunctions")
    try:
        status = sfn.describe_execution(executionArn=execution)["status"]
        runs = sfn.list_map_runs(executionArn=execution).get("mapRuns", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return CatalogueProgress(catalogue.key, catalogue.rows, ended=False)  # not started yet
        raise
    ended = status != "RUNNING"
    report = f"{report_prefix(catalogue.key)}{REPORT_NAME}" if ended else None
    labelled = {_map_label(run["mapRunArn"]): run["mapRunArn"] for run in runs}
    # A run of an older definition has one unlabelled map run: its jobs'.
    older = [arn for label, arn in labelled.items() if label not in (CHECK_MAP_LABEL, JOBS_MAP_LABEL)]
    jobs_run = labelled.get(JOBS_MAP_LABEL) or (older[0] if older else None)
    checking = jobs_run is None and CHECK_MAP_LABEL in labelled and not ended
    chosen = jobs_run or labelled.get(CHECK_MAP_LABEL)
    if chosen is None:
        return CatalogueProgress(catalogue.key, catalogue.rows, ended=ended, report=report)
    counts = sfn.describe_map_run(mapRunArn=chosen)["itemCounts"]
    failed = sum(int(counts.get(n, 0)) for n in ("failed", "timedOut", "aborted"))
    total = int(counts.get("total") or catalogue.rows)
    if checking:
        checked = int(counts.get("succeeded", 0)) + failed
        return CatalogueProgress(catalogue.key, total, failed=failed, ended=False, checked=checked)
    return CatalogueProgress(
        catalogue.key,
        total,
        done=int(counts.get("succeeded", 0)),
        failed=failed,
        running=int(counts.get("running", 0)),
        ended=ended,
        report=report,
    )


def _map_label(map_run_arn: str) -> str:
    run = map_run_arn.split(":mapRun:", 1)[-1]
    return run.split("/", 1)[-1].split(":", 1)[0]


def catalogue_progress(catalogue: Catalogue, records: dict[str, JobRecord | None]) -> CatalogueProgress:
    """Counts from the rows' job records (a row not recorded yet is waiting)."""
    states = [records.get(job_id) for job_id in catalogue.jobs]
    done = sum(1 for r in states if r is not None and r.status is JobStatus.SUCCEEDED)
    failed = sum(
        1 for r in states if r is not None and r.status.is_terminal and r.status is not JobStatus.SUCCEEDED
    )
    running = sum(1 for r in states if r is not None and not r.status.is_terminal)
    # Rows without a product id never become jobs: they failed at ingest (the catalogue's report).
    failed += max(0, catalogue.rows - len(catalogue.jobs))
    return CatalogueProgress(catalogue.key, catalogue.rows, done, failed, running)


@dataclass
class WatchOutcome:
    records: dict[str, JobRecord | None]
    timed_out: bool = False
    catalogues: list[CatalogueProgress] = field(default_factory=list)

    @property
    def exit_code(self) -> Exit:
        if (
            self.timed_out
            or any(r is None or not r.status.is_terminal for r in self.records.values())
            or any(not c.finished for c in self.catalogues)
        ):
            return Exit.UNFINISHED
        rows_failed = any(c.failed for c in self.catalogues)  # rows that never became a job count too
        if not rows_failed and all(
            r is not None and r.status is JobStatus.SUCCEEDED for r in self.records.values()
        ):
            return Exit.OK
        return Exit.FAILED

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records.values():
            name = record.status.value if record else WAITING
            counts[name] = counts.get(name, 0) + 1
        return counts


def progress_text(record: JobRecord | None, quiet_seconds: int | None = None) -> str:
    """Where one job is, in a few words."""
    if record is None:
        wait = f"{quiet_seconds} s of quiet" if quiet_seconds is not None else "the folder's quiet period"
        return f"not recorded yet (ingest has not started it; a folder without product.json waits {wait})"
    if record.status is JobStatus.QUEUED:
        return "queued: the execution is starting"
    if record.status in (JobStatus.GENERATING, JobStatus.REGENERATING):
        current = [op for op in record.operations if op.round == record.round] or record.operations
        done = sum(1 for op in current if op.finished)
        which = f"round {record.round}: " if record.round else ""
        return f"{which}{done} of {len(current)} operation(s) finished at Aiuta" + (
            f", {record.poll_attempts} check(s)" if record.poll_attempts else ""
        )
    if record.status is JobStatus.COPYING:
        return "copying images into the bucket"
    return f"{images_summary(record)} image(s)" + (f": {note(record, 80)}" if record.error else "")


def render(
    job_ids: Sequence[str],
    records: dict[str, JobRecord | None],
    catalogues: Sequence[CatalogueProgress],
    started: float,
    quiet_seconds: int | None,
) -> RenderableType:
    parts: list[RenderableType] = []
    for progress in catalogues:
        bar = Table.grid(padding=(0, 1))
        if progress.checked is not None:
            bar.add_row(
                plain(progress.key, style="bold"),
                ProgressBar(total=max(progress.rows, 1), completed=progress.checked, width=30),
                Text.assemble(
                    f"checking rows: {progress.checked} of {progress.rows} checked",
                    " · ",
                    (f"{progress.failed} rejected", "red" if progress.failed else ""),
                ),
            )
            parts.append(bar)
            continue
        bar.add_row(
            Text(progress.key, style="bold"),
            ProgressBar(total=max(progress.rows, 1), completed=progress.done + progress.failed, width=30),
            Text.assemble(
                (f"{progress.done} done", "green"),
                " · ",
                (f"{progress.failed} failed", "red" if progress.failed else ""),
                " · ",
                (f"{progress.running} running", "cyan"),
                " · ",
                f"{progress.waiting} waiting, of {progress.rows}",
            ),
        )
        parts.append(bar)
    shown = list(job_ids)
    if shown:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("PRODUCT", "JOB", "STATUS", "TIME", "PROGRESS"):
            table.add_column(column, no_wrap=column != "PROGRESS", overflow="fold")
        for job_id in sorted(shown, key=lambda j: _ended(records.get(j)))[:ROWS_SHOWN]:
            record = records.get(job_id)
            table.add_row(
                plain(record.product_id if record else "?"),
                plain(job_id),
                status_text(record.status) if record else Text(WAITING, style="dim"),
                elapsed(record) if record else "-",
                plain(progress_text(record, quiet_seconds)),
            )
        if len(shown) > ROWS_SHOWN:
            table.caption = f"and {len(shown) - ROWS_SHOWN} more"
        parts.append(table)
    parts.append(
        Text(
            f"watching for {time.monotonic() - started:.0f} s; Ctrl-C stops watching, not the jobs",
            style="dim",
        )
    )
    return Group(*parts)


def _ended(record: JobRecord | None) -> bool:
    return record is not None and record.status.is_terminal


def follow(
    stack: Stack,
    expected: Expected,
    out: Console,
    *,
    timeout_seconds: float = 600,
    interval_seconds: float = 1.0,
    live: bool | None = None,
    on_change: Callable[[str], None] | None = None,
) -> WatchOutcome:
    """Follows the expected jobs until each has ended, or ``timeout_seconds`` have passed."""
    jobs = stack.jobs()
    job_ids = list(dict.fromkeys([*expected.jobs, *(j for c in expected.catalogues for j in c.jobs)]))
    quiet = stack.quiet_seconds()
    records: dict[str, JobRecord | None] = dict.fromkeys(job_ids)
    started = time.monotonic()
    deadline = started + timeout_seconds
    interval = max(interval_seconds, 0.02 * len(job_ids))
    say = on_change or (lambda line: out.print(printable(line), highlight=False, markup=False))
    shown: dict[str, str] = {}
    use_live = out.is_terminal if live is None else live

    pending_products = dict(expected.products)

    def progress_of(catalogue: Catalogue) -> CatalogueProgress:
        return map_run_progress(stack, catalogue) or catalogue_progress(catalogue, records)

    def poll() -> list[CatalogueProgress]:
        for product_id, since in list(pending_products.items()):
            newer = [r for r in jobs.for_product(product_id) if r.created_at >= since]
            if newer:
                del pending_products[product_id]
                job_ids.append(newer[0].job_id)
                records[newer[0].job_id] = newer[0]
        for job_id in job_ids:
            record = records.get(job_id)
            if record is None or not record.status.is_terminal:
                records[job_id] = jobs.get(job_id)
        return [progress_of(c) for c in expected.catalogues]

    def report(catalogues: list[CatalogueProgress]) -> None:
        for job_id in job_ids:
            record = records[job_id]
            state = record.status.value if record else WAITING
            if shown.get(job_id) != state and not (
                record is None and job_id not in shown and len(job_ids) > ROWS_SHOWN
            ):
                shown[job_id] = state
                product = record.product_id if record else ""
                reason = f"  {record.error}" if record and record.error and record.status.is_terminal else ""
                say(f"  {product:<22} {state:<12} {job_id}{reason}")
        for progress in catalogues:
            line = progress.line() + (f" (report: {progress.report})" if progress.report else "")
            if shown.get(progress.key) != line:
                shown[progress.key] = line
                say(f"  {line}")

    def finished() -> bool:
        return (
            not pending_products
            and all(c.finished for c in catalogues)
            and all(r is not None and r.status.is_terminal for r in records.values())
        )

    catalogues = poll()
    if use_live:
        with Live(
            render(job_ids, records, catalogues, started, quiet), console=out, refresh_per_second=4
        ) as view:
            while not finished() and time.monotonic() < deadline:
                time.sleep(interval)
                catalogues = poll()
                view.update(render(job_ids, records, catalogues, started, quiet))
    else:
        report(catalogues)
        while not finished() and time.monotonic() < deadline:
            time.sleep(interval)
            catalogues = poll()
            report(catalogues)
    for product_id in pending_products:  # never recorded: counted as waiting
        records[f"{product_id} (its next job)"] = None
    return WatchOutcome(records, timed_out=not finished(), catalogues=catalogues)


def running_now(stack: Stack) -> Expected:
    """Every job not ended yet, when nothing more specific is known."""
    records = [r for r in stack.jobs().all_jobs() if not r.status.is_terminal]
    return Expected(jobs=[r.job_id for r in records], command="running now")


def outcome_document(stack: Stack, outcome: WatchOutcome) -> dict[str, Any]:
    return {
        "outcome": {Exit.OK: "succeeded", Exit.FAILED: "failed", Exit.UNFINISHED: "unfinished"}.get(
            outcome.exit_code, "unknown"
        ),
        "counts": outcome.counts(),
        "jobs": [
            {
                "job_id": job_id,
                "status": r.status.value if r else WAITING,
                "product_id": r.product_id if r else None,
                "error": r.error if r else None,
            }
            for job_id, r in outcome.records.items()
        ],
        "catalogues": [
            {
                "key": c.key,
                "rows": c.rows,
                "done": c.done,
                "failed": c.failed,
                "running": c.running,
                "waiting": c.waiting,
                "checked": c.checked,
            }
            for c in outcome.catalogues
        ],
    }
