"""The learned operation durations live in the jobs table: defaults first, then what the checks
observed (an end between two checks, or a round outlasting its deadline), and concurrent updates
never lose an observation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from studio_core.aiuta.requests import OperationPriority
from studio_core.aws.duration_estimates import DurationEstimates
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.learned_polling import DurationObservation, initial_estimate
from studio_core.domain.polling import PollSettings
from tests.support.aws import JOBS_TABLE

ONLINE, OFFLINE = OperationPriority.ONLINE, OperationPriority.OFFLINE
SETTINGS = PollSettings()


@pytest.fixture
def estimates(studio_aws: dict[str, str]) -> DurationEstimates:
    return DurationEstimates(JOBS_TABLE)


def test_with_nothing_observed_the_estimate_is_the_templates_default(estimates: DurationEstimates) -> None:
    estimate = estimates.current(ONLINE, SETTINGS)

    assert estimate.samples == 0
    assert estimate.priority == "online"


def test_observed_durations_are_kept_per_priority(estimates: DurationEstimates) -> None:
    # Given online operations seen to end between checks about 90 s after their create
    for before, by in ((80, 88), (86, 95), (90, 99)):
        estimates.observe(ONLINE, DurationObservation(before, by), SETTINGS)

    # Then the online estimate has them, the offline one is untouched
    assert estimates.current(ONLINE, SETTINGS).samples == 3
    assert estimates.current(OFFLINE, SETTINGS).samples == 0


def test_what_is_stored_is_what_the_estimate_learns(estimates: DurationEstimates) -> None:
    # Given one round that ended between two checks and one that outlasted its deadline
    observations = [DurationObservation(27.5, 30.0), DurationObservation(3600.0, None)]
    for observation in observations:
        estimates.observe(ONLINE, observation, SETTINGS)

    # Then the stored estimate is the defaults' estimate having learned exactly those
    expected = initial_estimate(ONLINE, SETTINGS)
    for observation in observations:
        expected = expected.learn(observation)
    assert estimates.current(ONLINE, SETTINGS) == expected


def test_concurrent_finishes_each_count(estimates: DurationEstimates) -> None:
    # Given 8 operations finishing at the same moment (8 status checks writing at once)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda s: estimates.observe(ONLINE, DurationObservation(s - 2, s), SETTINGS), range(30, 38)
            )
        )

    # Then none of the observations was lost to another's write
    assert estimates.current(ONLINE, SETTINGS).samples == 8


def test_the_estimates_are_not_jobs(estimates: DurationEstimates, studio_aws: dict[str, str]) -> None:
    estimates.observe(ONLINE, DurationObservation(36, 40), SETTINGS)

    assert JobsTable(JOBS_TABLE).all_jobs() == []
