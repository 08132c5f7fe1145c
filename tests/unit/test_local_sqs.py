"""SQS -> Lambda as Lambda's pollers do it: the event shape and ReportBatchItemFailures semantics."""

from __future__ import annotations

import json
from typing import Any

from studio_local.lambda_runtime import InvocationResult
from studio_local.sqs_poller import messages_to_delete, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:studio-local-IngestQueue-X"


def _message(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"handle-{message_id}",
        "MD5OfBody": "md5",
        "Body": json.dumps({"Records": []}),
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        **extra,
    }


def test_event_has_the_shape_lambda_delivers() -> None:
    # Given a received message with a string and a binary attribute
    message = _message(
        "m1",
        MessageAttributes={
            "kind": {"StringValue": "inbox", "DataType": "String"},
            "raw": {"BinaryValue": b"\x01\x02", "DataType": "Binary"},
        },
    )
    # When it becomes an event
    record = sqs_event([message], QUEUE_ARN, "us-east-1")["Records"][0]
    # Then it reads like AWS's SQS event (camelCase, base64 binaries)
    assert record == {
        "messageId": "m1",
        "receiptHandle": "handle-m1",
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "inbox",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "raw": {
                "binaryValue": "AQI=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


MESSAGES = [_message("a"), _message("b"), _message("c")]


def _answer(payload: Any, error: str | None = None) -> InvocationResult:
    return InvocationResult(json.dumps(payload).encode(), error)


def _ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageId"] for m in messages]


def test_listed_failures_stay_and_the_rest_is_deleted() -> None:
    answer = _answer({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert _ids(messages_to_delete(MESSAGES, answer, report_batch_item_failures=True)) == ["a", "c"]


def test_an_empty_or_missing_failure_list_deletes_the_batch() -> None:
    for payload in ({"batchItemFailures": []}, {}, None, {"batchItemFailures": None}):
        assert _ids(messages_to_delete(MESSAGES, _answer(payload), True)) == ["a", "b", "c"]


def test_a_function_error_keeps_the_whole_batch() -> None:
    assert messages_to_delete(MESSAGES, _answer({"errorType": "Boom"}, "Boom"), True) == []


def test_an_unreadable_partial_response_keeps_the_whole_batch() -> None:
    # Lambda treats an unknown or empty itemIdentifier as a failure of the whole batch.
    assert (
        messages_to_delete(MESSAGES, _answer({"batchItemFailures": [{"itemIdentifier": "zzz"}]}), True) == []
    )
    assert messages_to_delete(MESSAGES, _answer({"batchItemFailures": [{"itemIdentifier": ""}]}), True) == []
    assert messages_to_delete(MESSAGES, _answer({"batchItemFailures": ["b"]}), True) == []


def test_without_report_batch_item_failures_the_answer_is_ignored() -> None:
    answer = _answer({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert _ids(messages_to_delete(MESSAGES, answer, report_batch_item_failures=False)) == ["a", "b", "c"]
