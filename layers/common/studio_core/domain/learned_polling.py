"""A poll schedule that learns how long operations take here, and checks when they are likely to end.

What production can observe
---------------------------
A status check sees only "still running" or "ended". So an operation's end is known to lie
between the last check that found it running and the check that found it ended (an interval:
the duration is *interval-censored*), and an operation still running at its deadline is only
known to take longer than that (*right-censored*). ``DurationObservation`` is exactly that, and
the estimate learns from it; it never sees a true duration.

The estimate
------------
One ``DurationEstimate`` per priority (``online``/``offline``) is a decayed histogram of
log-duration with fixed bucket edges: 16 buckets per doubling (each bucket 4.4 % wide), keyed by
``floor(16 * log2(seconds))``. Learning an observation multiplies every weight by ``DECAY``
(half-life ``HALF_LIFE_OBSERVATIONS`` observations) and adds a weight of 1 spread over the
buckets the observation allows: for an interval, over the buckets between its two checks; for an
operation still running at its deadline, over the buckets beyond it. The weight goes to each
bucket in proportion to what the estimate already holds there (times the share of the bucket
inside the interval), i.e. the operation's most likely durations given what it was seen to do:
one step of the self-consistent (Turnbull) estimator. Counting the interval at the check that
noticed the end would bias every quantile late by up to a whole gap; counting a timed-out
operation at its deadline would bias the tail early.

Why a histogram rather than a few running quantile estimates (stochastic approximation):

- robust: a quantile moves by at most one observation's share of the weight, however far the
  observation is: a 30-day outlier moves the 99 % quantile as much as a merely slow operation;
- complete: every quantile comes from the same item, never crossing, with no step size to tune;
- censored data fit: an interval or a lower bound spreads over buckets; a running quantile
  needs a point;
- mergeable (fixed edges: ``merge`` adds bucket by bucket), decayed per observation (it follows
  a change, a slower Aiuta after a release, within a few half-lives), and small (a few hundred
  occupied buckets at most, weights under ``PRUNE_WEIGHT`` dropped: one DynamoDB item).

With no history, ``initial_estimate`` spreads ``PRIOR_WEIGHT`` pseudo-observations as a broad
log-normal around the template's expected duration for the priority (``expected_*_seconds``,
template parameters ``PollFirstWait*Seconds``: the prior, no longer a first wait); real
observations outweigh it after a handful of operations, and it decays like they do. While the
estimate is mostly prior (``is_confident`` false), the schedule keeps its dense spacing up to the
deadline instead of spreading out past the high quantile: a cold start costs checks, not lateness.

The schedule
------------
Goal: notice an operation's end within ``LAG_TARGET`` (10 %) of its duration for 95 % of
operations, with as few checks as possible. A check made at ``e`` seconds after the create (its
clock reading) starts the next Wait about ``L`` seconds later (the check's own latency: the
Lambda and the state transitions), so the next check reads at ``e + L + w`` and its answer is
out ``L`` after that. An operation that ended just after ``e`` is then noticed within ``r`` of its
duration exactly when ``w <= r * e - 2 L``: the *dense* spacing, the longest whole-second wait
that lets nobody be late. ``plan_for`` fixes, once per operation (at submit), a small ``PollPlan``:

- the first check at the estimate's ``HEAD_SHARE`` quantile (4 %), however long that is; the
  operations that end before it count as late (how late they are is not observable, so the
  estimate's shape below its first check cannot be trusted to say);
- dense spacing from there up to the estimate's ``Q_HIGH`` quantile (99 %), a wait rounded up to
  the next second when the whisker it makes late is under ``ROUND_UP_SHARE`` of the gap; then
  gaps of ``tail_factor - 1`` of the time elapsed (template ``PollBackoffFactor``, now a *tail*
  factor);
- every gap after the first capped at ``max(gap_cap_floor_seconds, gap_cap_fraction * elapsed)``,
  so even a 7-day operation is noticed within 10 % of its duration; one last check on the
  deadline; at most ``MAX_CHECKS`` checks (about ``HISTORY_EVENTS_PER_CHECK`` history events
  each).

The optimal schedule for a known distribution (``bench/polling.py`` solves it exactly) has the
same body, dense zero-lateness spacing, and spends its 5 % of late operations a little wherever
the density is low; this one spends it before the first check and in the tail, where a
misestimate by a bucket or two moves it least: 1.11x the optimal's checks on the bench's mixes.

``next_wait(plan, elapsed, attempt, deadline, latency_seconds=..., rate_pressure=...)`` is what
the status-check Lambda calls after each check: the whole seconds (>= 1) to wait, or 0 once the
deadline is reached. It reads the time elapsed since the create and the latency the last loop
actually took, so Lambda latency and retried checks never add up.

Polls that yield to creates
---------------------------
Every check is a request to Aiuta. When the plan's request rate binds (creates are waiting for a
request turn), a check that finds the operation still running costs a product its start, and a
rate-bound catalogue takes its requests over the rate. The rule: ``rate_pressure`` in [0, 1]
moves the first check from the estimate's ``HEAD_SHARE`` quantile towards its
``PRESSED_HEAD_SHARE`` quantile (85 %: most operations are then found ended by one check; its
median while the estimate is mostly prior, ``PRESSED_UNSURE_SHARE``) and
raises the lag target of the checks after it from ``LAG_TARGET`` towards ``PRESSED_LAG_TARGET``
(50 %); without pressure the schedule polls for a low lag. The pressure a round's first check
gets is the one known when it is created (at submit); each later wait gets the one known at its
check. ``rate_pressure_from`` reads it from the creates waiting for a request turn: none up to a
second's worth of the plan's rate (``AiutaRequestsPerSecond``: the next turns take them), full
from two seconds' worth. Operations in flight (``AiutaOperationsInFlight``) binding instead is no
pressure: there a check costs no create. ``bench/polling.py`` measures both regimes on a
catalogue, and ``bench/load.py`` through the whole pipeline. In production the creates waiting
are the waiting room's backlog of new work, kept on the request budget's item
(``aws.request_budget.RequestBudget.rate_pressure``).

How the pipeline uses it (one item per priority, e.g. ``pk = POLL_ESTIMATE#online``)::

    estimate = DurationEstimate.model_validate_json(item) or initial_estimate(priority, settings)
    plan = plan_for(estimate)                  # at submit; kept in $.poll and on the job record
    wait = next_wait(plan, elapsed, attempt, deadline, latency_seconds=...)  # each check; 0: TIMED_OUT
    updated = estimate.learn(observation)      # when the round ends (or times out)
    # write back with the condition samples = estimate.samples (optimistic lock), retry on conflict

Pure: no AWS or HTTP library here (a test checks), only arithmetic and pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ConfigDict, Field

from studio_core.domain.base import Model

# Step Functions history events per poll loop (Wait + Task + Choice: entered/exited,
# scheduled/started/succeeded), the same count as the previous schedule's.
HISTORY_EVENTS_PER_CHECK = 8

BUCKETS_PER_DOUBLING = 16
# Durations are clamped to [1/16 s, 2^25 s (about a year)] before bucketing.
MIN_BUCKET = -4 * BUCKETS_PER_DOUBLING
MAX_BUCKET = 25 * BUCKETS_PER_DOUBLING
HALF_LIFE_OBSERVATIONS = 200
DECAY = 0.5 ** (1 / HALF_LIFE_OBSERVATIONS)
PRUNE_WEIGHT = 1e-3

# The defaults' prior: this many pseudo-observations, log-normal around the expected duration.
PRIOR_WEIGHT = 2.0
PRIOR_SIGMA = 1.5  # natural-log units: its 4 %..99 % range spans a factor of about 450
# Trust the learned high quantile (and spread out past it) once real observations carry at least
# this share of the weight and this many of them were seen.
CONFIDENT_DATA_SHARE = 0.9
CONFIDENT_SAMPLES = 30

LAG_TARGET = 0.10  # noticed within 10 % of the duration ...
HEAD_SHARE = 0.04  # ... but the shortest 4 %: they end before the first check ...
Q_HIGH = 0.99  # ... and the 1 % past the dense spacing; with the few a rounded-up wait makes
# late, under the 5 % a p95 allows
PRESSED_LAG_TARGET = 0.50  # the lag target when the request rate binds fully (rate_pressure 1)
# ... and the first check, at full pressure, at the estimate's quantile where most operations
# have ended: one check is then enough for most of them (a rate-bound catalogue's wall time is
# its requests over the rate; a first check that finds the operation running spends one).
PRESSED_HEAD_SHARE = 0.85
# ... or, while the estimate is mostly the template's prior, at its median (the expected duration):
# its 85 % quantile is a guess minutes wide, and its 4 % one would check a cold start's first
# operations several times each while creates wait.
PRESSED_UNSURE_SHARE = 0.50
TAIL_FACTOR = 1.5
GAP_CAP_FLOOR_SECONDS = 600.0
GAP_CAP_FRACTION = 0.10
MIN_WAIT_SECONDS = 1
# A dense wait a whisker short of the next second is rounded up when the operations that end
# in that whisker (late, then) are at most this share of the gap: it saves a check in eight on
# operations of tens of seconds, where whole seconds are coarse.
ROUND_UP_SHARE = 0.03
MAX_CHECKS = 500  # 4,000 history events: under 5,000 whatever the estimate says
# From a check's clock reading to the next Wait (Lambda + transitions), until a loop is measured.
ASSUMED_LATENCY_SECONDS = 0.3
MAX_LATENCY_SECONDS = 10.0  # a measured loop longer than this (a retried check) counts as this


class PollDefaults(Protocol):
    """What ``initial_estimate`` reads from the template's settings (``PollSettings`` has it)."""

    @property
    def expected_online_seconds(self) -> int: ...

    @property
    def expected_offline_seconds(self) -> int: ...


@dataclass(frozen=True)
class DurationObservation:
    """What the status checks saw of one round: when it ended, as far as checks can tell.

    ``ended_after_seconds``: the last check that found it running (0: the create);
    ``ended_by_seconds``: the check that found it ended, or None when it was still running at
    ``ended_after_seconds`` and the deadline stopped the checks (a timed-out round).
    """

    ended_after_seconds: float
    ended_by_seconds: float | None

    @property
    def timed_out(self) -> bool:
        return self.ended_by_seconds is None


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration: ``floor(16 * log2(seconds))``, clamped."""
    if not seconds > 0:  # zero, negative (clock skew) or NaN
        return MIN_BUCKET
    if math.isinf(seconds):
        return MAX_BUCKET
    index = math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds))
    return min(MAX_BUCKET, max(MIN_BUCKET, index))


def bucket_bounds(index: int) -> tuple[float, float]:
    """The durations ``[low, high)`` a bucket holds, in seconds."""
    return 2.0 ** (index / BUCKETS_PER_DOUBLING), 2.0 ** ((index + 1) / BUCKETS_PER_DOUBLING)


def _position(seconds: float) -> float:
    """Where a duration lies on the bucket axis (bucket ``i`` spans ``[i, i + 1)``), clamped."""
    if not seconds > 0:
        return float(MIN_BUCKET)
    if math.isinf(seconds):
        return float(MAX_BUCKET + 1)
    return min(float(MAX_BUCKET + 1), max(float(MIN_BUCKET), BUCKETS_PER_DOUBLING * math.log2(seconds)))


class DurationEstimate(Model):
    """How long operations of one priority take here: a decayed log-duration histogram.

    Immutable: ``learn``, ``observe`` and ``merge`` return a new estimate. Serialises to a small
    JSON document (``model_dump_json``) for one DynamoDB item; ``samples`` counts observations
    and serves as the item's version for a conditional write.
    """

    model_config = ConfigDict(frozen=True)

    priority: str
    weights: dict[int, float] = Field(default_factory=dict)  # bucket -> decayed weight
    samples: int = Field(default=0, ge=0)  # real observations so far, not decayed
    prior_weight: float = Field(default=0.0, ge=0.0)  # what remains of the defaults' pseudo-observations

    @property
    def weight(self) -> float:
        """Total decayed weight: the effective number of observations (prior included)."""
        return math.fsum(self.weights.values())

    @property
    def data_share(self) -> float:
        """The share of the weight that comes from real observations rather than the defaults."""
        total = self.weight
        return 0.0 if total <= 0 else max(0.0, 1.0 - self.prior_weight / total)

    @property
    def is_confident(self) -> bool:
        """Enough real observations for the schedule to trust the learned upper tail."""
        return self.samples >= CONFIDENT_SAMPLES and self.data_share >= CONFIDENT_DATA_SHARE

    def learn(self, observation: DurationObservation) -> DurationEstimate:
        """The estimate after one more round was seen to end (or to outlast its deadline)."""
        if observation.ended_by_seconds is None:
            return self.observe_still_running(observation.ended_after_seconds)
        return self.observe_between(observation.ended_after_seconds, observation.ended_by_seconds)

    def observe_between(self, after_seconds: float, by_seconds: float) -> DurationEstimate:
        """One operation that ended after ``after_seconds`` and by ``by_seconds``."""
        if math.isnan(after_seconds) or math.isnan(by_seconds):
            raise ValueError("a check time is a number of seconds, not NaN")
        if not by_seconds > after_seconds:  # clock skew: all we have is the later check
            return self.observe(by_seconds)
        return self._add(self._spread(_position(after_seconds), _position(by_seconds)))

    def observe_still_running(self, after_seconds: float) -> DurationEstimate:
        """One operation still running at ``after_seconds`` when its checks stopped (timed out)."""
        if math.isnan(after_seconds):
            raise ValueError("a check time is a number of seconds, not NaN")
        low = _position(after_seconds)
        shares = self._spread(low, float(MAX_BUCKET + 1), proportional_only=True)
        # Nothing learned beyond it yet: all it says is "at least this long".
        return self._add(shares or {bucket_of(after_seconds): 1.0})

    def observe(self, seconds: float) -> DurationEstimate:
        """The estimate after one more operation took exactly ``seconds`` (decay, then count it)."""
        if math.isnan(seconds):
            raise ValueError("a duration is a number of seconds, not NaN")
        return self._add({bucket_of(seconds): 1.0})

    def _spread(self, low: float, high: float, *, proportional_only: bool = False) -> dict[int, float]:
        """A weight of 1 over the buckets of ``[low, high)`` (bucket axis), in proportion to what
        each bucket holds times its share inside; uniform on the axis when they hold nothing."""
        first = min(MAX_BUCKET, math.floor(low))
        last = min(MAX_BUCKET, math.ceil(high) - 1)
        overlaps = {i: min(i + 1.0, high) - max(float(i), low) for i in range(first, last + 1)}
        overlaps = {i: o for i, o in overlaps.items() if o > 0} or {first: 1.0}
        weighted = {i: o * self.weights[i] for i, o in overlaps.items() if self.weights.get(i, 0.0) > 0}
        chosen = weighted or ({} if proportional_only else overlaps)
        total = math.fsum(chosen.values())
        return {i: w / total for i, w in chosen.items()} if total > 0 else {}

    def _add(self, shares: dict[int, float]) -> DurationEstimate:
        weights = {}
        for index, weight in self.weights.items():
            decayed = weight * DECAY
            if decayed >= PRUNE_WEIGHT:
                weights[index] = decayed
        for index, share in shares.items():
            weights[index] = weights.get(index, 0.0) + share
        return self.model_copy(
            update={
                "weights": weights,
                "samples": self.samples + 1,
                "prior_weight": self.prior_weight * DECAY,
            }
        )

    def merge(self, other: DurationEstimate) -> DurationEstimate:
        """Both estimates' weights together (same bucket edges, so bucket by bucket)."""
        weights = dict(self.weights)
        for index, weight in other.weights.items():
            weights[index] = weights.get(index, 0.0) + weight
        return self.model_copy(
            update={
                "weights": weights,
                "samples": self.samples + other.samples,
                "prior_weight": self.prior_weight + other.prior_weight,
            }
        )

    def quantile(self, q: float) -> float:
        """The duration (seconds) below which a share ``q`` of the weight lies."""
        return self.quantiles([q])[0]

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Several quantiles in one pass over the buckets (``qs`` in any order)."""
        wanted = list(qs)
        if any(not 0.0 <= q <= 1.0 for q in wanted):
            raise ValueError(f"quantiles must lie in [0, 1]: {wanted}")
        if not self.weights:
            raise ValueError("an empty estimate has no quantiles; start from initial_estimate")
        buckets = sorted(self.weights.items())
        total = math.fsum(w for _, w in buckets)
        order = sorted(range(len(wanted)), key=wanted.__getitem__)
        result = [0.0] * len(wanted)
        cumulative, position = 0.0, 0
        for slot in order:
            target = wanted[slot] * total
            while position < len(buckets) - 1 and cumulative + buckets[position][1] < target:
                cumulative += buckets[position][1]
                position += 1
            index, weight = buckets[position]
            inside = min(1.0, max(0.0, (target - cumulative) / weight)) if weight > 0 else 0.5
            result[slot] = 2.0 ** ((index + inside) / BUCKETS_PER_DOUBLING)
        return result

    def describe(self) -> dict[str, Any]:
        """What the job record keeps to say which estimate its schedule used."""
        low, median, high = self.quantiles([0.05, 0.5, Q_HIGH])
        return {
            "priority": self.priority,
            "samples": self.samples,
            "weight": round(self.weight, 2),
            "data_share": round(self.data_share, 3),
            "confident": self.is_confident,
            "p05_seconds": round(low, 1),
            "p50_seconds": round(median, 1),
            "p99_seconds": round(high, 1),
        }


def initial_estimate(priority: str, settings: PollDefaults) -> DurationEstimate:
    """The estimate before any observation: the template's expected duration as a broad prior.

    ``priority`` is ``"online"`` or ``"offline"`` (``OperationPriority`` is a ``str``).
    """
    online = str(priority) == "online"
    expected = settings.expected_online_seconds if online else settings.expected_offline_seconds
    centre = math.log(max(1.0, float(expected)))
    weights: dict[int, float] = {}
    low = bucket_of(math.exp(centre - 4 * PRIOR_SIGMA))
    high = bucket_of(math.exp(centre + 4 * PRIOR_SIGMA))
    for index in range(low, high + 1):
        lower, upper = (math.log(b) for b in bucket_bounds(index))
        share = _normal_cdf((upper - centre) / PRIOR_SIGMA) - _normal_cdf((lower - centre) / PRIOR_SIGMA)
        if share * PRIOR_WEIGHT >= PRUNE_WEIGHT:
            weights[index] = share * PRIOR_WEIGHT
    return DurationEstimate(priority=str(priority), weights=weights, prior_weight=math.fsum(weights.values()))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


class PollPlan(Model):
    """The schedule of one operation, fixed when it is created (a few numbers, kept in $.poll).

    The first check at ``first_check_seconds``; then the dense spacing for ``lag_target`` until
    ``dense_until_seconds``, gaps of ``tail_factor - 1`` of the elapsed time after; every gap
    capped at ``max(gap_cap_floor_seconds, gap_cap_fraction * elapsed)``. ``latency_seconds`` is
    the check latency assumed until one is measured.
    """

    model_config = ConfigDict(frozen=True)

    first_check_seconds: float = Field(gt=0)
    dense_until_seconds: float = Field(gt=0)
    lag_target: float = Field(default=LAG_TARGET, gt=0)
    tail_factor: float = Field(default=TAIL_FACTOR, gt=1)
    gap_cap_floor_seconds: float = Field(default=GAP_CAP_FLOOR_SECONDS, gt=0)
    gap_cap_fraction: float = Field(default=GAP_CAP_FRACTION, gt=0)
    max_checks: int = Field(default=MAX_CHECKS, ge=1)
    min_wait_seconds: int = Field(default=MIN_WAIT_SECONDS, ge=1)
    latency_seconds: float = Field(default=ASSUMED_LATENCY_SECONDS, ge=0)
    # The first check when the request rate binds fully (None: a plan made before it existed).
    pressed_first_check_seconds: float | None = Field(default=None, gt=0)
    estimate: dict[str, Any] = Field(default_factory=dict)  # DurationEstimate.describe() of its source

    def first_check_under(self, rate_pressure: float) -> float:
        """When the first check reads the clock: ``first_check_seconds``, moved towards
        ``pressed_first_check_seconds`` as the request rate binds (``rate_pressure`` 0..1)."""
        pressure = min(1.0, max(0.0, rate_pressure))
        pressed = self.pressed_first_check_seconds or self.first_check_seconds
        return self.first_check_seconds + pressure * max(0.0, pressed - self.first_check_seconds)

    def describe(self) -> dict[str, Any]:
        """The plan and the estimate it came from, for the job record."""
        return self.model_dump(mode="json")


def plan_for(
    estimate: DurationEstimate,
    *,
    min_wait_seconds: int = MIN_WAIT_SECONDS,
    max_gap_seconds: float = GAP_CAP_FLOOR_SECONDS,
    tail_factor: float = TAIL_FACTOR,
    latency_seconds: float = ASSUMED_LATENCY_SECONDS,
) -> PollPlan:
    """The schedule for an operation created now, from the priority's current estimate.

    The keyword arguments are the template's knobs (``PollMinWaitSeconds``, ``PollMaxWaitSeconds``,
    ``PollBackoffFactor``: the tail factor) and the check latency to assume; their defaults are
    the ones the benchmark measures.
    """
    pressed_share = PRESSED_HEAD_SHARE if estimate.is_confident else PRESSED_UNSURE_SHARE
    head, pressed_head, high = estimate.quantiles([HEAD_SHARE, pressed_share, Q_HIGH])
    first = max(min_wait_seconds + latency_seconds, head)
    # Not confident yet: keep the dense spacing up to the deadline (the cap still applies).
    dense_until = max(first, high) if estimate.is_confident else math.inf
    return PollPlan(
        first_check_seconds=first,
        pressed_first_check_seconds=max(first, pressed_head),
        dense_until_seconds=min(dense_until, 1e12),
        tail_factor=tail_factor,
        gap_cap_floor_seconds=max_gap_seconds,
        min_wait_seconds=max(1, min_wait_seconds),
        latency_seconds=latency_seconds,
        estimate=estimate.describe(),
    )


def rate_pressure_from(creates_waiting: float, requests_per_second: float) -> float:
    """How hard the plan's request rate binds, 0..1, from the creates waiting for a request turn:
    none while up to a second's worth of the rate (``AiutaRequestsPerSecond``) waits (a create
    about to go is not held back), rising to full with two seconds' worth."""
    if requests_per_second <= 0:
        return 0.0
    second = max(1.0, requests_per_second)
    return min(1.0, max(0.0, (creates_waiting - second) / second))


def lag_target_under(rate_pressure: float, lag_target: float = LAG_TARGET) -> float:
    """The relative lag the spacing aims at: ``lag_target``, up to ``PRESSED_LAG_TARGET`` as the
    request rate binds (``rate_pressure`` 0..1)."""
    pressure = min(1.0, max(0.0, rate_pressure))
    return lag_target + pressure * max(0.0, PRESSED_LAG_TARGET - lag_target)


def next_wait(
    plan: PollPlan | DurationEstimate,
    elapsed_seconds: float,
    attempt: int,
    deadline_seconds: float,
    *,
    latency_seconds: float | None = None,
    rate_pressure: float = 0.0,
) -> int:
    """Whole seconds to wait before the next status check (>= 1), or 0 once the deadline is reached.

    ``elapsed_seconds``: time since the operation was created (0 at submit), read when the check
    started; ``attempt``: checks made so far; ``deadline_seconds``: the deadline, in seconds after
    creation; ``latency_seconds``: how long the last loop took beyond its wait (None: the plan's
    assumption); ``rate_pressure``: 0..1, see ``lag_target_under``.
    """
    if isinstance(plan, DurationEstimate):
        plan = plan_for(plan)
    remaining = deadline_seconds - elapsed_seconds
    if remaining <= 0:
        return 0
    to_deadline = max(plan.min_wait_seconds, math.ceil(remaining - 1e-9))
    if attempt + 1 >= plan.max_checks:
        return to_deadline  # the check budget is spent: one last check, at the deadline
    latency = plan.latency_seconds if latency_seconds is None else latency_seconds
    latency = min(MAX_LATENCY_SECONDS, max(0.0, latency))
    elapsed = max(0.0, elapsed_seconds)
    target = lag_target_under(rate_pressure, plan.lag_target)
    dense = target * elapsed - 2 * latency  # the longest wait that lets nobody be late
    if attempt == 0:
        # Land on (or just before) the first check, however long: no gap to cap before it.
        first = plan.first_check_under(rate_pressure)
        return min(max(plan.min_wait_seconds, math.floor(first - latency + 1e-9)), to_deadline)
    tail = (plan.tail_factor - 1) * elapsed
    gap = dense if elapsed < plan.dense_until_seconds else max(dense, tail)
    cap = max(plan.gap_cap_floor_seconds, (plan.gap_cap_fraction + target - plan.lag_target) * elapsed)
    whole = math.floor(gap + 1e-9)
    # Round a dense wait up when the few it makes late are a small share of the gap's operations.
    if gap > 0 and (whole + 1 - gap) <= ROUND_UP_SHARE * (1 + target) * (whole + 1 + latency):
        whole += 1
    wait = min(whole, math.floor(cap))
    return min(max(plan.min_wait_seconds, wait), to_deadline)


def check_times(
    plan: PollPlan | DurationEstimate,
    deadline_seconds: float,
    until: float | None = None,
    *,
    latency_seconds: float = 0.0,
) -> list[float]:
    """Seconds after creation of every check the plan makes on an operation that runs to
    ``until`` (default: never finishes), the way the state machine runs ``next_wait``: each loop
    takes its wait plus ``latency_seconds``."""
    if isinstance(plan, DurationEstimate):
        plan = plan_for(plan)
    times: list[float] = []
    elapsed = 0.0
    while until is None or elapsed < until:
        wait = next_wait(plan, elapsed, len(times), deadline_seconds, latency_seconds=latency_seconds)
        if wait == 0:
            break
        elapsed += wait + latency_seconds
        times.append(elapsed)
    return times
