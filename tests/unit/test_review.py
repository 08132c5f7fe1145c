"""Review decisions: what a decision file may say, what it resolves to against its job (images
approved, types made again, its price), the automatic review, and how a reviewed job ends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from studio_core.aiuta.answers import OperationStatus
from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.errors import InvalidDecision
from studio_core.domain.identity import generation_settings, review_decision_id
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.keys import KeyKind, classify_key, published_key
from studio_core.domain.record import ImageRecord, JobRecord, JobStatus, ReviewDecisionRecord
from studio_core.domain.review import (
    DecisionFile,
    approvals_after,
    automatic_decision,
    numbered_images,
    parse_decision_file,
    pending_labels,
    plan_decision,
    review_shortfall,
)
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind, ReviewMode, image_type_from_label

NOW = "2026-12-07T10:00:00+00:00"


def image(
    label: str, variant: int, *, round_: int = 0, error: str | None = None, copied: bool = True
) -> ImageRecord:
    kind = Kind.FLAT_LAY if label.startswith(("ghost", "flat")) else Kind.ON_FIGURE
    return ImageRecord(
        kind=kind,
        image_type=image_type_from_label(label),
        variant=variant,
        round=round_,
        key=f"outbox/sku-1/job-1/{kind.value}/{label.replace('/', '-')}-v{variant}-r{round_}.png"
        if copied
        else None,
        aiuta_image_id=f"img-{label}-{variant}-{round_}",
        source_url="https://cdn.example/x.png",
        error=error,
    )


def op(
    kind: Kind, *labels: str, round_: int = 0, status: OperationStatus = OperationStatus.SUCCESS
) -> OperationRef:
    return OperationRef(
        kind=kind,
        operation_id=f"{kind.value}-{round_}",
        round=round_,
        image_types=list(labels),
        number_of_generations=2,
        status=status,
    )


def job(*, flat_lay_failed: bool = False, **extra: Any) -> JobRecord:
    spec = build_job(
        "sku-1",
        {
            "kind": "both",
            "number_of_generations": 2,
            "image_types": {
                "on_figure": ["front/standing", "back/walking"],
                "flat_lay": ["ghost_mannequin/front"],
            },
            "review": "required",
        },
        image_count=1,
        defaults=JobDefaults(),
    )
    images = [image(label, v) for label in ("front/standing", "back/walking") for v in (1, 2)]
    operations = [op(Kind.ON_FIGURE, "front/standing", "back/walking")]
    if flat_lay_failed:
        operations.append(op(Kind.FLAT_LAY, "ghost_mannequin/front", status=OperationStatus.FAILED))
    else:
        operations.append(op(Kind.FLAT_LAY, "ghost_mannequin/front"))
        images += [image("ghost_mannequin/front", v) for v in (1, 2)]
    return JobRecord(
        job_id="job-1",
        product_id="sku-1",
        status=JobStatus.AWAITING_REVIEW,
        created_at=NOW,
        updated_at=NOW,
        job=spec,
        operations=operations,
        images=images,
        review_round=0,
        **extra,
    )


def plan(
    record: JobRecord, rounds_limit: int = 2, late: bool = False, **decision: Any
) -> ReviewDecisionRecord:
    return plan_decision(
        DecisionFile.model_validate(decision),
        record,
        rounds_limit=rounds_limit,
        decision_id="d-1",
        by="ana",
        at=NOW,
        late=late,
    )


def refusal(record: JobRecord, **decision: Any) -> str:
    with pytest.raises(InvalidDecision) as caught:
        plan(record, **decision)
    return str(caught.value)


# --- the file ------------------------------------------------------------------------------------


def test_a_decision_file_may_approve_one_number_or_several_and_reject_with_a_reason() -> None:
    decision = parse_decision_file(
        json.dumps(
            {
                "approve": {"front/standing": 2, "ghost_mannequin/front": [1, 2]},
                "reject": {"back/walking": " hands "},
            }
        ).encode(),
        "review/sku-1/job-1/a.json",
    )
    assert decision.approve == {"front/standing": [2], "ghost_mannequin/front": [1, 2]}
    assert decision.reject == {"back/walking": "hands"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"aprove": {"front/standing": 1}}, "unknown key 'aprove'"),
        ({}, "decides nothing"),
        ({"reject": {"back/walking": "  "}}, "give a reason for rejecting 'back/walking'"),
        ({"retry": ["flatlay"]}, "retry.0"),
        ([1], "must be a JSON object"),
    ],
)
def test_a_decision_file_that_cannot_be_read_says_why(document: Any, expected: str) -> None:
    with pytest.raises(InvalidDecision, match=r"review/sku-1/job-1/a\.json") as caught:
        parse_decision_file(json.dumps(document).encode(), "review/sku-1/job-1/a.json")
    assert expected in str(caught.value)


def test_decision_files_are_keys_of_their_own_under_review() -> None:
    item = classify_key("review/sku-1/job-1/2026-12-07-ana.json")
    assert (item.kind, item.product_id, item.job_id) == (KeyKind.REVIEW, "sku-1", "job-1")
    assert classify_key("review/sku-1/job-1/a.json.done.json").kind is KeyKind.IGNORED
    assert classify_key("review/sku-1/a.json").kind is KeyKind.IGNORED
    assert published_key("sku-1", "front/standing", 2, "png") == "published/sku-1/front-standing-2.png"


# --- resolving it ----------------------------------------------------------------------------------


def test_images_are_numbered_by_round_then_variant() -> None:
    record = job()
    record.images.append(image("back/walking", 1, round_=1))
    numbers = [(n, i.round, i.variant) for n, i in numbered_images(record, "back/walking")]
    assert numbers == [(1, 0, 1), (2, 0, 2), (3, 1, 1)]


def test_approving_picks_the_numbered_images_and_costs_nothing() -> None:
    decided = plan(job(), approve={"front/standing": [2], "ghost_mannequin/front": [1]})

    assert [(a.image_type.label, a.variant) for a in decided.approved] == [
        ("front/standing", 2),
        ("ghost_mannequin/front", 1),
    ]
    assert decided.approved[0].key.endswith("front-standing-v2-r0.png")
    assert not decided.asks_for_images
    assert decided.quote.operations == decided.quote.images == 0


def test_a_rejected_on_figure_type_is_regenerated_with_the_same_model_and_quoted() -> None:
    decided = plan(job(), approve={"front/standing": [1]}, reject={"back/walking": "hands cut off"})

    assert [t.label for t in decided.regenerate] == ["back/walking"]
    assert decided.new_operations == []
    assert (decided.quote.operations, decided.quote.images) == (1, 2)  # one round, 1 type x 2 generations


def test_a_rejected_flat_lay_type_gets_a_new_flat_lay_operation() -> None:
    decided = plan(job(), reject={"ghost_mannequin/front": "wrinkled"})

    assert decided.regenerate == []
    [new] = decided.new_operations
    assert new.kind is Kind.FLAT_LAY and [t.label for t in new.image_types] == ["ghost_mannequin/front"]
    assert (decided.quote.operations, decided.quote.images) == (1, 2)


def test_a_failed_kind_is_retried_with_a_new_operation_for_its_types() -> None:
    record = job(flat_lay_failed=True)
    decided = plan(record, approve={"front/standing": [1], "back/walking": [2]}, retry=["flat_lay"])

    [new] = decided.new_operations
    assert new.kind is Kind.FLAT_LAY and [t.label for t in new.image_types] == ["ghost_mannequin/front"]
    assert decided.quote.operations == 1


def test_a_failed_on_figure_kind_with_nothing_to_regenerate_from_is_a_new_operation() -> None:
    record = job()
    record.operations[0].status = OperationStatus.FAILED
    record.images = [i for i in record.images if i.kind is Kind.FLAT_LAY]

    decided = plan(record, retry=["on_figure"])

    [new] = decided.new_operations
    assert new.kind is Kind.ON_FIGURE and {t.label for t in new.image_types} == {
        "front/standing",
        "back/walking",
    }


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        ({"approve": {"front/sitting": 1}}, "'front/sitting' is not an image type of this job"),
        ({"approve": {"front/standing": 3}}, "front/standing has no image #3 to approve (it has #1, #2)"),
        (
            {"approve": {"back/walking": 1}, "reject": {"back/walking": "hands"}},
            "back/walking is both approved and rejected",
        ),
        ({"retry": ["flat_lay"]}, "retry flat_lay: every flat_lay type has images"),
    ],
)
def test_a_decision_that_does_not_fit_its_job_names_every_problem(
    decision: dict[str, Any], expected: str
) -> None:
    assert expected in refusal(job(), **decision)


def test_a_decision_past_the_rounds_the_job_may_have_is_refused() -> None:
    record = job()
    record.operations.append(op(Kind.ON_FIGURE, "back/walking", round_=1))
    with pytest.raises(InvalidDecision, match="has had 1 round"):
        plan(record, rounds_limit=1, reject={"back/walking": "hands"})


def test_a_late_decision_may_only_approve() -> None:
    record = job()
    assert plan(record, late=True, approve={"front/standing": [1]}).late
    with pytest.raises(InvalidDecision, match="the job has ended"):
        plan(record, late=True, reject={"back/walking": "hands"})


def test_the_same_decision_is_one_decision_and_another_round_is_another() -> None:
    first = DecisionFile.model_validate({"approve": {"b/w": [2, 1], "a/s": 1}, "reject": {}})
    again = DecisionFile.model_validate({"approve": {"a/s": [1], "b/w": [1, 2, 2]}, "by": "someone else"})

    assert review_decision_id("job-1", 0, first.canonical()) == review_decision_id(
        "job-1", 0, again.canonical()
    )
    assert review_decision_id("job-1", 0, first.canonical()) != review_decision_id(
        "job-1", 1, first.canonical()
    )
    assert review_decision_id("job-1", 0, first.canonical()).startswith("job-1-review-")


# --- approvals, the automatic review, the end ----------------------------------------------------


def test_a_later_approval_of_a_type_replaces_the_earlier_and_a_rejection_withdraws_it() -> None:
    record = job()
    first = plan(record, approve={"front/standing": [1], "back/walking": [1]})
    approved = approvals_after([], first)

    second = plan(record, approve={"front/standing": [2]}, reject={"back/walking": "hands"})
    approved = approvals_after(approved, second)

    assert [(a.image_type.label, a.variant) for a in approved] == [("front/standing", 2)]
    record.approved_images = approved
    assert pending_labels(record) == ["back/walking", "ghost_mannequin/front"]


def test_the_automatic_review_approves_every_image_that_passed_the_checks() -> None:
    record = job()
    record.images[1] = record.images[1].model_copy(update={"error": "is 10x10, not the requested 20x20"})

    decided = automatic_decision(record, decision_id="auto", at=NOW)

    assert decided.automatic and decided.by.startswith("the result checks")
    assert decided.approve == {"front/standing": [1], "back/walking": [1, 2], "ghost_mannequin/front": [1, 2]}
    assert len(decided.approved) == 5


def test_a_failed_operation_that_a_retry_made_again_does_not_make_the_job_partial() -> None:
    record = job(flat_lay_failed=True)
    kinds = [Kind.ON_FIGURE, Kind.FLAT_LAY]
    assert "flat_lay operation" in (review_shortfall(record.operations, record.images, kinds) or "")

    record.operations.append(op(Kind.FLAT_LAY, "ghost_mannequin/front", round_=1))
    record.images += [image("ghost_mannequin/front", v, round_=1) for v in (1, 2)]

    assert review_shortfall(record.operations, record.images, kinds) is None


# --- where review is asked for ---------------------------------------------------------------------


def test_review_is_none_unless_the_job_or_the_template_asks_and_it_is_not_new_work() -> None:
    plain = build_job("sku-1", {}, image_count=1, defaults=JobDefaults())
    assert plain.review is None and "review" not in plain.to_state()
    assert plain.review_mode is ReviewMode.NONE

    by_default = build_job("sku-1", {}, image_count=1, defaults=JobDefaults(review=ReviewMode.REQUIRED))
    by_file = build_job("sku-1", {"review": "auto"}, image_count=1, defaults=JobDefaults())
    assert by_default.review_mode is ReviewMode.REQUIRED and by_file.review_mode is ReviewMode.AUTO
    assert generation_settings(plain) == generation_settings(by_default)


def test_a_catalogue_row_may_ask_for_review() -> None:
    raw = b"id,image_urls,review\nsku-1,https://x.example/a.jpg,required\n"
    [row] = parse_catalogue(raw, "inbox/feed.csv")
    assert row.document is not None and row.document["review"] == "required"
    spec = build_job("sku-1", row.document, image_count=0, defaults=JobDefaults())
    assert spec.review_mode is ReviewMode.REQUIRED


def test_the_catalogue_overview_shows_every_row_with_its_review_and_a_link() -> None:
    from studio_core.domain.overview import overview_rows, render_overview

    record = job()
    rows = [
        {"row": 2, "product_id": "sku-1", "outcome": "new", "job_id": "job-1"},
        {"row": 3, "product_id": "sku-2", "outcome": "rejected", "reason": "line 3: the id column is empty"},
    ]

    page = render_overview(
        "inbox/feed.csv",
        overview_rows(
            rows, {"job-1": record}, href=lambda k: "../" + k, job_href=lambda r: f"/job/{r.job_id}"
        ),
    )

    assert 'data-rows="2"' in page and 'data-awaiting-review="1"' in page
    assert '<a href="/job/job-1">sku-1</a>' in page
    assert '<img src="../outbox/sku-1/job-1/on_figure/front-standing-v1-r0.png"' in page
    assert "required: not yet" in page  # no decision asked for yet on this record
    assert "line 3: the id column is empty" in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("front/standing:2", ("front/standing", [2])),
        ("ghost_mannequin/front:1,3", ("ghost_mannequin/front", [1, 3])),
    ],
)
def test_the_command_lines_approvals_name_a_type_and_its_image_numbers(
    text: str, expected: tuple[str, list[int]]
) -> None:
    from studio_cli.reviewing import parse_approval

    assert parse_approval(text) == expected


@pytest.mark.parametrize(
    ("flag", "text", "hint"),
    [
        ("approve", "front/standing", "e.g. --approve front/standing:2"),
        ("approve", "front/standing:0", "the numbers are the review page's #1, #2..."),
        ("approve", "front/standing:two", "e.g. :2 or :1,3"),
        ("reject", "back/walking", 'e.g. --reject back/walking:"hands cut off"'),
        ("reject", "back/walking:  ", 'e.g. --reject back/walking:"hands cut off"'),
    ],
)
def test_a_command_line_choice_that_cannot_work_is_a_usage_error_with_an_example(
    flag: str, text: str, hint: str
) -> None:
    from studio_cli.errors import UsageError
    from studio_cli.reviewing import parse_approval, parse_rejection

    with pytest.raises(UsageError) as caught:
        (parse_approval if flag == "approve" else parse_rejection)(text)
    assert caught.value.hint == hint


def test_a_rejection_keeps_colons_in_its_reason() -> None:
    from studio_cli.reviewing import parse_rejection

    assert parse_rejection("back/walking: hands: cut off") == ("back/walking", "hands: cut off")
