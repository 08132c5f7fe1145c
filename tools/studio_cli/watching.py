"""``studio watch``: follow named jobs (waiting for them to appear) and catalogues until they end.

Jobs are followed by id: those given, else those the last ``submit`` / ``regenerate`` / ``resume``
expected, else whatever is running now. A job not recorded yet is shown as waiting (ingest has
not got to it, or a folder without product.json is still in its quiet period), never taken for
finished; one the last command did not announce is named at once as not existing yet.

A catalogue is followed as the catalogue reports it, not job by job: its run's counts (checking,
then done / failed / running of the file's rows, a total that never changes), one line per row
when the row ends (its job's outcome, the check's rejection with the reason, or ``unchanged`` with
the job that already did its work), and the end of its run with where the report is. A rejected
or unchanged row never has a job to wait for.

On a terminal the view updates in place; in a pipe or a log each change is one line, and while
nothing changes a heartbeat line says what is running and for how long.

The exit code is the outcome: 0 every job SUCCEEDED, 1 one ended FAILED, PARTIAL or TIMED_OUT (or
a catalogue row failed or was rejected), 3 some were still running (or never appeared) when
``--timeout`` came.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Collection, Sequence
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
from studio_cli.views import duration, elapsed, images_summary, note, plain, seconds_between, status_text
from studio_core.domain.record import JobRecord, JobStatus

WAITING = "waiting"  # not recorded yet
REJECTED = "rejected"  # a catalogue row the check refused: it never runs a job
UNCHANGED = "unchanged"  # a catalogue row whose work a job already did: nothing runs
ROWS_SHOWN = 20
HEARTBEAT_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 600.0

# The Label of the catalogue state machine's job Map (an older definition also had "RecordRows");
# a map run's ARN carries its Map's label (arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>).
CHECK_MAP_LABEL = "RecordRows"
JOBS_MAP_LABEL = "RunJobs"
# What each catalogue run's check settled (rows that run no job: unchanged, rejected, over budget),
# read once per run.
_settled: dict[str, dict[str, int]] = {}


@dataclass(frozen=True)
class CatalogueProgress:
    """A catalogue's rows by what has become of them so far; ``rows`` is the file's row count.

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
    by_map_run: bool = False

    @property
    def waiting(self) -> int:
        return max(0, self.rows - self.done - self.failed - self.running)

    @property
    def finished(self) -> bool:
        if self.by_map_run:
            return self.ended  # the run ends after every row's job has
        return self.ended and self.done + self.failed >= self.rows

    @property
    def phase(self) -> str:
        if self.checked is not None:
            return "checking"
        return "ended" if self.finished else "running"

    def line(self) -> str:
        if self.checked is not None:
            return f"{self.key}: checking rows, {self.checked} of {self.rows} checked, {self.failed} rejected"
        return (
            f"{self.key}: {self.done} done, {self.failed} failed, {self.running} running, "
            f"{self.waiting} waiting, of {self.rows}"
        )


def _bounded(catalogue: Catalogue, done: int, failed: int, running: int) -> tuple[int, int, int]:
    """Counts that fit the file's rows (a map run also counts blank rows it skipped)."""
    done = min(done, catalogue.rows)
    failed = min(failed, catalogue.rows - done)
    return done, failed, min(running, catalogue.rows - done - failed)


def map_run_progress(stack: Stack, catalogue: Catalogue) -> CatalogueProgress | None:
    """The catalogue run's own counts (its Map Run), or None when this stack runs no catalogue runs.

    The total is the file's row count from the start: a map run's own total grows while it reads."""
    version = catalogue.version or catalogue.etag
    if not stack.catalogue_state_machine_arn or not version:
        return None
    from studio_core.domain.identity import catalogue_run_name
    from studio_core.domain.keys import CATALOGUE_REPORT_NAME, catalogue_report_prefix

    name = catalogue_run_name(catalogue.key, version)
    execution = f"{stack.catalogue_state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    sfn = stack.client("stepfunctions")
    try:
        status = sfn.describe_execution(executionArn=execution)["status"]
        runs = sfn.list_map_runs(executionArn=execution).get("mapRuns", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            # Not started yet: its rows are still to be checked.
            return CatalogueProgress(catalogue.key, catalogue.rows, ended=False, checked=0, by_map_run=True)
        raise
    ended = status != "RUNNING"
    report = f"{catalogue_report_prefix(catalogue.key)}{CATALOGUE_REPORT_NAME}" if ended else None
    labelled = {_map_label(run["mapRunArn"]): run["mapRunArn"] for run in runs}
    # A run of an older definition has one unlabelled map run: its jobs'.
    older = [arn for label, arn in labelled.items() if label not in (CHECK_MAP_LABEL, JOBS_MAP_LABEL)]
    jobs_run = labelled.get(JOBS_MAP_LABEL) or (older[0] if older else None)
    checking = jobs_run is None and not ended
    chosen = jobs_run or labelled.get(CHECK_MAP_LABEL)
    # Rows the check settled run no job: unchanged ones are done, rejected or over budget failed.
    settled = _settled_counts(stack, catalogue, name) if (jobs_run or ended) else {}
    settled_done = settled.get("unchanged", 0)
    settled_failed = settled.get("rejected", 0) + settled.get("over_budget", 0)
    if chosen is None:
        done, failed, _ = _bounded(catalogue, settled_done, settled_failed, 0)
        return CatalogueProgress(
            catalogue.key,
            catalogue.rows,
            done=0 if checking else done,
            failed=0 if checking else failed,
            ended=ended,
            report=report,
            checked=0 if checking else None,
            by_map_run=True,
        )
    counts = sfn.describe_map_run(mapRunArn=chosen)["itemCounts"]
    failed = sum(int(counts.get(n, 0)) for n in ("failed", "timedOut", "aborted"))
    if checking:
        checked = min(int(counts.get("succeeded", 0)) + failed, catalogue.rows)
        return CatalogueProgress(
            catalogue.key,
            catalogue.rows,
            failed=min(failed, catalogue.rows),
            ended=False,
            checked=checked,
            by_map_run=True,
        )
    done, failed, running = _bounded(
        catalogue,
        int(counts.get("succeeded", 0)) + settled_done,
        failed + settled_failed,
        int(counts.get("running", 0)),
    )
    return CatalogueProgress(
        catalogue.key,
        catalogue.rows,
        done=done,
        failed=failed,
        running=running,
        ended=ended,
        report=report,
        by_map_run=True,
    )


def _settled_counts(stack: Stack, catalogue: Catalogue, run_name: str) -> dict[str, int]:
    """The check's counts by outcome (its quote), once it is written."""
    if run_name not in _settled:
        from studio_core.domain.keys import CATALOGUE_ROWS_NAME, catalogue_run_prefix

        key = catalogue_run_prefix(catalogue.key, run_name) + CATALOGUE_ROWS_NAME
        try:
            document = json.loads(stack.storage().read_bytes(key))
        except (ClientError, ValueError):
            return {}
        quote = document.get("quote") or {} if isinstance(document, dict) else {}
        _settled[run_name] = {name: int(value) for name, value in quote.items() if isinstance(value, int)}
    return _settled[run_name]


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


# --- a catalogue's rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowOutcome:
    """How one row of a catalogue ended: its job's status, or ``rejected`` by the check."""

    line: int
    product_id: str | None
    outcome: str
    job_id: str | None = None
    reason: str | None = None

    def text(self, key: str) -> str:
        product = self.product_id or "-"
        job = f" {self.job_id}" if self.job_id else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"{key} row {self.line} {product} {self.outcome}{job}{reason}"


def row_of_record(record: JobRecord) -> RowOutcome | None:
    """The row a catalogue job record ended, or None while it runs (or if it names no row)."""
    if record.catalogue_line is None or not record.status.is_terminal:
        return None
    # The check records a row it refuses as FAILED with no execution: it never ran.
    outcome = REJECTED if record.execution_name is None else record.status.value
    error = record.error if record.status is not JobStatus.SUCCEEDED else None
    return RowOutcome(record.catalogue_line, record.product_id, outcome, record.job_id, error)


def rows_of_report(document: Any) -> list[RowOutcome]:
    """The rows a catalogue's ``checked.json`` settles (rejected, over budget, unchanged) and the rows
    its ``report.json`` names as ended (each with its job's status)."""
    if not isinstance(document, dict):
        return []
    found = []
    for entry in document.get("rows_detail") or document.get("rows") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("row"), int):
            continue
        outcome = str(entry.get("outcome"))
        if outcome in ("rejected", "over_budget"):
            kind = REJECTED
        elif outcome == UNCHANGED:
            kind = UNCHANGED
        elif entry.get("status") in _ENDED:
            kind = str(entry["status"])
        else:
            continue
        found.append(
            RowOutcome(entry["row"], entry.get("product_id"), kind, entry.get("job_id"), entry.get("reason"))
        )
    return found


_ENDED = frozenset(status.value for status in JobStatus if status.is_terminal)


class CatalogueRows:
    """The rows of one followed catalogue that have ended, as its run reports them."""

    def __init__(self, stack: Stack, catalogue: Catalogue) -> None:
        self.stack = stack
        self.catalogue = catalogue
        self.ended: dict[int, RowOutcome] = {}
        self._checked_read = False

    def update(self, records: dict[str, JobRecord | None], progress: CatalogueProgress) -> list[RowOutcome]:
        """Rows newly ended since the last look (each row once, in file order)."""
        found: list[RowOutcome] = []
        for job_id in self.catalogue.jobs:
            record = records.get(job_id)
            row = row_of_record(record) if record is not None else None
            if row is not None:
                found.append(row)
        if progress.by_map_run:
            from studio_core.domain.keys import CATALOGUE_CHECK_NAME, CATALOGUE_REPORT_NAME

            if not self._checked_read and progress.checked is None:
                # The check is over: its quote settles every rejected and unchanged row.
                report = self._report(CATALOGUE_CHECK_NAME)
                self._checked_read = report is not None
                found += rows_of_report(report)
            if progress.ended:
                found += rows_of_report(self._report(CATALOGUE_REPORT_NAME))
        new = []
        for row in sorted(found, key=lambda r: (r.line, r.job_id is None)):
            if row.line not in self.ended:
                self.ended[row.line] = row
                new.append(row)
        return new

    def _report(self, name: str) -> Any:
        from studio_core.domain.keys import catalogue_report_prefix

        key = f"{catalogue_report_prefix(self.catalogue.key)}{name}"
        try:
            body = self.stack.s3().get_object(Bucket=self.stack.bucket, Key=key)["Body"].read()
            document = json.loads(body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        except ValueError:
            return None
        # A report of an earlier version of the file is not this run's.
        version = self.catalogue.version or self.catalogue.etag
        this_run = isinstance(document, dict) and document.get("version") == version
        return document if this_run else None

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.ended.values():
            counts[row.outcome] = counts.get(row.outcome, 0) + 1
        return counts


# --- the outcome ------------------------------------------------------------------------------


@dataclass
class WatchOutcome:
    """What the watch saw: the jobs it waited for, each catalogue's progress and ended rows."""

    records: dict[str, JobRecord | None]
    timed_out: bool = False
    catalogues: list[CatalogueProgress] = field(default_factory=list)
    rows: dict[str, list[RowOutcome]] = field(default_factory=dict)  # catalogue key -> ended rows

    @property
    def exit_code(self) -> Exit:
        if (
            self.timed_out
            or any(r is None or not r.status.is_terminal for r in self.records.values())
            or any(not c.finished for c in self.catalogues)
        ):
            return Exit.UNFINISHED
        rows_failed = any(c.failed for c in self.catalogues) or any(
            row.outcome not in (JobStatus.SUCCEEDED.value, UNCHANGED)
            for rows in self.rows.values()
            for row in rows
        )
        if not rows_failed and all(
            r is not None and r.status is JobStatus.SUCCEEDED for r in self.records.values()
        ):
            return Exit.OK
        return Exit.FAILED

    def counts(self) -> dict[str, int]:
        """Jobs by status (``waiting`` for one never recorded), and catalogue rows by outcome."""
        counts: dict[str, int] = {}
        for record in self.records.values():
            name = record.status.value if record else WAITING
            counts[name] = counts.get(name, 0) + 1
        for rows in self.rows.values():
            for row in rows:
                name = f"{REJECTED} row(s)" if row.outcome == REJECTED else row.outcome
                counts[name] = counts.get(name, 0) + 1
        return counts

    def unfinished(self) -> list[str]:
        """What a next ``studio watch`` should name: unfinished jobs, then unfinished catalogues."""
        jobs = [j for j, r in self.records.items() if r is None or not r.status.is_terminal]
        return [*jobs, *(c.key for c in self.catalogues if not c.finished)]


def keep_following(names: Sequence[str], limit: int = 5) -> str:
    """The ``studio watch`` command line that goes on following ``names``, ready to paste."""
    shown = " ".join(shlex.quote(name) for name in names[:limit])
    return f"studio watch {shown}{' ...' if len(names) > limit else ''}".rstrip()


# --- what one job is doing --------------------------------------------------------------------


def progress_text(record: JobRecord | None, quiet_seconds: int | None = None) -> str:
    """Where one job is, in a few words, with how long it has been at it."""
    if record is None:
        wait = f"{quiet_seconds} s of quiet" if quiet_seconds is not None else "the folder's quiet period"
        return f"not recorded yet (ingest has not started it; a folder without product.json waits {wait})"
    if record.status is JobStatus.QUEUED:
        return "queued: the execution is starting"
    if record.status in (JobStatus.GENERATING, JobStatus.REGENERATING):
        current = [op for op in record.operations if op.round == record.round] or record.operations
        done = sum(1 for op in current if op.finished)
        which = f"round {record.round}: " if record.round else ""
        since = seconds_between(record.submitted_at or record.created_at, None)
        at_aiuta = f"at Aiuta for {duration(since)}, " if since is not None else ""
        return f"{which}{at_aiuta}{done} of {len(current)} operation(s) finished" + (
            f", last recorded check #{record.poll_attempts} {_ago(record.last_checked_at)}"
            if record.poll_attempts
            else ""
        )
    if record.status is JobStatus.COPYING:
        return "copying images into the bucket"
    return f"{images_summary(record)} image(s)" + (f": {note(record, 80)}" if record.error else "")


def _ago(timestamp: str | None) -> str:
    """How long ago a recorded check was (a check that changed nothing is recorded at most once a
    minute, so the record may be up to a minute behind the checks made)."""
    since = seconds_between(timestamp, None) if timestamp else None
    return f"{duration(since)} ago" if since is not None else ""


def heartbeat(
    job_ids: Sequence[str],
    records: dict[str, JobRecord | None],
    catalogues: Sequence[CatalogueProgress],
    watched_seconds: float,
    quiet_seconds: int | None,
) -> str:
    """One line while nothing changes: what is still running, and for how long."""
    unfinished = [job_id for job_id in job_ids if not _ended(records.get(job_id))]
    parts = []
    if len(unfinished) <= 3:
        for job_id in unfinished:
            record = records.get(job_id)
            state = record.status.value if record else WAITING
            parts.append(f"{job_id} {state}, {progress_text(record, quiet_seconds)}")
    else:
        by_status: dict[str, int] = {}
        for job_id in unfinished:
            record = records.get(job_id)
            name = record.status.value if record else WAITING
            by_status[name] = by_status.get(name, 0) + 1
        parts.append(", ".join(f"{n} {status}" for status, n in sorted(by_status.items())))
    parts += [c.line() for c in catalogues if not c.finished]
    return f"  … {duration(watched_seconds)} watching: " + "; ".join(parts)


def not_recorded_yet(job_id: str, quiet_seconds: int | None, timeout_seconds: float) -> str:
    quiet = f"{quiet_seconds} s" if quiet_seconds is not None else "InboxQuietSeconds"
    return (
        f"  {job_id}: no such job (nor catalogue) yet; waiting for it to appear, for up to "
        f"{timeout_seconds:g} s (ingest records a folder's job when product.json arrives, or after "
        f"{quiet} of quiet). `studio status` lists the jobs; Ctrl-C stops watching"
    )


# --- the live view ----------------------------------------------------------------------------


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


def awaits_review(record: JobRecord | None) -> bool:
    return record is not None and record.status is JobStatus.AWAITING_REVIEW


def _ended(record: JobRecord | None) -> bool:
    return record is not None and record.status.is_terminal


# --- following --------------------------------------------------------------------------------


def follow(
    stack: Stack,
    expected: Expected,
    out: Console,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    interval_seconds: float = 1.0,
    live: bool | None = None,
    on_change: Callable[[str], None] | None = None,
    unannounced: Collection[str] = (),
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> WatchOutcome:
    """Follows the expected jobs and catalogues until each has ended, or ``timeout_seconds`` passed.

    ``unannounced``: job ids given by hand that no command announced; one that is not recorded
    at the first look is named at once as not existing yet (it may still appear)."""
    jobs = stack.jobs()
    job_ids = list(dict.fromkeys(expected.jobs))
    catalogue_jobs = list(
        dict.fromkeys(j for c in expected.catalogues for j in c.jobs if j not in set(job_ids))
    )
    quiet = stack.quiet_seconds()
    records: dict[str, JobRecord | None] = dict.fromkeys(job_ids)
    catalogue_records: dict[str, JobRecord | None] = dict.fromkeys(catalogue_jobs)
    rows = {c.key: CatalogueRows(stack, c) for c in expected.catalogues}
    started = time.monotonic()
    deadline = started + timeout_seconds
    interval = max(interval_seconds, 0.02 * (len(job_ids) + len(catalogue_jobs)))
    say = on_change or (lambda line: out.print(printable(line), highlight=False, markup=False))
    shown: dict[str, str] = {}
    last_said = [started]
    use_live = out.is_terminal if live is None else live

    pending_products = dict(expected.products)

    def tell(line: str) -> None:
        last_said[0] = time.monotonic()
        say(line)

    def progress_of(catalogue: Catalogue) -> CatalogueProgress:
        return map_run_progress(stack, catalogue) or catalogue_progress(catalogue, catalogue_records)

    def poll() -> list[CatalogueProgress]:
        for product_id, since in list(pending_products.items()):
            newer = [r for r in jobs.for_product(product_id) if r.created_at >= since]
            if newer:
                del pending_products[product_id]
                job_ids.append(newer[0].job_id)
                records[newer[0].job_id] = newer[0]
        for looked_at in (records, catalogue_records):
            for job_id, record in looked_at.items():
                if record is None or not record.status.is_terminal:
                    looked_at[job_id] = jobs.get(job_id)
        return [progress_of(c) for c in expected.catalogues]

    def report(catalogues: list[CatalogueProgress]) -> None:
        for job_id in job_ids:
            record = records[job_id]
            state = record.status.value if record else WAITING
            if shown.get(job_id) == state:
                continue
            shown[job_id] = state
            if record is None and job_id in unannounced:
                tell(not_recorded_yet(job_id, quiet, timeout_seconds))
                continue
            product = record.product_id if record else ""
            reason = f"  {record.error}" if record and record.error and record.status.is_terminal else ""
            if awaits_review(record):
                reason = f"  decide: studio review {job_id}"
            tell(f"  {product:<22} {state:<12} {job_id}{reason}")
        for progress in catalogues:
            # Each row in a line when it ends...
            ended_rows = rows[progress.key]
            new_rows = ended_rows.update(catalogue_records, progress)
            before = len(ended_rows.ended) - len(new_rows)
            for number, row in enumerate(new_rows, start=before + 1):
                tell(f"  {row.text(progress.key)}  [{number} of {progress.rows} rows ended]")
            # ... and the catalogue in a line when its phase changes (checking, running its jobs, ended).
            if shown.get(progress.key) != progress.phase:
                shown[progress.key] = progress.phase
                where = f" (report: {progress.report})" if progress.report and progress.finished else ""
                tell(f"  {progress.line()}{where}")
        if time.monotonic() - last_said[0] >= heartbeat_seconds and not finished():
            tell(heartbeat(job_ids, records, catalogues, time.monotonic() - started, quiet))

    def finished() -> bool:
        # A job awaiting review waits for a person, not for time: watching it longer shows nothing.
        return (
            not pending_products
            and all(c.finished for c in catalogues)
            and all(r is not None and (r.status.is_terminal or awaits_review(r)) for r in records.values())
        )

    catalogues = poll()
    if use_live:

        def view_now() -> RenderableType:
            shown_jobs = [*job_ids, *_recorded(catalogue_records)]
            return render(shown_jobs, records | catalogue_records, catalogues, started, quiet)

        with Live(view_now(), console=out, refresh_per_second=4) as view:
            while not finished() and time.monotonic() < deadline:
                time.sleep(interval)
                catalogues = poll()
                view.update(view_now())
        for progress in catalogues:
            rows[progress.key].update(catalogue_records, progress)
    else:
        report(catalogues)
        while not finished() and time.monotonic() < deadline:
            time.sleep(interval)
            catalogues = poll()
            report(catalogues)
    done = finished()
    for product_id in pending_products:  # never recorded: counted as waiting
        records[f"{product_id} (its next job)"] = None
    return WatchOutcome(
        records,
        timed_out=not done,
        catalogues=catalogues,
        rows={key: sorted(r.ended.values(), key=lambda row: row.line) for key, r in rows.items()},
    )


def _recorded(records: dict[str, JobRecord | None]) -> list[str]:
    return [job_id for job_id, record in records.items() if record is not None]


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
                "report": c.report,
                "ended_rows": [
                    {
                        "row": row.line,
                        "product_id": row.product_id,
                        "outcome": row.outcome,
                        "job_id": row.job_id,
                        "reason": row.reason,
                    }
                    for row in outcome.rows.get(c.key, [])
                ],
            }
            for c in outcome.catalogues
        ],
    }


def is_catalogue_name(name: str) -> bool:
    from studio_core.domain.keys import CATALOGUE_SUFFIXES

    return any(name.lower().endswith(suffix) for suffix in CATALOGUE_SUFFIXES)


def catalogue_in_bucket(stack: Stack, name: str) -> Catalogue:
    """The catalogue ``name`` (``feed.csv``, ``inbox/feed.csv`` or a local path) as it is in the
    inbox now: its rows, and the jobs its check recorded for them (none yet while it checks), for
    ``studio watch inbox/feed.csv``."""
    from pathlib import PurePosixPath

    from studio_cli.errors import NotFound
    from studio_core.domain.catalogue import parse_catalogue
    from studio_core.domain.errors import InvalidJob
    from studio_core.domain.identity import catalogue_run_name
    from studio_core.domain.keys import CATALOGUE_ROWS_NAME, INBOX, catalogue_run_prefix

    key = name if name.startswith(INBOX) else f"{INBOX}{PurePosixPath(name).name}"
    try:
        answer = stack.s3().get_object(Bucket=stack.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise NotFound(
                f"there is no catalogue {key} in {stack.s3_url('')}",
                hint=f"`studio submit {PurePosixPath(key).name}` checks and uploads it",
            ) from None
        raise
    etag = str(answer.get("ETag", "")).strip('"')
    version = str(answer.get("VersionId") or etag)
    try:
        rows = parse_catalogue(answer["Body"].read(), key)
    except InvalidJob:
        rows = []  # the run reports why it cannot read the file
    checked_key = catalogue_run_prefix(key, catalogue_run_name(key, version)) + CATALOGUE_ROWS_NAME
    try:
        checked = json.loads(stack.s3().get_object(Bucket=stack.bucket, Key=checked_key)["Body"].read())
    except ClientError:
        checked = {}
    jobs = [
        row["job_id"]
        for row in checked.get("rows", [])
        if row.get("job_id") and row.get("outcome") in ("new", "changed", "forced", "retry")
    ]
    return Catalogue(key, len(rows), jobs, etag, version)
