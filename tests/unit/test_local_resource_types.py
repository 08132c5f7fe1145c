"""The table of resource types the local stack can stand up: an unknown type stops deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_local.cfn_yaml import load_template
from studio_local.moto_internals import cloudformation_types
from studio_local.packaging import package_template
from studio_local.parameters import resolve_parameters
from studio_local.resource_types import RESOURCE_TYPES, Handling, UnsupportedResourceError, plan_resources
from studio_local.translate import translate

REPO = Path(__file__).resolve().parents[2]
MOTO_TYPES = {"AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Lambda::Function"}


def test_known_types_are_planned_with_their_handling() -> None:
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Policy": {"Type": "AWS::SQS::QueuePolicy"},
        }
    }
    plan = {p.logical_id: p.handling for p in plan_resources(template, MOTO_TYPES)}
    assert plan == {"Bucket": Handling.COMPLETED, "Queue": Handling.DEPLOYED, "Policy": Handling.LEFT_OUT}


def test_an_unknown_type_stops_deployment_naming_the_resource_and_type() -> None:
    # Given a template with a type nobody decided how to run locally
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Pipe": {"Type": "AWS::Pipes::Pipe"},
            "Api": {"Type": "AWS::ApiGateway::RestApi"},
        }
    }
    # Then planning refuses it, naming every such resource, rather than moto skipping it silently
    with pytest.raises(UnsupportedResourceError) as refused:
        plan_resources(template, MOTO_TYPES)
    message = str(refused.value)
    assert "Pipe (AWS::Pipes::Pipe)" in message
    assert "Api (AWS::ApiGateway::RestApi)" in message
    assert "RESOURCE_TYPES" in message


def test_a_type_moto_cannot_create_is_refused_even_if_listed() -> None:
    template = {"Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}}}
    with pytest.raises(UnsupportedResourceError, match="Table \\(AWS::DynamoDB::Table\\): this moto version"):
        plan_resources(template, MOTO_TYPES)


def test_every_row_moto_deploys_is_a_type_moto_knows() -> None:
    missing = [
        kind
        for kind, row in RESOURCE_TYPES.items()
        if row.handling in (Handling.DEPLOYED, Handling.COMPLETED) and kind not in cloudformation_types()
    ]
    assert missing == []


def test_every_row_moto_cannot_deploy_is_handled_another_way() -> None:
    # A LEFT_OUT / CREATED_BY_API row for a type moto could deploy would hide a resource for nothing.
    needless = [
        kind
        for kind, row in RESOURCE_TYPES.items()
        if row.handling in (Handling.LEFT_OUT, Handling.CREATED_BY_API) and kind in cloudformation_types()
    ]
    assert needless == []


@pytest.mark.skipif(
    not (REPO / "template.yaml").is_file(), reason="template.yaml is not in this checkout yet"
)
def test_every_resource_of_the_real_template_is_handled() -> None:
    # Given the project's template, packaged and translated offline
    sam_template = load_template(REPO / "template.yaml")
    packaged, _ = package_template(sam_template, REPO, "deployment", lambda key, body: None)
    translated = translate(packaged, resolve_parameters(sam_template), "us-east-1")
    # Then every translated resource has a row, and the types that matter are completed
    plan = plan_resources(translated, cloudformation_types())
    handling = {p.type: p.handling for p in plan}
    assert handling["AWS::Lambda::Function"] == Handling.COMPLETED
    assert handling["AWS::StepFunctions::StateMachine"] == Handling.COMPLETED
    assert handling["AWS::Lambda::EventSourceMapping"] == Handling.COMPLETED
    assert len(plan) == len(translated["Resources"])
