"""The simulator's per-key token bucket and its counters, without a server: clocks are injected."""

from __future__ import annotations

import threading

import pytest

from studio_sim.limits import RateLimiter, TokenBucket, TooManyUnfinished, key_id, retry_after
from studio_sim.stats import Stats
from tests.support.clock import FakeClock


def test_a_full_bucket_lets_a_burst_through_then_refuses() -> None:
    # Given a bucket of 3 tokens refilled at 2 per second, on a clock that does not move
    bucket = TokenBucket(rate=2, burst=3, clock=FakeClock())

    # When 4 requests arrive at once
    answers = [bucket.take() for _ in range(4)]

    # Then 3 go through and the 4th must wait half a second for the next token
    assert answers[:3] == [None, None, None]
    assert answers[3] == pytest.approx(0.5)


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst() -> None:
    # Given an emptied bucket of 2 tokens at 1 per second
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    bucket.take()
    bucket.take()

    # When 0.25 s pass, Then the next token is 0.75 s away
    clock.advance(0.25)
    assert bucket.take() == pytest.approx(0.75)

    # When a long time passes, Then only a burst's worth has come back
    clock.advance(3600)
    assert [bucket.take() for _ in range(3)][:2] == [None, None]
    assert bucket.take() is not None


def test_the_bucket_is_safe_to_share_between_threads() -> None:
    # Given a bucket of 100 tokens that never refills in the test's time
    bucket = TokenBucket(rate=1e-9, burst=100, clock=FakeClock())
    taken: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(50):
            granted = bucket.take() is None
            with lock:
                taken.append(granted)

    # When 8 threads take 400 tokens between them
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly the 100 there were are granted
    assert taken.count(True) == 100


def test_each_key_has_its_own_bucket_and_no_rate_means_no_limit() -> None:
    limiter = RateLimiter(clock=FakeClock())

    assert limiter.wait_needed("a", rate=1, burst=1) is None
    assert limiter.wait_needed("a", rate=1, burst=1) == pytest.approx(1)
    assert limiter.wait_needed("b", rate=1, burst=1) is None
    assert all(limiter.wait_needed("a", rate=None, burst=1) is None for _ in range(100))


def test_a_new_rate_starts_a_fresh_full_bucket() -> None:
    # Given an emptied bucket for key "a"
    limiter = RateLimiter(clock=FakeClock())
    limiter.wait_needed("a", rate=1, burst=1)
    assert limiter.wait_needed("a", rate=1, burst=1) is not None

    # When the rate is changed (as POST /_sim/config does), Then the key may call again at once
    assert limiter.wait_needed("a", rate=5, burst=2) is None
    assert limiter.wait_needed("a", rate=5, burst=2) is None
    assert limiter.wait_needed("a", rate=5, burst=2) == pytest.approx(0.2)


@pytest.mark.parametrize(("seconds", "header"), [(0.0, 1), (0.01, 1), (1.0, 1), (1.2, 2), (9.99, 10)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float, header: int) -> None:
    assert retry_after(seconds) == header


def test_a_key_fingerprint_is_stable_and_not_the_key() -> None:
    assert key_id("sk-secret") == key_id("sk-secret") != key_id("sk-other")
    assert "sk-secret" not in key_id("sk-secret")


def test_the_unfinished_cap_says_what_to_do() -> None:
    refusal = TooManyUnfinished(limit=3, retry_after_seconds=7)

    assert "at most 3" in str(refusal)
    assert refusal.retry_after_seconds == 7


class TestStats:
    def test_requests_are_counted_per_wall_clock_second_per_endpoint_and_in_total(self) -> None:
        # Given stats on a clock standing at 1000.2
        clock = FakeClock(1000.2)
        stats = Stats(clock=clock)

        # When 3 polls and an upload arrive in second 1000, and 1 poll in second 1002
        for _ in range(3):
            stats.record_request("GET /poll")
        stats.record_request("POST /upload")
        clock.advance(2)
        stats.record_request("GET /poll")
        snapshot = stats.snapshot()

        # Then each second is a window keyed by its start, seconds without requests left out
        requests = snapshot["requests"]
        assert requests["total"] == {"count": 5, "peak_per_second": 4, "per_second": {"1000": 4, "1002": 1}}
        assert requests["by_endpoint"]["GET /poll"] == {
            "count": 4,
            "peak_per_second": 3,
            "per_second": {"1000": 3, "1002": 1},
        }
        assert requests["by_endpoint"]["POST /upload"]["per_second"] == {"1000": 1}
        assert snapshot["since"] == 1000.2
        assert snapshot["window_seconds"] == 1

    def test_429s_are_counted_by_cause_and_creates_by_kind(self) -> None:
        stats = Stats(clock=FakeClock())
        stats.record_rejection("rate_limit")
        stats.record_rejection("rate_limit")
        stats.record_rejection("unfinished_operations")
        stats.record_create("flat_lay")
        stats.record_create("on_figure_regenerate")

        snapshot = stats.snapshot()

        assert snapshot["rate_limited"] == {
            "total": 3,
            "rate_limit": 2,
            "unfinished_operations": 1,
            "injected": 0,
        }
        assert snapshot["creates"] == {"total": 2, "on_figure": 0, "flat_lay": 1, "on_figure_regenerate": 1}

    def test_empty_stats_have_the_same_shape(self) -> None:
        snapshot = Stats(clock=FakeClock()).snapshot()

        assert snapshot["requests"] == {
            "total": {"count": 0, "peak_per_second": 0, "per_second": {}},
            "by_endpoint": {},
        }
        assert snapshot["rate_limited"]["total"] == 0
        assert snapshot["creates"]["total"] == 0
