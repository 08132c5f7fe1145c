"""The status check writes the job record when something a person sees changed, otherwise at most
once a minute (``progress.record_due``), against the simulator and moto on a clock the test moves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from studio_core import clients
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.progress import RECORD_CHECK_EVERY_SECONDS
from studio_core.domain.state import JobState, OperationRef, StepStatus
from studio_core.settings import CheckStatusSettings, from_env
from studio_core.steps.check_status import check_job
from tests.support.aws import job_record, queued_job
from tests.support.lambdas import FakeLambdaContext, load_handler

pytestmark = pytest.mark.usefixtures("pipeline_aws")


class CountingJobs(JobsTable):
    """The jobs table, counting the checks it records."""

    def __init__(self, table_name: str) -> None:
        super().__init__(table_name)
        self.recorded: list[int] = []

    def record_check(
        self, job_id: str, *, operations: Sequence[OperationRef], checked_at: str, poll_attempts: int
    ) -> None:
        self.recorded.append(poll_attempts)
        super().record_check(
            job_id, operations=operations, checked_at=checked_at, poll_attempts=poll_attempts
        )


def submitted() -> JobState:
    state = load_handler("submit").lambda_handler(json.loads(json.dumps(queued_job())), FakeLambdaContext())
    return JobState.model_validate(state)


def check_every(sim: Any, state: JobState, jobs: CountingJobs, seconds: float, checks: int) -> JobState:
    settings = from_env(CheckStatusSettings)
    assert state.poll is not None
    at = (state.poll.checked_at or state.poll.started_at) - state.poll.started_at
    for _ in range(checks):
        sim.admin.advance(seconds)
        at += timedelta(seconds=seconds)
        state = check_job(
            state,
            client=clients.aiuta_client(settings),
            jobs=jobs,
            poll=settings.poll,
            now=state.poll.started_at + at,
        )
    return state


def test_checks_that_change_nothing_write_the_record_at_most_once_a_minute(studio_sim: Any) -> None:
    # Given a running operation whose status has settled (the first check may see it start)
    studio_sim.admin.configure(forced_outcome="NEVER_FINISHES")
    jobs = CountingJobs(from_env(CheckStatusSettings).jobs_table)
    state = check_every(studio_sim, submitted(), jobs, 2, 1)
    settled = len(jobs.recorded)

    # When it is checked 60 more times, 2 s apart (120 s), and nothing changes
    state = check_every(studio_sim, state, jobs, 2, 60)

    # Then the record was written at most once per minute of checks, and says which check it was
    assert state.status is StepStatus.WAITING
    writes = len(jobs.recorded) - settled
    assert 1 <= writes <= 120 / RECORD_CHECK_EVERY_SECONDS
    record = job_record(state.job_id)
    assert record is not None and record["poll_attempts"] == jobs.recorded[-1]
    assert state.poll is not None and record["last_checked_at"] == state.poll.recorded_at.isoformat()


def test_a_status_change_and_the_round_ending_are_always_written(studio_sim: Any) -> None:
    # Given a job checked once, so its record is fresh and a minute has not passed
    studio_sim.admin.configure(operation_seconds=10)
    jobs = CountingJobs(from_env(CheckStatusSettings).jobs_table)
    state = check_every(studio_sim, submitted(), jobs, 1, 2)
    before = len(jobs.recorded)

    # When the operation ends a few seconds later
    state = check_every(studio_sim, state, jobs, 10, 1)

    # Then that check is written at once, with the operation's new status
    assert state.status is StepStatus.READY
    assert len(jobs.recorded) == before + 1
    record = job_record(state.job_id)
    assert record is not None and record["operations"][0]["status"] == "SUCCESS"
