"""One status-check invocation checks again in-process across short waits (``domain.check_loop``),
against the simulator and moto on a clock the test moves: never into its last seconds, and never
without a request turn."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from studio_core import clients
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.domain.check_loop import CHECK_RESERVE_SECONDS
from studio_core.domain.errors import CapacityUnavailable
from studio_core.domain.polling import loop_latency
from studio_core.domain.state import JobState, StepStatus
from studio_core.settings import CheckStatusSettings, from_env
from studio_core.steps.check_status import check_across_short_waits
from tests.support.aws import queued_job
from tests.support.lambdas import FakeLambdaContext, load_handler

pytestmark = pytest.mark.usefixtures("pipeline_aws")


class TestClock:
    """The invocation's clock: a sleep moves it and the simulator's; the timeout counts from 0."""

    __test__ = False

    def __init__(self, sim: Any, start: datetime, timeout: float) -> None:
        self.sim, self.now, self.start, self.timeout = sim, start, start, timeout
        self.remaining_after_sleeps: list[float] = []

    def read(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.sim.admin.advance(seconds)
        self.remaining_after_sleeps.append(self.remaining())

    def remaining(self) -> float:
        return self.timeout - (self.now - self.start).total_seconds()


class NoTurnAfter(AiutaStudioClient):
    """The Aiuta client, finding no request turn from its ``calls``-th status read on."""

    def __init__(self, client: AiutaStudioClient, calls: int) -> None:
        self.__dict__.update(client.__dict__)
        self.left = calls

    def get_on_figure_operation(self, operation_id: str) -> Any:
        self.left -= 1
        if self.left < 0:
            raise CapacityUnavailable("the request budget is taken", retry_after=3)
        return super().get_on_figure_operation(operation_id)


def submitted(sim: Any, first_wait: float) -> JobState:
    state = JobState.model_validate(
        load_handler("submit").lambda_handler(json.loads(json.dumps(queued_job())), FakeLambdaContext())
    )
    sim.admin.advance(first_wait)
    return state


def invoke(state: JobState, clock: TestClock, client: AiutaStudioClient | None = None) -> JobState:
    settings = from_env(CheckStatusSettings)
    return check_across_short_waits(
        state,
        client=client or clients.aiuta_client(settings),
        jobs=clients.jobs_table(),
        poll=settings.poll,
        in_lambda_seconds=40,
        remaining_seconds=clock.remaining,
        memory_mb=512,
        clock=clock.read,
        sleep=clock.sleep,
    )


def test_an_invocation_names_its_checks_and_stops_before_its_last_seconds(studio_sim: Any) -> None:
    # Given an operation that runs long and an invocation with 50 s before its timeout
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    state = submitted(studio_sim, 1.3)
    assert state.poll is not None
    clock = TestClock(studio_sim, state.poll.started_at + timedelta(seconds=1.3), timeout=50)

    # When the status check runs
    state = invoke(state, clock)

    # Then it checked several times, slept only while a check still fitted before the timeout,
    # and handed the next wait to the Wait state; its output names each check it made
    assert state.status is StepStatus.WAITING and state.poll is not None
    assert len(state.checks) > 3
    assert min(clock.remaining_after_sleeps) >= CHECK_RESERVE_SECONDS
    assert [c.attempt for c in state.checks] == list(range(1, len(state.checks) + 1))
    assert state.checks[-1].at == state.poll.checked_at
    assert all(set(c.operations.values()) <= {"CREATED", "IN_PROGRESS"} for c in state.checks)


def test_a_check_in_process_without_a_request_turn_hands_the_wait_to_the_wait_state(
    studio_sim: Any,
) -> None:
    # Given a running operation, and a request budget that has a turn for one status read only
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    state = submitted(studio_sim, 1.3)
    assert state.poll is not None
    clock = TestClock(studio_sim, state.poll.started_at + timedelta(seconds=1.3), timeout=90)
    client = NoTurnAfter(clients.aiuta_client(from_env(CheckStatusSettings)), calls=1)

    # When the status check runs
    state = invoke(state, clock, client)

    # Then the invocation ends with the one check it made, and the Wait state waits for the turn
    assert state.status is StepStatus.WAITING and state.poll is not None
    assert [c.attempt for c in state.checks] == [1]
    assert state.poll.wait_seconds == 3
    # and the time it slept is not counted as the loop's latency at the next check
    assert state.poll.checked_at is not None
    next_check = clock.now + timedelta(seconds=0.3 + 3)
    assert loop_latency(state.poll, next_check) == pytest.approx(0.3)
