"""The deployed Lambda functions as local code: directory, handler, layers and resolved environment.

Each ``AWS::Lambda::Function`` of the deployed template is matched to its local directory by
its ``Code`` S3 location (uploaded by ``packaging``); its configuration (environment, timeout,
memory, handler, reserved concurrency) is read back from moto, i.e. after CloudFormation resolved
the ``Ref`` / ``GetAtt`` in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from studio_local.deploy import DeployedStack, DeploymentError
from studio_local.lambda_runtime import LocalFunction
from studio_local.packaging import artifact_for_location


@dataclass(frozen=True)
class ExternalLayer:
    """A layer given by ARN (not built from this template): its packages must be installed locally."""

    function_logical_id: str
    arn: str


def local_functions(
    stack: DeployedStack, lambda_client: BaseClient
) -> tuple[list[LocalFunction], list[ExternalLayer]]:
    """Every deployed function as a ``LocalFunction``; refuses a function whose code is not local."""
    functions: list[LocalFunction] = []
    external: list[ExternalLayer] = []
    layer_dirs = _layer_directories(stack)
    for logical_id, resource in stack.of_type("AWS::Lambda::Function"):
        properties = resource.get("Properties") or {}
        artifact = artifact_for_location(stack.artifacts, properties.get("Code"))
        if artifact is None:
            raise DeploymentError(
                f"{logical_id}: its Code is not a local directory of the template: it cannot run locally"
            )
        if properties.get("PackageType") == "Image":
            raise DeploymentError(f"{logical_id}: container image functions cannot run locally")
        name = stack.physical_id(logical_id)
        configuration = lambda_client.get_function_configuration(FunctionName=name)
        reserved = lambda_client.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        dirs = []
        for layer in properties.get("Layers") or []:
            if isinstance(layer, dict) and layer.get("Ref") in layer_dirs:
                dirs.append(layer_dirs[layer["Ref"]])
            else:
                external.append(ExternalLayer(logical_id, str(stack.resolve(layer))))
        functions.append(
            LocalFunction(
                logical_id=logical_id,
                name=name,
                arn=configuration["FunctionArn"],
                code_dir=artifact.local_path,
                handler=configuration.get("Handler") or properties.get("Handler", ""),
                runtime=configuration.get("Runtime") or properties.get("Runtime", "python3.11"),
                timeout_seconds=int(configuration.get("Timeout") or 3),
                memory_mb=int(configuration.get("MemorySize") or 128),
                environment=function_environment(
                    stack,
                    logical_id,
                    (configuration.get("Environment") or {}).get("Variables") or {},
                    ((properties.get("Environment") or {}).get("Variables")) or {},
                ),
                layer_dirs=dirs,
                reserved_concurrency=int(reserved) if reserved is not None else None,
            )
        )
    return functions, external


def _layer_directories(stack: DeployedStack) -> dict[str, Any]:
    directories = {}
    for logical_id, resource in stack.of_type("AWS::Lambda::LayerVersion"):
        artifact = artifact_for_location(stack.artifacts, (resource.get("Properties") or {}).get("Content"))
        if artifact is None:
            raise DeploymentError(f"{logical_id}: its Content is not a local directory of the template")
        directories[logical_id] = artifact.local_path
    return directories


def function_environment(
    stack: DeployedStack, logical_id: str, stored: Mapping[str, Any], declared: Mapping[str, Any]
) -> dict[str, str]:
    """The function's variables as text, as Lambda holds them.

    moto stores what CloudFormation resolved, but keeps numbers as numbers and ``AWS::NoValue``
    as null; a value that is still an intrinsic is resolved again from the stack, and one that
    cannot be is an error naming the variable.
    """
    environment: dict[str, str] = {}
    for name in {**declared, **stored}:
        value = stored.get(name)
        if isinstance(value, dict | list) or (value is None and name in declared):
            value = stack.resolve(declared[name])
        if value is None:
            continue  # AWS::NoValue: CloudFormation leaves the variable out
        if isinstance(value, dict | list):
            raise DeploymentError(f"{logical_id}: environment variable {name} did not resolve: {value!r}")
        environment[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return environment
