"""Catalogues: ``inbox/<feed>.csv|.jsonl`` starts one catalogue execution; its rows run there.

Ingest reads only the file's head (``HEAD_BYTES``: UTF-8, the CSV columns), so a catalogue of any
size costs it one small read and one StartExecution, far from its timeout. The rows are read by
the catalogue state machine's Distributed Map, which records and runs one job per row, a bad row
failing alone (``steps.catalogue_run``). A file that cannot run at all is rejected here with
``<key>.error.json``. The execution is named after the file's key and ETag, so a duplicate S3
event starts nothing new.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from studio_core.domain.catalogue import HEAD_BYTES, catalogue_format, check_catalogue_head
from studio_core.domain.errors import InvalidJob
from studio_core.domain.keys import execution_name, job_id_for
from studio_core.observability import count, logger
from studio_core.steps.ingest.context import Ingest, Outcome, write_report


def catalogue_run_name(key: str, etag: str) -> str:
    """The catalogue execution's name: one per version of the file."""
    return execution_name(job_id_for("catalogue-" + PurePosixPath(key).stem[:40], key, etag))


def report_prefix(key: str) -> str:
    """Where the run's results and report go: next to the catalogue (ingest ignores them)."""
    return f"{key}.report/"


def start_catalogue(ctx: Ingest, key: str, etag: str) -> list[Outcome]:
    head, whole_file = ctx.storage.read_head(key, HEAD_BYTES)
    try:
        check_catalogue_head(head, key, whole_file=whole_file)
    except InvalidJob as exc:
        write_report(ctx, key, None, str(exc), [])
        count("JobsRejected")
        return [Outcome.REJECTED]
    if ctx.catalogues is None:
        raise RuntimeError("ingest has no catalogue state machine (CATALOGUE_STATE_MACHINE_ARN)")
    name = catalogue_run_name(key, etag)
    started = ctx.catalogues.start(
        name,
        {
            "catalogue": {
                "bucket": ctx.storage.bucket,
                "key": key,
                "etag": etag,
                "format": catalogue_format(key),
                "report_prefix": report_prefix(key),
            },
            "max_concurrency": ctx.catalogue_concurrency,
        },
    )
    if not started:
        logger.info("duplicate delivery: the catalogue already runs", extra={"key": key, "execution": name})
        count("DuplicateDeliveries")
        return [Outcome.DUPLICATE]
    logger.info("catalogue started", extra={"key": key, "execution": name})
    count("CataloguesStarted")
    return [Outcome.STARTED]
