"""Learned poll schedule vs fixed pollers, the schedule shipped before it, and a hindsight oracle.

Replays operation durations, in arrival order, through the shipped code
(``studio_core.domain.learned_polling``): each operation is planned from the priority's
estimate as it was when the operation was created, checked with ``next_wait`` the way the
status-check Lambda calls it, and observed into the estimate when it ends (or at its deadline).
By default operations arrive one after another (each is created once the one before it ended);
``--in-flight N`` lets N run at once (operation i is planned from the observations of
operations 0 .. i-N), which is what a catalogue upload looks like.

Schedules, all with the template's deadlines (a last check on the deadline, then TIMED_OUT):

- ``learned``: the shipped code;
- ``fixed_60s``: AWS's "job poller" sample, a Wait of a fixed 60 s;
- ``fixed_tuned``: a fixed interval per priority, bisected (in hindsight) to the longest one
  that keeps the p95 relative lag at 0.10;
- ``previous``: the schedule shipped before this one (copied below so it survives changes):
  first wait 20 s online / 300 s offline, then a quarter of it growing 1.5x up to 600 s;
- ``oracle``: knows each priority's distribution in the mix (its empirical quantiles):
  checks from the 4 % quantile by 1.1 up to the 98 % quantile, then by 1.5.

Figures per mix and schedule: polls per operation (mean, p95), absolute lag (mean, p95),
relative lag = lag / duration (p95; timed-out operations have no lag and are counted apart),
the history events of an operation that runs 7 days (7-day deadline; for ``learned`` with the
estimate at the end of the replay), the cold start (p95 relative lag of each priority's first
20 operations), and the Step Functions + Lambda cost per 1,000 products (``COST`` below).
Percentiles are nearest-rank (p95 of 20 values is the 19th smallest).

Built-in mixes (seeded, ``OPERATIONS`` each), chosen to look like what Aiuta serves:

- ``online``: 85 % log-normal, median 30 s, sigma 0.5 (one on-figure generation, the spread of
  image counts and GPU load), 15 % a slow mode, median 150 s, sigma 0.4 (a queue behind a
  batch, or a cold worker): bimodal, which a single "expected duration" cannot describe;
- ``offline``: log-normal, median 67 min, sigma 1.3 (a heavy tail: offline work is scheduled
  around online load, so some operations wait for hours);
- ``online_shift``: the online mix, with every duration doubled from the middle on (Aiuta
  slowing down after a release): what the estimate's decay is for.

``--durations FILE`` replays a trace instead (CSV lines ``priority,seconds`` in arrival order;
a header line and blank lines are skipped); ``--checks-out FILE`` writes, per operation of the
input, the seconds after creation at which the shipped code checked it, space-separated.

Exit status 1 when a goal is missed: p95 relative lag <= 0.10, polls <= 1.25x the oracle's,
a 7-day operation under 5,000 history events, cold-start p95 relative lag <= 0.25.
Pure arithmetic, seeded: the same figures on every machine. Run:
``.venv/bin/python bench/polling.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_core.domain import learned_polling

RESULTS = Path(__file__).with_name("results") / "polling.json"
OPERATIONS = 10_000
SEED = 20_250_301
SEVEN_DAYS = 7 * 24 * 3600
HISTORY_EVENTS_PER_CHECK = 8  # Wait + Task + Choice per loop
COLD_START_OPERATIONS = 20

# Goals every mix must meet.
GOAL_P95_RELATIVE_LAG = 0.10
GOAL_POLLS_VS_ORACLE = 1.25
GOAL_HISTORY_EVENTS_7D = 5_000
GOAL_COLD_START_P95_RELATIVE_LAG = 0.25


@dataclass(frozen=True)
class TemplateDefaults:
    """The template's poll defaults (``PollSettings``) when this benchmark was written."""

    first_wait_online_seconds: int = 20
    first_wait_offline_seconds: int = 300
    deadline_online_seconds: int = 3600
    deadline_offline_seconds: int = 259_200

    def deadline(self, priority: str) -> int:
        return self.deadline_online_seconds if priority == "online" else self.deadline_offline_seconds


DEFAULTS = TemplateDefaults()

# List prices (us-east-1): Standard workflows $0.025 per 1,000 state transitions, 3 per poll
# loop (Wait, Task, Choice); Lambda $0.20 per million requests and $0.0000166667 per GB-s, the
# status check at 256 MB for about 300 ms (one Aiuta GET). One operation per product (one kind);
# the transitions every job makes anyway (submit, copy, record) are the same for all schedules
# and left out.
COST = {
    "state_transitions_per_poll": 3,
    "usd_per_state_transition": 0.025 / 1000,
    "usd_per_lambda_request": 0.20 / 1_000_000,
    "usd_per_gb_second": 0.0000166667,
    "lambda_memory_gb": 0.25,
    "lambda_seconds_per_check": 0.3,
}
USD_PER_POLL = (
    COST["state_transitions_per_poll"] * COST["usd_per_state_transition"]
    + COST["usd_per_lambda_request"]
    + COST["lambda_memory_gb"] * COST["lambda_seconds_per_check"] * COST["usd_per_gb_second"]
)


@dataclass(frozen=True)
class Operation:
    priority: str
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """How one operation was polled: checks made, and the time of the last one."""

    polls: int
    last_check: float


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


# --- schedules -------------------------------------------------------------------------------


def replay_learned(ops: Sequence[Operation], in_flight: int = 1) -> tuple[list[list[int]], dict[str, Any]]:
    """The shipped code, learning in arrival order. Returns each operation's check times and
    the final estimate per priority."""
    estimates: dict[str, learned_polling.DurationEstimate] = {}
    pending: deque[tuple[str, float]] = deque()  # observations not yet visible (operations in flight)
    all_checks: list[list[int]] = []
    for op in ops:
        if op.priority not in estimates:
            estimates[op.priority] = learned_polling.initial_estimate(op.priority, DEFAULTS)
        while len(pending) >= in_flight:
            priority, seconds = pending.popleft()
            estimates[priority] = estimates[priority].observe(seconds)
        plan = learned_polling.plan_for(estimates[op.priority])
        deadline = DEFAULTS.deadline(op.priority)
        checks: list[int] = []
        elapsed = 0
        while elapsed < op.seconds:
            wait = learned_polling.next_wait(plan, elapsed, len(checks), deadline)
            if wait == 0:
                break  # TIMED_OUT
            elapsed += wait
            checks.append(elapsed)
        all_checks.append(checks)
        # What production observes: the duration, or the deadline for a timed-out operation.
        pending.append((op.priority, min(op.seconds, deadline)))
    for priority, seconds in pending:
        estimates[priority] = estimates[priority].observe(seconds)
    return all_checks, estimates


def fixed_outcome(seconds: float, interval: float, deadline: float) -> Outcome:
    polls = max(1, math.ceil(seconds / interval - 1e-12))
    last = polls * interval
    if last >= deadline:  # the last check lands on the deadline
        return Outcome(math.ceil(deadline / interval - 1e-12), float(deadline))
    return Outcome(polls, last)


def previous_waits(priority: str, attempt: int) -> int:
    """The schedule shipped before this one (``domain/polling.py`` ``next_wait`` at its defaults)."""
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


def previous_outcome(priority: str, seconds: float, deadline: float) -> Outcome:
    """``plan_next_check``: waits by attempt, the last one cut to land on the deadline."""
    elapsed, attempt = 0.0, 0
    while True:
        remaining = deadline - elapsed
        if remaining <= 0:
            return Outcome(attempt, elapsed)
        elapsed += min(previous_waits(priority, attempt), max(1, math.ceil(remaining)))
        attempt += 1
        if elapsed >= seconds:
            return Outcome(attempt, elapsed)


def oracle_outcome(seconds: float, low: float, high: float, deadline: float) -> Outcome:
    """Checks at low * 1.1**k up to high, then on by 1.5; the last one on the deadline."""
    check, polls = low, 1
    while check < seconds and check < deadline:
        check = check * 1.1 if check < high else check * 1.5
        polls += 1
    return Outcome(polls, min(check, float(deadline)))


def empirical_quantile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def tune_interval(durations: Sequence[float], deadline: float) -> float:
    """The longest fixed interval whose p95 relative lag is at most 0.10 (bisection, log scale)."""

    def p95(interval: float) -> float:
        outcomes = [fixed_outcome(d, interval, deadline) for d in durations]
        return percentile(
            [(o.last_check - d) / d for o, d in zip(outcomes, durations, strict=True) if d <= deadline], 0.95
        )

    good, bad = 0.01, 86_400.0
    for _ in range(60):
        middle = math.sqrt(good * bad)
        if p95(middle) <= GOAL_P95_RELATIVE_LAG:
            good = middle
        else:
            bad = middle
    return good


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def figures(ops: Sequence[Operation], outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Per-mix figures of one schedule, from each operation's checks (polls, last check time)."""
    polls = [o.polls for o in outcomes]
    lags, relative = [], []
    cold: dict[str, list[float]] = {}
    timed_out = 0
    for op, outcome in zip(ops, outcomes, strict=True):
        if op.seconds > outcome.last_check:
            timed_out += 1
            continue
        lag = outcome.last_check - op.seconds
        lags.append(lag)
        relative.append(lag / op.seconds if op.seconds > 0 else 0.0)
        first = cold.setdefault(op.priority, [])
        if len(first) < COLD_START_OPERATIONS:
            first.append(relative[-1])
    mean_polls = sum(polls) / len(polls)
    return {
        "polls_mean": round(mean_polls, 3),
        "polls_p95": percentile(polls, 0.95),
        "lag_mean_seconds": round(sum(lags) / max(1, len(lags)), 2),
        "lag_p95_seconds": round(percentile(lags, 0.95), 2),
        "relative_lag_p95": round(percentile(relative, 0.95), 4),
        "cold_start_relative_lag_p95": round(max(percentile(v, 0.95) for v in cold.values()), 4),
        "timed_out": timed_out,
        "usd_per_1000_products": round(mean_polls * USD_PER_POLL * 1000, 4),
    }


def outcomes_from_checks(checks: Sequence[Sequence[float]]) -> list[Outcome]:
    return [Outcome(len(c), float(c[-1]) if c else 0.0) for c in checks]


def run_mix(ops: Sequence[Operation], in_flight: int) -> tuple[dict[str, Any], list[list[int]]]:
    priorities = sorted({op.priority for op in ops})
    by_priority = {p: [op.seconds for op in ops if op.priority == p] for p in priorities}
    report: dict[str, Any] = {"operations": len(ops)}
    for p in priorities:
        ordered = sorted(by_priority[p])
        report[f"{p}_duration_seconds"] = {
            q: round(empirical_quantile(ordered, v), 1)
            for q, v in (("p04", 0.04), ("p50", 0.5), ("p98", 0.98), ("max", 1.0))
        }

    learned_checks, estimates = replay_learned(ops, in_flight)
    schedules: dict[str, dict[str, Any]] = {}

    learned = figures(ops, outcomes_from_checks(learned_checks))
    learned["history_events_7d"] = max(
        len(learned_polling.check_times(learned_polling.plan_for(e), SEVEN_DAYS)) * HISTORY_EVENTS_PER_CHECK
        for e in estimates.values()
    )
    learned["final_estimates"] = {p: e.describe() for p, e in estimates.items()}
    schedules["learned"] = learned

    fixed = figures(ops, [fixed_outcome(op.seconds, 60, DEFAULTS.deadline(op.priority)) for op in ops])
    fixed["history_events_7d"] = math.ceil(SEVEN_DAYS / 60) * HISTORY_EVENTS_PER_CHECK
    schedules["fixed_60s"] = fixed

    intervals = {p: tune_interval(by_priority[p], DEFAULTS.deadline(p)) for p in priorities}
    tuned = figures(
        ops, [fixed_outcome(op.seconds, intervals[op.priority], DEFAULTS.deadline(op.priority)) for op in ops]
    )
    tuned["interval_seconds"] = {p: round(i, 3) for p, i in intervals.items()}
    tuned["history_events_7d"] = (
        max(math.ceil(SEVEN_DAYS / i) for i in intervals.values()) * HISTORY_EVENTS_PER_CHECK
    )
    schedules["fixed_tuned"] = tuned

    previous = figures(
        ops, [previous_outcome(op.priority, op.seconds, DEFAULTS.deadline(op.priority)) for op in ops]
    )
    previous["history_events_7d"] = (
        max(previous_outcome(p, math.inf, SEVEN_DAYS).polls for p in priorities) * HISTORY_EVENTS_PER_CHECK
    )
    schedules["previous"] = previous

    bounds = {
        p: (
            empirical_quantile(sorted(by_priority[p]), 0.04),
            empirical_quantile(sorted(by_priority[p]), 0.98),
        )
        for p in priorities
    }
    oracle = figures(
        ops, [oracle_outcome(op.seconds, *bounds[op.priority], DEFAULTS.deadline(op.priority)) for op in ops]
    )
    oracle["history_events_7d"] = (
        max(oracle_outcome(math.inf, *bounds[p], SEVEN_DAYS).polls for p in priorities)
        * HISTORY_EVENTS_PER_CHECK
    )
    schedules["oracle"] = oracle

    report["schedules"] = schedules
    report["learned_polls_vs_fixed_tuned"] = round(learned["polls_mean"] / tuned["polls_mean"], 3)
    report["learned_polls_vs_oracle"] = round(learned["polls_mean"] / oracle["polls_mean"], 3)
    return report, learned_checks


def goals_missed(name: str, mix: dict[str, Any]) -> list[str]:
    learned = mix["schedules"]["learned"]
    missed = []
    if learned["relative_lag_p95"] > GOAL_P95_RELATIVE_LAG:
        missed.append(f"{name}: p95 relative lag {learned['relative_lag_p95']} > {GOAL_P95_RELATIVE_LAG}")
    if mix["learned_polls_vs_oracle"] > GOAL_POLLS_VS_ORACLE:
        missed.append(
            f"{name}: polls {mix['learned_polls_vs_oracle']}x the oracle's > {GOAL_POLLS_VS_ORACLE}"
        )
    if learned["history_events_7d"] >= GOAL_HISTORY_EVENTS_7D:
        missed.append(f"{name}: {learned['history_events_7d']} history events for 7 days")
    if learned["cold_start_relative_lag_p95"] > GOAL_COLD_START_P95_RELATIVE_LAG:
        missed.append(f"{name}: cold-start p95 relative lag {learned['cold_start_relative_lag_p95']}")
    return missed


COLUMNS = (
    "mix",
    "schedule",
    "polls mean",
    "polls p95",
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
                f"{f['lag_mean_seconds']:.1f} s",
                f"{f['lag_p95_seconds']:.1f} s",
                f"{f['relative_lag_p95']:.3f}",
                f"{f['cold_start_relative_lag_p95']:.3f}",
                f"{f['history_events_7d']:,}",
                f"{f['usd_per_1000_products']:.3f}",
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--durations", type=Path, help="CSV of 'priority,seconds' lines in arrival order")
    parser.add_argument("--checks-out", type=Path, help="write each operation's check times, one line each")
    parser.add_argument("--operations", type=int, default=OPERATIONS, help="per built-in mix")
    parser.add_argument("--in-flight", type=int, default=1, help="operations running at once")
    parser.add_argument("--results", type=Path, help=f"JSON report (default {RESULTS})")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.durations:
        inputs = {args.durations.stem: read_durations(args.durations)}
        results = args.results or RESULTS.with_name(f"polling-{args.durations.stem}.json")
    else:
        inputs = {
            name: make(random.Random(f"{SEED}-{name}"), args.operations) for name, make in MIXES.items()
        }
        results = args.results or RESULTS
    mixes: dict[str, dict[str, Any]] = {}
    lines: list[str] = []
    for name, ops in inputs.items():
        mixes[name], checks = run_mix(ops, max(1, args.in_flight))
        lines.extend(" ".join(str(t) for t in c) for c in checks)
    if args.checks_out:
        args.checks_out.write_text("".join(line + "\n" for line in lines))

    missed = [m for name, mix in mixes.items() for m in goals_missed(name, mix)]
    summary = {
        "polls_ratio_vs_tuned_fixed": max(m["learned_polls_vs_fixed_tuned"] for m in mixes.values()),
        "polls_ratio_vs_oracle": max(m["learned_polls_vs_oracle"] for m in mixes.values()),
        "p95_relative_lag": max(m["schedules"]["learned"]["relative_lag_p95"] for m in mixes.values()),
        "history_events_7d": max(m["schedules"]["learned"]["history_events_7d"] for m in mixes.values()),
        "cold_start_p95_relative_lag": max(
            m["schedules"]["learned"]["cold_start_relative_lag_p95"] for m in mixes.values()
        ),
    }
    report = {
        "command": " ".join([".venv/bin/python bench/polling.py", *(sys.argv[1:] if argv is None else argv)]),
        "in_flight": max(1, args.in_flight),
        "cost_assumptions": COST,
        "usd_per_poll": USD_PER_POLL,
        "mixes": mixes,
        "summary": summary,
        "goals_missed": missed,
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(table(mixes))
    print(f"seconds: {time.perf_counter() - started:.1f}; results in {results}")
    for m in missed:
        print(f"goal missed: {m}")
    print(
        f"polling: polls_ratio_vs_tuned_fixed={summary['polls_ratio_vs_tuned_fixed']:.3f}"
        f" polls_ratio_vs_oracle={summary['polls_ratio_vs_oracle']:.3f}"
        f" p95_relative_lag={summary['p95_relative_lag']:.4f}"
        f" history_events_7d={summary['history_events_7d']}"
        f" cold_start_p95_relative_lag={summary['cold_start_p95_relative_lag']:.4f}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
