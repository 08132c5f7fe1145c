"""The day's image budget in the jobs table: ``pk = BUDGET#<day>`` holds the images taken that day,
``pk = RESERVATION#<id>`` what each piece of work took, so charging the same work twice (a retried
Lambda, a redelivered event) takes nothing more. Both change in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from studio_core.domain.budget import Fit, fit_in_order

# A competing charge between our read and our write: read again and refit, this many times.
REFIT_ATTEMPTS = 5


@dataclass(frozen=True)
class Charge:
    """The answer to a charge: whether it fits, and the day's figures it was decided on."""

    granted: bool
    used_before: int
    limit: int


class ImageBudget:
    def __init__(self, table_name: str, images_per_day: int, dynamodb_resource: Any | None = None) -> None:
        self._table = (dynamodb_resource or boto3.resource("dynamodb")).Table(table_name)
        self._client = self._table.meta.client
        self.images_per_day = images_per_day

    @property
    def limited(self) -> bool:
        return self.images_per_day > 0

    def used(self, day: str) -> int:
        item = self._table.get_item(Key=_day_key(day), ConsistentRead=True).get("Item") or {}
        return int(item.get("images", 0))

    def charge(self, reservation_id: str, images: int, day: str) -> Charge:
        """Takes ``images`` from the day's budget for one piece of work, all or nothing."""
        if not self.limited or images <= 0:
            return Charge(True, 0, self.images_per_day)
        if self._take(reservation_id, images, day):
            return Charge(True, self.used(day) - images, self.images_per_day)
        if self._reserved(reservation_id):
            return Charge(True, self.used(day), self.images_per_day)
        return Charge(False, self.used(day), self.images_per_day)

    def charge_in_order(self, reservation_id: str, images: list[int], day: str) -> tuple[Fit, int]:
        """Takes what fits of a run's requests, in order (``fit_in_order``), in one charge; returns
        the fit and the day's images taken before it. Charged again, it answers the same fit. A
        charge that would pass the limit because others charged meanwhile is fitted again."""
        for _ in range(REFIT_ATTEMPTS):
            used = self.used(day)
            fit = fit_in_order(images, max(0, self.images_per_day - used) if self.limited else None)
            if not self.limited or fit.images == 0 or self._take(reservation_id, fit.images, day):
                return fit, used
            if self._reserved(reservation_id):
                # Charged before (a retried step): the run took what it took then.
                taken = int(self._get_reservation(reservation_id).get("images", 0))
                return fit_in_order(images, taken), used
        raise RuntimeError("the image budget kept changing while it was charged; try again")

    def _take(self, reservation_id: str, images: int, day: str) -> bool:
        """Takes ``images`` in one transaction with the work's reservation, only if the day stays
        within its limit (whoever else charged meanwhile)."""
        condition = "attribute_not_exists(images) OR images <= :room"
        # The resource's client takes plain Python values (it serialises them itself).
        values: dict[str, Any] = {":n": images, ":room": self.images_per_day - images}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": {**_reservation_key(reservation_id), "images": images, "day": day},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": _day_key(day),
                            "UpdateExpression": "ADD images :n",
                            "ConditionExpression": condition,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self._client.exceptions.TransactionCanceledException:
            return False
        return True

    def _get_reservation(self, reservation_id: str) -> dict[str, Any]:
        return (
            self._table.get_item(Key=_reservation_key(reservation_id), ConsistentRead=True).get("Item") or {}
        )

    def _reserved(self, reservation_id: str) -> bool:
        return bool(self._get_reservation(reservation_id))


def _day_key(day: str) -> dict[str, str]:
    return {"pk": f"BUDGET#{day}", "sk": "BUDGET"}


def _reservation_key(reservation_id: str) -> dict[str, str]:
    return {"pk": f"RESERVATION#{reservation_id}", "sk": "RESERVATION"}
