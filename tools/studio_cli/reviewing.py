"""Writing a review decision, as `studio review JOB --approve ... --reject ...` and the review page do.

A decision is a file under ``review/<product>/<job>/`` (``domain.review`` says what it may hold);
the pipeline reads it, checks it against the job, quotes it and hands it to the waiting execution.
Here it is checked first (the same rules, against the job as the operator sees it), so a typo is
named at once instead of in an error report a moment later.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from studio_cli.errors import Refused, UsageError
from studio_core.aws.storage import Storage
from studio_core.domain.errors import InvalidDecision
from studio_core.domain.keys import REVIEW_ANSWER_SUFFIX, review_decision_key
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.review import DecisionFile, describe_decision, plan_decision
from studio_core.domain.vocabulary import Kind


@dataclass(frozen=True)
class WrittenDecision:
    key: str
    document: dict[str, Any]
    quote: dict[str, int]
    what: str

    def answer_key(self) -> str:
        return f"{self.key}{REVIEW_ANSWER_SUFFIX}"


def parse_approval(text: str) -> tuple[str, list[int]]:
    """``front/standing:2`` (or ``:1,3``) as the type and the image numbers."""
    label, sep, numbers = text.rpartition(":")
    if not sep or not label:
        raise UsageError(f"--approve {text!r} is not TYPE:N", hint="e.g. --approve front/standing:2")
    try:
        chosen = [int(n) for n in numbers.split(",") if n.strip()]
    except ValueError:
        raise UsageError(
            f"--approve {text!r}: {numbers!r} is not image numbers", hint="e.g. :2 or :1,3"
        ) from None
    if not chosen or min(chosen) < 1:
        raise UsageError(
            f"--approve {text!r} names no image", hint="the numbers are the review page's #1, #2..."
        )
    return label.strip(), chosen


def parse_rejection(text: str) -> tuple[str, str]:
    """``back/walking:hands cut off`` as the type and the reason."""
    label, sep, reason = text.partition(":")
    if not sep or not reason.strip():
        raise UsageError(
            f"--reject {text!r} gives no reason", hint='e.g. --reject back/walking:"hands cut off"'
        )
    return label.strip(), reason.strip()


def decision_document(
    record: JobRecord,
    *,
    approve: dict[str, list[int]],
    reject: dict[str, str],
    retry: list[str],
    by: str,
    note: str | None = None,
) -> dict[str, Any]:
    """The decision file's content; raises ``Refused`` when it cannot apply to the job."""
    round_ = record.review_round if record.review_round is not None else record.round
    document: dict[str, Any] = {
        "job_id": record.job_id,
        "round": round_,
        "by": by,
        "approve": approve,
        "reject": reject,
        "retry": retry,
    }
    if note:
        document["note"] = note
    try:
        decision = DecisionFile.model_validate(document)
    except ValueError as exc:
        raise UsageError(f"the decision is not valid: {exc}") from None
    if decision.is_empty:
        raise UsageError("the decision decides nothing", hint="give --approve, --reject or --retry")
    ended = record.status.is_terminal
    if not ended and record.status is not JobStatus.AWAITING_REVIEW:
        raise Refused(
            f"job {record.job_id} is {record.status.value}: it does not wait for a review decision yet",
            hint=f"wait until it does (studio watch {record.job_id}), then decide",
        )
    try:
        plan_decision(decision, record, rounds_limit=99, decision_id="-", by=by, at="-", late=ended)
    except InvalidDecision as exc:
        raise Refused(str(exc)) from None
    return document


def write_decision(storage: Storage, record: JobRecord, document: dict[str, Any]) -> WrittenDecision:
    """Writes the file; its name says when and a random part keeps two decisions apart."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = review_decision_key(record.product_id, record.job_id, f"{stamp}-{secrets.token_hex(3)}")
    storage.put_bytes(key, json.dumps(document, indent=2).encode(), "application/json")
    decision = DecisionFile.model_validate(document)
    planned = plan_decision(
        decision, record, rounds_limit=99, decision_id="-", by="-", at="-", late=record.status.is_terminal
    )
    return WrittenDecision(key, document, planned.quote.model_dump(), describe_decision(planned))


def retry_kinds(values: list[str]) -> list[str]:
    kinds = []
    for value in values:
        if value not in {k.value for k in Kind}:
            raise UsageError(f"--retry {value!r} is not a kind", hint="on_figure or flat_lay")
        kinds.append(value)
    return kinds
