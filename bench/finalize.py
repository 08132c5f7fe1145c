"""Copying a 140-image round to S3: finalize's parallel streaming copy vs one at a time, and its memory.

A job can have 140 generated images: 35 on-figure types (5 viewpoints x 7 poses) x 4 variants.
The simulator generates them (PNG, ``image_noise`` grain for a realistic file size) and serves
them like a distant CDN: ``LATENCY_SECONDS`` before the first byte, then at most
``BANDWIDTH_BYTES_PER_SECOND`` per connection. S3 is a moto server in its own process.

Each copy runs ``studio_core.steps.finalize.copy_round`` (reading the operation from the
simulator, then copying every image) in a fresh Python process, so that process's peak RSS
(``VmHWM``) is the copy's memory and nothing else's:

- speed: a 140-image round of 1536x2048 images of about 1 MB, with the shipped ``COPY_WORKERS``
  (three runs, the median counts) and with the baseline, ``COPY_WORKERS = 1`` (a plain loop,
  one image at a time), interleaved;
- memory: ``MEMORY_IMAGES`` images of about 1 MB, then as many 3072x4096 images of about 20 MB,
  the shipped code; the round time of 140 such images is scaled from it (``--memory-images 140``
  measures it, in about two more minutes);
- ``--with-previous``: the copy shipped before (each image spooled whole, 16 MB in memory then
  /tmp, decoded in full by Pillow, then ``upload_fileobj``; copied below) on both memory sets,
  as the reference for the memory figures.

Before the runs every link is fetched once without latency or cap, so the simulator has drawn
every picture (drawing is the simulator's cost, not the copy's). After each run the bucket is
listed: every image there, each the size the simulator served, or the bench fails.

Last line: ``finalize: speedup_vs_sequential=<x> peak_mem_ratio_20mb_vs_1mb=<y> ...``; the bench
exits 1 if the speed-up is under 5x, the memory ratio over 1.5x, or a 140-image round takes
more than half the function's timeout. Run: ``.venv/bin/python bench/finalize.py``
(``--workers N`` tries another worker count).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results") / "finalize.json"
BUCKET = "bench-finalize"
REGION = "us-east-1"
API_KEY = "bench-finalize-key"

# A distant CDN: 100 ms to the first byte (TLS and a request across a continent), then 80 Mbit/s
# for one TCP connection. Eight such connections make 640 Mbit/s, within what a 1 GB Lambda gets.
LATENCY_SECONDS = 0.1
BANDWIDTH_BYTES_PER_SECOND = 10_000_000
VIEWPOINTS = ["front", "front_angled", "back", "back_angled", "side"]
POSES = ["standing", "walking", "sitting", "leaning", "crouching_or_kneeling", "in_action", "close_up"]
GENERATIONS = 4
ROUND_IMAGES = len(VIEWPOINTS) * len(POSES) * GENERATIONS  # 140
LOOKS = {  # (width, height, image_noise): about 1 MB and about 20 MB of PNG
    "1mb": (1536, 2048, 0.25),
    "20mb": (3072, 4096, 40.0),
}
# Peak memory is reached once every worker copies at once; 40 images keep 8 workers busy five
# times over, and spare the simulator drawing 140 pictures of 20 MB (2 minutes on two cores).
MEMORY_IMAGES = 40
SHIPPED_REPEATS = 3
FUNCTION_TIMEOUT_SECONDS = 300  # template.yaml, FinalizeFunction
FUNCTION_MEMORY_MB = 1024
GOAL_SPEEDUP, GOAL_MEMORY_RATIO = 5.0, 1.5

CHILD_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "studio-pipeline",
    "POWERTOOLS_METRICS_NAMESPACE": "StudioPipelineBench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


# ---------------------------------------------------------------- the copy, in its own process


def child(order: dict[str, Any]) -> None:
    """Runs one copy and prints its figures as JSON (``--child``)."""
    from studio_core.aiuta.client import AiutaStudioClient
    from studio_core.aws.downloads import DownloadLimits
    from studio_core.aws.storage import Storage
    from studio_core.domain.jobs import JobDefaults, build_job
    from studio_core.domain.state import JobState
    from studio_core.steps import finalize

    spec = build_job("bench", None, image_count=1, defaults=JobDefaults())
    state = JobState.model_validate(
        {
            "job_id": order["job_id"],
            "product_id": "bench",
            "job": spec.to_state(),
            "operations": [
                {
                    "kind": "on_figure",
                    "operation_id": order["operation_id"],
                    "status": "SUCCESS",
                    "number_of_generations": GENERATIONS,
                }
            ],
        }
    )
    client = AiutaStudioClient(API_KEY, order["base_url"])
    storage = Storage(BUCKET)
    storage.exists("warm-up")  # the S3 client's first call resolves credentials and endpoints
    finalize.COPY_WORKERS = order["workers"]
    if order["variant"] == "previous":
        finalize.copy_one = previous_copy_one  # type: ignore[assignment]
    rss_before, cpu_before = _status_kib("VmRSS"), _cpu_seconds()
    started = time.perf_counter()
    # The simulator serves its images from 127.0.0.1, as on the local stack.
    limits = DownloadLimits(allow_loopback=True)
    outcomes = finalize.copy_round(state, client=client, storage=storage, limits=limits)
    seconds = time.perf_counter() - started
    figures = {
        "seconds": seconds,
        "images": len(outcomes),
        "errors": sorted({o.error for o in outcomes if o.error})[:3],
        "sizes": sorted({(o.width, o.height) for o in outcomes}),
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
        "cpu_seconds": _cpu_seconds() - cpu_before,
    }
    print(json.dumps(figures))


def _status_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of this process, in KiB.

    Not ``ru_maxrss``: Linux carries it across exec from the parent, which here holds every
    picture the simulator drew (gigabytes), so every child would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The copy shipped before this one (finalize.copy_one and storage.download_to_spool at 2ddd98f),
# kept here as the memory reference: the whole image in a spool, a full decode, upload_fileobj.
PREVIOUS_SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024


def previous_copy_one(order: Any, storage: Any, session: Any = None) -> Any:
    from PIL import Image, UnidentifiedImageError

    from studio_core.aws.downloads import DownloadFailed
    from studio_core.domain.record import ImageRecord

    record = ImageRecord(
        kind=order.kind,
        image_type=order.image_type,
        variant=order.variant,
        round=order.round,
        aiuta_image_id=order.image.id,
        source_url=order.image.url.split("?", 1)[0],
        owner_type=order.image.owner_type,
    )
    try:
        spool, content_type = _previous_download_to_spool(order.image.url)
    except DownloadFailed as exc:
        return record.model_copy(update={"error": f"could not download: {exc}"})
    size, error = None, None
    with spool:
        try:
            with Image.open(spool) as picture:
                size = picture.size
                picture.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            error = f"not a decodable image: {exc}"
        spool.seek(0)
        storage.upload_file(
            order.key, spool, content_type if content_type.startswith("image/") else "image/png"
        )
    width, height = size or (None, None)
    return record.model_copy(update={"key": order.key, "width": width, "height": height, "error": error})


def _previous_download_to_spool(url: str) -> tuple[IO[bytes], str]:
    from studio_core.aws.downloads import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, DownloadFailed

    try:
        with requests.get(
            url, stream=True, timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        ) as response:
            if response.status_code != 200:
                raise DownloadFailed(f"HTTP {response.status_code}")
            spool = tempfile.SpooledTemporaryFile(max_size=PREVIOUS_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
            for chunk in response.iter_content(chunk_size=256 * 1024):
                spool.write(chunk)
            content_type = response.headers.get("Content-Type", "application/octet-stream")
    except requests.RequestException as exc:
        raise DownloadFailed(type(exc).__name__) from None
    spool.seek(0)
    return spool, content_type


# ---------------------------------------------------------------- the stage: moto, the simulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            return process, url
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the moto server did not start") from None
            time.sleep(0.1)


def finished_operation(sim: Any, width: int, height: int, noise: float, images: int) -> tuple[str, list[str]]:
    """A finished on-figure operation of ``images`` pictures (4 variants per type) of that size and grain."""
    from studio_cli.samples import product_photo

    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    photo = product_photo("tshirt", (200, 50, 50))
    uploaded = http.post(
        f"{sim.base_url}/uploaded_images",
        files={"image_data": ("shirt.jpg", photo, "image/jpeg")},
        timeout=30,
    ).json()["id"]
    body = {
        "product_info": {"uploaded_image_ids": [uploaded], "title": "Shirt"},
        "image_types": [{"viewpoint": v, "pose": p} for v in VIEWPOINTS for p in POSES][
            : images // GENERATIONS
        ],
        "number_of_generations": GENERATIONS,
        "on_figure_model_settings": {"gender": "female"},
        "output_image_size": {"width": width, "height": height},
    }
    answer = http.post(f"{sim.base_url}/on_figure_operations", json=body, timeout=30)
    answer.raise_for_status()
    operation_id = answer.json()["operation_id"]
    sim.admin.configure(image_noise=noise)  # the pictures are planned when the results are first read
    sim.admin.advance(3600)
    operation = http.get(f"{sim.base_url}/on_figure_operations/{operation_id}", timeout=30).json()
    urls = [image["url"] for item in operation["generation_result"] for image in item["generated_images"]]
    assert len(urls) == images, len(urls)
    return operation_id, urls


def draw_every_picture(urls: list[str]) -> list[int]:
    """Fetches each link once (two at a time: the drawing uses both cores), returning the sizes."""

    def size(url: str) -> int:
        response = requests.get(url, timeout=120)
        response.raise_for_status()
        return len(response.content)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(size, urls))


def run_copy(
    moto_url: str, sim: Any, operation_id: str, job_id: str, workers: int, variant: str = "shipped"
) -> dict[str, Any]:
    order = {
        "base_url": sim.base_url,
        "operation_id": operation_id,
        "job_id": job_id,
        "workers": workers,
        "variant": variant,
    }
    env = {**os.environ, **CHILD_ENV, "AWS_ENDPOINT_URL": moto_url}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    done = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", json.dumps(order)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=FUNCTION_TIMEOUT_SECONDS * 2,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the copy ({variant}, {workers} workers) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_bucket(s3: Any, job_id: str, expected_sizes: list[int]) -> None:
    """The round's objects are all there, each the size the simulator served."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"outbox/bench/{job_id}/"):
        found.extend(item["Size"] for item in page.get("Contents", []))
    assert sorted(found) == sorted(expected_sizes), (len(found), len(expected_sizes))


# ---------------------------------------------------------------- the bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=None, help="worker count instead of the shipped one")
    parser.add_argument(
        "--memory-images",
        type=int,
        default=MEMORY_IMAGES,
        choices=range(GENERATIONS, ROUND_IMAGES + 1, GENERATIONS),
        metavar=f"{GENERATIONS}..{ROUND_IMAGES}",
        help=f"images of each size in the memory comparison (default {MEMORY_IMAGES})",
    )
    parser.add_argument(
        "--with-previous", action="store_true", help="also run the previous copy, as a reference"
    )
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    from studio_core.steps.finalize import COPY_WORKERS
    from studio_sim.server import SimSettings, run_in_thread

    workers = args.workers or COPY_WORKERS
    memory_images = args.memory_images
    started = time.monotonic()
    os.environ.update(CHILD_ENV)
    moto, moto_url = start_moto()
    settings = SimSettings(api_key=API_KEY, clock_frozen=True, image_ttl_seconds=24 * 3600)
    wanted = {"1mb": ROUND_IMAGES, "20mb": memory_images}
    if memory_images != ROUND_IMAGES:
        wanted["1mb_memory"] = memory_images
    runs: dict[str, Any] = {}
    try:
        with run_in_thread(settings) as sim:
            s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            sets = {}
            for name, images in wanted.items():
                width, height, noise = LOOKS[name.split("_")[0]]
                operation_id, urls = finished_operation(sim, width, height, noise, images)
                drawing = time.monotonic()
                sizes = draw_every_picture(urls)
                sets[name] = (operation_id, sizes, (width, height))
                mean_mb = statistics.mean(sizes) / 1e6
                print(
                    f"{name}: {len(sizes)} pictures of {width}x{height}, mean {mean_mb:.2f} MB"
                    f" (drawn in {time.monotonic() - drawing:.0f} s)",
                    file=sys.stderr,
                )
            sim.admin.configure(
                file_latency_seconds=LATENCY_SECONDS,
                file_bandwidth_bytes_per_second=BANDWIDTH_BYTES_PER_SECOND,
            )

            def run(label: str, image_set: str, count: int, variant: str = "shipped") -> None:
                operation_id, sizes, size = sets[image_set]
                job_id = f"{label}-{len(runs)}"
                figures = run_copy(moto_url, sim, operation_id, job_id, count, variant)
                assert figures["images"] == len(sizes) and not figures["errors"], figures
                assert figures["sizes"] == [list(size)], figures["sizes"]
                check_bucket(s3, job_id, sizes)
                runs.setdefault(label, []).append({"image_set": image_set, **figures})
                print(
                    f"{label}: {figures['seconds']:.2f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB",
                    file=sys.stderr,
                )

            # Interleaved, so a slow moment of the machine does not land on one side only.
            run("shipped_1mb", "1mb", workers)
            run("sequential_1mb", "1mb", 1)
            for _ in range(SHIPPED_REPEATS - 1):
                run("shipped_1mb", "1mb", workers)
            memory_1mb = "1mb_memory" if "1mb_memory" in sets else "1mb"
            if memory_1mb != "1mb":
                run("shipped_1mb_memory", memory_1mb, workers)
            run("shipped_20mb", "20mb", workers)
            if args.with_previous:
                run("previous_1mb", memory_1mb, workers, "previous")
                run("previous_20mb", "20mb", workers, "previous")
    finally:
        moto.terminate()
        moto.wait(timeout=30)

    report = summarise(runs, sets, workers, time.monotonic() - started)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    last = report["summary"]
    print(
        f"finalize: speedup_vs_sequential={last['speedup_vs_sequential']:.2f} "
        f"peak_mem_ratio_20mb_vs_1mb={last['peak_mem_ratio_20mb_vs_1mb']:.2f} "
        f"round_140_seconds_1mb={last['round_140_seconds_1mb']:.2f} "
        f"peak_rss_mib_1mb={last['peak_rss_mib_1mb']:.0f} peak_rss_mib_20mb={last['peak_rss_mib_20mb']:.0f}"
    )
    misses = []
    if last["speedup_vs_sequential"] < GOAL_SPEEDUP:
        misses.append(f"speed-up {last['speedup_vs_sequential']:.2f} < {GOAL_SPEEDUP}")
    if last["peak_mem_ratio_20mb_vs_1mb"] > GOAL_MEMORY_RATIO:
        misses.append(f"memory ratio {last['peak_mem_ratio_20mb_vs_1mb']:.2f} > {GOAL_MEMORY_RATIO}")
    if max(last["round_140_seconds_1mb"], last["round_140_seconds_20mb"]) > FUNCTION_TIMEOUT_SECONDS / 2:
        misses.append("a 140-image round takes more than half the function's timeout")
    for miss in misses:
        print(f"goal missed: {miss}", file=sys.stderr)
    return 1 if misses else 0


def summarise(
    runs: dict[str, Any], sets: dict[str, Any], workers: int, wall_seconds: float
) -> dict[str, Any]:
    def median(label: str, field: str) -> float:
        return statistics.median(run[field] for run in runs[label])

    memory_1mb = "shipped_1mb_memory" if "shipped_1mb_memory" in runs else "shipped_1mb"
    memory_images = runs["shipped_20mb"][0]["images"]
    peak_1mb, peak_20mb = median(memory_1mb, "peak_rss_mib"), median("shipped_20mb", "peak_rss_mib")
    summary = {
        "speedup_vs_sequential": median("sequential_1mb", "seconds") / median("shipped_1mb", "seconds"),
        "round_140_seconds_1mb": median("shipped_1mb", "seconds"),
        "memory_images": memory_images,
        "peak_rss_mib_1mb": peak_1mb,
        "peak_rss_mib_20mb": peak_20mb,
        "peak_mem_ratio_20mb_vs_1mb": peak_20mb / peak_1mb,
        "copy_growth_ratio_20mb_vs_1mb": (peak_20mb - median("shipped_20mb", "rss_before_mib"))
        / (peak_1mb - median(memory_1mb, "rss_before_mib")),
        "round_seconds_20mb": median("shipped_20mb", "seconds"),
        # Images go through the workers in turn, so a round's time grows with its image count.
        "round_140_seconds_20mb": median("shipped_20mb", "seconds") * ROUND_IMAGES / memory_images,
        "round_140_seconds_20mb_measured": memory_images == ROUND_IMAGES,
    }
    if "previous_20mb" in runs:
        summary["previous_peak_rss_mib_1mb"] = median("previous_1mb", "peak_rss_mib")
        summary["previous_peak_rss_mib_20mb"] = median("previous_20mb", "peak_rss_mib")
        summary["previous_peak_mem_ratio_20mb_vs_1mb"] = (
            summary["previous_peak_rss_mib_20mb"] / summary["previous_peak_rss_mib_1mb"]
        )
    return {
        "workers": workers,
        "latency_seconds": LATENCY_SECONDS,
        "bandwidth_bytes_per_second_per_connection": BANDWIDTH_BYTES_PER_SECOND,
        "image_sets": {
            name: {
                "images": len(sizes),
                "width": size[0],
                "height": size[1],
                "image_noise": LOOKS[name.split("_")[0]][2],
                "mean_mb": statistics.mean(sizes) / 1e6,
                "total_mb": sum(sizes) / 1e6,
            }
            for name, (_, sizes, size) in sets.items()
        },
        "function": {"timeout_seconds": FUNCTION_TIMEOUT_SECONDS, "memory_mb": FUNCTION_MEMORY_MB},
        "runs": runs,
        "summary": summary,
        "bench_wall_seconds": wall_seconds,
    }


def table(report: dict[str, Any]) -> str:
    rows = [
        "| run | images | seconds | CPU seconds | peak RSS MiB | RSS before the copy MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, runs in report["runs"].items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_rss_mib"] for r in runs)
        before = statistics.median(r["rss_before_mib"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        cells = [f"{label} (x{len(runs)})", str(runs[0]["images"]), f"{seconds:.2f}", f"{cpu:.2f}"]
        rows.append("| " + " | ".join([*cells, f"{peak:.0f}", f"{before:.0f}"]) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
