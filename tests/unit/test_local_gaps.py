"""What the local stack derives from the template to close moto's gaps: notifications, env file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from studio_local.deploy import DeploymentError
from studio_local.env_file import render_env_file
from studio_local.gaps import notification_configuration


def test_bucket_notifications_take_the_s3_api_shape() -> None:
    # Given the template's NotificationConfiguration, targets already resolved
    cfn = {
        "QueueConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Queue": "arn:aws:sqs:us-east-1:1:ingest",
                "Filter": {"S3Key": {"Rules": [{"Name": "Prefix", "Value": "inbox/"}]}},
            },
            {"Event": "s3:ObjectCreated:*", "Queue": "arn:aws:sqs:us-east-1:1:all"},
        ]
    }
    # Then it is what put_bucket_notification_configuration takes, rule names in S3's spelling
    assert notification_configuration(cfn) == {
        "QueueConfigurations": [
            {
                "QueueArn": "arn:aws:sqs:us-east-1:1:ingest",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}},
            },
            {"QueueArn": "arn:aws:sqs:us-east-1:1:all", "Events": ["s3:ObjectCreated:*"]},
        ]
    }


def test_lambda_notifications_are_refused() -> None:
    # moto hands S3 -> Lambda notifications to Docker and drops them without it.
    with pytest.raises(DeploymentError, match="LambdaConfigurations cannot run locally"):
        notification_configuration(
            {"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": "f"}]}
        )


def test_env_file_is_sourceable_and_quoted(tmp_path: Path) -> None:
    # Given values with spaces and quotes
    environment = {"STUDIO_BUCKET": "studio-1", "ODD": "it's a $value with spaces"}
    path = tmp_path / "studio.env"
    path.write_text(render_env_file(environment))
    # When a shell sources it
    command = ["bash", "-c", f'. "{path}" && printf "%s|%s" "$STUDIO_BUCKET" "$ODD"']
    shown = subprocess.run(  # noqa: S603 - a fixed command on a file this test wrote
        command, capture_output=True, text=True, check=True
    ).stdout
    # Then it sees exactly the values
    assert shown == "studio-1|it's a $value with spaces"
    assert "export STUDIO_BUCKET=studio-1\n" in path.read_text()


def test_env_file_refuses_a_bad_name() -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        render_env_file({"BAD-NAME": "x"})
