"""Completing what moto's CloudFormation deploys incompletely, from the template's own data.

- bucket ``NotificationConfiguration``: moto ignores it; applied with the S3 API;
- ``AWS::StepFunctions::StateMachine``: moto's is empty (it ignores ``DefinitionS3Location`` and
  ``DefinitionSubstitutions``) and invisible to the executing backend; re-created through the
  Step Functions API under the same name, so its ARN (and every ``Ref`` to it) stays valid;
- the template's API key secret gets the simulator's key;
- a Distributed Map that reads JSON lines or writes its results (``moto_map_run``).

Each function returns ``Gap`` records for the start-up summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from studio_local.deploy import DeployedStack, DeploymentError
from studio_local.intrinsics import render_substitutions
from studio_local.packaging import artifact_for_location


@dataclass(frozen=True)
class Gap:
    """Something moto does not do from the template, and what the local stack did about it."""

    subject: str
    action: str


def notification_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket's CloudFormation ``NotificationConfiguration`` in the shape of the S3 API."""
    unsupported = sorted(set(configuration) - {"QueueConfigurations", "TopicConfigurations"})
    if unsupported:
        raise DeploymentError(
            f"bucket notifications {', '.join(unsupported)} cannot run locally "
            "(moto delivers S3 -> Lambda through Docker only)"
        )
    api: dict[str, Any] = {}
    for cfn_key, target_key, api_key in (
        ("QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "Topic", "TopicArn"),
    ):
        for entry in configuration.get(cfn_key) or []:
            item: dict[str, Any] = {api_key: entry[target_key], "Events": [entry["Event"]]}
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                # S3 names the rules "prefix"/"suffix"; moto matches only the lower-case spelling.
                item["Filter"] = {
                    "Key": {"FilterRules": [{"Name": r["Name"].lower(), "Value": r["Value"]} for r in rules]}
                }
            api.setdefault(cfn_key, []).append(item)
    return api


def apply_bucket_versioning(stack: DeployedStack, s3: BaseClient) -> list[Gap]:
    """Turn on each bucket's ``VersioningConfiguration``, which moto's CloudFormation leaves out: the
    pipeline reads every object at the version its event named."""
    gaps = []
    for logical_id, resource in stack.of_type("AWS::S3::Bucket"):
        configuration = (resource.get("Properties") or {}).get("VersioningConfiguration") or {}
        if configuration.get("Status") != "Enabled":
            continue
        s3.put_bucket_versioning(
            Bucket=stack.physical_id(logical_id), VersioningConfiguration={"Status": "Enabled"}
        )
        gaps.append(Gap(f"{logical_id} VersioningConfiguration", "applied with put_bucket_versioning"))
    return gaps


def apply_bucket_notifications(stack: DeployedStack, s3: BaseClient) -> list[Gap]:
    """Put each bucket's ``NotificationConfiguration`` (targets resolved from the stack) through S3."""
    gaps = []
    for logical_id, resource in stack.of_type("AWS::S3::Bucket"):
        configuration = (resource.get("Properties") or {}).get("NotificationConfiguration")
        if not configuration:
            continue
        bucket = stack.physical_id(logical_id)
        api = notification_configuration(stack.resolve(configuration))
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=api)
        rules = [
            f"{rule['Value']} -> {(item.get('QueueArn') or item.get('TopicArn', '')).rsplit(':', 1)[-1]}"
            for entries in api.values()
            for item in entries
            for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", [{"Value": "*"}])
        ]
        gaps.append(
            Gap(
                f"{logical_id} NotificationConfiguration",
                f"applied with put_bucket_notification_configuration ({'; '.join(rules)})",
            )
        )
    return gaps


def state_machine_definition(
    stack: DeployedStack, logical_id: str, properties: Mapping[str, Any], *, for_moto: bool = True
) -> str:
    """The ASL the state machine must run: its file (or inline definition) with substitutions applied,
    and (``for_moto``) the same values spelt as moto's grammar reads them."""
    location = properties.get("DefinitionS3Location")
    if location is not None:
        artifact = artifact_for_location(stack.artifacts, stack.resolve(location))
        if artifact is None:
            raise DeploymentError(
                f"{logical_id}: its DefinitionS3Location is not a local file of the template"
            )
        definition = artifact.local_path.read_text(encoding="utf-8")
        source = str(artifact.local_path)
    elif "DefinitionString" in properties:
        definition = str(stack.resolve(properties["DefinitionString"]))
        source = f"{logical_id}.DefinitionString"
    elif "Definition" in properties:
        definition = json.dumps(stack.resolve(properties["Definition"]))
        source = f"{logical_id}.Definition"
    else:
        raise DeploymentError(f"{logical_id}: the state machine has no definition")
    substitutions = stack.resolve(properties.get("DefinitionSubstitutions") or {})
    rendered = render_substitutions(definition, substitutions, source=source)
    try:
        document = json.loads(rendered)
    except ValueError as exc:
        raise DeploymentError(f"{source} is not valid JSON after substitution: {exc}") from None
    if for_moto and _spelt_for_moto(document):
        rendered = json.dumps(document)
    return rendered


def _spelt_for_moto(document: Any) -> bool:
    """Rewrites, in every object of the definition, the values moto's ASL grammar reads otherwise
    than AWS; whether any was. ``ToleratedFailurePercentage`` it reads only as a decimal (``100.0``),
    AWS as any number. A Distributed Map's ``ExecutionType`` it accepts only as ``STANDARD``; its
    items run in threads of the execution either way (EXPRESS's five-minute limit is not applied)."""
    changed = False
    if isinstance(document, dict):
        value = document.get("ToleratedFailurePercentage")
        if isinstance(value, int) and not isinstance(value, bool):
            document["ToleratedFailurePercentage"] = float(value)
            changed = True
        if document.get("Mode") == "DISTRIBUTED" and document.get("ExecutionType") == "EXPRESS":
            document["ExecutionType"] = "STANDARD"
            changed = True
    children = document.values() if isinstance(document, dict) else document
    for child in children if isinstance(document, dict | list) else []:
        changed = _spelt_for_moto(child) or changed
    return changed


def recreate_state_machines(
    stack: DeployedStack, stepfunctions: BaseClient
) -> tuple[dict[str, str], list[Gap]]:
    """Create each state machine in the executing Step Functions backend; ``{logical_id: arn}``."""
    arns: dict[str, str] = {}
    gaps = []
    for logical_id, resource in stack.of_type("AWS::StepFunctions::StateMachine"):
        properties = resource.get("Properties") or {}
        expected_arn = stack.physical_id(logical_id)
        request: dict[str, Any] = {
            "name": expected_arn.rsplit(":", 1)[1],
            "definition": state_machine_definition(stack, logical_id, properties),
            "roleArn": str(stack.resolve(properties.get("RoleArn", ""))),
            "type": properties.get("StateMachineType", "STANDARD"),
        }
        arn = stepfunctions.create_state_machine(**request)["stateMachineArn"]
        if arn != expected_arn:
            raise DeploymentError(
                f"{logical_id}: re-created as {arn}, but the stack's Ref gives {expected_arn}"
            )
        states = sorted(json.loads(request["definition"]).get("States", {}))
        arns[logical_id] = arn
        unapplied = [k for k in ("LoggingConfiguration", "TracingConfiguration") if k in properties]
        gaps.append(
            Gap(
                f"{logical_id} definition",
                f"re-created through the Step Functions API from the ASL file with DefinitionSubstitutions "
                f"resolved ({len(states)} states), same ARN"
                + (f"; {' and '.join(unapplied)} not applied locally" if unapplied else ""),
            )
        )
    return arns, gaps


def template_secrets(stack: DeployedStack) -> list[tuple[str, str]]:
    """``(logical_id, arn)`` of the secrets the template created."""
    return [
        (logical_id, resource.physical_id)
        for logical_id, resource in stack.created_by_api.items()
        if resource.type == "AWS::SecretsManager::Secret"
    ]


def put_api_key(secretsmanager: BaseClient, secret_arn: str, api_key: str) -> None:
    """Store ``api_key`` in the secret in its shape: ``{"api_key": ...}`` if it holds JSON, else plain."""
    current = secretsmanager.get_secret_value(SecretId=secret_arn).get("SecretString", "")
    try:
        document = json.loads(current)
    except ValueError:
        document = None
    if isinstance(document, dict):
        document["api_key"] = api_key
        value = json.dumps(document)
    else:
        value = api_key
    secretsmanager.put_secret_value(SecretId=secret_arn, SecretString=value)


def _map_states(states: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        if state.get("Type") == "Map":
            found.append((name, state))
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            found += _map_states(processor.get("States") or {})
        for branch in state.get("Branches") or []:
            found += _map_states(branch.get("States") or {})
    return found


def distributed_map_gaps(stack: DeployedStack) -> list[Gap]:
    """What ``moto_map_run`` does for the template's Distributed Maps, named for the summary."""
    gaps = []
    for logical_id, resource in stack.of_type("AWS::StepFunctions::StateMachine"):
        properties = resource.get("Properties") or {}
        definition = json.loads(state_machine_definition(stack, logical_id, properties, for_moto=False))
        for name, state in _map_states(definition.get("States") or {}):
            mode = ((state.get("ItemProcessor") or {}).get("ProcessorConfig") or {}).get("Mode")
            if mode != "DISTRIBUTED":
                continue
            done = [
                "items run in threads of the execution (MaxConcurrency of them), each thread looping "
                "over its items (moto's recurses, one frame per item)",
                "states:startExecution Parameters and results converted to and from boto3's names as "
                "AWS does (moto passes them as written), .sync polled every 2 s",
            ]
            if isinstance(state.get("ToleratedFailurePercentage"), int):
                done.append("ToleratedFailurePercentage written as a decimal for moto's grammar")
            if state["ItemProcessor"]["ProcessorConfig"].get("ExecutionType") == "EXPRESS":
                done.append("EXPRESS items written as STANDARD for moto's grammar (run alike, in threads)")
            gaps.append(Gap(f"{logical_id} Distributed Map {name!r}", "; ".join(done)))
    return gaps
