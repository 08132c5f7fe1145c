"""The answers status checks keep for the copy, one JSON object each in the studio bucket.

``answers/<job>/<operation>.json`` (``domain.keys.operation_answer_key``) holds what the copy
needs of the answer (``domain.kept_answers``) and when the check saw it. The bucket's lifecycle
rule expires them after 7 days. A kept answer that cannot be read (missing, refused, not the JSON
this module writes) is no answer: the copy then asks Aiuta.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from studio_core.aws.storage import Storage
from studio_core.domain.keys import operation_answer_key
from studio_core.observability import logger

# S3 answers a missing key 403, not 404, to a role that may not list the whole bucket (Finalize's).
MISSING = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


@dataclass(frozen=True)
class KeptAnswer:
    seen_at: datetime
    answer: dict[str, Any]


class OperationAnswers:
    """Keeps and finds answers; the bucket's client is made on first use (most checks keep none)."""

    def __init__(self, storage: Callable[[], Storage]) -> None:
        self._make_storage = storage
        self._storage: Storage | None = None

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = self._make_storage()
        return self._storage

    def keep(self, job_id: str, operation_id: str, answer: Mapping[str, Any], seen_at: datetime) -> None:
        """Stores ``answer``; S3's errors (``BotoCoreError``, ``ClientError``) go to the caller."""
        document = {"operation_id": operation_id, "seen_at": seen_at.isoformat(), "answer": dict(answer)}
        self.storage.put_json(operation_answer_key(job_id, operation_id), document)

    def find(self, job_id: str, operation_id: str) -> KeptAnswer | None:
        """The answer kept for the operation, or None when there is none that can be read."""
        key = operation_answer_key(job_id, operation_id)
        try:
            data = self.storage.read_bytes(key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            level = logger.info if code in MISSING else logger.warning
            level("no kept answer could be read", extra={"key": key, "error": str(exc)})
            return None
        except BotoCoreError as exc:
            logger.warning("a kept answer could not be read", extra={"key": key, "error": str(exc)})
            return None
        try:
            document = json.loads(data)
            seen_at = datetime.fromisoformat(document["seen_at"])
            answer = document["answer"]
            if document.get("operation_id") != operation_id or not isinstance(answer, dict):
                raise ValueError("not this operation's answer")
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("a kept answer is not readable", extra={"key": key, "error": str(exc)})
            return None
        return KeptAnswer(seen_at, answer)
