"""Step Functions and SQS access for ingest: start a job's execution, schedule a settle check."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

MAX_SQS_DELAY_SECONDS = 900


# StartExecution is a token bucket (a few hundred per second refill): a throttle is retried with
# backoff, and adaptive mode slows this client down while Step Functions keeps throttling it.
START_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


class Executions:
    def __init__(self, state_machine_arn: str, sfn_client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._sfn = sfn_client or boto3.client("stepfunctions", config=START_RETRIES)

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Starts the job's execution; False when an execution of that name already ran (a duplicate).

        Step Functions accepts the same name and input again while the execution is open, so a
        retried ingest after a crash still lands on the one execution.
        """
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return False
        return True


class IngestQueue:
    def __init__(self, queue_url: str, sqs_client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client or boto3.client("sqs")

    def send_later(self, body: dict[str, Any], delay_seconds: int) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(body),
            DelaySeconds=max(0, min(MAX_SQS_DELAY_SECONDS, delay_seconds)),
        )
