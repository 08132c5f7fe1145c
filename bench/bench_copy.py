"""Copying a finished operation's images to S3: finalize's parallel streaming copy vs one at a time.

The simulator serves 24 generated images (6 on-figure types x 4 generations) with a 100 ms delay
per image link, like a distant CDN; S3 is moto in this process. The same ``copy_round`` runs with
``COPY_WORKERS = 1`` (the baseline: a plain loop) and with the shipped value, three times each,
interleaved, and the medians are compared. Run: ``.venv/bin/python bench/bench_copy.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import boto3
from moto import mock_aws

from studio_cli.samples import product_photo
from studio_core import finalize
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.models import GenerateOnFigureImagesRequest
from studio_core.aws.storage import Storage
from studio_core.domain.state import JobState, OperationRef
from studio_core.domain.vocabulary import Kind
from studio_sim.server import run_in_thread
from studio_sim.settings import SimSettings

RESULTS = Path(__file__).with_name("results") / "copy.json"
FILE_LATENCY_SECONDS = 0.1
TYPES = ["front/standing", "back/standing", "side/standing", "front/walking", "back/walking", "front/sitting"]
GENERATIONS = 4
REPEATS = 3


def finished_operation(client: AiutaStudioClient, sim: object) -> JobState:
    uploaded = client.upload_image(product_photo("tshirt", (200, 50, 50)), content_type="image/jpeg")
    request = GenerateOnFigureImagesRequest.model_validate(
        {
            "product_info": {"uploaded_image_ids": [uploaded.id]},
            "image_types": [dict(zip(("viewpoint", "pose"), t.split("/"), strict=True)) for t in TYPES],
            "number_of_generations": GENERATIONS,
            "on_figure_model_settings": {"gender": "female"},
            "output_image_size": {"width": 768, "height": 1024},
        }
    )
    operation_id = client.create_on_figure_operation(request)
    sim.admin.advance(3600)  # type: ignore[attr-defined]
    return JobState(
        job_id="bench-job",
        product_id="bench",
        job={},
        operations=[OperationRef(kind=Kind.ON_FIGURE, operation_id=operation_id, status="SUCCESS")],
    )


def timed_copy(state: JobState, client: AiutaStudioClient, storage: Storage, workers: int) -> float:
    finalize.COPY_WORKERS = workers
    started = time.perf_counter()
    outcomes = finalize.copy_round(state, client=client, storage=storage)
    elapsed = time.perf_counter() - started
    assert len(outcomes) == len(TYPES) * GENERATIONS and not any(o.error for o in outcomes)
    return elapsed


def main() -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    shipped = finalize.COPY_WORKERS
    settings = SimSettings(file_latency_seconds=FILE_LATENCY_SECONDS, clock_frozen=True)
    with mock_aws(), run_in_thread(settings) as sim:
        boto3.client("s3").create_bucket(Bucket="bench")
        storage = Storage("bench")
        client = AiutaStudioClient(sim.api_key, sim.base_url)
        state = finished_operation(client, sim)
        timings: dict[int, list[float]] = {1: [], shipped: []}
        for _ in range(REPEATS):
            for workers in timings:
                timings[workers].append(timed_copy(state, client, storage, workers))
    finalize.COPY_WORKERS = shipped
    baseline, parallel = statistics.median(timings[1]), statistics.median(timings[shipped])
    report = {
        "images": len(TYPES) * GENERATIONS,
        "file_latency_seconds": FILE_LATENCY_SECONDS,
        "repeats": REPEATS,
        "baseline_one_at_a_time_seconds": round(baseline, 3),
        f"parallel_{shipped}_workers_seconds": round(parallel, 3),
        "speedup": round(baseline / parallel, 2),
        "all_runs": {str(k): [round(v, 3) for v in runs] for k, runs in timings.items()},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
