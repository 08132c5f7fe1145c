"""What a check keeps of an answer for the copy, and when the copy may use it (domain.kept_answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from studio_core.aiuta.answers import OnFigureOperation
from studio_core.domain.kept_answers import (
    LINKS_MUST_LAST,
    UNDATED_LINKS_LAST,
    kept_for_copy,
    links_last_long_enough,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def answer(*expires: datetime | None, url: str = "https://cdn.example/i.png") -> OnFigureOperation:
    images: list[dict[str, Any]] = [
        {"id": f"img-{n}", "owner_type": "user", "url": url, "expires_at": e.isoformat() if e else None}
        for n, e in enumerate(expires)
    ]
    return OnFigureOperation.model_validate(
        {
            "id": "op-1",
            "status": "SUCCESS",
            "product_info": {"title": "Shirt", "description": "long text " * 100},
            "image_types": [{"viewpoint": "front", "pose": "standing"}],
            "generation_result": [
                {"image_type": {"viewpoint": "front", "pose": "standing"}, "generated_images": images}
            ],
        }
    )


def test_only_what_the_copy_reads_is_kept_and_it_reads_back_the_same() -> None:
    # Given a succeeded answer with the product's texts and settings
    original = answer(NOW + timedelta(hours=1))

    # When it is kept
    kept = kept_for_copy(original)

    # Then only the id, status and generated images are, and they read back as Aiuta's answer
    assert kept is not None and set(kept) == {"id", "status", "generation_result"}
    again = OnFigureOperation.model_validate(kept)
    assert again.generation_result == original.generation_result
    assert again.status == original.status


def test_an_answer_past_the_size_bound_is_not_kept() -> None:
    assert kept_for_copy(answer(*[None] * 200, url="https://cdn.example/" + "x" * 6000)) is None


@pytest.mark.parametrize(
    ("expires", "usable"),
    [
        ([NOW + timedelta(hours=1)], True),
        ([NOW + LINKS_MUST_LAST], True),
        ([NOW + LINKS_MUST_LAST - timedelta(seconds=1)], False),
        ([NOW + timedelta(hours=1), NOW + timedelta(minutes=5)], False),  # one short link is enough
        ([NOW - timedelta(minutes=1)], False),
    ],
)
def test_a_kept_answer_is_used_while_every_link_lasts_long_enough(
    expires: list[datetime], usable: bool
) -> None:
    assert links_last_long_enough(answer(*expires), NOW, NOW) is usable


def test_a_link_without_an_end_is_trusted_for_a_while_after_the_check_saw_it() -> None:
    undated = answer(None)
    latest = UNDATED_LINKS_LAST - LINKS_MUST_LAST
    assert links_last_long_enough(undated, NOW, NOW + latest)
    assert not links_last_long_enough(undated, NOW, NOW + latest + timedelta(seconds=1))


def test_an_answer_without_images_has_no_link_to_expire() -> None:
    empty = OnFigureOperation.model_validate({"id": "op-1", "status": "SUCCESS", "generation_result": []})
    assert links_last_long_enough(empty, NOW, NOW)
