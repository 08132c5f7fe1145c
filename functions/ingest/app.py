"""Ingest: S3 events (through SQS) -> validated jobs -> one Step Functions execution per job."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from studio_core import clients
from studio_core.aws.executions import Executions, IngestQueue
from studio_core.observability import logger, metrics, tracer
from studio_core.settings import JobDefaults
from studio_core.steps.ingest import Ingest

ENV = clients.environment()
DEFAULTS = JobDefaults.from_env()
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def ingest() -> Ingest:
    if not ENV.state_machine_arn:
        raise RuntimeError("STATE_MACHINE_ARN is not set")
    return Ingest(
        storage=clients.storage(),
        jobs=clients.jobs_table(),
        executions=Executions(ENV.state_machine_arn),
        queue=IngestQueue(ENV.ingest_queue_url) if ENV.ingest_queue_url else None,
        defaults=DEFAULTS,
        quiet_seconds=ENV.inbox_quiet_seconds,
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> list[str]:
    return [outcome.value for outcome in ingest().handle_body(record.body)]


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
