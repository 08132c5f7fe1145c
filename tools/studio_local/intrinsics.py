"""The few CloudFormation intrinsics this package evaluates itself, before or beside moto.

- ``evaluate_conditions``: a template's ``Conditions`` from parameter values, to know whether a
  resource this package creates itself (see ``resource_types``) exists at all.
- ``resolve_static``: a value that depends only on parameters and pseudo parameters (a secret's
  ``Name: !Sub "${AWS::StackName}/key"``).
- ``replace_references``: point every ``Ref`` / ``GetAtt`` / ``${...}`` of a resource at known values,
  when that resource is taken out of the template moto deploys.
- ``render_substitutions``: ``DefinitionSubstitutions`` applied to an ASL file, as Step Functions does.

Values that need deployed resources are resolved by moto's own evaluator instead (``deploy``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

SUB_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(ValueError):
    """An intrinsic this package cannot evaluate, or one that references something missing."""


def evaluate_conditions(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, bool]:
    """Every condition of ``template`` evaluated; ``values`` holds parameters and pseudo parameters."""
    conditions: Mapping[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}

    def condition(name: str, seen: tuple[str, ...] = ()) -> bool:
        if name in results:
            return results[name]
        if name not in conditions:
            raise IntrinsicError(f"condition {name} is not declared in Conditions")
        if name in seen:
            raise IntrinsicError(f"condition {name} refers to itself through {' -> '.join(seen)}")
        results[name] = bool(evaluate(conditions[name], (*seen, name)))
        return results[name]

    def evaluate(node: Any, seen: tuple[str, ...]) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return resolve_static(node, values, condition_of=lambda n: condition(n, seen))
        ((function, argument),) = node.items()
        if function == "Condition":
            return condition(argument, seen)
        if function == "Fn::Equals":
            left, right = (str(evaluate(item, seen)) for item in argument)
            return left == right
        if function == "Fn::Not":
            return not evaluate(argument[0], seen)
        if function == "Fn::And":
            return all(evaluate(item, seen) for item in argument)
        if function == "Fn::Or":
            return any(evaluate(item, seen) for item in argument)
        return resolve_static(node, values, condition_of=lambda n: condition(n, seen))

    for name in conditions:
        condition(name)
    return results


def resolve_static(
    node: Any, values: Mapping[str, str], condition_of: Callable[[str], bool] | None = None
) -> Any:
    """``node`` with intrinsics evaluated from ``values`` (parameters and pseudo parameters) only.

    Raises ``IntrinsicError`` naming the reference when ``node`` needs a deployed resource.
    """
    if isinstance(node, list):
        return [resolve_static(item, values, condition_of) for item in node]
    if not isinstance(node, dict):
        return node
    key = next(iter(node), "")
    if len(node) != 1 or not (key == "Ref" or key.startswith("Fn::")):
        return {key: resolve_static(item, values, condition_of) for key, item in node.items()}
    ((function, argument),) = node.items()
    if function == "Ref":
        if argument not in values:
            raise IntrinsicError(f"Ref {argument} needs a deployed resource (only parameters are known here)")
        return values[argument]
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: str(resolve_static(value, values, condition_of)) for name, value in variables.items()}
        return render_sub(text, {**values, **local})
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(str(item) for item in resolve_static(items, values, condition_of))
    if function == "Fn::Select":
        index, items = argument
        return resolve_static(items, values, condition_of)[int(resolve_static(index, values, condition_of))]
    if function == "Fn::Split":
        separator, text = argument
        return str(resolve_static(text, values, condition_of)).split(separator)
    if function == "Fn::If":
        if condition_of is None:
            raise IntrinsicError("Fn::If needs the template's conditions")
        name, when_true, when_false = argument
        return resolve_static(when_true if condition_of(name) else when_false, values, condition_of)
    raise IntrinsicError(f"{function} cannot be evaluated before deployment")


def render_sub(text: str, values: Mapping[str, Any]) -> str:
    """``Fn::Sub`` on ``text``: ``${Name}`` from ``values``; ``${!Literal}`` becomes ``${Literal}``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise IntrinsicError(f"${{{name}}} has no value (known: {', '.join(sorted(values))})")
        return substitution_text(values[name])

    return SUB_PLACEHOLDER.sub(replace, text).replace("${!", "${")


def substitution_text(value: Any) -> str:
    """How a substituted value reads in text: booleans as JSON does, the rest as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_substitutions(
    definition: str, substitutions: Mapping[str, Any], source: str = "definition"
) -> str:
    """An ASL text with its ``${Name}`` placeholders replaced from ``DefinitionSubstitutions``.

    A placeholder without a substitution is an error naming it (on AWS it would reach the
    state machine as literal text and fail at run time).
    """
    missing = sorted({m.group(1) for m in SUB_PLACEHOLDER.finditer(definition)} - set(substitutions))
    if missing:
        raise IntrinsicError(
            f"{source} uses {', '.join('${' + m + '}' for m in missing)} "
            "but DefinitionSubstitutions does not define it"
        )
    return SUB_PLACEHOLDER.sub(lambda m: substitution_text(substitutions[m.group(1)]), definition)


def replace_references(
    node: Any,
    logical_id: str,
    ref_value: str,
    attributes: Mapping[str, str] | Callable[[str], str] | None = None,
) -> Any:
    """``node`` with every reference to resource ``logical_id`` replaced by known values.

    ``Ref`` becomes ``ref_value``; ``Fn::GetAtt`` / ``${Id.Attr}`` come from ``attributes`` (a
    mapping, where a missing attribute is an error naming it, or a function of the attribute
    name); ``DependsOn`` entries for it are dropped.
    """
    known = attributes if attributes is not None else {}

    def attribute(name: str) -> str:
        if callable(known):
            return known(name)
        if name not in known:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{name} has no local value")
        return known[name]

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            return [walk(element) for element in item]
        if not isinstance(item, dict):
            return item
        if item.get("Ref") == logical_id and len(item) == 1:
            return ref_value
        get_att = item.get("Fn::GetAtt")
        if len(item) == 1 and isinstance(get_att, list) and get_att and get_att[0] == logical_id:
            return attribute(str(get_att[1]))
        if len(item) == 1 and "Fn::Sub" in item:
            return {"Fn::Sub": _replace_in_sub(item["Fn::Sub"])}
        result = {key: walk(value) for key, value in item.items() if key != "DependsOn"}
        if "DependsOn" in item:
            depends = item["DependsOn"]
            remaining = [d for d in ([depends] if isinstance(depends, str) else depends) if d != logical_id]
            if remaining:
                result["DependsOn"] = remaining
        return result

    def _replace_in_sub(argument: Any) -> Any:
        text, variables = (argument, None) if isinstance(argument, str) else argument
        shadowed = set(variables or {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            target, _, attr = name.partition(".")
            if target != logical_id or target in shadowed:
                return match.group(0)
            return attribute(attr) if attr else ref_value

        text = SUB_PLACEHOLDER.sub(replace, text)
        return text if variables is None else [text, walk(variables)]

    return walk(node)
