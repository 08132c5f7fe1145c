"""Template parameters: the defaults with the caller's overrides on top, checked like CloudFormation.

CloudFormation passes every parameter value as a string, so that is what ``resolve_parameters``
returns. An override the template does not declare is an error that names it: a typo must not
silently fall back to the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# moto's default account; the pseudo parameters match what moto's CloudFormation reports.
LOCAL_ACCOUNT_ID = "123456789012"


class ParameterError(ValueError):
    """A parameter override or value the template would refuse."""


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_as_text(item) for item in value)
    return str(value)


def resolve_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Every declared parameter's value as a string: the override if given, else the template's default.

    Raises ``ParameterError`` for an undeclared override, a parameter without default nor value,
    or a value outside ``AllowedValues`` / ``AllowedPattern`` / ``MinValue``-``MaxValue`` /
    ``MinLength``-``MaxLength``, or a ``Number`` that is not a number.
    """
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ParameterError(
            f"the template declares no parameter {', '.join(unknown)}; it has: {', '.join(sorted(declared))}"
        )
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            value = _as_text(overrides[name])
        elif "Default" in spec:
            value = _as_text(spec["Default"])
        else:
            raise ParameterError(f"parameter {name} has no default: give it a value")
        check_parameter(name, spec, value)
        values[name] = value
    return values


def check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """Raise ``ParameterError`` if ``value`` breaks the constraints CloudFormation checks for ``name``."""
    kind = spec.get("Type", "String")
    items = value.split(",") if kind in ("CommaDelimitedList", "List<Number>") else [value]
    for item in items:
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise ParameterError(f"parameter {name} must be a number, got {item!r}") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ParameterError(f"parameter {name} must be at least {spec['MinValue']}, got {item}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ParameterError(f"parameter {name} must be at most {spec['MaxValue']}, got {item}")
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in [_as_text(a) for a in allowed]:
            raise ParameterError(
                f"parameter {name} must be one of {', '.join(map(_as_text, allowed))}, got {item!r}"
            )
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, item):
            raise ParameterError(f"parameter {name} must match {pattern}, got {item!r}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            raise ParameterError(f"parameter {name} must be at least {spec['MinLength']} characters long")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            raise ParameterError(f"parameter {name} must be at most {spec['MaxLength']} characters long")


def pseudo_parameters(stack_name: str, region: str, account_id: str = LOCAL_ACCOUNT_ID) -> dict[str, str]:
    """The ``AWS::`` pseudo parameters the template may reference, as moto answers them."""
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def as_cloudformation_parameters(values: Mapping[str, str]) -> list[dict[str, str]]:
    """``values`` in the shape ``cloudformation.create_stack(Parameters=...)`` takes."""
    return [{"ParameterKey": name, "ParameterValue": value} for name, value in values.items()]
