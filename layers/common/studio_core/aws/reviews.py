"""Step Functions callbacks: a job waiting in "Wait for review" is resumed with its task token.

``send_decision`` hands a decision to the waiting execution (``SendTaskSuccess``); ``end_wait``
ends the wait with an error (``SendTaskFailure``: a cancel). A token the execution no longer
waits on (the decision already arrived, the deadline passed, the execution stopped) answers
False: the caller says so, nothing is retried.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from studio_core.observability import logger

GONE = frozenset({"InvalidToken", "TaskDoesNotExist", "TaskTimedOut"})


class ReviewCallbacks:
    def __init__(self, sfn_client: Any | None = None) -> None:
        self._sfn = sfn_client

    def _client(self) -> Any:
        if self._sfn is None:
            self._sfn = boto3.client("stepfunctions")
        return self._sfn

    def send_decision(self, token: str, decision: dict[str, Any]) -> bool:
        """Resumes the waiting execution with ``decision`` (its output of "Wait for review")."""
        try:
            self._client().send_task_success(taskToken=token, output=json.dumps(decision))
        except ClientError as exc:
            return _gone(exc)
        return True

    def end_wait(self, token: str, error: str, cause: str) -> bool:
        """Ends the wait with ``error`` (the state machine's Catch takes it from there)."""
        try:
            self._client().send_task_failure(taskToken=token, error=error, cause=cause[:32768])
        except ClientError as exc:
            return _gone(exc)
        return True


def _gone(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in GONE:
        logger.info("the execution no longer waits on this token", extra={"code": code})
        return False
    raise exc
