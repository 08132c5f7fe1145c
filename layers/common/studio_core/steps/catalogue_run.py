"""The catalogue state machine's tasks (``statemachine/catalogue.asl.json``).

- "Record the row" (``check_row``): one item of the first Distributed Map, which checks every row
  before any job runs. The row becomes a job file; a valid one is recorded QUEUED, a bad one is
  recorded FAILED and raises ``InvalidJob`` with its reason, so the item fails alone and the map
  run's results list it.
- "Report the checked rows" (``write_check_report``): that map run's results summed up in
  ``<report_prefix>checked.json`` (and ``<key>.error.json`` when rows were rejected), while the
  jobs are still to run.
- "Record the row's job" (``record_row``): one item of the second Distributed Map. The same check
  (the job is found recorded), answered with what "Run the product's job" needs (the execution
  name, its input).
- "Write the catalogue report" (``write_report``): the map run's results (ResultWriter's manifest
  and result files in S3) summed up in ``<report_prefix>report.json``, plus ``<key>.error.json``
  listing the rejected rows, as ingest always wrote for a catalogue with bad rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.catalogue import catalogue_job_id, row_of_item
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import JobDefaults, JobSpec, build_job
from studio_core.domain.keys import error_report_key, execution_name, product_id_problem
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import count, logger

REPORT_NAME = "report.json"
CHECK_REPORT_NAME = "checked.json"


class CatalogueRef(BaseModel):
    """``$.catalogue`` of a catalogue execution: which file, which version, where its results go."""

    bucket: str
    key: str
    etag: str
    format: str
    report_prefix: str
    rows_hint: int | None = None


@dataclass
class CatalogueRun:
    """The adapters the catalogue's tasks use, handed in by the handler."""

    storage: Storage
    jobs: JobsTable
    defaults: JobDefaults
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    allow_private_image_urls: bool = False


def record_row(run: CatalogueRun, catalogue: CatalogueRef, item: Any, index: int) -> dict[str, Any]:
    """The job of one row, recorded; what "Run the product's job" starts (or ``skipped``)."""
    row = row_of_item(item, index, catalogue.format)
    if row is None:
        return {"skipped": "a blank row", "row": index + 2}
    if row.problem or row.product_id is None or row.document is None:
        raise InvalidJob(row.problem or f"row {row.line}: no product id")
    product_id = row.product_id
    if problem := product_id_problem(product_id):
        raise InvalidJob(f"row {row.line}: {problem}")
    job_id = catalogue_job_id(product_id, catalogue.key, catalogue.etag)
    try:
        spec = build_job(
            product_id,
            row.document,
            image_count=0,
            defaults=run.defaults,
            allow_private_image_urls=run.allow_private_image_urls,
        )
    except InvalidJob as exc:
        reason = f"row {row.line} ({product_id}): {exc}"
        run.jobs.record_rejection(
            job_id=job_id,
            product_id=product_id,
            source_key=catalogue.key,
            error=reason,
            finished_at=run.clock().isoformat(),
        )
        raise InvalidJob(reason) from None
    name = execution_name(job_id)
    state = JobState(job_id=job_id, product_id=product_id, job=spec)
    created = run.jobs.create_queued(
        job_id=job_id,
        product_id=product_id,
        spec=spec,
        request_kind=RequestKind.CATALOGUE,
        source_key=catalogue.key,
        execution_name=name,
        catalogue_line=row.line,
    )
    if not created:
        _settle_listed_twice(run, job_id, product_id, row.line, spec)
    return {
        "job_id": job_id,
        "product_id": product_id,
        "row": row.line,
        "execution_name": name,
        "input": {key: value for key, value in state.to_output().items() if value is not None},
    }


def _settle_listed_twice(run: CatalogueRun, job_id: str, product_id: str, line: int, spec: JobSpec) -> None:
    """The job is recorded already: by this row (the check, or a retry), or by another row of the
    same product. The first row in the file is the product's, whichever was checked first (rows
    are checked in parallel): an earlier row takes the job over while it is still QUEUED, a later
    one is rejected."""
    for _ in range(3):  # each lost race means another row changed the record: read it again
        existing = run.jobs.get(job_id)
        held_by = existing.catalogue_line if existing else None
        if held_by is None or held_by == line:
            logger.debug("the row's job is recorded already (check or retry)", extra={"job_id": job_id})
            return
        if held_by < line:
            raise InvalidJob(
                f"row {line}: product {product_id} is listed again (first at row {held_by}); "
                "a catalogue runs one job per product"
            )
        if run.jobs.claim_catalogue_line(job_id, line=line, spec=spec, held_by=held_by):
            logger.info("an earlier row took the product's job over", extra={"job_id": job_id, "row": line})
            return
    raise InvalidJob(f"row {line}: product {product_id} is listed more than once, and its rows kept changing")


def check_row(run: CatalogueRun, catalogue: CatalogueRef, item: Any, index: int) -> dict[str, Any]:
    """The row checked and its job recorded; answers only which job (the map run keeps every answer).

    A rejected row is counted here, once: the job map checks it again and rejects it again."""
    try:
        recorded = record_row(run, catalogue, item, index)
    except InvalidJob:
        count("CatalogueRowsRejected")
        raise
    return {name: recorded[name] for name in ("job_id", "product_id", "row", "skipped") if name in recorded}


# ---------------------------------------------------------------------------- the reports


def write_check_report(
    run: CatalogueRun, catalogue: CatalogueRef, execution: dict[str, Any]
) -> dict[str, Any]:
    """Sums the check's map run up in ``checked.json``, and names the rejected rows at once."""
    results = _map_run_results(run.storage, execution.get("checked_run") or {})
    summary = results["summary"]
    report: dict[str, Any] = {
        "catalogue": catalogue.key,
        "etag": catalogue.etag,
        "written_at": run.clock().isoformat(),
        "results": results["prefix"],
        "rows": summary["rows"],
        "queued": summary["succeeded"],
        "rejected": summary["rejected"],
        "skipped": summary["skipped"],
        # A row whose check failed for another reason (DynamoDB did not answer) is tried again
        # when its job's turn comes.
        "unchecked": summary["failed"],
        "rejected_rows": summary["rejected_rows"],
    }
    _report_rejected_rows(run, catalogue, report)
    key = f"{catalogue.report_prefix}{CHECK_REPORT_NAME}"
    run.storage.put_json(key, report)
    counts = {name: report[name] for name in ("rows", "queued", "rejected", "skipped", "unchecked")}
    logger.info("catalogue rows checked", extra={"key": key, **counts})
    return {"report": key, **counts}


def write_report(run: CatalogueRun, catalogue: CatalogueRef, execution: dict[str, Any]) -> dict[str, Any]:
    """Sums the map run's results up in the report; answers the counts (the run's output)."""
    report: dict[str, Any] = {
        "catalogue": catalogue.key,
        "etag": catalogue.etag,
        "written_at": run.clock().isoformat(),
    }
    error = execution.get("error")
    map_run = execution.get("map_run") or {}
    if error:
        reason = _error_text(error.get("Error", ""), error.get("Cause", ""))
        report |= {"error": f"the catalogue could not be read: {reason}", "rows": 0}
        _write_error_report(run, catalogue, report["error"], [])
    else:
        results = _map_run_results(run.storage, map_run)
        report |= {"map_run": map_run.get("MapRunArn"), "results": results["prefix"], **results["summary"]}
        _report_rejected_rows(run, catalogue, report)
    key = f"{catalogue.report_prefix}{REPORT_NAME}"
    run.storage.put_json(key, report)
    summary = {name: report.get(name) for name in ("rows", "succeeded", "failed", "rejected", "skipped")}
    logger.info("catalogue report written", extra={"key": key, **summary})
    count("CatalogueRuns")
    return {"report": key, **summary, **({"error": report["error"]} if error else {})}


def _map_run_results(storage: Storage, map_run: dict[str, Any]) -> dict[str, Any]:
    details = map_run.get("ResultWriterDetails") or {}
    manifest_key = details.get("Key")
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    if manifest_key:
        manifest = json.loads(storage.read_bytes(manifest_key))
        files = manifest.get("ResultFiles") or {}
        for entry in files.get("SUCCEEDED") or []:
            succeeded += json.loads(storage.read_bytes(entry["Key"]))
        for entry in files.get("FAILED") or []:
            failed += json.loads(storage.read_bytes(entry["Key"]))
    skipped = [s for s in succeeded if "skipped" in _json(s.get("Output"))]
    listed_again = _listed_again(succeeded)
    rejected_rows: list[Any] = list(listed_again)
    failed_jobs: list[Any] = []
    for item in failed:
        item_input = _json(item.get("Input"))
        row = _row_number(item_input)
        product_id = _product_of(item_input)
        reason = _error_text(item.get("Error", ""), item.get("Cause", ""))
        entry = {"row": row, "product_id": product_id, "error": item.get("Error"), "reason": reason}
        (rejected_rows if item.get("Error") == InvalidJob.__name__ else failed_jobs).append(entry)
    rejected_rows.sort(key=lambda r: r["row"] or 0)  # the later listings of a product, then failures
    failed_jobs.sort(key=lambda r: r["row"] or 0)
    return {
        "prefix": manifest_key.rsplit("/", 1)[0] + "/" if manifest_key else None,
        "summary": {
            "rows": len(succeeded) + len(failed) - len(skipped),
            "succeeded": len(succeeded) - len(skipped) - len(listed_again),
            "failed": len(failed_jobs),
            "rejected": len(rejected_rows),
            "skipped": len(skipped),
            "rejected_rows": rejected_rows,
            "failed_jobs": failed_jobs,
        },
    }


def _listed_again(succeeded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows the check passed whose product an earlier row took over afterwards (rows are checked in
    parallel, so a later row may be recorded first): rejected, as the job map will reject them."""
    rows_of: dict[str, list[tuple[int, str]]] = {}
    for item in succeeded:
        output = _json(item.get("Output"))
        if isinstance(output, dict) and output.get("job_id") and isinstance(output.get("row"), int):
            rows_of.setdefault(output["job_id"], []).append((output["row"], str(output.get("product_id"))))
    later = []
    for rows in rows_of.values():
        first, _ = min(rows)
        for row, product_id in sorted(rows)[1:]:
            reason = (
                f"row {row}: product {product_id} is listed again (first at row {first}); "
                "a catalogue runs one job per product"
            )
            entry = {"row": row, "product_id": product_id, "error": InvalidJob.__name__, "reason": reason}
            later.append(entry)
    return later


def _report_rejected_rows(run: CatalogueRun, catalogue: CatalogueRef, report: dict[str, Any]) -> None:
    """``<key>.error.json`` naming every rejected row of a report, when it has any."""
    if report["rejected_rows"]:
        details = [f"row {r['row']}: {r['reason']}" for r in report["rejected_rows"]]
        _write_error_report(run, catalogue, f"{len(details)} of {report['rows']} rows are invalid", details)


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


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value if value is not None else {}


def _row_number(item_input: Any) -> int | None:
    if not isinstance(item_input, dict) or not isinstance(item_input.get("index"), int):
        return None
    catalogue = item_input.get("catalogue") or {}
    return int(item_input["index"]) + (1 if catalogue.get("format") == "jsonl" else 2)


def _product_of(item_input: Any) -> str | None:
    row = item_input.get("row") if isinstance(item_input, dict) else None
    if not isinstance(row, dict):
        return None
    product = row.get("product")
    found = row.get("id") or (product.get("id") if isinstance(product, dict) else None)
    return str(found) if found else None


def _error_text(error: str, cause: str) -> str:
    """What a person reads: a Lambda's errorMessage, a job execution's cause, else the cause as is."""
    document = _json(cause)
    if isinstance(document, dict):
        for key in ("errorMessage", "cause", "Cause"):
            if document.get(key):
                inner = _json(document[key]) if key != "errorMessage" else document[key]
                if isinstance(inner, dict) and inner.get("errorMessage"):
                    return str(inner["errorMessage"])
                return str(document[key])
        if document.get("error"):
            return str(document["error"])
    return cause or error
