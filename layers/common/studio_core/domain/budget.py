"""The image budget: the most images a store lets the pipeline ask Aiuta for, per catalogue and per
day (UTC), so a wrong feed or a loop can never pay for more than the store chose.

Work is charged when it is accepted (a folder's job, a catalogue's rows, a regeneration request,
an automatic regeneration round), before anything is sent to Aiuta. Work that does not fit is
refused with the reason and is never silently dropped: the refusal is on its record and in the
catalogue's report, and the same upload runs once the budget has room (the next day, or with a
higher limit). A limit of 0 means no limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


def budget_day(now: datetime) -> str:
    """The budget's day: a UTC date."""
    return now.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Fit:
    """Which of a run's requests fit a budget, in order; the rest are refused."""

    accepted: list[int]  # indexes into the requests
    refused: list[int]
    images: int  # what the accepted ones take


def fit_in_order(images: Sequence[int], room: int | None) -> Fit:
    """Takes requests in order while each fits what is left (``room`` None: no limit). A request
    too big for what is left is refused; a later, smaller one may still fit."""
    accepted: list[int] = []
    refused: list[int] = []
    taken = 0
    for index, wanted in enumerate(images):
        if room is None or taken + wanted <= room:
            accepted.append(index)
            taken += wanted
        else:
            refused.append(index)
    return Fit(accepted, refused, taken)


def over_budget_reason(wanted: int, *, limit: int, used: int, scope: str, parameter: str) -> str:
    """Why work was refused, and what the store can do about it."""
    left = max(0, limit - used)
    return (
        f"over the image budget: it asks for {wanted} image(s) and {scope} has {left} of {limit} left "
        f"({used} taken); nothing was sent to Aiuta. Upload it again when the budget has room, or raise "
        f"the template parameter {parameter}"
    )
