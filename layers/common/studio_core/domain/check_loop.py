"""Which checks of a round happen inside one "Check operation status" invocation.

The state machine's loop (Wait for Aiuta, Check operation status, Is the generation finished?)
costs three state transitions and a Lambda request a turn: $0.0000752 at list prices. A 512 MB
Lambda costs that much in 11.3 s of sleep (``break_even_gap_seconds``). So when the schedule's
next wait is shorter than that, the status check sleeps and checks again in-process: the same
schedule (``progress.decide_after_check`` and ``poll_after_check`` after every check) and the
same checks at the same times (the next check reads the loop's measured latency plus the wait
after this one, as it would after a Wait state), one loop instead of several. An
invocation sleeps at most ``POLL_IN_LAMBDA_SECONDS`` (template ``PollInLambdaSeconds``, 0: never)
and never into the last ``CHECK_RESERVE_SECONDS`` before its timeout, the time one more check may
take (Aiuta's read timeout with room to spare). Longer waits, and the online schedule's tail and
every offline gap of minutes, stay Wait states, which hold nothing.

``bench/polling.py`` replays this rule with the production functions and prices loops, sleep and
checks apart; ``bench/work_per_product.py`` projects a product's cost from it.
"""

from __future__ import annotations

# List prices (us-east-1, June 2025) that set the break-even: Step Functions Standard per state
# transition, Lambda per request, Lambda per GB-s on arm64 (as the template deploys).
USD_PER_STATE_TRANSITION = 0.025 / 1000
USD_PER_LAMBDA_REQUEST = 0.20 / 1_000_000
USD_PER_GB_SECOND = 0.0000133334
TRANSITIONS_PER_LOOP = 3  # Wait, Task, Choice

# What one more check may take after a sleep: Aiuta's connect and read timeouts (3 s + 30 s)
# with room to spare. The function's Timeout (template.yaml) covers the sleep and this.
CHECK_RESERVE_SECONDS = 35.0


def loop_usd() -> float:
    """One turn of the state machine's check loop: its transitions and the Lambda request."""
    return TRANSITIONS_PER_LOOP * USD_PER_STATE_TRANSITION + USD_PER_LAMBDA_REQUEST


def break_even_gap_seconds(memory_mb: int) -> float:
    """The wait below which sleeping in a ``memory_mb`` status-check Lambda costs less than a loop."""
    return loop_usd() / (memory_mb / 1024 * USD_PER_GB_SECOND)


def check_again_in_lambda(
    wait_seconds: int,
    *,
    latency_seconds: float,
    slept_seconds: float,
    remaining_seconds: float,
    limit_seconds: float,
    memory_mb: int,
) -> bool:
    """Whether the invocation checks again after ``latency_seconds + wait_seconds`` (the next
    check's time in the loop: the loop's measured latency, then the Wait) instead of returning
    to the Wait state: the wait is below the break-even, the invocation's time between in-process
    checks (``slept_seconds`` so far) stays within ``limit_seconds`` (``POLL_IN_LAMBDA_SECONDS``),
    and one more check still fits before the timeout."""
    gap = latency_seconds + wait_seconds
    return (
        limit_seconds > 0
        and 0 < wait_seconds < break_even_gap_seconds(memory_mb)
        and slept_seconds + gap <= limit_seconds
        and remaining_seconds - gap >= CHECK_RESERVE_SECONDS
    )
