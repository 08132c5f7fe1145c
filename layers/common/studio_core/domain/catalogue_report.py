"""A catalogue run's report, from the rows its check decided and the jobs' records (pure rules)."""

from __future__ import annotations

import json
from typing import Any

from studio_core.domain.catalogue_check import RowOutcome
from studio_core.domain.record import JobRecord, JobStatus


def summarise(
    rows: list[dict[str, Any]], records: dict[str, JobRecord], quoted: dict[str, Any]
) -> dict[str, Any]:
    """The report's figures: each row with its job's status, counts by outcome and by status, and
    the operations and images paid (from the jobs' operations) against the quote."""
    ended: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    paid_operations = paid_images = 0
    for row in rows:
        record = records.get(row.get("job_id") or "")
        entry = dict(row)
        if record is not None and row["outcome"] not in (RowOutcome.REJECTED, RowOutcome.OVER_BUDGET):
            entry["status"] = record.status.value
            if record.error and record.status.value != "SUCCEEDED":
                entry["reason"] = record.error
            if RowOutcome(row["outcome"]).runs:
                statuses[record.status.value] = statuses.get(record.status.value, 0) + 1
                paid = record.paid()
                entry["paid_operations"], entry["paid_images"] = paid.operations, paid.images
                paid_operations += paid.operations
                paid_images += paid.images
        ended.append(entry)
    outcome_counts = {
        outcome.value: sum(1 for row in rows if row["outcome"] == outcome) for outcome in RowOutcome
    }
    return {
        "rows": len(rows),
        **outcome_counts,
        "succeeded": statuses.get("SUCCEEDED", 0),
        "partial": statuses.get("PARTIAL", 0),
        "failed": statuses.get("FAILED", 0),
        "timed_out": statuses.get("TIMED_OUT", 0),
        "cancelled": statuses.get("CANCELLED", 0),
        "unfinished": sum(n for status, n in statuses.items() if status not in _ENDED),
        "quoted_operations": quoted.get("operations", 0),
        "quoted_images": quoted.get("images", 0),
        "paid_operations": paid_operations,
        "paid_images": paid_images,
        "rows_detail": ended,
    }


_ENDED = frozenset(status.value for status in JobStatus if status.is_terminal)


def error_text(error: Any) -> str:
    """What a person reads of a caught error: a Lambda's errorMessage, else the cause as is."""
    if isinstance(error, str):
        return error
    cause = str(error.get("Cause") or error.get("Error") or "an unknown error")
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(document, dict) and document.get("errorMessage"):
        return str(document["errorMessage"])
    return cause
