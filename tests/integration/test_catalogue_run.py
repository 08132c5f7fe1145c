"""A catalogue on the local stack: one catalogue execution; one task checks, decides and quotes
every row (new, changed, unchanged, rejected) and records its job before any job runs; a Distributed
Map runs one job execution per row that has work to do (named by its job id), at most
AiutaOperationsInFlight at once; the report comes from the jobs' records. A feed uploaded again
pays only for what changed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from studio_cli.samples import product_photo
from studio_local import LocalStudio
from studio_sim.settings import SimSettings

pytestmark = pytest.mark.local_stack

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


def creates(studio: LocalStudio) -> int:
    """Paid operations the simulator has created so far (on-figure and flat-lay)."""
    calls = studio.simulator_admin.calls()["calls"]
    return sum(calls.get(f"POST /studio/v1/{kind}_operations", 0) for kind in ("on_figure", "flat_lay"))


def upload(studio: LocalStudio, key: str, body: str) -> None:
    studio.client("s3").put_object(Bucket=studio.bucket, Key=key, Body=body.encode())


def finished_run(studio: LocalStudio, key: str, runs_before: int, timeout: float = 120) -> dict[str, Any]:
    """The catalogue's run that started after ``runs_before`` runs of it, once it has ended."""
    sfn = studio.client("stepfunctions")
    machine = studio.output("CatalogueStateMachineArn")
    deadline = time.monotonic() + timeout
    while True:
        mine = []
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described["input"])["catalogue"]["key"] == key:
                mine.append(described)
        mine.sort(key=lambda d: d["startDate"])
        if len(mine) > runs_before and mine[runs_before]["status"] != "RUNNING":
            return mine[runs_before]
        if time.monotonic() > deadline:
            raise AssertionError(f"run {runs_before + 1} of {key} did not end in {timeout} s")
        time.sleep(0.5)


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
    upload(studio, "inbox/season.csv", "\n".join(rows))

    # When it has run
    run = catalogue_run(studio, "inbox/season.csv")

    # Then the run succeeded with its counts, and each good product's job succeeded, once
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert {k: output[k] for k in ("rows", "succeeded", "failed", "rejected", "unchanged")} == {
        "rows": 7,
        "succeeded": 4,
        "failed": 0,
        "rejected": 3,
        "unchanged": 0,
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

    # And the report next to the catalogue names every rejected row and why, and what was paid
    report = read_json(studio, output["report"])
    assert output["report"] == "inbox/season.csv.report/report.json"
    reasons = {r["row"]: r["reason"] for r in report["rows_detail"] if r["outcome"] == "rejected"}
    assert sorted(reasons) == [5, 6, 7]
    assert "dancing" in reasons[5]
    assert "the id column is empty" in reasons[6]
    assert "listed again (first at line 2)" in reasons[7]
    assert (report["quoted_operations"], report["paid_operations"]) == (4, 4)
    assert (report["quoted_images"], report["paid_images"]) == (4, 4)
    errors = read_json(studio, "inbox/season.csv.error.json")
    assert errors["error"] == "3 of 7 rows cannot run"

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

    # And every row was checked and quoted before any job ran
    checked = read_json(studio, "inbox/season.csv.report/checked.json")
    assert {k: checked["quote"][k] for k in ("rows", "new", "rejected", "operations", "images")} == {
        "rows": 7,
        "new": 4,
        "rejected": 3,
        "operations": 4,
        "images": 4,
    }
    assert sorted(r["row"] for r in checked["rows"] if r["outcome"] == "rejected") == [5, 6, 7]
    from datetime import datetime

    quoted_at = datetime.fromisoformat(checked["written_at"]).timestamp()
    assert quoted_at <= min(start for start, _ in spans)


def test_a_jsonl_line_that_is_not_json_fails_alone_with_its_line(studio: LocalStudio) -> None:
    # Given a JSONL feed whose second line is cut off
    good = {"product": {"id": "jl-1"}, "image_urls": [hosted_photo(studio, "jl")]}
    body = json.dumps(good) + '\n{"product": {"id": "jl-2"\n'
    upload(studio, "inbox/broken.jsonl", body)

    # When it has run
    run = catalogue_run(studio, "inbox/broken.jsonl")

    # Then the good line's job ran, and the broken line is reported with its number
    output = json.loads(run["output"])
    assert (output["succeeded"], output["rejected"]) == (1, 1)
    errors = read_json(studio, "inbox/broken.jsonl.error.json")
    assert errors["details"] == ["line 2: not valid JSON (Expecting ',' delimiter)"]
    assert job_records(studio, "inbox/broken.jsonl")["jl-1"]["status"] == "SUCCEEDED"


def test_a_jsonl_catalogue_runs_each_line(studio: LocalStudio) -> None:
    lines = [
        {"product": {"id": "jl-a"}, "image_urls": [hosted_photo(studio, "jla")]},
        {"product": {"title": "no id"}, "image_urls": [hosted_photo(studio, "jlb")]},
    ]
    body = "\n".join(json.dumps(line) for line in lines)
    upload(studio, "inbox/lines.jsonl", body)

    output = json.loads(catalogue_run(studio, "inbox/lines.jsonl")["output"])

    assert (output["succeeded"], output["rejected"]) == (1, 1)
    assert job_records(studio, "inbox/lines.jsonl")["jl-a"]["status"] == "SUCCEEDED"


def test_a_feed_fixed_and_uploaded_again_pays_only_for_what_changed(studio: LocalStudio) -> None:
    # Given a feed with a good row and a bad one, run once
    link = hosted_photo(studio, "feed")
    header = "id,image_urls,on_figure_image_types"
    upload(studio, "inbox/daily.csv", f"{header}\nfx-a,{link},front/standing\nfx-b,{link},front/dancing\n")
    first = json.loads(finished_run(studio, "inbox/daily.csv", 0)["output"])
    assert (first["succeeded"], first["rejected"]) == (1, 1)
    paid = creates(studio)

    # When the bad row is fixed and the same file is uploaded again (as the troubleshooting says)
    upload(studio, "inbox/daily.csv", f"{header}\nfx-a,{link},front/standing\nfx-b,{link},back/walking\n")
    second = json.loads(finished_run(studio, "inbox/daily.csv", 1)["output"])

    # Then only the fixed row ran: one create; the good row is unchanged, with the job that made it
    assert creates(studio) == paid + 1
    assert (second["succeeded"], second["unchanged"], second["rejected"]) == (1, 1, 0)
    report = read_json(studio, second["report"])
    [unchanged] = [r for r in report["rows_detail"] if r["outcome"] == "unchanged"]
    assert unchanged["product_id"] == "fx-a" and unchanged["status"] == "SUCCEEDED"
    assert unchanged["job_id"] == job_records(studio, "inbox/daily.csv")["fx-a"]["job_id"]

    # When the identical file is uploaded a third time (a daily re-export)
    upload(studio, "inbox/daily.csv", f"{header}\nfx-a,{link},front/standing\nfx-b,{link},back/walking\n")
    third = finished_run(studio, "inbox/daily.csv", 2)

    # Then nothing is paid and nothing runs; the rows' jobs note the unchanged upload
    assert creates(studio) == paid + 1
    assert json.loads(third["output"])["unchanged"] == 2
    assert sfn_map_runs(studio, third["executionArn"]) == []
    assert int(job_records(studio, "inbox/daily.csv")["fx-a"]["unchanged_requests"]) == 2

    # When a row asks for a new generation on purpose (the force column)
    upload(
        studio,
        "inbox/daily.csv",
        f"{header},force\nfx-a,{link},front/standing,true\nfx-b,{link},back/walking,\n",
    )
    fourth = json.loads(finished_run(studio, "inbox/daily.csv", 3)["output"])

    # Then that row, and only that row, is paid again, and recorded as forced
    assert creates(studio) == paid + 2
    assert (fourth["succeeded"], fourth["unchanged"]) == (1, 1)
    forced = read_json(studio, "inbox/daily.csv.report/checked.json")["rows"][0]
    assert forced["outcome"] == "forced"


def test_product_ids_differing_only_in_case_are_one_product(studio: LocalStudio) -> None:
    link = hosted_photo(studio, "case")
    upload(studio, "inbox/case.csv", f"id,image_urls\nShirt-1,{link}\nshirt-1,{link}\n")
    paid = creates(studio)

    output = json.loads(finished_run(studio, "inbox/case.csv", 0)["output"])

    # The first spelling is the product's; the second is refused with the reason, and paid nothing
    assert (output["succeeded"], output["rejected"]) == (1, 1)
    assert creates(studio) == paid + 1
    report = read_json(studio, output["report"])
    [refused] = [r for r in report["rows_detail"] if r["outcome"] == "rejected"]
    assert "listed again (first at line 2 as 'Shirt-1')" in refused["reason"]

    # And a later feed in the other spelling is refused too, naming the product's spelling
    upload(studio, "inbox/case2.csv", f"id,image_urls\nSHIRT-1,{link}\n")
    later = json.loads(finished_run(studio, "inbox/case2.csv", 0)["output"])
    assert later["rejected"] == 1 and creates(studio) == paid + 1
    assert "already known as 'Shirt-1'" in read_json(studio, "inbox/case2.csv.error.json")["details"][0]


def sfn_map_runs(studio: LocalStudio, execution_arn: str) -> list[str]:
    runs = studio.client("stepfunctions").list_map_runs(executionArn=execution_arn)["mapRuns"]
    return [run["mapRunArn"] for run in runs]
