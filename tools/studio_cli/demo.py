"""``make demo``: sample products through the local stack, shown live, then a table and a gallery.

The scenarios: an on-figure job with URL inputs, a flat-lay job with uploaded bytes, a job with
a regeneration round, and a job that fails on bad input with its message. The images are drawn
on the spot (``samples.py``); nothing is downloaded.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from studio_cli import views
from studio_cli.errors import Refused
from studio_cli.last_jobs import Expected
from studio_cli.local_up import output_to_log
from studio_cli.results import download
from studio_cli.samples import SampleProduct
from studio_cli.stack import Stack
from studio_cli.submitting import submit_paths
from studio_cli.watching import follow
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
    """Submits the sample products, follows them to the end, downloads their folders; returns the jobs."""
    started = time.monotonic()
    products = demo_products()
    samples = output / "samples"
    say(f"Submitting {len(products)} sample products (their photos are in {samples}):")
    expected = submit_samples(stack, products, samples, say)
    say("Following the jobs (status changes as they happen):")
    outcome = follow(
        stack,
        expected,
        views.console(),
        timeout_seconds=timeout_seconds,
        interval_seconds=0.5,
        live=False,
        on_change=say,
    )
    records = [record for record in outcome.records.values() if record is not None]
    gallery = output / "gallery"
    for record in records:
        download(stack, record, gallery)
    say("")
    say(render_text(views.jobs_table(records)))
    index = write_gallery(records, gallery)
    say("")
    say(f"Each job's folder, with its own gallery page, is in {gallery}; open {index}")
    say(f"Results are also in s3://{stack.bucket}/outbox/ (outbox/<product>/<job>/index.html)")
    say(f"Demo finished in {time.monotonic() - started:.1f} s")
    return records


def submit_samples(stack: Stack, products: list[SampleProduct], samples: Path, say: Say) -> Expected:
    """Each sample as `studio submit` uploads it (a refused one uploaded unchecked); what to follow."""
    expected = Expected()
    for product in products:
        folder = product.write(samples)
        where = f"s3://{stack.bucket}/inbox/{product.product_id}/"
        try:
            submitted = submit_paths(stack, [folder])[0]
        except Refused as exc:
            # `studio submit` refuses it; the demo uploads it anyway to show the pipeline's own check.
            reason = exc.message.removesuffix("; nothing was uploaded")
            say(f"  {product.product_id:<22} studio submit refuses it: {reason}")
            expected.products[product.product_id] = datetime.now(UTC).isoformat(timespec="milliseconds")
            keys = upload_unchecked(stack, folder)
            say(
                f"  {'':<22} so the demo uploads its {len(keys)} files unchecked -> {where}, to show ingest "
                "refusing it too (a FAILED job with the same reason)"
            )
            continue
        expected.jobs.append(submitted.job_ids[0])
        say(f"  {product.product_id:<22} {len(submitted.keys)} files -> {where}  job {submitted.job_ids[0]}")
    return expected


def upload_unchecked(stack: Stack, folder: Path) -> list[str]:
    keys = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name == "product.json"):
        key = f"inbox/{folder.name}/{path.name}"
        stack.s3().put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def render_text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=160, soft_wrap=False, highlight=False)
    console.print(renderable)
    return console.file.getvalue().rstrip()  # type: ignore[attr-defined]


def write_gallery(records: list[JobRecord], gallery: Path) -> Path:
    """An index of the jobs, each linking its own gallery page (``<job>/index.html``)."""
    gallery.mkdir(parents=True, exist_ok=True)
    items = "".join(
        f'<li><a href="{html.escape(r.job_id)}/index.html">{html.escape(r.product_id)}</a> '
        f"<b>{html.escape(r.status.value)}</b> {r.image_counts()[0]} images"
        f"{' - ' + html.escape(r.error) if r.error else ''}</li>"
        for r in records
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>Studio Pipeline demo</title>"
        "<style>body{font-family:sans-serif;margin:24px}li{margin:6px 0}</style>"
        "<h1>Studio Pipeline demo</h1><p>Images from the Studio simulator, not from Aiuta.</p>"
        f"<ul>{items}</ul>"
    )
    index = gallery / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def run_local_demo(output: Path, say: Say | None = None) -> int:
    """``make demo``: the local stack with demo parameters, the sample products, and the counts.

    The stack's own output (moto's interpreter, the functions' logs) goes to
    ``<output>/local-stack.log``; the terminal shows the demo's progress.
    """
    if say is not None:
        return _run_local_demo(output, say)
    log = output / "local-stack.log"
    with output_to_log(log) as terminal:

        def to_terminal(line: str) -> None:
            terminal.write(line + "\n")
            terminal.flush()

        to_terminal(f"(the local stack's own output goes to {log})")
        return _run_local_demo(output, to_terminal)


def _run_local_demo(output: Path, say: Say) -> int:
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
        stack = Stack(
            studio.bucket,
            studio.jobs_table,
            state_machine_arn=studio.state_machine_arn,
            name=studio.stack_name,
        )
        records = run_demo(stack, output, say)
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
