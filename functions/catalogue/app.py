"""The catalogue state machine's tasks: check a row, report the check, run a row's job, write the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import CatalogueSettings, from_env
from studio_core.steps.catalogue_run import (
    CatalogueRef,
    CatalogueRun,
    check_row,
    record_row,
    write_check_report,
    write_report,
)

SETTINGS = from_env(CatalogueSettings)
RUN = CatalogueRun(
    storage=clients.storage(SETTINGS.studio_bucket),
    jobs=clients.jobs_table(SETTINGS.jobs_table),
    defaults=SETTINGS.defaults,
    allow_private_image_urls=SETTINGS.allow_private_image_urls,
)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The task is named by the state's Parameters (ItemSelector): a row, or a report.
    catalogue = CatalogueRef.model_validate(event["catalogue"])
    task = event.get("task")
    if task == "write_report":
        return write_report(RUN, catalogue, event["run"])
    if task == "write_check_report":
        return write_check_report(RUN, catalogue, event["run"])
    if task == "check_row":
        return check_row(RUN, catalogue, event.get("row"), int(event["index"]))
    return record_row(RUN, catalogue, event.get("row"), int(event["index"]))
