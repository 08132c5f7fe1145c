"""The intrinsics the local stack evaluates itself: conditions, static values, substitutions, references."""

from __future__ import annotations

import pytest

from studio_local.intrinsics import (
    IntrinsicError,
    evaluate_conditions,
    render_sub,
    render_substitutions,
    replace_references,
    resolve_static,
)

VALUES = {
    "AiutaApiKeySecretArn": "",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:1:t",
    "AWS::StackName": "studio-local",
}


def test_conditions_evaluate_from_parameters() -> None:
    # Given the template's conditions on its parameters
    template = {
        "Conditions": {
            "CreateApiKeySecret": {"Fn::Equals": [{"Ref": "AiutaApiKeySecretArn"}, ""]},
            "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "CreateApiKeySecret"}, {"Condition": "HasAlarmTopic"}]},
            "Either": {"Fn::Or": [{"Fn::Equals": ["a", "b"]}, {"Condition": "Both"}]},
        }
    }
    # Then each one is decided as CloudFormation would
    assert evaluate_conditions(template, VALUES) == {
        "CreateApiKeySecret": True,
        "HasAlarmTopic": True,
        "Both": True,
        "Either": True,
    }


def test_a_condition_referring_to_itself_is_an_error() -> None:
    template = {"Conditions": {"A": {"Fn::Not": [{"Condition": "A"}]}}}
    with pytest.raises(IntrinsicError, match="refers to itself"):
        evaluate_conditions(template, {})


def test_static_values_from_parameters() -> None:
    assert (
        resolve_static({"Fn::Sub": "${AWS::StackName}/aiuta-api-key"}, VALUES) == "studio-local/aiuta-api-key"
    )
    assert resolve_static({"Fn::Sub": ["${A}-${B}", {"A": "x", "B": {"Ref": "AWS::StackName"}}]}, VALUES) == (
        "x-studio-local"
    )
    assert resolve_static({"Fn::Join": ["/", ["a", {"Ref": "AWS::StackName"}]]}, VALUES) == "a/studio-local"
    assert resolve_static({"Fn::Select": [1, {"Fn::Split": ["-", "studio-local"]}]}, VALUES) == "local"
    assert resolve_static({"Fn::If": ["C", "yes", "no"]}, VALUES, condition_of=lambda name: False) == "no"
    # A property merely named like an intrinsic is left alone.
    assert resolve_static({"RefreshSeconds": 3}, VALUES) == {"RefreshSeconds": 3}


def test_a_static_value_cannot_need_a_resource() -> None:
    with pytest.raises(IntrinsicError, match="Ref JobsTable needs a deployed resource"):
        resolve_static({"Ref": "JobsTable"}, VALUES)
    with pytest.raises(IntrinsicError, match="Fn::GetAtt cannot be evaluated"):
        resolve_static({"Fn::GetAtt": ["Queue", "Arn"]}, VALUES)


def test_sub_keeps_escaped_placeholders_literal() -> None:
    assert render_sub("${A} ${!Literal}", {"A": 1}) == "1 ${Literal}"
    with pytest.raises(IntrinsicError, match=r"\$\{Missing\} has no value"):
        render_sub("${Missing}", {})


def test_definition_substitutions_are_applied_like_step_functions() -> None:
    definition = '{"Resource": "${SubmitFunctionArn}", "Comment": "${!NotASubstitution}", "Flag": ${Enabled}}'
    rendered = render_substitutions(
        definition, {"SubmitFunctionArn": "arn:aws:lambda:x:1:function:f", "Enabled": True}
    )
    assert (
        rendered
        == '{"Resource": "arn:aws:lambda:x:1:function:f", "Comment": "${!NotASubstitution}", "Flag": true}'
    )


def test_a_placeholder_without_substitution_is_an_error_naming_it() -> None:
    with pytest.raises(IntrinsicError, match=r"asl\.json uses \$\{FinalizeFunctionArn\}"):
        render_substitutions(
            '{"Resource": "${FinalizeFunctionArn}"}', {"SubmitFunctionArn": "x"}, source="asl.json"
        )


def test_references_to_a_removed_resource_are_replaced_everywhere() -> None:
    # Given a template whose pieces refer to the secret in every way CloudFormation allows
    template = {
        "Resources": {
            "Fn": {
                "DependsOn": ["Secret", "Table"],
                "Properties": {
                    "Env": {"Fn::If": ["C", {"Ref": "Secret"}, {"Ref": "Other"}]},
                    "Id": {"Fn::GetAtt": ["Secret", "Id"]},
                    "Text": {"Fn::Sub": "${Secret} ${Secret.Id} ${SecretOther} ${!Secret}"},
                    "Shadowed": {"Fn::Sub": ["${Secret}", {"Secret": "mine"}]},
                },
            },
            "Alone": {"DependsOn": "Secret"},
        }
    }
    # When the secret's references are replaced by its ARN
    replaced = replace_references(template, "Secret", "arn:secret", {"Id": "arn:secret"})
    # Then nothing refers to it any more, and other references are untouched
    fn = replaced["Resources"]["Fn"]
    assert fn["DependsOn"] == ["Table"]
    assert fn["Properties"]["Env"] == {"Fn::If": ["C", "arn:secret", {"Ref": "Other"}]}
    assert fn["Properties"]["Id"] == "arn:secret"
    assert fn["Properties"]["Text"] == {"Fn::Sub": "arn:secret arn:secret ${SecretOther} ${!Secret}"}
    assert fn["Properties"]["Shadowed"] == {"Fn::Sub": ["${Secret}", {"Secret": "mine"}]}
    assert "DependsOn" not in replaced["Resources"]["Alone"]


def test_an_unknown_attribute_of_a_removed_resource_is_an_error() -> None:
    with pytest.raises(IntrinsicError, match=r"Secret\.Name has no local value"):
        replace_references({"A": {"Fn::GetAtt": ["Secret", "Name"]}}, "Secret", "arn", {"Id": "arn"})
