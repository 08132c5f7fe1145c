"""The CLI's decisions without a stack: exit codes, refusals, links, what a watch counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from studio_cli.errors import Exit, Refused, UsageError
from studio_cli.last_jobs import Catalogue, Expected, recall, remember
from studio_cli.main import build_parser, explain_aws_error, main
from studio_cli.regenerating import check_base, check_request
from studio_cli.samples import product_photo
from studio_cli.stack import Stack
from studio_cli.submitting import plan_catalogue, plan_folder, submit_paths
from studio_cli.views import next_steps
from studio_cli.watching import WatchOutcome, catalogue_progress
from studio_core.domain.jobs import JobDefaults
from studio_core.domain.record import JobRecord

STATE_MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:shop-studio-job"


def record(status: str = "SUCCEEDED", **changes: Any) -> JobRecord:
    document: dict[str, Any] = {
        "job_id": "sku-1-abc",
        "product_id": "sku-1",
        "status": status,
        "created_at": "2026-12-01T10:00:00+00:00",
        "updated_at": "2026-12-01T10:01:00+00:00",
        "execution_name": "sku-1-abc",
        "job": {"kind": ["on_figure"], "image_types": {"on_figure": ["front/standing"]}},
        "operations": [{"kind": "on_figure", "operation_id": "op-1", "status": "SUCCESS"}],
    }
    document.update(changes)
    return JobRecord.model_validate(document)


# --- links ------------------------------------------------------------------------------------


def test_a_deployed_stack_links_each_execution_in_the_console() -> None:
    stack = Stack("bucket", "table", state_machine_arn=STATE_MACHINE)

    arn = stack.execution_arn(record())

    assert arn == "arn:aws:states:eu-west-1:111122223333:execution:shop-studio-job:sku-1-abc"
    assert stack.console_url(arn) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
        "arn%3Aaws%3Astates%3Aeu-west-1%3A111122223333%3Aexecution%3Ashop-studio-job%3Asku-1-abc"
    )


def test_the_local_stack_has_no_console_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    stack = Stack("bucket", "table", state_machine_arn=STATE_MACHINE)

    assert stack.console_url(str(stack.execution_arn(record()))) is None


def test_a_stack_with_no_names_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match="STUDIO_BUCKET and STUDIO_TABLE are not set") as caught:
        Stack.from_env({})
    assert "studio local up" in str(getattr(caught.value, "hint", ""))


def test_the_stacks_parameters_give_the_defaults_ingest_applies() -> None:
    stack = Stack("b", "t", given_parameters={"DefaultKind": "both", "InboxQuietSeconds": "45"})

    assert [k.value for k in stack.job_defaults().kind] == ["on_figure", "flat_lay"]
    assert stack.quiet_seconds() == 45
    assert Stack("b", "t").job_defaults() == JobDefaults()


# --- exit codes -------------------------------------------------------------------------------


def test_watch_exit_codes_are_the_jobs_outcome() -> None:
    ok, failed, partial = record(), record("FAILED"), record("PARTIAL")
    running = record("GENERATING")

    assert WatchOutcome({"a": ok}).exit_code is Exit.OK
    assert WatchOutcome({"a": ok, "b": failed}).exit_code is Exit.FAILED
    assert WatchOutcome({"a": partial}).exit_code is Exit.FAILED
    assert WatchOutcome({"a": ok, "b": running}).exit_code is Exit.UNFINISHED
    assert WatchOutcome({"a": None}).exit_code is Exit.UNFINISHED  # never appeared
    assert WatchOutcome({"a": ok}, timed_out=True).exit_code is Exit.UNFINISHED


def test_bad_values_on_the_command_line_are_usage_errors() -> None:
    for argv in (
        ["regenerate", "j", "--type", "back/walking", "--generations", "9"],
        ["status", "--status", "DONE"],
        ["watch", "--timeout", "-1"],
        ["frobnicate"],
    ):
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(argv)
        assert caught.value.code == Exit.USAGE, argv


def test_a_stack_that_stopped_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    message, hint = explain_aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:5999"))

    assert "does not answer: it has stopped" in message
    assert hint and "studio local up" in hint


def test_main_reports_errors_in_a_line_and_returns_their_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("STUDIO_BUCKET", "STUDIO_TABLE", "STUDIO_STACK"):
        monkeypatch.delenv(name, raising=False)

    assert main(["status"]) == Exit.FAILED
    err = capsys.readouterr().err
    assert err.startswith("studio status: no stack to talk to") and "Traceback" not in err


# --- regenerate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "generations", "message"),
    [
        (["back/dancing"], None, "'dancing' is not one of"),
        (["ghost_mannequin/front"], None, "regeneration is on-figure only: 'ghost_mannequin/front'"),
        (["front"], None, "must look like 'front/standing'"),
        (["back/walking", "back/walking"], None, "listed twice: back/walking"),
    ],
)
def test_a_regeneration_that_can_never_run_is_a_usage_error(
    types: list[str], generations: int | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        check_request(types, generations)


@pytest.mark.parametrize(
    ("base", "message"),
    [
        (
            record("FAILED", operations=[], error="InvalidJob: no images"),
            "has no on-figure operation that succeeded",
        ),
        (record(job={"kind": ["flat_lay"]}, operations=[]), "made flat-lay shots only"),
        (
            record(
                "GENERATING", operations=[{"kind": "on_figure", "operation_id": "o", "status": "IN_PROGRESS"}]
            ),
            "is GENERATING",
        ),
    ],
)
def test_a_job_a_regeneration_cannot_build_on_is_refused(base: JobRecord, message: str) -> None:
    with pytest.raises(Refused, match=message):
        check_base(base)


def test_a_finished_on_figure_job_can_be_regenerated() -> None:
    check_base(record())
    check_base(record("PARTIAL"))


# --- submit -----------------------------------------------------------------------------------


def folder(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    target = tmp_path / name
    target.mkdir()
    for file, data in files.items():
        (target / file).write_bytes(data)
    return target


def test_a_folder_plan_names_what_is_skipped(tmp_path: Path) -> None:
    path = folder(tmp_path, "sku-9", {"a.jpg": product_photo("tshirt", (1, 2, 3)), "notes.txt": b"x"})
    (path / "raw").mkdir()

    plan = plan_folder(path, None, JobDefaults())

    assert [p.name for p in plan.files] == ["a.jpg"]
    assert {s.name for s in plan.skipped} == {"notes.txt", "raw/"}


@pytest.mark.parametrize(
    ("name", "files", "message"),
    [
        ("linen shirt", {"a.jpg": b"x"}, "is not a valid product id"),
        ("sku-1", {"a.jpg": b""}, "a.jpg is empty"),
        ("sku-2", {"product.json": b"{"}, "is not valid JSON"),
        ("sku-3", {"product.json": b"{}"}, "no images"),
        ("sku-4", {"notes.txt": b"x"}, "no images"),
    ],
)
def test_a_folder_that_cannot_run_is_refused_before_upload(
    tmp_path: Path, name: str, files: dict[str, bytes], message: str
) -> None:
    with pytest.raises(Refused, match=message) as caught:
        plan_folder(folder(tmp_path, name, files), None, JobDefaults())
    assert "nothing was uploaded" in caught.value.message


def test_one_product_id_for_two_folders_is_a_usage_error(tmp_path: Path) -> None:
    photo = {"a.jpg": product_photo("tshirt", (1, 2, 3))}
    paths = [folder(tmp_path, "a", photo), folder(tmp_path, "b", photo)]

    with pytest.raises(UsageError, match="--product-id names one product"):
        submit_paths(Stack("b", "t"), paths, "x")
    (tmp_path / "other").mkdir()
    with pytest.raises(UsageError, match="would both go to inbox/a/"):
        submit_paths(Stack("b", "t"), [paths[0], folder(tmp_path / "other", "a", photo)])


def test_a_catalogue_plan_lists_the_rows_that_will_fail(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "id,image_urls\nsku-1,https://cdn.example/a.jpg\nbad id,https://cdn.example/b.jpg\nsku-3,\n"
    )

    plan = plan_catalogue(feed, JobDefaults())

    assert plan.key == "inbox/feed.csv"
    assert sorted(plan.problems) == [3, 4]


# --- watch ------------------------------------------------------------------------------------


def test_catalogue_progress_counts_rows_not_recorded_yet_as_waiting() -> None:
    catalogue = Catalogue("inbox/feed.csv", rows=5, jobs=["a", "b", "c", "d"])
    records = {"a": record(), "b": record("FAILED"), "c": record("GENERATING"), "d": None}

    progress = catalogue_progress(catalogue, records)

    # the fifth row had no product id: it failed at ingest and never became a job
    assert (progress.done, progress.failed, progress.running, progress.waiting) == (1, 2, 1, 1)
    assert progress.line() == "inbox/feed.csv: 1 done, 2 failed, 1 running, 1 waiting, of 5"


def test_the_last_submit_is_remembered_per_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_STATE_DIR", str(tmp_path))
    remember("t1", Expected(jobs=["a"], catalogues=[Catalogue("inbox/f.csv", 2, ["b"])], command="submit"))

    recalled = recall("t1")

    assert recalled is not None and recalled.jobs == ["a"] and recalled.catalogues[0].rows == 2
    assert recall("t2") is None
    assert json.loads((tmp_path / "last-jobs-t1.json").read_text())["command"] == "submit"


def test_next_steps_suggest_what_a_person_can_do() -> None:
    assert next_steps(record("GENERATING")) == ["studio watch sku-1-abc"]
    assert any(s.startswith("studio results sku-1-abc --download") for s in next_steps(record()))
    assert any(s.startswith("studio regenerate") for s in next_steps(record()))
    timed_out = record(
        "TIMED_OUT", operations=[{"kind": "on_figure", "operation_id": "o", "status": "IN_PROGRESS"}]
    )
    assert any(s.startswith("studio resume sku-1-abc") for s in next_steps(timed_out))


class ScriptedJobs:
    """A jobs table whose job moves one status further at each look."""

    def __init__(self, statuses: list[str | None]) -> None:
        self.statuses = statuses
        self.looks = 0

    def get(self, job_id: str) -> JobRecord | None:
        status = self.statuses[min(self.looks, len(self.statuses) - 1)]
        self.looks += 1
        return None if status is None else record(status, job_id=job_id)

    def for_product(self, product_id: str) -> list[JobRecord]:
        return []


class ScriptedStack:
    catalogue_state_machine_arn = None  # no catalogue runs: progress from the rows' job records

    def __init__(self, jobs: ScriptedJobs) -> None:
        self._jobs = jobs

    def jobs(self) -> ScriptedJobs:
        return self._jobs

    def quiet_seconds(self) -> int:
        return 2


def test_watch_on_a_terminal_draws_the_jobs_and_a_catalogue_bar_in_place() -> None:
    import io

    from rich.console import Console

    from studio_cli.watching import follow

    # Given a job that is not recorded yet, then runs, then succeeds, in a catalogue of 2 rows
    jobs = ScriptedJobs([None, "GENERATING", "SUCCEEDED"])
    screen = io.StringIO()
    out = Console(file=screen, force_terminal=True, width=140)
    expected = Expected(catalogues=[Catalogue("inbox/feed.csv", 2, ["feed-a-1"])])

    # When it is followed live
    outcome = follow(ScriptedStack(jobs), expected, out, timeout_seconds=10, interval_seconds=0.01, live=True)  # type: ignore[arg-type]

    # Then the view showed the waiting job, the progress bar and the end; the row without an id failed
    drawn = screen.getvalue()
    assert "waiting" in drawn and "feed-a-1" in drawn and "inbox/feed.csv" in drawn
    assert "1 done" in drawn and "1 failed" in drawn
    assert outcome.exit_code is Exit.FAILED  # the job succeeded, the row without an id did not
    assert outcome.catalogues[0].done == 1 and outcome.catalogues[0].failed == 1


class ScriptedMapRuns:
    """Step Functions answering for one catalogue execution with the given map runs (label, counts)."""

    def __init__(self, status: str, runs: list[tuple[str | None, dict[str, int]]]) -> None:
        self.status = status
        prefix = "arn:aws:states:us-east-1:123456789012:mapRun:studio-catalogue"
        self.runs = {
            f"{prefix}/{label or 'a1b2c3'}:run-{i}": counts for i, (label, counts) in enumerate(runs)
        }

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": self.status}

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:
        return {"mapRuns": [{"mapRunArn": arn} for arn in self.runs]}

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        return {"itemCounts": self.runs[mapRunArn]}


class CatalogueStack:
    catalogue_state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:studio-catalogue"

    def __init__(self, sfn: ScriptedMapRuns) -> None:
        self.sfn = sfn

    def client(self, service: str) -> ScriptedMapRuns:
        return self.sfn

    def storage(self) -> Any:
        return NoReports()


class NoReports:
    """A bucket without the catalogue's check files (a run of an older definition)."""

    def read_bytes(self, key: str) -> bytes:
        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": key}}, "GetObject")


def test_watch_shows_a_catalogue_checking_its_rows_then_running_their_jobs() -> None:
    from studio_cli import watching
    from studio_cli.watching import map_run_progress
    from studio_core.domain.identity import catalogue_run_name

    catalogue = Catalogue("inbox/feed.csv", rows=500, etag="abc")
    checking = ScriptedMapRuns("RUNNING", [])
    running = ScriptedMapRuns(
        "RUNNING", [("RunJobs", {"total": 480, "succeeded": 40, "failed": 6, "running": 10})]
    )
    older = ScriptedMapRuns("SUCCEEDED", [(None, {"total": 500, "succeeded": 498, "failed": 2})])
    # what the check decided: 15 rows unchanged (done already), 5 refused
    run_name = catalogue_run_name("inbox/feed.csv", "abc")
    watching._settled[run_name] = {"rows": 500, "unchanged": 15, "rejected": 4, "over_budget": 1}

    first = map_run_progress(CatalogueStack(checking), catalogue)  # type: ignore[arg-type]
    then = map_run_progress(CatalogueStack(running), catalogue)  # type: ignore[arg-type]
    watching._settled.clear()
    old = map_run_progress(CatalogueStack(older), catalogue)  # type: ignore[arg-type]

    assert first is not None
    assert first.line() == "inbox/feed.csv: checking rows, 0 of 500 checked, 0 rejected"
    assert not first.finished
    assert then is not None
    assert then.line() == "inbox/feed.csv: 55 done, 11 failed, 10 running, 424 waiting, of 500"
    # a run of an older definition had one map run, unlabelled: its jobs'
    assert old is not None and (old.done, old.failed, old.finished) == (498, 2, True)


def test_the_catalogue_state_machine_labels_its_job_map_as_watch_reads_it() -> None:
    from studio_cli.watching import JOBS_MAP_LABEL

    definition = json.loads((Path(__file__).parents[2] / "statemachine" / "catalogue.asl.json").read_text())
    labels = {
        name: state.get("Label") for name, state in definition["States"].items() if state["Type"] == "Map"
    }

    assert labels == {"Run a job per row": JOBS_MAP_LABEL}


def test_keep_following_quotes_each_name_so_the_line_pastes_into_a_shell() -> None:
    from studio_cli.watching import keep_following

    pasted = keep_following(["bad id-a8c59480deac8793", "ok-1"])
    assert pasted == "studio watch 'bad id-a8c59480deac8793' ok-1"
    assert keep_following([f"j{n}" for n in range(7)]).endswith("j4 ...")


def test_a_catalogue_reports_rows_ended_by_the_check_and_by_their_jobs() -> None:
    from studio_cli.watching import REJECTED, UNCHANGED, row_of_record, rows_of_report

    # Given the check's quote and the run's report, as the catalogue run writes them
    checked = {
        "rows": [
            {"row": 2, "product_id": "sku-2", "outcome": "new", "job_id": "sku-2-a"},
            {
                "row": 3,
                "product_id": "bad id",
                "outcome": "rejected",
                "reason": "line 3: 'bad id' is not valid",
            },
            {"row": 4, "product_id": "sku-4", "outcome": "unchanged", "job_id": "sku-4-b"},
        ]
    }
    report = {"rows_detail": [{"row": 5, "product_id": "sku-5", "outcome": "new", "status": "FAILED"}]}

    # Then each names its rows: rejected and unchanged at once (they never run a job), or ended
    rejected, unchanged = rows_of_report(checked)
    [failed] = rows_of_report(report)
    assert (rejected.line, rejected.outcome, rejected.job_id) == (3, REJECTED, None)
    assert (unchanged.line, unchanged.outcome, unchanged.job_id) == (4, UNCHANGED, "sku-4-b")
    assert (failed.line, failed.outcome) == (5, "FAILED")
    # and a row's job record ends its row (one the check refused has no execution: rejected)
    done = row_of_record(record(catalogue_line=2))
    refused = row_of_record(record("FAILED", catalogue_line=4, execution_name=None, error="bad"))
    assert done is not None and (done.line, done.outcome) == (2, "SUCCEEDED")
    assert refused is not None and (refused.outcome, refused.reason) == (REJECTED, "bad")
    assert row_of_record(record("GENERATING", catalogue_line=6)) is None


def test_a_catalogue_total_is_the_files_rows_from_the_start() -> None:
    from studio_cli.watching import map_run_progress

    # Given a catalogue run still checking its rows, then running its jobs (the map's own total is
    # only the rows that run)
    catalogue = Catalogue("inbox/feed.csv", rows=20, etag="abc")
    early = ScriptedMapRuns("RUNNING", [])
    later = ScriptedMapRuns(
        "RUNNING", [("RunJobs", {"total": 12, "succeeded": 2, "failed": 0, "running": 3})]
    )

    # Then the total shown is the file's row count each time
    first = map_run_progress(CatalogueStack(early), catalogue)  # type: ignore[arg-type]
    then = map_run_progress(CatalogueStack(later), catalogue)  # type: ignore[arg-type]
    assert first is not None and first.line() == "inbox/feed.csv: checking rows, 0 of 20 checked, 0 rejected"
    assert then is not None and then.line().endswith("of 20")


def test_a_generating_job_shows_how_long_it_has_been_at_aiuta_and_a_heartbeat() -> None:
    from rich.console import Console

    from studio_cli.watching import follow

    # Given a job that is GENERATING for a few looks, then succeeds
    jobs = ScriptedJobs(["GENERATING", "GENERATING", "GENERATING", "SUCCEEDED"])
    lines: list[str] = []

    # When it is followed in a pipe, with a heartbeat whenever nothing else was said
    follow(
        ScriptedStack(jobs),  # type: ignore[arg-type]
        Expected(jobs=["sku-1-abc"]),
        Console(),
        interval_seconds=0.01,
        live=False,
        on_change=lines.append,
        heartbeat_seconds=0,
    )

    # Then the heartbeat says what runs, since when, and how far it is
    beats = [line for line in lines if line.startswith("  … ")]
    assert beats, lines
    assert "sku-1-abc GENERATING, at Aiuta for" in beats[0]
    assert "0 of 1 operation(s) finished" not in beats[0]  # the sample's operation has succeeded
    assert "1 of 1 operation(s) finished" in beats[0]


def test_a_job_no_command_announced_is_named_at_once_as_not_existing_yet() -> None:
    from rich.console import Console

    from studio_cli.watching import follow

    lines: list[str] = []
    outcome = follow(
        ScriptedStack(ScriptedJobs([None])),  # type: ignore[arg-type]
        Expected(jobs=["nope-123"]),
        Console(),
        timeout_seconds=0.05,
        interval_seconds=0.01,
        live=False,
        on_change=lines.append,
        unannounced=["nope-123"],
    )

    assert lines[0].startswith("  nope-123: no such job (nor catalogue) yet; waiting for it to appear")
    assert "up to 0.05 s" in lines[0] and "Ctrl-C stops watching" in lines[0]
    assert outcome.exit_code is Exit.UNFINISHED


def test_a_wrong_flag_shows_its_commands_usage_and_the_flag_it_resembles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["submit", "--wach", "x"])

    err = capsys.readouterr().err
    assert ended.value.code == Exit.USAGE
    assert err.startswith("usage: studio submit")
    assert "studio submit: unrecognized arguments: --wach; did you mean --watch?" in err


def test_a_misspelt_command_is_named_with_the_command_it_resembles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sbumit", "x"])

    err = capsys.readouterr().err
    assert "invalid choice: 'sbumit'" in err and err.rstrip().endswith("did you mean submit?")


def test_a_rejected_catalogue_row_says_to_fix_the_row_and_upload_the_catalogue_again() -> None:
    rejected = record(
        "FAILED",
        execution_name=None,
        operations=[],
        source_key="inbox/feed.csv",
        error="row 5 (sku-5): product 'sku-5': the job is invalid: image_urls.0: not an http(s) URL",
    )

    [step] = next_steps(rejected)

    assert step.startswith(
        "fix row 5 of inbox/feed.csv and upload the catalogue again: studio submit feed.csv"
    )
    assert "folder" not in step


def test_every_time_a_view_shows_has_one_precision() -> None:
    from studio_cli.views import timings, when

    assert when("2026-12-07T04:05:15.212+00:00") == "2026-12-07 04:05:15 UTC"
    assert when("2026-12-07T04:05:15.212722+00:00") == "2026-12-07 04:05:15 UTC"
    assert when("2026-12-07T05:05:15+01:00") == "2026-12-07 04:05:15 UTC"
    mixed = record(created_at="2026-12-01T10:00:00.123+00:00", finished_at="2026-12-01T10:00:09.123456+00:00")
    assert "created 2026-12-01 10:00:00 UTC" in timings(
        mixed
    ) and "finished 2026-12-01 10:00:09 UTC" in timings(mixed)
