"""The store engineer's first hour (issue 19): what broke or confused them, shown fixed.

One local stack serves the module, started with the README's command line; every `studio`
command runs as a process of its own, and none may end in a traceback (`run_studio` checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_cli.samples import product_photo
from tests.e2e.cli_stack import RunningStack, local_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_stack(tmp_path_factory.mktemp("first-hour")) as running:
        yield running


def hosted_link(stack: RunningStack, name: str) -> str:
    """A product photo hosted elsewhere (a presigned link), as a catalogue names its images."""
    s3, bucket = stack.client("s3"), stack.env["STUDIO_BUCKET"]
    s3.put_object(Bucket=bucket, Key=f"hosted/{name}.jpg", Body=product_photo("tshirt", (0, 90, 200)))
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": f"hosted/{name}.jpg"}, ExpiresIn=600
        )
    )


# --- a catalogue with bad rows ----------------------------------------------------------------


def test_a_catalogue_with_bad_rows_is_followed_as_it_reports_them_and_ends_with_it(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a feed of 6 rows: one good, one whose id is `bad id`, the good product again, a bad
    # link, no id, and too many generations
    link = hosted_link(stack, "bad-feed-ok")
    feed = tmp_path / "bad-feed.csv"
    feed.write_text(
        "id,title,image_urls,number_of_generations\n"
        f"bad-feed-ok,Tee,{link},\n"
        f"bad id,Tee,{link},\n"
        f"bad-feed-ok,Tee again,{link},\n"
        "bad-feed-nourl,Tee,not-a-url,\n"
        f",Tee,{link},\n"
        f"bad-feed-gen,Tee,{link},9\n"
    )

    # When it is submitted, the check counts every row the catalogue will reject, the duplicate too
    refused = stack.studio("submit", str(feed), expect=1)
    assert "5 of 6 rows cannot run" in refused.err
    assert "product bad-feed-ok is listed again (first at line 2)" in refused.err

    # And with --allow-invalid-rows --watch it is followed to the catalogue's end, not to a timeout
    done = stack.studio(
        "submit", str(feed), "--allow-invalid-rows", "--watch", "--timeout", "120", expect=1, timeout=180
    )
    out = done.out
    assert "still running" not in out and "waiting      bad id" not in out
    # Then each row ended in one line: the rejected ones with the catalogue's reason
    rows = [line for line in out.splitlines() if line.startswith("  inbox/bad-feed.csv row ")]
    assert len(rows) == 6, out
    assert any(line.startswith("  inbox/bad-feed.csv row 3 bad id rejected: row 3:") for line in rows)
    assert any("row 4 bad-feed-ok rejected" in line and "listed again" in line for line in rows)
    assert any("row 2 bad-feed-ok SUCCEEDED bad-feed-ok-" in line for line in rows)
    # with the file's 6 rows as the total from the first line to the last
    totals = re.findall(
        r"\bof (\d+)\b", "\n".join(line for line in out.splitlines() if "bad-feed.csv" in line)
    )
    assert totals and set(totals) == {"6"}, out
    assert "inbox/bad-feed.csv: 1 done, 5 failed, 0 running, 0 waiting, of 6" in out
    assert "(report: inbox/bad-feed.csv.report/report.json)" in out
    assert "done, not all succeeded: 1 SUCCEEDED, 5 rejected row(s)" in out
    # A few lines, not one per job and status
    assert len(out[out.index("Following") :].splitlines()) <= 15, out


def test_a_job_that_never_existed_is_named_and_the_hint_pastes_into_a_shell(stack: RunningStack) -> None:
    done = stack.studio("watch", "bad id-a8c59480deac8793", "--timeout", "2", expect=3)

    assert "bad id-a8c59480deac8793: no such job (nor catalogue) yet; waiting for it to appear" in done.out
    assert "keep following: studio watch 'bad id-a8c59480deac8793'" in done.out


def test_watch_help_states_the_default_timeout(stack: RunningStack) -> None:
    done = stack.studio("watch", "--help")

    assert "(default: 600)" in done.out


# --- the sample events ------------------------------------------------------------------------


def test_every_sample_event_runs_green_on_a_fresh_stack_and_leaves_it_healthy(tmp_path: Path) -> None:
    from studio_cli.invoking import REPO_EVENTS, SAMPLE_EVENTS, STATE_MACHINE_INPUTS

    # Given a fresh local stack, and every sample in events/ (each known as a function's event or
    # a state machine's input)
    assert {p.name for p in REPO_EVENTS.glob("*.json")} == {*SAMPLE_EVENTS, *STATE_MACHINE_INPUTS}
    with local_stack(tmp_path) as fresh:
        # When each function's sample is invoked, in the order a job meets them
        for name, function in SAMPLE_EVENTS.items():
            done = fresh.studio("invoke", function, "-e", f"events/{name}", expect=None, timeout=180)

            # Then it ran green: the function returned, nothing raised
            assert done.code == 0 and " raised " not in done.err, f"{name}:\n{done.out}\n{done.err}"
            # and whatever the sample names was there, or made first (said on stderr)
            if name == "submit.json":
                assert "created the photos samples/sku-123/back.jpg, samples/sku-123/front.jpg" in done.err
                assert "the job record sku-123-3f9a1c2b7d4e5f60 (QUEUED" in done.err
            if name == "check_status.json":
                assert "operation 6f1d2c9e-4b7a-4e35-8a1c-0d9b3e5f7a21 (SUCCESS)" in done.err

        # And the stack is healthy: every record reads as a job, none damaged
        status = fresh.studio("status")
        assert "damaged" not in status.text and "sku-123-3f9a1c2b7d4e5f60" in status.out
        fresh.studio("status", "sku-123-3f9a1c2b7d4e5f60")
        # and the samples started no folder job of their own (their photos are outside inbox/)
        listed = fresh.studio("status", "--product", "sku-123", "--json").out
        assert "inbox/sku-123" not in listed

        # The catalogue run's input is not a function's event: invoke says how to start it
        refused = fresh.studio("invoke", "CatalogueFunction", "-e", "events/catalogue.json", expect=2)
        assert "the catalogue state machine's input" in refused.err and "start-execution" in refused.err


def test_a_record_the_cli_cannot_read_is_shown_as_damaged_in_one_line(stack: RunningStack) -> None:
    # Given half a record, as a task invoked on a job that was never recorded used to write
    table = stack.client("dynamodb")
    table.put_item(
        TableName=stack.env["STUDIO_TABLE"],
        Item={
            "pk": {"S": "JOB#half-1-0123456789abcdef"},
            "sk": {"S": "JOB"},
            "status": {"S": "COPYING"},
            "updated_at": {"S": "2026-12-01T10:00:00.000+00:00"},
        },
    )

    # When the jobs are listed, or that one is asked for
    listed = stack.studio("status")
    one = stack.studio("status", "half-1-0123456789abcdef", expect=1)

    # Then it is named damaged, with what is wrong, in one line; never a validation dump
    for done in (listed, one):
        assert "half-1-0123456789abcdef" in done.text and "damaged" in done.text
        assert "it lacks job_id, product_id, created_at" in done.text
        assert "ValidationError" not in done.text and "a bug in studio" not in done.text
        assert "aws dynamodb delete-item" in done.text
    assert len([line for line in one.err.splitlines() if "damaged" in line]) == 1
