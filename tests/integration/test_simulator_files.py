"""Image links like a real CDN's: a capped bandwidth per connection, and files of a realistic size.

``file_bandwidth_bytes_per_second`` paces every ``/files/`` answer; ``image_noise`` adds a grain
to generated pictures so their PNGs are as large as a photograph's, not a flat drawing's.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
import requests
from PIL import Image

from tests.support.simulator import ON_FIGURE, create, on_figure_body, upload


@pytest.fixture
def frozen_sim(studio_sim: Any) -> Any:
    studio_sim.admin.configure(clock_frozen=True, operation_seconds=10)
    return studio_sim


def generated_urls(http: requests.Session, sim: Any, **overrides: Any) -> list[str]:
    operation_id = create(http, ON_FIGURE, on_figure_body(upload(http)["id"], **overrides))
    sim.admin.advance(60)
    result = http.get(f"{ON_FIGURE}/{operation_id}").json()["generation_result"]
    return [image["url"] for item in result for image in item["generated_images"]]


def test_a_bandwidth_cap_paces_each_download_and_keeps_its_length(
    sim_http: requests.Session, frozen_sim: Any
) -> None:
    # Given a picture of some size, first fetched without a cap
    url = generated_urls(
        sim_http,
        frozen_sim,
        number_of_generations=1,
        image_types=[{"viewpoint": "front", "pose": "standing"}],
        output_image_size={"width": 600, "height": 800},
    )[0]
    data = requests.get(url, timeout=10).content

    # When links are capped so that it takes 0.4 s
    frozen_sim.admin.configure(file_bandwidth_bytes_per_second=len(data) / 0.4)
    started = time.monotonic()
    response = requests.get(url, timeout=10)
    elapsed = time.monotonic() - started

    # Then the same bytes take about that long, with their Content-Length announced
    assert response.content == data
    assert response.headers["Content-Length"] == str(len(data))
    assert 0.38 <= elapsed < 2.0


def test_noise_makes_files_larger_and_they_still_decode_at_their_size(
    sim_http: requests.Session, frozen_sim: Any
) -> None:
    body = {
        "number_of_generations": 1,
        "image_types": [{"viewpoint": "front", "pose": "standing"}],
        "output_image_size": {"width": 480, "height": 640},
    }
    smooth = requests.get(generated_urls(sim_http, frozen_sim, **body)[0], timeout=10).content
    frozen_sim.admin.configure(image_noise=0.3)
    grainy = requests.get(generated_urls(sim_http, frozen_sim, **body)[0], timeout=10).content

    assert len(grainy) > 2 * len(smooth)
    picture = Image.open(io.BytesIO(grainy))
    picture.load()
    assert picture.size == (480, 640)
