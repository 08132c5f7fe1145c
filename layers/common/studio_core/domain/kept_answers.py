"""The answer a status check keeps for the copy, and when the copy may use it instead of asking Aiuta.

The check that sees an operation succeed has Aiuta's answer with the image links in hand; it
keeps what the copy needs of it (``kept_for_copy``: the operation's id, status and generated
images, nothing else), so the copy does not read the operation again. Aiuta's links expire
(``AiutaImage.expires_at``; the simulator's last ``image_ttl_seconds``, an hour by default): the
copy uses a kept answer only while every link in it lasts at least ``LINKS_MUST_LAST`` more,
enough for the copy of a whole round, else it asks Aiuta as before. Aiuta's spec makes
``expires_at`` optional: a link without one is taken to last ``UNDATED_LINKS_LAST`` after the
check saw it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from studio_core.aiuta.answers import FlatLayOperation, OnFigureOperation

# A copy of a whole round (140 images at most, 8 at a time) takes a few minutes at worst.
LINKS_MUST_LAST = timedelta(minutes=10)
# A link whose answer gives no ``expires_at``: trusted this long after the check saw it.
UNDATED_LINKS_LAST = timedelta(minutes=20)
# A round's answer is a few hundred bytes an image (140 images: about 70 KB); past this, not kept.
MAX_KEPT_ANSWER_BYTES = 1024 * 1024
# The fields of an operation's answer that the copy reads.
COPY_FIELDS = frozenset({"id", "status", "generation_result"})


def kept_for_copy(answer: OnFigureOperation | FlatLayOperation) -> dict[str, Any] | None:
    """What is kept of a succeeded operation's answer: the copy's fields, or None past the size bound."""
    document = answer.model_dump(mode="json", include=set(COPY_FIELDS))
    if len(json.dumps(document)) > MAX_KEPT_ANSWER_BYTES:
        return None
    return document


def links_last_long_enough(
    answer: OnFigureOperation | FlatLayOperation, seen_at: datetime, now: datetime
) -> bool:
    """Whether every image link of ``answer`` (seen at ``seen_at``) lasts ``LINKS_MUST_LAST`` past ``now``."""
    needed = now + LINKS_MUST_LAST
    for item in answer.generation_result or []:
        for image in item.generated_images:
            ends = image.expires_at or seen_at + UNDATED_LINKS_LAST
            if ends.tzinfo is None or ends < needed:
                return False
    return True
