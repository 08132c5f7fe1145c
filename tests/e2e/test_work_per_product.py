"""The work-per-product bench, reduced to one job of each type, checked against what else can count it.

``bench/work_per_product.py`` counts what a job costs in the local stack; here each of its job
types runs once (cold environments included, no warm-up) and its figures are held against the
simulator's own counters, the execution's shape, the outbox and the prices.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.benches import load_bench

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOP_STATES = ("Wait for Aiuta", "Check operation status", "Is the generation finished?")
# Creates per kind for each job type: exactly one per kind and round.
EXPECTED_CREATES = {
    "online": {"on_figure": 1},
    "offline": {"on_figure": 1},
    "flat_lay": {"flat_lay": 1},
    "regeneration": {"on_figure": 1, "on_figure_regenerate": 1},
}
# 2 s simulator operations checked with 1-2 s waits: a round never needs more checks than this.
MAX_CHECKS_PER_ROUND = 6

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("work_per_product")


@pytest.fixture(scope="module")
def jobs(bench: ModuleType) -> dict[str, dict[str, Any]]:
    measured = {}
    with bench.local_stack() as (studio, log):
        for job_type in bench.JOB_TYPES:
            measured[job_type] = bench.measure_job(studio, log, job_type, f"wpp-{job_type.replace('_', '-')}")
    return measured


@pytest.mark.parametrize("job_type", list(EXPECTED_CREATES))
def test_exactly_one_create_per_kind_and_round(jobs: dict[str, dict[str, Any]], job_type: str) -> None:
    job = jobs[job_type]
    assert job["status"] == "SUCCEEDED", job
    assert job["aiuta_creates"] == EXPECTED_CREATES[job_type]
    posts = {k: v for k, v in job["aiuta_calls"].items() if k.startswith("POST ")}
    assert sum(posts.values()) == sum(EXPECTED_CREATES[job_type].values()), posts


@pytest.mark.parametrize("job_type", list(EXPECTED_CREATES))
def test_transitions_are_the_loop_and_a_few_states_per_round(
    jobs: dict[str, dict[str, Any]], job_type: str
) -> None:
    job = jobs[job_type]
    checks = job["checks_per_round"]
    rounds = len(checks)
    assert rounds == (2 if job_type == "regeneration" else 1)
    assert all(1 <= n <= MAX_CHECKS_PER_ROUND for n in checks.values()), checks
    entered = job["states_entered"]
    # Every check is one pass through Wait, Check and Choice, and nothing else loops.
    for state in LOOP_STATES:
        assert entered[state] == sum(checks.values()), entered
    # Start Choice, Submit, then per round its loop, Copy and the round Choice (and the round's start),
    # and the end state: the bound the bench's README explains.
    bound = 5 + 3 * sum(checks.values()) + 3 * (rounds - 1)
    assert job["state_transitions"] == sum(entered.values())
    assert job["state_transitions"] <= bound, entered
    assert job["history_events"] > job["state_transitions"]


@pytest.mark.parametrize("job_type", list(EXPECTED_CREATES))
def test_invocations_match_the_execution(jobs: dict[str, dict[str, Any]], job_type: str) -> None:
    job = jobs[job_type]
    per_function: dict[str, int] = {}
    for invocation in job["invocations"]:
        per_function[invocation["function"]] = per_function.get(invocation["function"], 0) + 1
        assert invocation["seconds"] > 0 and invocation["memory_mb"] >= 128
        assert invocation["error"] is None, invocation
    rounds = len(job["checks_per_round"])
    assert per_function["SubmitFunction"] == 1
    assert per_function["CheckStatusFunction"] == sum(job["checks_per_round"].values())
    assert per_function["FinalizeFunction"] == rounds
    assert per_function.get("RegenerateFunction", 0) == rounds - 1
    assert per_function.get("RecordFailureFunction", 0) == 0
    assert per_function["IngestFunction"] >= 1  # the upload's events and settle checks; batching varies


@pytest.mark.parametrize("job_type", list(EXPECTED_CREATES))
def test_requests_are_attributed_and_match_the_bucket(
    bench: ModuleType, jobs: dict[str, dict[str, Any]], job_type: str
) -> None:
    job = jobs[job_type]
    requests = job["aws_requests"]
    assert bench.LAMBDA not in requests, "a Lambda's request was not attributed to its function"
    # Every object in the job's outbox was written by a Lambda request the bench counted.
    assert job["outbox_objects"], job
    assert job["outbox_keys_written_by_lambdas"] == job["outbox_objects"]
    assert job["images_copied"] >= 2
    # One job started, from one ingest request; its record written first by a PutItem.
    assert requests["IngestFunction"]["states.StartExecution"] == 1
    assert requests["IngestFunction"]["dynamodb.PutItem"] >= 1
    # The status checks write the job record when what it shows changes (each round's last check
    # does), not on every check; each takes a request turn (an UpdateItem of the capacity table).
    checks = [i for i in job["invocations"] if i["function"] == "CheckStatusFunction"]
    writes = sum(i["record_writes"] for i in checks)
    assert len(job["checks_per_round"]) <= writes <= len(checks)
    assert requests["CheckStatusFunction"].get("dynamodb.UpdateItem", 0) >= len(checks) + writes
    # The store's own uploads are counted apart from the pipeline's requests.
    assert requests[bench.STACK]["s3.PutObject"] >= job["uploads"]
    # urls mode: Aiuta reads each photo through its presigned URL once, at the round-0 create
    # (a regeneration starts from the original operation).
    assert requests.get(bench.AIUTA, {}).get("s3.GetObject", 0) == bench.PHOTOS


def test_units_and_cost_follow_from_the_counts(bench: ModuleType, jobs: dict[str, dict[str, Any]]) -> None:
    realistic = {
        "checks_mean": 15.0,
        "loops_mean": 2.0,
        "slept_seconds_mean": 30.0,
        "record_writes_mean": 2.0,
    }
    projections = dict.fromkeys(("online", "offline"), realistic)
    summary = bench.summarise(list(jobs.values()), projections)
    prices = bench.PRICES
    for job_type, s in summary.items():
        work = s["measured"]
        job = jobs[job_type]
        assert work["dynamodb_wru"] >= work["dynamodb_writes"]  # at least one unit per write
        assert work["dynamodb_rru"] >= 0.5 * work["dynamodb_reads"]
        usd = s["measured_usd"]
        assert usd["step_functions"] == pytest.approx(
            job["state_transitions"] * prices["step_functions_standard_per_transition"]
        )
        billed = sum(
            math.ceil(i["seconds"] * 1000) / 1000 * i["memory_mb"] / 1024 for i in job["invocations"]
        )
        assert work["lambda_billed_gb_seconds"] == pytest.approx(billed)
        assert usd["lambda_compute"] == pytest.approx(billed * prices["lambda_per_gb_second_arm64"])
        assert usd["total"] == pytest.approx(
            sum(v for k, v in usd.items() if k not in ("total", "lambda_compute_x86_64"))
        )
        # The projection checks each round 15 times in 2 loops here: 3 transitions and an
        # invocation per loop, an Aiuta read per check and operation, the time in-process billed.
        # (A job whose rounds were each noticed at their first check measured no waiting check
        # to project from, and is left as measured.)
        projected, rounds = s["projected"], len(job["checks_per_round"])
        if bench.waiting_check(job) is None:
            assert projected["state_transitions"] == work["state_transitions"]
            continue
        assert projected["state_transitions"] - work["state_transitions"] == pytest.approx(
            3 * (2.0 * rounds - sum(job["checks_per_round"].values()))
        )
        assert projected["lambda_invocations"] - work["lambda_invocations"] == pytest.approx(
            (projected["state_transitions"] - work["state_transitions"]) / 3
        )
        assert projected["aiuta_calls"] > work["aiuta_calls"]
        assert projected["lambda_billed_gb_seconds"] >= work["lambda_billed_gb_seconds"] + 30.0 * rounds * 0.5
        assert s["usd_per_1000_products"] == pytest.approx(1000 * s["projected_usd"]["total"], abs=1e-4)
