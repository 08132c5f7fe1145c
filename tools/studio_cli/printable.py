"""Text from the bucket, the jobs table or Aiuta, made safe for the operator's terminal.

A title, an error text from Aiuta or an S3 key can carry terminal control sequences: OSC (a new
window title, a clickable link, on some terminals the clipboard), CSI (clear the screen, move the
cursor, recolour what follows) or bare control characters. The CLI prints such text only through
``printable``: escape sequences are removed, and any other control character (C0, DEL, C1, and
the bidirectional overrides that make text read differently from what it is) shows as ``�``;
line breaks and tabs become spaces. Every record the CLI reads from the table passes through
``printable_record`` (``stack.Stack.jobs``), so every view of it is safe.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)

# ESC or its 8-bit twin, then: CSI (parameters, intermediates, a final byte); OSC, DCS, SOS, PM
# or APC (a string up to BEL or ST); or a two-character sequence.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"[\t\n\r]")
REPLACEMENT = "\ufffd"


def printable(text: str) -> str:
    """``text`` without escape sequences or control characters, as one line."""
    if text.isprintable():
        return text
    text = _SEQUENCE.sub("", text)
    return _CONTROL.sub(REPLACEMENT, _SPACE.sub(" ", text))


def printable_value(value: Any) -> Any:
    """Every string in ``value`` (dicts, lists, nested) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_value(k): printable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_value(item) for item in value]
    return value


def printable_record(record: ModelT) -> ModelT:
    """``record`` with every text in it made printable (ids, titles, errors, keys...)."""
    document = record.model_dump(mode="json")
    cleaned = printable_value(document)
    if cleaned == document:
        return record
    return type(record).model_validate(cleaned)
