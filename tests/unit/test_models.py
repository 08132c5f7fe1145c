"""The Aiuta request models refuse, before any network call, what the API would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from studio_core.aiuta.answers import FieldError, FlatLayOperation, OnFigureOperation, OperationStatus
from studio_core.aiuta.requests import (
    BackgroundSettings,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    OnFigureImageType,
    ProductInfo,
    RegenerateOnFigureImagesRequest,
)

URL = "https://shop.example/images/shirt.jpg"


def on_figure(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_info": {"image_urls": [URL]},
        "image_types": [{"viewpoint": "front", "pose": "standing"}],
        "on_figure_model_settings": {"gender": "female"},
    }
    body.update(overrides)
    return body


def flat_lay(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_info": {"uploaded_image_ids": ["user_image-1"]},
        "image_types": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
    }
    body.update(overrides)
    return body


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


def test_a_valid_on_figure_request_serialises_to_the_api_body() -> None:
    request = GenerateOnFigureImagesRequest.model_validate(on_figure(number_of_generations=2))

    body = request.to_api()

    assert body == {
        "product_info": {"image_urls": [URL]},
        "operation_priority": "offline",
        "number_of_generations": 2,
        "image_types": [{"viewpoint": "front", "pose": "standing"}],
        "on_figure_model_settings": {"gender": "female"},
    }


@pytest.mark.parametrize("count", [0, 21])
def test_product_needs_one_to_twenty_images(count: int) -> None:
    with pytest.raises(ValidationError):
        ProductInfo(image_urls=[f"https://shop.example/{i}.jpg" for i in range(count)])


def test_twenty_images_are_allowed() -> None:
    info = ProductInfo(uploaded_image_ids=[f"user_image-{i}" for i in range(20)])
    assert len(info.uploaded_image_ids or []) == 20


def test_urls_and_uploaded_ids_are_mutually_exclusive() -> None:
    with pytest.raises(ValidationError) as exc:
        ProductInfo(image_urls=[URL], uploaded_image_ids=["user_image-1"])
    assert "not both" in error_text(exc)


def test_image_urls_must_be_http_urls_of_at_most_2083_characters() -> None:
    with pytest.raises(ValidationError, match="http"):
        ProductInfo(image_urls=["ftp://shop.example/a.jpg"])
    with pytest.raises(ValidationError):
        ProductInfo(image_urls=["https://shop.example/" + "a" * 2083])


def test_presigned_urls_keep_their_query_string_exactly() -> None:
    presigned = "http://127.0.0.1:5000/bucket/inbox/a.jpg?X-Amz-Signature=abc%2Fdef&X-Amz-Expires=600"
    assert ProductInfo(image_urls=[presigned]).image_urls == [presigned]


def test_duplicate_image_types_are_rejected_with_their_label() -> None:
    twice = [{"viewpoint": "back", "pose": "walking"}] * 2
    with pytest.raises(ValidationError) as exc:
        GenerateOnFigureImagesRequest.model_validate(on_figure(image_types=twice))
    assert "back/walking is listed twice" in error_text(exc)


def test_at_most_35_on_figure_types_and_6_flat_lay_types() -> None:
    all_on_figure = [
        {"viewpoint": v, "pose": p}
        for v in ("front", "front_angled", "back", "back_angled", "side")
        for p in (
            "standing",
            "walking",
            "sitting",
            "leaning",
            "crouching_or_kneeling",
            "in_action",
            "close_up",
        )
    ]
    assert (
        len(GenerateOnFigureImagesRequest.model_validate(on_figure(image_types=all_on_figure)).image_types)
        == 35
    )

    all_flat = [
        {"flat_lay_type": t, "viewpoint": v}
        for t in ("flat", "ghost_mannequin", "detail")
        for v in ("front", "back")
    ]
    assert len(GenerateFlatLayImagesRequest.model_validate(flat_lay(image_types=all_flat)).image_types) == 6
    with pytest.raises(ValidationError):
        GenerateFlatLayImagesRequest.model_validate(flat_lay(image_types=[*all_flat, all_flat[0]]))


def test_image_types_may_not_be_empty() -> None:
    with pytest.raises(ValidationError):
        GenerateFlatLayImagesRequest.model_validate(flat_lay(image_types=[]))


@pytest.mark.parametrize("generations", [0, 5])
def test_number_of_generations_is_one_to_four(generations: int) -> None:
    with pytest.raises(ValidationError):
        GenerateOnFigureImagesRequest.model_validate(on_figure(number_of_generations=generations))
    with pytest.raises(ValidationError):
        RegenerateOnFigureImagesRequest(
            original_operation_id="op",
            image_types=[OnFigureImageType(viewpoint="front", pose="standing")],
            number_of_generations=generations,
        )


def test_model_preset_and_settings_are_exclusive_and_one_is_required() -> None:
    with pytest.raises(ValidationError, match="both were given"):
        GenerateOnFigureImagesRequest.model_validate(on_figure(on_figure_model_preset_id="preset-1"))
    with pytest.raises(ValidationError, match="neither was given"):
        GenerateOnFigureImagesRequest.model_validate(on_figure(on_figure_model_settings=None))
    preset_only = GenerateOnFigureImagesRequest.model_validate(
        on_figure(on_figure_model_settings=None, on_figure_model_preset_id="preset-1")
    )
    assert preset_only.to_api()["on_figure_model_preset_id"] == "preset-1"


def test_unknown_enum_values_are_rejected_naming_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as exc:
        GenerateOnFigureImagesRequest.model_validate(
            on_figure(image_types=[{"viewpoint": "top", "pose": "standing"}])
        )
    assert "'front'" in error_text(exc) and "'side'" in error_text(exc)


def test_reference_colour_is_required_exactly_with_reference_colour_background() -> None:
    assert BackgroundSettings(background_type="reference_color", reference_color="#E8e4dc").reference_color
    with pytest.raises(ValidationError, match="needs a reference_color"):
        BackgroundSettings(background_type="reference_color")
    with pytest.raises(ValidationError, match="#rrggbb"):
        BackgroundSettings(background_type="reference_color", reference_color="e8e4dc")
    with pytest.raises(ValidationError, match="#rrggbb"):
        BackgroundSettings(background_type="reference_color", reference_color="#e8e4d")
    with pytest.raises(ValidationError, match="#rrggbb"):
        BackgroundSettings(background_type="reference_color", reference_color="#e8e4dc\n")
    with pytest.raises(ValidationError, match="only allowed with"):
        BackgroundSettings(background_type="transparent", reference_color="#ffffff")


def test_requests_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        GenerateOnFigureImagesRequest.model_validate(on_figure(number_of_generation=2))


def test_operations_parse_leniently_and_know_terminal_states() -> None:
    operation = OnFigureOperation.model_validate(
        {
            "id": "onfigure_op-1",
            "status": "SUCCESS",
            "error": None,
            "product_info": {"image_urls": [URL]},
            "image_types": [{"viewpoint": "front", "pose": "standing"}],
            "generation_result": [
                {
                    "image_type": {"viewpoint": "front", "pose": "standing"},
                    "generated_images": [{"id": "gen_image-1", "owner_type": "user", "url": URL}],
                }
            ],
            "a_field_aiuta_added_later": True,
        }
    )
    assert operation.status.is_terminal
    assert (
        operation.generation_result and operation.generation_result[0].generated_images[0].id == "gen_image-1"
    )
    assert not OperationStatus.PAUSED.is_terminal
    assert (
        FlatLayOperation.model_validate(
            {"id": "f", "status": "IN_PROGRESS", "error": None, "product_info": {}, "image_types": []}
        ).generation_result
        is None
    )


def test_field_errors_read_as_path_and_message() -> None:
    error = FieldError(loc=["body", "image_types", 0, "pose"], msg="Input should be 'standing'", type="enum")
    assert str(error) == "image_types.0.pose: Input should be 'standing'"
