"""The decision tables of the status check and the copy step, as pure functions: milliseconds, no AWS.

``decide_after_check``: every operation ended and one succeeded -> READY (PARTIAL when another
failed); none succeeded -> FAILED with Aiuta's reasons; otherwise wait again; at the deadline
READY when something can be copied, else TIMED_OUT. An unknown status counts as unfinished.
``summarise_round``: a round's images and findings join the record (a retried copy replaces its
own round), and the next round is the job's plan, or a round for failed on-figure checks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.jobs import JobDefaults, JobSpec, build_job
from studio_core.domain.keys import output_key
from studio_core.domain.learned_polling import DurationObservation
from studio_core.domain.polling import PollSettings, plan_next_check
from studio_core.domain.progress import decide_after_check, poll_after_check
from studio_core.domain.record import ImageRecord, RoundRecord
from studio_core.domain.results import summarise_round
from studio_core.domain.state import OperationRef, PollState, StepStatus
from studio_core.domain.vocabulary import Kind, image_type_from_label

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = PollSettings()


def op(kind: Kind, status: OperationStatus, error: str | None = None, **fields: Any) -> OperationRef:
    return OperationRef(kind=kind, operation_id=f"op-{kind.value}", status=status, error=error, **fields)


def poll(attempt: int = 0, deadline_after: float = 3600, checked_after: float | None = None) -> PollState:
    return PollState(
        wait_seconds=20,
        attempt=attempt,
        started_at=START,
        deadline=START + timedelta(seconds=deadline_after),
        checked_at=None if checked_after is None else START + timedelta(seconds=checked_after),
    )


def decide(operations: list[OperationRef], *, after: float = 30, **poll_fields: Any) -> Any:
    now = START + timedelta(seconds=after)
    return decide_after_check(operations, poll(**poll_fields), now, OperationPriority.ONLINE, SETTINGS)


# decide_after_check


@pytest.mark.parametrize(
    "failed", [OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.ABORTED]
)
def test_one_kind_ending_badly_still_copies_the_other(failed: OperationStatus) -> None:
    # Given one kind done and the other ended badly at Aiuta
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS), op(Kind.FLAT_LAY, failed, "no garment found")]

    # When the check decides
    decision = decide(operations)

    # Then the succeeded kind is copied, and the reason (the job will be PARTIAL) names the other
    assert decision.status is StepStatus.READY
    assert (
        decision.failure_reason
        == f"the flat_lay operation op-flat_lay ended {failed.value}: no garment found"
    )


@pytest.mark.parametrize(
    "failed", [OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.ABORTED]
)
def test_when_nothing_succeeded_the_job_fails_with_aiutas_reasons(failed: OperationStatus) -> None:
    operations = [op(Kind.ON_FIGURE, failed, "model busy"), op(Kind.FLAT_LAY, failed, "no garment found")]

    decision = decide(operations)

    assert decision.status is StepStatus.FAILED
    assert decision.failure_reason == (
        f"the on_figure operation op-on_figure ended {failed.value}: model busy; "
        f"the flat_lay operation op-flat_lay ended {failed.value}: no garment found"
    )


def test_a_failed_kind_waits_for_the_other_kind_to_end() -> None:
    operations = [op(Kind.ON_FIGURE, OperationStatus.IN_PROGRESS), op(Kind.FLAT_LAY, OperationStatus.FAILED)]

    assert decide(operations).status is StepStatus.WAITING


def test_a_failed_regeneration_round_keeps_the_earlier_rounds() -> None:
    # Given round 1 failed at Aiuta, and round 0 is already in the bucket
    failed_round = [op(Kind.ON_FIGURE, OperationStatus.FAILED, "model busy", round=1)]

    # When the check decides
    decision = decide_after_check(
        failed_round, poll(), START, OperationPriority.ONLINE, SETTINGS, has_results=True
    )

    # Then finalize runs (and ends the job PARTIAL) instead of the job failing as a whole
    assert decision.status is StepStatus.READY
    assert (
        decision.failure_reason == "the on_figure operation of round 1 op-on_figure ended FAILED: model busy"
    )


def test_a_failure_without_text_says_so() -> None:
    decision = decide([op(Kind.ON_FIGURE, OperationStatus.FAILED)])
    assert decision.failure_reason is not None
    assert decision.failure_reason.endswith("Aiuta gave no error text")


def test_every_operation_succeeded_means_copy_with_the_time_aiuta_took() -> None:
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS), op(Kind.FLAT_LAY, OperationStatus.SUCCESS)]

    decision = decide(operations, after=42, attempt=2)

    assert decision.status is StepStatus.READY
    assert decision.operation_seconds == 42
    assert decision.attempt == 2  # a finished job makes no further check


@pytest.mark.parametrize(
    "running", [OperationStatus.CREATED, OperationStatus.IN_PROGRESS, OperationStatus.PAUSED]
)
def test_an_unfinished_operation_waits_again_on_the_schedule(running: OperationStatus) -> None:
    # Given one kind still running at check number 3
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS), op(Kind.FLAT_LAY, running)]

    # When the check decides
    decision = decide(operations, attempt=2)

    # Then it waits as the round's schedule says for the next attempt, and the attempt is counted
    expected = plan_next_check(
        poll(attempt=2), START + timedelta(seconds=30), 3, OperationPriority.ONLINE, SETTINGS
    )
    assert decision.status is StepStatus.WAITING
    assert decision.attempt == 3
    assert decision.wait_seconds == expected.wait_seconds >= 1
    assert decision.failure_reason is None


def test_the_last_wait_lands_on_the_deadline_rather_than_past_it() -> None:
    decision = decide([op(Kind.ON_FIGURE, OperationStatus.IN_PROGRESS)], after=3595, attempt=40)

    assert decision.status is StepStatus.WAITING
    assert decision.wait_seconds == 5


def test_past_the_deadline_an_unfinished_job_times_out_saying_what_was_still_running() -> None:
    operations = [op(Kind.ON_FIGURE, OperationStatus.IN_PROGRESS), op(Kind.FLAT_LAY, OperationStatus.PAUSED)]

    decision = decide(operations, after=3601, attempt=7)

    assert decision.status is StepStatus.TIMED_OUT
    assert decision.attempt == 7
    assert decision.failure_reason == (
        "Aiuta had not finished by the deadline 2026-12-01T13:00:00+00:00 "
        "(the on_figure operation op-on_figure IN_PROGRESS, the flat_lay operation op-flat_lay PAUSED)"
    )


def test_at_the_deadline_what_finished_is_copied_and_the_rest_named() -> None:
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS), op(Kind.FLAT_LAY, OperationStatus.PAUSED)]

    decision = decide(operations, after=3601, attempt=7)

    assert decision.status is StepStatus.READY
    assert decision.failure_reason == (
        "Aiuta had not finished by the deadline 2026-12-01T13:00:00+00:00 "
        "(the flat_lay operation op-flat_lay PAUSED)"
    )


def test_an_unknown_status_counts_as_unfinished_and_is_named_at_the_deadline() -> None:
    # Given Aiuta answers a status this code has never seen
    unknown = OperationRef(kind=Kind.ON_FIGURE, operation_id="op-1", status="QUEUED_SIM")

    # When the check decides before and after the deadline
    early, late = decide([unknown]), decide([unknown], after=3601)

    # Then it waits (the status is reported for the metric), and at the deadline the reason names it
    assert early.status is StepStatus.WAITING and early.unknown_statuses == ["QUEUED_SIM"]
    assert late.status is StepStatus.TIMED_OUT
    assert "'QUEUED_SIM' (a status this pipeline does not know" in (late.failure_reason or "")


def test_a_failure_wins_over_a_passed_deadline_when_everything_ended() -> None:
    decision = decide([op(Kind.ON_FIGURE, OperationStatus.FAILED, "bad input")], after=99999)
    assert decision.status is StepStatus.FAILED


def test_a_round_that_ended_is_learned_as_ending_between_the_last_two_checks() -> None:
    # Given a round last found running at 27.5 s
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS)]

    # When the check at 30 s finds it ended
    decision = decide(operations, after=30, attempt=4, checked_after=27.5)

    # Then what the estimate learns is "ended after 27.5 s, by 30 s", not "took 30 s"
    assert decision.observation == DurationObservation(27.5, 30.0)
    assert decision.operation_seconds == 30.0


def test_a_round_ended_at_its_first_check_is_learned_as_ending_since_the_create() -> None:
    decision = decide([op(Kind.ON_FIGURE, OperationStatus.SUCCESS)], after=12)

    assert decision.observation == DurationObservation(0.0, 12.0)


def test_a_round_still_running_at_the_deadline_is_learned_as_taking_longer() -> None:
    # Given a round checked on its deadline and still running (one kind done, one not)
    operations = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS), op(Kind.FLAT_LAY, OperationStatus.IN_PROGRESS)]

    # When the check decides
    decision = decide(operations, after=3600, attempt=40, checked_after=3300)

    # Then the estimate learns only that it ran past 3,600 s, never that it took 3,600 s
    assert decision.observation == DurationObservation(3600.0, None)


def test_nothing_is_learned_while_waiting_or_from_a_failure() -> None:
    assert decide([op(Kind.ON_FIGURE, OperationStatus.IN_PROGRESS)]).observation is None
    assert decide([op(Kind.ON_FIGURE, OperationStatus.FAILED, "bad")]).observation is None


def test_the_next_check_starts_from_this_ones_time() -> None:
    # Given a check at 30 s that found the round running
    before = poll(attempt=2, checked_after=25)
    now = START + timedelta(seconds=30)
    decision = decide_after_check(
        [op(Kind.ON_FIGURE, OperationStatus.IN_PROGRESS)], before, now, OperationPriority.ONLINE, SETTINGS
    )

    # When the schedule is carried to the next check
    after = poll_after_check(before, decision, now)

    # Then it has this check counted, its wait, and its time (where the next interval starts)
    assert (after.attempt, after.wait_seconds, after.checked_at) == (3, decision.wait_seconds, now)


# summarise_round


def spec(**document: Any) -> JobSpec:
    return build_job("sku-1", document or None, image_count=1, defaults=JobDefaults())


def image(label: str, variant: int, round_: int = 0, **fields: Any) -> ImageRecord:
    return ImageRecord(
        kind=Kind.ON_FIGURE,
        image_type=image_type_from_label(label),
        variant=variant,
        round=round_,
        key=output_key("sku-1", "j", "on_figure", label, variant, round_),
        aiuta_image_id=f"img-{label}-{variant}-{round_}",
        source_url="https://cdn.example/x.png",
        **fields,
    )


def test_a_clean_first_round_is_recorded_and_ends_the_job() -> None:
    job = spec(number_of_generations=2)
    operations = [
        op(Kind.ON_FIGURE, OperationStatus.SUCCESS, image_types=["front/standing"], number_of_generations=2)
    ]
    copied = [image("front/standing", 1), image("front/standing", 2)]

    summary = summarise_round(job, 0, operations, copied, earlier_images=[], earlier_rounds=[])

    assert summary.images == copied
    assert summary.rounds == [RoundRecord(round=0, findings=[])]
    assert summary.findings == []
    assert summary.next_round is None


def test_a_retried_copy_replaces_its_round_and_keeps_the_earlier_ones() -> None:
    # Given round 0 recorded, and round 1 recorded once already by a copy that was retried
    job = spec(regeneration={"rounds": [{"image_types": ["back/walking"]}]})
    round_one = [op(Kind.ON_FIGURE, OperationStatus.SUCCESS, image_types=["back/walking"], round=1)]
    earlier = [image("front/standing", 1), image("back/walking", 1, round_=1)]
    rounds = [RoundRecord(round=0), RoundRecord(round=1, findings=["stale"])]

    # When the retried copy of round 1 is summarised
    summary = summarise_round(job, 1, round_one, [image("back/walking", 1, round_=1)], earlier, rounds)

    # Then round 1 appears once, round 0 is untouched, and the plan (one round) is done
    assert [(i.round, i.image_type.label) for i in summary.images] == [
        (0, "front/standing"),
        (1, "back/walking"),
    ]
    assert summary.rounds == [RoundRecord(round=0), RoundRecord(round=1, findings=[])]
    assert summary.next_round is None


def test_failed_on_figure_checks_plan_a_round_of_those_types() -> None:
    job = spec(number_of_generations=2, regeneration={"auto_regenerate_failed_checks": True, "max_rounds": 1})
    operations = [
        op(Kind.ON_FIGURE, OperationStatus.SUCCESS, image_types=["front/standing"], number_of_generations=2)
    ]

    summary = summarise_round(job, 0, operations, [image("front/standing", 1)], [], [])

    assert [f.message for f in summary.findings] == ["front/standing: 1 of 2 images arrived"]
    assert summary.next_round is not None
    assert [t.label for t in summary.next_round.image_types] == ["front/standing"]
    assert summary.rounds == [RoundRecord(round=0, findings=["front/standing: 1 of 2 images arrived"])]
