"""A poll schedule that learns how long operations take here, and checks when they are likely to end.

The estimate
------------
One ``DurationEstimate`` per priority (``online``/``offline``) is a decayed histogram of
log-duration with fixed bucket edges: 16 buckets per doubling (each bucket 4.4 % wide), keyed by
``floor(16 * log2(seconds))``. Observing a duration multiplies every weight by ``DECAY``
(half-life ``HALF_LIFE_OBSERVATIONS`` observations) and adds 1 to the duration's bucket;
quantiles are read from the cumulative weights, interpolated log-linearly inside a bucket.

Why a histogram rather than a few running quantile estimates (stochastic approximation):

- robust: a quantile of the histogram moves by at most one observation's share of the weight,
  however far the observation is: at the default half-life (about 290 observations' worth of
  weight) a 30-day outlier moves the 99 % quantile by a third of a point of probability, and
  the low quantile not at all;
- complete: every quantile (the schedule's low and high ones, the median for the job record,
  any other later) comes from the same item, never crossing, with no step size to tune per
  quantile as running estimates need;
- mergeable: fixed edges mean two estimates add bucket by bucket (``merge``), e.g. shards of a
  hot item, or per-kind estimates into a per-priority one;
- decayed per observation, so it follows a change (a slower Aiuta after a release) within a
  few half-lives, and a timed-out operation can be observed at its deadline without biasing any
  quantile below the timed-out share (it only says "at least this long");
- small: a few hundred occupied buckets at most (weights under ``PRUNE_WEIGHT`` are dropped),
  a few kB as one DynamoDB item.

With no history, ``initial_estimate`` spreads ``PRIOR_WEIGHT`` pseudo-observations as a broad
log-normal around the template's first wait for the priority (``first_wait_*_seconds``); real
observations outweigh it after a handful of operations, and it decays like they do.
While the estimate is mostly prior (``is_confident`` false), the schedule checks densely all
the way to the deadline instead of backing off past the high quantile, so a cold start costs
checks rather than lateness.

The schedule
------------
``plan_for(estimate)`` fixes, once per operation (at submit), a small ``PollPlan`` from the
estimate's low and high quantiles (``Q_LOW``, ``Q_HIGH``): the first check at the low one,
then each gap ``FACTOR - 1`` of the time elapsed (geometric spacing) up to the high one, then
``TAIL_FACTOR - 1`` of it. An operation that ends just after a check is then noticed within
``FACTOR - 1`` of its duration: bounded relative lag (lag / duration) is what the spacing buys,
and its cost (checks) grows only with the log of the spread of durations. Every gap is also
capped at ``max(GAP_CAP_FLOOR_SECONDS, GAP_CAP_FRACTION * elapsed)``, so even a 7-day
operation is noticed within 10 % of its duration; no check goes past the deadline (one last
check lands on it); and at most ``MAX_CHECKS`` checks are made whatever the estimate says, so
an execution stays far below Step Functions' 25,000-event history limit (about
``HISTORY_EVENTS_PER_CHECK`` events per Wait + Task + Choice loop).

Waits are whole seconds (a Wait state's ``SecondsPath``), at least ``MIN_WAIT_SECONDS``: a gap
is rounded down (which keeps the relative lag bound) unless its fraction is at least
``1 - WAIT_ROUNDING`` (rounding those up saves about one check in twelve on operations of tens
of seconds, for a little lag). Below about 10 s the whole second dominates: relative lag cannot
stay under 10 % there.

``next_wait(plan, elapsed_seconds, attempt, deadline_seconds)`` is what the status-check
Lambda calls after each check: the whole seconds (>= 1) to wait, or 0 once the deadline is
reached (the job times out). It depends on the time elapsed since the operation was created,
not on the sum of earlier waits, so Lambda latency and retried checks never add up.

How the pipeline uses it (one item per priority, e.g. ``pk = POLL_ESTIMATE#online``)::

    estimate = DurationEstimate.model_validate_json(item) or initial_estimate(priority, settings)
    plan = plan_for(estimate)                  # at submit; kept in $.poll and on the job record
    wait = next_wait(plan, elapsed, attempt, deadline)        # each check; 0 means TIMED_OUT
    updated = estimate.observe(duration)       # when the operation ends (or at its deadline)
    # write back with the condition samples = estimate.samples (optimistic lock), retry on conflict

Pure: no AWS or HTTP library here (a test checks), only arithmetic and pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

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

# The defaults' prior: this many pseudo-observations, log-normal around the first wait.
PRIOR_WEIGHT = 2.0
PRIOR_SIGMA = 1.5  # natural-log units: its 4 %..99 % range spans a factor of about 450
# Trust the learned high quantile (and back off past it) once real observations carry at least
# this share of the weight and this many of them were seen.
CONFIDENT_DATA_SHARE = 0.9
CONFIDENT_SAMPLES = 30

Q_LOW = 0.04
Q_HIGH = 0.99
FACTOR = 1.1
TAIL_FACTOR = 1.5
GAP_CAP_FLOOR_SECONDS = 600.0
GAP_CAP_FRACTION = 0.10
MIN_WAIT_SECONDS = 1
WAIT_ROUNDING = 0.2  # a gap's fraction from which it rounds up (see the module docstring)
MAX_CHECKS = 500  # 4,000 history events: under 5,000 whatever the estimate says


class PollDefaults(Protocol):
    """What ``initial_estimate`` reads from the template's settings (``PollSettings`` has it)."""

    @property
    def first_wait_online_seconds(self) -> int: ...

    @property
    def first_wait_offline_seconds(self) -> int: ...


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


class DurationEstimate(BaseModel):
    """How long operations of one priority take here: a decayed log-duration histogram.

    Immutable: ``observe`` and ``merge`` return a new estimate. Serialises to a small JSON
    document (``model_dump_json``) for one DynamoDB item; ``samples`` counts observations and
    serves as the item's version for a conditional write.
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

    def observe(self, seconds: float) -> DurationEstimate:
        """The estimate after one more operation took ``seconds`` (decay, then count it).

        A timed-out operation is observed at its deadline: a lower bound, which leaves every
        quantile below the timed-out share as it would be with the true duration.
        """
        if math.isnan(seconds):
            raise ValueError("a duration is a number of seconds, not NaN")
        weights = {}
        for index, weight in self.weights.items():
            decayed = weight * DECAY
            if decayed >= PRUNE_WEIGHT:
                weights[index] = decayed
        index = bucket_of(seconds)
        weights[index] = weights.get(index, 0.0) + 1.0
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
        low, median, high = self.quantiles([Q_LOW, 0.5, Q_HIGH])
        return {
            "priority": self.priority,
            "samples": self.samples,
            "weight": round(self.weight, 2),
            "data_share": round(self.data_share, 3),
            "confident": self.is_confident,
            f"p{round(Q_LOW * 100):02d}_seconds": round(low, 1),
            "p50_seconds": round(median, 1),
            f"p{round(Q_HIGH * 100):02d}_seconds": round(high, 1),
        }


def initial_estimate(priority: str, settings: PollDefaults) -> DurationEstimate:
    """The estimate before any observation: the template's first wait as a broad prior.

    ``priority`` is ``"online"`` or ``"offline"`` (``OperationPriority`` is a ``str``).
    """
    online = str(priority) == "online"
    first = settings.first_wait_online_seconds if online else settings.first_wait_offline_seconds
    centre = math.log(max(1.0, float(first)))
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


class PollPlan(BaseModel):
    """The schedule of one operation, fixed when it is created (a few numbers, kept in $.poll).

    The first check at ``first_check_seconds``; then gaps of ``factor - 1`` of the elapsed time
    until ``dense_until_seconds``, ``tail_factor - 1`` after; every gap capped at
    ``max(gap_cap_floor_seconds, gap_cap_fraction * elapsed)``.
    """

    model_config = ConfigDict(frozen=True)

    first_check_seconds: float = Field(gt=0)
    dense_until_seconds: float = Field(gt=0)
    factor: float = Field(default=FACTOR, gt=1)
    tail_factor: float = Field(default=TAIL_FACTOR, gt=1)
    gap_cap_floor_seconds: float = Field(default=GAP_CAP_FLOOR_SECONDS, gt=0)
    gap_cap_fraction: float = Field(default=GAP_CAP_FRACTION, gt=0)
    max_checks: int = Field(default=MAX_CHECKS, ge=1)
    min_wait_seconds: int = Field(default=MIN_WAIT_SECONDS, ge=1)
    estimate: dict[str, Any] = Field(default_factory=dict)  # DurationEstimate.describe() of its source

    def describe(self) -> dict[str, Any]:
        """The plan and the estimate it came from, for the job record."""
        return self.model_dump(mode="json")


def plan_for(
    estimate: DurationEstimate,
    *,
    min_wait_seconds: int = MIN_WAIT_SECONDS,
    max_gap_seconds: float = GAP_CAP_FLOOR_SECONDS,
    tail_factor: float = TAIL_FACTOR,
) -> PollPlan:
    """The schedule for an operation created now, from the priority's current estimate.

    The keyword arguments are the template's knobs (``PollMinWaitSeconds``, ``PollMaxWaitSeconds``,
    ``PollBackoffFactor``); their defaults are the ones the benchmark measures.
    """
    low, high = estimate.quantiles([Q_LOW, Q_HIGH])
    low = max(float(min_wait_seconds), low)
    # Not confident yet: keep the dense spacing up to the deadline (the cap still applies).
    dense_until = max(low, high) if estimate.is_confident else math.inf
    return PollPlan(
        first_check_seconds=low,
        dense_until_seconds=min(dense_until, 1e12),
        tail_factor=tail_factor,
        gap_cap_floor_seconds=max_gap_seconds,
        min_wait_seconds=max(1, min_wait_seconds),
        estimate=estimate.describe(),
    )


def next_wait(
    plan: PollPlan | DurationEstimate, elapsed_seconds: float, attempt: int, deadline_seconds: float
) -> int:
    """Whole seconds to wait before the next status check (>= 1), or 0 once the deadline is reached.

    ``elapsed_seconds``: time since the operation was created (0 at submit); ``attempt``: checks
    made so far; ``deadline_seconds``: the deadline, in seconds after creation.
    """
    if isinstance(plan, DurationEstimate):
        plan = plan_for(plan)
    remaining = deadline_seconds - elapsed_seconds
    if remaining <= 0:
        return 0
    to_deadline = max(plan.min_wait_seconds, math.ceil(remaining - 1e-9))
    if attempt + 1 >= plan.max_checks:
        return to_deadline  # the check budget is spent: one last check, at the deadline
    elapsed = max(0.0, elapsed_seconds)
    if elapsed + 0.5 < plan.first_check_seconds:
        gap = plan.first_check_seconds - elapsed
    elif elapsed < plan.dense_until_seconds:
        gap = (plan.factor - 1) * elapsed
    else:
        gap = (plan.tail_factor - 1) * elapsed
    cap = max(plan.gap_cap_floor_seconds, plan.gap_cap_fraction * elapsed)
    wait = min(math.floor(gap + WAIT_ROUNDING), math.floor(cap))
    return min(max(plan.min_wait_seconds, wait), to_deadline)


def check_times(
    plan: PollPlan | DurationEstimate, deadline_seconds: float, until: float | None = None
) -> list[int]:
    """Seconds after creation of every check the plan makes on an operation that runs to
    ``until`` (default: never finishes), the way the state machine runs ``next_wait``."""
    if isinstance(plan, DurationEstimate):
        plan = plan_for(plan)
    times: list[int] = []
    elapsed = 0
    while until is None or elapsed < until:
        wait = next_wait(plan, elapsed, len(times), deadline_seconds)
        if wait == 0:
            break
        elapsed += wait
        times.append(elapsed)
    return times
