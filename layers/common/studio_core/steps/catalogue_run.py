"""The catalogue state machine's tasks (``statemachine/catalogue.asl.json``).

- "Check every row and quote it" (``check_catalogue``): reads the catalogue at the version its
  event named, checks and decides every row in file order (``domain.catalogue_check``), charges
  the day's image budget, records each row's job (QUEUED, or FAILED with its reason; an unchanged
  row is noted on the job that did its work) and writes, before any job runs:
  ``<report_prefix>checked.json`` (the quote: every row's outcome, operations and images),
  ``<key>.error.json`` when rows were rejected, and the run's item list for the job map
  (``<run_prefix>run.json``, CSV and JSONL alike).
- "Write the catalogue report" (``write_report``): every row's end, from the jobs' records, in
  ``<report_prefix>report.json``, what was quoted against what was paid, and the
  ``Studio Catalogue Finished`` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote as url_quote

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.budget import ImageBudget
from studio_core.aws.events import JobEvents
from studio_core.aws.jobs_table import JobsTable, WorkRecord
from studio_core.aws.storage import FileTooLarge, Storage
from studio_core.domain.base import Model
from studio_core.domain.budget import budget_day
from studio_core.domain.catalogue import CatalogueRow, parse_catalogue
from studio_core.domain.catalogue_check import (
    RowOutcome,
    RowPlan,
    decide_rows,
    quote,
    refuse_over_budget,
    validate_rows,
)
from studio_core.domain.catalogue_report import error_text, summarise
from studio_core.domain.errors import InvalidJob
from studio_core.domain.gallery import gallery_key
from studio_core.domain.identity import (
    execution_name,
    forced_by_metadata,
    product_key,
    rejection_id,
    spelling_conflict,
)
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.keys import (
    CATALOGUE_CHECK_NAME,
    CATALOGUE_REPORT_NAME,
    CATALOGUE_ROWS_NAME,
    CATALOGUE_RUN_ITEMS_NAME,
    catalogue_run_prefix,
    error_report_key,
)
from studio_core.domain.limits import MAX_CATALOGUE_BYTES, too_large
from studio_core.domain.overview import overview_rows, render_overview
from studio_core.domain.record import JobRecord, RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import count, logger

OVERVIEW_NAME = "index.html"
# Records are written this many at a time (boto3 clients are thread-safe).
WRITERS = 16


class CatalogueRef(Model):
    """``$.catalogue`` of a catalogue execution: which file, which version, where its results go."""

    bucket: str
    key: str
    etag: str
    format: str
    report_prefix: str
    version_id: str | None = None  # the version the event named (None: an unversioned bucket)
    run_name: str = "run"  # the catalogue execution's name: its files go under run_prefix

    @property
    def version(self) -> str:
        return self.version_id or self.etag

    @property
    def run_prefix(self) -> str:
        return catalogue_run_prefix(self.key, self.run_name)


@dataclass
class CatalogueRun:
    """The adapters the catalogue's tasks use, handed in by the handler."""

    storage: Storage
    jobs: JobsTable
    defaults: JobDefaults
    budget: ImageBudget | None = None
    images_per_catalogue: int = 0
    events: JobEvents | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    allow_private_image_urls: bool = False


def check_catalogue(run: CatalogueRun, catalogue: CatalogueRef) -> dict[str, Any]:
    """Checks, decides, quotes and records every row; answers the counts and the run's items."""
    try:
        raw, metadata = run.storage.read_object(
            catalogue.key, catalogue.version_id, max_bytes=MAX_CATALOGUE_BYTES
        )
        rows = parse_catalogue(raw, catalogue.key)
    except FileTooLarge as exc:
        problem = (
            f"{too_large(f'catalogue {catalogue.key}', exc.size, exc.limit)}: split it into several files"
        )
        _write_error_report(run, catalogue, problem, [])
        return {"rows": 0, "to_run": 0, "error": problem}
    except InvalidJob as exc:
        _write_error_report(run, catalogue, str(exc), [])
        return {"rows": 0, "to_run": 0, "error": str(exc)}
    plans, spellings = plan_rows(
        rows,
        jobs=run.jobs,
        defaults=run.defaults,
        key=catalogue.key,
        version=catalogue.version,
        images_per_catalogue=run.images_per_catalogue,
        force_all=forced_by_metadata(metadata),
        allow_private_image_urls=run.allow_private_image_urls,
    )
    if run.budget is not None and run.budget.limited:
        running = [plan.quote.images for plan in plans if plan.outcome.runs]
        day = budget_day(run.clock())
        _, used = run.budget.charge_in_order(f"catalogue#{catalogue.run_name}", running, day)
        plans = refuse_over_budget(
            plans,
            max(0, run.budget.images_per_day - used),
            used=used,
            scope="today's budget",
            parameter="ImagesPerDayLimit",
        )
    plans = _record(run, catalogue, plans, spellings)
    summary = quote(plans)
    checked = {
        "catalogue": catalogue.key,
        "version": catalogue.version,
        "run_name": catalogue.run_name,
        "written_at": run.clock().isoformat(),
        "quote": summary,
        "rows": [plan.document() for plan in plans],
    }
    run.storage.put_json(f"{catalogue.report_prefix}{CATALOGUE_CHECK_NAME}", checked)
    run.storage.put_json(f"{catalogue.run_prefix}{CATALOGUE_ROWS_NAME}", checked)
    items = [_run_item(plan) for plan in plans if plan.outcome.runs]
    run.storage.put_json(f"{catalogue.run_prefix}{CATALOGUE_RUN_ITEMS_NAME}", items)
    _report_refused_rows(run, catalogue, plans)
    write_overview(run, catalogue, [plan.document() for plan in plans])
    count("CatalogueRowsRejected", summary[RowOutcome.REJECTED.value])
    count("UnchangedRequests", summary[RowOutcome.UNCHANGED.value])
    count("ImagesQuoted", summary["images"])
    logger.info("catalogue checked", extra={key: value for key, value in summary.items()})
    return {
        "rows": summary["rows"],
        "to_run": len(items),
        "run_items": f"{catalogue.run_prefix}{CATALOGUE_RUN_ITEMS_NAME}",
    }


def plan_rows(
    rows: list[CatalogueRow],
    *,
    jobs: JobsTable,
    defaults: JobDefaults,
    key: str,
    version: str,
    images_per_catalogue: int,
    force_all: bool = False,
    allow_private_image_urls: bool = False,
) -> tuple[list[RowPlan], dict[str, str]]:
    """Every row checked and decided against the table (the check's, and ``studio submit``'s quote);
    returns the plans and the products' known spellings."""
    plans = validate_rows(
        rows, defaults, key=key, version=version, allow_private_image_urls=allow_private_image_urls
    )
    valid = [plan for plan in plans if plan.identity is not None and plan.product_id is not None]
    spellings = jobs.product_spellings([plan.product_id for plan in valid if plan.product_id])
    priors = _latest_jobs(jobs, [plan.identity.job_id for plan in valid if plan.identity])
    decided = decide_rows(
        plans,
        key=key,
        version=version,
        spellings=spellings,
        priors=priors,
        images_per_catalogue=images_per_catalogue,
        force_all=force_all,
    )
    return decided, spellings


def _latest_jobs(jobs: JobsTable, first_job_ids: list[str]) -> dict[str, JobRecord | None]:
    """The latest job of each work (by its first job's id), in two batched reads."""
    firsts = jobs.get_many(first_job_ids)
    later_ids = [r.latest_job_id for r in firsts.values() if r.latest_job_id and r.latest_job_id != r.job_id]
    later = jobs.get_many(later_ids) if later_ids else {}
    latest: dict[str, JobRecord | None] = {}
    for job_id in first_job_ids:
        first = firsts.get(job_id)
        latest[job_id] = later.get(first.latest_job_id or "", first) if first is not None else None
    return latest


def _record(
    run: CatalogueRun, catalogue: CatalogueRef, plans: list[RowPlan], spellings: dict[str, str]
) -> list[RowPlan]:
    """Each row's record, written in parallel: a job QUEUED, a rejection, or a note on the job that
    did an unchanged row's work. A product that got another spelling meanwhile is rejected."""
    now = run.clock().isoformat()

    def write(plan: RowPlan) -> RowPlan:
        if plan.outcome.runs and plan.identity and plan.spec and plan.job_id and plan.product_id:
            if product_key(plan.product_id) not in spellings:
                spelling, _ = run.jobs.register_product(plan.product_id)
                if spelling != plan.product_id:
                    reason = f"line {plan.line}: {spelling_conflict(plan.product_id, spelling)}"
                    job_id = rejection_id(plan.product_id, catalogue.key, catalogue.version, str(plan.line))
                    return write(RowPlan(plan.line, plan.product_id, RowOutcome.REJECTED, job_id, reason))
            run.jobs.create_queued(
                job_id=plan.job_id,
                product_id=plan.product_id,
                spec=plan.spec,
                request_kind=RequestKind.CATALOGUE,
                source_key=catalogue.key,
                execution_name=execution_name(plan.job_id),
                catalogue_line=plan.line,
                work=WorkRecord(
                    identity=plan.identity.digest,
                    source_version=catalogue.version,
                    first_job_id=plan.identity.job_id,
                    novelty=plan.outcome.value,
                    forced=plan.outcome is RowOutcome.FORCED,
                    retry_of=plan.prior_job_id if plan.outcome is RowOutcome.RETRY else None,
                    quote=plan.quote,
                ),
            )
        elif plan.outcome is RowOutcome.UNCHANGED and plan.job_id:
            run.jobs.note_unchanged(plan.job_id, source=f"{catalogue.key} line {plan.line}", at=now)
        elif plan.job_id and plan.product_id and plan.reason:
            run.jobs.record_rejection(
                job_id=plan.job_id,
                product_id=plan.product_id,
                source_key=catalogue.key,
                error=plan.reason,
                finished_at=now,
            )
        return plan

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(write, plans))


def _run_item(plan: RowPlan) -> dict[str, Any]:
    """One item of the job map: the execution to start for a row, and the row it came from."""
    assert plan.job_id and plan.product_id and plan.spec
    state = JobState(job_id=plan.job_id, product_id=plan.product_id, job=plan.spec)
    return {
        "row": plan.line,
        "job_id": plan.job_id,
        "product_id": plan.product_id,
        "execution_name": execution_name(plan.job_id),
        "input": {key: value for key, value in state.to_output().items() if value is not None},
    }


# ---------------------------------------------------------------------------- the report


def write_report(run: CatalogueRun, catalogue: CatalogueRef, execution: dict[str, Any]) -> dict[str, Any]:
    """Every row's end from the jobs' records; what was quoted against what was paid."""
    report: dict[str, Any] = {
        "catalogue": catalogue.key,
        "version": catalogue.version,
        "written_at": run.clock().isoformat(),
    }
    checked = _read_json(run.storage, f"{catalogue.run_prefix}{CATALOGUE_ROWS_NAME}")
    error = execution.get("error") or (execution.get("checked") or {}).get("error")
    if checked is None:
        reason = error_text(error) if error else "the catalogue was never checked"
        report |= {"error": f"the catalogue could not be read: {reason}", "rows": 0}
        _write_error_report(run, catalogue, report["error"], [])
    else:
        rows = checked["rows"]
        records = run.jobs.get_many([row["job_id"] for row in rows if row.get("job_id")])
        report |= summarise(rows, records, checked["quote"])
        write_overview(run, catalogue, rows, records)
        if error:
            report["error"] = f"the job map stopped early: {error_text(error)}"
    key = f"{catalogue.report_prefix}{CATALOGUE_REPORT_NAME}"
    run.storage.put_json(key, report)
    counts = {
        name: value for name, value in report.items() if isinstance(value, int | str) and name != "written_at"
    }
    if run.events is not None:
        run.events.catalogue_finished({**counts, "report_key": key, "bucket": catalogue.bucket})
    logger.info("catalogue report written", extra={"key": key, **counts})
    count("CatalogueRuns")
    return {
        "report": key,
        **{name: report.get(name) for name in ("rows", "succeeded", "failed", "rejected", "unchanged")},
    }


def write_overview(
    run: CatalogueRun,
    catalogue: CatalogueRef,
    rows: list[dict[str, Any]],
    records: dict[str, JobRecord] | None = None,
) -> str | None:
    """The run's overview page (``<run_prefix>index.html``): every row with its thumbnail, status,
    review state and a link to its job's gallery, all relative. A view, never a reason to fail."""
    key = f"{catalogue.run_prefix}{OVERVIEW_NAME}"
    up = "../" * key.count("/")
    try:
        if records is None:
            records = run.jobs.get_many([row["job_id"] for row in rows if row.get("job_id")])
        page = render_overview(
            f"{catalogue.key} ({catalogue.run_name})",
            overview_rows(
                rows,
                records,
                href=lambda k: up + url_quote(k),
                job_href=lambda r: up + url_quote(gallery_key(r.product_id, r.job_id)),
            ),
            note=f"written {run.clock().isoformat(timespec='seconds')}; `studio review` shows it live",
        )
        run.storage.put_bytes(key, page.encode("utf-8"), "text/html; charset=utf-8")
    except (BotoCoreError, ClientError) as exc:
        logger.warning("overview page not written", extra={"key": key, "reason": str(exc)})
        return None
    return key


def _report_refused_rows(run: CatalogueRun, catalogue: CatalogueRef, plans: Iterable[RowPlan]) -> None:
    """``<key>.error.json`` naming every rejected or over-budget row, when there is one."""
    refused = [plan for plan in plans if plan.outcome in (RowOutcome.REJECTED, RowOutcome.OVER_BUDGET)]
    if refused:
        total = sum(1 for _ in plans) if not isinstance(plans, list) else len(plans)
        details = [plan.reason or f"line {plan.line}" for plan in refused]
        _write_error_report(run, catalogue, f"{len(refused)} of {total} rows cannot run", details)


def _write_error_report(run: CatalogueRun, catalogue: CatalogueRef, message: str, details: list[str]) -> None:
    run.storage.put_json(
        error_report_key(catalogue.key),
        {
            "source_key": catalogue.key,
            "product_id": None,
            "job_id": None,
            "error": message,
            "details": details,
            "reported_at": run.clock().isoformat(),
        },
    )


def _read_json(storage: Storage, key: str) -> Any:
    if not storage.exists(key):
        return None
    return json.loads(storage.read_bytes(key))
