"""The Aiuta client against the Studio simulator: every endpoint, every error a caller acts on."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from PIL import Image

from studio_cli.samples import product_photo
from studio_core.aiuta.answers import OperationStatus
from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy
from studio_core.aiuta.requests import (
    FlatLayImageType,
    GenerateFlatLayImagesRequest,
    GenerateOnFigureImagesRequest,
    OnFigureImageType,
    ProductInfo,
    RegenerateOnFigureImagesRequest,
)
from studio_core.domain.errors import (
    AiutaAuthError,
    AiutaConnectionError,
    AiutaNotFound,
    AiutaOutcomeUnknown,
    AiutaRateLimited,
    AiutaRejectedRequest,
    AiutaServerError,
)

FAST_RETRIES = RetryPolicy(attempts=3, backoff_factor=0.0, jitter=0.0, max_retry_after=0.0)


@pytest.fixture
def client(studio_sim: Any, sim_api_key: str) -> AiutaStudioClient:
    # Tolerant reading: every answer carries fields and enum values the contract does not define.
    studio_sim.admin.configure(extra_answer_fields=True)
    return AiutaStudioClient(sim_api_key, studio_sim.base_url, retry=FAST_RETRIES, read_timeout=5)


def calls_to(studio_sim: Any, route: str) -> int:
    return studio_sim.admin.calls()["calls"].get(route, 0)


def on_figure_request(info: ProductInfo, **overrides: Any) -> GenerateOnFigureImagesRequest:
    body: dict[str, Any] = {
        "product_info": info,
        "image_types": [{"viewpoint": "front", "pose": "standing"}, {"viewpoint": "back", "pose": "walking"}],
        "number_of_generations": 2,
        "on_figure_model_settings": {"gender": "female"},
        "output_image_size": {"width": 240, "height": 320},
    }
    body.update(overrides)
    return GenerateOnFigureImagesRequest.model_validate(body)


def uploaded_product(client: AiutaStudioClient) -> ProductInfo:
    image = client.upload_image(
        product_photo("tshirt", (30, 90, 160)), filename="shirt.jpg", content_type="image/jpeg"
    )
    return ProductInfo(uploaded_image_ids=[image.id], title="Shirt", category="Apparel")


def test_uploaded_images_can_be_read_back_and_deleted(client: AiutaStudioClient) -> None:
    image = client.upload_image(
        product_photo("dress", (200, 40, 60)), filename="d.jpg", content_type="image/jpeg"
    )

    assert client.get_uploaded_image(image.id).id == image.id
    client.delete_uploaded_image(image.id)
    with pytest.raises(AiutaNotFound):
        client.get_uploaded_image(image.id)


def test_an_on_figure_operation_runs_to_success_with_every_variant(
    client: AiutaStudioClient, studio_sim: Any
) -> None:
    operation_id = client.create_on_figure_operation(on_figure_request(uploaded_product(client)))

    # The first answer shows a status this client does not know: kept as Aiuta wrote it
    assert client.get_on_figure_operation(operation_id).status == "QUEUED_SIM"
    assert client.get_on_figure_operation(operation_id).status in (
        OperationStatus.CREATED,
        OperationStatus.IN_PROGRESS,
    )
    studio_sim.admin.advance(3600)
    done = client.get_on_figure_operation(operation_id)

    assert done.status is OperationStatus.SUCCESS
    assert done.error is None
    assert [item.image_type.label for item in done.generation_result or []] == [
        "front/standing",
        "back/walking",
    ]
    assert all(len(item.generated_images) == 2 for item in done.generation_result or [])


def test_regeneration_reuses_the_operation_and_accepts_new_types(
    client: AiutaStudioClient, studio_sim: Any
) -> None:
    original = client.create_on_figure_operation(on_figure_request(uploaded_product(client)))
    studio_sim.admin.advance(3600)

    regenerated = client.regenerate_on_figure_operation(
        RegenerateOnFigureImagesRequest(
            original_operation_id=original,
            image_types=[OnFigureImageType(viewpoint="side", pose="leaning")],
            number_of_generations=1,
        )
    )
    studio_sim.admin.advance(3600)
    result = client.get_on_figure_operation(regenerated)

    assert result.status is OperationStatus.SUCCESS
    assert [item.image_type.label for item in result.generation_result or []] == ["side/leaning"]
    assert len((result.generation_result or [])[0].generated_images) == 1
    assert result.output_image_size is not None
    assert result.output_image_size.width == 240


def test_a_flat_lay_operation_and_its_generated_image_deletion(
    client: AiutaStudioClient, studio_sim: Any
) -> None:
    request = GenerateFlatLayImagesRequest(
        product_info=uploaded_product(client),
        image_types=[FlatLayImageType(flat_lay_type="ghost_mannequin", viewpoint="front")],
    )
    operation_id = client.create_flat_lay_operation(request)
    studio_sim.admin.advance(3600)
    operation = client.get_flat_lay_operation(operation_id)
    generated = (operation.generation_result or [])[0].generated_images[0]

    client.delete_generated_image(generated.id)

    assert operation.status is OperationStatus.SUCCESS
    with pytest.raises(AiutaNotFound):
        client.delete_generated_image(generated.id)


def test_model_presets_are_listed_with_their_settings(client: AiutaStudioClient) -> None:
    presets = client.list_model_presets()

    assert presets
    assert all(preset.settings.gender for preset in presets)
    assert presets[0].settings.hair_color == "sim_teal"  # a colour added after this code was written


def test_an_unknown_operation_is_not_found_rather_than_none(client: AiutaStudioClient) -> None:
    with pytest.raises(AiutaNotFound, match="no operation"):
        client.get_on_figure_operation("onfigure_op-does-not-exist")
    with pytest.raises(AiutaNotFound):
        client.get_flat_lay_operation("flatlay_op-does-not-exist")


def test_a_request_aiuta_rejects_carries_its_field_errors(client: AiutaStudioClient, studio_sim: Any) -> None:
    flat = client.create_flat_lay_operation(
        GenerateFlatLayImagesRequest(
            product_info=uploaded_product(client),
            image_types=[FlatLayImageType(flat_lay_type="flat", viewpoint="back")],
        )
    )
    studio_sim.admin.advance(3600)

    with pytest.raises(AiutaRejectedRequest) as rejected:
        client.regenerate_on_figure_operation(
            RegenerateOnFigureImagesRequest(
                original_operation_id=flat,
                image_types=[OnFigureImageType(viewpoint="front", pose="standing")],
            )
        )
    assert rejected.value.field_errors
    assert rejected.value.may_have_reached_server is False


def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(
    studio_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-wrong-key-that-must-not-leak"
    client = AiutaStudioClient(secret, studio_sim.base_url, retry=FAST_RETRIES)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(AiutaAuthError) as refused:
        client.list_model_presets()

    assert refused.value.status_code == 403
    assert secret not in str(refused.value)
    assert secret not in repr(refused.value)
    assert secret not in repr(client)
    assert secret not in caplog.text


def test_a_missing_key_is_reported_as_missing(studio_sim: Any) -> None:
    client = AiutaStudioClient("placeholder", studio_sim.base_url, retry=FAST_RETRIES)
    client._session.headers.pop("x-api-key")

    with pytest.raises(AiutaAuthError, match="no API key") as refused:
        client.list_model_presets()
    assert refused.value.status_code == 401


def test_reads_are_retried_on_429_and_report_retry_after(client: AiutaStudioClient, studio_sim: Any) -> None:
    studio_sim.admin.configure(rate_429=1.0)

    with pytest.raises(AiutaRateLimited) as limited:
        client.list_model_presets()

    assert calls_to(studio_sim, "GET /studio/v1/on_figure_model_presets") == 1 + FAST_RETRIES.attempts
    assert limited.value.retry_after is not None
    assert limited.value.may_have_reached_server is False


def test_reads_are_retried_on_server_errors(client: AiutaStudioClient, studio_sim: Any) -> None:
    studio_sim.admin.configure(rate_500=1.0)

    with pytest.raises(AiutaServerError):
        client.list_model_presets()

    assert calls_to(studio_sim, "GET /studio/v1/on_figure_model_presets") == 1 + FAST_RETRIES.attempts


def test_a_create_is_never_resent_after_a_server_error(client: AiutaStudioClient, studio_sim: Any) -> None:
    info = uploaded_product(client)
    studio_sim.admin.configure(rate_500=1.0)

    with pytest.raises(AiutaServerError) as failed:
        client.create_on_figure_operation(on_figure_request(info))

    assert failed.value.may_have_reached_server is True
    assert calls_to(studio_sim, "POST /studio/v1/on_figure_operations") == 1


def test_a_dropped_connection_is_retried_for_reads_and_unknown_for_creates(
    client: AiutaStudioClient, studio_sim: Any
) -> None:
    info = uploaded_product(client)
    studio_sim.admin.configure(rate_drop=1.0)

    with pytest.raises(AiutaConnectionError):
        client.list_model_presets()
    with pytest.raises(AiutaOutcomeUnknown, match="not resent"):
        client.create_on_figure_operation(on_figure_request(info))

    assert calls_to(studio_sim, "GET /studio/v1/on_figure_model_presets") == 1 + FAST_RETRIES.attempts
    assert calls_to(studio_sim, "POST /studio/v1/on_figure_operations") == 1


def test_no_server_at_all_is_a_connection_error_that_never_reached_aiuta() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    client = AiutaStudioClient("k", f"http://127.0.0.1:{free_port}/studio/v1", retry=FAST_RETRIES)

    with pytest.raises(AiutaConnectionError) as failed:
        client.create_flat_lay_operation(
            GenerateFlatLayImagesRequest(
                product_info=ProductInfo(image_urls=["https://shop.example/a.jpg"]),
                image_types=[FlatLayImageType(flat_lay_type="flat", viewpoint="front")],
            )
        )
    assert failed.value.may_have_reached_server is False


def test_generated_images_are_real_pictures_of_the_requested_size(
    client: AiutaStudioClient, studio_sim: Any
) -> None:
    import io

    import requests

    operation_id = client.create_on_figure_operation(on_figure_request(uploaded_product(client)))
    studio_sim.admin.advance(3600)
    first = (client.get_on_figure_operation(operation_id).generation_result or [])[0].generated_images[0]

    picture = Image.open(io.BytesIO(requests.get(first.url, timeout=10).content))

    assert picture.size == (240, 320)
    assert first.expires_at is not None
