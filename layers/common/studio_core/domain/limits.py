"""The limits a store can rely on, in one place (the README's "Limits" table lists them).

Every text and file the pipeline accepts is bounded, so that no input, however large, can strand a
paid job: a Step Functions state holds at most 256 KB (past it the execution fails where no Catch
runs), a DynamoDB item 400 KB, a Lambda's memory what the template gives it. Texts that come from
Aiuta (an operation's error) are kept, cut to a length with a marker that says so.
"""

from __future__ import annotations

MIB = 1024 * 1024

# Files read because of an upload, refused (with the reason) past these sizes before being read.
MAX_PHOTO_BYTES = 25 * MIB  # a phone's JPEG or HEIC is 2-8 MB; a 40-megapixel PNG about 20 MB
MAX_JOB_FILE_BYTES = 256 * 1024  # product.json
MAX_REQUEST_FILE_BYTES = 64 * 1024  # a regeneration request, a cancel
MAX_CATALOGUE_BYTES = 50 * MIB  # about 100,000 rows
# A product folder takes at most 20 photos and its product.json; ingest lists at most this many of
# its files, and refuses a folder holding more.
MAX_FOLDER_FILES = 100

# The product's texts (Google Merchant Center's own limits for title and description).
MAX_TITLE_CHARS = 150
MAX_DESCRIPTION_CHARS = 5000
MAX_CATEGORY_CHARS = 750
MAX_PRODUCT_ID_CHARS = 100

# A text from Aiuta (an operation's error) or a reason kept in the execution's state.
MAX_KEPT_TEXT_CHARS = 2000


def clip(text: str, limit: int = MAX_KEPT_TEXT_CHARS) -> str:
    """``text`` whole if it fits, else its start and a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    marker = f" [... {len(text) - limit:,} more characters cut]"
    return text[: max(0, limit - len(marker))] + marker


def size_text(size: int) -> str:
    """A byte count as a person reads it: ``25 MiB``, ``64 KiB``, ``812 bytes``."""
    if size >= MIB:
        return f"{size / MIB:.0f} MiB" if size % MIB == 0 else f"{size / MIB:.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def too_large(what: str, size: int, limit: int) -> str | None:
    """Why a file is refused for its size, or None when it fits."""
    if size <= limit:
        return None
    return f"{what} is {size_text(size)}, more than the {size_text(limit)} accepted"
