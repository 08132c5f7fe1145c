"""Template parameters: defaults, overrides and CloudFormation's constraints."""

from __future__ import annotations

import pytest

from studio_local.parameters import (
    ParameterError,
    as_cloudformation_parameters,
    pseudo_parameters,
    resolve_parameters,
)

TEMPLATE = {
    "Parameters": {
        "AiutaApiUrl": {
            "Type": "String",
            "Default": "https://api.aiuta.com/studio/v1",
            "AllowedPattern": "^https?://.+[^/]$",
        },
        "PollMinWaitSeconds": {"Type": "Number", "Default": 2, "MinValue": 0, "MaxValue": 3600},
        "LogLevel": {"Type": "String", "Default": "INFO", "AllowedValues": ["DEBUG", "INFO"]},
        "DeleteAfterCopy": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
        "LogRetentionDays": {"Type": "Number", "Default": 30, "AllowedValues": [1, 30, 365]},
    }
}


def test_defaults_become_strings() -> None:
    assert resolve_parameters(TEMPLATE) == {
        "AiutaApiUrl": "https://api.aiuta.com/studio/v1",
        "PollMinWaitSeconds": "2",
        "LogLevel": "INFO",
        "DeleteAfterCopy": "false",
        "LogRetentionDays": "30",
    }


def test_overrides_win_and_are_text_like_cloudformation_values() -> None:
    values = resolve_parameters(
        TEMPLATE,
        {"AiutaApiUrl": "http://127.0.0.1:8787/studio/v1", "PollMinWaitSeconds": 0, "DeleteAfterCopy": True},
    )
    assert values["AiutaApiUrl"] == "http://127.0.0.1:8787/studio/v1"
    assert values["PollMinWaitSeconds"] == "0"
    assert values["DeleteAfterCopy"] == "true"


def test_an_undeclared_override_is_an_error_naming_it() -> None:
    # A typo must not silently fall back to the default.
    with pytest.raises(ParameterError, match=r"PollMinWaitSecond\b.*it has: AiutaApiUrl"):
        resolve_parameters(TEMPLATE, {"PollMinWaitSecond": 1})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"PollMinWaitSeconds": "soon"}, "must be a number"),
        ({"PollMinWaitSeconds": -1}, "at least 0"),
        ({"PollMinWaitSeconds": 4000}, "at most 3600"),
        ({"LogLevel": "TRACE"}, "one of DEBUG, INFO"),
        ({"LogRetentionDays": 2}, "one of 1, 30, 365"),
        ({"AiutaApiUrl": "http://sim/"}, "must match"),
    ],
)
def test_values_outside_the_constraints_are_refused(override: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        resolve_parameters(TEMPLATE, override)


def test_a_parameter_without_default_needs_a_value() -> None:
    template = {"Parameters": {"Required": {"Type": "String"}}}
    with pytest.raises(ParameterError, match="Required has no default"):
        resolve_parameters(template)
    assert resolve_parameters(template, {"Required": "x"}) == {"Required": "x"}


def test_shapes_for_create_stack_and_pseudo_parameters() -> None:
    assert as_cloudformation_parameters({"A": "1"}) == [{"ParameterKey": "A", "ParameterValue": "1"}]
    pseudo = pseudo_parameters("studio-local", "eu-west-1")
    assert pseudo["AWS::StackName"] == "studio-local"
    assert pseudo["AWS::Region"] == "eu-west-1"
    assert pseudo["AWS::AccountId"] == "123456789012"
