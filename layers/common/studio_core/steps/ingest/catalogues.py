"""Catalogues: ``inbox/<feed>.csv|.jsonl`` starts one job per row; a bad row fails alone."""

from __future__ import annotations

from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import build_job
from studio_core.domain.keys import job_id_for, product_id_problem
from studio_core.domain.record import RequestKind
from studio_core.domain.state import JobState
from studio_core.observability import count
from studio_core.steps.ingest.context import Ingest, Outcome, record_rejection, start_job, write_report


def start_catalogue(ctx: Ingest, key: str, etag: str) -> list[Outcome]:
    try:
        rows = parse_catalogue(ctx.storage.read_bytes(key), key)
    except InvalidJob as exc:
        write_report(ctx, key, None, str(exc), [])
        count("JobsRejected")
        return [Outcome.REJECTED]
    outcomes, problems = [], []
    for row in rows:
        if row.problem or row.product_id is None:
            problems.append(row.problem or f"line {row.line}: no product id")
            outcomes.append(Outcome.REJECTED)
            continue
        job_id = job_id_for(row.product_id, key, etag, str(row.line))
        try:
            if problem := product_id_problem(row.product_id):
                raise InvalidJob(problem)
            spec = build_job(row.product_id, row.document, image_count=0, defaults=ctx.defaults)
        except InvalidJob as exc:
            problems.append(f"line {row.line}: {exc}")
            outcomes.append(record_rejection(ctx, job_id, row.product_id, key, str(exc)))
            continue
        state = JobState(job_id=job_id, product_id=row.product_id, job=spec)
        outcomes.append(
            start_job(ctx, state, request_kind=RequestKind.CATALOGUE, source_key=key, catalogue_line=row.line)
        )
    if problems:
        write_report(ctx, key, None, f"{len(problems)} of {len(rows)} rows are invalid", problems)
    return outcomes
