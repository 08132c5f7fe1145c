"""Catalogues: ``inbox/<feed>.csv|.jsonl`` starts one catalogue execution; its rows run there.

Ingest reads only the file's head (``HEAD_BYTES``: UTF-8, the CSV columns), at the version the
event named, so a catalogue of any size costs it one small read and one StartExecution, far from
its timeout. The catalogue state machine checks, quotes and runs the rows of that same version
(``steps.catalogue_run``): a file replaced a second later is a second catalogue, never a second
copy of the first. A file that cannot run at all is rejected here with ``<key>.error.json``. The
execution is named after the key and version, so a duplicate S3 event starts nothing new.
"""

from __future__ import annotations

from studio_core.aws.queue_messages import S3Object
from studio_core.domain.catalogue import HEAD_BYTES, catalogue_format, check_catalogue_head
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import catalogue_run_name
from studio_core.domain.keys import catalogue_report_prefix
from studio_core.domain.limits import MAX_CATALOGUE_BYTES, too_large
from studio_core.observability import count, logger
from studio_core.steps.ingest.context import Ingest, Outcome, write_report


def start_catalogue(ctx: Ingest, key: str, obj: S3Object) -> list[Outcome]:
    head, whole_file = ctx.storage.read_head(key, HEAD_BYTES, obj.versionId)
    try:
        if problem := too_large(f"catalogue {key}", obj.size or 0, MAX_CATALOGUE_BYTES):
            raise InvalidJob(f"{problem}: split it into several files")
        check_catalogue_head(head, key, whole_file=whole_file)
    except InvalidJob as exc:
        write_report(ctx, key, None, str(exc), [])
        count("JobsRejected")
        return [Outcome.REJECTED]
    if ctx.catalogues is None:
        raise RuntimeError("ingest has no catalogue state machine (CATALOGUE_STATE_MACHINE_ARN)")
    name = catalogue_run_name(key, obj.version)
    started = ctx.catalogues.start(
        name,
        {
            "catalogue": {
                "bucket": ctx.storage.bucket,
                "key": key,
                "etag": obj.eTag or "",
                **({"version_id": obj.versionId} if obj.versionId else {}),
                "format": catalogue_format(key),
                "report_prefix": catalogue_report_prefix(key),
                "run_name": name,
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
