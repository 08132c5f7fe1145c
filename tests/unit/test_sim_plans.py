"""How new operations are planned (durations, per-kind outcomes), the tolerant-reading probe's
transforms and the new settings' flags and variables, without a server."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest

from studio_sim.__main__ import build_parser, print_banner
from studio_sim.limits import TooManyUnfinished
from studio_sim.probe import (
    EXTRA_FIELD,
    UNKNOWN_HAIR_COLOR,
    UNKNOWN_STATUS,
    with_extra_fields,
    with_unknown_hair_color,
    with_unknown_status,
)
from studio_sim.settings import DurationDistribution, Outcome, SimSettings, settings_from_env
from studio_sim.state import Look, SimState
from studio_sim.timeline import Plan, draw_duration, outcome_from_description


def look(priority: str = "online", description: str | None = None) -> Look:
    return Look(
        product={"id": None, "category": None, "title": None, "description": description},
        operation_priority=priority,
        background_settings={"background_type": "arbitrary", "reference_color": None},
        output_image_size=None,
        output_image_paddings=None,
    )


def durations(state: SimState, count: int, priority: str = "online") -> list[float]:
    return [
        state.add_operation("flat_lay", look(priority), [], 1, [], None).plan.duration for _ in range(count)
    ]


LOGNORMAL = {"duration_distribution": "lognormal", "online_median_seconds": 5, "offline_median_seconds": 50}


class TestDurations:
    def test_fixed_is_the_default_and_ignores_the_priority(self) -> None:
        settings = SimSettings(operation_seconds=7, offline_median_seconds=999)
        dice = random.Random(1)

        assert settings.duration_distribution is DurationDistribution.FIXED
        assert draw_duration(settings, "online", dice) == 7
        assert draw_duration(settings, "offline", dice) == 7

    def test_lognormal_draws_around_each_prioritys_median(self) -> None:
        # Given lognormal durations with medians of 5 s online and 50 s offline
        settings = SimSettings.model_validate({**LOGNORMAL, "duration_sigma": 0.5})
        dice = random.Random(3)

        # When many are drawn per priority
        online = [draw_duration(settings, "online", dice) for _ in range(2000)]
        offline = [draw_duration(settings, "offline", dice) for _ in range(2000)]

        # Then they spread (not one value) around each median
        assert statistics.median(online) == pytest.approx(5, rel=0.1)
        assert statistics.median(offline) == pytest.approx(50, rel=0.1)
        assert min(online) < 4 < 6 < max(online)

    def test_a_sigma_of_zero_is_exactly_the_median(self) -> None:
        settings = SimSettings.model_validate({**LOGNORMAL, "duration_sigma": 0})

        assert draw_duration(settings, "offline", random.Random()) == pytest.approx(50)

    def test_a_seed_repeats_the_durations_whatever_the_fault_dice_did(self) -> None:
        # Given two simulators with the same seed
        settings = SimSettings.model_validate({**LOGNORMAL, "seed": 11, "rate_500": 0.5})
        first, second = SimState(settings), SimState(settings)

        # When the second one rolls fault dice for requests in between its creates
        drawn_first = durations(first, 5)
        drawn_second = []
        for _ in range(5):
            second.roll(0.5)
            drawn_second += durations(second, 1)

        # Then both draw the same durations, which differ from one operation to the next
        assert drawn_first == drawn_second
        assert len(set(drawn_first)) == 5

    def test_a_reset_and_a_new_seed_restart_the_draws(self) -> None:
        state = SimState(SimSettings.model_validate({**LOGNORMAL, "seed": 11}))
        before = durations(state, 3)

        state.reset()
        assert durations(state, 3) == before
        state.configure({"seed": 12})
        assert durations(state, 3) != before

    def test_the_priority_of_the_request_picks_the_median(self) -> None:
        state = SimState(SimSettings.model_validate({**LOGNORMAL, "duration_sigma": 0}))

        assert durations(state, 1, "online") == [pytest.approx(5)]
        assert durations(state, 1, "offline") == [pytest.approx(50)]


class TestPerKindOutcomes:
    @pytest.mark.parametrize(
        ("description", "kind", "expected"),
        [
            ("[sim:flat_lay:FAILED]", "flat_lay", Outcome.FAILED),
            ("[sim:flat_lay:FAILED]", "on_figure", None),
            ("[sim:on_figure:CANCELLED]", "on_figure", Outcome.CANCELLED),
            ("[sim:on_figure:CANCELLED]", None, None),
            # A token for the kind wins over one for every kind, wherever it stands.
            ("[sim:ABORTED] and [sim:on_figure:SUCCESS]", "on_figure", Outcome.SUCCESS),
            ("[sim:ABORTED] and [sim:on_figure:SUCCESS]", "flat_lay", Outcome.ABORTED),
            ("[sim:FAILED]", "flat_lay", Outcome.FAILED),
            ("[sim:FLAT_LAY:FAILED]", "flat_lay", None),
            ("[sim:flat_lay:EXPLODES]", "flat_lay", None),
        ],
    )
    def test_a_token_naming_a_kind_applies_to_that_kind_only(
        self, description: str, kind: str | None, expected: Outcome | None
    ) -> None:
        assert outcome_from_description(description, kind) == expected

    def test_the_plan_of_a_new_operation_follows_its_kinds_token(self) -> None:
        state = SimState(SimSettings())
        product = look(description="[sim:flat_lay:NEVER_FINISHES]")

        flat_lay = state.add_operation("flat_lay", product, [], 1, [], None)
        on_figure = state.add_operation("on_figure", product, [], 1, [], None)

        assert flat_lay.plan.outcome is Outcome.NEVER_FINISHES
        assert on_figure.plan.outcome is Outcome.SUCCESS

    def test_a_token_for_once_applies_to_the_products_first_operation_of_its_kind_only(self) -> None:
        # Given a product whose first flat-lay operation fails (so that a retry of it succeeds)
        state = SimState(SimSettings())
        product = look(description="[sim:flat_lay:FAILED:once]")
        product.product["id"] = "sku-1"
        other = look(description="[sim:flat_lay:FAILED:once]")
        other.product["id"] = "sku-2"

        # When it and another product create flat-lay operations, twice
        first, again = (state.add_operation("flat_lay", product, [], 1, [], None) for _ in range(2))
        on_figure = state.add_operation("on_figure", product, [], 1, [], None)

        # Then only each product's first one fails
        assert (first.plan.outcome, again.plan.outcome) == (Outcome.FAILED, Outcome.SUCCESS)
        assert on_figure.plan.outcome is Outcome.SUCCESS
        assert state.add_operation("flat_lay", other, [], 1, [], None).plan.outcome is Outcome.FAILED


class TestUnfinishedCap:
    def test_when_an_operation_ends_matters_for_the_retry_after(self) -> None:
        assert Plan(Outcome.SUCCESS, duration=10).finishes_after() == 10
        assert Plan(Outcome.PAUSED, duration=10, paused_seconds=5).finishes_after() == 15
        assert Plan(Outcome.SUCCESS, duration=10, early_error="bad input").finishes_after() == 1
        assert Plan(Outcome.NEVER_FINISHES, duration=10).finishes_after() is None

    def test_a_slot_held_by_a_create_under_way_counts(self) -> None:
        # Given a cap of 1 and a create that has its slot but has not stored its operation yet
        state = SimState(SimSettings(max_unfinished_operations=1))
        with state.creation_slot("key-a"):
            # When a second create of the same key asks, Then it is refused; another key is not
            with pytest.raises(TooManyUnfinished), state.creation_slot("key-a"):
                pass
            with state.creation_slot("key-b"):
                pass

        # And once the first create is done without storing anything, the slot is free again
        with state.creation_slot("key-a"):
            pass


class TestProbe:
    def test_every_object_gets_the_extra_field_and_the_input_is_untouched(self) -> None:
        answer: dict[str, Any] = {
            "id": "op",
            "image_types": [{"viewpoint": "front"}],
            "result": None,
            "n": [1, "x"],
        }

        probed = with_extra_fields(answer)

        assert EXTRA_FIELD in probed
        assert EXTRA_FIELD in probed["image_types"][0]
        assert probed["n"] == [1, "x"]
        assert probed["result"] is None
        assert EXTRA_FIELD not in answer
        assert EXTRA_FIELD not in answer["image_types"][0]

    def test_only_a_created_status_becomes_the_unknown_one(self) -> None:
        assert with_unknown_status({"status": "CREATED"})["status"] == UNKNOWN_STATUS
        assert with_unknown_status({"status": "SUCCESS"})["status"] == "SUCCESS"

    def test_the_first_preset_gets_an_unknown_hair_colour(self) -> None:
        presets: list[dict[str, Any]] = [
            {"preset_id": "a", "settings": {"hair_color": "black"}},
            {"preset_id": "b", "settings": {}},
        ]

        probed = with_unknown_hair_color(presets)

        assert probed[0]["settings"]["hair_color"] == UNKNOWN_HAIR_COLOR
        assert probed[1] == presets[1]
        assert presets[0]["settings"]["hair_color"] == "black"
        assert with_unknown_hair_color([]) == []


class TestNewSettings:
    def test_the_defaults_change_nothing(self) -> None:
        settings = SimSettings()

        assert settings.rate_limit_per_second is None
        assert settings.max_unfinished_operations is None
        assert settings.duration_distribution is DurationDistribution.FIXED
        assert settings.null_polls_after_create == 0
        assert settings.extra_answer_fields is False

    def test_each_comes_from_its_environment_variable(self) -> None:
        settings = settings_from_env(
            {
                "STUDIO_SIM_RATE_LIMIT_PER_SECOND": "2.5",
                "STUDIO_SIM_RATE_LIMIT_BURST": "4",
                "STUDIO_SIM_MAX_UNFINISHED_OPERATIONS": "3",
                "STUDIO_SIM_DURATION_DISTRIBUTION": "lognormal",
                "STUDIO_SIM_ONLINE_MEDIAN_SECONDS": "6",
                "STUDIO_SIM_OFFLINE_MEDIAN_SECONDS": "60",
                "STUDIO_SIM_DURATION_SIGMA": "0.8",
                "STUDIO_SIM_NULL_POLLS_AFTER_CREATE": "2",
                "STUDIO_SIM_EXTRA_ANSWER_FIELDS": "true",
            }
        )

        assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (2.5, 4)
        assert settings.max_unfinished_operations == 3
        assert settings.duration_distribution is DurationDistribution.LOGNORMAL
        assert (settings.online_median_seconds, settings.offline_median_seconds) == (6, 60)
        assert settings.duration_sigma == 0.8
        assert settings.null_polls_after_create == 2
        assert settings.extra_answer_fields is True

    def test_each_has_a_flag(self) -> None:
        args = build_parser().parse_args(
            [
                "--rate-limit-per-second=0.5",
                "--rate-limit-burst=2",
                "--max-unfinished-operations=1",
                "--duration-distribution=lognormal",
                "--online-median-seconds=3",
                "--offline-median-seconds=30",
                "--duration-sigma=0.2",
                "--null-polls-after-create=1",
                "--extra-answer-fields",
            ]
        )
        settings = settings_from_env({}, **{name: getattr(args, name) for name in SimSettings.model_fields})

        assert settings.rate_limit_per_second == 0.5
        assert settings.max_unfinished_operations == 1
        assert settings.duration_distribution is DurationDistribution.LOGNORMAL
        assert settings.null_polls_after_create == 1
        assert settings.extra_answer_fields is True

    @pytest.mark.parametrize(
        "bad",
        [
            {"rate_limit_per_second": 0},
            {"rate_limit_burst": 0},
            {"max_unfinished_operations": -1},
            {"duration_distribution": "uniform"},
            {"online_median_seconds": 0},
            {"null_polls_after_create": -1},
        ],
    )
    def test_bad_values_are_refused(self, bad: dict[str, object]) -> None:
        with pytest.raises(ValueError, match=next(iter(bad))):
            SimSettings().updated(bad)

    def test_the_banner_names_the_limits_and_the_distribution(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        settings = SimSettings.model_validate(
            {**LOGNORMAL, "rate_limit_per_second": 2, "rate_limit_burst": 5, "max_unfinished_operations": 3}
        )

        print_banner(settings, "127.0.0.1", 8787, "test")
        out = capsys.readouterr().out

        assert "2 requests/s per key (burst 5)" in out
        assert "at most 3 unfinished operations per key" in out
        assert "lognormal, median 5 s online / 50 s offline" in out
