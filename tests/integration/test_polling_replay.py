"""``bench/polling.py`` replays what the status-check step does: the same checks, and the same
estimate learned from them. Production runs here for real (the submit handler, then
``check_job`` against the simulator, the estimate in moto's jobs table) on a clock the test
moves; the bench runs the same operation on its simulated clock. If either changes how a check
decides or what it learns, they diverge and this fails.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from studio_core import clients
from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.learned_polling import DurationEstimate
from studio_core.domain.state import JobState, StepStatus
from studio_core.settings import CheckStatusSettings, from_env
from studio_core.steps.check_status import check_across_short_waits
from tests.support.aws import queued_job
from tests.support.benches import load_bench
from tests.support.lambdas import FakeLambdaContext, load_handler

pytestmark = pytest.mark.usefixtures("pipeline_aws")

ONLINE = OperationPriority.ONLINE


def run_production(
    sim: Any, latency: float, deadline_seconds: int | None = None, in_lambda_seconds: float = 0
) -> tuple[list[float], JobState, int]:
    """Submit one job, then invoke the status check at the end of each Wait, ``latency`` after the
    Wait began, as Step Functions would; in an invocation a sleep takes its seconds. The
    simulator's clock moves with the test's. Returns the checks' times, the last state and the
    invocations."""
    bench = load_bench("polling")
    state_json = load_handler("submit").lambda_handler(
        json.loads(json.dumps(queued_job())), FakeLambdaContext()
    )
    state = JobState.model_validate(state_json)
    assert state.poll is not None
    if deadline_seconds is not None:
        state.poll.deadline = state.poll.started_at + timedelta(seconds=deadline_seconds)
    settings = from_env(CheckStatusSettings)
    created = state.poll.started_at
    clock = [latency + state.poll.wait_seconds]
    sim.admin.advance(clock[0])

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        sim.admin.advance(seconds)

    checks: list[float] = []
    invocations = 0
    while True:
        invoked = clock[0]
        invocations += 1
        state = check_across_short_waits(
            state,
            client=clients.aiuta_client(settings),
            jobs=clients.jobs_table(),
            poll=settings.poll,
            estimates=clients.duration_estimates(),
            in_lambda_seconds=in_lambda_seconds,
            remaining_seconds=lambda: bench.CHECK_TIMEOUT_SECONDS - (clock[0] - invoked),  # noqa: B023
            memory_mb=bench.CHECK_MEMORY_MB,
            clock=lambda: created + timedelta(seconds=clock[0]),
            sleep=sleep,
        )
        checks += [(check.at - created).total_seconds() for check in state.checks]
        if state.status is not StepStatus.WAITING:
            return checks, state, invocations
        assert state.poll is not None
        step = latency + state.poll.wait_seconds
        sim.admin.advance(step)
        clock[0] += step


@pytest.mark.parametrize(("latency", "in_lambda_seconds"), [(0.3, 0), (1.0, 0), (0.3, 40), (1.0, 40)])
def test_the_bench_checks_and_learns_what_the_status_check_does(
    studio_sim: Any, latency: float, in_lambda_seconds: float
) -> None:
    # Given the bench's plan for an online operation from the defaults' estimate, and a duration
    # half-way between two of its checks (so a few ms of real time cannot change the outcome)
    bench = load_bench("polling")
    settings = from_env(CheckStatusSettings).poll
    prior = clients.duration_estimates().current(ONLINE, settings)
    planned = bench.replay_operation(
        1e9, "online", prior, latency=latency, settings=settings, in_lambda_seconds=in_lambda_seconds
    ).checks
    k = next(i for i in range(1, len(planned)) if planned[i] - planned[i - 1] >= 2 and planned[i] > 15)
    seconds = (planned[k - 1] + planned[k]) / 2
    studio_sim.admin.configure(operation_seconds=seconds)

    # When production submits and checks it, and the bench replays it
    checks, state, invocations = run_production(studio_sim, latency, in_lambda_seconds=in_lambda_seconds)
    replay = bench.replay_operation(
        seconds, "online", prior, latency=latency, settings=settings, in_lambda_seconds=in_lambda_seconds
    )

    # Then both checked at the same times in as many invocations (one per check without sleeping
    # in-process, far fewer with), saw the end at the same check, and learned the same; checking
    # in-process moved no check
    assert state.status is StepStatus.READY
    assert checks == pytest.approx(replay.checks, abs=1e-5)
    assert checks == pytest.approx(planned[: len(checks)], abs=1e-5)
    no_sleep = bench.replay_operation(
        seconds, "online", prior, latency=latency, settings=settings, in_lambda_seconds=0
    )
    assert checks == pytest.approx(no_sleep.checks, abs=1e-5)
    assert invocations == replay.loops
    assert (invocations == len(checks)) if in_lambda_seconds == 0 else (invocations < len(checks) / 2)
    learned: DurationEstimate = clients.duration_estimates().current(ONLINE, settings)
    assert learned.samples == 1
    assert learned == prior.learn(replay.observation)


def test_a_timed_out_round_is_learned_as_the_bench_learns_it(studio_sim: Any) -> None:
    # Given an operation that never finishes and a 40 s deadline
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    settings = from_env(CheckStatusSettings).poll
    prior = clients.duration_estimates().current(ONLINE, settings)

    # When production checks it until the deadline, and the bench replays an endless operation
    checks, state, _ = run_production(studio_sim, 0.3, deadline_seconds=40, in_lambda_seconds=40)
    short_deadline = settings.model_copy(update={"deadline_online_seconds": 40})
    replay = bench_replay_endless(prior, short_deadline)

    # Then both stopped at the deadline, and learned only "still running then"
    assert state.status is StepStatus.TIMED_OUT
    assert checks == pytest.approx(replay.checks, abs=1e-5)
    assert replay.observation is not None and replay.observation.ended_by_seconds is None
    assert clients.duration_estimates().current(ONLINE, settings) == prior.learn(replay.observation)


def bench_replay_endless(prior: DurationEstimate, settings: Any) -> Any:
    return load_bench("polling").replay_operation(1e9, "online", prior, latency=0.3, settings=settings)
