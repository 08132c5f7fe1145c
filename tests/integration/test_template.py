"""template.yaml: what a deployment relies on, checked offline.

The first tests read the template as data (CloudFormation short tags become ``{"Ref": ...}`` /
``{"Fn::...": ...}`` dicts); some translate it with aws-sam-translator, as ``sam deploy`` would,
to check the IAM roles SAM generates. The last ones run the real tools from ``.venv-tools``
(``make tools``): sam validate --lint, cfn-lint, statelint and a no-Docker ``sam build``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_core.aiuta.client import DEFAULT_BASE_URL
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.polling import PollSettings
from studio_core.settings import (
    CapacityWaitSettings,
    CatalogueSettings,
    CheckStatusSettings,
    FinalizeSettings,
    IngestSettings,
    RecordFailureSettings,
    RegenerateSettings,
    ReviewSettings,
    SubmitSettings,
    from_env,
    variables,
)
from tests.support.template import load_template, props

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
TOOLS_BIN = REPO_ROOT / ".venv-tools" / "bin"
WHEELHOUSE = REPO_ROOT / ".venv-tools" / "wheelhouse"

FUNCTIONS = {
    "IngestFunction": "functions/ingest/",
    "SubmitFunction": "functions/submit/",
    "CheckStatusFunction": "functions/check_status/",
    "FinalizeFunction": "functions/finalize/",
    "RegenerateFunction": "functions/regenerate/",
    "RecordFailureFunction": "functions/record_failure/",
    "PlanCapacityWaitFunction": "functions/plan_capacity_wait/",
    "CatalogueFunction": "functions/catalogue/",
    "ReviewFunction": "functions/review/",
}
# Every variable the brief names, with the parameter behind it (None: not a parameter).
GLOBAL_ENV = {
    "AIUTA_API_URL": "AiutaApiUrl",
    "AIUTA_API_KEY_SECRET": None,
    "AIUTA_RETRY_ATTEMPTS": "AiutaRetryAttempts",
    "AIUTA_RETRY_BACKOFF_FACTOR": "AiutaRetryBackoffFactor",
    "ALLOW_LOOPBACK_URLS": "AllowLoopbackUrls",
    "DEFAULT_KIND": "DefaultKind",
    "DEFAULT_ON_FIGURE_IMAGE_TYPES": "DefaultOnFigureImageTypes",
    "DEFAULT_FLAT_LAY_IMAGE_TYPES": "DefaultFlatLayImageTypes",
    "DEFAULT_OPERATION_PRIORITY": "DefaultOperationPriority",
    "DEFAULT_NUMBER_OF_GENERATIONS": "DefaultNumberOfGenerations",
    "DEFAULT_INPUT_MODE": "DefaultInputMode",
    "DELETE_AT_AIUTA_AFTER_COPY": "DeleteAtAiutaAfterCopy",
    "POLL_FIRST_WAIT_ONLINE_SECONDS": "PollFirstWaitOnlineSeconds",
    "POLL_FIRST_WAIT_OFFLINE_SECONDS": "PollFirstWaitOfflineSeconds",
    "POLL_MIN_WAIT_SECONDS": "PollMinWaitSeconds",
    "POLL_MAX_WAIT_SECONDS": "PollMaxWaitSeconds",
    "POLL_BACKOFF_FACTOR": "PollBackoffFactor",
    "JOB_DEADLINE_ONLINE_SECONDS": "JobDeadlineOnlineSeconds",
    "JOB_DEADLINE_OFFLINE_SECONDS": "JobDeadlineOfflineSeconds",
    "INBOX_QUIET_SECONDS": "InboxQuietSeconds",
    "PRESIGNED_URL_TTL_SECONDS": "PresignedUrlTtlSeconds",
    "RESULT_IMAGE_MAX_MEGABYTES": "ResultImageMaxMegabytes",
    "RESULT_IMAGE_COPY_SECONDS": "ResultImageCopySeconds",
    "ALLOW_PRIVATE_IMAGE_URLS": "AllowPrivateImageUrls",
    "POWERTOOLS_LOG_LEVEL": "LogLevel",
    "STUDIO_BUCKET": None,
    "JOBS_TABLE": None,
    "IDEMPOTENCY_TABLE": None,
    "POWERTOOLS_SERVICE_NAME": None,
    "POWERTOOLS_METRICS_NAMESPACE": None,
    "CAPACITY_TABLE": None,
    "AIUTA_REQUESTS_PER_SECOND": "AiutaRequestsPerSecond",
    "AIUTA_REQUEST_BURST": "AiutaRequestBurst",
    "AIUTA_OPERATIONS_IN_FLIGHT": "AiutaOperationsInFlight",
    "CAPACITY_WAIT_MAX_SECONDS": "CapacityWaitMaxSeconds",
    "IMAGES_PER_DAY_LIMIT": "ImagesPerDayLimit",
    "IMAGES_PER_CATALOGUE_LIMIT": "ImagesPerCatalogueLimit",
    "MAX_REGENERATION_ROUNDS": "MaxRegenerationRounds",
    "DEFAULT_REVIEW": "DefaultReview",
    "REVIEW_DEADLINE_SECONDS": "ReviewDeadlineSeconds",
    "PUBLISHED_BASE_URL": "PublishedBaseUrl",
}
INGEST_ONLY_ENV = {"STATE_MACHINE_ARN", "INGEST_QUEUE_URL", "CATALOGUE_STATE_MACHINE_ARN"}
STACK_UUID = "1c2fa620-982a-11e3-aff7-50e2416294e0"


# ---------------------------------------------------------------- reading the template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def references(value: Any) -> set[str]:
    """Logical ids and parameters a value refers to with Ref, GetAtt or ${...} in Sub (not AWS::...)."""
    found: set[str] = set()
    for node in walk(value):
        if not isinstance(node, dict):
            continue
        if "Ref" in node:
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
            names = {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
            found.update(names - set(local))
    return {name for name in found if not name.startswith("AWS::")}


def global_env(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]


# ---------------------------------------------------------------- functions and settings


def test_it_is_a_sam_template_with_python_3_13_traced_functions_on_the_common_layer(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    function_globals = template["Globals"]["Function"]

    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    layer = resources["CommonLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/common"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    # Built by its own Makefile: the arm64 wheels, studio_core and their bytecode
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert "build-CommonLayer:" in (REPO_ROOT / "layers/common/Makefile").read_text()
    assert (REPO_ROOT / "layers/common/requirements.txt").is_file()
    assert (REPO_ROOT / "layers/common/studio_core/__init__.py").is_file()


def test_the_functions_point_at_their_handlers(resources: dict[str, Any]) -> None:
    functions = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    assert {name: p["CodeUri"] for name, p in functions.items()} == FUNCTIONS
    assert {p["Handler"] for p in functions.values()} == {"app.lambda_handler"}


@pytest.mark.parametrize(("function", "code_uri"), sorted(FUNCTIONS.items()))
def test_every_code_uri_has_an_app_py_with_lambda_handler(function: str, code_uri: str) -> None:
    # Given the function's code directory
    app = REPO_ROOT / code_uri / "app.py"
    assert app.is_file(), f"{function}: {app} is missing"

    # Then app.py defines lambda_handler at module level (read, not imported: importing reads the env)
    tree = ast.parse(app.read_text())
    handlers = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "lambda_handler"
    ]
    assert handlers, f"{function}: {app} has no lambda_handler"
    assert len(handlers[0].args.args) == 2, "lambda_handler(event, context)"


FUNCTION_SETTINGS = {
    "IngestFunction": IngestSettings,
    "SubmitFunction": SubmitSettings,
    "CheckStatusFunction": CheckStatusSettings,
    "FinalizeFunction": FinalizeSettings,
    "RegenerateFunction": RegenerateSettings,
    "RecordFailureFunction": RecordFailureSettings,
    "PlanCapacityWaitFunction": CapacityWaitSettings,
    "CatalogueFunction": CatalogueSettings,
    "ReviewFunction": ReviewSettings,
}


@pytest.mark.parametrize(("function", "model"), FUNCTION_SETTINGS.items())
def test_every_setting_a_function_reads_is_set_for_it(
    template: dict[str, Any], resources: dict[str, Any], function: str, model: type[Any]
) -> None:
    # Given what the function's settings model reads from the environment at cold start
    read = variables(model) | {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
    own = (props(resources, function).get("Environment") or {}).get("Variables") or {}
    everywhere = global_env(template)

    # Then the template sets every one of them for that function (Globals or its own Environment)
    missing = sorted(read - set(everywhere) - set(own))
    assert not missing, f"{function} reads {missing}: set them in template.yaml"
    # And its handler loads exactly that model at cold start
    app = (REPO_ROOT / props(resources, function)["CodeUri"] / "app.py").read_text()
    assert f"from_env({model.__name__})" in app


def test_only_ingest_has_variables_of_its_own(template: dict[str, Any], resources: dict[str, Any]) -> None:
    everywhere = global_env(template)
    ingest = props(resources, "IngestFunction")["Environment"]["Variables"]

    assert set(GLOBAL_ENV) <= set(everywhere)
    assert set(ingest) == INGEST_ONLY_ENV
    assert ingest["STATE_MACHINE_ARN"] == {"Ref": "StudioJobStateMachine"}
    assert ingest["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    assert everywhere["POWERTOOLS_SERVICE_NAME"] == "studio-pipeline"
    assert everywhere["POWERTOOLS_METRICS_NAMESPACE"] == "StudioPipeline"
    assert everywhere["STUDIO_BUCKET"] == {"Ref": "StudioBucket"}
    assert everywhere["JOBS_TABLE"] == {"Ref": "JobsTable"}
    assert everywhere["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}


def test_settings_come_from_parameters(template: dict[str, Any]) -> None:
    env = global_env(template)
    parameters = template["Parameters"]

    for variable, parameter in GLOBAL_ENV.items():
        if parameter:
            assert env[variable] == {"Ref": parameter}, variable
            assert parameter in parameters, parameter
    for variable, value in env.items():
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in parameters:
            assert variable in GLOBAL_ENV or variable in set(variables(JobDefaults)), variable


def test_the_api_key_secret_is_created_only_when_no_arn_is_given(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    secret_choice = {
        "Fn::If": ["CreateApiKeySecret", {"Ref": "AiutaApiKeySecret"}, {"Ref": "AiutaApiKeySecretArn"}]
    }

    assert template["Parameters"]["AiutaApiKeySecretArn"]["Default"] == ""
    assert template["Conditions"]["CreateApiKeySecret"] == {
        "Fn::Equals": [{"Ref": "AiutaApiKeySecretArn"}, ""]
    }
    assert resources["AiutaApiKeySecret"]["Condition"] == "CreateApiKeySecret"
    assert json.loads(props(resources, "AiutaApiKeySecret")["SecretString"]) == {"api_key": "replace-me"}
    assert global_env(template)["AIUTA_API_KEY_SECRET"] == secret_choice
    assert template["Outputs"]["AiutaApiKeySecret"]["Value"] == secret_choice


def test_parameter_defaults_are_the_code_defaults(template: dict[str, Any]) -> None:
    # Given the environment a stack deployed with default parameters gives the functions
    parameters = template["Parameters"]
    environ = {
        variable: str(parameters[value["Ref"]]["Default"])
        for variable, value in global_env(template).items()
        if isinstance(value, dict) and value.get("Ref") in parameters
    }

    # Then the settings read from it are the code's own defaults
    assert from_env(PollSettings, environ) == PollSettings()
    assert from_env(JobDefaults, environ) == JobDefaults()
    required = {
        "STUDIO_BUCKET": "b",
        "JOBS_TABLE": "t",
        "IDEMPOTENCY_TABLE": "i",
        "AIUTA_API_KEY_SECRET": "s",
    }
    required |= {"STATE_MACHINE_ARN": "arn", "INGEST_QUEUE_URL": "q", "CATALOGUE_STATE_MACHINE_ARN": "arn"}
    for model in FUNCTION_SETTINGS.values():
        assert from_env(model, {**environ, **required}) == from_env(model, required), model.__name__
    assert environ["AIUTA_API_URL"] == DEFAULT_BASE_URL


def test_every_parameter_is_constrained(template: dict[str, Any]) -> None:
    for name, parameter in template["Parameters"].items():
        constrained = (
            "AllowedValues" in parameter
            or "AllowedPattern" in parameter
            or {"MinValue", "MaxValue"} <= set(parameter)
        )
        assert constrained, f"parameter {name} accepts anything"
    assert template["Parameters"]["DefaultNumberOfGenerations"]["MinValue"] == 1
    assert template["Parameters"]["DefaultNumberOfGenerations"]["MaxValue"] == 4


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_has_a_log_group_with_retention(resources: dict[str, Any], function: str) -> None:
    groups = [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Logs::LogGroup"
        and resource["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    ]

    assert len(groups) == 1
    assert groups[0]["RetentionInDays"]


# ---------------------------------------------------------------- intake: bucket, queue, tables


def test_ingest_reads_the_queue_and_reports_partial_batch_failures(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    ingest = props(resources, "IngestFunction")
    (event,) = ingest["Events"].values()
    queue = props(resources, "IngestQueue")
    timeout = ingest.get("Timeout", template["Globals"]["Function"]["Timeout"])

    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["SqsManagedSseEnabled"] is True
    assert props(resources, "IngestDeadLetterQueue")["SqsManagedSseEnabled"] is True


def test_the_bucket_is_private_encrypted_versioned_and_tls_only(resources: dict[str, Any]) -> None:
    bucket = props(resources, "StudioBucket")
    policy = props(resources, "StudioBucketPolicy")

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert any("NoncurrentVersionExpiration" in rule for rule in bucket["LifecycleConfiguration"]["Rules"])
    # The answers checks keep for the copy go after a week
    (answers,) = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "answers/"]
    assert answers["Status"] == "Enabled" and answers["ExpirationInDays"] == 7

    assert policy["Bucket"] == {"Ref": "StudioBucket"}
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["StudioBucket", "Arn"]},
        {"Fn::Sub": "${StudioBucket.Arn}/*"},
    ]


def test_inbox_regenerate_cancel_and_review_uploads_notify_the_ingest_queue_without_a_cycle(
    resources: dict[str, Any],
) -> None:
    bucket = resources["StudioBucket"]
    queue_policy = props(resources, "IngestQueuePolicy")
    notifications = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]

    # The notifications: every ObjectCreated under inbox/, regenerate/, cancel/ and review/ goes to the
    # ingest queue
    prefixes = set()
    for notification in notifications:
        assert notification["Event"] == "s3:ObjectCreated:*"
        assert notification["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
        (rule,) = notification["Filter"]["S3Key"]["Rules"]
        assert rule["Name"] == "prefix"
        prefixes.add(rule["Value"])
    assert prefixes == {"inbox/", "regenerate/", "cancel/", "review/"}

    # S3 may send to the queue only for this bucket and account...
    (allow,) = queue_policy["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    bucket_name = bucket["Properties"]["BucketName"]["Fn::Sub"]
    assert source_arn[0] == "arn:${AWS::Partition}:s3:::" + bucket_name[0]
    assert source_arn[1] == bucket_name[1]

    # ...and the policy exists before the bucket, naming it without referring to it (no cycle)
    assert bucket["DependsOn"] == "IngestQueuePolicy"
    assert "StudioBucket" not in references(resources["IngestQueuePolicy"])
    assert "StudioBucket" not in references(resources["IngestQueue"])
    assert "StudioBucket" not in references(resources["IngestDeadLetterQueue"])


def test_the_bucket_name_is_lower_case_whatever_the_stack_is_called(resources: dict[str, Any]) -> None:
    # Given the name as CloudFormation would build it for a stack called "Studio-Pipeline"
    text, variables = props(resources, "StudioBucket")["BucketName"]["Fn::Sub"]
    stack_id = "arn:aws:cloudformation:eu-west-1:123456789012:stack/Studio-Pipeline/" + STACK_UUID
    suffix = variables["StackSuffix"]["Fn::Select"]
    assert suffix[1]["Fn::Split"][1]["Fn::Select"][1]["Fn::Split"] == ["/", {"Ref": "AWS::StackId"}]
    uuid = stack_id.split("/")[suffix[1]["Fn::Split"][1]["Fn::Select"][0]]
    name = (
        text.replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${StackSuffix}", uuid.split("-")[suffix[0]])
    )

    # Then it is a valid S3 bucket name
    assert name == "studio-123456789012-eu-west-1-1c2fa620"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name)


def test_tables_have_the_keys_and_indexes_the_code_queries(resources: dict[str, Any]) -> None:
    jobs = props(resources, "JobsTable")
    idempotency = props(resources, "IdempotencyTable")

    assert jobs["BillingMode"] == "PAY_PER_REQUEST"
    assert jobs["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in jobs["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"ByProduct", "ByStatus"}
    for name, prefix in (("ByProduct", "gsi1"), ("ByStatus", "gsi2")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
            {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    defined = {a["AttributeName"]: a["AttributeType"] for a in jobs["AttributeDefinitions"]}
    assert defined == dict.fromkeys(("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"), "S")

    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for table in (jobs, idempotency):
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"] == {"SSEEnabled": True}


# ---------------------------------------------------------------- permissions


def test_functions_use_policy_templates_or_scoped_s3_statements(resources: dict[str, Any]) -> None:
    import samtranslator

    templates_file = Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
    known = set(json.loads(templates_file.read_text())["Templates"])
    for name in FUNCTIONS:
        for policy in props(resources, name).get("Policies", []):
            assert isinstance(policy, dict), f"{name}: {policy!r} is not a policy template"
            if "Statement" in policy:
                # An inline statement is for S3 prefixes (no policy template scopes to a prefix).
                for statement in policy["Statement"]:
                    actions = as_list(statement["Action"])
                    assert all(a.startswith("s3:") for a in actions), f"{name}: {actions}"
                continue
            (template_name,) = policy
            assert template_name in known, f"{name}: {template_name} is not a SAM policy template"
            assert not template_name.startswith("S3"), f"{name}: {template_name} covers the whole bucket"


# What each function may do in the bucket: (action, object ARN after the bucket) pairs, and the
# prefixes it may list. Read from the code (steps/, aws/gallery.py, domain/keys.py). An object read
# because of an event is read at the event's version: GetObjectVersion with GetObject.
READ_VERSIONS = ("s3:GetObject", "s3:GetObjectVersion")
S3_ACCESS = {
    "IngestFunction": (
        {
            # what arrives, at the version its event names; a late approval reads the job's images
            *(
                (action, prefix)
                for action in READ_VERSIONS
                for prefix in ("inbox/*", "regenerate/*", "cancel/*", "review/*", "outbox/*", "published/*")
            ),
            ("s3:PutObject", "inbox/*.error.json"),
            ("s3:PutObject", "inbox/*/_error.json"),
            ("s3:PutObject", "regenerate/*.error.json"),
            ("s3:PutObject", "cancel/*.error.json"),
            ("s3:PutObject", "cancel/*.done.json"),
            ("s3:PutObject", "review/*.error.json"),
            ("s3:PutObject", "review/*.done.json"),
            ("s3:PutObject", "outbox/*/converted/*"),  # a HEIC photo's JPEG
            ("s3:PutObject", "published/*"),  # a late approval, published at once
            ("s3:DeleteObject", "published/*"),
        },
        {"inbox/*", "regenerate/*", "cancel/*", "review/*", "outbox/*", "published/*"},
    ),
    "SubmitFunction": (
        {(action, prefix) for action in READ_VERSIONS for prefix in ("inbox/*", "outbox/*/converted/*")},
        set(),
    ),
    # the answer of a check that saw an operation succeed, kept for the copy
    "CheckStatusFunction": ({("s3:PutObject", "answers/*")}, set()),
    "RegenerateFunction": (
        {(action, prefix) for action in READ_VERSIONS for prefix in ("inbox/*", "outbox/*/converted/*")},
        set(),
    ),
    "PlanCapacityWaitFunction": (set(), set()),
    "FinalizeFunction": (
        {
            ("s3:GetObject", "outbox/*"),
            ("s3:PutObject", "outbox/*"),
            ("s3:AbortMultipartUpload", "outbox/*"),
            ("s3:GetObject", "inbox/*"),
            ("s3:GetObject", "answers/*"),  # the answer its check kept
        },
        {"outbox/*"},
    ),
    "RecordFailureFunction": (
        {("s3:GetObject", "outbox/*"), ("s3:PutObject", "outbox/*"), ("s3:GetObject", "inbox/*")},
        {"outbox/*"},
    ),
    "CatalogueFunction": (
        {
            *((action, f"inbox/*.{suffix}") for action in READ_VERSIONS for suffix in ("csv", "jsonl")),
            ("s3:GetObject", "inbox/*.report/*"),
            ("s3:PutObject", "inbox/*.report/*"),
            ("s3:PutObject", "inbox/*.error.json"),
        },
        {"inbox/*"},
    ),
    "ReviewFunction": (
        {
            ("s3:GetObject", "outbox/*"),
            ("s3:GetObject", "inbox/*"),
            ("s3:GetObject", "published/*"),
            ("s3:PutObject", "outbox/*"),
            ("s3:PutObject", "published/*"),
            ("s3:AbortMultipartUpload", "outbox/*"),
            ("s3:AbortMultipartUpload", "published/*"),
            ("s3:DeleteObject", "published/*"),
        },
        {"outbox/*", "published/*"},
    ),
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_reaches_only_its_prefixes(resources: dict[str, Any], function: str) -> None:
    objects: set[tuple[str, str]] = set()
    listed: set[str] = set()
    bucket = "arn:${AWS::Partition}:s3:::${StudioBucket}"
    for policy in props(resources, function).get("Policies", []):
        for statement in policy.get("Statement", []):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for arn in as_list(statement["Resource"]):
                    text = arn["Fn::Sub"]
                    if action in ("s3:ListBucket", "s3:ListBucketVersions"):
                        assert text == bucket
                        prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
                        listed |= set(as_list(prefixes))
                    else:
                        assert text.startswith(bucket + "/"), text
                        objects.add((action, text.removeprefix(bucket + "/")))
    assert (objects, listed) == S3_ACCESS[function]


def iam_statements(translated: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                statements = policy["PolicyDocument"]["Statement"]
                for statement in statements if isinstance(statements, list) else [statements]:
                    yield name, statement


def test_no_iam_statement_allows_every_action(translated: dict[str, Any]) -> None:
    # Given every statement of every role SAM generates (policy templates expanded)
    statements = list(iam_statements(translated))
    assert statements

    # Then no Allow grants "*" or a whole service ("s3:*")
    for role, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{role} allows {action}"


def test_the_state_machine_may_invoke_exactly_the_task_functions(translated: dict[str, Any]) -> None:
    invoked = set()
    for role, statement in iam_statements(translated):
        if role == "StudioJobStateMachineRole" and "lambda:InvokeFunction" in statement["Action"]:
            invoked |= references(statement["Resource"])

    assert invoked == set(FUNCTIONS) - {"IngestFunction", "CatalogueFunction"}


def test_each_function_role_reaches_only_what_it_needs(translated: dict[str, Any]) -> None:
    def reached(role: str) -> set[str]:
        return {
            name
            for role_name, statement in iam_statements(translated)
            if role_name == role
            for name in references(statement.get("Resource"))
        }

    assert "StudioJobStateMachine" in reached("IngestFunctionRole")
    assert "AiutaApiKeySecret" not in reached("IngestFunctionRole")
    assert "AiutaApiKeySecret" not in reached("RecordFailureFunctionRole")
    for role in (
        "SubmitFunctionRole",
        "CheckStatusFunctionRole",
        "FinalizeFunctionRole",
        "RegenerateFunctionRole",
    ):
        assert "AiutaApiKeySecret" in reached(role), role
    assert "IdempotencyTable" in reached("SubmitFunctionRole")
    # The status check reaches the bucket only to keep an answer for the copy
    on_bucket = [
        statement
        for role_name, statement in iam_statements(translated)
        if role_name == "CheckStatusFunctionRole" and "StudioBucket" in references(statement.get("Resource"))
    ]
    assert [(s["Action"], json.dumps(s["Resource"])) for s in on_bucket] == [
        ("s3:PutObject", json.dumps({"Fn::Sub": "arn:${AWS::Partition}:s3:::${StudioBucket}/answers/*"}))
    ]


# ---------------------------------------------------------------- the workflow


def test_state_machine_substitutions_cover_the_definition(resources: dict[str, Any]) -> None:
    machine = props(resources, "StudioJobStateMachine")
    definition = (REPO_ROOT / machine["DefinitionUri"]).read_text()
    substitutions = machine["DefinitionSubstitutions"]

    assert machine["Type"] == "STANDARD"
    assert set(re.findall(r"\$\{(\w+)\}", definition)) == set(substitutions)
    for key, value in substitutions.items():
        function = key.removesuffix("Arn")
        assert value == {"Fn::GetAtt": [function, "Arn"]}
        assert resources[function]["Type"] == "AWS::Serverless::Function"


def test_state_machine_is_traced_and_logs_errors_without_execution_data(resources: dict[str, Any]) -> None:
    machine = props(resources, "StudioJobStateMachine")

    assert machine["Tracing"] == {"Enabled": True}
    assert machine["Logging"]["Level"] in {"ERROR", "ALL"}
    assert machine["Logging"]["IncludeExecutionData"] is False
    (destination,) = machine["Logging"]["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert resources[group]["Type"] == "AWS::Logs::LogGroup"
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in machine["Policies"]
        if "LambdaInvokePolicy" in p
    }
    assert invoked == set(FUNCTIONS) - {"IngestFunction", "CatalogueFunction"}


# ---------------------------------------------------------------- operations


def test_alarms_watch_the_dead_letter_queue_executions_and_key_functions(resources: dict[str, Any]) -> None:
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {
        (alarm["Namespace"], alarm["MetricName"], json.dumps(alarm["Dimensions"][0]["Value"], sort_keys=True))
        for alarm in alarms
    }

    assert watched == {
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}),
        ),
        ("AWS/States", "ExecutionsFailed", json.dumps({"Ref": "StudioJobStateMachine"})),
        ("AWS/States", "ExecutionsTimedOut", json.dumps({"Ref": "StudioJobStateMachine"})),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": "IngestFunction"})),
        ("AWS/Lambda", "Errors", json.dumps({"Ref": "FinalizeFunction"})),
        ("StudioPipeline", "JobsPartial", json.dumps("studio-pipeline")),
        ("StudioPipeline", "JobEventsNotPut", json.dumps("studio-pipeline")),
        ("StudioPipeline", "CapacityWaitsGivenUp", json.dumps("studio-pipeline")),
        ("AWS/States", "ExecutionsFailed", json.dumps({"Ref": "CatalogueStateMachine"})),
    }
    for alarm in alarms:
        assert alarm["AlarmDescription"]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_is_valid_json_with_the_pipeline_metrics(resources: dict[str, Any]) -> None:
    # Given the dashboard body with its ${...} substitutions filled in
    body = props(resources, "StudioDashboard")["DashboardBody"]["Fn::Sub"]
    assert references({"Fn::Sub": body}) <= set(resources)
    rendered = re.sub(r"\$\{[^}]+\}", "x", body)

    # Then it parses, and charts every StudioPipeline metric the code publishes
    dashboard = json.loads(rendered)
    metrics = {
        line[1]
        for widget in dashboard["widgets"]
        for line in widget["properties"].get("metrics", [])  # the alarm widget has none
        if line[0] == "StudioPipeline"
    }
    assert {
        "JobsStarted",
        "JobsSucceeded",
        "JobsFailed",
        "JobsPartial",
        "UnknownOperationStatus",
        "ImagesCopied",
        "AiutaErrors",
        "OperationDuration",
        "CopiesFromKeptAnswers",
        "CopiesAskingAiuta",
        "AnswersNotKept",
    } <= metrics


def test_outputs_name_what_a_user_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]

    assert {
        "StudioBucketName",
        "StateMachineArn",
        "JobsTableName",
        "IdempotencyTableName",
        "IngestQueueUrl",
        "IngestDeadLetterQueueUrl",
        "AiutaApiKeySecret",
    } <= set(outputs)
    assert outputs["StudioBucketName"]["Value"] == {"Ref": "StudioBucket"}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": "StudioJobStateMachine"}
    assert outputs["IngestDeadLetterQueueUrl"]["Value"] == {"Ref": "IngestDeadLetterQueue"}


def test_sam_translates_the_template(translated: dict[str, Any]) -> None:
    types = {resource["Type"] for resource in translated["Resources"].values()}

    assert "AWS::Serverless::Function" not in types
    assert {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::EventSourceMapping",
    } <= types
    mapping = next(
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    )
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# ---------------------------------------------------------------- the real tools (make tools)

needs_tools = pytest.mark.skipif(
    not (TOOLS_BIN / "sam").exists(),
    reason=".venv-tools is missing: `make tools` installs sam, cfn-lint and statelint for these checks",
)


def tool_env() -> dict[str, str]:
    return {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}


def run_tool(*command: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (our own tool paths)
        [str(part) for part in command],
        cwd=REPO_ROOT,
        env=env or tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result


@needs_tools
@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    result = run_tool(TOOLS_BIN / "sam", "validate", "--lint", "--template", TEMPLATE_PATH)

    assert "is a valid SAM Template" in result.stdout + result.stderr


@needs_tools
@pytest.mark.slow
def test_cfn_lint_has_no_findings() -> None:
    result = run_tool(TOOLS_BIN / "cfn-lint", TEMPLATE_PATH)

    assert result.stdout.strip() == ""


@needs_tools
def test_statelint_accepts_the_definition_with_substitutions_applied(tmp_path: Path) -> None:
    from tests.support.stepfunctions import TASK_FUNCTIONS, render_definition

    arns = {
        key: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for key, name in TASK_FUNCTIONS.items()
    }
    definition = tmp_path / "studio_job.asl.json"
    definition.write_text(render_definition(arns))

    run_tool(TOOLS_BIN / "statelint", definition)


def python313_bin() -> Path | None:
    """A directory whose python3.13 runs: pyenv's 3.13.0 first (its shim on PATH may not), else PATH's."""
    candidates = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        prefix = subprocess.run(  # noqa: S603
            [pyenv, "prefix", "3.13.0"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if prefix:
            candidates.append(Path(prefix) / "bin")
    on_path = shutil.which("python3.13")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        interpreter = candidate / "python3.13"
        if interpreter.exists() and runs(interpreter):
            return candidate
    return None


def python313_build_env() -> tuple[Path, dict[str, str]]:
    """python3.13's bin directory and an environment with it first on PATH, taking the layer's
    wheels from the wheelhouse `make tools` filled when it matches the requirements (offline);
    skips the test without python3.13 (the layer's build needs it without Docker)."""
    bin_dir = python313_bin()
    if bin_dir is None:
        pytest.skip(
            "no python3.13 here (pyenv 3.13.0): building the layer for python3.13 needs it without Docker"
        )
    env = {**tool_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    digest = hashlib.sha256((REPO_ROOT / "layers/common/requirements.txt").read_bytes()).hexdigest()
    stamp = WHEELHOUSE / ".requirements.sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        env |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}
    return bin_dir, env


def runs(interpreter: Path) -> bool:
    return subprocess.run([interpreter, "-V"], capture_output=True, check=False).returncode == 0  # noqa: S603


@needs_tools
@pytest.mark.slow
def test_sam_build_succeeds_without_docker(tmp_path: Path) -> None:
    # Given python3.13 on PATH (sam builds the python3.13 runtime without Docker then)
    _, env = python313_build_env()

    # When sam builds the template
    build_dir = tmp_path / "build"
    result = run_tool(
        TOOLS_BIN / "sam", "build", "--template", TEMPLATE_PATH, "--build-dir", build_dir, env=env
    )

    # Then every function and the layer are built, the layer with studio_core and arm64 wheels
    assert "Build Succeeded" in result.stdout
    for function in FUNCTIONS:
        assert (build_dir / function / "app.py").is_file(), function
    layer = build_dir / "CommonLayer" / "python"
    assert (layer / "studio_core" / "domain" / "state.py").is_file()
    compiled = [path.name for path in layer.rglob("*.so")]
    assert compiled and not [name for name in compiled if "x86_64" in name]
    # and every module of the layer with its python3.13 bytecode, checked against the source's hash
    sources = list(layer.rglob("*.py"))
    without = [path for path in sources if bytecode_flags(path, "cpython-313") != CHECKED_HASH]
    assert sources and not without, (
        f"{len(without)} of {len(sources)} without hash-based bytecode: {without[:3]}"
    )


# PEP 552: a .pyc's second word; 0b11 is "hash-based, checked against the source".
CHECKED_HASH = 0b11


def bytecode_flags(source: Path, tag: str) -> int | None:
    """The flags of ``source``'s bytecode for ``tag`` (``cpython-313``), None if it has none."""
    cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    if not cached.is_file():
        return None
    return int.from_bytes(cached.read_bytes()[4:8], "little")


@needs_tools
@pytest.mark.slow
def test_the_built_layer_loads_from_its_bytecode_when_its_sources_are_dated_1980(tmp_path: Path) -> None:
    # Given the layer built by its Makefile for this host with python3.13 (the wheelhouse's host
    # wheels), and every file dated 1980-01-01, as SAM's zip leaves them in /opt on Lambda
    bin_dir, env = python313_build_env()
    python313 = bin_dir / "python3.13"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "make",
            "-s",
            "-f",
            str(REPO_ROOT / "layers/common/Makefile"),
            "build-CommonLayer",
            f"ARTIFACTS_DIR={tmp_path}",
            f"PYTHON313={python313}",
            "WHEELS=",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    layer = tmp_path / "python"
    dated_1980 = 315532800
    for path in layer.rglob("*"):
        os.utime(path, (dated_1980, dated_1980))

    # When a function imports the job state, pydantic and Powertools from it on a read-only /opt
    # (nothing may be written), counting every source Python compiles on the way
    probe = (
        "import sys\n"
        "compiled = []\n"
        "def hook(event, args):\n"
        "    if event == 'compile' and isinstance(args[1], str) and args[1].startswith(sys.argv[1]):\n"
        "        compiled.append(args[1])\n"
        "sys.addaudithook(hook)\n"
        "import studio_core.domain.state, pydantic, aws_lambda_powertools.logging\n"
        "print(len(compiled), *compiled[:3])\n"
    )
    done = subprocess.run(  # noqa: S603
        [python313, "-c", probe, str(layer)],
        env={**env, "PYTHONPATH": str(layer), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )

    # Then it compiles none of them: each module loads from its bytecode
    assert done.stdout.split()[0] == "0", done.stdout
