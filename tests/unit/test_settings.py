"""Settings from the template's environment: a wrong value stops the function at start-up, naming
the variable; an empty value (a template parameter left blank) means the default."""

from __future__ import annotations

import pytest

from studio_core.aiuta.requests import OperationPriority
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.polling import PollSettings
from studio_core.domain.vocabulary import InputMode, Kind, ReviewMode
from studio_core.settings import IngestSettings, SubmitSettings, from_env, variables


def test_every_job_default_is_read_from_its_environment_variable() -> None:
    # Given the template sets every job default
    environ = {
        "DEFAULT_KIND": "both",
        "DEFAULT_ON_FIGURE_IMAGE_TYPES": "front/standing,back/walking",
        "DEFAULT_FLAT_LAY_IMAGE_TYPES": "flat/front, detail/back",
        "DEFAULT_OPERATION_PRIORITY": "offline",
        "DEFAULT_NUMBER_OF_GENERATIONS": "3",
        "DEFAULT_INPUT_MODE": "upload",
        "DEFAULT_MODEL_GENDER": "male",
        "DELETE_AT_AIUTA_AFTER_COPY": "true",
        "DEFAULT_REVIEW": "required",
    }
    assert set(environ) == set(variables(JobDefaults))

    # When the defaults are read
    defaults = from_env(JobDefaults, environ)

    # Then each variable lands in its setting, labels read as image types
    assert defaults.kind == [Kind.ON_FIGURE, Kind.FLAT_LAY]
    assert [t.label for t in defaults.on_figure_image_types] == ["front/standing", "back/walking"]
    assert [t.label for t in defaults.flat_lay_image_types] == ["flat/front", "detail/back"]
    assert defaults.operation_priority is OperationPriority.OFFLINE
    assert defaults.number_of_generations == 3
    assert defaults.input_mode is InputMode.UPLOAD
    assert defaults.model_gender.value == "male"
    assert defaults.delete_at_aiuta_after_copy is True
    assert defaults.review is ReviewMode.REQUIRED


def test_job_defaults_without_any_variable_are_the_documented_ones() -> None:
    # Given an environment with none of the variables
    # When the defaults are read
    defaults = from_env(JobDefaults, {})

    # Then they are: on-figure front/standing, ghost_mannequin/front, online, 1, urls, female, keep
    assert defaults.kind == [Kind.ON_FIGURE]
    assert [t.label for t in defaults.on_figure_image_types] == ["front/standing"]
    assert [t.label for t in defaults.flat_lay_image_types] == ["ghost_mannequin/front"]
    assert defaults.operation_priority is OperationPriority.ONLINE
    assert defaults.number_of_generations == 1
    assert defaults.input_mode is InputMode.URLS
    assert defaults.model_gender.value == "female"
    assert defaults.delete_at_aiuta_after_copy is False


def test_an_empty_variable_means_the_default() -> None:
    # Given template parameters left blank
    environ = {name: "" for name in variables(JobDefaults)}

    # When the defaults are read
    defaults = from_env(JobDefaults, environ)

    # Then they are the same as with no variables at all
    assert defaults == JobDefaults()


def test_kind_may_be_a_comma_separated_list() -> None:
    # Given DEFAULT_KIND written as a list
    # When the defaults are read
    defaults = from_env(JobDefaults, {"DEFAULT_KIND": "flat_lay,on_figure"})

    # Then both kinds are the default, in that order
    assert defaults.kind == [Kind.FLAT_LAY, Kind.ON_FIGURE]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("DEFAULT_KIND", "onfigure", "'onfigure' is not one of 'on_figure', 'flat_lay' or 'both'"),
        ("DEFAULT_ON_FIGURE_IMAGE_TYPES", "front", "image type 'front' must look like 'front/standing'"),
        ("DEFAULT_ON_FIGURE_IMAGE_TYPES", "front/dancing", "'standing', 'walking'"),
        ("DEFAULT_ON_FIGURE_IMAGE_TYPES", "front/standing,front/standing", "listed twice: front/standing"),
        ("DEFAULT_ON_FIGURE_IMAGE_TYPES", ",", "at least 1 item"),
        ("DEFAULT_FLAT_LAY_IMAGE_TYPES", "flat/side", "'front' or 'back'"),
        ("DEFAULT_FLAT_LAY_IMAGE_TYPES", "detail/back,detail/back", "listed twice: detail/back"),
        ("DEFAULT_OPERATION_PRIORITY", "soon", "'online' or 'offline'"),
        ("DEFAULT_NUMBER_OF_GENERATIONS", "5", "less than or equal to 4"),
        ("DEFAULT_NUMBER_OF_GENERATIONS", "0", "greater than or equal to 1"),
        ("DEFAULT_NUMBER_OF_GENERATIONS", "two", "valid integer"),
        ("DEFAULT_INPUT_MODE", "ftp", "'urls' or 'upload'"),
        ("DEFAULT_MODEL_GENDER", "other", "'male' or 'female'"),
        ("DELETE_AT_AIUTA_AFTER_COPY", "maybe", "valid boolean"),
    ],
)
def test_a_wrong_job_default_stops_start_up_naming_the_variable(name: str, value: str, words: str) -> None:
    # Given one job default set to a value the pipeline cannot use
    # When the defaults are read at cold start
    with pytest.raises(RuntimeError) as exc:
        from_env(JobDefaults, {name: value})

    # Then the error names the variable and says what is wrong
    message = str(exc.value)
    assert message.startswith("invalid settings in the environment: ")
    assert f"{name}: " in message
    assert words in message
    assert "Value error" not in message


def test_every_poll_setting_is_read_from_its_environment_variable() -> None:
    # Given the template sets every poll setting
    environ = {
        "POLL_FIRST_WAIT_ONLINE_SECONDS": "15",
        "POLL_FIRST_WAIT_OFFLINE_SECONDS": "120",
        "POLL_MIN_WAIT_SECONDS": "3",
        "POLL_MAX_WAIT_SECONDS": "900",
        "POLL_BACKOFF_FACTOR": "2.5",
        "JOB_DEADLINE_ONLINE_SECONDS": "1800",
        "JOB_DEADLINE_OFFLINE_SECONDS": "86400",
    }
    assert set(environ) == set(variables(PollSettings))

    # When the settings are read
    settings = from_env(PollSettings, environ)

    # Then each variable lands in its setting, and per priority
    assert settings.expected_seconds(OperationPriority.ONLINE) == 15
    assert settings.expected_seconds(OperationPriority.OFFLINE) == 120
    assert settings.min_wait_seconds == 3
    assert settings.max_wait_seconds == 900
    assert settings.tail_factor == 2.5
    assert settings.deadline_seconds(OperationPriority.ONLINE) == 1800
    assert settings.deadline_seconds(OperationPriority.OFFLINE) == 86400


def test_poll_settings_default_to_a_short_online_and_a_72_hour_offline_job() -> None:
    # Given no poll variables, or blank ones
    # When the settings are read
    settings = from_env(PollSettings, {})
    blank = from_env(PollSettings, {name: "" for name in variables(PollSettings)})

    # Then the defaults are 20 s / 5 min expected durations, 1 h / 72 h deadlines
    assert blank == settings
    assert settings.expected_seconds(OperationPriority.ONLINE) == 20
    assert settings.expected_seconds(OperationPriority.OFFLINE) == 300
    assert settings.deadline_seconds(OperationPriority.ONLINE) == 3600
    assert settings.deadline_seconds(OperationPriority.OFFLINE) == 72 * 3600


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("POLL_FIRST_WAIT_ONLINE_SECONDS", "-1", "greater than or equal to 0"),
        ("POLL_FIRST_WAIT_OFFLINE_SECONDS", "soon", "valid integer"),
        ("POLL_MIN_WAIT_SECONDS", "-5", "greater than or equal to 0"),
        ("POLL_MAX_WAIT_SECONDS", "0", "greater than or equal to 1"),
        ("POLL_BACKOFF_FACTOR", "0.5", "greater than or equal to 1"),
        ("POLL_BACKOFF_FACTOR", "11", "less than or equal to 10"),
        ("JOB_DEADLINE_ONLINE_SECONDS", "0", "greater than or equal to 1"),
        ("JOB_DEADLINE_OFFLINE_SECONDS", "3 days", "valid integer"),
    ],
)
def test_a_wrong_poll_setting_stops_start_up_naming_the_variable(name: str, value: str, words: str) -> None:
    # Given one poll setting the schedule cannot use
    # When the settings are read at cold start
    with pytest.raises(RuntimeError) as exc:
        from_env(PollSettings, {name: value})

    # Then the error names the variable and the rule
    assert f"{name}: " in str(exc.value)
    assert words in str(exc.value)


def test_a_minimum_wait_above_the_maximum_stops_start_up() -> None:
    # Given a minimum wait longer than the maximum (the schedule could not honour both)
    environ = {"POLL_MIN_WAIT_SECONDS": "700", "POLL_MAX_WAIT_SECONDS": "600"}

    # When the settings are read
    with pytest.raises(RuntimeError) as exc:
        from_env(PollSettings, environ)

    # Then both variables are named
    assert "POLL_MIN_WAIT_SECONDS (700) must not exceed POLL_MAX_WAIT_SECONDS (600)" in str(exc.value)


def test_several_wrong_settings_are_reported_together() -> None:
    # Given two wrong job defaults
    environ = {"DEFAULT_KIND": "shoes", "DEFAULT_NUMBER_OF_GENERATIONS": "9"}

    # When the defaults are read
    with pytest.raises(RuntimeError) as exc:
        from_env(JobDefaults, environ)

    # Then one error names both variables
    assert "DEFAULT_KIND: " in str(exc.value)
    assert "DEFAULT_NUMBER_OF_GENERATIONS: " in str(exc.value)


def test_settings_are_read_from_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the Lambda's environment sets a default kind and a deadline
    monkeypatch.setenv("DEFAULT_KIND", "flat_lay")
    monkeypatch.setenv("JOB_DEADLINE_ONLINE_SECONDS", "600")

    # When the settings are read without an explicit mapping
    defaults = from_env(JobDefaults)
    poll = from_env(PollSettings)

    # Then they come from os.environ
    assert defaults.kind == [Kind.FLAT_LAY]
    assert poll.deadline_seconds(OperationPriority.ONLINE) == 600


REQUIRED_FOR_INGEST = {
    "STUDIO_BUCKET": "studio-bucket",
    "JOBS_TABLE": "studio-jobs",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:jobs",
    "INGEST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
    "CATALOGUE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:catalogues",
}


def test_a_missing_variable_stops_the_cold_start_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given ingest's environment without STATE_MACHINE_ARN
    for name, value in REQUIRED_FOR_INGEST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STATE_MACHINE_ARN")

    # When its settings are read at cold start
    with pytest.raises(RuntimeError) as exc:
        from_env(IngestSettings)

    # Then the error names the variable, and only it
    assert str(exc.value) == "invalid settings in the environment: STATE_MACHINE_ARN: is not set"


def test_a_setting_is_the_field_named_for_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given ingest's environment with AIUTA_OPERATIONS_IN_FLIGHT and a default kind
    for name, value in REQUIRED_FOR_INGEST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIUTA_OPERATIONS_IN_FLIGHT", "3")
    monkeypatch.setenv("DEFAULT_KIND", "both")

    # When the settings are read
    settings = from_env(IngestSettings)

    # Then each lands in the field of its name (a catalogue runs that many jobs at once)
    assert settings.aiuta_operations_in_flight == 3
    assert settings.state_machine_arn == REQUIRED_FOR_INGEST["STATE_MACHINE_ARN"]
    assert settings.defaults.kind == [Kind.ON_FIGURE, Kind.FLAT_LAY]
    assert {"AIUTA_OPERATIONS_IN_FLIGHT", "STATE_MACHINE_ARN", "DEFAULT_KIND"} <= variables(IngestSettings)


def test_a_wrong_poll_variable_stops_a_function_that_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given submit's environment with a negative minimum wait
    for name, value in {
        "STUDIO_BUCKET": "b",
        "JOBS_TABLE": "t",
        "IDEMPOTENCY_TABLE": "i",
        "AIUTA_API_KEY_SECRET": "s",
        "POLL_MIN_WAIT_SECONDS": "-5",
    }.items():
        monkeypatch.setenv(name, value)

    # When submit's settings are read at cold start
    with pytest.raises(RuntimeError) as exc:
        from_env(SubmitSettings)

    # Then the error names the poll variable
    assert "POLL_MIN_WAIT_SECONDS: Input should be greater than or equal to 0" in str(exc.value)


def test_a_given_mapping_is_read_instead_of_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a process environment with a default kind (the studio CLI's shell, say)
    monkeypatch.setenv("DEFAULT_KIND", "flat_lay")

    # When a stack's parameters are read as ingest would read them
    defaults = from_env(JobDefaults, {"DEFAULT_NUMBER_OF_GENERATIONS": "2"})

    # Then only the mapping counts
    assert defaults == JobDefaults(number_of_generations=2)
