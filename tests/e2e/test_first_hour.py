"""The store engineer's first hour (issue 19): what broke or confused them, shown fixed.

One local stack serves the module, started with the README's command line; every `studio`
command runs as a process of its own, and none may end in a traceback (`run_studio` checks).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from studio_cli.samples import product_photo
from tests.support.cli_stack import (
    QUICK,
    STUDIO,
    RunningStack,
    clean_environment,
    local_stack,
    read_env_file,
    run_studio,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # The catalogues here name photos hosted on the local moto server (loopback).
    parameters = {**QUICK, "AllowPrivateImageUrls": "true"}
    with local_stack(tmp_path_factory.mktemp("first-hour"), parameters=parameters) as running:
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
    assert any(line.startswith("  inbox/bad-feed.csv row 3 bad id rejected: line 3:") for line in rows), out
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

    # And a rejected row's job says what it has and what to do, with times in one precision
    [rejected] = json.loads(stack.studio("status", "--product", "bad-feed-nourl", "--json").out)
    assert rejected["result_key"] is None and rejected["gallery_key"] is None
    detail = stack.studio("status", rejected["job_id"]).out
    assert "Result" not in detail and "Gallery" not in detail and "submit the folder again" not in detail
    assert "Error report  s3://" in detail and "inbox/bad-feed.csv.error.json" in detail
    assert "fix row 5 of inbox/bad-feed.csv and upload the catalogue again: studio submit bad-feed.csv" in (
        detail
    )
    times = re.findall(r"\d{4}-\d\d-\d\d[T ][\d:.]+(?: UTC|[+Z][\d:]*)?", detail)
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t) for t in times), times


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


# --- stopping `studio local up` ---------------------------------------------------------------


def lambda_workers(parent: int) -> list[int]:
    """The execution environments (lambda_worker processes) ``parent`` started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"lambda_worker.py" in cmdline:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:g} s"
        time.sleep(0.1)


def test_a_second_signal_still_stops_cleanly_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    with local_stack(tmp_path) as up:
        # Given a stack whose functions have execution environments, one of them busy: its
        # check waits 30 s for the simulator, so the clean stop would wait as long
        up.studio("invoke", "IngestFunction", "-e", "events/ingest_s3_test_event.json")
        simulator = up.env["AIUTA_API_URL"].rsplit("/studio/", 1)[0]
        requests.post(f"{simulator}/_sim/config", json={"latency_seconds": 30}, timeout=10)
        busy = subprocess.Popen(  # noqa: S603 - our own command line
            [*STUDIO, "invoke", "CheckStatusFunction", "-e", "events/check_status.json"],
            cwd=up.directory,
            env=up.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def checking() -> bool:
                calls = requests.get(f"{simulator}/_sim/calls", timeout=10).json()["calls"]
                return any(r.startswith("GET ") and "on_figure_operations/" in r for r in calls)

            wait_for(checking, 60, "the check reaching the simulator")
            workers = lambda_workers(up.process.pid)
            assert len(workers) >= 2, workers

            # When it gets SIGINT, and SIGTERM while it stops
            up.process.send_signal(signal.SIGINT)
            assert up.process.stdout is not None
            first = up.process.stdout.readline()
            while "stopping" not in first and first:
                first = up.process.stdout.readline()
            up.process.send_signal(signal.SIGTERM)
            rest, _ = up.process.communicate(timeout=20)
        finally:
            busy.kill()
            busy.wait()

        # Then it said "stopping…" at once, then "stopped"; its env file is gone, and so is
        # every execution environment it had started (busy or idle)
        assert first.startswith("stopping…"), first
        assert "stopped at once: the local stack is down" in rest, rest
        assert not up.env_file.exists()
        wait_for(lambda: not any(running(pid) for pid in workers), 10, "the workers ending")


def test_a_stale_env_file_is_detected_and_replaced(tmp_path: Path) -> None:
    # Given the env file of a stack that was killed (its process gone, its port closed)
    stale = tmp_path / ".local-stack" / "env"
    stale.parent.mkdir()
    gone = subprocess.Popen(["true"])  # noqa: S607 - a process number that is surely free now
    gone.wait()
    stale.write_text(
        "export AWS_ENDPOINT_URL=http://127.0.0.1:9\n"
        "export STUDIO_BUCKET=b\nexport STUDIO_TABLE=t\n"
        f"export STUDIO_LOCAL_PID={gone.pid}\n"
    )
    stale_env = {**clean_environment(), **read_env_file(stale)}

    # Then the CLI names it as a stopped stack, before any AWS call could wait
    done = run_studio(stale_env, "status", expect=1, timeout=30)
    assert f"it has stopped (its process {gone.pid} is gone), but its environment is still set" in done.err

    # And the README's wait loop does not take it: it waits for the env file of its own stack
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert 'until grep -qs "^export STUDIO_LOCAL_PID=$!\\$" .local-stack/env' in readme

    # And `studio local up` replaces it
    with local_stack(tmp_path) as up:
        assert read_env_file(up.env_file)["STUDIO_LOCAL_PID"] == str(up.process.pid)
        up.studio("status")
    assert not stale.exists()


# --- the demo ---------------------------------------------------------------------------------


def test_the_demo_says_plainly_why_it_uploads_the_product_submit_refuses(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_cli.demo import demo_products, submit_samples
    from studio_cli.stack import Stack

    # Given the demo's broken product, submitted the way the demo does
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    [broken] = [p for p in demo_products() if p.product_id == "broken-tee"]
    lines: list[str] = []

    expected = submit_samples(Stack.from_env(), [broken], tmp_path, lines.append)

    # Then it says submit refuses it, and that the demo uploads it anyway, and why: no line says
    # nothing was uploaded and then that files were
    text = "\n".join(lines)
    assert "studio submit refuses it:" in lines[0] and "nothing was uploaded" not in text
    assert "so the demo uploads its 2 files unchecked" in lines[1]
    assert "to show ingest refusing it too" in text
    assert "its id comes from" not in text
    assert list(expected.products) == ["broken-tee"]


# --- iPhone photos ----------------------------------------------------------------------------


def test_iphone_heic_photos_are_accepted_and_given_to_aiuta_as_jpeg(
    stack: RunningStack, tmp_path: Path
) -> None:
    import io

    from PIL import Image
    from pillow_heif import register_heif_opener

    from studio_cli.samples import SampleProduct

    # Given a folder with an iPhone photo (HEIC) beside a JPEG
    register_heif_opener()
    buffer = io.BytesIO()
    Image.new("RGB", (360, 480), (30, 120, 200)).save(buffer, format="HEIF", quality=80)
    folder = SampleProduct(
        "iphone-shirt",
        "tshirt",
        (30, 120, 200),
        photos=1,
        manifest={"product": {"category": "Apparel & Accessories > Clothing"}},
        extra_files={"IMG_0001.HEIC": buffer.getvalue()},
    ).write(tmp_path)

    # When it is submitted and followed
    submitted = stack.studio("submit", str(folder), "--watch", "--timeout", "120", timeout=180)

    # Then the HEIC photo went up as a photo (never "not a photo"), and the job succeeded
    assert "skipped" not in submitted.out and "not a photo" not in submitted.out
    assert "3 file(s)" in submitted.out and "done: 1 SUCCEEDED" in submitted.out
    [job] = json.loads(stack.studio("status", "--product", "iphone-shirt", "--json").out)
    [converted] = [key for key in job["input_keys"] if key.startswith("outbox/iphone-shirt/converted/")]
    # with Aiuta given the JPEG made from it
    assert job["input_keys"] == [converted, "inbox/iphone-shirt/photo-1.jpg"]
    body = stack.client("s3").get_object(Bucket=stack.env["STUDIO_BUCKET"], Key=converted)["Body"].read()
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.format == "JPEG" and picture.size == (360, 480)
