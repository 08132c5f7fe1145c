"""Load: many products at once into the local stack, with Aiuta limited to R requests/s.

    .venv/bin/python bench/load.py                       # 1,000 product folders, R = 5 requests/s
    .venv/bin/python bench/load.py --products 100 --rate 10
    .venv/bin/python bench/load.py --catalogue 10000     # one CSV of 10,000 rows
    .venv/bin/python bench/load.py --record              # also results/load*.json and README.md

The whole product runs on this machine (``studio_local``: moto, the Lambdas in processes of their
own bounded by the template's concurrency; the simulator in a process of its own, so that its
work does not share moto's interpreter lock). The simulator enforces R requests/s
(bursts of ``--sim-burst``) and a cap of unfinished operations, with log-normal durations; the
stack gets ``AiutaRequestsPerSecond = R``, ``AiutaRequestBurst = --burst`` and
``AiutaOperationsInFlight = --in-flight``. Every product is one ``product.json`` with a hosted
image (``image_urls``), uploaded all at once by 16 threads (or one catalogue file).

Measured, from the simulator's own counters (``GET /_sim/stats``) and the jobs table: wall time;
Aiuta requests per second, the peak over any 1 s window and the mean while work was queued (from
the first request to the last create: jobs were waiting for their turn all that time); 429s by
cause; jobs per final status; creates per job; time to the first and the last result.
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import json
import logging
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "layers" / "common")]

import requests  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

from studio_cli.samples import product_photo  # noqa: E402
from studio_local import LocalStudio  # noqa: E402
from studio_sim.server import AdminClient  # noqa: E402
from studio_sim.settings import SimSettings  # noqa: E402

RESULTS = REPO / "bench" / "results"
README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000, help="product folders dropped at once")
    parser.add_argument("--catalogue", type=int, default=0, help="one CSV of this many rows instead")
    parser.add_argument("--rate", type=float, default=5.0, help="Aiuta's limit, requests/s (R)")
    parser.add_argument("--burst", type=int, default=2, help="the pipeline's AiutaRequestBurst")
    parser.add_argument("--sim-burst", type=int, default=10, help="Aiuta's token bucket size")
    parser.add_argument("--in-flight", type=int, default=50, help="AiutaOperationsInFlight")
    parser.add_argument(
        "--aiuta-in-flight", type=int, default=60, help="Aiuta's cap of unfinished operations"
    )
    parser.add_argument("--median-seconds", type=float, default=8.0, help="online operation duration median")
    parser.add_argument(
        "--function-concurrency",
        type=int,
        default=10,
        help="AiutaFunctionConcurrency (a local invocation takes ~1 s under load, against ~0.2 s on AWS)",
    )
    parser.add_argument(
        "--until",
        choices=["done", "started", "checked"],
        default="done",
        help="stop when every job ended, or started, or (a catalogue) every row was checked",
    )
    parser.add_argument(
        "--bad-row-every", type=int, default=500, help="a catalogue's every Nth row has a bad pose"
    )
    parser.add_argument("--timeout", type=float, default=7200, help="give up after this many seconds")
    parser.add_argument("--record", action="store_true", help="write results/load*.json and the README")
    parser.add_argument("--json", type=Path, help="also write the result here (nothing else recorded)")
    parser.add_argument(
        "--call-sites",
        action="store_true",
        help="also count DynamoDB calls by table, key and expression (reads every request body)",
    )
    return parser.parse_args(argv)


SIM_KEY = "load-bench-key-not-a-secret"


def sim_settings(args: argparse.Namespace) -> SimSettings:
    return SimSettings(
        api_key=SIM_KEY,
        rate_limit_per_second=args.rate,
        rate_limit_burst=args.sim_burst,
        max_unfinished_operations=args.aiuta_in_flight,
        duration_distribution="lognormal",
        online_median_seconds=args.median_seconds,
        duration_sigma=0.5,
        seed=1,
    )


class ExternalSimulator:
    """``studio-sim`` in its own process, with the bench's limits."""

    def __init__(self, args: argparse.Namespace) -> None:
        settings = sim_settings(args)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        flags = [
            f"--{name.replace('_', '-')}={getattr(value, 'value', value)}"
            for name, value in settings.model_dump(exclude={"api_key"}, exclude_defaults=True).items()
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own simulator
            [sys.executable, "-m", "studio_sim", f"--port={port}", "--log-level=warning", *flags],
            env={**os.environ, "STUDIO_SIM_API_KEY": SIM_KEY, "PYTHONPATH": str(REPO / "tools")},
            stdout=subprocess.DEVNULL,
        )
        self.admin = AdminClient(f"http://127.0.0.1:{port}")
        self.base_url = f"http://127.0.0.1:{port}/studio/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin.info()
                return
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def stack_for(args: argparse.Namespace, simulator: ExternalSimulator) -> LocalStudio:
    return LocalStudio(
        stack_name="studio-load",
        parameter_overrides={
            "AiutaApiUrl": simulator.base_url,
            "AiutaRequestsPerSecond": str(args.rate),
            "AiutaRequestBurst": str(args.burst),
            "AiutaOperationsInFlight": str(args.in_flight),
            "AiutaFunctionConcurrency": str(args.function_concurrency),
            "PollFirstWaitOnlineSeconds": str(max(1, round(args.median_seconds))),
            "PollMinWaitSeconds": "1",
            # A load is paid on purpose: no image budget.
            "ImagesPerDayLimit": "0",
            "ImagesPerCatalogueLimit": "0",
            # The products' photo is hosted on the local moto server (loopback).
            "AllowPrivateImageUrls": "true",
        },
        # The stack's own simulator gets the same key (it goes into the template's secret) and idles.
        sim_settings=SimSettings(api_key=SIM_KEY),
        function_environment={
            "POWERTOOLS_LOG_LEVEL": os.environ.get("STUDIO_LOAD_LOG_LEVEL", "ERROR"),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "STUDIO_LOCAL_SLOW_CALL_SECONDS": os.environ.get("STUDIO_LOCAL_SLOW_CALL_SECONDS", "5"),
        },
    )


def hosted_image(studio: LocalStudio) -> str:
    s3 = studio.client("s3")
    s3.put_object(Bucket=studio.bucket, Key="hosted/load.jpg", Body=product_photo("tshirt", (60, 110, 170)))
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": studio.bucket, "Key": "hosted/load.jpg"}, ExpiresIn=7 * 86400
        )
    )


def drop_products(studio: LocalStudio, count: int, link: str) -> float:
    """Uploads ``count`` product.json files as fast as 16 threads can; returns when the first went."""
    s3 = studio.client("s3")
    started: list[float] = []

    def put(index: int) -> None:
        body = json.dumps({"product": {"title": f"Load {index}"}, "image_urls": [link]}).encode()
        if not started:
            started.append(time.time())
        s3.put_object(Bucket=studio.bucket, Key=f"inbox/load-{index:05d}/product.json", Body=body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))
    return started[0]


def drop_catalogue(studio: LocalStudio, rows: int, link: str, bad_every: int) -> float:
    """A CSV of ``rows`` products, every ``bad_every``-th with a pose Aiuta does not know (rejected
    by the check, with its reason)."""

    def pose(i: int) -> str:
        return "front/dancing" if bad_every and i % bad_every == bad_every - 1 else ""

    lines = ["id,title,image_urls,on_figure_image_types"] + [
        f"row-{i:05d},Row {i},{link},{pose(i)}" for i in range(rows)
    ]
    started = time.time()
    studio.client("s3").put_object(
        Bucket=studio.bucket, Key="inbox/load-catalogue.csv", Body="\n".join(lines).encode()
    )
    return started


def job_items(studio: LocalStudio) -> list[dict[str, Any]]:
    dynamodb = studio.client("dynamodb")
    items, kwargs = [], {"TableName": studio.jobs_table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [i for i in page["Items"] if i.get("sk", {}).get("S") == "JOB"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def executions(studio: LocalStudio) -> list[dict[str, Any]]:
    """The job executions so far (the cheap way to follow a run: a scan of the jobs table makes
    moto copy every item, which at 1,000 jobs is most of its CPU)."""
    sfn = studio.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=studio.state_machine_arn)
    return [execution for page in pages for execution in page["executions"]]


def rejected(studio: LocalStudio) -> int:
    """Jobs FAILED without an execution (bad rows), from the status index."""
    dynamodb = studio.client("dynamodb")
    failed, kwargs = 0, {}
    while True:
        page = dynamodb.query(
            TableName=studio.jobs_table,
            IndexName="ByStatus",
            KeyConditionExpression="gsi2pk = :failed",
            FilterExpression="attribute_not_exists(execution_name)",
            ExpressionAttributeValues={":failed": {"S": "STATUS#FAILED"}},
            Select="COUNT",
            **kwargs,
        )
        failed += page["Count"]
        if "LastEvaluatedKey" not in page:
            return failed
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def rows_checked(studio: LocalStudio) -> tuple[int, int] | None:
    """(rows checked, rows rejected) by the catalogue run's check (its quote, checked.json), or None
    before it is written: the check records every row's job before it writes the quote."""
    try:
        answer = studio.client("s3").get_object(
            Bucket=studio.bucket, Key="inbox/load-catalogue.csv.report/checked.json"
        )
    except studio.client("s3").exceptions.NoSuchKey:
        return None
    quote = json.loads(answer["Body"].read())["quote"]
    return int(quote["rows"]), int(quote["rejected"])


def follow(studio: LocalStudio, args: argparse.Namespace, expected: int, dropped: float) -> dict[str, Any]:
    """Follows the job executions until every job ended (or started), noting when things happened;
    the jobs table is read once, at the end."""
    marks: dict[str, float] = {}
    deadline = time.monotonic() + args.timeout
    last_line = 0.0
    timed_out = False
    while True:
        runs = executions(studio)
        statuses = Counter(run["status"] for run in runs)
        stopped = [run["stopDate"].timestamp() for run in runs if run.get("stopDate")]
        if stopped and "first_result" not in marks:
            marks["first_result"] = min(stopped)
        bad_rows = rejected(studio)
        if "all_started" not in marks and len(runs) + bad_rows >= expected:
            marks["all_started"] = time.time()
        checked = rows_checked(studio) if args.catalogue and "all_checked" not in marks else None
        if checked and checked[0] >= expected:
            marks["all_checked"] = time.time()
            marks["rows_rejected"] = checked[1]
        if time.monotonic() - last_line > 15:
            last_line = time.monotonic()
            line = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
            check = f", {checked[0]} rows checked" if checked else ""
            at = f"{time.time() - dropped:7.0f} s"
            print(f"  {at}: {len(runs)} executions ({line}), {bad_rows} rejected{check}", flush=True)
        if len(runs) + bad_rows >= expected and not statuses["RUNNING"]:
            # The pipeline's end is the last execution's: not when this loop, every few seconds,
            # noticed it (nor the tally below).
            marks["all_done"] = max(stopped, default=time.time())
            break
        if args.until == "started" and "all_started" in marks:
            break
        if args.until == "checked" and "all_checked" in marks:
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
        time.sleep(2 if expected <= 200 else 10)
    items = job_items(studio)
    finished = [epoch(i["finished_at"]["S"]) for i in items if "finished_at" in i]
    if finished:
        marks["first_result"] = min(finished)
        if not timed_out and args.until == "done":
            marks["last_result"] = max(finished)
    return {"items": items, "marks": marks, "timed_out": timed_out}


def request_rates(stats: dict[str, Any], creates_until: float | None) -> dict[str, Any]:
    """Peak over any 1 s window, and the mean from the first request to the last create."""
    per_second = {int(k): v for k, v in stats["requests"]["total"]["per_second"].items()}
    if not per_second:
        return {"peak_per_second": 0, "mean_while_queued": 0.0, "window_seconds": 0}
    first = min(per_second)
    creates = {}
    for endpoint, series in stats["requests"]["by_endpoint"].items():
        if endpoint.startswith("POST") and "operations" in endpoint:
            for second, value in series["per_second"].items():
                creates[int(second)] = creates.get(int(second), 0) + value
    last_create = max(creates) if creates else max(per_second)
    end = int(creates_until) if creates_until else last_create
    end = max(first, min(end, last_create))
    window = end - first + 1
    in_window = sum(v for s, v in per_second.items() if first <= s <= end)
    busiest = max(per_second.values())
    return {
        "peak_per_second": busiest,
        "mean_while_queued": round(in_window / window, 2),
        "window_seconds": window,
        "requests": stats["requests"]["total"]["count"],
    }


def summarise(
    studio: LocalStudio,
    simulator: ExternalSimulator,
    args: argparse.Namespace,
    run: dict[str, Any],
    dropped: float,
) -> dict[str, Any]:
    stats = simulator.admin.stats()
    items, marks = run["items"], run["marks"]
    statuses = Counter(i["status"]["S"] for i in items)
    ops_per_job = Counter(len(i.get("operations", {}).get("L", [])) for i in items if "execution_name" in i)
    creates = stats["creates"]["total"]
    jobs_with_operation = sum(count for ops, count in ops_per_job.items() if ops)
    concurrency = studio.lambdas.concurrency()
    took: dict[str, list[float]] = {}
    for record in studio.lambdas.history:
        took.setdefault(record.logical_id, []).append(record.duration_seconds)
    waits = studio.invocation_counts().get("PlanCapacityWaitFunction", 0)
    history = list(studio.lambdas.history)
    durations = [
        epoch(i["finished_at"]["S"]) - epoch(i["created_at"]["S"])
        for i in items
        if "finished_at" in i and "created_at" in i
    ]
    result = {
        "products": args.catalogue or args.products,
        "input": "catalogue" if args.catalogue else "folders",
        "until": args.until,
        "rate": args.rate,
        "burst": args.burst,
        "sim_burst": args.sim_burst,
        "in_flight": args.in_flight,
        "aiuta_in_flight": args.aiuta_in_flight,
        "median_seconds": args.median_seconds,
        "function_concurrency": args.function_concurrency,
        # From the drop to the last execution's end (the bench's own following and tally after it
        # are in ``bench_seconds``).
        "wall_seconds": round(marks.get("all_done", time.time()) - dropped, 1),
        "bench_seconds": round(time.time() - dropped, 1),
        # This machine's load (2 cores here, shared): other work slows the local stack down.
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "timed_out": run["timed_out"],
        "jobs": dict(sorted(statuses.items())),
        "failures": dict(
            Counter(
                i.get("error", {}).get("S", "?")[:160]
                for i in items
                if i.get("status", {}).get("S") in ("FAILED", "TIMED_OUT", "PARTIAL")
            ).most_common(5)
        ),
        "creates": creates,
        "creates_per_job": round(creates / jobs_with_operation, 3) if jobs_with_operation else None,
        # Creates Aiuta answered whose operation no job had recorded yet when the run stopped: at a
        # cut-off (--until, --timeout), submits still between Aiuta's answer and the record.
        "creates_unrecorded": creates - sum(ops * count for ops, count in ops_per_job.items()),
        "requests_per_job": round(stats["requests"]["total"]["count"] / max(1, len(items)), 2),
        "requests_per_second_timeline": [
            stats["requests"]["total"]["per_second"].get(str(second), 0)
            for second in range(int(dropped), int(time.time()) + 1)
        ],
        "operations_per_job": {str(k): v for k, v in sorted(ops_per_job.items())},
        "requests": request_rates(stats, None),
        "rate_limited": stats["rate_limited"],
        "first_result_seconds": round(marks["first_result"] - dropped, 1)
        if "first_result" in marks
        else None,
        "last_result_seconds": round(marks["last_result"] - dropped, 1) if "last_result" in marks else None,
        "all_started_seconds": round(marks["all_started"] - dropped, 1) if "all_started" in marks else None,
        # A catalogue: when every row had its job recorded (QUEUED) or its rejection (FAILED, with
        # the reason), and how many were rejected.
        "all_checked_seconds": round(marks["all_checked"] - dropped, 1) if "all_checked" in marks else None,
        "rows_rejected": int(marks["rows_rejected"]) if "rows_rejected" in marks else None,
        "job_seconds_median": round(statistics.median(durations), 1) if durations else None,
        "capacity_waits": waits,
        "capacity_waits_by_reason": waits_by_reason(history),
        "timeline_10s": timeline(history, stats, dropped),
        "lambda_concurrency": {
            name: {
                **{
                    k: v
                    for k, v in c.items()
                    if k in ("limit", "peak_concurrent", "throttled", "cold_starts")
                },
                "median_seconds": round(statistics.median(took[name]), 2) if took.get(name) else None,
                # The slowest call against the function's timeout: no Lambda near its limit.
                "max_seconds": round(max(took[name]), 2) if took.get(name) else None,
            }
            for name, c in concurrency.items()
        },
    }
    return result


def wait_reason(event: Any) -> str:
    """What a "Plan the wait for capacity" call waited for: the task, and why it found no capacity."""
    caught = (event or {}).get("capacity_error") or {}
    for task, error in caught.items():
        name = error.get("Error", "?")
        cause = str(error.get("Cause", ""))
        if name == "CapacityUnavailable":
            found = re.search(r"\((Aiuta\w+)\)", cause)
            name = f"{name} ({found.group(1) if found else 'other'})"
            if "waits behind them" in cause:  # a new job queued behind the creates already waiting
                name += " behind waiting creates"
        return f"{task}: {name}"
    return "?"


def waits_by_reason(history: list[Any]) -> dict[str, int]:
    """The capacity waits planned, by task and reason (a throttled Lambda, the request rate, the
    operations in flight, Aiuta's 429)."""
    reasons = Counter(wait_reason(r.event) for r in history if r.logical_id == "PlanCapacityWaitFunction")
    return dict(reasons.most_common())


def timeline(history: list[Any], stats: dict[str, Any], dropped: float) -> list[dict[str, Any]]:
    """Per 10 s from the drop: Aiuta requests, creates sent, executions' submits answered and
    capacity waits planned (by reason), to see where a ramp loses its rate."""
    rows: dict[int, dict[str, Any]] = {}

    def row(at: float) -> dict[str, Any]:
        return rows.setdefault(
            int((at - dropped) // 10) * 10, {"requests": 0, "creates": 0, "submits": 0, "waits": Counter()}
        )

    for endpoint, series in stats["requests"]["by_endpoint"].items():
        for second, n in series["per_second"].items():
            row(float(second))["requests"] += n
            if endpoint.startswith("POST") and "operation" in endpoint:
                row(float(second))["creates"] += n
    for record in history:
        if record.logical_id == "SubmitFunction" and record.started_at:
            row(record.started_at)["submits"] += 1
        elif record.logical_id == "PlanCapacityWaitFunction" and record.started_at:
            row(record.started_at)["waits"][wait_reason(record.event)] += 1
    return [{"second": k, **v, "waits": dict(v["waits"])} for k, v in sorted(rows.items())]


def stack_cpu_seconds() -> float:
    """CPU time of this process (moto, the state machines, the bench), not of the Lambdas'."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def call_name(environ: dict[str, Any]) -> str:
    """A request to moto named by its operation (JSON protocols) or its method and kind (REST)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target.rsplit(".", 1)[-1])
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "?")
    if path.startswith("/2015-03-31/functions"):
        return "Lambda Invoke"
    query = environ.get("QUERY_STRING", "")
    listing = " (list)" if method == "GET" and ("list-type" in query or "versions" in query) else ""
    return f"S3 {method}{listing}"


def dynamodb_call_site(environ: dict[str, Any]) -> str | None:
    """A DynamoDB request named by its table, the key's kind and its expression's first clause:
    which code sent it (``--call-sites``). The body is read and put back for moto."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if not target.startswith("DynamoDB_"):
        return None
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    key = request.get("Key") or request.get("Item") or {}
    pk = next(iter(key.get("pk", {}).values()), "") if isinstance(key, dict) else ""
    kind = re.sub(r"[0-9a-f]{8,}|[0-9]{4,}", "*", str(pk).split("#", 1)[0])[:24]
    table = str(request.get("TableName", "")).rsplit("-", 1)[-1][:20]
    if "RequestItems" in request:
        table = ",".join(sorted(str(t).rsplit("-", 1)[-1][:20] for t in request["RequestItems"]))
    clause = str(request.get("UpdateExpression") or request.get("KeyConditionExpression") or "")
    return f"{target.rsplit('.', 1)[-1]} {table} {kind} {clause[:40]}".strip()


class AwsCalls:
    """Counts the calls moto serves, by service and operation, while the run lasts: what each
    product costs the emulated AWS (all of it in this process, so its pace as well)."""

    def __init__(self, sites: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        self.sites: Counter[str] = Counter()
        self._count_sites = sites
        self._lock = threading.Lock()
        self._original = DomainDispatcherApplication.__call__

    def __enter__(self) -> AwsCalls:
        original, counts, lock = self._original, self.counts, self._lock
        sites, count_sites = self.sites, self._count_sites

        def counted(app: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
            name = call_name(environ)
            site = dynamodb_call_site(environ) if count_sites else None
            with lock:
                counts[name] += 1
                if site:
                    sites[site] += 1
            return original(app, environ, start_response)

        DomainDispatcherApplication.__call__ = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        DomainDispatcherApplication.__call__ = self._original  # type: ignore[method-assign]

    def per_product(self, products: int) -> dict[str, float]:
        with self._lock:
            return {name: round(n / max(1, products), 2) for name, n in self.counts.most_common()}

    def sites_per_product(self, products: int) -> dict[str, float]:
        with self._lock:
            return {site: round(n / max(1, products), 2) for site, n in self.sites.most_common(40)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    expected = args.catalogue or args.products
    print(f"starting the local stack (R = {args.rate:g}/s, {expected} products)...", flush=True)
    simulator = ExternalSimulator(args)
    try:
        with stack_for(args, simulator) as studio:
            link = hosted_image(studio)
            simulator.admin.reset()  # counters from zero; the start settings stay
            cpu_before = stack_cpu_seconds()
            with AwsCalls(sites=args.call_sites) as calls:
                if args.catalogue:
                    dropped = drop_catalogue(studio, expected, link, args.bad_row_every)
                else:
                    dropped = drop_products(studio, expected, link)
                what = "rows" if args.catalogue else "products"
                print(f"dropped {expected} {what}; following...", flush=True)
                followed = follow(studio, args, expected, dropped)
                result = summarise(studio, simulator, args, followed, dropped)
            # moto (every AWS service and the state machines' interpreter) runs in this one
            # process: near 1.0 means its interpreter lock, not Aiuta's rate, set the pace.
            busy = (stack_cpu_seconds() - cpu_before) / max(1.0, time.time() - dropped)
            result["moto_process_cpu_share"] = round(busy, 2)
            # The bench's own calls (the drop, its following) are in these counts too.
            result["aws_calls_per_product"] = calls.per_product(expected)
            if args.call_sites:
                result["dynamodb_call_sites_per_product"] = calls.sites_per_product(expected)
            return result
    finally:
        simulator.stop()


def render(result: dict[str, Any]) -> str:
    r = result["requests"]
    lines = [
        f"{result['products']} {'catalogue rows' if result['input'] == 'catalogue' else 'product folders'}, "
        f"R = {result['rate']:g}/s (pipeline burst {result['burst']}, Aiuta's {result['sim_burst']}), "
        f"{result['in_flight']} operations in flight, median {result['median_seconds']:g} s",
        f"  wall time                 {result['wall_seconds']:.0f} s "
        f"(the bench {result['bench_seconds']:.0f} s)" + (" (timed out)" if result["timed_out"] else ""),
        f"  Aiuta requests/s          peak {r['peak_per_second']} in any 1 s (R + burst = "
        f"{result['rate'] + result['burst']:g}); mean {r['mean_while_queued']:g} while work was queued "
        f"({r['mean_while_queued'] / result['rate']:.0%} of R over {r['window_seconds']} s)",
        f"  429s                      {result['rate_limited']}",
        f"  jobs                      {result['jobs']}",
        *(f"    {count} x {reason}" for reason, count in result["failures"].items()),
        f"  creates                   {result['creates']} ({result['creates_per_job']} per job "
        f"with an operation; {result['creates_unrecorded']} not recorded yet)",
        f"  first / last result       {result['first_result_seconds']} s / {result['last_result_seconds']} s",
    ]
    if result.get("all_checked_seconds") is not None:
        lines.append(
            f"  every row recorded        {result['all_checked_seconds']} s "
            f"(QUEUED, or FAILED with its reason: {result['rows_rejected']} rejected)"
        )
    if result["all_started_seconds"] is not None:
        lines.append(f"  every row started         {result['all_started_seconds']} s")
    lines.append(f"  capacity waits planned    {result['capacity_waits']}")
    for reason, n in result.get("capacity_waits_by_reason", {}).items():
        lines.append(f"    {n:6d}  {reason}")
    lines.append(f"  moto's process busy       {result.get('moto_process_cpu_share', 0):.0%} of one core")
    peaks = ", ".join(
        f"{name.removesuffix('Function')} {c['peak_concurrent']}/{c['limit']}"
        + (f" ({c['throttled']} throttled)" if c["throttled"] else "")
        + (f" {c['median_seconds']} s" if c.get("median_seconds") else "")
        for name, c in result["lambda_concurrency"].items()
    )
    lines.append(f"  Lambda peak/limit         {peaks}")
    return "\n".join(lines)


def record(result: dict[str, Any], command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    name = f"load_{result['input']}_{result['products']}_r{result['rate']:g}.json"
    (RESULTS / name).write_text(json.dumps({**result, "command": command}, indent=2) + "\n")
    runs = [json.loads(p.read_text()) for p in RESULTS.glob("load_*.json")]
    runs.sort(key=lambda saved: (saved["input"], saved["products"], saved["rate"]))
    section = [
        "",
        "| run | command | wall | peak req/s (R+burst) | mean while queued | 429s | jobs | creates/job "
        "| first / last result | every row recorded / started | moto busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for saved in runs:
        r = saved["requests"]
        refused = sum(
            saved["rate_limited"].get(k, 0) for k in ("rate_limit", "unfinished_operations", "injected")
        )
        section.append(
            f"| {saved['products']} {saved['input']} | `{saved['command']}` | "
            f"{saved['wall_seconds']:.0f} s | "
            f"{r['peak_per_second']} ({saved['rate'] + saved['burst']:g}) | "
            f"{r['mean_while_queued']:g} ({r['mean_while_queued'] / saved['rate']:.0%} of R) | "
            f"{refused} | "
            f"{', '.join(f'{k} {v}' for k, v in saved['jobs'].items())} | {saved['creates_per_job']} | "
            f"{saved['first_result_seconds']} s / {saved['last_result_seconds']} s | "
            f"{_seconds(saved.get('all_checked_seconds'))} / {_seconds(saved['all_started_seconds'])} | "
            f"{saved.get('moto_process_cpu_share', 0):.0%} |"
        )
    text = README.read_text()
    block = BEGIN + "\n".join(section) + "\n" + END
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    README.write_text(text)


def _seconds(value: float | None) -> str:
    return f"{value:.0f} s" if value is not None else "-"


def problems(result: dict[str, Any]) -> list[str]:
    """What the run broke of the issue's promises (an empty list: all kept)."""
    found = []
    expected = result["products"]
    if result["timed_out"]:
        found.append(f"the run did not end within its time limit ({result['wall_seconds']:.0f} s)")
    if result["input"] == "folders" and result["jobs"].get("SUCCEEDED", 0) != expected:
        found.append(f"{expected} products, but jobs ended {result['jobs']} ({result['failures']})")
    if result["input"] == "folders" and result["creates"] != expected:
        found.append(f"{result['creates']} creates for {expected} products (one each expected)")
    if result.get("until") == "done" and not result["timed_out"] and result.get("creates_unrecorded"):
        found.append(f"{result['creates_unrecorded']} creates at Aiuta that no job recorded (paid, lost)")
    ceiling = result["rate"] + result["burst"]
    if result["requests"]["peak_per_second"] > ceiling:
        peak = result["requests"]["peak_per_second"]
        found.append(f"{peak} requests in one second, above R + burst = {ceiling:g}")
    refused = result["rate_limited"].get("rate_limit", 0)
    if refused:
        found.append(f"Aiuta refused {refused} requests for the rate (the pipeline should stay under it)")
    return found


def last_line(result: dict[str, Any]) -> str:
    """``load: key=value ...`` for scripts (the bench convention)."""
    r = result["requests"]
    figures = {
        "products": result["products"],
        "input": result["input"],
        "rate": f"{result['rate']:g}",
        "wall_seconds": f"{result['wall_seconds']:.0f}",
        "peak_per_second": r["peak_per_second"],
        "mean_while_queued": f"{r['mean_while_queued']:g}",
        "utilisation": f"{r['mean_while_queued'] / result['rate']:.2f}",
        "rate_limited": result["rate_limited"].get("total", 0),
        "succeeded": result["jobs"].get("SUCCEEDED", 0),
        "creates_per_job": result["creates_per_job"],
        "requests_per_job": result.get("requests_per_job"),
        # The floor: every product's create and one check, at R (the "requests strictly needed").
        "wall_vs_floor": f"{result['wall_seconds'] / (result['products'] * 2 / result['rate']):.2f}",
        "first_result_seconds": result["first_result_seconds"],
        "last_result_seconds": result["last_result_seconds"],
        "all_started_seconds": result["all_started_seconds"],
        "all_checked_seconds": result.get("all_checked_seconds"),
        "moto_process_cpu_share": result.get("moto_process_cpu_share"),
    }
    return "load: " + " ".join(f"{k}={v}" for k, v in figures.items())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: where every thread is
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack and the simulator too
    # moto logs every IsPresent that finds nothing at ERROR: noise for a benchmark.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    result = run(args)
    print(render(result))
    for problem in problems(result):
        print(f"  PROBLEM: {problem}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.record:
        command = "python bench/load.py " + " ".join(sys.argv[1:] if argv is None else argv)
        record(result, command.replace(" --record", "").strip())
    print(last_line(result))
    return 0 if not result["timed_out"] else 3


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
