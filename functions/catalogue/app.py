"""The catalogue state machine's tasks: check and quote every row, then write the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aws.events import JobEvents
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import CatalogueSettings, from_env
from studio_core.steps.catalogue_run import CatalogueRef, CatalogueRun, check_catalogue, write_report

SETTINGS = from_env(CatalogueSettings)
RUN = CatalogueRun(
    storage=clients.storage(SETTINGS.studio_bucket),
    jobs=clients.jobs_table(SETTINGS.jobs_table),
    defaults=SETTINGS.defaults,
    budget=clients.image_budget(SETTINGS.jobs_table, SETTINGS.budget.images_per_day_limit),
    images_per_catalogue=SETTINGS.budget.images_per_catalogue_limit,
    events=JobEvents(SETTINGS.event_bus_name),
    allow_private_image_urls=SETTINGS.allow_private_image_urls,
)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The task is named by the state's Parameters.
    catalogue = CatalogueRef.model_validate(event["catalogue"])
    if event.get("task") == "write_report":
        return write_report(RUN, catalogue, event["run"])
    return check_catalogue(RUN, catalogue)
