"""Ingest: S3 events (through SQS) -> validated jobs -> one Step Functions execution per job."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aws.executions import IngestQueue
from studio_core.aws.publishing import Publisher
from studio_core.aws.reviews import ReviewCallbacks
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import IngestSettings, from_env
from studio_core.steps.ingest import Ingest, handle_body

SETTINGS = from_env(IngestSettings)
processor = BatchProcessor(event_type=EventType.SQS)
STORAGE = clients.storage(SETTINGS.studio_bucket)
JOBS = clients.jobs_table(SETTINGS.jobs_table)
EVENTS = clients.job_events(SETTINGS.event_bus_name)
INGEST = Ingest(
    storage=STORAGE,
    jobs=JOBS,
    executions=clients.executions(SETTINGS.state_machine_arn),
    queue=IngestQueue(SETTINGS.ingest_queue_url),
    defaults=SETTINGS.defaults,
    quiet_seconds=SETTINGS.inbox_quiet_seconds,
    catalogues=clients.executions(SETTINGS.catalogue_state_machine_arn),
    catalogue_concurrency=SETTINGS.aiuta_operations_in_flight,
    budget=clients.image_budget(SETTINGS.jobs_table, SETTINGS.budget.images_per_day_limit),
    regeneration_rounds_ceiling=SETTINGS.max_regeneration_rounds,
    allow_private_image_urls=SETTINGS.allow_private_image_urls,
    reviews=ReviewCallbacks(),
    # A late approval (its job has ended) is published here, at once.
    publisher=Publisher(
        STORAGE, clients.published_feed(SETTINGS.jobs_table), SETTINGS.published_base_url, EVENTS
    ),
    admit_new_job=clients.new_job_admission(SETTINGS.capacity_wait),
)


@tracer.capture_method
def record_handler(record: SQSRecord) -> list[str]:
    return [outcome.value for outcome in handle_body(INGEST, record.body)]


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
