"""Which CloudFormation resource types the local stack can stand up, and how.

moto's CloudFormation skips a type it does not know with a log line and carries on, so a
template could deploy "successfully" without its queue policy or secret. ``plan_resources``
checks every resource of the translated template against ``RESOURCE_TYPES`` first: a type not in
the table stops the deployment with an error naming the resource and its type. To support a new
type, add a row saying how it is handled and (for ``COMPLETED`` / ``CREATED_BY_API``) the code
that does it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Handling(StrEnum):
    DEPLOYED = "deployed by moto's CloudFormation"
    COMPLETED = "deployed by moto's CloudFormation, then completed by studio_local"
    CREATED_BY_API = "created by studio_local through the service API (moto's CloudFormation cannot)"
    LEFT_OUT = "not deployed locally"


@dataclass(frozen=True)
class TypeHandling:
    handling: Handling
    note: str


RESOURCE_TYPES: Mapping[str, TypeHandling] = {
    "AWS::S3::Bucket": TypeHandling(
        Handling.COMPLETED,
        "NotificationConfiguration is applied with put_bucket_notification_configuration "
        "(moto's CloudFormation ignores it)",
    ),
    "AWS::SQS::Queue": TypeHandling(Handling.DEPLOYED, "RedrivePolicy and DLQ moves work in moto"),
    "AWS::DynamoDB::Table": TypeHandling(Handling.DEPLOYED, "keys, GSIs and TTL as declared"),
    "AWS::Lambda::Function": TypeHandling(
        Handling.COMPLETED,
        "its handler runs in this process with the environment moto stored (moto needs Docker to run code)",
    ),
    "AWS::Lambda::LayerVersion": TypeHandling(
        Handling.COMPLETED, "its local directory goes on the import path (moto ignores Layers)"
    ),
    "AWS::Lambda::EventSourceMapping": TypeHandling(
        Handling.COMPLETED,
        "moto's delivery is disabled; a poller thread delivers batches with its BatchSize and "
        "FunctionResponseTypes",
    ),
    "AWS::Lambda::Permission": TypeHandling(Handling.DEPLOYED, "recorded, not enforced locally"),
    "AWS::Lambda::Version": TypeHandling(Handling.DEPLOYED, "recorded; invocations run the local code"),
    "AWS::StepFunctions::StateMachine": TypeHandling(
        Handling.COMPLETED,
        "re-created through the Step Functions API from the ASL file with DefinitionSubstitutions "
        "resolved (moto's CloudFormation one is empty and cannot execute)",
    ),
    "AWS::SecretsManager::Secret": TypeHandling(
        Handling.CREATED_BY_API, "created with create_secret; Ref and GetAtt Id give its ARN"
    ),
    "AWS::IAM::Role": TypeHandling(
        Handling.DEPLOYED, "created; its policies are not enforced and ManagedPolicyArns are not attached"
    ),
    "AWS::IAM::Policy": TypeHandling(Handling.DEPLOYED, "created, not enforced locally"),
    "AWS::IAM::ManagedPolicy": TypeHandling(Handling.DEPLOYED, "created, not enforced locally"),
    "AWS::SSM::Parameter": TypeHandling(Handling.DEPLOYED, "readable through the SSM API"),
    "AWS::Logs::LogGroup": TypeHandling(
        Handling.DEPLOYED, "created; local Lambda logs go to this process's output, not to it"
    ),
    "AWS::CloudWatch::Dashboard": TypeHandling(
        Handling.DEPLOYED, "stored; there are no local metrics to show"
    ),
    "AWS::SNS::Topic": TypeHandling(Handling.DEPLOYED, "created; nothing subscribes locally"),
    "AWS::Events::EventBus": TypeHandling(
        Handling.DEPLOYED, "created in moto; put_events reaches the rules and SQS targets added to it"
    ),
    "AWS::Events::Rule": TypeHandling(
        Handling.DEPLOYED, "created in moto; its SQS targets receive matching events"
    ),
    "AWS::KMS::Key": TypeHandling(Handling.DEPLOYED, "created in moto"),
    "AWS::KMS::Alias": TypeHandling(Handling.DEPLOYED, "created in moto"),
    "AWS::SQS::QueuePolicy": TypeHandling(
        Handling.LEFT_OUT, "queue policies are not enforced locally (moto's CloudFormation has no support)"
    ),
    "AWS::S3::BucketPolicy": TypeHandling(
        Handling.LEFT_OUT, "bucket policies are not enforced locally (moto's CloudFormation has no support)"
    ),
    "AWS::CloudWatch::Alarm": TypeHandling(
        Handling.LEFT_OUT, "no metrics are published locally, so an alarm would have nothing to watch"
    ),
    "AWS::Logs::MetricFilter": TypeHandling(
        Handling.LEFT_OUT, "local Lambda logs do not reach CloudWatch Logs"
    ),
    "AWS::SNS::Subscription": TypeHandling(Handling.LEFT_OUT, "no notification leaves this machine"),
    "AWS::SNS::TopicPolicy": TypeHandling(Handling.LEFT_OUT, "topic policies are not enforced locally"),
}


class UnsupportedResourceError(ValueError):
    """The template has resources the local stack cannot stand up; the message names each one."""


@dataclass(frozen=True)
class PlannedResource:
    logical_id: str
    type: str
    handling: Handling
    note: str


def plan_resources(
    template: Mapping[str, Any],
    moto_types: Collection[str],
    table: Mapping[str, TypeHandling] = RESOURCE_TYPES,
) -> list[PlannedResource]:
    """How each resource of a translated (plain CloudFormation) template is handled locally.

    ``moto_types`` are the types moto's CloudFormation can create; a ``DEPLOYED`` / ``COMPLETED``
    row whose type moto lacks (another moto version) is refused like an unknown type.
    """
    planned: list[PlannedResource] = []
    problems: list[str] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind = str(resource.get("Type"))
        row = table.get(kind)
        if row is None:
            problems.append(f"{logical_id} ({kind}): no local handling is defined for this type")
            continue
        if row.handling in (Handling.DEPLOYED, Handling.COMPLETED) and kind not in moto_types:
            problems.append(f"{logical_id} ({kind}): this moto version's CloudFormation cannot create it")
            continue
        planned.append(PlannedResource(logical_id, kind, row.handling, row.note))
    if problems:
        raise UnsupportedResourceError(
            "the local stack cannot deploy the template: "
            + "; ".join(problems)
            + ". Add the type to studio_local.resource_types.RESOURCE_TYPES with how it is handled."
        )
    return planned
