"""What the local stack offers integrations and developers: job events, `studio invoke`, presets.

The job events come from the stack's own event bus, deployed from template.yaml, through the
README's example rule to an SQS queue (the store's PIM would listen there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_cli.samples import SampleProduct
from tests.support.cli_stack import RunningStack, local_stack

README = Path(__file__).resolve().parents[2] / "README.md"
CATEGORY = "Apparel & Accessories > Clothing"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("integrations")) as running:
        yield running


def readme_rule() -> dict[str, Any]:
    """The example rule's event pattern, as the README shows it."""
    text = README.read_text()
    found = re.search(r"<!-- example rule -->\s*```json\n(.*?)```", text, re.S)
    assert found, "the README has no example rule"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pim_queue(stack: RunningStack) -> str:
    """The README's example rule on the stack's bus, delivering to an SQS queue."""
    sqs, events = stack.client("sqs"), stack.client("events")
    url = sqs.create_queue(QueueName="pim-updates")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.env["STUDIO_EVENT_BUS"]
    events.put_rule(Name="studio-to-pim", EventBusName=bus, EventPattern=json.dumps(readme_rule()))
    events.put_targets(Rule="studio-to-pim", EventBusName=bus, Targets=[{"Id": "pim", "Arn": arn}])
    return url  # type: ignore[no-any-return]


def events_received(stack: RunningStack, queue_url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_each_job_end_reaches_the_example_rule_with_what_a_store_needs(
    stack: RunningStack, pim_queue: str, tmp_path: Path
) -> None:
    # Given a product that succeeds and one whose flat-lay shots fail (a PARTIAL job)
    good = SampleProduct(
        "event-shirt", "tshirt", (200, 100, 50), manifest={"product": {"category": CATEGORY}}
    )
    partial = SampleProduct(
        "event-dress",
        "dress",
        (50, 100, 200),
        manifest={
            "kind": "both",
            "product": {"category": CATEGORY, "description": "[sim:flat_lay:FAILED]"},
        },
    )
    ids = []
    for product in (good, partial):
        [submitted] = json.loads(stack.studio("submit", str(product.write(tmp_path)), "--json").out)
        ids += submitted["job_ids"]

    # When both have ended
    stack.studio("watch", *ids, "--timeout", "90", expect=1)

    # Then the rule's queue got one event per job, with the ids, status, reason and keys
    received = {e["detail"]["job_id"]: e for e in events_received(stack, pim_queue)}
    assert set(received) == set(ids)
    for event in received.values():
        assert event["source"] == "studio.pipeline"
        assert event["detail-type"] == "Studio Job Finished"
    shirt, dress = received[ids[0]]["detail"], received[ids[1]]["detail"]
    assert shirt["status"] == "SUCCEEDED" and shirt["reason"] is None
    assert shirt["product_id"] == "event-shirt"
    assert shirt["bucket"] == stack.env["STUDIO_BUCKET"]
    assert shirt["result_key"] == f"outbox/event-shirt/{ids[0]}/result.json"
    assert shirt["gallery_key"] == f"outbox/event-shirt/{ids[0]}/index.html"
    assert shirt["image_keys"] == [f"outbox/event-shirt/{ids[0]}/on_figure/front-standing-v1.png"]
    assert dress["status"] == "PARTIAL" and "flat_lay" in dress["reason"]
    assert all("/on_figure/" in key for key in dress["image_keys"])
    # And every key the event names is in the bucket
    s3 = stack.client("s3")
    for detail in (shirt, dress):
        for key in [detail["result_key"], detail["gallery_key"], *detail["image_keys"]]:
            s3.head_object(Bucket=detail["bucket"], Key=key)


def test_invoke_runs_a_function_on_a_sample_event_like_sam_local_invoke(stack: RunningStack) -> None:
    done = stack.studio("invoke", "IngestFunction", "-e", "events/ingest_s3_test_event.json")

    # Then the result is on stdout, the function's logs on stderr
    assert json.loads(done.out) == {"batchItemFailures": []}
    assert "--- logs of IngestFunction" in done.err
    assert "skipping s3:TestEvent" in done.err


def test_invoke_reports_a_failing_function_with_exit_1(stack: RunningStack, tmp_path: Path) -> None:
    # Given an event that is no job state (a kind Aiuta does not have)
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "finalize.json").read_text())
    event["job"]["kind"] = ["portrait"]
    (tmp_path / "bad.json").write_text(json.dumps(event))

    done = stack.studio("invoke", "finalize", "-e", str(tmp_path / "bad.json"), expect=1)

    assert json.loads(done.out)["errorType"] == "ValidationError"
    assert "FinalizeFunction raised ValidationError" in done.err


def test_invoke_names_the_functions_and_events_it_knows(stack: RunningStack) -> None:
    unknown = stack.studio("invoke", "nosuch", "-e", "events/finalize.json", expect=1)
    assert "IngestFunction" in unknown.err and "FinalizeFunction" in unknown.err

    missing = stack.studio("invoke", "finalize", "-e", "events/nosuch.json", expect=2)
    assert "finalize.json" in missing.err


def test_presets_lists_aiuta_model_presets(stack: RunningStack) -> None:
    table = stack.studio("presets").out
    presets = json.loads(stack.studio("presets", "--json").out)

    assert presets and all(p["preset_id"] in table for p in presets)
    assert {"preset_id", "settings", "sample_image"} <= set(presets[0])
    assert presets[0]["sample_image"] in table


def test_redrive_sends_dead_letters_back_to_the_ingest_queue(stack: RunningStack) -> None:
    # Given a message in the ingest queue's dead-letter queue (S3's test event: harmless to redo)
    sqs = stack.client("sqs")
    dead = stack.env["STUDIO_DEAD_LETTER_QUEUE_URL"]
    body = (Path(__file__).resolve().parents[2] / "events" / "ingest_s3_test_event.json").read_text()
    sqs.send_message(QueueUrl=dead, MessageBody=json.loads(body)["Records"][0]["body"])

    # When studio redrive runs, it moves it back; a second run finds nothing
    assert "moved 1 message(s)" in stack.studio("redrive").out
    assert json.loads(stack.studio("redrive", "--json").out)["moved"] == 0
    assert "the dead-letter queue is empty" in stack.studio("redrive").out


def test_resume_refuses_a_job_that_has_nothing_to_check_again(stack: RunningStack, tmp_path: Path) -> None:
    folder = SampleProduct(
        "resume-shirt", "tshirt", (10, 10, 10), manifest={"product": {"category": CATEGORY}}
    )
    [submitted] = json.loads(stack.studio("submit", str(folder.write(tmp_path)), "--json").out)
    [job_id] = submitted["job_ids"]
    stack.studio("watch", job_id, "--timeout", "60")

    done = stack.studio("resume", job_id, expect=1)

    assert "studio resume" in done.err and job_id in done.err
