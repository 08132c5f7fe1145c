"""The stack a command talks to: the local stack (its env file) or a deployed one (``--stack NAME``).

Both are CloudFormation stacks made from ``template.yaml``, so both are found the same way: by
their outputs (``StudioBucketName``, ``JobsTableName``, ``StateMachineArn``...) and parameters
(``InboxQuietSeconds``, the job defaults). The env file ``studio local up`` writes names the local
one (``STUDIO_STACK``) along with the values themselves, and ``AWS_ENDPOINT_URL`` points boto3
at it. Without either, ``STUDIO_BUCKET`` and ``STUDIO_TABLE`` alone are enough for most commands.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError

from studio_cli.errors import CliError, NotFound
from studio_cli.printable import printable_record
from studio_core.aws.budget import ImageBudget
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.budget import budget_day
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.record import JobRecord
from studio_core.settings import from_env, variables

# Fail fast when the stack is gone: a stopped local stack answers nothing, and botocore's
# default of several retries with backoff would keep a person waiting half a minute.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"})

# Template parameter -> the environment variable the functions read it as (one source of truth:
# the same names the settings loader uses).
DEFAULT_PARAMETERS = {
    "DefaultKind": "DEFAULT_KIND",
    "DefaultOnFigureImageTypes": "DEFAULT_ON_FIGURE_IMAGE_TYPES",
    "DefaultFlatLayImageTypes": "DEFAULT_FLAT_LAY_IMAGE_TYPES",
    "DefaultOperationPriority": "DEFAULT_OPERATION_PRIORITY",
    "DefaultNumberOfGenerations": "DEFAULT_NUMBER_OF_GENERATIONS",
    "DefaultInputMode": "DEFAULT_INPUT_MODE",
    "DefaultModelGender": "DEFAULT_MODEL_GENDER",
    "DeleteAtAiutaAfterCopy": "DELETE_AT_AIUTA_AFTER_COPY",
    "DefaultReview": "DEFAULT_REVIEW",
}
OUTPUTS = {
    "bucket": "StudioBucketName",
    "table": "JobsTableName",
    "state_machine_arn": "StateMachineArn",
    "queue_url": "IngestQueueUrl",
    "dead_letter_queue_url": "IngestDeadLetterQueueUrl",
    "event_bus": "EventBusName",
    "api_key_secret": "AiutaApiKeySecret",
    "catalogue_state_machine_arn": "CatalogueStateMachineArn",
}
ENVIRONMENT = {
    "bucket": "STUDIO_BUCKET",
    "table": "STUDIO_TABLE",
    "state_machine_arn": "STUDIO_STATE_MACHINE_ARN",
    "queue_url": "STUDIO_QUEUE_URL",
    "dead_letter_queue_url": "STUDIO_DEAD_LETTER_QUEUE_URL",
    "event_bus": "STUDIO_EVENT_BUS",
    "api_key_secret": "STUDIO_AIUTA_KEY_SECRET",
    "catalogue_state_machine_arn": "STUDIO_CATALOGUE_STATE_MACHINE_ARN",
    "aiuta_api_url": "AIUTA_API_URL",
    "name": "STUDIO_STACK",
}


@dataclass(frozen=True)
class Stack:
    """One Studio Pipeline stack, with clients bound to wherever it runs."""

    bucket: str
    table: str
    state_machine_arn: str | None = None
    queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    event_bus: str | None = None
    api_key_secret: str | None = None
    catalogue_state_machine_arn: str | None = None
    aiuta_api_url: str | None = None
    name: str | None = None  # the CloudFormation stack, when known
    given_parameters: Mapping[str, str] | None = field(default=None, compare=False)

    # --- finding it -------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Stack:
        """The stack the environment names: its values, else ``STUDIO_STACK``'s outputs."""
        environ = os.environ if environ is None else environ
        refuse_a_stopped_local_stack(environ)
        values = {attr: environ.get(var) or None for attr, var in ENVIRONMENT.items()}
        if values["name"]:
            try:
                named = cls.from_cloudformation(str(values["name"]))
            except (NotFound, CliError):
                named = None  # the environment's own values may still do
            if named is not None:
                given = {attr: value for attr, value in values.items() if value}
                return dataclasses.replace(named, **given)
        if values["bucket"] and values["table"]:
            return cls(**values)  # type: ignore[arg-type]
        raise CliError(
            "no stack to talk to: STUDIO_BUCKET and STUDIO_TABLE are not set",
            hint=(
                "start one with `studio local up` and source its env file (`. .local-stack/env`), "
                "or name a deployed stack: `studio --stack NAME ...`"
            ),
        )

    @classmethod
    def from_cloudformation(cls, name: str) -> Stack:
        """A deployed (or the local) stack, from its CloudFormation outputs and parameters."""
        cloudformation = client("cloudformation")
        try:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" in str(exc):
                raise NotFound(
                    f"there is no CloudFormation stack {name!r} in {region()}",
                    hint="check the name (`aws cloudformation list-stacks`) and AWS_REGION / AWS_PROFILE",
                ) from None
            raise
        outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        missing = [OUTPUTS[a] for a in ("bucket", "table") if not outputs.get(OUTPUTS[a])]
        if missing:
            raise CliError(
                f"stack {name!r} has no output {' or '.join(missing)}: is it a Studio Pipeline stack?",
                hint="deploy template.yaml (`sam deploy --guided`) or name the right stack",
            )
        values: dict[str, Any] = {attr: outputs.get(output) or None for attr, output in OUTPUTS.items()}
        return cls(
            **values,
            aiuta_api_url=parameters.get("AiutaApiUrl") or None,
            name=name,
            given_parameters=parameters,
        )

    # --- clients ----------------------------------------------------------------------------

    def s3(self) -> Any:
        return client("s3")

    def client(self, service: str) -> Any:
        return client(service)

    def jobs(self) -> ReadableJobs:
        return ReadableJobs(self.table, boto3.resource("dynamodb", config=CLIENT_CONFIG))

    def storage(self) -> Storage:
        return Storage(self.bucket, self.s3())

    # --- what the stack was deployed with -----------------------------------------------------

    @cached_property
    def parameters(self) -> Mapping[str, str]:
        """The template parameters, when the stack is known by name (empty otherwise)."""
        if self.given_parameters is not None:
            return self.given_parameters
        if not self.name:
            return {}
        try:
            stack = client("cloudformation").describe_stacks(StackName=self.name)["Stacks"][0]
        except ClientError:
            return {}
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}

    def job_defaults(self) -> JobDefaults:
        """The defaults ingest applies on this stack (the code's own when its parameters are unknown)."""
        environ = {
            variable: self.parameters[parameter]
            for parameter, variable in DEFAULT_PARAMETERS.items()
            if self.parameters.get(parameter)
        }
        assert set(environ) <= variables(JobDefaults)
        try:
            return from_env(JobDefaults, environ)
        except RuntimeError:
            return JobDefaults()

    def image_limits(self) -> tuple[int, int]:
        """(images per catalogue, images per day) this stack allows (0: no limit; the template's
        defaults when its parameters are unknown)."""

        def number(parameter: str, default: int) -> int:
            value = self.parameters.get(parameter, "")
            return int(value) if value.isdigit() else default

        return number("ImagesPerCatalogueLimit", 1000), number("ImagesPerDayLimit", 2000)

    def image_budget_used(self) -> int:
        """The images today's budget has given out (UTC day)."""
        _, per_day = self.image_limits()
        budget = ImageBudget(self.table, per_day, boto3.resource("dynamodb", config=CLIENT_CONFIG))
        return budget.used(budget_day(datetime.now(UTC)))

    def allow_private_image_urls(self) -> bool:
        """Whether ingest on this stack accepts image URLs on loopback or private hosts."""
        return self.parameters.get("AllowPrivateImageUrls") == "true"

    def quiet_seconds(self) -> int | None:
        value = self.parameters.get("InboxQuietSeconds")
        return int(value) if value and value.isdigit() else None

    # --- links a person follows ---------------------------------------------------------------

    @property
    def local(self) -> bool:
        return bool(os.environ.get("AWS_ENDPOINT_URL"))

    def execution_arn(self, record: JobRecord) -> str | None:
        if not self.state_machine_arn or not record.execution_name:
            return None
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{record.execution_name}"

    def console_url(self, execution_arn: str) -> str | None:
        """The Step Functions console page of an execution (none for the local stack)."""
        if self.local:
            return None
        where = execution_arn.split(":")[3]
        return (
            f"https://{where}.console.aws.amazon.com/states/home?region={where}"
            f"#/v2/executions/details/{quote(execution_arn, safe='')}"
        )

    def s3_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def refuse_a_stopped_local_stack(environ: Mapping[str, str]) -> None:
    """A sourced env file of a local stack whose process is gone: said before any AWS call waits."""
    pid = environ.get("STUDIO_LOCAL_PID", "")
    if not environ.get("AWS_ENDPOINT_URL") or not pid.isdigit():
        return
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        raise CliError(
            f"the local stack at {environ['AWS_ENDPOINT_URL']} does not answer: it has stopped "
            f"(its process {pid} is gone), but its environment is still set",
            hint=(
                "start it again (`studio local up`, then `. .local-stack/env`), "
                "or `unset AWS_ENDPOINT_URL STUDIO_LOCAL_PID` for AWS"
            ),
        ) from None
    except PermissionError:
        return  # another user's process of that number: alive


class DamagedRecord(CliError):
    """A job's item that is no job record: named with what is wrong, never a validation dump."""

    def __init__(self, damaged: Damaged, table: str) -> None:
        super().__init__(
            f"the record of job {damaged.job_id} is damaged: {damaged.problem}",
            hint=repair_hint(table, damaged.job_id),
        )
        self.damaged = damaged


@dataclass(frozen=True)
class Damaged:
    job_id: str
    problem: str  # in one line


def repair_hint(table: str, job_id: str) -> str:
    key = json.dumps({"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}})
    return (
        "a step invoked on a job that was never recorded writes such a half record; delete it: "
        f"aws dynamodb delete-item --table-name {table} --key '{key}'"
    )


def damage_of(job_id: str, error: ValidationError) -> Damaged:
    """What is wrong with an item, in a line: the fields it lacks, then the first other problems."""
    missing = [".".join(str(p) for p in e["loc"]) for e in error.errors() if e["type"] == "missing"]
    others = [
        f"{'.'.join(str(p) for p in e['loc']) or 'the item'}: {e['msg']}"
        for e in error.errors()
        if e["type"] != "missing"
    ]
    parts = ([f"it lacks {', '.join(missing)}"] if missing else []) + others[:2]
    more = f" (and {len(others) - 2} more)" if len(others) > 2 else ""
    return Damaged(job_id, "; ".join(parts) + more)


class ReadableJobs(JobsTable):
    """The jobs table as the CLI reads it: an item that is no valid job record is reported as
    damaged (``get`` raises ``DamagedRecord``; lists leave it out and keep it in ``damaged``), and
    every text of every record is safe to print (a title or an error text from Aiuta can carry
    terminal escape sequences; see ``printable``)."""

    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        super().__init__(table_name, dynamodb_resource)
        self.table_name = table_name
        self.damaged: dict[str, Damaged] = {}

    def get(self, job_id: str) -> JobRecord | None:
        try:
            record = super().get(job_id)
        except ValidationError as exc:
            damaged = damage_of(job_id, exc)
            self.damaged[job_id] = damaged
            raise DamagedRecord(damaged, self.table_name) from None
        return printable_record(record) if record is not None else None

    def all_jobs(self) -> list[JobRecord]:
        return sorted(self._read_all(self._table.scan, {}), key=lambda r: r.created_at)

    def _query(self, index: str, condition: Any) -> list[JobRecord]:
        return self._read_all(self._table.query, {"IndexName": index, "KeyConditionExpression": condition})

    def _read_all(self, read: Callable[..., dict[str, Any]], kwargs: dict[str, Any]) -> list[JobRecord]:
        records: list[JobRecord] = []
        while True:
            page = read(**kwargs)
            for item in page.get("Items", []):
                if item.get("sk") != "JOB":
                    continue
                document = _plain({k: v for k, v in item.items() if k not in KEY_ATTRIBUTES})
                try:
                    records.append(printable_record(JobRecord.model_validate(document)))
                except ValidationError as exc:
                    job_id = str(document.get("job_id") or str(item.get("pk", "")).removeprefix("JOB#"))
                    self.damaged[job_id] = damage_of(job_id, exc)
            if "LastEvaluatedKey" not in page:
                return records
            kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints and floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def client(service: str) -> Any:
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def region() -> str:
    return boto3.session.Session().region_name or "no region (set AWS_REGION)"
