"""`studio redrive`: the ingest DLQ's messages go back to the ingest queue (moto SQS)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from studio_core.aws.dead_letters import redrive, waiting_in_dead_letter_queue
from tests.support.aws import REGION


@pytest.fixture
def queues(aws: None) -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dead = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    main = sqs.create_queue(
        QueueName="ingest",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    return sqs, main, dead


def bodies(sqs: Any, url: str) -> list[str]:
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found


def test_redrive_moves_every_dead_letter_back_to_the_queue(queues: tuple[Any, str, str]) -> None:
    # Given 23 messages that ended in the DLQ
    sqs, main, dead = queues
    for i in range(23):
        sqs.send_message(QueueUrl=dead, MessageBody=json.dumps({"Records": [{"n": i}]}))
    assert waiting_in_dead_letter_queue(main, sqs) == 23

    # When they are redriven
    result = redrive(main, sqs)

    # Then every one is back on the ingest queue, once, and the DLQ is empty
    assert (result.moved, result.left, result.dead_letter_queue_url) == (23, 0, dead)
    assert sorted(json.loads(b)["Records"][0]["n"] for b in bodies(sqs, main)) == list(range(23))
    assert waiting_in_dead_letter_queue(main, sqs) == 0


def test_redrive_can_move_a_few_first(queues: tuple[Any, str, str]) -> None:
    sqs, main, dead = queues
    for i in range(5):
        sqs.send_message(QueueUrl=dead, MessageBody=str(i))

    assert redrive(main, sqs, limit=2).moved == 2
    assert len(bodies(sqs, main)) == 2


def test_a_queue_without_a_dead_letter_queue_says_so(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    with pytest.raises(LookupError, match="no dead-letter queue"):
        redrive(url, sqs)
