"""``make demo``: sample products through the local stack, shown live, then a table and a gallery.

The scenarios: an on-figure job with URL inputs, a flat-lay job with uploaded bytes, a job with
a regeneration round, and a job that fails on bad input with its message. The images are drawn
on the spot (``samples.py``); nothing is downloaded.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from pathlib import Path

from studio_cli.jobs_view import Stack, download_results, job_rows, render_table, submit_folder, watch
from studio_cli.samples import SampleProduct
from studio_core.domain.record import JobRecord

Say = Callable[[str], None]

# Short simulator operations and poll waits, set the way a user would: template parameters.
DEMO_PARAMETERS = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollFirstWaitOfflineSeconds": "2",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "3",
    "InboxQuietSeconds": "3",
    "PresignedUrlTtlSeconds": "600",
}
DEMO_OPERATION_SECONDS = 3.0

CATEGORY = "Apparel & Accessories > Clothing"


def demo_products() -> list[SampleProduct]:
    return [
        SampleProduct(
            "linen-shirt",
            "tshirt",
            (214, 206, 190),
            photos=2,
            manifest={
                "product": {"title": "Linen shirt", "category": CATEGORY, "description": "Relaxed fit, sand"},
                "kind": "on_figure",
                "input_mode": "urls",
                "image_types": ["front/standing", "front_angled/walking"],
                "output_image_size": {"width": 480, "height": 640},
                "on_figure_model_settings": {"gender": "male", "age_group": "young_adult"},
            },
        ),
        SampleProduct(
            "summer-dress",
            "dress",
            (180, 60, 70),
            photos=1,
            manifest={
                "product": {"title": "Summer dress", "category": CATEGORY},
                "kind": "flat_lay",
                "input_mode": "upload",
                "number_of_generations": 2,
                "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
                "background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"},
                "output_image_size": {"width": 480, "height": 640},
            },
        ),
        SampleProduct(
            "rain-jacket",
            "jacket",
            (40, 90, 60),
            photos=2,
            manifest={
                "product": {"title": "Rain jacket", "category": CATEGORY},
                "kind": "on_figure",
                "image_types": ["front/standing"],
                "output_image_size": {"width": 480, "height": 640},
                "regeneration": {"rounds": [{"image_types": ["back/walking", "side/standing"]}]},
            },
        ),
        SampleProduct(
            "broken-tee",
            "tshirt",
            (90, 90, 200),
            photos=1,
            manifest={"kind": "on_figure", "image_types": ["front/dancing"], "number_of_generatons": 2},
        ),
    ]


def run_demo(
    stack: Stack, output: Path, say: Say = print, *, timeout_seconds: float = 180
) -> list[JobRecord]:
    """Submits the sample products, follows them to the end, downloads the images; returns the jobs."""
    started = time.monotonic()
    products = demo_products()
    samples = output / "samples"
    say(f"Submitting {len(products)} sample products (their photos are in {samples}):")
    for product in products:
        folder = product.write(samples)
        keys = submit_folder(stack, folder)
        say(
            f"  {product.product_id:<22} {len(keys)} files -> s3://{stack.bucket}/inbox/{product.product_id}/"
        )
    say("Following the jobs (status changes as they happen):")
    records = watch(stack, say, expect=len(products), timeout_seconds=timeout_seconds, interval_seconds=0.5)
    gallery = output / "gallery"
    for record in records:
        download_results(stack, record.job_id, gallery)
    say("")
    say(render_table(job_rows(records)))
    index = write_gallery(records, gallery)
    say("")
    say(f"Generated images: {gallery} (open {index}); results also in s3://{stack.bucket}/outbox/")
    say(f"Demo finished in {time.monotonic() - started:.1f} s")
    return records


def write_gallery(records: list[JobRecord], gallery: Path) -> Path:
    """A static page of every job's images, with the job's status and any error."""
    gallery.mkdir(parents=True, exist_ok=True)
    sections = []
    for record in records:
        job_id = record.job_id
        pictures = "".join(
            f'<figure><img src="{html.escape(job_id)}/{html.escape(i.key.split(f"/{job_id}/", 1)[-1])}">'
            f"<figcaption>{html.escape(i.kind.value)} {html.escape(i.image_type.label)} v{i.variant}"
            f"{' r' + str(i.round) if i.round else ''}</figcaption></figure>"
            for i in record.images
            if i.key
        )
        error = f"<p class=error>{html.escape(record.error)}</p>" if record.error else ""
        sections.append(
            f"<section><h2>{html.escape(record.product_id)} - {html.escape(record.status.value)}</h2>"
            f"<p>job {html.escape(job_id)}</p>{error}{pictures}</section>"
        )
    page = (
        "<!doctype html><meta charset=utf-8><title>Studio Pipeline demo</title>"
        "<style>body{font-family:sans-serif}img{max-width:240px;border:1px solid #ccc}"
        "figure{display:inline-block}.error{color:#a00}</style>"
        "<h1>Studio Pipeline demo</h1><p>Images from the Studio simulator, not from Aiuta.</p>"
        + "".join(sections)
    )
    index = gallery / "index.html"
    index.write_text(page)
    return index


def run_local_demo(output: Path, say: Say = print) -> int:
    """``make demo``: the local stack with demo parameters, the sample products, and the counts."""
    import os

    from studio_local.stack import LocalStudio
    from studio_sim.settings import SimSettings

    started = time.monotonic()
    say("Starting the local stack: moto server (AWS), the Studio simulator (Aiuta), template.yaml deployed")
    studio = LocalStudio(
        parameter_overrides=DEMO_PARAMETERS,
        sim_settings=SimSettings(operation_seconds=DEMO_OPERATION_SECONDS),
        # The handlers' JSON logs and metrics would drown the demo's progress lines.
        function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"},
    )
    with studio:
        say(f"  ready in {time.monotonic() - started:.1f} s: bucket {studio.bucket}")
        say(f"  jobs table {studio.jobs_table}")
        say(f"  state machine {studio.state_machine_arn}")
        os.environ.update(studio.environment())
        records = run_demo(Stack(studio.bucket, studio.jobs_table), output, say)
        executions = studio.client("stepfunctions").list_executions(stateMachineArn=studio.state_machine_arn)
        invocations = studio.invocation_counts()
        aiuta_calls = studio.simulator_admin.calls()["total"]
    per_function = ", ".join(f"{name} {n}" for name, n in sorted(invocations.items()))
    say(
        f"Counts: {len(records)} jobs, {len(executions['executions'])} executions, "
        f"{sum(invocations.values())} Lambda invocations ({per_function}), {aiuta_calls} Aiuta API calls"
    )
    say(f"Total wall time {time.monotonic() - started:.1f} s")
    expected = {
        p.product_id: "FAILED" if p.product_id.startswith("broken") else "SUCCEEDED" for p in demo_products()
    }
    actual = {r.product_id: r.status.value for r in records}
    if actual != expected:
        say(f"Unexpected outcome: {actual}, expected {expected}")
        return 1
    return 0
