"""Every place this package reaches into moto beyond its HTTP API, in one module.

These are moto 5.2 internals (pyproject pins ``moto>=5.2.5,<5.3``); if a moto upgrade breaks
the local stack, this is the file to read first. The local stack runs moto in this same
process, which is what makes them reachable.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json, get_model_map
from moto.core.config import default_user_config

__all__ = [
    "LambdaBackend",
    "cloudformation_types",
    "resolve_in_stack",
    "set_step_functions_config",
    "step_functions_config",
]


def cloudformation_types() -> set[str]:
    """The resource types moto's CloudFormation can create (it skips the others with a log line)."""
    return set(get_model_map())


def resolve_in_stack(account_id: str, region: str, stack_id: str, value: Any) -> Any:
    """``value`` (a template fragment with ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub``...) as moto resolved it.

    Uses the deployed stack's own resource map, so the answer is what moto's CloudFormation
    put into the resources it created.
    """
    stack = cloudformation_backends[account_id][region].stacks[stack_id]
    return clean_json(value, stack.resource_map)


def step_functions_config() -> dict[str, Any]:
    """moto's Step Functions settings, e.g. ``{"execute_state_machine": True}`` (global to the process)."""
    return dict(default_user_config.get("stepfunctions", {}))


def set_step_functions_config(config: dict[str, Any]) -> None:
    default_user_config["stepfunctions"] = config  # type: ignore[typeddict-item]
