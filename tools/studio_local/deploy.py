"""Deploying a SAM template into moto: package, translate, check every resource type, create the stack.

The resources come from the template alone: ``deploy_template`` reads it, uploads its local
code to a deployment bucket, translates it with samtranslator, refuses types it cannot stand up
(``resource_types``), creates through the service API what moto's CloudFormation cannot
(a Secrets Manager secret), leaves out what cannot matter locally (queue policies, alarms), and
calls ``cloudformation.create_stack``. What moto then deploys incompletely is completed by
``gaps``.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from studio_local.cfn_yaml import load_template
from studio_local.intrinsics import evaluate_conditions, replace_references, resolve_static
from studio_local.moto_internals import cloudformation_types, resolve_in_stack
from studio_local.packaging import Artifact, package_template
from studio_local.parameters import (
    LOCAL_ACCOUNT_ID,
    as_cloudformation_parameters,
    pseudo_parameters,
    resolve_parameters,
)
from studio_local.resource_types import Handling, PlannedResource, plan_resources
from studio_local.translate import translate

DEPLOYMENT_BUCKET = "studio-local-deployment"
LEFT_OUT_MARK = "studio-local-left-out"
STACK_WAIT_SECONDS = 60.0


class DeploymentError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE, or a resource could not be stood up."""


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    type: str
    physical_id: str


@dataclass
class DeployedStack:
    """What ``deploy_template`` stood up: the template as deployed, its resources and outputs."""

    name: str
    stack_id: str
    region: str
    account_id: str
    base_dir: Path
    parameters: dict[str, str]
    template: dict[str, Any]
    artifacts: list[Artifact]
    plan: list[PlannedResource]
    resources: dict[str, StackResource]
    outputs: dict[str, str]
    created_by_api: dict[str, StackResource] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """A template fragment with its intrinsics resolved as moto resolved them in this stack."""
        return resolve_in_stack(self.account_id, self.region, self.stack_id, copy.deepcopy(value))

    def physical_id(self, logical_id: str) -> str:
        if logical_id in self.resources:
            return self.resources[logical_id].physical_id
        if logical_id in self.created_by_api:
            return self.created_by_api[logical_id].physical_id
        raise KeyError(f"the stack has no resource {logical_id}")

    def of_type(self, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
        """``(logical_id, resource)`` of the deployed template's resources of ``resource_type``."""
        return [
            (logical_id, resource)
            for logical_id, resource in self.template["Resources"].items()
            if resource.get("Type") == resource_type and logical_id in self.resources
        ]

    def planned(self, handling: Handling) -> list[PlannedResource]:
        return [p for p in self.plan if p.handling == handling]


def deploy_template(
    client: Callable[[str], BaseClient],
    template_path: Path,
    stack_name: str,
    region: str,
    overrides: Mapping[str, Any] | None = None,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> DeployedStack:
    """Deploy the SAM template at ``template_path`` into moto as stack ``stack_name``.

    ``client(service)`` gives a boto3 client bound to moto; ``overrides`` are parameter values.
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    sam_template = load_template(template_path)
    parameters = resolve_parameters(sam_template, overrides)
    s3 = client("s3")
    s3.create_bucket(Bucket=DEPLOYMENT_BUCKET)
    packaged, artifacts = package_template(
        sam_template,
        template_path.parent,
        DEPLOYMENT_BUCKET,
        lambda key, body: s3.put_object(Bucket=DEPLOYMENT_BUCKET, Key=key, Body=body),
    )
    timings["package"] = time.monotonic() - started

    mark = time.monotonic()
    translated = translate(packaged, parameters, region)
    timings["translate"] = time.monotonic() - mark
    plan = plan_resources(translated, cloudformation_types())

    mark = time.monotonic()
    static_values = {**parameters, **pseudo_parameters(stack_name, region, account_id)}
    conditions = evaluate_conditions(translated, static_values)
    template = copy.deepcopy(translated)
    created_by_api: dict[str, StackResource] = {}
    for item in plan:
        resource = template["Resources"][item.logical_id]
        condition = resource.get("Condition")
        if condition is not None and not conditions[condition]:
            continue  # moto skips it as CloudFormation would: its condition is false
        if item.handling == Handling.CREATED_BY_API:
            ref_value, attributes = create_by_api(client, item, resource, static_values, conditions)
            created_by_api[item.logical_id] = StackResource(item.logical_id, item.type, ref_value)
            template = _without_resource(template, item.logical_id, ref_value, attributes)
        elif item.handling == Handling.LEFT_OUT:
            placeholder = f"{LEFT_OUT_MARK}:{item.logical_id}"
            template = _without_resource(
                template, item.logical_id, placeholder, lambda a, p=placeholder: f"{p}.{a}"
            )
    timings["pre_create"] = time.monotonic() - mark

    mark = time.monotonic()
    cloudformation = client("cloudformation")
    stack_id = cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=as_cloudformation_parameters(parameters),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )["StackId"]
    stack = _wait_for_stack(cloudformation, stack_id)
    timings["create_stack"] = time.monotonic() - mark

    resources = {
        r["LogicalResourceId"]: StackResource(
            r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", "")
        )
        for r in cloudformation.describe_stack_resources(StackName=stack_id)["StackResources"]
        # moto lists a resource whose Condition is false as an entry without id or type.
        if "LogicalResourceId" in r
    }
    missing = sorted(
        p.logical_id
        for p in plan
        if p.handling in (Handling.DEPLOYED, Handling.COMPLETED)
        and p.logical_id not in resources
        and _condition_holds(template, p.logical_id, conditions)
    )
    if missing:
        raise DeploymentError(f"moto's CloudFormation did not create {', '.join(missing)}")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    timings["total"] = time.monotonic() - started
    return DeployedStack(
        name=stack_name,
        stack_id=stack_id,
        region=region,
        account_id=account_id,
        base_dir=template_path.parent,
        parameters=parameters,
        template=template,
        artifacts=artifacts,
        plan=plan,
        resources=resources,
        outputs=outputs,
        created_by_api=created_by_api,
        timings=timings,
    )


def _condition_holds(template: Mapping[str, Any], logical_id: str, conditions: Mapping[str, bool]) -> bool:
    condition = template["Resources"].get(logical_id, {}).get("Condition")
    return condition is None or conditions[condition]


def _without_resource(
    template: dict[str, Any], logical_id: str, ref_value: str, attributes: Any
) -> dict[str, Any]:
    remaining = {k: v for k, v in template.items() if k != "Resources"}
    remaining["Resources"] = {k: v for k, v in template["Resources"].items() if k != logical_id}
    return replace_references(remaining, logical_id, ref_value, attributes)


def _wait_for_stack(cloudformation: BaseClient, stack_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + STACK_WAIT_SECONDS
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return stack
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            reason = stack.get("StackStatusReason", "no reason given")
            raise DeploymentError(f"stack {stack['StackName']} is {status}: {reason}")
        time.sleep(0.1)


def create_by_api(
    client: Callable[[str], BaseClient],
    item: PlannedResource,
    resource: Mapping[str, Any],
    static_values: Mapping[str, str],
    conditions: Mapping[str, bool],
) -> tuple[str, dict[str, str]]:
    """Create ``resource`` through its service API; returns its ``Ref`` value and ``GetAtt`` attributes."""
    creators = {"AWS::SecretsManager::Secret": _create_secret}
    if item.type not in creators:
        raise DeploymentError(f"{item.logical_id} ({item.type}): no API creator is defined for this type")
    properties = resource.get("Properties") or {}

    def resolved(name: str) -> Any:
        # Only the properties a creator uses: a Tag that refers to a resource need not block it.
        return resolve_static(properties.get(name), static_values, conditions.__getitem__)

    return creators[item.type](client, item.logical_id, resolved)


def _create_secret(
    client: Callable[[str], BaseClient], logical_id: str, prop: Callable[[str], Any]
) -> tuple[str, dict[str, str]]:
    properties = {
        name: prop(name)
        for name in ("Name", "Description", "SecretString", "GenerateSecretString")
        if prop(name) is not None
    }
    secretsmanager = client("secretsmanager")
    # CloudFormation names an unnamed secret "<LogicalId>-<random>".
    suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    name = properties.get("Name") or f"{logical_id}-{suffix}"
    request: dict[str, Any] = {"Name": name}
    if "Description" in properties:
        request["Description"] = properties["Description"]
    if "SecretString" in properties:
        request["SecretString"] = properties["SecretString"]
    elif "GenerateSecretString" in properties:
        request["SecretString"] = _generated_secret_string(secretsmanager, properties["GenerateSecretString"])
    arn = secretsmanager.create_secret(**request)["ARN"]
    return arn, {"Id": arn}


def _generated_secret_string(secretsmanager: BaseClient, spec: Mapping[str, Any]) -> str:
    options = {
        key: spec[key]
        for key in (
            "ExcludeCharacters",
            "ExcludeLowercase",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "IncludeSpace",
            "PasswordLength",
            "RequireEachIncludedType",
        )
        if key in spec
    }
    password = secretsmanager.get_random_password(**options)["RandomPassword"]
    if "SecretStringTemplate" in spec and "GenerateStringKey" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password
