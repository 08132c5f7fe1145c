"""How long Aiuta's operations take here: one learned ``DurationEstimate`` per priority.

Kept in the jobs table as one item per priority (``pk = POLL_ESTIMATE#<priority>``,
``sk = ESTIMATE``), read at submit to plan a round's checks and updated with what the status
checks saw of a round's end (``DurationObservation``: between two checks, or past the deadline).
Updates are optimistic (conditional on the sample count read), so concurrent finishes never
lose an observation; after a few conflicts the observation is dropped with a log line, because
a schedule is an estimate and must never fail a job.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3

from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.learned_polling import DurationEstimate, DurationObservation, initial_estimate
from studio_core.domain.polling import PollSettings

MAX_CONFLICTS = 10  # each conflict is another writer's success; finishes are rate-limited to a few per second
logger = logging.getLogger(__name__)


class DurationEstimates:
    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        self._table = (dynamodb_resource or boto3.resource("dynamodb")).Table(table_name)

    def current(self, priority: OperationPriority, settings: PollSettings) -> DurationEstimate:
        """The priority's estimate, or the template's defaults when nothing was observed yet."""
        item = self._table.get_item(Key=_key(priority), ConsistentRead=True).get("Item")
        if item is None:
            return initial_estimate(priority, settings)
        return DurationEstimate.model_validate_json(str(item["estimate"]))

    def observe(
        self, priority: OperationPriority, observation: DurationObservation, settings: PollSettings
    ) -> None:
        """Adds what the checks saw of one round's end to the priority's estimate."""
        conflict = self._table.meta.client.exceptions.ConditionalCheckFailedException
        for _ in range(MAX_CONFLICTS):
            item = self._table.get_item(Key=_key(priority), ConsistentRead=True).get("Item")
            before = (
                DurationEstimate.model_validate_json(str(item["estimate"]))
                if item
                else initial_estimate(priority, settings)
            )
            after = before.learn(observation)
            condition: dict[str, Any] = (
                {
                    "ConditionExpression": "samples = :seen",
                    "ExpressionAttributeValues": {":seen": before.samples},
                }
                if item
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            try:
                self._table.put_item(
                    Item={**_key(priority), "estimate": after.model_dump_json(), "samples": after.samples},
                    **condition,
                )
            except conflict:
                continue
            return
        logger.warning("duration estimate for %s not updated: %d concurrent updates", priority, MAX_CONFLICTS)


def _key(priority: OperationPriority) -> dict[str, str]:
    return {"pk": f"POLL_ESTIMATE#{priority.value}", "sk": "ESTIMATE"}
