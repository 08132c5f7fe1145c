"""Talking to the Studio simulator over HTTP: request bodies, and answers checked against the Aiuta spec."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests

from studio_cli.samples import product_photo
from tests.support import REPO_ROOT

SIM_API_KEY = "sim-test-key-not-a-secret"
ON_FIGURE = "/on_figure_operations"
FLAT_LAY = "/flat_lay_operations"


def openapi_spec_path() -> Path:
    """The Aiuta OpenAPI reference: ``$STUDIO_OPENAPI_SPEC``, else ``<repo>/../shared/reference/``."""
    override = os.environ.get("STUDIO_OPENAPI_SPEC")
    return (
        Path(override)
        if override
        else REPO_ROOT.parent / "shared" / "reference" / "aiuta-studio-openapi.json"
    )


class SpecCheckedSession(requests.Session):
    """A session to the simulator that checks every ``/studio/v1`` JSON answer against the Aiuta spec.

    Answers with a status the spec documents must match that response's schema; 401/403/404/429/5xx
    (which the spec leaves out) must at least carry a string ``detail``.
    """

    def __init__(self, base_url: str, api_key: str, spec: dict[str, Any] | None) -> None:
        super().__init__()
        self.base_url = base_url
        self.headers["x-api-key"] = api_key
        self.spec = spec
        self.checked = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        full_url = url if url.startswith("http") else self.base_url + url
        kwargs.setdefault("timeout", 30)
        response = super().request(method, full_url, *args, **kwargs)
        if full_url.startswith(self.base_url) and self.spec is not None:
            check_against_spec(self.spec, method, full_url[len(self.base_url) :], response)
            self.checked += 1
        return response


def check_against_spec(spec: dict[str, Any], method: str, path: str, response: requests.Response) -> None:
    from jsonschema import Draft202012Validator

    template = spec_path_template(spec, path.split("?", 1)[0])
    operation = spec["paths"].get(template, {}).get(method.lower()) if template else None
    documented = (operation or {}).get("responses", {}).get(str(response.status_code))
    if documented is None:
        if response.status_code >= 400 and response.status_code != 422:
            assert isinstance(response.json().get("detail"), str), response.text
        return
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert not response.content, f"{method} {path}: {response.status_code} should have no body"
        return
    document = {**schema, "components": spec["components"]}
    validator = Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
    assert not problems, f"{method} {path} -> {response.status_code} breaks the spec: {problems[:5]}"


def spec_path_template(spec: dict[str, Any], path: str) -> str | None:
    """The spec's path (``/uploaded_images/{image_id}``) that a concrete path falls under."""
    parts = path.strip("/").split("/")
    for template in sorted(spec["paths"], key=lambda t: "{" in t):
        pattern = template.strip("/").split("/")
        if len(pattern) == len(parts) and all(
            p == q or (p.startswith("{") and p.endswith("}")) for p, q in zip(pattern, parts, strict=True)
        ):
            return template
    return None


def upload(http: requests.Session, data: bytes | None = None, name: str = "shirt.jpg") -> dict[str, Any]:
    photo = data if data is not None else product_photo("tshirt", (30, 90, 160))
    response = http.post("/uploaded_images", files={"image_data": (name, photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    return response.json()


def on_figure_body(image_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_info": {"uploaded_image_ids": [image_id], "title": "Shirt", "description": "Relaxed fit"},
        "image_types": [{"viewpoint": "front", "pose": "standing"}, {"viewpoint": "back", "pose": "walking"}],
        "on_figure_model_settings": {"gender": "female", "age_group": "young_adult"},
        "number_of_generations": 2,
        "output_image_size": {"width": 120, "height": 160},
    }
    body.update(overrides)
    return body


def flat_lay_body(image_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_info": {"uploaded_image_ids": [image_id]},
        "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
        "output_image_size": {"width": 120, "height": 160},
    }
    body.update(overrides)
    return body


def create(http: requests.Session, path: str, body: dict[str, Any]) -> str:
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["operation_id"]


def status_of(http: requests.Session, path: str, operation_id: str) -> dict[str, Any]:
    return http.get(f"{path}/{operation_id}").json()
