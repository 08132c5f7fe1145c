"""Fault soak: products through the local stack while Aiuta and the stack misbehave.

```sh
.venv/bin/python bench/reliability.py                       # 200 products, figures in bench/results/
.venv/bin/python bench/reliability.py --products 20 --no-ingest-kills   # what CI runs (tests/e2e)
```

The whole product runs on this machine (``studio_local``: moto, the simulator, the template's
Lambdas in processes of their own). Meanwhile:

- the simulator answers 429 (``Retry-After``), 500 and dropped connections at realistic rates,
  every answer a little slow, durations log-normal; products ask, through their description,
  for operations that end FAILED, CANCELLED, ABORTED, PAUSED (then succeed), a failed flat lay
  in a job of both kinds, or never finish (they time out at the deadline);
- the harness kills Lambda invocations mid-way: submits whose create POST has reached the
  simulator, and ingest invocations in the middle of a batch (their messages come back after the
  queue's visibility timeout);
- a share of S3 events is delivered twice (a copy of the event is sent to the ingest queue).

It stops by itself once every product's job is terminal and nothing moves, or at the time limit,
and then checks: every job ends SUCCEEDED, PARTIAL, FAILED with a reason, or TIMED_OUT; every
image of every SUCCEEDED job is in ``outbox/``; exactly one create per job, kind and round (from
the simulator's own operation list); every operation Aiuta created belongs to a job record (or is
accounted for by a killed submit); the DLQ, and what ``redrive`` does with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT / "tools")]

from studio_cli.samples import product_photo  # noqa: E402
from studio_core.aws.dead_letters import redrive, waiting_in_dead_letter_queue  # noqa: E402
from studio_core.aws.jobs_table import JobsTable  # noqa: E402
from studio_core.domain.record import JobRecord, JobStatus  # noqa: E402
from studio_local import LocalStudio, lambda_runtime  # noqa: E402
from studio_sim.settings import SimSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reliability.json"
GARMENTS = [("tshirt", (200, 180, 150)), ("dress", (40, 90, 160)), ("jacket", (40, 90, 60))]


@dataclass(frozen=True)
class SoakConfig:
    products: int = 200
    seed: int = 7
    time_limit_seconds: float = 1200.0
    duplicate_event_share: float = 0.25
    submit_kills: int | None = None  # default: 3 % of the products (at least 1)
    ingest_kills: int = 3
    rate_429: float = 0.03
    rate_500: float = 0.02
    rate_drop: float = 0.01
    latency_seconds: float = 0.05
    deadline_seconds: int = 300
    # The plan the pipeline is configured for (the template's capacity parameters).
    requests_per_second: int = 20
    operations_in_flight: int = 60
    # Share of products asking for an outcome (the rest run normally).
    outcomes: dict[str, float] = field(
        default_factory=lambda: {
            "[sim:FAILED]": 0.04,
            "[sim:CANCELLED]": 0.02,
            "[sim:ABORTED]": 0.02,
            "[sim:PAUSED]": 0.05,
            "[sim:flat_lay:FAILED]": 0.05,
            "[sim:NEVER_FINISHES]": 0.02,
        }
    )


@dataclass(frozen=True)
class Product:
    product_id: str
    manifest: dict[str, Any]
    token: str | None
    photos: int


def plan_products(config: SoakConfig) -> list[Product]:
    """A seeded mix: kinds, input modes, planned regeneration rounds, and the asked-for outcomes."""
    dice = random.Random(config.seed)
    products = []
    for n in range(config.products):
        roll, token = dice.random(), None
        for candidate, share in config.outcomes.items():
            if roll < share:
                token = candidate
                break
            roll -= share
        kind = "both" if token == "[sim:flat_lay:FAILED]" else dice.choice(["on_figure", "flat_lay", "both"])
        manifest: dict[str, Any] = {
            "product": {"title": f"Soak product {n}", "description": f"soak {token or ''}".strip()},
            "kind": kind,
            "input_mode": dice.choice(["urls", "upload"]),
            "number_of_generations": dice.choice([1, 1, 2]),
            "output_image_size": {"width": 240, "height": 320},
        }
        if kind != "flat_lay" and dice.random() < 0.15:
            manifest["regeneration"] = {"rounds": [{"image_types": ["back/walking"]}]}
        products.append(Product(f"soak-{n:04d}", manifest, token, dice.choice([1, 2, 3])))
    return products


class Chaos:
    """Kills Lambda invocations mid-way, through the local stack's execution environments.

    A submit is killed the moment the simulator has created its operation and before the answer
    leaves (the simulator runs in this process; its ``add_operation`` is wrapped), exactly the
    case where Aiuta has a paid operation the job never learns about. An ingest is killed while
    it works on a batch.
    """

    def __init__(self, config: SoakConfig, studio: LocalStudio, products: list[Product]) -> None:
        self.config = config
        self.studio = studio
        self.dice = random.Random(config.seed + 1)
        kills = (
            config.submit_kills if config.submit_kills is not None else max(1, round(0.03 * len(products)))
        )
        doomed = self.dice.sample([p.product_id for p in products], min(kills, len(products)))
        self.doomed_submits = set(doomed)
        self.busy: dict[int, tuple[str, float, Any, str | None]] = {}
        self.kills: Counter[str] = Counter()
        self.killed_submits: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._kill_ingests, name="chaos", daemon=True)

    @contextmanager
    def running(self) -> Iterator[Chaos]:
        chaos = self
        invoke = lambda_runtime.ExecutionEnvironment.invoke
        state_type = type(self.studio.simulator.state)
        add_operation = state_type.add_operation

        def tracked_invoke(environment: Any, event: Any, request_id: str) -> Any:
            product = event.get("product_id") if isinstance(event, dict) else None
            with chaos._lock:
                chaos.busy[id(environment)] = (
                    environment.function.logical_id,
                    time.monotonic(),
                    environment,
                    product,
                )
            try:
                return invoke(environment, event, request_id)
            finally:
                with chaos._lock:
                    chaos.busy.pop(id(environment), None)

        def add_then_kill(state: Any, *args: Any, **kwargs: Any) -> Any:
            operation = add_operation(state, *args, **kwargs)
            chaos._kill_submit_of(str(operation.look.product.get("id")))
            return operation

        lambda_runtime.ExecutionEnvironment.invoke = tracked_invoke  # type: ignore[method-assign]
        state_type.add_operation = add_then_kill  # type: ignore[method-assign]
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)
            lambda_runtime.ExecutionEnvironment.invoke = invoke  # type: ignore[method-assign]
            state_type.add_operation = add_operation  # type: ignore[method-assign]

    def _kill_submit_of(self, product_id: str) -> None:
        with self._lock:
            if product_id not in self.doomed_submits:
                return
            for name, _, environment, product in self.busy.values():
                if name == "SubmitFunction" and product == product_id:
                    self.doomed_submits.discard(product_id)
                    environment.process.kill()
                    self.kills[name] += 1
                    self.killed_submits.append(product_id)
                    return

    def _kill_ingests(self) -> None:
        while not self._stop.wait(0.02) and self.kills["IngestFunction"] < self.config.ingest_kills:
            now = time.monotonic()
            with self._lock:
                working = [
                    environment
                    for name, started, environment, _ in self.busy.values()
                    if name == "IngestFunction" and now - started > 0.05
                ]
            if working and self.dice.random() < 0.05:
                working[0].process.kill()
                self.kills["IngestFunction"] += 1


def s3_event(bucket: str, key: str, etag: str) -> str:
    """The body S3 puts on the queue for a new object (the key URL-encoded, as S3 does)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": datetime.now().astimezone().isoformat(),
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "eTag": etag, "size": 1}},
    }
    return json.dumps({"Records": [record]})


def upload(studio: LocalStudio, products: list[Product], config: SoakConfig) -> int:
    """Photos first, then product.json, as `studio submit` does; some events sent twice."""
    s3, sqs = studio.client("s3"), studio.client("sqs")
    dice = random.Random(config.seed + 2)
    duplicates = 0
    for n, product in enumerate(products):
        garment, colour = GARMENTS[n % len(GARMENTS)]
        for i in range(product.photos):
            key = f"inbox/{product.product_id}/photo-{i + 1}.jpg"
            s3.put_object(Bucket=studio.bucket, Key=key, Body=product_photo(garment, colour, angle=i))
        key = f"inbox/{product.product_id}/product.json"
        etag = s3.put_object(Bucket=studio.bucket, Key=key, Body=json.dumps(product.manifest).encode())[
            "ETag"
        ]
        if dice.random() < config.duplicate_event_share:
            sqs.send_message(
                QueueUrl=studio.queue_url, MessageBody=s3_event(studio.bucket, key, etag.strip('"'))
            )
            duplicates += 1
    return duplicates


def wait_for_the_end(studio: LocalStudio, jobs: JobsTable, products: list[Product], limit: float) -> bool:
    """True once every product has a job, all jobs are terminal and nothing moves."""
    wanted = {p.product_id for p in products}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        records = jobs.all_jobs()
        pending = studio.pending_work()
        moving = pending["messages_visible"] + pending["messages_in_flight"] + pending["executions_running"]
        if (
            {r.product_id for r in records} >= wanted
            and all(r.status.is_terminal for r in records)
            and moving == 0
        ):
            return True
        time.sleep(2)
    return False


def verify(
    studio: LocalStudio, records: list[JobRecord], products: list[Product], chaos: Chaos
) -> dict[str, Any]:
    s3 = studio.client("s3")
    by_product: dict[str, list[JobRecord]] = {}
    for record in records:
        by_product.setdefault(record.product_id, []).append(record)
    statuses = Counter(r.status.value for r in records)
    without_reason = [r.job_id for r in records if r.status is not JobStatus.SUCCEEDED and not r.error]
    not_terminal = [r.job_id for r in records if not r.status.is_terminal]
    missing_jobs = [p.product_id for p in products if p.product_id not in by_product]
    several_jobs = {p: len(rs) for p, rs in by_product.items() if len(rs) > 1}

    images_expected = images_found = 0
    missing_images = []
    for record in records:
        if record.status is not JobStatus.SUCCEEDED:
            continue
        for image in record.images:
            images_expected += 1
            if image.key is None:
                missing_images.append(
                    f"{record.job_id}: {image.image_type.label} v{image.variant}: {image.error}"
                )
                continue
            try:
                s3.head_object(Bucket=studio.bucket, Key=image.key)
                images_found += 1
            except s3.exceptions.ClientError:
                missing_images.append(image.key)

    state = studio.simulator.state
    with state.lock:
        created = [
            (op.id, str(op.look.product.get("id")), op.kind, op.regenerated_from)
            for op in state.operations.values()
        ]
    per_slot = Counter(
        (product, kind if regenerated is None else "regenerate") for _, product, kind, regenerated in created
    )
    recorded_ids = {op.operation_id for r in records for op in r.operations if op.operation_id}
    expected_slots: Counter[tuple[str, str]] = Counter()
    for record in records:
        for op in record.operations:
            slot = (record.product_id, op.kind.value if op.round == 0 else "regenerate")
            expected_slots[slot] += 1
    duplicates = {f"{p}/{k}": n for (p, k), n in per_slot.items() if k != "regenerate" and n > 1}
    extra_regenerations = {
        f"{p}/regenerate": n
        for (p, k), n in per_slot.items()
        if k == "regenerate" and n > expected_slots[(p, k)]
    }
    orphans = sorted(op_id for op_id, *_ in created if op_id not in recorded_ids)
    reasons = Counter(
        (r.error or "").split(":", 1)[0][:60] for r in records if r.status is not JobStatus.SUCCEEDED
    )
    durations = [
        (datetime.fromisoformat(r.finished_at) - datetime.fromisoformat(r.created_at)).total_seconds()
        for r in records
        if r.finished_at
    ]
    dlq_before = waiting_in_dead_letter_queue(studio.queue_url, studio.client("sqs"))
    redriven = redrive(studio.queue_url, studio.client("sqs"))
    return {
        "jobs": len(records),
        "statuses": dict(sorted(statuses.items())),
        "not_terminal": not_terminal,
        "without_reason": without_reason,
        "products_without_a_job": missing_jobs,
        "products_with_several_jobs": several_jobs,
        "succeeded_images_expected": images_expected,
        "succeeded_images_in_outbox": images_found,
        "succeeded_images_missing": missing_images,
        "operations_created_at_aiuta": len(created),
        "duplicate_creates": duplicates,
        "extra_regenerations": extra_regenerations,
        "operations_unknown_to_any_job": orphans,
        "failure_reasons": dict(reasons.most_common()),
        "job_seconds_p50": round(statistics.median(durations), 1) if durations else None,
        "job_seconds_p95": round(sorted(durations)[int(0.95 * (len(durations) - 1))], 1)
        if durations
        else None,
        "not_succeeded": [
            {"job": r.job_id, "status": r.status.value, "error": (r.error or "")[:240]}
            for r in records
            if r.status is not JobStatus.SUCCEEDED
        ],
        "submits_killed_after_their_create": chaos.killed_submits,
        "dead_letters": dlq_before,
        "redriven": redriven.moved,
        "kills": dict(chaos.kills),
    }


def run_soak(config: SoakConfig, say: Any = print) -> dict[str, Any]:
    # moto's interpreter logs every failed execution at ERROR; the figures say what failed and why.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    products = plan_products(config)
    sim = SimSettings(
        seed=config.seed,
        duration_distribution="lognormal",
        online_median_seconds=3.0,
        duration_sigma=0.6,
        paused_seconds=3.0,
        rate_429=config.rate_429,
        retry_after_seconds=1,
        rate_500=config.rate_500,
        rate_drop=config.rate_drop,
        latency_seconds=config.latency_seconds,
        extra_answer_fields=True,
    )
    parameters = {
        "PollFirstWaitOnlineSeconds": "1",
        "PollMinWaitSeconds": "1",
        "PollMaxWaitSeconds": "3",
        "InboxQuietSeconds": "2",
        "JobDeadlineOnlineSeconds": str(config.deadline_seconds),
        "AiutaRetryBackoffFactor": "0.1",
        "AiutaRequestsPerSecond": str(config.requests_per_second),
        "AiutaRequestBurst": str(config.requests_per_second),
        "AiutaOperationsInFlight": str(config.operations_in_flight),
        "CapacityWaitMaxSeconds": "10",
    }
    started = time.monotonic()
    studio = LocalStudio(
        parameter_overrides=parameters,
        sim_settings=sim,
        function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"},
        batching_window_seconds=0,
    )
    with studio:
        jobs = JobsTable(studio.jobs_table, _dynamodb(studio))
        say(f"local stack up in {time.monotonic() - started:.0f} s; {len(products)} products")
        chaos = Chaos(config, studio, products)
        with chaos.running():
            uploading = time.monotonic()
            duplicates = upload(studio, products, config)
            say(f"uploaded in {time.monotonic() - uploading:.0f} s ({duplicates} events sent twice)")
            finished = wait_for_the_end(studio, jobs, products, config.time_limit_seconds)
        elapsed = time.monotonic() - uploading
        studio.simulator_admin.configure(rate_429=0.0, rate_500=0.0, rate_drop=0.0, latency_seconds=0.0)
        resumed = resume_late_results(studio, jobs)
        if resumed:
            say(f"resuming {len(resumed)} jobs whose operations finished after the job ended")
            finished = wait_for_the_end(studio, jobs, products, config.time_limit_seconds) and finished
        # Each job read whole: its images are items of their own, which the scan's records leave out.
        records = [jobs.get(r.job_id) or r for r in jobs.all_jobs()]
        figures = verify(studio, records, products, chaos)
        figures["resumed"] = {
            "jobs": len(resumed),
            "before": dict(Counter(status for status in resumed.values())),
            "after": dict(Counter(r.status.value for r in records if r.job_id in resumed)),
        }
        stats = studio.simulator_admin.stats()
    figures.update(
        {
            "config": asdict(config),
            "finished_before_the_time_limit": finished,
            "seconds": round(elapsed, 1),
            "duplicate_events_sent": duplicates,
            "simulator": {
                "requests": stats["requests"]["total"]["count"],
                "rate_limited": stats["rate_limited"],
                "creates": stats["creates"],
            },
            "asked_for": dict(Counter(p.token or "normal" for p in products)),
        }
    )
    return figures


def resume_late_results(studio: LocalStudio, jobs: JobsTable) -> dict[str, str]:
    """`studio resume` for every ended job whose unfinished operations Aiuta has finished since."""
    from studio_core.aws.executions import Executions
    from studio_core.steps.resume import resume_job

    state = studio.simulator.state
    executions = Executions(studio.state_machine_arn, studio.client("stepfunctions"))
    resumed = {}
    for record in jobs.all_jobs():
        unfinished = [op for op in record.operations if op.operation_id and not op.finished]
        if not record.can_resume():
            continue
        with state.lock:
            done = all(
                op.operation_id in state.operations
                and state.status_of(state.operations[op.operation_id]).is_terminal
                for op in unfinished
            )
        if done:
            resumed[record.job_id] = record.status.value
            resume_job(record.job_id, jobs=jobs, executions=executions)
    return resumed


def _dynamodb(studio: LocalStudio) -> Any:
    import boto3

    from studio_local.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    return boto3.resource(
        "dynamodb",
        endpoint_url=studio.endpoint_url,
        region_name=studio.region,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )


def problems(figures: dict[str, Any]) -> list[str]:
    """What the soak promises, and where it did not hold."""
    found = []
    for key in (
        "not_terminal",
        "without_reason",
        "products_without_a_job",
        "products_with_several_jobs",
        "succeeded_images_missing",
        "duplicate_creates",
        "extra_regenerations",
    ):
        if figures[key]:
            found.append(f"{key}: {figures[key]}")
    killed_submits = figures["kills"].get("SubmitFunction", 0)
    if len(figures["operations_unknown_to_any_job"]) > killed_submits:
        found.append(
            "operations unknown to any job beyond the killed submits: "
            f"{figures['operations_unknown_to_any_job']}"
        )
    if not figures["finished_before_the_time_limit"]:
        found.append("the soak did not finish before its time limit")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--products", type=int, default=SoakConfig.products)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--time-limit", type=float, default=SoakConfig.time_limit_seconds)
    parser.add_argument(
        "--no-ingest-kills",
        action="store_true",
        help="skip the ingest kills (each costs a visibility timeout)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    config = SoakConfig(
        products=args.products,
        seed=args.seed,
        time_limit_seconds=args.time_limit,
        ingest_kills=0 if args.no_ingest_kills else SoakConfig.ingest_kills,
    )
    figures = run_soak(config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "config"}, indent=2, default=str))
    found = problems(figures)
    for problem in found:
        print(f"PROBLEM: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
