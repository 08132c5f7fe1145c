"""Pay once, as a store uses it from the command line on the local stack: a folder submitted again,
forced on purpose, a feed quoted without uploading, and a wrong feed cancelled before it pays.

One local stack serves the module; Aiuta's operations take a few seconds and one runs at a time, so
a cancelled catalogue still has rows waiting for their turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_cli.samples import product_photo
from tests.support.cli_stack import QUICK, RunningStack, local_stack

pytestmark = pytest.mark.local_stack

PARAMETERS = {**QUICK, "AiutaOperationsInFlight": "1", "AllowPrivateImageUrls": "true"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(
        tmp_path_factory.mktemp("pay-once"), parameters=PARAMETERS, operation_seconds=4
    ) as running:
        yield running


def creates(stack: RunningStack) -> int:
    import requests

    admin = stack.env["AIUTA_API_URL"].rsplit("/studio/v1", 1)[0] + "/_sim"
    calls = requests.get(f"{admin}/calls", timeout=10).json()["calls"]
    return sum(n for call, n in calls.items() if call.startswith("POST") and call.endswith("_operations"))


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    for i in range(2):
        (path / f"photo-{i}.jpg").write_bytes(product_photo("dress", (120, 40, 90), angle=i))
    (path / "product.json").write_text("{}")
    return path


def hosted_link(stack: RunningStack, name: str) -> str:
    s3, bucket = stack.client("s3"), stack.env["STUDIO_BUCKET"]
    s3.put_object(Bucket=bucket, Key=f"hosted/{name}.jpg", Body=product_photo("tshirt", (0, 90, 200)))
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": f"hosted/{name}.jpg"}, ExpiresIn=900
        )
    )


def test_a_folder_submitted_again_uploads_and_pays_nothing_unless_forced(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a folder whose job ran
    path = folder(tmp_path, "again-shirt")
    first = stack.studio("submit", str(path), "--watch", "--timeout", "120", timeout=180)
    assert "pays for 1 operation(s), 1 image(s)" in first.out
    paid = creates(stack)

    # When the same folder is submitted again
    again = stack.studio("submit", str(path), "--json")

    # Then nothing is uploaded or paid, and the job that made its images is named
    [document] = json.loads(again.out)
    assert document["uploaded"] is False and document["quote"]["outcome"] == "unchanged"
    assert document["already_submitted"] == {document["job_ids"][0]: "SUCCEEDED"}
    assert creates(stack) == paid

    # When it is forced, it runs (and is paid) again, recorded as forced
    forced = stack.studio("submit", str(path), "--force", "--watch", "--timeout", "120", timeout=180)
    assert "--force: a new generation, recorded as forced" in forced.out
    assert creates(stack) == paid + 1
    records = json.loads(stack.studio("status", "--product", "again-shirt", "--json").out)
    assert sorted(r.get("forced", False) for r in records) == [False, True]


def test_a_dry_run_quotes_a_feed_and_uploads_nothing(stack: RunningStack, tmp_path: Path) -> None:
    link = hosted_link(stack, "dry")
    feed = tmp_path / "dry.csv"
    feed.write_text(
        "id,image_urls,number_of_generations\n"
        f"dry-1,{link},2\n"
        f"dry-2,{link},\n"
        f"dry-1,{link},\n"  # listed again: refused like the check refuses it
    )

    done = stack.studio("submit", str(feed), "--dry-run")

    assert "(dry run: nothing uploaded)" in done.out
    assert "3 rows: 2 new, 0 changed, 0 unchanged, 0 run again, 1 rejected, 0 over budget" in done.out
    assert "pays for 2 operation(s), 3 image(s)" in done.out
    listing = stack.client("s3").list_objects_v2(Bucket=stack.env["STUDIO_BUCKET"], Prefix="inbox/dry.csv")
    assert listing.get("KeyCount", 0) == 0


def test_a_wrong_feed_is_cancelled_before_it_pays_for_every_row(stack: RunningStack, tmp_path: Path) -> None:
    # Given a feed of five rows, one job at a time at Aiuta, and a rule that hears catalogue ends
    events = listen_for_catalogue_ends(stack)
    link = hosted_link(stack, "wrong")
    feed = tmp_path / "wrong.csv"
    feed.write_text("id,image_urls\n" + "".join(f"wrong-{i},{link}\n" for i in range(5)))
    before = creates(stack)
    stack.studio("submit", str(feed))
    wait_for(lambda: any(r["status"] == "GENERATING" for r in records(stack, "wrong-")), 60)

    # When the store cancels it
    done = stack.studio("cancel", "wrong.csv")

    # Then the rows not at Aiuta yet stop before anything is paid; the one there finishes
    assert "4 job(s) stopped before anything was paid" in done.out
    assert "1 job(s) had created operations at Aiuta" in done.out
    ended = stack.studio("watch", "inbox/wrong.csv", "--timeout", "120", expect=None, timeout=180)
    statuses = sorted(r["status"] for r in records(stack, "wrong-"))
    assert statuses == ["CANCELLED"] * 5, (ended.code, ended.out, ended.err)
    assert ended.code == 1  # not every row succeeded: they were cancelled
    assert creates(stack) == before + 1
    report = json.loads(wait_for(lambda: read(stack, "inbox/wrong.csv.report/report.json"), 60))
    assert report["cancelled"] == 5 and report["paid_operations"] == 1

    # And the catalogue's end reached the bus with the report's counts
    [event] = wait_for(lambda: received(stack, events), 30)
    assert event["detail-type"] == "Studio Catalogue Finished"
    assert event["detail"]["catalogue"] == "inbox/wrong.csv" and event["detail"]["cancelled"] == 5


# --- helpers --------------------------------------------------------------------------------


def records(stack: RunningStack, prefix: str) -> list[dict[str, Any]]:
    found = json.loads(stack.studio("status", "--json", "--limit", "200").out)
    return [r for r in found if r["product_id"].startswith(prefix)]


def read(stack: RunningStack, key: str) -> bytes | None:
    s3 = stack.client("s3")
    try:
        return bytes(s3.get_object(Bucket=stack.env["STUDIO_BUCKET"], Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def wait_for(condition: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout} s")


def listen_for_catalogue_ends(stack: RunningStack) -> str:
    events, sqs = stack.client("events"), stack.client("sqs")
    bus = stack.env["STUDIO_EVENT_BUS"]
    url = sqs.create_queue(QueueName="catalogue-ends")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["studio.pipeline"], "detail-type": ["Studio Catalogue Finished"]}
    events.put_rule(Name="catalogue-ends", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="catalogue-ends", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def received(stack: RunningStack, url: str) -> list[dict[str, Any]]:
    messages = stack.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]
