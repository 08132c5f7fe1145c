"""Each problem a new user ran into with `studio` (the operator-experience issue), shown fixed.

One local stack serves the module, started with the README's own command line; every command
runs as a process of its own, and none may end in a traceback (`run_studio` checks).
"""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_cli.samples import SampleProduct, product_photo
from tests.support.cli_stack import QUICK, STUDIO, RunningStack, clean_environment, local_stack, run_studio
from tests.support.waiting import next_line

CATEGORY = "Apparel & Accessories > Clothing"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # The README's command, in a directory where .local-stack/ does not exist yet
    # The catalogue tests host their photos on the local moto server: a loopback address, which
    # ingest (and `studio submit`) accept only with AllowPrivateImageUrls.
    parameters = {**QUICK, "AllowPrivateImageUrls": "true"}
    directory = tmp_path_factory.mktemp("readme")
    with local_stack(directory, parameters, args=("--env-file", ".local-stack/env")) as running:
        yield running


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("products")


def keys(stack: RunningStack, prefix: str) -> list[str]:
    answer = stack.client("s3").list_objects_v2(Bucket=stack.env["STUDIO_BUCKET"], Prefix=prefix)
    return sorted(o["Key"] for o in answer.get("Contents", []))


def submit_and_wait(stack: RunningStack, folder: Path) -> dict[str, Any]:
    [submitted] = json.loads(stack.studio("submit", str(folder), "--json").out)
    [job_id] = submitted["job_ids"]
    stack.studio("watch", job_id, "--timeout", "60", expect=None)
    return json.loads(stack.studio("status", job_id, "--json").out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def succeeded(stack: RunningStack, products: Path) -> dict[str, Any]:
    folder = SampleProduct(
        "ok-shirt", "tshirt", (200, 190, 170), manifest={"product": {"category": CATEGORY}}
    )
    record = submit_and_wait(stack, folder.write(products))
    assert record["status"] == "SUCCEEDED", record
    return record


@pytest.fixture(scope="module")
def failed(stack: RunningStack, products: Path) -> dict[str, Any]:
    manifest = {"product": {"category": CATEGORY, "description": "[sim:FAILED]"}}
    record = submit_and_wait(
        stack, SampleProduct("fail-shirt", "tshirt", (90, 20, 20), manifest=manifest).write(products)
    )
    assert record["status"] == "FAILED", record
    return record


# --- local up ---------------------------------------------------------------------------------


def test_the_readme_command_creates_the_missing_env_file_directory(stack: RunningStack) -> None:
    assert stack.env_file.is_file()
    assert stack.env["STUDIO_BUCKET"]


def test_a_second_local_up_on_the_same_env_file_is_refused(stack: RunningStack) -> None:
    done = stack.studio("local", "up", "--env-file", ".local-stack/env", expect=1)
    assert "a local stack already runs at" in done.err
    assert stack.env_file.is_file()  # the running stack's file is left alone


# --- submit -----------------------------------------------------------------------------------


def test_two_folders_with_one_product_id_are_refused_not_merged(stack: RunningStack, products: Path) -> None:
    a = SampleProduct("merge-a", "tshirt", (1, 2, 3), manifest={}).write(products)
    b = SampleProduct("merge-b", "dress", (3, 2, 1), manifest={}).write(products)

    done = stack.studio("submit", str(a), str(b), "--product-id", "merged", expect=2)

    assert "--product-id names one product" in done.err
    assert keys(stack, "inbox/merged/") == []


def test_a_csv_with_a_wrong_header_is_refused_before_upload(stack: RunningStack, tmp_path: Path) -> None:
    feed = tmp_path / "wrong.csv"
    feed.write_text("sku,urls\nsku-1,https://cdn.example.com/a.jpg\n")

    done = stack.studio("submit", str(feed), expect=1)

    assert "lacks the column(s) id, image_urls" in done.err and "nothing was uploaded" in done.err
    assert keys(stack, "inbox/wrong.csv") == []


def test_an_invalid_job_file_is_refused_before_upload(stack: RunningStack, products: Path) -> None:
    folder = SampleProduct("typo-shirt", "tshirt", (9, 9, 9), manifest={"number_of_generatons": 2}).write(
        products
    )

    done = stack.studio("submit", str(folder), expect=1)

    assert "unknown key 'number_of_generatons'" in done.err
    assert keys(stack, "inbox/typo-shirt/") == []


def test_submit_names_skipped_files_and_the_quiet_period(stack: RunningStack, products: Path) -> None:
    # Given photos without product.json, a note and a subfolder
    folder = SampleProduct("quiet-shirt", "tshirt", (100, 120, 140), extra_files={"notes.txt": b"x"}).write(
        products
    )
    (folder / "old").mkdir()

    done = stack.studio("submit", str(folder))

    assert "skipped notes.txt" in done.out and "skipped old/" in done.out
    assert "no new photo for 2 s" in done.out  # the stack's InboxQuietSeconds
    assert keys(stack, "inbox/quiet-shirt/") == [
        "inbox/quiet-shirt/photo-1.jpg",
        "inbox/quiet-shirt/photo-2.jpg",
    ]

    # And watch right after it follows that job to its end instead of ending at once
    watched = stack.studio("watch", "--timeout", "60")
    states = [line.split()[-2] for line in watched.out.splitlines() if "quiet-shirt-" in line]
    assert states[-1] == "SUCCEEDED"
    # each change once, and only the job it follows
    assert len(states) == len(set(states))
    assert "ok-shirt" not in watched.out


def test_watch_waits_for_a_job_that_is_not_recorded_yet(stack: RunningStack) -> None:
    # A job ingest has not recorded yet is waited for, never taken for finished
    done = stack.studio("watch", "later-shirt-0123456789abcdef", "--timeout", "2", expect=3)

    # (no command announced it: it is named at once as not existing yet)
    assert "later-shirt-0123456789abcdef: no such job (nor catalogue) yet; waiting for it" in done.out
    assert "still running after 2 s (1 waiting)" in done.out


# --- regenerate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--type", "back/dancing"], "'dancing' is not one of"),
        (["--type", "ghost_mannequin/front"], "regeneration is on-figure only: 'ghost_mannequin/front'"),
        (["--type", "back/walking", "--generations", "9"], "'9' is not 1-4"),
    ],
)
def test_regenerate_refuses_what_can_never_run(
    stack: RunningStack, succeeded: dict[str, Any], arguments: list[str], message: str
) -> None:
    done = stack.studio("regenerate", succeeded["job_id"], *arguments, expect=2)

    assert message in done.err
    assert keys(stack, "regenerate/") == []


def test_regenerate_refuses_a_failed_job_with_the_reason(stack: RunningStack, failed: dict[str, Any]) -> None:
    done = stack.studio("regenerate", failed["job_id"], "--type", "back/walking", expect=1)

    assert "has no on-figure operation that succeeded" in done.err and "FAILED" in done.err
    assert keys(stack, "regenerate/") == []


def test_regenerate_refuses_a_flat_lay_only_job(stack: RunningStack, products: Path) -> None:
    manifest = {"kind": "flat_lay", "product": {"category": CATEGORY}}
    record = submit_and_wait(
        stack, SampleProduct("flat-dress", "dress", (20, 90, 20), manifest=manifest).write(products)
    )

    done = stack.studio("regenerate", record["job_id"], "--type", "back/walking", expect=1)

    assert "made flat-lay shots only, and regeneration is on-figure only" in done.err
    assert keys(stack, "regenerate/") == []


@pytest.fixture(scope="module")
def unfinished(stack: RunningStack, products: Path) -> str:
    manifest = {"product": {"category": CATEGORY, "description": "[sim:NEVER_FINISHES]"}}
    folder = SampleProduct("slow-shirt", "tshirt", (50, 50, 50), manifest=manifest).write(products)
    [submitted] = json.loads(stack.studio("submit", str(folder), "--json").out)
    [job_id] = submitted["job_ids"]
    deadline = time.monotonic() + 30
    while stack.studio("status", job_id, "--json", expect=None).code != 0:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    return job_id  # type: ignore[no-any-return]


def test_regenerate_refuses_an_unfinished_job(stack: RunningStack, unfinished: str) -> None:
    done = stack.studio("regenerate", unfinished, "--type", "back/walking", expect=1)

    assert "a regeneration builds on a job that has ended" in done.err
    assert f"studio watch {unfinished}" in done.err


# --- watch ------------------------------------------------------------------------------------


def test_watch_gives_up_with_exit_3_not_0(stack: RunningStack, unfinished: str) -> None:
    done = stack.studio("watch", unfinished, "--timeout", "2", expect=3)

    assert "still running after 2 s" in done.out


def test_ctrl_c_on_watch_stops_watching_without_a_traceback(stack: RunningStack, unfinished: str) -> None:
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [*STUDIO, "watch", unfinished],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started in the background (as CI may be) ignores SIGINT, and so would its
        # children: the command gets Ctrl-C as a person's terminal gives it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Interrupted once it is watching (before, Python is still importing: that Ctrl-C is not ours)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    first = process.stdout.readline() if ready else ""
    assert first.startswith("Following 1 job"), first
    next_line(process.stdout, what="watch's first status line (then it is following)")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "stopped watching; the jobs carry on" in out
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err


def test_watch_exits_1_when_a_job_failed(stack: RunningStack, failed: dict[str, Any]) -> None:
    done = stack.studio("watch", failed["job_id"], expect=1)

    assert "not all succeeded" in done.out and "FAILED" in done.out


# --- status and results -----------------------------------------------------------------------


def test_status_and_results_of_an_unknown_job_both_exit_1(stack: RunningStack) -> None:
    for command in ("status", "results"):
        done = stack.studio(command, "nope", expect=1)
        assert "there is no job 'nope'" in done.err
        assert done.out == ""


def test_results_download_of_a_failed_job_says_why_and_exits_1(
    stack: RunningStack, failed: dict[str, Any], tmp_path: Path
) -> None:
    done = stack.studio("results", failed["job_id"], "--download", str(tmp_path), expect=1)

    assert "FAILED" in done.out and "no generated images to download" in done.out
    assert (tmp_path / failed["job_id"] / "index.html").is_file()  # the gallery says why, too


def test_status_filters_by_status_and_product(
    stack: RunningStack, succeeded: dict[str, Any], failed: dict[str, Any]
) -> None:
    only_failed = json.loads(stack.studio("status", "--status", "failed", "--json").out)
    assert failed["job_id"] in [job["job_id"] for job in only_failed]
    assert {job["status"] for job in only_failed} == {"FAILED"}

    of_product = json.loads(stack.studio("status", "--product", "ok-shirt", "--json").out)
    assert [job["job_id"] for job in of_product] == [succeeded["job_id"]]
    assert of_product[0]["execution_arn"].endswith(
        f":execution:studio-local-studio-job:{succeeded['job_id']}"
    )

    stack.studio("status", "--status", "DONE", expect=2)


def test_commands_against_a_stopped_stack_say_what_to_do(stack: RunningStack, tmp_path: Path) -> None:
    # Given the env of a stack that is gone (nothing listens on its port any more)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = {**stack.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    folder = SampleProduct("gone-shirt", "tshirt", (1, 1, 1), manifest={}).write(tmp_path)

    for args in (["status"], ["watch", "x"], ["results", "x"], ["submit", str(folder)], ["presets"]):
        done = run_studio(gone, *args, expect=1, timeout=60)
        assert "does not answer: it has stopped, but its environment is still set" in done.err, args


def test_commands_without_a_stack_say_what_to_do() -> None:
    done = run_studio(clean_environment(), "status", expect=1)
    assert "studio local up" in done.err and "--stack NAME" in done.err


# --- catalogues -------------------------------------------------------------------------------


def test_a_catalogue_is_followed_with_its_progress(stack: RunningStack, tmp_path: Path) -> None:
    # Given two products hosted elsewhere (presigned links) and a feed with one bad row
    s3, bucket = stack.client("s3"), stack.env["STUDIO_BUCKET"]
    links = []
    for product_id in ("feed-a", "feed-b"):
        s3.put_object(
            Bucket=bucket, Key=f"hosted/{product_id}.jpg", Body=product_photo("tshirt", (0, 90, 200))
        )
        links.append(
            s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": f"hosted/{product_id}.jpg"}, ExpiresIn=600
            )
        )
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "id,title,image_urls\n"
        + "".join(f"feed-{n},Tee,{link}\n" for n, link in zip("ab", links, strict=True))
        + "feed-c,Tee,not-a-url\n"
    )

    # When it is submitted, the bad row is named and nothing goes up unless asked
    refused = stack.studio("submit", str(feed), expect=1)
    assert "1 of 3 rows cannot run" in refused.err and "line 4" in refused.err
    assert keys(stack, "inbox/feed.csv") == []
    stack.studio("submit", str(feed), "--allow-invalid-rows")

    # Then watch follows the catalogue's rows to their end: 2 done, 1 failed, of 3
    watched = stack.studio("watch", "--timeout", "90", expect=1)
    assert "inbox/feed.csv: 0 done" in watched.out or "waiting, of 3" in watched.out
    assert "inbox/feed.csv: 2 done, 1 failed, 0 running, 0 waiting, of 3" in watched.out
    # from the catalogue run's own record (its Map Run), ending with where its report is
    assert "(report: inbox/feed.csv.report/report.json)" in watched.out
    report = stack.client("s3").get_object(
        Bucket=stack.env["STUDIO_BUCKET"], Key="inbox/feed.csv.report/report.json"
    )
    assert json.loads(report["Body"].read())["rows"] == 3
