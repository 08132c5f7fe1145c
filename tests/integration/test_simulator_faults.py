"""Fault injection and bookkeeping: 429, 500, dropped connections, latency, call counts, reset."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.support.simulator import (
    FLAT_LAY,
    ON_FIGURE,
    create,
    flat_lay_body,
    on_figure_body,
    upload,
)

PRESETS = "/on_figure_model_presets"


def test_a_429_carries_retry_after(sim_http: requests.Session, studio_sim: Any) -> None:
    studio_sim.admin.configure(rate_429=1.0, retry_after_seconds=7)

    response = sim_http.get(PRESETS)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert "rate limit" in response.json()["detail"]


def test_a_500_is_json_with_a_detail(sim_http: requests.Session, studio_sim: Any) -> None:
    studio_sim.admin.configure(rate_500=1.0)

    response = sim_http.get(PRESETS)

    assert response.status_code == 500
    assert "simulated" in response.json()["detail"]


def test_a_faulted_create_creates_nothing(sim_http: requests.Session, studio_sim: Any) -> None:
    image = upload(sim_http)
    studio_sim.admin.configure(rate_500=1.0)

    assert sim_http.post(ON_FIGURE, json=on_figure_body(image["id"])).status_code == 500
    assert studio_sim.admin.calls()["operation_ids"] == []


@pytest.mark.parametrize(("method", "path"), [("GET", PRESETS), ("POST", FLAT_LAY)])
def test_a_dropped_connection_closes_without_an_answer(
    studio_sim: Any, sim_api_key: str, method: str, path: str
) -> None:
    studio_sim.admin.configure(rate_drop=1.0)

    with pytest.raises(requests.ConnectionError) as dropped:
        requests.request(
            method, studio_sim.base_url + path, json={}, headers={"x-api-key": sim_api_key}, timeout=10
        )

    assert "without response" in str(dropped.value) or "reset" in str(dropped.value).lower()
    assert studio_sim.admin.calls()["calls"][f"{method} /studio/v1{path}"] == 1


def test_the_server_keeps_serving_after_drops(sim_http: requests.Session, studio_sim: Any) -> None:
    studio_sim.admin.configure(rate_drop=1.0)
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            sim_http.get(PRESETS)
    studio_sim.admin.configure(rate_drop=0.0)

    assert sim_http.get(PRESETS).status_code == 200


def test_latency_slows_api_answers_only(sim_http: requests.Session, studio_sim: Any) -> None:
    studio_sim.admin.configure(latency_seconds=0.3)

    started = time.monotonic()
    assert sim_http.get(PRESETS).status_code == 200
    api_took = time.monotonic() - started
    started = time.monotonic()
    studio_sim.admin.calls()
    admin_took = time.monotonic() - started

    assert api_took >= 0.3
    assert admin_took < api_took


def test_faults_never_touch_admin_or_file_routes(sim_http: requests.Session, studio_sim: Any) -> None:
    image = upload(sim_http)
    studio_sim.admin.configure(rate_500=1.0, rate_429=1.0, rate_drop=1.0)

    assert requests.get(image["url"], timeout=10).status_code == 200
    assert requests.get(studio_sim.root_url + "/_sim/info", timeout=10).status_code == 200
    assert requests.get(studio_sim.root_url + "/", timeout=10).status_code == 200


def test_fault_rates_between_zero_and_one_are_repeatable_with_a_seed(
    sim_http: requests.Session, studio_sim: Any
) -> None:
    def statuses() -> list[int]:
        studio_sim.admin.configure(rate_500=0.5, seed=42)
        return [sim_http.get(PRESETS).status_code for _ in range(20)]

    first, second = statuses(), statuses()

    assert first == second
    assert set(first) == {200, 500}


def test_an_operation_fail_rate_fails_some_operations(sim_http: requests.Session, studio_sim: Any) -> None:
    image_id = upload(sim_http)["id"]
    studio_sim.admin.configure(operation_fail_rate=1.0, clock_frozen=True)
    operation_id = create(sim_http, FLAT_LAY, flat_lay_body(image_id))
    studio_sim.admin.advance(3600)

    assert sim_http.get(f"{FLAT_LAY}/{operation_id}").json()["status"] == "FAILED"


def test_calls_are_counted_per_route_template_with_every_created_operation(
    sim_http: requests.Session, studio_sim: Any
) -> None:
    image = upload(sim_http)
    first = create(sim_http, ON_FIGURE, on_figure_body(image["id"]))
    second = create(sim_http, FLAT_LAY, flat_lay_body(image["id"]))
    sim_http.get(f"{ON_FIGURE}/{first}")
    sim_http.get(f"{ON_FIGURE}/{first}")
    sim_http.get("/uploaded_images/user_image-nope")

    calls = studio_sim.admin.calls()

    assert calls["operation_ids"] == [first, second]
    assert calls["calls"] == {
        "POST /studio/v1/uploaded_images": 1,
        "POST /studio/v1/on_figure_operations": 1,
        "POST /studio/v1/flat_lay_operations": 1,
        "GET /studio/v1/on_figure_operations/{operation_id}": 2,
        "GET /studio/v1/uploaded_images/{image_id}": 1,
    }
    assert calls["total"] == 6


def test_reset_forgets_everything_and_restores_the_start_settings(
    sim_http: requests.Session, studio_sim: Any
) -> None:
    image = upload(sim_http)
    studio_sim.admin.configure(rate_429=1.0, operation_seconds=99)
    studio_sim.admin.advance(1000)

    info = studio_sim.admin.reset()

    assert info["settings"]["rate_429"] == 0
    assert info["settings"]["operation_seconds"] == 4
    assert info["clock"]["offset_seconds"] == 0
    assert studio_sim.admin.calls() == {"calls": {}, "total": 0, "operation_ids": []}
    assert sim_http.get(f"/uploaded_images/{image['id']}").status_code == 404


def test_bad_admin_settings_are_422_naming_the_setting(studio_sim: Any) -> None:
    response = requests.post(studio_sim.root_url + "/_sim/config", json={"rate_4299": 1}, timeout=10)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rate_4299"]


def test_a_new_key_set_through_the_admin_api_is_never_echoed(studio_sim: Any) -> None:
    response = requests.post(studio_sim.root_url + "/_sim/config", json={"api_key": "sk-rotated"}, timeout=10)

    assert response.status_code == 200
    assert "sk-rotated" not in response.text
    assert requests.get(studio_sim.base_url + PRESETS, headers={"x-api-key": "sk-rotated"}, timeout=10).ok


def test_the_clock_cannot_go_back(studio_sim: Any) -> None:
    response = requests.post(studio_sim.root_url + "/_sim/clock/advance", json={"seconds": -5}, timeout=10)

    assert response.status_code == 422
