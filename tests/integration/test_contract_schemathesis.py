"""Schemathesis against the running simulator, with the Aiuta OpenAPI reference as the contract.

Each of the ten operations gets ``MAX_EXAMPLES`` generated requests (derandomized, so every run is
the same), plus schema-breaking requests for the operations that take a body. Deliberate
differences from a plain default run, each because the spec cannot say what the API does:

* ``positive_data_acceptance`` is not run on the POSTs: the spec's schemas miss rules the API
  enforces (1-20 images, preset XOR settings, colour with ``reference_color``, decodable image
  bytes), so schema-valid bodies are rightly refused with 422.
* Generated operation bodies are also repaired into ones the API accepts (a real uploaded image,
  a real preset, a colour where one is needed), so the success path and the operation read-back
  are fuzzed too, not only the 422 path.
* Unknown image ids answer 404 and unknown regeneration originals 404 (as the API does); the spec
  documents only 200/204/422, so those operations accept 404 on top of the documented codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings

from studio_cli.samples import product_photo

pytestmark = pytest.mark.contract

MAX_EXAMPLES = 25
NOT_FOUND_ALLOWED = {
    ("GET", "/uploaded_images/{image_id}"),
    ("DELETE", "/uploaded_images/{image_id}"),
    ("DELETE", "/generated_images/{image_id}"),
    ("POST", "/on_figure_operations/regenerate"),
}
WITH_BODY = [
    ("POST", "/uploaded_images"),
    ("POST", "/flat_lay_operations"),
    ("POST", "/on_figure_operations"),
    ("POST", "/on_figure_operations/regenerate"),
]
ALL_OPERATIONS = [
    *WITH_BODY,
    ("GET", "/uploaded_images/{image_id}"),
    ("DELETE", "/uploaded_images/{image_id}"),
    ("DELETE", "/generated_images/{image_id}"),
    ("GET", "/flat_lay_operations/{operation_id}"),
    ("GET", "/on_figure_model_presets"),
    ("GET", "/on_figure_operations/{operation_id}"),
]
TALLY: dict[str, int] = {"cases": 0, "checks": 0}
# No shrinking: it can take minutes, and the failing example is reported without it.
QUICK = [Phase.explicit, Phase.generate]
PHOTO = product_photo("jacket", (60, 120, 80))


@pytest.fixture(scope="module")
def studio_schema(studio_openapi: dict[str, Any] | None) -> Any:
    if studio_openapi is None:
        pytest.skip("the Aiuta OpenAPI reference is not here (set STUDIO_OPENAPI_SPEC to its path)")
    import schemathesis

    return schemathesis.openapi.from_dict(studio_openapi)


def status_check(documented: set[int], extra: set[int]) -> Callable[..., None]:
    """Like schemathesis' status_code_conformance, with the codes the spec leaves out added."""

    def documented_or_known_status(ctx: Any, response: Any, case: Any) -> None:
        allowed = documented | extra
        assert response.status_code in allowed, (
            f"{case.method} {case.path}: status {response.status_code} is neither documented "
            f"({sorted(documented)}) nor one of the simulator's known extras ({sorted(extra)})"
        )

    return documented_or_known_status


def checks_for(method: str, path: str, mode: str, spec: dict[str, Any]) -> list[Callable[..., Any]]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks as openapi

    documented = {int(code) for code in spec["paths"][path][method.lower()]["responses"]}
    chosen: list[Callable[..., Any]] = [
        not_a_server_error,
        openapi.content_type_conformance,
        openapi.response_schema_conformance,
        openapi.response_headers_conformance,
        openapi.ignored_auth,
    ]
    if (method, path) in NOT_FOUND_ALLOWED:
        chosen.append(status_check(documented, {404}))
    else:
        chosen.append(openapi.status_code_conformance)
    if mode == "negative":
        chosen.append(openapi.negative_data_rejection)
    elif method == "GET":
        chosen.append(openapi.positive_data_acceptance)
    return chosen


def run_operation(schema: Any, sim: Any, api_key: str, method: str, path: str, mode: str, spec: dict) -> None:
    from schemathesis import GenerationMode

    operation = schema[path][method]
    checks = checks_for(method, path, mode, spec)
    session = requests.Session()
    strategy = operation.as_strategy(GenerationMode(mode), headers={"x-api-key": api_key})

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=QUICK,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        TALLY["cases"] += 1
        TALLY["checks"] += len(checks)
        case.call_and_validate(base_url=sim.base_url, session=session, checks=checks, timeout=30)

    with session:
        call()


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_schema_valid_requests_get_answers_the_spec_allows(
    studio_schema: Any,
    studio_openapi: dict[str, Any],
    studio_sim: Any,
    sim_api_key: str,
    method: str,
    path: str,
) -> None:
    # Random input URLs must fail fast rather than wait on hosts that do not exist.
    studio_sim.admin.configure(download_timeout_seconds=1)

    run_operation(studio_schema, studio_sim, sim_api_key, method, path, "positive", studio_openapi)


@pytest.mark.parametrize(("method", "path"), WITH_BODY)
def test_schema_breaking_bodies_are_refused_with_a_422(
    studio_schema: Any,
    studio_openapi: dict[str, Any],
    studio_sim: Any,
    sim_api_key: str,
    method: str,
    path: str,
) -> None:
    run_operation(studio_schema, studio_sim, sim_api_key, method, path, "negative", studio_openapi)


def declared_only(value: Any, schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """``value`` without the extra properties the spec allows but the API's models refuse."""
    if "$ref" in schema:
        return declared_only(value, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec)
    for branch in schema.get("allOf", []) + schema.get("anyOf", []):
        if branch.get("type") != "null" and isinstance(value, dict | list):
            return declared_only(value, branch, spec)
    if isinstance(value, dict) and "properties" in schema:
        properties = schema["properties"]
        return {
            key: declared_only(item, properties[key], spec)
            for key, item in value.items()
            if key in properties
        }
    if isinstance(value, list) and "items" in schema:
        return [declared_only(item, schema["items"], spec) for item in value]
    return value


def accepted_body(body: dict[str, Any], image_id: str, preset_id: str) -> dict[str, Any]:
    """A generated body bent to the API's rules the spec cannot express; everything else as drawn."""
    info = {k: v for k, v in (body.get("product_info") or {}).items() if k in ("id", "title", "category")}
    body["product_info"] = {**info, "uploaded_image_ids": [image_id]}
    unique = {json.dumps(t, sort_keys=True): t for t in body["image_types"]}
    body["image_types"] = list(unique.values())
    background = body.get("background_settings")
    if isinstance(background, dict):
        colour = "#c8a27a" if background.get("background_type") == "reference_color" else None
        body["background_settings"] = {
            "background_type": background["background_type"],
            "reference_color": colour,
        }
    if body.get("output_image_size"):
        size = body["output_image_size"]
        body["output_image_size"] = {
            "width": 16 + abs(size["width"]) % 100,
            "height": 16 + abs(size["height"]) % 100,
        }
    if "on_figure_model_settings" in body or "on_figure_model_preset_id" in body:
        if body.get("on_figure_model_settings"):
            body.pop("on_figure_model_preset_id", None)
        else:
            body.pop("on_figure_model_settings", None)
            body["on_figure_model_preset_id"] = preset_id
    return body


@pytest.mark.parametrize(
    ("create_path", "read_path", "kind"),
    [
        ("/on_figure_operations", "/on_figure_operations/{operation_id}", "on_figure"),
        ("/flat_lay_operations", "/flat_lay_operations/{operation_id}", "flat_lay"),
    ],
)
def test_accepted_operations_read_back_in_the_spec_shape(
    studio_schema: Any,
    studio_openapi: dict[str, Any],
    sim_http: requests.Session,
    studio_sim: Any,
    sim_api_key: str,
    create_path: str,
    read_path: str,
    kind: str,
) -> None:
    from schemathesis import GenerationMode

    image_id = sim_http.post("/uploaded_images", files={"image_data": ("p.jpg", PHOTO, "image/jpeg")}).json()[
        "id"
    ]
    preset_id = sim_http.get("/on_figure_model_presets").json()[0]["preset_id"]
    required = {"on_figure_model_settings": {"gender": "male"}} if kind == "on_figure" else {}
    request_schema = studio_openapi["paths"][create_path]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    create_checks = checks_for("POST", create_path, "positive", studio_openapi)
    read_checks = checks_for("GET", read_path, "positive", studio_openapi)
    reader = studio_schema[read_path]["GET"]

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None, phases=QUICK)
    @given(case=studio_schema[create_path]["POST"].as_strategy(GenerationMode.POSITIVE))
    def create_and_read(case: Any) -> None:
        declared = declared_only(case.body, request_schema, studio_openapi)
        case.body = accepted_body({**required, **declared}, image_id, preset_id)
        headers = {"x-api-key": sim_api_key}
        created = case.call_and_validate(base_url=studio_sim.base_url, headers=headers, checks=create_checks)
        assert created.status_code == 200, created.text
        studio_sim.admin.advance(3600)
        operation_id = created.json()["operation_id"]
        read = reader.Case(path_parameters={"operation_id": operation_id}, headers=headers)
        answer = read.call_and_validate(base_url=studio_sim.base_url, checks=read_checks).json()
        TALLY["cases"] += 2
        TALLY["checks"] += len(create_checks) + len(read_checks)
        assert answer["status"] in ("SUCCESS", "FAILED")
        if answer["status"] == "SUCCESS":
            assert [item["image_type"] for item in answer["generation_result"]] == case.body["image_types"]

    create_and_read()


def test_report_how_much_schemathesis_checked(request: pytest.FixtureRequest) -> None:
    # Runs last in this module: a readable record of the contract run's size.
    request.node.add_report_section(
        "call", "schemathesis", f"{TALLY['cases']} cases, {TALLY['checks']} checks"
    )
    if TALLY["cases"]:
        assert TALLY["cases"] >= len(ALL_OPERATIONS)
