"""What operations answer over HTTP: drawn durations, per-kind forced outcomes, null polls after a
create, and the tolerant-reading probe (``extra_answer_fields``).

The sim clock is frozen, so only ``advance()`` moves operations forward. Answers with the probe
on break the contract on purpose, so they are read with a plain session, not ``sim_http``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from studio_sim.probe import EXTRA_FIELD, EXTRA_VALUE, UNKNOWN_HAIR_COLOR, UNKNOWN_STATUS
from tests.support.simulator import (
    FLAT_LAY,
    ON_FIGURE,
    SpecCheckedSession,
    create,
    flat_lay_body,
    on_figure_body,
    status_of,
    upload,
)

REGENERATE = f"{ON_FIGURE}/regenerate"
PRESETS = "/on_figure_model_presets"


@pytest.fixture
def frozen_sim(studio_sim: Any) -> Any:
    studio_sim.admin.configure(clock_frozen=True, operation_seconds=10)
    return studio_sim


@pytest.fixture
def plain_http(studio_sim: Any, sim_api_key: str) -> Iterator[requests.Session]:
    """Like ``sim_http``, but without holding the answers to the contract."""
    with SpecCheckedSession(studio_sim.base_url, sim_api_key, spec=None) as session:
        yield session


def described(body: dict[str, Any], description: str) -> dict[str, Any]:
    body["product_info"]["description"] = description
    return body


def objects_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``value``, nested ones included."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from objects_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from objects_in(item)


class TestDurations:
    def test_lognormal_durations_follow_the_operation_priority(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        # Given lognormal durations with no spread: 2 s online, 100 s offline
        frozen_sim.admin.configure(
            duration_distribution="lognormal",
            online_median_seconds=2,
            offline_median_seconds=100,
            duration_sigma=0,
        )
        image_id = upload(sim_http)["id"]
        online = create(sim_http, FLAT_LAY, flat_lay_body(image_id, operation_priority="online"))
        offline = create(sim_http, FLAT_LAY, flat_lay_body(image_id, operation_priority="offline"))

        # When 3 s pass, Then the online one is done and the offline one not even started (CREATED
        # lasts a tenth of its 100 s); after 100 s more, it is done too
        frozen_sim.admin.advance(3)
        assert status_of(sim_http, FLAT_LAY, online)["status"] == "SUCCESS"
        assert status_of(sim_http, FLAT_LAY, offline)["status"] == "CREATED"
        frozen_sim.admin.advance(100)
        assert status_of(sim_http, FLAT_LAY, offline)["status"] == "SUCCESS"

    def test_a_seeded_run_draws_the_same_durations_again(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        def run() -> list[float]:
            frozen_sim.admin.reset()
            frozen_sim.admin.configure(clock_frozen=True, duration_distribution="lognormal", seed=5)
            image_id = upload(sim_http)["id"]
            ids = [create(sim_http, FLAT_LAY, flat_lay_body(image_id)) for _ in range(4)]
            return [frozen_sim.state.operations[op].plan.duration for op in ids]

        first, second = run(), run()

        assert first == second
        assert len(set(first)) == 4

    def test_fixed_durations_ignore_the_medians(self, sim_http: requests.Session, frozen_sim: Any) -> None:
        frozen_sim.admin.configure(offline_median_seconds=1000)
        operation_id = create(
            sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"], operation_priority="offline")
        )

        frozen_sim.admin.advance(10)

        assert status_of(sim_http, FLAT_LAY, operation_id)["status"] == "SUCCESS"


class TestPerKindOutcomes:
    @pytest.mark.parametrize(
        ("description", "flat_lay_status", "on_figure_status"),
        [
            ("[sim:flat_lay:FAILED]", "FAILED", "SUCCESS"),
            ("[sim:on_figure:FAILED]", "SUCCESS", "FAILED"),
            ("[sim:CANCELLED] [sim:on_figure:ABORTED]", "CANCELLED", "ABORTED"),
        ],
    )
    def test_a_token_naming_a_kind_forces_that_kinds_operations_only(
        self,
        sim_http: requests.Session,
        frozen_sim: Any,
        description: str,
        flat_lay_status: str,
        on_figure_status: str,
    ) -> None:
        # Given one product, described with a token, generated as both kinds
        image_id = upload(sim_http)["id"]
        flat_lay = create(sim_http, FLAT_LAY, described(flat_lay_body(image_id), description))
        on_figure = create(sim_http, ON_FIGURE, described(on_figure_body(image_id), description))

        # When both have had their time
        frozen_sim.admin.advance(3600)

        # Then each ends as its kind's token (or the token for every kind) says
        assert status_of(sim_http, FLAT_LAY, flat_lay)["status"] == flat_lay_status
        assert status_of(sim_http, ON_FIGURE, on_figure)["status"] == on_figure_status

    def test_a_regeneration_follows_the_on_figure_token(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        body = described(on_figure_body(upload(sim_http)["id"]), "[sim:on_figure:CANCELLED]")
        original = create(sim_http, ON_FIGURE, body)
        regenerated = create(
            sim_http,
            REGENERATE,
            {"original_operation_id": original, "image_types": [{"viewpoint": "side", "pose": "standing"}]},
        )

        frozen_sim.admin.advance(3600)

        assert status_of(sim_http, ON_FIGURE, regenerated)["status"] == "CANCELLED"


class TestNullPollsAfterCreate:
    def test_the_first_reads_of_a_new_operation_answer_null(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        # Given a simulator that does not know a new operation for its first 2 reads
        frozen_sim.admin.configure(null_polls_after_create=2)
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))

        # When it is read 3 times
        answers = [sim_http.get(f"{FLAT_LAY}/{operation_id}") for _ in range(3)]

        # Then the first two are 200 with null, as for an unknown id, and the third shows it
        assert [(answer.status_code, answer.text) for answer in answers[:2]] == [(200, "null"), (200, "null")]
        assert answers[2].json()["id"] == operation_id

    def test_each_operation_counts_its_own_reads_from_when_it_was_created(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        image_id = upload(sim_http)["id"]
        older = create(sim_http, ON_FIGURE, on_figure_body(image_id))
        frozen_sim.admin.configure(null_polls_after_create=1)
        newer = create(
            sim_http,
            REGENERATE,
            {"original_operation_id": older, "image_types": [{"viewpoint": "front", "pose": "sitting"}]},
        )

        assert status_of(sim_http, ON_FIGURE, older)["id"] == older
        assert sim_http.get(f"{ON_FIGURE}/{newer}").json() is None
        assert status_of(sim_http, ON_FIGURE, newer)["id"] == newer

    def test_reading_it_under_the_other_kind_uses_up_no_null_poll(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        frozen_sim.admin.configure(null_polls_after_create=1)
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))

        assert sim_http.get(f"{ON_FIGURE}/{operation_id}").json() is None
        assert sim_http.get(f"{FLAT_LAY}/{operation_id}").json() is None
        assert status_of(sim_http, FLAT_LAY, operation_id)["id"] == operation_id


@pytest.fixture
def probing_sim(frozen_sim: Any) -> Any:
    frozen_sim.admin.configure(extra_answer_fields=True)
    return frozen_sim


class TestExtraAnswerFields:
    def test_every_object_of_every_answer_carries_an_unknown_field(
        self, plain_http: requests.Session, probing_sim: Any
    ) -> None:
        # Given a finished on-figure operation, with the probe on
        image = upload(plain_http)
        created = plain_http.post(ON_FIGURE, json=on_figure_body(image["id"])).json()
        probing_sim.admin.advance(60)

        # When every kind of answer is read
        answers = {
            "upload": image,
            "image": plain_http.get(f"/uploaded_images/{image['id']}").json(),
            "create": created,
            "operation": plain_http.get(f"{ON_FIGURE}/{created['operation_id']}").json(),
            "presets": plain_http.get(PRESETS).json(),
        }

        # Then each JSON object in them, however nested, has the extra field
        assert answers["operation"]["generation_result"], "the operation should be finished"
        for name, answer in answers.items():
            missing = [obj for obj in objects_in(answer) if obj.get(EXTRA_FIELD) != EXTRA_VALUE]
            assert not missing, f"{name}: {missing[:2]}"
        operation = answers["operation"]
        assert EXTRA_FIELD in operation["image_types"][0]
        assert EXTRA_FIELD in operation["on_figure_model_settings"]
        assert EXTRA_FIELD in operation["generation_result"][0]["generated_images"][0]
        assert EXTRA_FIELD in answers["presets"][0]["settings"]

    def test_the_first_answer_showing_an_operation_has_an_unknown_status(
        self, plain_http: requests.Session, probing_sim: Any
    ) -> None:
        # Given a new operation, hidden for its first read
        probing_sim.admin.configure(null_polls_after_create=1)
        image = upload(plain_http)
        operation_id = create(plain_http, FLAT_LAY, flat_lay_body(image["id"]))

        # When it is read three times while still CREATED
        answers = [plain_http.get(f"{FLAT_LAY}/{operation_id}").json() for _ in range(3)]

        # Then it is null, then QUEUED_SIM, then CREATED as the contract says
        assert answers[0] is None
        assert [answer["status"] for answer in answers[1:]] == [UNKNOWN_STATUS, "CREATED"]

    def test_a_first_read_after_the_created_stage_shows_the_real_status(
        self, plain_http: requests.Session, probing_sim: Any
    ) -> None:
        image = upload(plain_http)
        operation_id = create(plain_http, FLAT_LAY, flat_lay_body(image["id"]))
        probing_sim.admin.advance(60)

        assert plain_http.get(f"{FLAT_LAY}/{operation_id}").json()["status"] == "SUCCESS"

    def test_a_preset_shows_an_unknown_hair_colour_and_can_still_be_used(
        self, plain_http: requests.Session, probing_sim: Any
    ) -> None:
        presets = plain_http.get(PRESETS).json()
        image = upload(plain_http)

        body = on_figure_body(image["id"], on_figure_model_preset_id=presets[0]["preset_id"])
        del body["on_figure_model_settings"]
        answer = plain_http.post(ON_FIGURE, json=body)

        assert presets[0]["settings"]["hair_color"] == UNKNOWN_HAIR_COLOR
        assert all(preset["settings"].get("hair_color") != UNKNOWN_HAIR_COLOR for preset in presets[1:])
        assert answer.status_code == 200

    def test_errors_are_left_alone(self, plain_http: requests.Session, probing_sim: Any) -> None:
        answer = plain_http.get("/uploaded_images/user_image-nope")

        assert answer.status_code == 404
        assert set(answer.json()) == {"detail"}

    def test_without_the_switch_answers_keep_to_the_contract(
        self, sim_http: requests.Session, frozen_sim: Any
    ) -> None:
        operation_id = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))
        operation = status_of(sim_http, FLAT_LAY, operation_id)
        presets = sim_http.get(PRESETS).json()

        assert operation["status"] == "CREATED"
        assert not [obj for obj in objects_in([operation, presets]) if EXTRA_FIELD in obj]
