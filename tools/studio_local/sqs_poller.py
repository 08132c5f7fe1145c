"""SQS -> Lambda delivery, done the way Lambda's pollers do it, in a thread per event source mapping.

moto delivers an SQS event source mapping synchronously inside ``send_message`` and never
comes back for a message that was delayed or whose visibility timeout ran out, so the local
stack disables moto's mapping (``take_over_event_sources``) and runs ``SqsPoller`` instead:
plain ``receive_message`` (which honours ``DelaySeconds`` and visibility), one invocation per
batch with a real SQS event, and deletion of exactly the messages the function did not report
in ``batchItemFailures``. A failed message comes back after the visibility timeout and moto's
redrive moves it to the DLQ after ``maxReceiveCount`` receives.

Like Lambda's pollers, a mapping delivers up to ``ScalingConfig.MaximumConcurrency`` batches at
once (one poller thread each; Lambda's default without the setting is a burst of pollers, here
``DEFAULT_CONCURRENCY``). A throttled invocation (the function is at its reserved concurrency)
keeps its batch invisible and is tried again with backoff, until half the visibility timeout has
passed; then the messages are left to come back, as Lambda leaves them.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from studio_local.deploy import DeployedStack, DeploymentError
from studio_local.lambda_runtime import InvocationResult, Throttled

logger = logging.getLogger("studio_local.sqs")
RECEIVE_WAIT_SECONDS = 1
SQS_MAX_BATCH = 10
DEFAULT_CONCURRENCY = 5


@dataclass(frozen=True)
class SqsEventSource:
    """One SQS event source mapping of the template, as moto created it."""

    uuid: str
    logical_id: str
    function_arn: str
    queue_arn: str
    queue_url: str
    batch_size: int
    report_batch_item_failures: bool
    batching_window_seconds: float = 0.0
    maximum_concurrency: int | None = None
    visibility_timeout_seconds: float = 30.0

    @property
    def concurrency(self) -> int:
        return self.maximum_concurrency or DEFAULT_CONCURRENCY


@dataclass
class PollerStats:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    failed_items: int = 0
    failed_batches: int = 0
    throttled: int = 0


def take_over_event_sources(
    stack: DeployedStack, lambda_client: BaseClient, sqs_client: BaseClient
) -> list[SqsEventSource]:
    """Disable moto's delivery for every event source mapping of the stack; return their settings.

    Disabling (not deleting) is what stops moto: its ``delete_event_source_mapping`` leaves the
    mapping attached to the queue.
    """
    sources = []
    for logical_id, _resource in stack.of_type("AWS::Lambda::EventSourceMapping"):
        mapping = lambda_client.get_event_source_mapping(UUID=stack.physical_id(logical_id))
        queue_arn = mapping["EventSourceArn"]
        if not queue_arn.startswith("arn:aws:sqs:"):
            raise DeploymentError(f"{logical_id}: only SQS event sources run locally, not {queue_arn}")
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        state = lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["State"]
        if state != "Disabled":
            raise DeploymentError(f"{logical_id}: moto's event source mapping stayed {state}")
        queue_url = sqs_client.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        visibility = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
        scaling = mapping.get("ScalingConfig") or {}
        sources.append(
            SqsEventSource(
                uuid=mapping["UUID"],
                logical_id=logical_id,
                function_arn=mapping["FunctionArn"],
                queue_arn=queue_arn,
                queue_url=queue_url,
                batch_size=int(mapping.get("BatchSize") or 10),
                report_batch_item_failures="ReportBatchItemFailures"
                in (mapping.get("FunctionResponseTypes") or []),
                batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                maximum_concurrency=int(scaling["MaximumConcurrency"])
                if scaling.get("MaximumConcurrency")
                else None,
                visibility_timeout_seconds=float(visibility["Attributes"].get("VisibilityTimeout", 30)),
            )
        )
    return sources


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda hands a function for ``messages`` (as ``receive_message`` returned them)."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells these in camelCase and gives binary values in base64.
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def messages_to_delete(
    messages: list[dict[str, Any]], result: InvocationResult, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """The messages Lambda deletes after an invocation, with ``ReportBatchItemFailures`` semantics.

    A function error keeps the whole batch. With partial responses, the items listed in
    ``batchItemFailures`` are kept; an answer Lambda cannot read (an unknown or empty
    ``itemIdentifier``) keeps the whole batch as well.
    """
    if not result.ok:
        return []
    if not report_batch_item_failures:
        return list(messages)
    try:
        answer = result.json()
    except ValueError:
        return []
    failures = (answer or {}).get("batchItemFailures") if isinstance(answer, dict) else None
    if not failures:
        return list(messages)
    ids = {m["MessageId"] for m in messages}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in ids:
            return []
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


@dataclass
class SqsPoller:
    """Receives from ``source``'s queue in a thread and invokes its function, until ``stop()``."""

    source: SqsEventSource
    sqs: BaseClient
    invoke: Callable[[str, dict[str, Any]], InvocationResult]
    region: str
    stats: PollerStats = field(default_factory=PollerStats)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> None:
        """One poller thread per unit of the mapping's maximum concurrency."""
        for index in range(self.source.concurrency):
            thread = threading.Thread(
                target=self._run, name=f"sqs-poller-{self.source.logical_id}-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; batches being processed are finished first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("poller %s did not stop within %.0f s", thread.name, timeout)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("polling %s failed; retrying", self.source.queue_url)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """Gather one batch and, if messages came, invoke once; returns how many messages came.

        Like Lambda, a batch is sent when it holds ``BatchSize`` messages or when
        ``MaximumBatchingWindowInSeconds`` has passed since its first message.
        """
        messages = self._receive(self.source.batch_size, RECEIVE_WAIT_SECONDS)
        if not messages:
            return 0
        window_ends = time.monotonic() + self.source.batching_window_seconds
        while len(messages) < self.source.batch_size and not self._stop.is_set():
            left = window_ends - time.monotonic()
            if left <= 0:
                break
            more = self._receive(self.source.batch_size - len(messages), min(RECEIVE_WAIT_SECONDS, left))
            if not more and left < RECEIVE_WAIT_SECONDS:
                self._stop.wait(min(left, 0.2))  # SQS waits in whole seconds: don't spin on the rest
            messages += more
        result = self._invoke(sqs_event(messages, self.source.queue_arn, self.region))
        if result is None:
            return len(messages)  # throttled throughout: the messages come back after their timeout
        done = messages_to_delete(messages, result, self.source.report_batch_item_failures)
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.messages += len(messages)
            self.stats.deleted += len(done)
            self.stats.failed_items += len(messages) - len(done)
            self.stats.failed_batches += 0 if result.ok else 1
        return len(messages)

    def _invoke(self, event: dict[str, Any]) -> InvocationResult | None:
        give_up = time.monotonic() + self.source.visibility_timeout_seconds / 2
        delay = 0.2
        while True:
            try:
                return self.invoke(self.source.function_arn, event)
            except Throttled:
                with self._stats_lock:
                    self.stats.throttled += 1
                if time.monotonic() + delay > give_up or self._stop.is_set():
                    return None
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _receive(self, count: int, wait_seconds: float) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=min(count, SQS_MAX_BATCH),
            WaitTimeSeconds=max(0, round(wait_seconds)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
