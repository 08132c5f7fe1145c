"""The learned poll schedule: an estimate of durations that learns from what checks can see (the
interval between two checks, or "still running" at the deadline) without bias, follows change and
shrugs off outliers; and checks placed from it that notice an end within 10 % of the duration,
never pass the deadline, never leave long gaps, fit one execution, and spread out when the
request rate binds."""

from __future__ import annotations

import ast
import itertools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from studio_core.domain import check_loop, learned_polling
from studio_core.domain.learned_polling import (
    HISTORY_EVENTS_PER_CHECK,
    PRESSED_HEAD_SHARE,
    DurationEstimate,
    DurationObservation,
    PollPlan,
    check_times,
    initial_estimate,
    lag_target_under,
    next_wait,
    plan_for,
    rate_pressure_from,
)
from tests.support.benches import load_bench

REPO_ROOT = Path(__file__).resolve().parents[2]
SEVEN_DAYS = 7 * 24 * 3600
HISTORY_BUDGET = 5_000  # events for a 7-day operation, far below Step Functions' 25,000


@dataclass(frozen=True)
class TemplateDefaults:
    """The template's expected durations (the prior), as ``PollSettings`` has them by default."""

    expected_online_seconds: int = 20
    expected_offline_seconds: int = 300


def trained(priority: str, median: float, sigma: float, n: int, seed: int = 1) -> DurationEstimate:
    rng = random.Random(seed)
    estimate = initial_estimate(priority, TemplateDefaults())
    for _ in range(n):
        estimate = estimate.observe(rng.lognormvariate(math.log(median), sigma))
    return estimate


def estimates_to_plan() -> list[DurationEstimate]:
    """Fresh, learned, wide, and degenerate estimates: the schedule must hold for all of them."""
    wide = initial_estimate("offline", TemplateDefaults())
    rng = random.Random(3)
    for _ in range(300):
        wide = wide.observe(math.exp(rng.uniform(0, math.log(SEVEN_DAYS))))
    instant = initial_estimate("online", TemplateDefaults())
    for _ in range(300):
        instant = instant.observe(0.2)
    return [
        initial_estimate("online", TemplateDefaults()),
        initial_estimate("offline", TemplateDefaults()),
        trained("online", 30, 0.5, 400),
        trained("offline", 4000, 1.3, 400),
        wide,
        instant,
    ]


def test_the_estimate_follows_a_shift_in_durations() -> None:
    # Given an estimate that learned online operations of about 30 s
    estimate = trained("online", 30, 0.3, 600)
    assert estimate.quantile(0.5) == pytest.approx(30, rel=0.1)

    # When operations start taking about 90 s (five half-lives of them)
    rng = random.Random(4)
    for _ in range(5 * learned_polling.HALF_LIFE_OBSERVATIONS):
        estimate = estimate.observe(rng.lognormvariate(math.log(90), 0.3))

    # Then its quantiles have moved to the new distribution
    assert estimate.quantile(0.5) == pytest.approx(90, rel=0.1)
    assert estimate.quantile(0.04) == pytest.approx(90 * math.exp(-1.75 * 0.3), rel=0.15)


def learned_through_checks(
    durations: list[float], checks: list[float]
) -> tuple[DurationEstimate, DurationEstimate]:
    """Two estimates of the same operations, checked at ``checks``: one learns what a check can
    see (the interval between the last two checks), one the time of the check that saw the end."""
    from_intervals = from_check_times = initial_estimate("online", TemplateDefaults())
    for seconds in durations:
        k = next(i for i, t in enumerate(checks) if t >= seconds)
        before = checks[k - 1] if k else 0.0
        from_intervals = from_intervals.learn(DurationObservation(before, checks[k]))
        from_check_times = from_check_times.observe(checks[k])
    return from_intervals, from_check_times


def test_learning_from_the_interval_between_checks_is_not_biased_late() -> None:
    # Given operations of about 30 s, checked the way a schedule checks them: at 4 s, then every
    # 10 % of the time elapsed (so the end is known only to within a gap)
    rng = random.Random(12)
    durations = [rng.lognormvariate(math.log(30), 0.5) for _ in range(2000)]
    checks = [4.0]
    while checks[-1] < 10_000:
        checks.append(checks[-1] * 1.1)
    true = sorted(durations[-600:])  # what the decayed estimate mostly holds

    # When one estimate learns each interval and the other the check that noticed the end
    from_intervals, from_check_times = learned_through_checks(durations, checks)

    # Then the interval-learned quantiles match the durations, where counting the noticing
    # check puts the body of the distribution about half a gap (~5 %) late
    for q in (0.25, 0.5, 0.9):
        truth = true[int(q * len(true))]
        assert from_intervals.quantile(q) == pytest.approx(truth, rel=0.03)
        assert from_check_times.quantile(q) > 1.03 * truth


def test_a_timed_out_operation_says_only_that_it_took_longer() -> None:
    # Given an estimate of online operations of about 30 s, some of which take a day
    estimate = trained("online", 30, 0.5, 400)
    estimate = estimate.observe(86_400)

    # When 5 % more operations are still running at a one-hour deadline
    timed_out = estimate
    for _ in range(20):
        timed_out = timed_out.learn(DurationObservation(3600, None))

    # Then they count as longer than the deadline (spread over what was seen beyond it),
    # not as ending at it, and the quantiles below them are where the finished ones put them
    assert timed_out.quantile(0.99) > 3600 * 2
    assert timed_out.quantile(0.5) == pytest.approx(estimate.quantile(0.5), rel=0.1)


def test_one_huge_outlier_barely_moves_the_estimate() -> None:
    # Given an estimate that learned online operations of about 30 s
    before = trained("online", 30, 0.5, 1000)

    # When one operation takes 30 days
    after = before.observe(30 * 24 * 3600)

    # Then the low quantile and the median barely move, and the high quantile moves only as
    # much as one merely slow operation (five times the 99 % quantile) would move it
    assert after.quantile(0.04) == pytest.approx(before.quantile(0.04), rel=0.02)
    assert after.quantile(0.5) == pytest.approx(before.quantile(0.5), rel=0.02)
    slow = before.observe(5 * before.quantile(0.99))
    assert after.quantile(0.99) == pytest.approx(slow.quantile(0.99), rel=1e-9)


def test_without_history_the_estimate_is_the_templates_expected_duration() -> None:
    # Given the template's defaults (20 s online, 300 s offline)
    settings = TemplateDefaults()

    # When the estimates start from them
    online, offline = initial_estimate("online", settings), initial_estimate("offline", settings)

    # Then their medians are the first waits, and the schedule does not trust their tails yet
    assert online.quantile(0.5) == pytest.approx(20, rel=0.05)
    assert offline.quantile(0.5) == pytest.approx(300, rel=0.05)
    assert online.samples == 0
    assert not online.is_confident
    assert plan_for(online).dense_until_seconds > SEVEN_DAYS


def test_the_estimate_survives_a_round_trip_through_json() -> None:
    # Given a learned estimate
    estimate = trained("offline", 4000, 1.3, 300)

    # When it is stored as JSON (one DynamoDB item) and read back
    restored = DurationEstimate.model_validate_json(estimate.model_dump_json())

    # Then it is the same estimate and plans the same schedule
    assert restored == estimate
    assert plan_for(restored) == plan_for(estimate)
    assert restored.describe()["samples"] == 300


@pytest.mark.parametrize("deadline", [3600, 259_200, 1_000, 17])
def test_checks_never_pass_the_deadline(deadline: int) -> None:
    for estimate in estimates_to_plan():
        # Given an operation that never finishes
        # When it is checked until it times out
        times = check_times(estimate, deadline)

        # Then no check is after the deadline, the last one is on it, and then it times out
        assert all(t <= deadline for t in times)
        assert times[-1] == deadline
        assert next_wait(estimate, deadline, len(times), deadline) == 0


def test_a_seven_day_operation_fits_far_below_the_history_limit() -> None:
    # Given every kind of estimate, and a plan whose spacing would check every second
    plans = [plan_for(e) for e in estimates_to_plan()]
    plans.append(PollPlan(first_check_seconds=1, dense_until_seconds=1e12, factor=1.0001))

    for plan in plans:
        # When an operation runs for 7 days
        times = check_times(plan, SEVEN_DAYS)

        # Then it makes fewer than 5,000 / 8 checks
        assert len(times) < HISTORY_BUDGET / HISTORY_EVENTS_PER_CHECK
        assert times[-1] == SEVEN_DAYS


def test_no_gap_is_longer_than_the_cap() -> None:
    for estimate in estimates_to_plan():
        # Given a 7-day operation
        times = [0, *check_times(estimate, SEVEN_DAYS)]

        # When the gaps between its checks are measured
        gaps = [(before, after - before) for before, after in itertools.pairwise(times)]

        # Then none is longer than max(600 s, 10 % of the time elapsed)
        assert all(gap <= max(600, 0.10 * before) for before, gap in gaps)


@pytest.mark.parametrize("latency", [0.0, 0.3, 1.5])
def test_after_a_check_the_next_notices_an_end_within_a_tenth_of_the_duration(latency: float) -> None:
    # Given a learned online plan, and checks that take ``latency`` before the next Wait starts
    plan = plan_for(trained("online", 30, 0.5, 400))
    # (Before a tenth of the time elapsed covers a one-second wait and two latencies, nothing can.)
    for tenths in range(math.ceil(100 * (1 + 2 * latency)), 30_000, 7):
        elapsed = tenths / 10

        # When the next wait is planned after a check at ``elapsed`` (in the dense part)
        if elapsed >= plan.dense_until_seconds:
            break
        wait = next_wait(plan, elapsed, 3, 3600, latency_seconds=latency)

        # Then an operation that ended just after this check, noticed when the next check's
        # answer is out, is at most 10 % late, but for a whisker (a wait rounded up to a whole
        # second) of at most 3 % of the gap
        noticed = elapsed + latency + wait + latency
        whisker = noticed / 1.1 - elapsed
        assert whisker <= 0.03 * (wait + latency) + 1e-9


def test_the_first_check_waits_for_the_low_quantile_however_long() -> None:
    # Given offline operations that all take over half an hour, and a 10-minute longest wait
    estimate = trained("offline", 3 * 3600, 0.3, 400)

    # When the plan's first wait is asked for
    plan = plan_for(estimate, max_gap_seconds=600)
    first = next_wait(plan, 0, 0, 259_200)

    # Then it is the learned low quantile (4 %), not a check an hour before anything ends
    assert first == pytest.approx(estimate.quantile(0.04), abs=1)


def test_when_the_request_rate_binds_an_operation_is_checked_less() -> None:
    # Given a learned online plan and a 5-minute operation
    plan = plan_for(trained("online", 30, 0.5, 400))

    def checks_under(pressure: float) -> int:
        elapsed, attempt = 0.0, 0
        while elapsed < 300:
            elapsed += next_wait(plan, elapsed, attempt, 3600, rate_pressure=pressure)
            attempt += 1
        return attempt

    # When creates are waiting for a request turn (the rate binds) or not
    free, half, bound = checks_under(0.0), checks_under(0.5), checks_under(1.0)

    # Then it is checked fewer times the harder the rate binds: several times fewer at full pressure
    assert free > half > bound
    assert bound * 3 <= free


def test_under_full_pressure_most_operations_are_found_ended_by_their_first_check() -> None:
    # Given a learned plan for online operations of a median 8 s (log-normal, sigma 0.5)
    estimate = trained("online", 8, 0.5, 400)
    plan = plan_for(estimate)
    rng = random.Random(3)
    durations = [8 * math.exp(rng.gauss(0, 0.5)) for _ in range(2000)]

    def mean_checks(pressure: float) -> float:
        total = 0
        for duration in durations:
            elapsed, attempt = 0.0, 0
            while elapsed < duration:
                elapsed += next_wait(plan, elapsed, attempt, 3600, rate_pressure=pressure)
                attempt += 1
            total += attempt
        return total / len(durations)

    # When the request rate binds fully, or half, or not at all
    free, half, bound = mean_checks(0.0), mean_checks(0.5), mean_checks(1.0)

    # Then the first check waits for the 85 % quantile: about 1.2 checks an operation, a create
    # and its checks under 2.5 requests, where polling for a low lag takes several
    assert plan.first_check_under(1.0) == pytest.approx(estimate.quantile(PRESSED_HEAD_SHARE))
    assert plan.first_check_under(0.0) == plan.first_check_seconds
    assert bound < 1.3 < half < free
    assert free > 3


def test_under_pressure_a_prior_moves_the_first_check_to_the_expected_duration() -> None:
    # A plan from the template's prior (no operation seen yet): its 85 % quantile is a guess
    # minutes wide, so under pressure the first check waits for its median, the expected duration
    # (20 s online), not for its 4 % quantile (a second or two)
    plan = plan_for(initial_estimate("online", TemplateDefaults()))
    assert plan.first_check_seconds < 3
    assert plan.first_check_under(1.0) == pytest.approx(TemplateDefaults().expected_online_seconds, rel=0.05)
    assert plan.first_check_under(0.0) == plan.first_check_seconds


def test_the_rate_pressure_rule() -> None:
    # No create waiting, or only what the next second of the rate sends: no pressure, 10 % lag
    assert rate_pressure_from(0, 5) == 0.0
    assert rate_pressure_from(5, 5) == 0.0
    assert lag_target_under(0.0) == pytest.approx(0.10)
    # A second and a half's worth waiting: half the pressure; two seconds' worth or more: full
    assert rate_pressure_from(6, 4) == pytest.approx(0.5)
    assert rate_pressure_from(50, 5) == 1.0
    assert lag_target_under(1.0) == pytest.approx(0.50)
    # At one request a second, one create waiting is nothing, two are the rate binding
    assert (rate_pressure_from(1, 1), rate_pressure_from(2, 1)) == (0.0, 1.0)


def test_waits_are_whole_seconds_of_at_least_one_before_the_deadline() -> None:
    rng = random.Random(9)
    for estimate in estimates_to_plan():
        plan = plan_for(estimate)
        for _ in range(200):
            # Given any moment before the deadline, with Lambda latency in it
            deadline = rng.choice([3600, 259_200])
            elapsed = rng.uniform(0, deadline - 1e-3)

            # When the next wait is planned
            wait = next_wait(plan, elapsed, rng.randrange(50), deadline)

            # Then it is an int a Wait state accepts, at least one second
            assert isinstance(wait, int)
            assert wait >= 1


def test_the_module_imports_no_aws_or_http_library() -> None:
    # Given the module's source
    tree = ast.parse(Path(learned_polling.__file__).read_text())

    # When its imports are listed
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }

    # Then none is boto3, botocore or requests
    assert not imported & {"boto3", "botocore", "requests"}


def test_the_checks_written_by_the_bench_give_back_its_figures(tmp_path: Path) -> None:
    # Given a small trace of online and offline durations
    rng = random.Random(11)
    rows = [
        ("online", round(rng.lognormvariate(math.log(30), 0.5), 3))
        if rng.random() < 0.7
        else ("offline", round(rng.uniform(600, 9000), 3))
        for _ in range(60)
    ]
    durations = tmp_path / "trace.csv"
    durations.write_text("priority,seconds\n" + "".join(f"{p},{s:.3f}\n" for p, s in rows))
    checks_out, results = tmp_path / "checks.txt", tmp_path / "results.json"

    # When the bench replays it, writing every operation's check times
    bench = load_bench("polling")
    bench.main(["--durations", str(durations), "--checks-out", str(checks_out), "--results", str(results)])

    # Then there is one line per operation, each ending on the check that saw the operation end,
    # and the polls and relative lag recomputed from the lines (the answer is out a check's
    # latency after it) are the bench's
    lines = checks_out.read_text().splitlines()
    assert len(lines) == len(rows)
    checks = [[float(t) for t in line.split()] for line in lines]
    assert all(
        c == sorted(c) and c[-1] >= s > (c[-2] if len(c) > 1 else 0)
        for c, (_, s) in zip(checks, rows, strict=True)
    )
    latency = bench.LATENCY_SECONDS
    relative = sorted((c[-1] + latency - s) / s for c, (_, s) in zip(checks, rows, strict=True))
    learned = json.loads(results.read_text())["mixes"]["trace"]["schedules"]["learned"]
    assert learned["polls_mean"] == pytest.approx(sum(map(len, checks)) / len(checks), abs=1e-3)
    assert learned["relative_lag_p95"] == pytest.approx(
        relative[math.ceil(0.95 * len(relative)) - 1], abs=1e-4
    )


def test_the_bench_runs_the_status_checks_own_decision_and_learning() -> None:
    # Given the bench as a module
    bench = load_bench("polling")

    # Then what it calls per check and per observation are the production functions themselves
    from studio_core.domain import polling, progress

    assert bench.decide_after_check is progress.decide_after_check
    assert bench.poll_after_check is progress.poll_after_check
    assert bench.start_polling is polling.start_polling
    assert bench.DurationEstimate.learn is DurationEstimate.learn
    assert bench.check_again_in_lambda is check_loop.check_again_in_lambda


def test_the_bench_replays_the_status_check_as_the_template_deploys_it() -> None:
    # Given the template and the bench
    from studio_local.cfn_yaml import load_template

    template = load_template(REPO_ROOT / "template.yaml")
    check = template["Resources"]["CheckStatusFunction"]["Properties"]
    bench = load_bench("polling")

    # Then the bench sleeps in-process as long, in as much memory, within the same timeout
    assert template["Parameters"]["PollInLambdaSeconds"]["Default"] == bench.IN_LAMBDA_SECONDS
    assert check["Timeout"] == bench.CHECK_TIMEOUT_SECONDS
    assert check.get("MemorySize", template["Globals"]["Function"]["MemorySize"]) == bench.CHECK_MEMORY_MB
    # and the timeout covers the longest sleep allowed and the check kept in reserve
    longest = template["Parameters"]["PollInLambdaSeconds"]["MaxValue"]
    assert longest + check_loop.CHECK_RESERVE_SECONDS < check["Timeout"]
