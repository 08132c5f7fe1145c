"""The poll schedule, replayed the way production runs it, against the optimal schedule.

What production observes, and how this bench replays it
-------------------------------------------------------
Production never sees how long an operation took. A status check reads "still running" or
"ended"; the check that finds it ended knows only that it ended since the check before. The
Lambda (``steps/check_status.py``) hands each check to ``domain/progress.py``:
``decide_after_check`` decides (wait, copy, time out) and says what the check saw
(``DurationObservation``: ended between the last two checks, or still running at the deadline),
``poll_after_check`` is the schedule the next check starts from, and the priority's estimate
learns the observation (``DurationEstimate.learn``, through ``aws/duration_estimates.py``).

This bench calls those same functions (imported, not copied; a test holds it to that) on a
simulated clock. Each operation is created at 0 and planned at submit by ``start_polling`` from
its priority's estimate as it then is. Every Lambda (submit, then each check) reads the clock,
reads Aiuta's status as of that moment, and starts the next Wait ``--latency`` seconds later
(0.3 s by default: the Lambda and the state transitions); the pipeline knows the answer then. So
check ``k`` reads at ``s_k``, the next at ``s_k + latency + wait``, and an operation that ended at
``d <= s_k`` is noticed at ``s_k + latency``: lag ``s_k + latency - d``. Operations arrive in
order; ``--in-flight N`` runs N at once (operation i learns from operations 0 .. i-N only, as in a
catalogue). A timed-out operation is learned as "still running at the last check", never as a
duration.

Checks in one invocation (``domain/check_loop.py``): after a check whose next wait is below the
loop's break-even, the status check sleeps and checks again in-process at the time the loop would
have (the loop's latency plus the wait), at most ``PollInLambdaSeconds`` of such gaps per
invocation and never into its last ``CHECK_RESERVE_SECONDS``. The replay applies the same
``check_again_in_lambda`` (``--in-lambda-seconds``, default the template's 40) and counts the
invocations ("loops"), the time between in-process checks, and the job-record writes
(``progress.record_due``) apart from the checks; the $ column prices loops, Lambda time and
nothing else (``COST``).

Schedules (all with the template's deadlines, 1 h online, 72 h offline, whole-second waits):

- ``learned``: the shipped code, replayed as above;
- ``optimal``: the oracle: for each priority, knowing the mix's durations, the schedule with the
  fewest expected checks whose p95 relative lag is at most 0.10, with the same latency and
  deadlines. Solved exactly by a dynamic programme over check times (Lagrangian relaxation:
  checks + multiplier x late operations; bisection on the multiplier until the p95 holds). Its
  states are check times on a 0.1 s grid to 600 s (the latency rounded to 0.1 s), reached only
  by whole-second waits; past 600 s, a 0.05 % grid reached by any wait of at least 1 s (there a
  second is under 0.2 % of the time elapsed);
- ``fixed_60s``: AWS's "job poller" sample, a Wait of 60 s;
- ``fixed_tuned``: the longest whole-second fixed Wait per priority whose p95 relative lag is
  0.10 (in hindsight);
- ``geometric``: the previous bench's oracle, for reference: knows the mix's quantiles, checks
  from its 4 % quantile by 1.1 up to its 98 % quantile, then by 1.5, in continuous time;
- ``previous``: the schedule shipped before the learned one: first wait 20 s online / 300 s
  offline, then a quarter of it growing 1.5x up to 600 s.

Polls that yield to creates: ``--rate-pressure P`` replays the learned schedule as if Aiuta's
request rate bound at level P (0..1, ``learned_polling.lag_target_under``); the default run adds
a ``learned_rate_bound`` row (P = 1) per mix, and a catalogue of ``CATALOGUE_PRODUCTS`` online
products through one request budget of ``CATALOGUE_RATE`` requests/s (``simulate_catalogue``:
checks that are due take a turn first, then creates while a slot is free; each check runs
``decide_after_check`` when its turn comes), with 10 and 100 operations in flight, each with and
without the pressure (``rate_pressure_from``, the creates waiting for a turn): checks and
requests per product, products per minute, relative lag.

Figures per mix and schedule: checks per operation (mean, p95), absolute lag (mean, p95),
relative lag = lag / duration (p95; timed-out operations have no lag and are counted apart),
the history events of an operation that runs 7 days (7-day deadline; ``learned`` with the
estimate at the end of the replay), the cold start (p95 relative lag of each priority's first
20 operations), loops (status-check invocations) and the time between in-process checks per
operation, and the Step Functions + Lambda cost per 1,000 products (``COST`` below).
Percentiles are nearest-rank (p95 of 20 values is the 19th smallest).

Built-in mixes (seeded, ``OPERATIONS`` each), chosen to look like what Aiuta serves:

- ``online``: 85 % log-normal, median 30 s, sigma 0.5, 15 % a slow mode, median 150 s, sigma 0.4;
- ``offline``: log-normal, median 67 min, sigma 1.3 (a heavy tail);
- ``online_shift``: the online mix, with every duration doubled from the middle on.

``--mixes`` picks among them and ``MORE_MIXES`` (other shapes: gamma, tight, a 30 % slow mode,
outliers, a trend, day/night, uniform offline, interleaved priorities, short operations).
``--durations FILE`` replays a trace instead (CSV lines ``priority,seconds`` in arrival order;
a header line and blank lines are skipped); ``--checks-out FILE`` writes, per operation of the
input, the seconds after creation at which the shipped code checked it, space-separated.

Exit status 1 when a goal is missed: p95 relative lag <= 0.10, checks <= 1.15x the optimal
schedule's, a 7-day operation under 5,000 history events, cold-start p95 relative lag <= 0.20.
Pure arithmetic, seeded: the same figures on every machine. Run:
``.venv/bin/python bench/polling.py``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.check_loop import (
    TRANSITIONS_PER_LOOP,
    USD_PER_GB_SECOND,
    break_even_gap_seconds,
    check_again_in_lambda,
    loop_usd,
)
from studio_core.domain.learned_polling import (
    HISTORY_EVENTS_PER_CHECK,
    DurationEstimate,
    DurationObservation,
    check_times,
    initial_estimate,
    rate_pressure_from,
)
from studio_core.domain.polling import PollSettings, plan_from, start_polling
from studio_core.domain.progress import decide_after_check, poll_after_check, record_due, seen_on_record
from studio_core.domain.state import OperationRef, StepStatus
from studio_core.domain.vocabulary import Kind

RESULTS = Path(__file__).with_name("results") / "polling.json"
OPERATIONS = 10_000
SEED = 20_250_301
SEVEN_DAYS = 7 * 24 * 3600
COLD_START_OPERATIONS = 20
LATENCY_SECONDS = 0.3
RATE_BOUND_PRESSURE = 1.0

# Goals every mix must meet.
GOAL_P95_RELATIVE_LAG = 0.10
GOAL_POLLS_VS_OPTIMAL = 1.15
GOAL_HISTORY_EVENTS_7D = 5_000
GOAL_COLD_START_P95_RELATIVE_LAG = 0.20

SETTINGS = PollSettings()  # the template's defaults: 20 s / 300 s expected, 1 h / 72 h deadlines
CREATED = datetime(2025, 3, 1, tzinfo=UTC)

# The status check in one invocation (``domain/check_loop.py``, as the template deploys it):
# ``PollInLambdaSeconds`` between in-process checks at most, the function's 512 MB and 90 s
# ``Timeout``. An invocation lasts its in-process gaps and the last check's own work (one Aiuta
# GET, the request turn, the record): ``CHECK_WORK_SECONDS``. ``--in-lambda-seconds 0``: every
# check is a turn of the loop.
IN_LAMBDA_SECONDS = 40
CHECK_WORK_SECONDS = 0.1
CHECK_MEMORY_MB = 512
CHECK_TIMEOUT_SECONDS = 90

# List prices (us-east-1, ``check_loop``'s): a turn of the loop is 3 state transitions (Wait,
# Task, Choice) at $0.025 per 1,000 and a Lambda request ($0.20 per million); the status check's
# compute is $0.0000133334 per GB-s (arm64) for each invocation's last check and its in-process
# gaps. One operation per product (one kind); the transitions every job makes anyway (submit,
# copy, record) are the same for all schedules and left out.
COST = {
    "state_transitions_per_loop": TRANSITIONS_PER_LOOP,
    "usd_per_loop": loop_usd(),
    "usd_per_gb_second": USD_PER_GB_SECOND,
    "lambda_memory_gb": CHECK_MEMORY_MB / 1024,
    "lambda_seconds_per_invocation": CHECK_WORK_SECONDS,
    "break_even_gap_seconds": round(break_even_gap_seconds(CHECK_MEMORY_MB), 2),
}


def usd_of(loops: float, slept_seconds: float) -> float:
    """Step Functions and Lambda for one operation: its loops (each an invocation, its last check's
    work billed) and the invocations' time between in-process checks."""
    compute = (loops * COST["lambda_seconds_per_invocation"] + slept_seconds) * COST["lambda_memory_gb"]
    return loops * COST["usd_per_loop"] + compute * COST["usd_per_gb_second"]


@dataclass(frozen=True)
class Operation:
    priority: str
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """How one operation was polled: checks made, and when the pipeline knew it had ended
    (None: it outlasted the deadline)."""

    polls: int
    noticed: float | None
    loops: int | None = None  # turns of the state machine's loop (None: one per check)
    slept: float = 0.0  # seconds asleep between checks in-process
    writes: int | None = None  # job-record writes (None: one per check)


# --- mixes -----------------------------------------------------------------------------------


def online_mix(rng: random.Random, n: int) -> list[Operation]:
    ops = []
    for _ in range(n):
        if rng.random() < 0.85:
            seconds = rng.lognormvariate(math.log(30), 0.5)
        else:
            seconds = rng.lognormvariate(math.log(150), 0.4)
        ops.append(Operation("online", seconds))
    return ops


def offline_mix(rng: random.Random, n: int) -> list[Operation]:
    return [Operation("offline", rng.lognormvariate(math.log(67 * 60), 1.3)) for _ in range(n)]


def online_shift_mix(rng: random.Random, n: int) -> list[Operation]:
    ops = online_mix(rng, n)
    return [op if i < n // 2 else Operation(op.priority, 2 * op.seconds) for i, op in enumerate(ops)]


MIXES: dict[str, Callable[[random.Random, int], list[Operation]]] = {
    "online": online_mix,
    "offline": offline_mix,
    "online_shift": online_shift_mix,
}


def _online(draw: Callable[[random.Random, int], float]) -> Callable[[random.Random, int], list[Operation]]:
    return lambda rng, n: [Operation("online", draw(rng, i * 1000 // n)) for i in range(n)]


# Other shapes, for ``--mixes``: what a trace replayed with ``--durations`` may look like.
MORE_MIXES: dict[str, Callable[[random.Random, int], list[Operation]]] = {
    "gamma": _online(lambda rng, _: rng.gammavariate(4, 10)),  # mean 40 s, many short ones
    "tight": _online(lambda rng, _: rng.lognormvariate(math.log(60), 0.3)),
    "slow_30pct": _online(
        lambda rng, _: (
            rng.lognormvariate(math.log(30), 0.5)
            if rng.random() < 0.7
            else rng.lognormvariate(math.log(240), 0.3)
        )
    ),
    "outliers": _online(
        lambda rng, _: (
            rng.lognormvariate(math.log(30), 0.5) if rng.random() < 0.99 else rng.uniform(1020, 3480)
        )
    ),
    "trend": _online(lambda rng, permille: rng.lognormvariate(math.log(30 * (1 + permille / 500)), 0.5)),
    "day_night": _online(
        lambda rng, permille: rng.lognormvariate(math.log(30 if (permille // 125) % 2 == 0 else 60), 0.5)
    ),
    "uniform_offline": lambda rng, n: [Operation("offline", rng.uniform(600, 3 * 3600)) for _ in range(n)],
    "interleaved": lambda rng, n: [
        Operation("online", rng.lognormvariate(math.log(30), 0.5))
        if rng.random() < 0.7
        else Operation("offline", rng.lognormvariate(math.log(4000), 1.3))
        for _ in range(n)
    ],
    "short": _online(lambda rng, _: rng.lognormvariate(math.log(20), 0.8)),  # whole seconds are coarse
}


def read_durations(path: Path) -> list[Operation]:
    ops = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = [field.strip() for field in line.split(",")]
        if not line.strip() or (number == 1 and fields[0] == "priority"):
            continue
        if len(fields) != 2 or fields[0] not in ("online", "offline"):
            raise SystemExit(f"{path}:{number}: expected 'online|offline,seconds', got {line!r}")
        ops.append(Operation(fields[0], float(fields[1])))
    return ops


def deadline_of(priority: str) -> int:
    return SETTINGS.deadline_seconds(OperationPriority(priority))


# --- production, replayed --------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """One operation as production handled it: its checks (seconds after the create), when the
    pipeline knew it had ended, and what the estimate learned."""

    checks: list[float]
    noticed: float | None
    observation: DurationObservation | None
    loops: int = 1  # invocations of the status check (turns of the Wait/Check/Choice loop)
    slept: float = 0.0  # seconds the invocations spent between in-process checks
    writes: int = 0  # job-record writes by the checks (``progress.record_due``)


def replay_operation(
    seconds: float,
    priority: str,
    estimate: DurationEstimate,
    *,
    latency: float = LATENCY_SECONDS,
    rate_pressure: float = 0.0,
    settings: PollSettings = SETTINGS,
    in_lambda_seconds: float = IN_LAMBDA_SECONDS,
) -> Replay:
    """Submit plans the round (``start_polling``); each check then runs the status-check Lambda's
    decision (``decide_after_check``, ``poll_after_check``) at its simulated clock reading, and
    ``check_again_in_lambda`` says whether the next check is in the same invocation (asleep
    until it) or a turn of the loop: either way it reads ``latency`` plus the wait later."""
    level = OperationPriority(priority)
    running = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op", status=OperationStatus.IN_PROGRESS)]
    ended = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op", status=OperationStatus.SUCCESS)]
    poll = start_polling(level, settings, CREATED, estimate, rate_pressure=rate_pressure)
    at = latency + poll.wait_seconds  # the submit's own latency, then the first Wait
    checks: list[float] = []
    loops, slept, invoked, asleep, writes = 1, 0.0, at, 0.0, 0
    # Submit recorded the operation CREATED; the first check sees it running (a change: a write).
    seen = seen_on_record([OperationRef(kind=Kind.ON_FIGURE, operation_id="op")])
    while True:
        checks.append(at)
        now = CREATED + timedelta(seconds=at)
        operations = ended if seconds <= at else running
        decision = decide_after_check(operations, poll, now, level, settings, rate_pressure=rate_pressure)
        if record_due(seen, operations, decision.status, poll, now):
            writes += 1
            poll = poll.model_copy(update={"recorded_at": now})
        seen = seen_on_record(operations)
        if decision.status is not StepStatus.WAITING:
            noticed = at + latency if seconds <= at else None
            return Replay(checks, noticed, decision.observation, loops, slept, writes)
        poll = poll_after_check(poll, decision, now)
        wait = decision.wait_seconds
        assert wait is not None
        # Loop latency: the measured one is the loop's whatever the previous gap was, as in-process
        # checks keep to the loop's times.
        if check_again_in_lambda(
            wait,
            latency_seconds=latency,
            slept_seconds=asleep,
            remaining_seconds=CHECK_TIMEOUT_SECONDS - (at - invoked),
            limit_seconds=in_lambda_seconds,
            memory_mb=CHECK_MEMORY_MB,
        ):
            at += latency + wait
            slept, asleep = slept + latency + wait, asleep + latency + wait
        else:
            at += latency + wait
            loops, invoked, asleep = loops + 1, at, 0.0


def replay_learned(
    ops: Sequence[Operation],
    *,
    in_flight: int = 1,
    latency: float = LATENCY_SECONDS,
    rate_pressure: float = 0.0,
    in_lambda_seconds: float = IN_LAMBDA_SECONDS,
) -> tuple[list[Replay], dict[str, DurationEstimate]]:
    """The shipped code, learning in arrival order what production observes. Returns each
    operation's replay and the final estimate per priority."""
    estimates: dict[str, DurationEstimate] = {}
    pending: deque[tuple[str, DurationObservation | None]] = deque()  # operations still in flight
    replays: list[Replay] = []

    def learn(priority: str, observation: DurationObservation | None) -> None:
        if observation is not None:
            estimates[priority] = estimates[priority].learn(observation)

    for op in ops:
        if op.priority not in estimates:
            estimates[op.priority] = initial_estimate(op.priority, SETTINGS)
        while len(pending) >= in_flight:
            learn(*pending.popleft())
        replay = replay_operation(
            op.seconds,
            op.priority,
            estimates[op.priority],
            latency=latency,
            rate_pressure=rate_pressure,
            in_lambda_seconds=in_lambda_seconds,
        )
        replays.append(replay)
        pending.append((op.priority, replay.observation))
    for priority, observation in pending:
        learn(priority, observation)
    return replays, estimates


# --- a catalogue under a request rate --------------------------------------------------------

CATALOGUE_PRODUCTS = 1000
CATALOGUE_RATE = 5.0  # requests/s: the load test's plan (bench/load.py --rate 5)
CATALOGUE_SLOTS = {"slot-bound": 10, "rate-bound": 100}  # AiutaOperationsInFlight (template default 10)


def simulate_catalogue(
    durations: Sequence[float],
    estimate: DurationEstimate,
    *,
    rate: float,
    slots: int,
    yield_to_creates: bool,
    latency: float = LATENCY_SECONDS,
) -> dict[str, Any]:
    """A catalogue of online products, all waiting at 0, through one request budget of ``rate``
    requests/s (one request every 1/rate s) and ``slots`` operations in flight.

    A request turn goes to the oldest check that is due (work already at Aiuta first, as the
    waiting room does), else to a create when a slot is free. Each create is planned by
    ``start_polling``, each check runs ``decide_after_check`` at the time its turn came, and the
    estimate learns what the checks saw. With ``yield_to_creates`` each check is told the rate
    pressure (``rate_pressure_from``: the creates that have a slot and wait for a request turn);
    without, it is told none, as today.
    """
    from heapq import heappop, heappush

    level = OperationPriority.ONLINE
    running = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op", status=OperationStatus.IN_PROGRESS)]
    ended = [OperationRef(kind=Kind.ON_FIGURE, operation_id="op", status=OperationStatus.SUCCESS)]
    pending = deque(range(len(durations)))
    due: list[tuple[float, int]] = []  # (when the next check is due, product)
    polls = [0] * len(durations)
    started: dict[int, float] = {}
    state: dict[int, Any] = {}
    relative: list[float] = []
    in_flight, turn, requests, last = 0, 0.0, 0, 0.0
    while pending or due:
        if due and due[0][0] <= turn:
            _, product = heappop(due)
            begun = started[product]
            now = CREATED + timedelta(seconds=turn)
            waiting = min(len(pending), slots - in_flight) if yield_to_creates else 0
            decision = decide_after_check(
                ended if durations[product] <= turn - begun else running,
                state[product],
                now - timedelta(seconds=begun),
                level,
                SETTINGS,
                rate_pressure=rate_pressure_from(waiting, rate),
            )
            polls[product] += 1
            if decision.status is StepStatus.WAITING:
                assert decision.wait_seconds is not None
                state[product] = poll_after_check(state[product], decision, now - timedelta(seconds=begun))
                heappush(due, (turn + latency + decision.wait_seconds, product))
            else:
                in_flight -= 1
                last = turn + latency
                relative.append((turn + latency - begun - durations[product]) / durations[product])
                if decision.observation is not None:
                    estimate = estimate.learn(decision.observation)
        elif pending and in_flight < slots:
            product = pending.popleft()
            started[product] = turn
            waiting = min(len(pending), slots - in_flight) if yield_to_creates else 0
            state[product] = start_polling(
                level, SETTINGS, CREATED, estimate, rate_pressure=rate_pressure_from(waiting, rate)
            )
            heappush(due, (turn + latency + state[product].wait_seconds, product))
            in_flight += 1
        else:  # nothing to send: the budget idles until the next check is due
            turn = max(turn, due[0][0])
            continue
        requests += 1
        turn += 1 / rate
    products = len(durations)
    return {
        "products": products,
        "checks_per_product": round(sum(polls) / products, 3),
        "requests_per_product": round(requests / products, 3),
        "minutes": round(last / 60, 1),
        "products_per_minute": round(products / last * 60, 2),
        "relative_lag_p95": round(percentile(relative, 0.95), 4),
    }


def catalogue_report(estimate: DurationEstimate, latency: float) -> dict[str, Any]:
    """Each regime (slots or rate binding) with and without polls yielding to creates."""
    rng = random.Random(f"{SEED}-catalogue")
    durations = [op.seconds for op in online_mix(rng, CATALOGUE_PRODUCTS)]
    report: dict[str, Any] = {"rate": CATALOGUE_RATE, "products": CATALOGUE_PRODUCTS}
    for regime, slots in CATALOGUE_SLOTS.items():
        runs = {
            name: simulate_catalogue(
                durations, estimate, rate=CATALOGUE_RATE, slots=slots, yield_to_creates=flag, latency=latency
            )
            for name, flag in (("polls_for_lag", False), ("yields_to_creates", True))
        }
        runs["slots"] = slots
        runs["throughput_gain"] = round(
            runs["yields_to_creates"]["products_per_minute"] / runs["polls_for_lag"]["products_per_minute"], 3
        )
        report[regime] = runs
    return report


# --- the optimal schedule --------------------------------------------------------------------

GRID_SECONDS = 0.1
EXACT_UNTIL_SECONDS = 600.0
COARSE_RATIO = 1.0005
CHECK_EPSILON = 1e-6  # a check that no operation needs still costs a little: no idle checks


def _check_grid(deadline: float) -> tuple[list[float], int]:
    """Candidate check times: every 0.1 s to 600 s (index = tenths), then 0.05 % apart, then the
    deadline. Returns the times and the number of exact ones."""
    exact = round(min(EXACT_UNTIL_SECONDS, deadline) / GRID_SECONDS)
    times = [k * GRID_SECONDS for k in range(exact)]
    t = exact * GRID_SECONDS
    while t < deadline:
        times.append(t)
        t *= COARSE_RATIO
    times.append(float(deadline))
    return times, exact


def _optimal_for_multiplier(
    ordered: Sequence[float],
    grid: tuple[list[float], int],
    latency: float,
    multiplier: float,
    min_wait: int,
    target: float = GOAL_P95_RELATIVE_LAG,
) -> list[float]:
    """The check times minimising E[checks] + multiplier x P(late), late meaning a relative lag
    over ``target``: a dynamic programme from the deadline back to the create.

    ``V(i)``: the expected cost after a check at ``C[i]`` (counts of operations, not shares):
    ``S(i)`` operations still running pay the next check, at some ``C[j]``, and those that end
    in ``(C[i], C[j]]`` before ``(C[j] + latency) / (1 + target)`` are late. The late count is
    ``max(0, G(j) - F(i))``, so the best ``j`` is either the smallest ``V(j)`` among the ``j``
    that make nobody late (a sliding-window minimum) or the smallest ``multiplier G(j) + V(j)``
    beyond (a suffix minimum). Exact zone: ``j`` reachable by whole-second waits only (index
    steps of ``latency + w`` seconds, one class of tenths); coarse zone: any ``j`` at least a
    wait away.
    """
    times, exact = grid
    n = len(times)
    count = len(ordered)
    ended = [bisect.bisect_right(ordered, t) for t in times]  # F
    late_below = []  # G: operations that end in time to be counted late by a check at t
    for t in times:
        limit = (t + latency) / (1 + target)
        late_below.append(
            bisect.bisect_left(ordered, limit) if limit <= t else bisect.bisect_right(ordered, t)
        )
    steps = round(1 / GRID_SECONDS)
    lag_steps = round(latency / GRID_SECONDS)
    wait_steps = min_wait * steps
    value = [0.0] * n
    follow = [n - 1] * n
    # Coarse zone: one sliding window of V, and a suffix minimum of H = multiplier G + V.
    coarse_window: deque[int] = deque()
    coarse_next = n - 1
    coarse_suffix = [math.inf] * (n + 1)
    coarse_arg = [-1] * (n + 1)
    # Exact zone: the same per class of tenths (a whole-second wait keeps the class).
    class_windows: list[deque[int]] = [deque() for _ in range(steps)]
    class_next: list[int | None] = [None] * steps
    class_suffix = [math.inf] * (exact + steps)
    class_arg = [-1] * (exact + steps)

    def h(j: int) -> float:
        return multiplier * late_below[j] + value[j]

    coarse_suffix[n - 1], coarse_arg[n - 1] = h(n - 1), n - 1
    for i in range(n - 2, -1, -1):
        f_i = ended[i]
        boundary = bisect.bisect_right(late_below, f_i)  # first j with somebody late
        best, arg = math.inf, -1
        low = max(exact, bisect.bisect_left(times, times[i] + latency + min_wait - 1e-9, i + 1))
        while coarse_next >= low:
            j, coarse_next = coarse_next, coarse_next - 1
            if j >= boundary:
                continue
            while coarse_window and value[coarse_window[0]] >= value[j]:
                coarse_window.popleft()
            coarse_window.appendleft(j)
        while coarse_window and coarse_window[-1] >= boundary:
            coarse_window.pop()
        if coarse_window and value[coarse_window[-1]] < best:
            best, arg = value[coarse_window[-1]], coarse_window[-1]
        k = max(low, boundary)
        if k < n and coarse_suffix[k] - multiplier * f_i < best:
            best, arg = coarse_suffix[k] - multiplier * f_i, coarse_arg[k]
        if i < exact:
            start = i + lag_steps + wait_steps
            cls = start % steps
            if start < exact:
                window = class_windows[cls]
                if class_next[cls] is None:
                    class_next[cls] = exact - 1 - ((exact - 1 - cls) % steps)
                while (nxt := class_next[cls]) is not None and nxt >= start:
                    class_next[cls] = nxt - steps
                    if nxt >= boundary:
                        continue
                    while window and value[window[0]] >= value[nxt]:
                        window.popleft()
                    window.appendleft(nxt)
                while window and window[-1] >= boundary:
                    window.pop()
                if window and value[window[-1]] < best:
                    best, arg = value[window[-1]], window[-1]
                k = max(start, boundary)
                k += (cls - k) % steps
                if k < exact and class_suffix[k] - multiplier * f_i < best:
                    best, arg = class_suffix[k] - multiplier * f_i, class_arg[k]
        value[i] = (count - f_i) + CHECK_EPSILON + best
        follow[i] = arg
        here = h(i)
        if i >= exact:
            if here < coarse_suffix[i + 1]:
                coarse_suffix[i], coarse_arg[i] = here, i
            else:
                coarse_suffix[i], coarse_arg[i] = coarse_suffix[i + 1], coarse_arg[i + 1]
        else:
            up = i + steps
            if up < exact and class_suffix[up] <= here:
                class_suffix[i], class_arg[i] = class_suffix[up], class_arg[up]
            else:
                class_suffix[i], class_arg[i] = here, i
    checks, i = [], 0
    while i != n - 1:
        i = follow[i]
        checks.append(times[i])
    return checks


def schedule_outcome(checks: Sequence[float], seconds: float, latency: float) -> Outcome:
    """An operation of ``seconds`` under fixed check times (the last one on the deadline)."""
    k = bisect.bisect_left(checks, seconds)
    if k >= len(checks):
        return Outcome(len(checks), None)
    return Outcome(k + 1, checks[k] + latency)


def late_count(checks: Sequence[float], ordered: Sequence[float], latency: float, target: float) -> int:
    late = 0
    for seconds in ordered:
        outcome = schedule_outcome(checks, seconds, latency)
        if outcome.noticed is not None and outcome.noticed - seconds > target * seconds:
            late += 1
    return late


@dataclass(frozen=True)
class Optimal:
    """The optimal schedule for one priority: its check times, the multiplier of late operations
    that gives them (inf: the p95 is out of reach), and the fewest expected checks per operation
    when operations may be split between it and the next cheaper Lagrangian schedule (which
    alone is late too often): the exact constrained optimum, where the late count jumps."""

    checks: list[float]
    multiplier: float
    mixed_checks_mean: float


def optimal_schedule(
    durations: Sequence[float], deadline: float, latency: float, min_wait: int = 1
) -> Optimal:
    """The fewest expected checks with p95 relative lag <= 0.10 for these durations."""
    ordered = sorted(durations)
    finished = sum(1 for d in ordered if d <= deadline)
    allowed = finished - math.ceil((1 - 0.05) * finished)  # late ones a nearest-rank p95 tolerates
    grid = _check_grid(deadline)
    rounded = round(latency / GRID_SECONDS) * GRID_SECONDS

    def checks_mean(checks: Sequence[float]) -> float:
        return sum(schedule_outcome(checks, d, latency).polls for d in ordered) / len(ordered)

    low, high = 1e-3, 1e6
    feasible: tuple[list[float], float, int] | None = None
    cheaper: tuple[list[float], int] | None = None
    for _ in range(36):
        middle = math.sqrt(low * high)
        checks = _optimal_for_multiplier(ordered, grid, rounded, middle, min_wait)
        late = late_count(checks, ordered, latency, GOAL_P95_RELATIVE_LAG)
        if late <= allowed:
            high, feasible = middle, (checks, middle, late)
        else:
            low, cheaper = middle, (checks, late)
    if feasible is None:  # out of reach for whole-second waits: the fewest late operations instead
        checks = _optimal_for_multiplier(ordered, grid, rounded, high, min_wait)
        return Optimal(checks, math.inf, checks_mean(checks))
    checks, multiplier, late = feasible
    mixed = checks_mean(checks)
    if cheaper is not None and cheaper[1] > late:
        share = (allowed - late) / (cheaper[1] - late)  # of operations on the cheaper schedule
        mixed = (1 - share) * mixed + share * checks_mean(cheaper[0])
    return Optimal(checks, multiplier, mixed)


# --- reference schedules ---------------------------------------------------------------------


def fixed_outcome(seconds: float, wait: float, deadline: float, latency: float) -> Outcome:
    """A Wait of ``wait`` then a check, again and again; the last check lands on the deadline."""
    step = wait + latency
    polls = max(1, math.ceil(seconds / step - 1e-12))
    if polls * step >= deadline:
        last = math.ceil(deadline / step - 1e-12)
        return Outcome(last, deadline + latency if seconds <= deadline else None)
    return Outcome(polls, polls * step + latency)


def tune_fixed(durations: Sequence[float], deadline: float, latency: float) -> int:
    """The longest whole-second Wait whose p95 relative lag is at most 0.10 (1 s if none is)."""

    def p95(wait: int) -> float:
        lags = []
        for d in durations:
            o = fixed_outcome(d, wait, deadline, latency)
            if o.noticed is not None:
                lags.append((o.noticed - d) / d)
        return percentile(lags, 0.95)

    wait = 1
    while wait < deadline and p95(wait + 1) <= GOAL_P95_RELATIVE_LAG:
        wait += 1
    return wait


def previous_waits(priority: str, attempt: int) -> int:
    """The schedule shipped before the learned one (``domain/polling.py`` at its defaults)."""
    first = 20 if priority == "online" else 300
    min_wait, max_wait, factor = 2, 600, 1.5
    if attempt == 0:
        return first
    base = max(min_wait, first / 4)
    try:
        wait = base * factor ** (attempt - 1)
    except OverflowError:
        wait = max_wait
    return int(min(max_wait, max(min_wait, wait)))


def previous_checks(priority: str, deadline: float, latency: float) -> list[float]:
    elapsed, attempt, checks = 0.0, 0, []
    while elapsed < deadline:
        remaining = deadline - elapsed
        elapsed += latency + min(previous_waits(priority, attempt), max(1, math.ceil(remaining)))
        attempt += 1
        checks.append(elapsed)
    return checks


def geometric_checks(low: float, high: float, deadline: float) -> list[float]:
    """Checks at low * 1.1**k up to high, then on by 1.5; the last one on the deadline."""
    check, checks = low, []
    while check < deadline:
        checks.append(check)
        check = check * 1.1 if check < high else check * 1.5
    checks.append(float(deadline))
    return checks


def empirical_quantile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def figures(ops: Sequence[Operation], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per-mix figures of one schedule, from each operation's checks and when it was noticed."""
    polls = [o.polls for o in outcomes]
    lags, relative = [], []
    cold: dict[str, list[float]] = {}
    timed_out = 0
    for op, outcome in zip(ops, outcomes, strict=True):
        if outcome.noticed is None:
            timed_out += 1
            continue
        lag = outcome.noticed - op.seconds
        lags.append(lag)
        relative.append(lag / op.seconds if op.seconds > 0 else 0.0)
        first = cold.setdefault(op.priority, [])
        if len(first) < COLD_START_OPERATIONS:
            first.append(relative[-1])
    mean_polls = sum(polls) / len(polls)
    loops = [o.polls if o.loops is None else o.loops for o in outcomes]
    mean_loops = sum(loops) / len(loops)
    mean_slept = sum(o.slept for o in outcomes) / len(outcomes)
    mean_writes = sum(o.polls if o.writes is None else o.writes for o in outcomes) / len(outcomes)
    return {
        "polls_mean": round(mean_polls, 3),
        "loops_mean": round(mean_loops, 3),
        "slept_seconds_mean": round(mean_slept, 2),
        "record_writes_mean": round(mean_writes, 3),
        "polls_p95": percentile(polls, 0.95),
        "lag_mean_seconds": round(sum(lags) / max(1, len(lags)), 2),
        "lag_p95_seconds": round(percentile(lags, 0.95), 2),
        "relative_lag_p95": round(percentile(relative, 0.95), 4),
        "cold_start_relative_lag_p95": round(max(percentile(v, 0.95) for v in cold.values()), 4),
        "timed_out": timed_out,
        "usd_per_1000_products": round(usd_of(mean_loops, mean_slept) * 1000, 4),
    }


def learned_figures(
    ops: Sequence[Operation],
    replays: Sequence[Replay],
    estimates: dict[str, DurationEstimate],
    latency: float,
) -> dict[str, Any]:
    result = figures(ops, [Outcome(len(r.checks), r.noticed, r.loops, r.slept, r.writes) for r in replays])
    result["history_events_7d"] = max(
        len(check_times(plan_from(e, SETTINGS), SEVEN_DAYS, latency_seconds=latency))
        * HISTORY_EVENTS_PER_CHECK
        for e in estimates.values()
    )
    return result


def run_mix(
    ops: Sequence[Operation],
    in_flight: int,
    latency: float,
    rate_pressure: float,
    in_lambda_seconds: float = IN_LAMBDA_SECONDS,
) -> tuple[dict[str, Any], list[Replay], dict[str, DurationEstimate]]:
    priorities = sorted({op.priority for op in ops})
    by_priority = {p: [op.seconds for op in ops if op.priority == p] for p in priorities}
    report: dict[str, Any] = {"operations": len(ops)}
    for p in priorities:
        ordered = sorted(by_priority[p])
        report[f"{p}_duration_seconds"] = {
            q: round(empirical_quantile(ordered, v), 1)
            for q, v in (("p04", 0.04), ("p50", 0.5), ("p98", 0.98), ("max", 1.0))
        }

    replays, estimates = replay_learned(
        ops,
        in_flight=in_flight,
        latency=latency,
        rate_pressure=rate_pressure,
        in_lambda_seconds=in_lambda_seconds,
    )
    schedules: dict[str, dict[str, Any]] = {}
    learned = learned_figures(ops, replays, estimates, latency)
    learned["final_estimates"] = {p: e.describe() for p, e in estimates.items()}
    schedules["learned"] = learned

    optimal_by = {p: optimal_schedule(by_priority[p], deadline_of(p), latency) for p in priorities}
    optimal = figures(
        ops, [schedule_outcome(optimal_by[op.priority].checks, op.seconds, latency) for op in ops]
    )
    optimal["polls_mean_mixed"] = round(
        sum(len(by_priority[p]) * o.mixed_checks_mean for p, o in optimal_by.items()) / len(ops), 3
    )
    optimal["history_events_7d"] = max(len(o.checks) for o in optimal_by.values()) * HISTORY_EVENTS_PER_CHECK
    optimal["late_multiplier"] = {
        p: round(o.multiplier, 2) if o.multiplier < math.inf else None for p, o in optimal_by.items()
    }
    report["p95_in_reach"] = all(o.multiplier < math.inf for o in optimal_by.values())
    optimal["first_checks_seconds"] = {p: [round(t, 1) for t in o.checks[:8]] for p, o in optimal_by.items()}
    schedules["optimal"] = optimal

    fixed = figures(ops, [fixed_outcome(op.seconds, 60, deadline_of(op.priority), latency) for op in ops])
    fixed["history_events_7d"] = math.ceil(SEVEN_DAYS / (60 + latency)) * HISTORY_EVENTS_PER_CHECK
    schedules["fixed_60s"] = fixed

    waits = {p: tune_fixed(by_priority[p], deadline_of(p), latency) for p in priorities}
    tuned = figures(
        ops, [fixed_outcome(op.seconds, waits[op.priority], deadline_of(op.priority), latency) for op in ops]
    )
    tuned["wait_seconds"] = waits
    tuned["history_events_7d"] = (
        max(math.ceil(SEVEN_DAYS / (w + latency)) for w in waits.values()) * HISTORY_EVENTS_PER_CHECK
    )
    schedules["fixed_tuned"] = tuned

    geometric = {
        p: geometric_checks(
            empirical_quantile(sorted(by_priority[p]), 0.04),
            empirical_quantile(sorted(by_priority[p]), 0.98),
            deadline_of(p),
        )
        for p in priorities
    }
    reference = figures(ops, [schedule_outcome(geometric[op.priority], op.seconds, latency) for op in ops])
    reference["history_events_7d"] = (
        max(len(geometric_checks(c[0], c[0], SEVEN_DAYS)) for c in geometric.values())
        * HISTORY_EVENTS_PER_CHECK
    )
    schedules["geometric"] = reference

    previous = {p: previous_checks(p, deadline_of(p), latency) for p in priorities}
    before = figures(ops, [schedule_outcome(previous[op.priority], op.seconds, latency) for op in ops])
    before["history_events_7d"] = (
        max(len(previous_checks(p, SEVEN_DAYS, latency)) for p in priorities) * HISTORY_EVENTS_PER_CHECK
    )
    schedules["previous"] = before

    if rate_pressure == 0.0:
        bound, bound_estimates = replay_learned(
            ops,
            in_flight=in_flight,
            latency=latency,
            rate_pressure=RATE_BOUND_PRESSURE,
            in_lambda_seconds=in_lambda_seconds,
        )
        schedules["learned_rate_bound"] = learned_figures(ops, bound, bound_estimates, latency)
        polls, pressed = learned["polls_mean"], schedules["learned_rate_bound"]["polls_mean"]
        report["rate_bound"] = {
            "rate_pressure": RATE_BOUND_PRESSURE,
            "requests_per_product": round(1 + pressed, 3),
            "requests_per_product_unpressed": round(1 + polls, 3),
            "throughput_gain": round((1 + polls) / (1 + pressed), 3),
        }

    report["schedules"] = schedules
    report["learned_polls_vs_fixed_tuned"] = round(learned["polls_mean"] / tuned["polls_mean"], 3)
    report["learned_polls_vs_optimal"] = round(learned["polls_mean"] / optimal["polls_mean_mixed"], 3)
    return report, replays, estimates


def goals_missed(name: str, mix: dict[str, Any]) -> list[str]:
    learned = mix["schedules"]["learned"]
    missed = []
    if learned["relative_lag_p95"] > GOAL_P95_RELATIVE_LAG:
        why = "" if mix["p95_in_reach"] else " (no schedule of whole-second waits reaches it)"
        missed.append(
            f"{name}: p95 relative lag {learned['relative_lag_p95']} > {GOAL_P95_RELATIVE_LAG}{why}"
        )
    if mix["learned_polls_vs_optimal"] > GOAL_POLLS_VS_OPTIMAL:
        missed.append(
            f"{name}: checks {mix['learned_polls_vs_optimal']}x the optimal schedule's"
            f" > {GOAL_POLLS_VS_OPTIMAL}"
        )
    if learned["history_events_7d"] >= GOAL_HISTORY_EVENTS_7D:
        missed.append(f"{name}: {learned['history_events_7d']} history events for 7 days")
    if learned["cold_start_relative_lag_p95"] > GOAL_COLD_START_P95_RELATIVE_LAG:
        missed.append(f"{name}: cold-start p95 relative lag {learned['cold_start_relative_lag_p95']}")
    return missed


COLUMNS = (
    "mix",
    "schedule",
    "checks mean",
    "checks p95",
    "loops mean",
    "asleep mean",
    "lag mean",
    "lag p95",
    "rel. lag p95",
    "cold start rel. lag p95",
    "history events, 7 days",
    "$ per 1,000 products",
)


def table(mixes: dict[str, dict[str, Any]]) -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for name, mix in mixes.items():
        for schedule, f in mix["schedules"].items():
            cells = [
                name,
                schedule,
                f"{f['polls_mean']:.2f}",
                f"{f['polls_p95']}",
                f"{f['loops_mean']:.2f}",
                f"{f['slept_seconds_mean']:.1f} s",
                f"{f['lag_mean_seconds']:.1f} s",
                f"{f['lag_p95_seconds']:.1f} s",
                f"{f['relative_lag_p95']:.3f}",
                f"{f['cold_start_relative_lag_p95']:.3f}",
                f"{f['history_events_7d']:,}",
                f"{f['usd_per_1000_products']:.3f}",
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def catalogue_table(catalogue: dict[str, Any]) -> str:
    columns = ("regime", "slots", "checks", "checks per product", "requests per product")
    columns += ("products per minute", "minutes", "rel. lag p95")
    rows = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for regime in CATALOGUE_SLOTS:
        for name in ("polls_for_lag", "yields_to_creates"):
            run = catalogue[regime][name]
            cells = [regime, str(catalogue[regime]["slots"]), name.replace("_", " ")]
            cells += [f"{run['checks_per_product']:.2f}", f"{run['requests_per_product']:.2f}"]
            cells += [
                f"{run['products_per_minute']:.1f}",
                f"{run['minutes']:.1f}",
                f"{run['relative_lag_p95']:.3f}",
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--durations", type=Path, help="CSV of 'priority,seconds' lines in arrival order")
    parser.add_argument("--checks-out", type=Path, help="write each operation's check times, one line each")
    parser.add_argument("--operations", type=int, default=OPERATIONS, help="per built-in mix")
    parser.add_argument(
        "--mixes",
        default=",".join(MIXES),
        help=f"comma-separated, of {', '.join([*MIXES, *MORE_MIXES])}, or 'all'",
    )
    parser.add_argument("--in-flight", type=int, default=1, help="operations running at once")
    parser.add_argument("--latency", type=float, default=LATENCY_SECONDS, help="seconds a check loop adds")
    parser.add_argument(
        "--rate-pressure", type=float, default=0.0, help="0..1: how hard Aiuta's request rate binds"
    )
    parser.add_argument(
        "--in-lambda-seconds",
        type=float,
        default=IN_LAMBDA_SECONDS,
        help="PollInLambdaSeconds: the longest a status check sleeps to check again in-process (0: never)",
    )
    parser.add_argument("--results", type=Path, help=f"JSON report (default {RESULTS})")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.durations:
        inputs = {args.durations.stem: read_durations(args.durations)}
        results = args.results or RESULTS.with_name(f"polling-{args.durations.stem}.json")
    else:
        known = {**MIXES, **MORE_MIXES}
        names = (
            list(known) if args.mixes == "all" else [n.strip() for n in args.mixes.split(",") if n.strip()]
        )
        if unknown := [n for n in names if n not in known]:
            raise SystemExit(f"unknown mix {', '.join(unknown)}: choose among {', '.join(known)}")
        inputs = {name: known[name](random.Random(f"{SEED}-{name}"), args.operations) for name in names}
        results = args.results or (
            RESULTS if names == list(MIXES) else RESULTS.with_name("polling-mixes.json")
        )
    mixes: dict[str, dict[str, Any]] = {}
    lines: list[str] = []
    learned: dict[str, DurationEstimate] = {}
    for name, ops in inputs.items():
        mixes[name], replays, learned[name] = run_mix(
            ops, max(1, args.in_flight), args.latency, args.rate_pressure, args.in_lambda_seconds
        )
        lines.extend(" ".join(f"{t:g}" for t in r.checks) for r in replays)
    # A catalogue under the plan's rate, planned from what the online mix taught the estimate.
    catalogue = (
        catalogue_report(learned["online"]["online"], args.latency)
        if "online" in learned and args.rate_pressure == 0.0
        else None
    )
    if args.checks_out:
        args.checks_out.write_text("".join(line + "\n" for line in lines))

    missed = [m for name, mix in mixes.items() for m in goals_missed(name, mix)]
    summary = {
        "polls_ratio_vs_optimal": max(m["learned_polls_vs_optimal"] for m in mixes.values()),
        "polls_ratio_vs_tuned_fixed": max(m["learned_polls_vs_fixed_tuned"] for m in mixes.values()),
        "p95_relative_lag": max(m["schedules"]["learned"]["relative_lag_p95"] for m in mixes.values()),
        "history_events_7d": max(m["schedules"]["learned"]["history_events_7d"] for m in mixes.values()),
        "cold_start_p95_relative_lag": max(
            m["schedules"]["learned"]["cold_start_relative_lag_p95"] for m in mixes.values()
        ),
    }
    if catalogue is not None:
        summary["catalogue_throughput_gain_rate_bound"] = catalogue["rate-bound"]["throughput_gain"]
        summary["catalogue_throughput_gain_slot_bound"] = catalogue["slot-bound"]["throughput_gain"]
    report = {
        "command": " ".join([".venv/bin/python bench/polling.py", *(sys.argv[1:] if argv is None else argv)]),
        "in_flight": max(1, args.in_flight),
        "latency_seconds": args.latency,
        "rate_pressure": args.rate_pressure,
        "in_lambda_seconds": args.in_lambda_seconds,
        "cost_assumptions": COST,
        "mixes": mixes,
        "catalogue": catalogue,
        "summary": summary,
        "goals_missed": missed,
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(table(mixes))
    if catalogue is not None:
        print(catalogue_table(catalogue))
    print(f"seconds: {time.perf_counter() - started:.1f}; results in {results}")
    for m in missed:
        print(f"goal missed: {m}")
    print(
        "polling: "
        + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
