"""The CLI's library under its earlier names, for code that drives it from Python (tests, bench).

``Stack``, ``submit_folder`` and ``request_regeneration`` check what they are given the way
``studio submit`` and ``studio regenerate`` do, and raise ``ValueError`` (``Refused`` /
``UsageError``) naming what is wrong before anything is written.
"""

from __future__ import annotations

from studio_cli.regenerating import request_regeneration as _request_regeneration
from studio_cli.stack import Stack
from studio_cli.submitting import submit_folder

__all__ = ["Stack", "request_regeneration", "submit_folder"]


def request_regeneration(
    stack: Stack, job_id: str, image_types: list[str], number_of_generations: int | None = None
) -> str:
    """Requests a regeneration round of ``job_id``; returns the request's key."""
    return _request_regeneration(stack, job_id, image_types, number_of_generations).key
