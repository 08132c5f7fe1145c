"""The `studio` command as a user runs it, from a fresh directory, following the README.

`studio local up &` runs in one process (default paths, nothing created beforehand); every
other command runs in a process of its own with the env file's variables, as a shell that
sourced `. .local-stack/env` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from studio_cli.samples import SampleProduct
from tests.support.cli_stack import RunningStack, local_stack, stop


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("fresh-clone")) as running:
        yield running


def test_local_up_creates_its_env_file_and_log_where_the_readme_says(stack: RunningStack) -> None:
    # Then the env file names everything a shell (and `studio`) needs, the stack included
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "STUDIO_BUCKET",
        "STUDIO_TABLE",
        "STUDIO_STATE_MACHINE_ARN",
        "STUDIO_STACK",
        "STUDIO_EVENT_BUS",
        "STUDIO_LOCAL_LOG",
        "AIUTA_API_URL",
    ):
        assert stack.env.get(name), name
    assert stack.env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    # And the stack's own output (the summary, the functions' JSON logs) goes to the log file
    assert Path(stack.env["STUDIO_LOCAL_LOG"]) == stack.log_file.resolve()
    assert "Closed locally" in stack.log_file.read_text()


def test_submit_watch_status_results_and_regenerate(stack: RunningStack, tmp_path: Path) -> None:
    # Given a product folder on disk
    folder = SampleProduct(
        "cli-shirt", "tshirt", (220, 200, 170), manifest={"output_image_size": {"width": 300, "height": 400}}
    ).write(tmp_path)

    # When it is submitted, the job id it will get is printed
    submitted = json.loads(stack.studio("submit", str(folder), "--json").out)
    [job_id] = submitted[0]["job_ids"]
    assert submitted[0]["keys"][-1] == "inbox/cli-shirt/product.json"
    assert submitted[0]["starts"].startswith("now")

    # And a bare `studio watch` follows exactly that job to its end, its exit code the outcome
    watched = stack.studio("watch", "--timeout", "60")
    assert f"SUCCEEDED    {job_id}" in watched.out
    assert "done: 1 SUCCEEDED" in watched.out

    # Then status shows the job as a person reads it, and --json gives the typed record
    detail = stack.studio("status", job_id).out
    for expected in ("SUCCEEDED", "Aiuta operations", "Images", "Rounds", "Execution", "studio results"):
        assert expected in detail, expected
    assert "gsi1pk" not in detail and "pk" not in json.loads(stack.studio("status", job_id, "--json").out)
    listed = json.loads(stack.studio("status", "--product", "cli-shirt", "--json").out)
    assert [job["job_id"] for job in listed] == [job_id]

    # And results gives result.json, or with --download the job's folder with its gallery
    result = json.loads(stack.studio("results", job_id).out)
    assert result["status"] == "SUCCEEDED" and result["job_id"] == job_id
    saved = json.loads(stack.studio("results", job_id, "--download", str(tmp_path / "out"), "--json").out)
    assert saved["images"] == 1
    folder_out = tmp_path / "out" / job_id
    assert (folder_out / "index.html").is_file() and (folder_out / "result.json").is_file()
    assert sorted(p.name for p in (folder_out / "inputs").iterdir()) == ["photo-1.jpg", "photo-2.jpg"]
    with Image.open(folder_out / "on_figure" / "front-standing-v1.png") as picture:
        assert picture.size == (300, 400)

    # When a regeneration is requested for a new pose, the new job's id is printed and followed
    regenerated = stack.studio("regenerate", job_id, "--type", "back/walking", "--watch", "--timeout", "60")
    new_job = next(line.split()[-1] for line in regenerated.out.splitlines() if "new job" in line)
    assert new_job != job_id
    assert f"SUCCEEDED    {new_job}" in regenerated.out
    record = json.loads(stack.studio("status", new_job, "--json").out)
    assert record["status"] == "SUCCEEDED", record.get("error")
    assert [i["image_type"] for i in record["images"]] == ["back/walking"]
    assert record["base_job_id"] == job_id


def test_the_same_commands_work_on_a_stack_named_by_its_cloudformation_outputs(stack: RunningStack) -> None:
    # Given a shell with only AWS's settings (the endpoint and credentials), no STUDIO_* values
    aws_only = {k: v for k, v in stack.env.items() if not k.startswith(("STUDIO_", "AIUTA_"))}

    # When a command names the stack, it finds the bucket and table from the stack's outputs
    from tests.support.cli_stack import run_studio

    listed = json.loads(run_studio(aws_only, "--stack", "studio-local", "status", "--json").out)
    assert {job["product_id"] for job in listed} >= {"cli-shirt"}
    assert json.loads(run_studio(aws_only, "status", "--stack", "studio-local", "--json").out) == listed


def test_stopping_the_stack_prints_stopped_and_removes_the_env_file(stack: RunningStack) -> None:
    terminal = stop(stack)

    assert stack.process.returncode == 0, terminal
    assert "ready; Ctrl-C stops everything" in terminal
    assert "stopped: the local stack is down" in terminal
    assert not stack.env_file.exists()
    # And the terminal saw a few lines, none of the functions' JSON logs or metrics
    assert len(terminal.splitlines()) < 20, terminal
    assert '"level"' not in terminal and "CloudWatchMetrics" not in terminal
    assert '"level"' in stack.log_file.read_text()
