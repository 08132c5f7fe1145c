"""Polls that yield to creates: while creates wait for a request turn, a status check waits longer
before the next one, and a submit plans its first check later; with none waiting, or once the
creates stop, they poll as before.

The creates waiting are the waiting room's backlog of new work, noted on the request budget's
item in the capacity table (moto) by "Plan the wait for capacity"; the check reads it from the
update that takes its own request turn. The operation is the simulator's, on a frozen clock, so
every check finds it running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from studio_cli.samples import product_photo
from studio_core import clients
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.requests import OperationPriority
from studio_core.aws.capacity import AccountCapacity
from studio_core.aws.operation_slots import OperationSlots
from studio_core.aws.request_budget import RequestBudget
from studio_core.domain.capacity import CREATES_STOPPED_SECONDS, CapacityTask, CapacityWait
from studio_core.domain.errors import CapacityUnavailable
from studio_core.domain.learned_polling import HEAD_SHARE, PRESSED_HEAD_SHARE, initial_estimate
from studio_core.domain.polling import PollSettings, start_polling
from studio_core.domain.state import JobState, StepStatus
from studio_core.settings import CheckStatusSettings, from_env
from studio_core.steps.check_status import check_job
from tests.support import lambdas
from tests.support.aws import REGION, create_table_from_template, queued_job
from tests.support.clock import SleepingClock
from tests.support.ingest import executions, put, s3_message, sqs_event
from tests.support.lambdas import FakeLambdaContext, load_handler
from tests.support.simulator import SIM_API_KEY

pytestmark = pytest.mark.usefixtures("pipeline_aws")

TABLE = "studio-test-capacity"
RATE = 2.0  # requests/s: full pressure from 4 creates waiting
ELAPSED = 120.0  # seconds since the create at the check compared


def submitted(studio_sim: Any) -> JobState:
    """One online job submitted (its operation never ends on the frozen clock), checked once."""
    studio_sim.admin.configure(operation_seconds=3600, clock_frozen=True)
    state = JobState.model_validate(
        load_handler("submit").lambda_handler(json.loads(json.dumps(queued_job())), FakeLambdaContext())
    )
    assert state.poll is not None
    return state


def budget_on(clock: SleepingClock) -> RequestBudget:
    return RequestBudget(
        TABLE,
        rate=RATE,
        burst=1000,
        client=boto3.client("dynamodb", region_name=REGION),
        clock=clock,
        sleep=clock.sleep,
        counts=True,
    )


def next_wait(state: JobState, studio_sim: Any, budget: RequestBudget) -> int:
    """The wait the second check plans, ``ELAPSED`` after the create, its Wait having ended 0.3 s
    before (the first check came after its planned wait), its read taking a turn in ``budget``
    and the pressure read from that turn."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    slots = OperationSlots(TABLE, limit=100, lease_seconds=3600, client=dynamodb)
    client = AiutaStudioClient(SIM_API_KEY, studio_sim.base_url, capacity=AccountCapacity(budget, slots))
    settings = from_env(CheckStatusSettings)
    state = state.model_copy(deep=True)
    assert state.poll is not None
    started = state.poll.started_at
    for at in (state.poll.wait_seconds + 0.3, ELAPSED):
        if at == ELAPSED:  # the first check planned its wait to end 0.3 s before this one
            state.poll.checked_at = started + timedelta(seconds=ELAPSED - state.poll.wait_seconds - 0.3)
        state = check_job(
            state,
            client=client,
            jobs=clients.jobs_table(),
            poll=settings.poll,
            now=started + timedelta(seconds=at),
            rate_pressure=budget.rate_pressure,
        )
        assert state.status is StepStatus.WAITING and state.poll is not None
    return state.poll.wait_seconds


@pytest.fixture
def capacity_table() -> str:
    create_table_from_template("CapacityTable", TABLE)
    return TABLE


def test_while_creates_wait_for_a_turn_the_check_waits_longer_and_none_waiting_changes_nothing(
    studio_sim: Any, capacity_table: str
) -> None:
    # Given a job whose operation is running, and its next wait with no create waiting
    state = submitted(studio_sim)
    clock = SleepingClock()
    unpressed = next_wait(state, studio_sim, budget_on(clock))
    # (the same wait as a check that knows nothing of capacity: no waiting create, no change)
    assert unpressed == next_wait(state, studio_sim, budget_on(clock)) > 0

    # When six creates (three seconds' worth of the 2/s plan) wait for a turn: the last one's
    # turn a minute away, new work going at one every ten seconds
    budget_on(clock).note_new_work_waiting(until=clock() + 60, pace=0.1)

    # Then the same check, at the same time since the create, waits about five times longer
    # (a lag target of 50 % of the time elapsed rather than 10 %): a fifth of the checks
    pressed = next_wait(state, studio_sim, budget_on(clock))
    assert unpressed == pytest.approx(0.1 * ELAPSED, abs=1)
    assert pressed == pytest.approx(0.5 * ELAPSED, abs=1)


def test_the_pressure_eases_as_the_backlog_is_served_and_ends_when_creates_stop(
    studio_sim: Any, capacity_table: str
) -> None:
    # Given a job's operation running, its next wait without pressure, and a backlog of six
    # creates at one every ten seconds, one of them sent just now
    state = submitted(studio_sim)
    clock = SleepingClock()
    unpressed = next_wait(state, studio_sim, budget_on(clock))
    budget_on(clock).note_new_work_waiting(until=clock() + 60, pace=0.1)
    budget_on(clock).take(create=True)
    pressed = next_wait(state, studio_sim, budget_on(clock))

    # When half a minute of it was served: three still wait, half-way to full pressure
    clock.now += 30
    still = next_wait(state, studio_sim, budget_on(clock))
    assert unpressed < still < pressed

    # And a minute on, the backlog is served: the check polls as it did without pressure
    clock.now += 31
    assert next_wait(state, studio_sim, budget_on(clock)) == unpressed

    # When a catalogue is cancelled with an hour of turns given out, no create is sent any more
    budget_on(clock).note_new_work_waiting(until=clock() + 3600, pace=0.1)
    budget_on(clock).take(create=True)
    assert next_wait(state, studio_sim, budget_on(clock)) == pressed
    clock.now += CREATES_STOPPED_SECONDS + 1

    # Then its turns stop counting a minute after the last create, not an hour
    assert next_wait(state, studio_sim, budget_on(clock)) == unpressed


def test_a_submit_plans_its_first_check_later_while_creates_wait(
    studio_sim: Any, capacity_table: str
) -> None:
    # Given an estimate that learned online operations of about 8 s, and a submit's first wait
    # with no create waiting (the 4 % quantile: a few seconds)
    settings = PollSettings()
    estimate = initial_estimate("online", settings)
    for n in range(60):
        estimate = estimate.observe(8.0 * 1.02 ** (n - 30))
    clock = SleepingClock()
    budget = budget_on(clock)
    budget.take(create=True)
    started = datetime.fromtimestamp(clock(), UTC)
    unpressed = start_polling(
        OperationPriority.ONLINE, settings, started, estimate, rate_pressure=budget.rate_pressure()
    )

    # When creates wait for a turn, as the create's own request turn sees it
    budget_on(clock).note_new_work_waiting(until=clock() + 60, pace=0.1)
    budget.take(create=True)
    pressed = start_polling(
        OperationPriority.ONLINE, settings, started, estimate, rate_pressure=budget.rate_pressure()
    )

    # Then the first check waits for most operations to have ended (the 85 % quantile), not 4 %
    low, high = estimate.quantiles([HEAD_SHARE, PRESSED_HEAD_SHARE])
    assert unpressed.wait_seconds <= low < 8 < high
    assert pressed.wait_seconds == pytest.approx(high, abs=1)


@pytest.fixture
def shared_capacity(
    pipeline_aws: dict[str, str], capacity_table: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The functions share the capacity table at 1 request/s; the handlers this test imports
    with those settings are not the next tests' ones."""
    monkeypatch.setenv("CAPACITY_TABLE", TABLE)
    monkeypatch.setenv("AIUTA_REQUESTS_PER_SECOND", "1")
    monkeypatch.setenv("AIUTA_REQUEST_BURST", "100")
    clients.reset_clients()
    before = dict(lambdas._HANDLERS)
    yield
    lambdas._HANDLERS.clear()
    lambdas._HANDLERS.update(before)
    clients.reset_clients()


REFUSED = "the pipeline's Aiuta budget of 1 requests/s is taken for the next 9.0 s (AiutaRequestsPerSecond)"


def send_to_wait(planner: Any, job: dict[str, Any], jobs: int) -> list[int]:
    """``jobs`` other jobs whose submits the request budget refused, sent to wait by the planner:
    their waits."""
    waits = []
    for n in range(jobs):
        waiting = {**json.loads(json.dumps(job)), "job_id": f"waiting-{n}-0123456789abcdef"}
        waiting["capacity_error"] = {"submit": {"Error": "CapacityUnavailable", "Cause": REFUSED}}
        waits.append(planner(waiting, FakeLambdaContext())["capacity"]["wait_seconds"])
    return waits


@pytest.mark.usefixtures("shared_capacity")
def test_the_check_lambda_yields_to_creates_the_planner_sent_to_wait(studio_sim: Any) -> None:
    # Given the functions sharing a capacity table at 1 request/s, and a job checked once
    check = load_handler("check_status", cold_start=True).lambda_handler
    planner = load_handler("plan_capacity_wait", cold_start=True).lambda_handler
    state = submitted(studio_sim)
    checked = JobState.model_validate(check(state.to_output(), FakeLambdaContext()))
    assert checked.status is StepStatus.WAITING

    def check_again() -> int:
        # The same check, as if its create had been ELAPSED seconds ago and its Wait just ended
        document = checked.model_copy(deep=True)
        assert document.poll is not None and document.poll.checked_at is not None
        shift = timedelta(seconds=ELAPSED) - (document.poll.checked_at - document.poll.started_at)
        document.poll.started_at -= shift
        document.poll.deadline -= shift
        document.poll.checked_at -= timedelta(seconds=document.poll.wait_seconds)
        answer = JobState.model_validate(check(document.to_output(), FakeLambdaContext()))
        assert answer.status is StepStatus.WAITING and answer.poll is not None
        return answer.poll.wait_seconds

    unpressed = check_again()

    # When four other jobs' submits are refused a request turn, and the planner sends them to wait
    assert min(send_to_wait(planner, state.to_output(), 4)) >= 1

    # Then the next check of the running job waits longer than the same check did before
    assert check_again() >= 2 * unpressed


def test_the_backlog_noted_is_the_latest_turn_given(capacity_table: str) -> None:
    # Given a create held back until 60 s from now
    clock = SleepingClock()
    budget_on(clock).note_new_work_waiting(until=clock() + 60, pace=0.5)

    # When another planner, slower to write, notes an earlier turn
    budget_on(clock).note_new_work_waiting(until=clock() + 20, pace=0.5)

    # Then a request taking a turn sees the backlog up to the later one: 30 creates
    checker = budget_on(clock)
    checker.take()
    assert checker.creates_waiting() == pytest.approx(30, abs=0.1)
    assert checker.rate_pressure() == 1.0


@pytest.mark.usefixtures("shared_capacity")
def test_a_new_job_waits_behind_the_creates_already_waiting_then_submits_at_its_turn(studio_sim: Any) -> None:
    # Given the functions sharing a capacity table at 1 request/s, and four jobs the planner sent
    # to wait for a request turn
    submit = load_handler("submit", cold_start=True).lambda_handler
    planner = load_handler("plan_capacity_wait", cold_start=True).lambda_handler
    studio_sim.admin.configure(operation_seconds=3600, clock_frozen=True)
    new_job = json.loads(json.dumps(queued_job()))
    turns = send_to_wait(planner, new_job, 4)

    # When a new job's submit runs, the request budget having room
    with pytest.raises(CapacityUnavailable, match=r"new jobs are waiting for a request turn") as queued:
        submit(new_job, FakeLambdaContext())

    # Then it sent nothing to Aiuta and claimed nothing: it waits for its turn behind the four
    assert studio_sim.admin.stats()["creates"]["total"] == 0
    assert clients.jobs_table().get(new_job["job_id"]).status == "QUEUED"  # type: ignore[union-attr]
    new_job["capacity_error"] = {"submit": {"Error": "CapacityUnavailable", "Cause": str(queued.value)}}
    planned = planner(new_job, FakeLambdaContext())
    assert planned["capacity"]["wait_seconds"] >= max(turns)

    # And back from that wait, at its turn, it creates its operation
    output = submit(planned, FakeLambdaContext())
    submitted_state = JobState.model_validate(output)
    assert submitted_state.status is StepStatus.WAITING
    assert [op.operation_id is not None for op in submitted_state.operations] == [True]
    assert studio_sim.admin.stats()["creates"]["total"] == 1
    # (its wait is over: the state it passes on no longer carries it)
    assert "capacity" not in output


def drop_folder(product_id: str) -> None:
    """A product folder (two photos and product.json) as a store uploads it, and its event to ingest."""
    for i in range(2):
        put(f"inbox/{product_id}/photo-{i + 1}.jpg", product_photo("jacket", (30, 80, 50), angle=i))
    put(f"inbox/{product_id}/product.json", {})
    ingest_handler = load_handler("ingest")
    answer = ingest_handler.lambda_handler(
        sqs_event(s3_message(f"inbox/{product_id}/product.json")), FakeLambdaContext("ingest")
    )
    assert answer == {"batchItemFailures": []}


@pytest.mark.usefixtures("shared_capacity")
def test_ingest_starts_a_new_job_in_its_wait_behind_the_creates_already_waiting(studio_sim: Any) -> None:
    # Given the functions sharing a capacity table at 1 request/s
    load_handler("ingest", cold_start=True)
    planner = load_handler("plan_capacity_wait", cold_start=True).lambda_handler
    submit = load_handler("submit", cold_start=True).lambda_handler

    # When a product arrives while no create waits, it starts as it always did: at its submit
    drop_folder("first-product")
    [first] = executions()
    assert first["input"].get("capacity") is None

    # And when one arrives after four jobs were sent to wait for a request turn
    turns = send_to_wait(planner, json.loads(json.dumps(queued_job())), 4)
    drop_folder("second-product")

    # Then its execution starts with its wait already planned (the state machine's first Choice
    # sends it to "Wait for capacity"): its turn behind the four, for its submit, and nothing
    # was sent to Aiuta or claimed
    [second] = [e for e in executions() if e["input"]["product_id"] == "second-product"]
    capacity = CapacityWait.model_validate(second["input"]["capacity"])
    assert capacity.task is CapacityTask.SUBMIT and capacity.attempt == 1
    assert capacity.wait_seconds >= max(turns)
    assert "waits behind them (AiutaRequestsPerSecond)" in capacity.reason
    assert studio_sim.admin.stats()["creates"]["total"] == 0
    assert clients.jobs_table().get(second["input"]["job_id"]).status == "QUEUED"  # type: ignore[union-attr]

    # And back from that wait, at its turn, its submit creates its operation
    output = submit(second["input"], FakeLambdaContext())
    assert [op["operation_id"] is not None for op in output["operations"]] == [True]
    assert studio_sim.admin.stats()["creates"]["total"] == 1
