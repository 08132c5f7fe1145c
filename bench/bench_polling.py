"""Polling schedule vs the fixed-interval poller of AWS's "job poller" sample (the baseline).

For operations whose durations are drawn from a seeded distribution per priority, it replays
both schedules and counts what each costs and how late each notices the end:
status checks (Lambda invocations and Aiuta GETs), Step Functions history events (state
transitions are what Standard workflows bill), and detection lag. Pure arithmetic: the numbers
are the same on every machine. Run: ``.venv/bin/python bench/bench_polling.py``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from studio_core.aiuta.models import OperationPriority
from studio_core.domain.polling import HISTORY_EVENTS_PER_CHECK, next_wait
from studio_core.settings import PollSettings

RESULTS = Path(__file__).with_name("results") / "polling.json"
SAMPLES = 2000
HISTORY_LIMIT = 25_000
DURATIONS = {  # seconds: online generations take under a minute or two, offline ones hours
    OperationPriority.ONLINE: lambda rng: rng.lognormvariate(3.4, 0.5),  # median ~30 s
    OperationPriority.OFFLINE: lambda rng: rng.lognormvariate(8.3, 0.8),  # median ~67 min
}


def replay(duration: float, wait_for_attempt: Callable[[int], float]) -> tuple[int, float]:
    """Checks made until one sees the operation finished, and how long after the end that was."""
    elapsed, attempt = 0.0, 0
    while True:
        elapsed += wait_for_attempt(attempt)
        attempt += 1
        if elapsed >= duration:
            return attempt, elapsed - duration


def measure(priority: OperationPriority, schedule: Callable[[int], float]) -> dict[str, float]:
    rng = random.Random(7)
    checks, lags = [], []
    for _ in range(SAMPLES):
        made, lag = replay(DURATIONS[priority](rng), schedule)
        checks.append(made)
        lags.append(lag)
    return {
        "mean_checks": round(statistics.fmean(checks), 2),
        "max_checks": max(checks),
        "mean_history_events": round(statistics.fmean(checks) * HISTORY_EVENTS_PER_CHECK, 1),
        "mean_lag_seconds": round(statistics.fmean(lags), 2),
        "p95_lag_seconds": round(sorted(lags)[int(0.95 * len(lags))], 2),
        # Executions that would hit Step Functions' 25,000-event history limit and fail.
        "share_over_history_limit": round(
            sum(c * HISTORY_EVENTS_PER_CHECK > HISTORY_LIMIT for c in checks) / len(checks), 4
        ),
    }


def main() -> int:
    settings = PollSettings()
    report: dict[str, object] = {"samples_per_priority": SAMPLES, "settings": settings.model_dump()}
    for priority in OperationPriority:
        adaptive = measure(priority, lambda attempt, p=priority: next_wait(p, attempt, settings))
        fixed_10s = measure(priority, lambda attempt: 10)
        report[priority.value] = {
            "adaptive": adaptive,
            "baseline_fixed_10s": fixed_10s,
            "checks_ratio_adaptive_to_baseline": round(adaptive["mean_checks"] / fixed_10s["mean_checks"], 3),
            "lag_ratio_adaptive_to_baseline": round(
                adaptive["mean_lag_seconds"] / max(fixed_10s["mean_lag_seconds"], 1e-9), 3
            ),
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
