"""The ingest queue's dead-letter queue: what is in it, and sending it back (``studio redrive``).

A message lands in the DLQ only after ``maxReceiveCount`` failed deliveries, which ingest allows
for AWS errors alone (bad input is rejected and consumed). Once the fault is fixed, each message
is sent back to the ingest queue and then deleted from the DLQ. A crash between the two leaves a
copy in both; ingest is idempotent (job ids come from keys and ETags), so the copy starts nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass(frozen=True)
class Redriven:
    dead_letter_queue_url: str
    moved: int
    left: int  # messages that could not be sent back (still in the DLQ)


def dead_letter_queue_url(queue_url: str, sqs: Any) -> str:
    """The DLQ of ``queue_url``, from its RedrivePolicy."""
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    attributes = answer.get("Attributes", {})
    if "RedrivePolicy" not in attributes:
        raise LookupError(f"{queue_url} has no dead-letter queue (no RedrivePolicy)")
    arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    account, name = arn.split(":")[4], arn.split(":")[5]
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def waiting_in_dead_letter_queue(queue_url: str, sqs: Any | None = None) -> int:
    sqs = sqs or boto3.client("sqs")
    url = dead_letter_queue_url(queue_url, sqs)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def redrive(queue_url: str, sqs: Any | None = None, *, limit: int | None = None) -> Redriven:
    """Moves the DLQ's messages back to ``queue_url`` (all of them, or at most ``limit``)."""
    sqs = sqs or boto3.client("sqs")
    dead = dead_letter_queue_url(queue_url, sqs)
    moved = left = 0
    while limit is None or moved + left < limit:
        wanted = 10 if limit is None else max(1, min(10, limit - moved - left))
        batch = sqs.receive_message(
            QueueUrl=dead, MaxNumberOfMessages=wanted, VisibilityTimeout=120, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        entries = [{"Id": str(i), "MessageBody": m["Body"], **_attributes(m)} for i, m in enumerate(batch)]
        sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        done = {entry["Id"] for entry in sent.get("Successful", [])}
        left += len(batch) - len(done)
        handles = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if str(i) in done
        ]
        if handles:
            sqs.delete_message_batch(QueueUrl=dead, Entries=handles)
        moved += len(handles)
    return Redriven(dead, moved, left)


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("MessageAttributes")
    return {"MessageAttributes": attributes} if attributes else {}
