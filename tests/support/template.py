"""template.yaml read as data (short tags become dicts), and translated as ``sam deploy`` does."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref X`` -> ``{"Ref": "X"}``, ``!Sub`` -> ``Fn::Sub``...)."""


def _construct_tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    return construct


for _tag in ("Ref", "Condition"):
    CloudFormationLoader.add_constructor(f"!{_tag}", _construct_tag(_tag))
for _fn in ("And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If", "ImportValue"):
    CloudFormationLoader.add_constructor(f"!{_fn}", _construct_tag(f"Fn::{_fn}"))
for _fn in ("Join", "Not", "Or", "Select", "Split", "Sub", "Transform"):
    CloudFormationLoader.add_constructor(f"!{_fn}", _construct_tag(f"Fn::{_fn}"))


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE_PATH.read_text(), Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)


def props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return resources[name]["Properties"]


class BundledManagedPolicies:
    """A managed-policy loader answering from the map aws-sam-translator ships (no IAM call)."""

    def load(self) -> dict[str, str]:
        import samtranslator

        data = Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"
        return json.loads(data.read_text())["aws"]


def translate_template() -> dict[str, Any]:
    """The template as ``sam deploy`` hands it to CloudFormation (SAM resources expanded, roles included)."""
    from samtranslator.translator.transform import transform

    sam = copy.deepcopy(load_template())
    for name, resource in sam["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://studio-artifacts/{name}.zip"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = {"Bucket": "studio-artifacts", "Key": f"{name}.asl.json"}
    with pytest.MonkeyPatch.context() as env:
        # The translator fills AWS::Region from boto3's session; no credentials or calls are needed.
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(sam, {}, BundledManagedPolicies())
