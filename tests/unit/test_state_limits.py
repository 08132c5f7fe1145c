"""No input, however large, can push an execution's state past Step Functions' 256 KB, where the
execution fails without running any Catch (a paid job left with no record of its end)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from studio_core.domain.errors import AiutaError, InvalidJob
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.limits import MAX_KEPT_TEXT_CHARS, clip
from studio_core.domain.state import JobState, OperationRef, PendingRound, PollState, StepError
from studio_core.domain.vocabulary import Kind, image_type_from_label

STATE_LIMIT = 256 * 1024
ON_FIGURE = [
    f"{v}/{p}"
    for v in ("front", "front_angled", "back", "back_angled", "side")
    for p in ("standing", "walking", "sitting", "leaning", "crouching_or_kneeling", "in_action", "close_up")
]
FLAT_LAY = [f"{t}/{v}" for t in ("flat", "ghost_mannequin", "detail") for v in ("front", "back")]
PRODUCT = "p" * 100
HUGE = "x" * 300_000  # an error text Aiuta might send, or anything a step might quote


def largest_job(*, urls: bool) -> dict:  # type: ignore[type-arg]
    """The largest job file the pipeline accepts."""
    document: dict = {  # type: ignore[type-arg]
        "product": {"title": "t" * 150, "description": "d" * 5000, "category": "c" * 750},
        "kind": "both",
        "number_of_generations": 4,
        "image_types": {"on_figure": ON_FIGURE, "flat_lay": FLAT_LAY},
        "background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"},
        "output_image_size": {"width": 4096, "height": 4096},
        "output_image_paddings": {"top": 400, "bottom": 400, "left": 400, "right": 400},
        "on_figure_model_settings": {"gender": "female"},
        "regeneration": {
            "rounds": [{"image_types": ON_FIGURE, "number_of_generations": 4}] * 5,
            "auto_regenerate_failed_checks": True,
            "max_rounds": 5,
        },
    }
    if urls:
        document["image_urls"] = [
            f"https://cdn.example.com/{i:02d}/" + "u" * 2000 + ".jpg" for i in range(20)
        ]
    return document


def state_at_its_largest(*, urls: bool) -> JobState:
    spec = build_job(PRODUCT, largest_job(urls=urls), image_count=0 if urls else 20, defaults=JobDefaults())
    keys = (
        []
        if urls
        else [f"inbox/{PRODUCT}/" + "k" * (1010 - len(PRODUCT)) + f"{i:02d}.jpg" for i in range(20)]
    )
    now = datetime(2026, 12, 7, tzinfo=UTC)
    types = [image_type_from_label(label) for label in ON_FIGURE]
    operations = [
        OperationRef(
            kind=Kind.ON_FIGURE, operation_id="o" * 64, round=r, image_types=types, number_of_generations=4
        )
        for r in range(6)
    ] + [
        OperationRef(
            kind=Kind.FLAT_LAY,
            operation_id="f" * 64,
            image_types=[image_type_from_label(t) for t in FLAT_LAY],
        )
    ]
    state = JobState(
        job_id=f"{PRODUCT}-0123456789abcdef-01234567",
        product_id=PRODUCT,
        job=spec,
        input_keys=keys,
        input_versions={key: "v" * 32 for key in keys},
        uploaded_image_ids=["i" * 64] * 20,
        operations=operations,
        poll=PollState(wait_seconds=600, attempt=999, started_at=now, deadline=now + timedelta(days=3)),
        round=5,
        pending_round=PendingRound(image_types=types, number_of_generations=4, reason=HUGE),
    )
    # Everything a step writes from Aiuta's answers, at its worst
    for op in state.operations:
        op.error = HUGE
    state.failure_reason = HUGE
    state.error = StepError(
        Error="AiutaServerError", Cause=json.dumps({"errorMessage": str(AiutaError(HUGE))})
    )
    return state


@pytest.mark.parametrize("urls", [True, False], ids=["image_urls", "photos"])
def test_the_largest_valid_state_stays_well_under_256_kb(urls: bool) -> None:
    state = state_at_its_largest(urls=urls)
    size = len(json.dumps(state.to_output()).encode())
    # A quarter of the limit is left for what Step Functions adds (the Catch's stack trace, ResultPath)
    assert size < STATE_LIMIT * 3 / 4, size


def test_aiuta_texts_are_kept_cut_with_a_marker_that_says_so() -> None:
    state = state_at_its_largest(urls=True)
    error = state.operations[0].error or ""
    assert len(error) == MAX_KEPT_TEXT_CHARS and error.startswith("xxx")
    assert error.endswith(" more characters cut]")
    assert clip("short") == "short"


@pytest.mark.parametrize(
    ("field", "length", "expected"),
    [
        ("description", 390_000, "product.description: String should have at most 5000 characters"),
        ("title", 151, "product.title: String should have at most 150 characters"),
        ("category", 751, "product.category: String should have at most 750 characters"),
    ],
)
def test_a_text_past_its_limit_is_refused_before_anything_is_paid(
    field: str, length: int, expected: str
) -> None:
    with pytest.raises(InvalidJob) as refused:
        build_job("sku-1", {"product": {field: "x" * length}}, image_count=1, defaults=JobDefaults())
    assert expected in str(refused.value)
    assert len(str(refused.value)) < 1000  # the refusal does not quote the text back
