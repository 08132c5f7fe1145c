"""The `studio` command as a user runs it: `local up --env-file` in one process, the rest in others."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from studio_cli.samples import SampleProduct

STUDIO = [sys.executable, "-m", "studio_cli.main"]
QUICK = [
    "PollFirstWaitOnlineSeconds=1",
    "PollMinWaitSeconds=1",
    "PollMaxWaitSeconds=2",
    "InboxQuietSeconds=2",
]


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`studio local up --env-file PATH` in the background, until it has written the file."""
    env_file = tmp_path_factory.mktemp("stack") / "env"
    command = [*STUDIO, "local", "up", "--env-file", str(env_file), "--operation-seconds", "1"]
    for parameter in QUICK:
        command += ["--parameter", parameter]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    deadline = time.monotonic() + 60
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"studio local up did not get ready: {process.stdout.read() if process.stdout else ''}"
            )
        time.sleep(0.2)
    yield {**environment, **read_env_file(env_file), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    # Then SIGTERM stopped everything cleanly
    assert process.returncode == 0, output
    assert "ready; Ctrl-C stops everything" in output


def studio(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own command line
        [*STUDIO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_env_file_names_everything_a_shell_needs(local_stack: dict[str, str]) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "STUDIO_BUCKET",
        "STUDIO_TABLE",
        "STUDIO_STATE_MACHINE_ARN",
        "AIUTA_API_URL",
    ):
        assert local_stack.get(name), name
    assert local_stack["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_submit_watch_results_and_regenerate(local_stack: dict[str, str], tmp_path: Path) -> None:
    # Given a product folder on disk
    folder = SampleProduct(
        "cli-shirt", "tshirt", (220, 200, 170), manifest={"output_image_size": {"width": 300, "height": 400}}
    ).write(tmp_path)

    # When it is submitted and watched to the end
    submitted = studio(local_stack, "submit", str(folder))
    assert "inbox/cli-shirt/product.json" in submitted.splitlines()[-1]
    watched = studio(local_stack, "watch", "--expect", "1", "--timeout", "60")
    assert "SUCCEEDED" in watched

    # Then status lists the job, and results downloads its image
    table = studio(local_stack, "status", "--product", "cli-shirt")
    job_id = table.splitlines()[1].split()[0]
    assert "SUCCEEDED" in table.splitlines()[1]
    downloaded = studio(local_stack, "results", job_id, "--download", str(tmp_path / "out")).split()
    assert len(downloaded) == 1
    with Image.open(downloaded[0]) as picture:
        assert picture.size == (300, 400)

    # When a regeneration is requested for a new pose, then a second job adds it
    studio(local_stack, "regenerate", job_id, "--type", "back/walking")
    deadline = time.monotonic() + 60
    while True:
        rows = studio(local_stack, "status", "--product", "cli-shirt").splitlines()[1:]
        if len(rows) == 2 and all(row.split()[2] in ("SUCCEEDED", "FAILED") for row in rows):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)
    second = next(row.split()[0] for row in rows if row.split()[0] != job_id)
    record = json.loads(studio(local_stack, "status", second))
    assert record["status"] == "SUCCEEDED", record.get("error")
    assert [i["image_type"] for i in record["images"]] == ["back/walking"]


def test_commands_without_a_stack_say_what_to_do() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIO_", "AWS_"))}
    done = subprocess.run(  # noqa: S603 - our own command line
        [*STUDIO, "status"], env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "studio local up --env-file" in done.stderr
