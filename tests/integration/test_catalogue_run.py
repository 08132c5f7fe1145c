"""A catalogue on the local stack: one catalogue execution; a first Distributed Map checks every row
and records its job (or its rejection) before any job runs; a second runs one job execution per row
(named by its job id), at most AiutaOperationsInFlight at once, bad rows failing alone; the map
runs' results and the reports next to the catalogue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from studio_cli.samples import product_photo
from studio_local import LocalStudio
from studio_sim.settings import SimSettings

PARAMETERS = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "2",
    "AiutaOperationsInFlight": "2",
    "AiutaRequestsPerSecond": "20",
    "AiutaRequestBurst": "5",
    # The rows' photos are hosted on the local moto server (loopback).
    "AllowPrivateImageUrls": "true",
}


@pytest.fixture(scope="module")
def studio() -> Iterator[LocalStudio]:
    stack = LocalStudio(
        stack_name="studio-catalogue",
        parameter_overrides=PARAMETERS,
        sim_settings=SimSettings(operation_seconds=1),
        function_environment={"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"},
        batching_window_seconds=0,
    )
    with stack:
        yield stack


def hosted_photo(studio: LocalStudio, name: str) -> str:
    s3 = studio.client("s3")
    key = f"hosted/{name}.jpg"
    s3.put_object(Bucket=studio.bucket, Key=key, Body=product_photo("tshirt", (40, 120, 200)))
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": studio.bucket, "Key": key}, ExpiresIn=900
    )


def catalogue_run(studio: LocalStudio, key: str, timeout: float = 120) -> dict[str, Any]:
    """The catalogue's execution, once it has ended."""
    sfn = studio.client("stepfunctions")
    machine = studio.output("CatalogueStateMachineArn")
    deadline = time.monotonic() + timeout
    while True:
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described["input"])["catalogue"]["key"] == key and described["status"] != "RUNNING":
                return described
        if time.monotonic() > deadline:
            raise AssertionError(f"the catalogue run of {key} did not end in {timeout} s")
        time.sleep(0.5)


def read_json(studio: LocalStudio, key: str) -> Any:
    return json.loads(studio.client("s3").get_object(Bucket=studio.bucket, Key=key)["Body"].read())


def job_records(studio: LocalStudio, source_key: str) -> dict[str, dict[str, Any]]:
    items = studio.client("dynamodb").scan(TableName=studio.jobs_table)["Items"]
    found = {}
    for item in items:
        if item.get("source_key", {}).get("S") == source_key:
            found[item["product_id"]["S"]] = {k: next(iter(v.values())) for k, v in item.items()}
    return found


def test_a_csv_catalogue_runs_a_job_per_row_and_reports_every_bad_row(studio: LocalStudio) -> None:
    # Given a catalogue of four products, with a blank line, a bad pose, a row without an id and a
    # product listed twice
    link = hosted_photo(studio, "tee")
    rows = [
        "id,title,image_urls,on_figure_image_types",
        f"cat-a,Tee,{link},front/standing",
        f"cat-b,Tee,{link},front/standing",
        "",
        f"cat-c,Tee,{link},front/dancing",
        f",Tee,{link},front/standing",
        f"cat-a,Tee again,{link},back/walking",
        f"cat-d,Tee,{link},front/standing",
        f"cat-e,Tee,{link},front/standing",
    ]
    studio.client("s3").put_object(
        Bucket=studio.bucket, Key="inbox/season.csv", Body="\n".join(rows).encode()
    )

    # When it has run
    run = catalogue_run(studio, "inbox/season.csv")

    # Then the run succeeded with its counts, and each good product's job succeeded, once
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert {k: output[k] for k in ("rows", "succeeded", "failed", "rejected", "skipped")} == {
        "rows": 7,
        "succeeded": 4,
        "failed": 0,
        "rejected": 3,
        "skipped": 1,
    }
    records = job_records(studio, "inbox/season.csv")
    assert {p: r["status"] for p, r in records.items()} == {
        "cat-a": "SUCCEEDED",
        "cat-b": "SUCCEEDED",
        "cat-c": "FAILED",
        "cat-d": "SUCCEEDED",
        "cat-e": "SUCCEEDED",
    }
    assert records["cat-a"]["catalogue_line"] == "2"

    # And the report next to the catalogue names every rejected row and why
    report = read_json(studio, output["report"])
    assert output["report"] == "inbox/season.csv.report/report.json"
    reasons = {r["row"]: r["reason"] for r in report["rejected_rows"]}
    assert sorted(reasons) == [5, 6, 7]
    assert "dancing" in reasons[5]
    assert "the id column is empty" in reasons[6]
    assert "listed again (first at row 2)" in reasons[7]
    errors = read_json(studio, "inbox/season.csv.error.json")
    assert errors["error"] == "3 of 7 rows are invalid"

    # And the map run's own results are there as AWS writes them (manifest, SUCCEEDED and FAILED files)
    manifest = read_json(studio, f"{report['results']}manifest.json")
    assert [f["Key"].rsplit("/", 1)[1] for f in manifest["ResultFiles"]["FAILED"]] == ["FAILED_0.json"]
    failed = read_json(studio, manifest["ResultFiles"]["FAILED"][0]["Key"])
    assert {item["Error"] for item in failed} == {"InvalidJob"}

    # And never more than AiutaOperationsInFlight (2) of its jobs ran at once
    sfn = studio.client("stepfunctions")
    spans = []
    for record in records.values():
        if record["status"] == "SUCCEEDED":
            arn = (
                studio.state_machine_arn.replace(":stateMachine:", ":execution:")
                + ":"
                + record["execution_name"]
            )
            described = sfn.describe_execution(executionArn=arn)
            spans.append((described["startDate"].timestamp(), described["stopDate"].timestamp()))
    most = max(sum(1 for start, stop in spans if start <= t < stop) for t, _ in spans)
    assert most <= 2

    # And every row was checked first, its job recorded or its rejection reported, before any job ran
    checked = read_json(studio, "inbox/season.csv.report/checked.json")
    assert {k: checked[k] for k in ("rows", "queued", "rejected", "skipped", "unchecked")} == {
        "rows": 7,
        "queued": 4,
        "rejected": 3,
        "skipped": 1,
        "unchecked": 0,
    }
    assert sorted(r["row"] for r in checked["rejected_rows"]) == [5, 6, 7]
    map_runs = {
        arn.split("/")[1].split(":")[0]: arn
        for arn in (r["mapRunArn"] for r in sfn.list_map_runs(executionArn=run["executionArn"])["mapRuns"])
    }
    assert sorted(map_runs) == ["RecordRows", "RunJobs"]
    check_ended = sfn.describe_map_run(mapRunArn=map_runs["RecordRows"])["stopDate"].timestamp()
    assert check_ended <= min(start for start, _ in spans)


def test_a_jsonl_catalogue_with_a_line_that_is_not_json_is_reported_and_runs_nothing(
    studio: LocalStudio,
) -> None:
    # Given a JSONL feed whose second line is cut off
    good = {"product": {"id": "jl-1"}, "image_urls": [hosted_photo(studio, "jl")]}
    body = json.dumps(good) + '\n{"product": {"id": "jl-2"\n'
    studio.client("s3").put_object(Bucket=studio.bucket, Key="inbox/broken.jsonl", Body=body.encode())

    # When it has run
    run = catalogue_run(studio, "inbox/broken.jsonl")

    # Then the file could not be read: the report says where, and no job ran
    output = json.loads(run["output"])
    assert "could not be read" in output["error"] and "line 2" in output["error"]
    assert "line 2" in read_json(studio, "inbox/broken.jsonl.error.json")["error"]
    assert job_records(studio, "inbox/broken.jsonl") == {}


def test_a_jsonl_catalogue_runs_each_line(studio: LocalStudio) -> None:
    lines = [
        {"product": {"id": "jl-a"}, "image_urls": [hosted_photo(studio, "jla")]},
        {"product": {"title": "no id"}, "image_urls": [hosted_photo(studio, "jlb")]},
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    studio.client("s3").put_object(Bucket=studio.bucket, Key="inbox/lines.jsonl", Body=body.encode())

    output = json.loads(catalogue_run(studio, "inbox/lines.jsonl")["output"])

    assert (output["succeeded"], output["rejected"]) == (1, 1)
    assert job_records(studio, "inbox/lines.jsonl")["jl-a"]["status"] == "SUCCEEDED"
