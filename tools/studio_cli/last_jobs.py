"""The jobs the last ``submit``, ``regenerate`` or ``resume`` expects, so a bare ``studio watch``
follows exactly those (waiting for them to appear) instead of whatever the table holds.

Kept per jobs table in ``$STUDIO_STATE_DIR`` (default ``~/.cache/studio``), one small JSON file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

FRESH_FOR = timedelta(hours=12)


@dataclass
class Catalogue:
    """A submitted catalogue: its key, how many rows it has, and the job each row will be."""

    key: str
    rows: int
    jobs: list[str] = field(default_factory=list)
    etag: str = ""
    version: str = ""  # the uploaded version (its S3 version id, else its ETag): names its run


@dataclass
class Expected:
    jobs: list[str] = field(default_factory=list)
    catalogues: list[Catalogue] = field(default_factory=list)
    # product -> ISO time: the product's first job recorded since then, whatever its id (an
    # upload whose job id cannot be known in advance, e.g. one that ingest will reject)
    products: dict[str, str] = field(default_factory=dict)
    at: str = ""
    command: str = ""


def state_file(table: str) -> Path:
    base = Path(os.environ.get("STUDIO_STATE_DIR") or Path.home() / ".cache" / "studio")
    return base / f"last-jobs-{table}.json"


def remember(table: str, expected: Expected) -> None:
    """Best effort: a read-only home must not make a submit fail."""
    expected.at = datetime.now(UTC).isoformat()
    path = state_file(table)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(expected), indent=1))
    except OSError:
        pass


def recall(table: str) -> Expected | None:
    """What the last command expected, if it was recent."""
    try:
        document = json.loads(state_file(table).read_text())
        expected = Expected(
            jobs=list(document.get("jobs", [])),
            catalogues=[Catalogue(**c) for c in document.get("catalogues", [])],
            products=dict(document.get("products", {})),
            at=document.get("at", ""),
            command=document.get("command", ""),
        )
        when = datetime.fromisoformat(expected.at)
    except (OSError, ValueError, TypeError):
        return None
    if datetime.now(UTC) - when > FRESH_FOR:
        return None
    return expected
