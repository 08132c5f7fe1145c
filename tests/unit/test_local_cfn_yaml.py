"""The CloudFormation YAML loader: short tags become long-form intrinsics, dates stay text."""

from __future__ import annotations

import pytest

from studio_local.cfn_yaml import TemplateSyntaxError, load_template_text


def test_short_tags_become_long_form() -> None:
    # Given a template using the short forms of the intrinsics
    text = """
    A: !Ref Bucket
    B: !GetAtt Queue.Arn
    C: !Sub "${AWS::StackName}-x"
    D: !If [IsProd, !Ref P, !Ref AWS::NoValue]
    E: !Equals [!Ref Env, prod]
    F: !Not [!Condition IsProd]
    G: !Join ["-", [a, !Select [0, !Split [",", "x,y"]]]]
    H: !FindInMap [Map, !Ref Env, Key]
    """
    # When it is loaded
    document = load_template_text(text)
    # Then each tag is the JSON form CloudFormation and samtranslator expect
    assert document == {
        "A": {"Ref": "Bucket"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "${AWS::StackName}-x"},
        "D": {"Fn::If": ["IsProd", {"Ref": "P"}, {"Ref": "AWS::NoValue"}]},
        "E": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "F": {"Fn::Not": [{"Condition": "IsProd"}]},
        "G": {"Fn::Join": ["-", ["a", {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}]]},
        "H": {"Fn::FindInMap": ["Map", {"Ref": "Env"}, "Key"]},
    }


def test_get_att_keeps_dots_of_the_attribute_name() -> None:
    assert load_template_text("A: !GetAtt Db.Endpoint.Address") == {
        "A": {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    }


def test_sub_with_variables_and_multiline_block() -> None:
    document = load_template_text(
        "A: !Sub\n  - '${X}-${Y}'\n  - X: !Ref P\n    Y: b\nB: !Sub |\n  line ${Z}\n"
    )
    assert document["A"] == {"Fn::Sub": ["${X}-${Y}", {"X": {"Ref": "P"}, "Y": "b"}]}
    assert document["B"] == {"Fn::Sub": "line ${Z}\n"}


def test_dates_stay_strings() -> None:
    # YAML 1.1 would turn these into datetime.date; CloudFormation reads them as text.
    document = load_template_text("AWSTemplateFormatVersion: 2010-09-09\nPolicy: {Version: 2012-10-17}")
    assert document == {"AWSTemplateFormatVersion": "2010-09-09", "Policy": {"Version": "2012-10-17"}}


def test_unknown_tag_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateSyntaxError, match="!Reff"):
        load_template_text("A: !Reff Bucket")


def test_get_att_without_attribute_is_an_error() -> None:
    with pytest.raises(TemplateSyntaxError, match=r"Resource\.Attribute"):
        load_template_text("A: !GetAtt Bucket")


def test_a_template_must_be_a_mapping() -> None:
    with pytest.raises(TemplateSyntaxError, match="mapping"):
        load_template_text("- just\n- a list\n")
