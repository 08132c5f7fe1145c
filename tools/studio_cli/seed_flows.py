"""The three flows of the Studio workflow, run with the client against the simulator.

This is the API walk-through behind ``studio seed-flows``: no AWS, just ``AiutaStudioClient``
talking to a local simulator, printing each step and saving every generated image to a folder.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from studio_cli.samples import SampleProduct
from studio_core.aiuta.answers import FlatLayOperation, OnFigureOperation, OperationStatus, known
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.requests import (
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    RegenerateOnFigureImagesRequest,
)
from studio_sim.server import run_in_thread
from studio_sim.settings import SimSettings

Operation = OnFigureOperation | FlatLayOperation
Say = Callable[[str], None]


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serves ``folder`` over HTTP on an ephemeral port: the "images hosted elsewhere" of flow 1."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def wait_for(
    fetch: Callable[[], Operation], say: Say, *, poll_seconds: float, timeout_seconds: float
) -> Operation:
    """Polls an operation until it is terminal (step 3 of the workflow)."""
    deadline = time.monotonic() + timeout_seconds
    last = None
    while True:
        operation = fetch()
        if operation.status != last:
            say(f"    operation {operation.id}: {operation.status}")
            last = operation.status
        if known(operation.status) and operation.status.is_terminal:  # an unknown status is unfinished
            return operation
        if time.monotonic() > deadline:
            raise TimeoutError(f"operation {operation.id} still {operation.status}")
        time.sleep(poll_seconds)


def save_results(operation: Operation, folder: Path, say: Say) -> list[Path]:
    if operation.status is not OperationStatus.SUCCESS:
        say(f"    FAILED: {operation.error}")
        return []
    saved = []
    folder.mkdir(parents=True, exist_ok=True)
    for item in operation.generation_result or []:
        for variant, image in enumerate(item.generated_images, start=1):
            name = f"{item.image_type.label.replace('/', '-')}-{variant}.png"
            response = requests.get(image.url, timeout=30)
            response.raise_for_status()
            (folder / name).write_bytes(response.content)
            saved.append(folder / name)
    say(f"    saved {len(saved)} images to {folder}")
    return saved


def run_seed_flows(output: Path, say: Say = print, *, operation_seconds: float = 1.5) -> dict[str, int]:
    """Runs flows 1-3 against a fresh simulator; returns how many images each flow saved."""
    shirt = SampleProduct("sku-linen-shirt", "tshirt", (214, 206, 190), photos=2)
    dress = SampleProduct("sku-summer-dress", "dress", (180, 60, 70), photos=1)
    hosted = output / "hosted-inputs"
    shirt.write(hosted)
    saved: dict[str, int] = {}
    wait = functools.partial(wait_for, say=say, poll_seconds=0.3, timeout_seconds=60)
    details = {"category": "Apparel & Accessories > Clothing", "description": "sample product"}
    with (
        run_in_thread(SimSettings(operation_seconds=operation_seconds)) as sim,
        serve_folder(hosted) as host,
    ):
        say(f"Studio simulator at {sim.base_url} (simulated images, not Aiuta's)")
        client = AiutaStudioClient(sim.api_key, sim.base_url)
        preset = client.list_model_presets()[0]

        say("Flow 1: product images as URLs -> on-figure operation")
        urls = [f"{host}/{shirt.product_id}/{name}" for name in shirt.files()]
        request = GenerateOnFigureImagesRequest.model_validate(
            {
                "product_info": {
                    "id": shirt.product_id,
                    "title": "Linen shirt",
                    "image_urls": urls,
                    **details,
                },
                "image_types": [{"viewpoint": "front", "pose": "standing"}],
                "on_figure_model_preset_id": preset.preset_id,
                "operation_priority": "online",
            }
        )
        first = client.create_on_figure_operation(request)
        say(f"    created on-figure operation {first} from {len(urls)} image URLs")
        done = wait(lambda: client.get_on_figure_operation(first))
        saved["urls"] = len(save_results(done, output / "flow-1-urls", say))

        say("Flow 2: manual upload of image bytes -> flat-lay operation")
        ids = []
        for name, data in dress.files().items():
            image = client.upload_image(data, filename=name, content_type="image/jpeg")
            say(f"    uploaded {name} as {image.id}")
            ids.append(image.id)
        flat = client.create_flat_lay_operation(
            GenerateFlatLayImagesRequest.model_validate(
                {
                    "product_info": {"id": dress.product_id, "uploaded_image_ids": ids, **details},
                    "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
                    "number_of_generations": 2,
                    "background_settings": {
                        "background_type": "reference_color",
                        "reference_color": "#e8e4dc",
                    },
                    "output_image_size": {"width": 600, "height": 800},
                }
            )
        )
        say(f"    created flat-lay operation {flat}")
        done = wait(lambda: client.get_flat_lay_operation(flat))
        saved["upload"] = len(save_results(done, output / "flow-2-upload", say))

        say("Flow 3: on-figure images, then a regeneration step for new image types")
        regeneration = client.regenerate_on_figure_operation(
            RegenerateOnFigureImagesRequest.model_validate(
                {
                    "original_operation_id": first,
                    "image_types": [
                        {"viewpoint": "back", "pose": "walking"},
                        {"viewpoint": "front", "pose": "standing"},
                    ],
                    "number_of_generations": 1,
                }
            )
        )
        say(f"    regeneration {regeneration} of {first}: back/walking (new) and front/standing (again)")
        done = wait(lambda: client.get_on_figure_operation(regeneration))
        saved["regeneration"] = len(save_results(done, output / "flow-3-regeneration", say))
        client.close()
    return saved
