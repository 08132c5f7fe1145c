"""The checks on a copied round (missing, undecodable, wrong-size images) and the decision whether
another regeneration round follows: the job's plan first, then failed checks if it asks, within
max_rounds, on-figure only."""

from __future__ import annotations

from typing import Any

from studio_core.domain.jobs import JobDefaults, JobSpec, build_job
from studio_core.domain.record import ImageRecord
from studio_core.domain.results import Finding, check_results, decide_next_round
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind, image_type_from_label


def spec(**document: Any) -> JobSpec:
    return build_job("sku-1", document, image_count=1, defaults=JobDefaults())


def on_figure_op(*labels: str, generations: int = 2, round_: int = 0) -> OperationRef:
    return OperationRef(
        kind=Kind.ON_FIGURE,
        operation_id=f"op-{round_}",
        round=round_,
        image_types=list(labels),
        number_of_generations=generations,
    )


def image(
    label: str,
    variant: int,
    *,
    kind: str = "on_figure",
    size: tuple[int | None, int | None] = (1200, 1600),
    error: str | None = None,
    round_: int = 0,
) -> ImageRecord:
    width, height = size
    return ImageRecord(
        kind=Kind(kind),
        image_type=image_type_from_label(label),
        variant=variant,
        round=round_,
        key=None if error else f"outbox/sku-1/j/{kind}/{label.replace('/', '-')}-v{variant}.png",
        aiuta_image_id=f"img-{label}-{variant}",
        source_url="https://cdn.example/x.png",
        width=width,
        height=height,
        error=error,
    )


def finding(kind: str, label: str, message: str) -> Finding:
    return Finding(Kind(kind), image_type_from_label(label), message)


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


def failed_on_figure(label: str = "back/walking") -> list[Finding]:
    return [finding("on_figure", label, f"{label}: 1 of 2 images arrived")]


# check_results


def test_a_complete_round_has_no_findings() -> None:
    # Given two on-figure types with two generations each, all four images copied at the asked size
    job = spec(number_of_generations=2, output_image_size={"width": 1200, "height": 1600})
    op = on_figure_op("front/standing", "back/walking")
    images = [image(label, v) for label in ("front/standing", "back/walking") for v in (1, 2)]

    # When the round is checked
    # Then nothing is wrong
    assert check_results(job, [op], images) == []


def test_a_missing_variant_is_found() -> None:
    # Given back/walking delivered one of its two variants
    job = spec(number_of_generations=2)
    op = on_figure_op("front/standing", "back/walking")
    images = [image("front/standing", 1), image("front/standing", 2), image("back/walking", 1)]

    # When the round is checked
    findings = check_results(job, [op], images)

    # Then the one short type is reported, with the counts
    assert findings == [finding("on_figure", "back/walking", "back/walking: 1 of 2 images arrived")]


def test_a_type_with_no_image_at_all_is_found() -> None:
    # Given an operation that returned nothing for one of its types
    job = spec(number_of_generations=2)
    op = on_figure_op("front/standing", "side/sitting")
    images = [image("front/standing", 1), image("front/standing", 2)]

    # When the round is checked
    # Then the empty type is reported
    assert messages(check_results(job, [op], images)) == ["side/sitting: 0 of 2 images arrived"]


def test_an_undecodable_image_is_found_and_does_not_count_as_arrived() -> None:
    # Given the second variant could not be decoded
    job = spec(number_of_generations=2)
    op = on_figure_op("front/standing")
    images = [
        image("front/standing", 1),
        image("front/standing", 2, size=(None, None), error="not an image"),
    ]

    # When the round is checked
    found = messages(check_results(job, [op], images))

    # Then the bad image is reported with its error, and the type as short of one image
    assert "front/standing v2: not an image" in found
    assert "front/standing: 1 of 2 images arrived" in found


def test_a_wrong_size_is_found_when_the_job_asked_for_a_size() -> None:
    # Given a job asking for 1200x1600 and a flat-lay image that came back 1200x1500
    job = spec(kind="flat_lay", number_of_generations=1, output_image_size={"width": 1200, "height": 1600})
    op = OperationRef(kind=Kind.FLAT_LAY, operation_id="op-f", image_types=["flat/front"])
    images = [image("flat/front", 1, kind="flat_lay", size=(1200, 1500))]

    # When the round is checked
    # Then the size mismatch is reported with both sizes
    assert check_results(job, [op], images) == [
        finding("flat_lay", "flat/front", "flat/front v1 is 1200x1500, not the requested 1200x1600")
    ]


def test_any_size_is_fine_when_the_job_did_not_ask_for_one() -> None:
    # Given a job without output_image_size and images of assorted sizes
    job = spec(number_of_generations=2)
    op = on_figure_op("front/standing")
    images = [image("front/standing", 1, size=(512, 512)), image("front/standing", 2, size=(2000, 900))]

    # When the round is checked
    # Then nothing is reported
    assert check_results(job, [op], images) == []


def test_a_regeneration_round_is_checked_against_its_own_generation_count() -> None:
    # Given a job of 2 generations, and a regeneration round of back/walking that asked for 3
    job = spec(number_of_generations=2)
    op = on_figure_op("back/walking", generations=3, round_=1)
    images = [image("back/walking", v) for v in (1, 2)]

    # When the round is checked
    # Then it is one image short of the round's count, not the job's
    assert messages(check_results(job, [op], images)) == ["back/walking: 2 of 3 images arrived"]


def test_each_kind_is_checked_on_its_own_images() -> None:
    # Given a job of both kinds where flat-lay images are complete and on-figure ones missing
    job = spec(kind="both", number_of_generations=1)
    ops = [
        on_figure_op("front/standing", generations=1),
        OperationRef(kind=Kind.FLAT_LAY, operation_id="op-f", image_types=["ghost_mannequin/front"]),
    ]
    images = [image("ghost_mannequin/front", 1, kind="flat_lay")]

    # When the round is checked
    findings = check_results(job, ops, images)

    # Then only the on-figure type is reported, as on-figure
    assert findings == [finding("on_figure", "front/standing", "front/standing: 0 of 1 images arrived")]


# decide_next_round


def test_planned_rounds_follow_in_order() -> None:
    # Given a job planning two regeneration rounds
    rounds = [
        {"image_types": ["back/walking"], "number_of_generations": 3},
        {"image_types": ["side/standing", "front/sitting"]},
    ]
    job = spec(regeneration={"rounds": rounds, "max_rounds": 2})

    # When the first round, then the second, are done
    first = decide_next_round(job, 0, [])
    second = decide_next_round(job, 1, [])
    after = decide_next_round(job, 2, [])

    # Then each planned round comes in turn, and nothing after the last
    assert first is not None
    assert [t.label for t in first.image_types] == ["back/walking"]
    assert first.number_of_generations == 3
    assert first.reason == "round 1 of the job's regeneration plan"
    assert second is not None
    assert [t.label for t in second.image_types] == ["side/standing", "front/sitting"]
    assert second.number_of_generations is None
    assert second.reason == "round 2 of the job's regeneration plan"
    assert after is None


def test_a_planned_round_comes_before_a_round_for_failed_checks() -> None:
    # Given a planned round and auto-regeneration, and a first round with a failed check
    job = spec(
        regeneration={"rounds": [{"image_types": ["side/leaning"]}], "auto_regenerate_failed_checks": True}
    )

    # When the next round is decided
    plan = decide_next_round(job, 0, failed_on_figure("front/standing"))

    # Then the planned round runs first
    assert plan is not None
    assert [t.label for t in plan.image_types] == ["side/leaning"]


def test_failed_on_figure_checks_are_regenerated_when_the_job_asks() -> None:
    # Given a job with auto-regeneration, whose round failed checks on two types
    job = spec(regeneration={"auto_regenerate_failed_checks": True})
    findings = [
        finding("on_figure", "side/standing", "side/standing v1 is 10x10, not the requested 1200x1600"),
        finding("on_figure", "back/walking", "back/walking: 1 of 2 images arrived"),
        finding("on_figure", "back/walking", "back/walking v2: not an image"),
    ]

    # When the next round is decided
    plan = decide_next_round(job, 0, findings)

    # Then those types are regenerated once each, with the job's generation count, saying why
    assert plan is not None
    assert sorted(t.label for t in plan.image_types) == ["back/walking", "side/standing"]
    assert plan.number_of_generations is None
    assert plan.reason.startswith("results failed checks: ")
    assert "back/walking: 1 of 2 images arrived" in plan.reason


def test_failed_checks_are_not_regenerated_unless_the_job_asks() -> None:
    # Given a job without auto-regeneration (the default) and a failed check
    job = spec()

    # When the next round is decided
    # Then there is none: the job ends with its findings
    assert decide_next_round(job, 0, failed_on_figure()) is None


def test_failed_flat_lay_checks_never_start_a_regeneration() -> None:
    # Given a job of both kinds with auto-regeneration, where only a flat-lay image failed
    job = spec(kind="both", regeneration={"auto_regenerate_failed_checks": True})
    findings = [finding("flat_lay", "ghost_mannequin/front", "ghost_mannequin/front: 0 of 1 images arrived")]

    # When the next round is decided
    # Then there is none (Aiuta regenerates on-figure only)
    assert decide_next_round(job, 0, findings) is None


def test_a_flat_lay_only_job_never_regenerates() -> None:
    # Given a flat-lay job that asks for auto-regeneration, with failed checks
    job = spec(kind="flat_lay", regeneration={"auto_regenerate_failed_checks": True, "max_rounds": 3})

    # When the next round is decided, even with an on-figure-looking finding
    # Then there is none
    assert decide_next_round(job, 0, failed_on_figure()) is None


def test_auto_regeneration_stops_at_max_rounds() -> None:
    # Given auto-regeneration with max_rounds 2, and checks that keep failing
    job = spec(regeneration={"auto_regenerate_failed_checks": True, "max_rounds": 2})

    # When each round is done
    plans = [decide_next_round(job, finished, failed_on_figure()) for finished in range(4)]

    # Then rounds 1 and 2 run, and none after
    assert [plan is not None for plan in plans] == [True, True, False, False]


def test_max_rounds_zero_means_no_regeneration_at_all() -> None:
    # Given auto-regeneration switched on but max_rounds 0
    job = spec(regeneration={"auto_regenerate_failed_checks": True, "max_rounds": 0})

    # When the first round failed checks
    # Then nothing more is started
    assert decide_next_round(job, 0, failed_on_figure()) is None


def test_a_clean_round_ends_the_job_even_with_auto_regeneration() -> None:
    # Given auto-regeneration and a round with no findings
    job = spec(regeneration={"auto_regenerate_failed_checks": True})

    # When the next round is decided
    # Then the job is done
    assert decide_next_round(job, 0, []) is None
