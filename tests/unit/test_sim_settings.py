"""Simulator settings from flags, environment and the admin API; the key is never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from studio_sim.__main__ import build_parser, main, print_banner
from studio_sim.settings import DEFAULT_API_KEY, Outcome, SimSettings, key_source, settings_from_env


def test_the_defaults_are_safe_and_documented() -> None:
    settings = SimSettings()

    assert settings.api_key.get_secret_value() == DEFAULT_API_KEY == "studio-sim-demo-key"
    assert (settings.rate_429, settings.rate_500, settings.rate_drop) == (0, 0, 0)
    assert settings.forced_outcome is None
    assert 0 < settings.operation_seconds <= 10


def test_environment_variables_are_read_and_flags_win() -> None:
    environ = {
        "STUDIO_SIM_RATE_429": "0.25",
        "STUDIO_SIM_FORCED_OUTCOME": "PAUSED",
        "STUDIO_SIM_API_KEY": "k1",
    }

    settings = settings_from_env(environ, rate_429=0.5, operation_seconds=None)

    assert settings.rate_429 == 0.5
    assert settings.forced_outcome is Outcome.PAUSED
    assert settings.api_key.get_secret_value() == "k1"
    assert settings.operation_seconds == SimSettings().operation_seconds


def test_an_update_is_validated_and_names_unknown_settings() -> None:
    settings = SimSettings(api_key="custom")

    assert settings.updated({"rate_500": 1.0}).rate_500 == 1.0
    assert settings.updated({"rate_500": 1.0}).api_key.get_secret_value() == "custom"
    with pytest.raises(ValidationError, match="rate_501"):
        settings.updated({"rate_501": 1.0})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        settings.updated({"rate_429": 3})


def test_the_public_view_shows_only_the_demo_key() -> None:
    assert SimSettings().public_view()["api_key"] == DEFAULT_API_KEY
    hidden = SimSettings(api_key="sk-private").public_view()

    assert "sk-private" not in str(hidden)
    assert "sk-private" not in repr(SimSettings(api_key="sk-private"))


@pytest.mark.parametrize(
    ("cli_key", "environ", "expected"),
    [
        ("sk-cli", {}, "--api-key"),
        (None, {"STUDIO_SIM_API_KEY": "sk-env"}, "environment variable STUDIO_SIM_API_KEY"),
        (None, {}, "public demo default 'studio-sim-demo-key'"),
    ],
)
def test_the_key_source_is_named_without_the_key(cli_key: str | None, environ: dict, expected: str) -> None:
    source = key_source(cli_key, environ)

    assert source == expected
    assert "sk-" not in source


def test_the_cli_accepts_every_setting_and_the_usual_aliases() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "9000",
            "--fail-rate-429",
            "0.1",
            "--rate-500",
            "0.2",
            "--clock-frozen",
            "--forced-outcome",
            "FAILED",
        ]
    )

    assert (args.port, args.rate_429, args.rate_500, args.clock_frozen, args.forced_outcome) == (
        9000,
        "0.1",
        "0.2",
        True,
        "FAILED",
    )


def test_the_cli_refuses_bad_settings_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rate-429", "2"]) == 2
    assert "rate_429" in capsys.readouterr().err


def test_the_banner_says_simulator_and_never_prints_a_custom_key(capsys: pytest.CaptureFixture[str]) -> None:
    settings = SimSettings(api_key="sk-very-private", rate_500=0.1)

    print_banner(settings, "127.0.0.1", 8787, key_source("sk-very-private", {}))
    out = capsys.readouterr().out

    assert "SIMULATOR" in out
    assert "http://127.0.0.1:8787/studio/v1" in out
    assert "sk-very-private" not in out
    assert "rate_500" in out
