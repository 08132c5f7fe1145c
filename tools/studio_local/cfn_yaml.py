"""Reading a CloudFormation / SAM YAML template into plain Python data.

CloudFormation's short tags become their long JSON form (``!Ref X`` -> ``{"Ref": "X"}``,
``!GetAtt A.Arn`` -> ``{"Fn::GetAtt": ["A", "Arn"]}``, ``!Sub s`` -> ``{"Fn::Sub": "s"}``), which is
what samtranslator and CloudFormation's JSON format expect. Dates such as
``AWSTemplateFormatVersion: 2010-09-09`` or a policy's ``Version: 2012-10-17`` stay strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Every intrinsic function with a YAML short form; "Ref" and "Condition" have no "Fn::" prefix.
SHORT_TAGS: dict[str, str] = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}


class TemplateSyntaxError(ValueError):
    """The template is not valid YAML, or uses a tag CloudFormation does not know."""


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that knows CloudFormation's ``!Tags`` and leaves dates as strings."""


# CloudFormation reads 2010-09-09 as a string; YAML 1.1 would make it a datetime.date.
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if tag_suffix not in SHORT_TAGS:
        raise TemplateSyntaxError(f"unknown CloudFormation tag !{tag_suffix} {node.start_mark}")
    key = SHORT_TAGS[tag_suffix]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # "Resource.Attr.Sub" -> ["Resource", "Attr.Sub"]: attribute names may contain dots.
            resource, _, attribute = str(value).partition(".")
            if not attribute:
                raise TemplateSyntaxError(
                    f"!GetAtt {value!r} needs the form Resource.Attribute {node.start_mark}"
                )
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template_text(text: str, source: str = "<template>") -> dict[str, Any]:
    """The template in ``text`` (YAML or JSON) as a dict with long-form intrinsics."""
    try:
        document = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateSyntaxError(f"{source}: {exc}") from None
    if not isinstance(document, dict):
        raise TemplateSyntaxError(f"{source}: a template must be a mapping, got {type(document).__name__}")
    return document


def load_template(path: Path) -> dict[str, Any]:
    """The template file at ``path`` as a dict with long-form intrinsics."""
    return load_template_text(path.read_text(encoding="utf-8"), source=str(path))
