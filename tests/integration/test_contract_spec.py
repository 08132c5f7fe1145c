"""The project's models and the simulator's answers against the Aiuta OpenAPI reference.

* The enums, limits, defaults and field names in ``studio_core.aiuta.requests`` and
  ``studio_core.aiuta.answers`` equal the spec's.
* Every answer the simulator gives on a full tour (all endpoints, every operation status, the
  error shapes) validates against the spec's component schemas with ``jsonschema``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from studio_core.aiuta import answers
from studio_core.aiuta import requests as request_models
from tests.support.simulator import (
    FLAT_LAY,
    ON_FIGURE,
    SpecCheckedSession,
    check_against_spec,
    create,
    flat_lay_body,
    on_figure_body,
    upload,
)

pytestmark = pytest.mark.contract

ENUMS: dict[str, type[StrEnum]] = {
    "AgeGroupType": request_models.AgeGroup,
    "BackgroundType": request_models.BackgroundType,
    "BodyShapeType": request_models.BodyShape,
    "EthnicityType": request_models.Ethnicity,
    "FlatLayType": request_models.FlatLayType,
    "FlatLayViewpointType": request_models.FlatLayViewpoint,
    "Gender": request_models.Gender,
    "HairColorType": request_models.HairColor,
    "HairLengthType": request_models.HairLength,
    "HairStyleType": request_models.HairStyle,
    "HeightType": request_models.Height,
    "OnFigurePoseType": request_models.OnFigurePose,
    "OnFigureViewpointType": request_models.OnFigureViewpoint,
    "OperationPriority": request_models.OperationPriority,
    "OperationStatus": answers.OperationStatus,
    "OwnerType": answers.OwnerType,
    "SkinToneType": request_models.SkinTone,
}
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "GenerateOnFigureImagesRequest": request_models.GenerateOnFigureImagesRequest,
    "GenerateFlatLayImagesRequest": request_models.GenerateFlatLayImagesRequest,
    "RegenerateOnFigureImagesRequest": request_models.RegenerateOnFigureImagesRequest,
    "ProductInfo": request_models.ProductInfo,
    "OnFigureModelSettings": request_models.OnFigureModelSettings,
    "BackgroundSettings": request_models.BackgroundSettings,
    "ImageSize": request_models.ImageSize,
    "ImagePaddings": request_models.ImagePaddings,
    "OnFigureImageType": request_models.OnFigureImageType,
    "FlatLayImageType": request_models.FlatLayImageType,
}


@pytest.fixture
def spec(studio_openapi: dict[str, Any] | None) -> dict[str, Any]:
    if studio_openapi is None:
        pytest.skip("the Aiuta OpenAPI reference is not here (set STUDIO_OPENAPI_SPEC to its path)")
    return studio_openapi


def schemas(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"]


def number_bounds(prop: dict[str, Any]) -> tuple[Any, Any]:
    """min/max of an integer property, looking inside ``anyOf`` for the nullable ones."""
    for branch in [prop, *prop.get("anyOf", [])]:
        if branch.get("type") == "integer":
            return branch.get("minimum"), branch.get("maximum")
    raise AssertionError(f"no integer in {prop}")


class TestModelsMatchTheSpec:
    def test_every_spec_enum_has_a_model_enum(self, spec: dict[str, Any]) -> None:
        spec_enums = {name for name, schema in schemas(spec).items() if "enum" in schema}

        assert spec_enums == set(ENUMS)

    @pytest.mark.parametrize("name", sorted(ENUMS))
    def test_enum_values_are_the_same_in_the_same_order(self, spec: dict[str, Any], name: str) -> None:
        assert [member.value for member in ENUMS[name]] == schemas(spec)[name]["enum"]

    @pytest.mark.parametrize("name", sorted(REQUEST_MODELS))
    def test_request_fields_are_the_specs_properties(self, spec: dict[str, Any], name: str) -> None:
        model = REQUEST_MODELS[name]
        schema = schemas(spec)[name]

        assert set(model.model_fields) == set(schema["properties"])
        required = {field for field, info in model.model_fields.items() if info.is_required()}
        assert required == set(schema.get("required", []))

    @pytest.mark.parametrize(
        ("name", "limit"),
        [
            ("GenerateOnFigureImagesRequest", request_models.MAX_ON_FIGURE_IMAGE_TYPES),
            ("RegenerateOnFigureImagesRequest", request_models.MAX_ON_FIGURE_IMAGE_TYPES),
            ("GenerateFlatLayImagesRequest", request_models.MAX_FLAT_LAY_IMAGE_TYPES),
        ],
    )
    def test_image_type_limits(self, spec: dict[str, Any], name: str, limit: int) -> None:
        in_spec = schemas(spec)[name]["properties"]["image_types"]
        in_model = REQUEST_MODELS[name].model_json_schema()["properties"]["image_types"]

        assert (in_spec["minItems"], in_spec["maxItems"]) == (1, limit)
        assert (in_model["minItems"], in_model["maxItems"]) == (1, limit)
        assert (request_models.MAX_ON_FIGURE_IMAGE_TYPES, request_models.MAX_FLAT_LAY_IMAGE_TYPES) == (35, 6)

    @pytest.mark.parametrize(
        "name",
        ["GenerateOnFigureImagesRequest", "GenerateFlatLayImagesRequest", "RegenerateOnFigureImagesRequest"],
    )
    def test_number_of_generations_limits(self, spec: dict[str, Any], name: str) -> None:
        in_spec = number_bounds(schemas(spec)[name]["properties"]["number_of_generations"])
        in_model = number_bounds(
            REQUEST_MODELS[name].model_json_schema()["properties"]["number_of_generations"]
        )

        assert (
            in_spec == in_model == (request_models.MIN_GENERATIONS, request_models.MAX_GENERATIONS) == (1, 4)
        )

    def test_defaults_match(self, spec: dict[str, Any]) -> None:
        for name in ("GenerateOnFigureImagesRequest", "GenerateFlatLayImagesRequest"):
            properties = schemas(spec)[name]["properties"]
            fields = REQUEST_MODELS[name].model_fields

            assert fields["operation_priority"].default.value == properties["operation_priority"]["default"]
            assert fields["number_of_generations"].default == properties["number_of_generations"]["default"]

    def test_url_length_and_image_count_limits(self, spec: dict[str, Any]) -> None:
        image_urls = schemas(spec)["ProductInfo"]["properties"]["image_urls"]
        url_item = next(branch["items"] for branch in image_urls["anyOf"] if branch.get("type") == "array")
        model_item = request_models.ProductInfo.model_json_schema()["properties"]["image_urls"]["anyOf"][0][
            "items"
        ]

        assert url_item["maxLength"] == model_item["maxLength"] == request_models.MAX_URL_LENGTH == 2083
        assert url_item["minLength"] == model_item["minLength"] == 1
        # The 20-image limit lives only in the spec's prose.
        assert "up to 20" in image_urls["description"]
        assert "1 to 20" in schemas(spec)["ProductInfo"]["properties"]["uploaded_image_ids"]["description"]
        assert request_models.MAX_INPUT_IMAGES == 20


class TestSimulatorAnswersMatchTheSpec:
    def test_the_checker_is_not_vacuous(self, spec: dict[str, Any]) -> None:
        broken = requests.Response()
        broken.status_code = 200
        broken._content = b'{"id": "x", "owner_type": "robot", "url": "u"}'

        with pytest.raises(AssertionError, match="breaks the spec"):
            check_against_spec(spec, "GET", "/uploaded_images/x", broken)

    def test_a_full_tour_answers_in_the_spec_shape(
        self, spec: dict[str, Any], sim_http: SpecCheckedSession, studio_sim: Any
    ) -> None:
        studio_sim.admin.configure(clock_frozen=True, operation_seconds=10, paused_seconds=30)
        image = upload(sim_http)
        sim_http.get(f"/uploaded_images/{image['id']}")
        sim_http.get("/on_figure_model_presets")
        on_figure = create(sim_http, ON_FIGURE, on_figure_body(image["id"]))
        flat_lay = create(
            sim_http,
            FLAT_LAY,
            flat_lay_body(
                image["id"],
                background_settings={"background_type": "reference_color", "reference_color": "#102030"},
            ),
        )
        for step in (0, 2, 20):
            studio_sim.admin.advance(step)
            sim_http.get(f"{ON_FIGURE}/{on_figure}")
            sim_http.get(f"{FLAT_LAY}/{flat_lay}")
        regenerated = create(
            sim_http,
            f"{ON_FIGURE}/regenerate",
            {"original_operation_id": on_figure, "image_types": [{"viewpoint": "side", "pose": "in_action"}]},
        )
        studio_sim.admin.advance(60)
        done = sim_http.get(f"{ON_FIGURE}/{regenerated}").json()
        sim_http.delete(f"/generated_images/{done['generation_result'][0]['generated_images'][0]['id']}")
        sim_http.delete(f"/uploaded_images/{image['id']}")

        assert sim_http.checked == 15

    @pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED", "ABORTED", "PAUSED", "NEVER_FINISHES"])
    def test_every_status_answers_in_the_spec_shape(
        self, spec: dict[str, Any], sim_http: SpecCheckedSession, studio_sim: Any, outcome: str
    ) -> None:
        studio_sim.admin.configure(
            clock_frozen=True, operation_seconds=10, paused_seconds=30, forced_outcome=outcome
        )
        operation_id = create(sim_http, ON_FIGURE, on_figure_body(upload(sim_http)["id"]))
        statuses = set()
        for step in (0, 6, 30, 30):
            studio_sim.admin.advance(step)
            statuses.add(sim_http.get(f"{ON_FIGURE}/{operation_id}").json()["status"])

        assert outcome in statuses or outcome == "NEVER_FINISHES"
        assert sim_http.checked == 6

    def test_error_answers_in_the_spec_shape(
        self, spec: dict[str, Any], sim_http: SpecCheckedSession
    ) -> None:
        answers = [
            sim_http.post(ON_FIGURE, json={"image_types": []}),
            sim_http.post(FLAT_LAY, data=b"\xff\xfe not json", headers={"content-type": "application/json"}),
            sim_http.post("/uploaded_images", files={"image_data": ("x.png", b"nope", "image/png")}),
            sim_http.post(
                f"{ON_FIGURE}/regenerate", json={"original_operation_id": "x", "image_types": [{}]}
            ),
            sim_http.get(f"{FLAT_LAY}/unknown"),
        ]

        assert [answer.status_code for answer in answers] == [422, 422, 422, 422, 200]
        assert sim_http.checked == len(answers)
