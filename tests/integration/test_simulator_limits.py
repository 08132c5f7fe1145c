"""Per-key limits over HTTP (the token bucket, the cap on unfinished operations) and ``/_sim/stats``.

No test waits for real time to pass: rates are small enough that no token comes back during a
test, and the one test about refilling gives the limiter a clock it moves by hand.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
import requests

from studio_sim.limits import RateLimiter
from tests.support.clock import FakeClock
from tests.support.simulator import (
    FLAT_LAY,
    ON_FIGURE,
    SpecCheckedSession,
    create,
    flat_lay_body,
    on_figure_body,
    upload,
)

PRESETS = "/on_figure_model_presets"
REGENERATE = f"{ON_FIGURE}/regenerate"
ANOTHER_KEY = "sim-test-second-key"


def statuses(http: requests.Session, count: int, path: str = PRESETS) -> list[int]:
    return [http.get(path).status_code for _ in range(count)]


def as_key(studio_sim: Any, key: str) -> SpecCheckedSession:
    """A session with ``key``, after making it the one the simulator accepts."""
    studio_sim.admin.configure(api_key=key)
    return SpecCheckedSession(studio_sim.base_url, key, spec=None)


class TestRateLimit:
    def test_requests_above_the_rate_are_429_with_a_retry_after_from_the_next_token(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        # Given a bucket of 2 requests, refilled at one every 10 s
        studio_sim.admin.configure(rate_limit_per_second=0.1, rate_limit_burst=2)

        # When a third request follows at once
        answers = [sim_http.get(PRESETS) for _ in range(3)]

        # Then it is refused, told to come back when the next token is there (10 s, not the setting's 1)
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert answers[2].headers["Retry-After"] == "10"
        assert "rate limit" in answers[2].json()["detail"]

    def test_a_token_comes_back_after_its_time_on_the_real_clock(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        # Given one request per second, on a monotonic clock the test moves
        clock = FakeClock()
        studio_sim.state.limiter = RateLimiter(clock=clock)
        studio_sim.admin.configure(rate_limit_per_second=1, rate_limit_burst=1)
        assert statuses(sim_http, 2) == [200, 429]

        # When 0.5 s pass, Then still refused, with Retry-After rounded up to 1
        clock.advance(0.5)
        refused = sim_http.get(PRESETS)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")

        # When the rest of the second passes, Then one more request goes through
        clock.advance(0.5)
        assert statuses(sim_http, 2) == [200, 429]

    def test_advancing_the_sim_clock_refills_nothing(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        studio_sim.admin.configure(rate_limit_per_second=0.01, rate_limit_burst=1)
        assert statuses(sim_http, 1) == [200]

        studio_sim.admin.advance(3600)

        assert statuses(sim_http, 1) == [429]

    def test_each_api_key_has_its_own_bucket(
        self, sim_http: requests.Session, studio_sim: Any, sim_api_key: str
    ) -> None:
        # Given the first key has used its only token
        studio_sim.admin.configure(rate_limit_per_second=0.01, rate_limit_burst=1)
        assert statuses(sim_http, 2) == [200, 429]

        # When the simulator accepts another key, Then that key starts with a full bucket
        with as_key(studio_sim, ANOTHER_KEY) as other:
            assert statuses(other, 2) == [200, 429]

        # And going back to the first key does not give it new tokens
        studio_sim.admin.configure(api_key=sim_api_key)
        assert statuses(sim_http, 1) == [429]

    def test_requests_with_a_wrong_key_are_not_limited_and_take_no_token(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        studio_sim.admin.configure(rate_limit_per_second=0.01, rate_limit_burst=1)
        wrong = [
            requests.get(
                studio_sim.base_url + PRESETS, headers={"x-api-key": "wrong"}, timeout=10
            ).status_code
            for _ in range(3)
        ]

        assert wrong == [403, 403, 403]
        assert statuses(sim_http, 1) == [200]

    def test_admin_and_file_routes_are_never_limited(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        image = upload(sim_http)
        studio_sim.admin.configure(rate_limit_per_second=0.01, rate_limit_burst=1)
        assert statuses(sim_http, 1, f"/uploaded_images/{image['id']}") == [200]

        assert all(requests.get(image["url"], timeout=10).status_code == 200 for _ in range(3))
        assert all(requests.get(studio_sim.root_url + "/_sim/info", timeout=10).ok for _ in range(3))

    def test_a_reset_lifts_the_limit_and_refills(self, sim_http: requests.Session, studio_sim: Any) -> None:
        studio_sim.admin.configure(rate_limit_per_second=0.01, rate_limit_burst=1)
        statuses(sim_http, 2)

        studio_sim.admin.reset()

        assert studio_sim.admin.info()["settings"]["rate_limit_per_second"] is None
        assert statuses(sim_http, 5) == [200] * 5


@pytest.fixture
def capped_sim(studio_sim: Any) -> Any:
    """Operations of 10 s on a frozen sim clock, at most one unfinished per key."""
    studio_sim.admin.configure(clock_frozen=True, operation_seconds=10, max_unfinished_operations=1)
    return studio_sim


class TestUnfinishedOperationsCap:
    @pytest.mark.parametrize("path", [ON_FIGURE, FLAT_LAY, REGENERATE])
    def test_a_create_beyond_the_cap_is_429_and_creates_nothing(
        self, sim_http: requests.Session, capped_sim: Any, path: str
    ) -> None:
        # Given one unfinished operation, which finishes in 10 s of sim time
        image_id = upload(sim_http)["id"]
        first = create(sim_http, ON_FIGURE, on_figure_body(image_id))
        bodies = {
            ON_FIGURE: on_figure_body(image_id),
            FLAT_LAY: flat_lay_body(image_id),
            REGENERATE: {
                "original_operation_id": first,
                "image_types": [{"viewpoint": "side", "pose": "sitting"}],
            },
        }

        # When another create arrives
        refused = sim_http.post(path, json=bodies[path])

        # Then it is refused until that operation is due to finish
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "10"
        assert "unfinished operations" in refused.json()["detail"]
        assert capped_sim.admin.calls()["operation_ids"] == [first]

    def test_a_slot_frees_when_an_operation_finishes_on_the_sim_clock(
        self, sim_http: requests.Session, capped_sim: Any
    ) -> None:
        image_id = upload(sim_http)["id"]
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        assert sim_http.post(FLAT_LAY, json=flat_lay_body(image_id)).status_code == 429

        capped_sim.admin.advance(10)

        assert sim_http.post(FLAT_LAY, json=flat_lay_body(image_id)).status_code == 200

    def test_retry_after_counts_to_the_first_operation_due_to_finish(
        self, sim_http: requests.Session, capped_sim: Any
    ) -> None:
        # Given two unfinished operations, created 4 s apart, with a cap of 2
        capped_sim.admin.configure(max_unfinished_operations=2)
        image_id = upload(sim_http)["id"]
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        capped_sim.admin.advance(4)
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))

        # When a third create comes, Then it may retry when the first one ends, 6 s later
        assert sim_http.post(FLAT_LAY, json=flat_lay_body(image_id)).headers["Retry-After"] == "6"

    def test_operations_that_never_finish_hold_their_slot_and_retry_after_is_the_setting(
        self, sim_http: requests.Session, capped_sim: Any
    ) -> None:
        capped_sim.admin.configure(forced_outcome="NEVER_FINISHES", retry_after_seconds=7)
        image_id = upload(sim_http)["id"]
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        capped_sim.admin.advance(30 * 24 * 3600)

        refused = sim_http.post(FLAT_LAY, json=flat_lay_body(image_id))

        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "7")

    def test_paused_operations_are_unfinished_too(self, sim_http: requests.Session, capped_sim: Any) -> None:
        capped_sim.admin.configure(forced_outcome="PAUSED", paused_seconds=30)
        # Given an operation paused from 5 s to 35 s, then running until 40 s
        image_id = upload(sim_http)["id"]
        paused = create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        capped_sim.admin.advance(6)
        assert sim_http.get(f"{FLAT_LAY}/{paused}").json()["status"] == "PAUSED"

        # When a create comes at 6 s, Then it holds the slot until it ends, 34 s later
        refused = sim_http.post(FLAT_LAY, json=flat_lay_body(image_id))

        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "34")

    def test_the_cap_counts_per_api_key(self, sim_http: requests.Session, capped_sim: Any) -> None:
        # Given the first key has its one unfinished operation
        image_id = upload(sim_http)["id"]
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))

        # When another key creates one, Then that key has a slot of its own
        with as_key(capped_sim, ANOTHER_KEY) as other:
            assert other.post(FLAT_LAY, json=flat_lay_body(image_id)).status_code == 200
            assert other.post(FLAT_LAY, json=flat_lay_body(image_id)).status_code == 429

    def test_reads_and_uploads_are_not_capped(self, sim_http: requests.Session, capped_sim: Any) -> None:
        image_id = upload(sim_http)["id"]
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(image_id))

        assert sim_http.get(f"{FLAT_LAY}/{operation_id}").status_code == 200
        assert upload(sim_http)["id"]

    def test_racing_creates_cannot_overshoot_the_cap(
        self, studio_sim: Any, sim_api_key: str, sim_http: requests.Session
    ) -> None:
        # Given a cap of 2 and no operation yet
        studio_sim.admin.configure(clock_frozen=True, max_unfinished_operations=2)
        image_id = upload(sim_http)["id"]
        codes: list[int] = []
        start = threading.Barrier(6)

        def create_one() -> None:
            start.wait()
            answer = requests.post(
                studio_sim.base_url + FLAT_LAY,
                json=flat_lay_body(image_id),
                headers={"x-api-key": sim_api_key},
                timeout=30,
            )
            codes.append(answer.status_code)

        # When 6 creates arrive together
        threads = [threading.Thread(target=create_one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Then exactly 2 operations exist
        assert sorted(codes) == [200, 200, 429, 429, 429, 429]
        assert len(studio_sim.admin.calls()["operation_ids"]) == 2


class TestStats:
    def test_requests_are_counted_per_wall_clock_second_per_endpoint_and_in_total(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        # Given some calls made between two wall-clock readings
        before = time.time()
        image_id = upload(sim_http)["id"]
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        for _ in range(3):
            sim_http.get(f"{FLAT_LAY}/{operation_id}")
        after = time.time()

        # When the stats are read through the admin helper
        stats = studio_sim.admin.stats()

        # Then every call is in a 1 s window of that span, per endpoint template and in total
        total = stats["requests"]["total"]
        polls = stats["requests"]["by_endpoint"]["GET /studio/v1/flat_lay_operations/{operation_id}"]
        assert total["count"] == 5
        assert polls["count"] == 3
        assert stats["requests"]["by_endpoint"]["POST /studio/v1/uploaded_images"]["count"] == 1
        assert sum(total["per_second"].values()) == 5
        assert all(math.floor(before) <= int(second) <= math.floor(after) for second in total["per_second"])
        assert 1 <= polls["peak_per_second"] <= 3
        assert total["peak_per_second"] == max(total["per_second"].values())
        assert stats["window_seconds"] == 1
        assert stats["since"] <= before

    def test_the_admin_helper_reads_the_stats_endpoint(self, studio_sim: Any) -> None:
        answer = requests.get(studio_sim.root_url + "/_sim/stats", timeout=10)

        assert answer.status_code == 200
        assert answer.json() == studio_sim.admin.stats()
        assert set(answer.json()) == {"since", "window_seconds", "requests", "rate_limited", "creates"}

    def test_429s_are_counted_by_cause(self, sim_http: requests.Session, studio_sim: Any) -> None:
        # Given one 429 of each cause: the unfinished cap, the rate_429 dice, the token bucket
        image_id = upload(sim_http)["id"]
        studio_sim.admin.configure(clock_frozen=True, max_unfinished_operations=1)
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        assert sim_http.post(FLAT_LAY, json=flat_lay_body(image_id)).status_code == 429
        studio_sim.admin.configure(rate_429=1.0)
        assert statuses(sim_http, 1) == [429]
        studio_sim.admin.configure(rate_429=0.0, rate_limit_per_second=0.01, rate_limit_burst=1)
        assert statuses(sim_http, 2) == [200, 429]

        # When the stats are read, Then each is counted once, and every request is still counted
        stats = studio_sim.admin.stats()

        assert stats["rate_limited"] == {
            "total": 3,
            "rate_limit": 1,
            "unfinished_operations": 1,
            "injected": 1,
        }
        assert stats["requests"]["total"]["count"] == 6

    def test_creates_are_counted_per_kind_and_refused_ones_are_not(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        image_id = upload(sim_http)["id"]
        original = create(sim_http, ON_FIGURE, on_figure_body(image_id))
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        create(sim_http, FLAT_LAY, flat_lay_body(image_id))
        create(
            sim_http,
            REGENERATE,
            {"original_operation_id": original, "image_types": [{"viewpoint": "back", "pose": "walking"}]},
        )
        assert sim_http.post(FLAT_LAY, json={"image_types": []}).status_code == 422

        assert studio_sim.admin.stats()["creates"] == {
            "total": 4,
            "on_figure": 1,
            "flat_lay": 2,
            "on_figure_regenerate": 1,
        }

    def test_a_reset_starts_the_counts_again(self, sim_http: requests.Session, studio_sim: Any) -> None:
        upload(sim_http)
        studio_sim.admin.configure(rate_429=1.0)
        statuses(sim_http, 2)
        before_reset = time.time()

        studio_sim.admin.reset()
        stats = studio_sim.admin.stats()

        assert stats["requests"] == {
            "total": {"count": 0, "peak_per_second": 0, "per_second": {}},
            "by_endpoint": {},
        }
        assert stats["rate_limited"]["total"] == 0
        assert stats["creates"]["total"] == 0
        assert stats["since"] >= before_reset
