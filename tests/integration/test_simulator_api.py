"""The simulator's Studio endpoints over HTTP: shapes, auth, validation, unknown ids, regeneration.

Every ``/studio/v1`` answer received through ``sim_http`` is also checked against the Aiuta
OpenAPI reference (when it is on this machine).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.simulator import FLAT_LAY, ON_FIGURE, create, flat_lay_body, on_figure_body, upload


def detail_messages(response: requests.Response) -> str:
    assert response.status_code == 422, response.text
    return " | ".join(f"{entry['loc']}: {entry['msg']}" for entry in response.json()["detail"])


def test_the_simulator_says_what_it_is(studio_sim: Any) -> None:
    for path in ("/", "/_sim/info"):
        info = requests.get(studio_sim.root_url + path, timeout=10).json()

        assert info["simulator"] is True
        assert "not the real" in info["notice"]
        assert info["base_url"] == studio_sim.base_url
        assert info["settings"]["api_key"] == "(custom key, not shown)"


def test_an_upload_answers_an_aiuta_image_served_by_the_simulator(sim_http: requests.Session) -> None:
    image = upload(sim_http)

    assert image["id"].startswith("user_image-")
    assert image["owner_type"] == "user"
    assert image["expires_at"]
    served = requests.get(image["url"], timeout=10)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"


def test_an_uploaded_image_can_be_read_back_and_deleted_once(sim_http: requests.Session) -> None:
    image = upload(sim_http)

    assert sim_http.get(f"/uploaded_images/{image['id']}").json() == image
    deleted = sim_http.delete(f"/uploaded_images/{image['id']}")
    assert deleted.status_code == 204
    assert not deleted.content
    assert sim_http.get(f"/uploaded_images/{image['id']}").status_code == 404
    assert sim_http.delete(f"/uploaded_images/{image['id']}").status_code == 404
    assert requests.get(image["url"], timeout=10).status_code == 404


def test_undecodable_upload_bytes_are_refused_with_a_clear_detail(sim_http: requests.Session) -> None:
    response = sim_http.post("/uploaded_images", files={"image_data": ("notes.txt", b"hello", "text/plain")})

    assert "image_data is not a usable image" in detail_messages(response)
    assert response.json()["detail"][0]["loc"] == ["body", "image_data"]


def test_an_upload_without_the_image_field_is_a_422(sim_http: requests.Session) -> None:
    response = sim_http.post("/uploaded_images", files={"other": ("a.jpg", b"x", "image/jpeg")})

    assert "image_data" in detail_messages(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/uploaded_images/user_image-nope"),
        ("DELETE", "/uploaded_images/user_image-nope"),
        ("DELETE", "/generated_images/gen_image-nope"),
    ],
)
def test_unknown_images_are_404_with_a_detail(sim_http: requests.Session, method: str, path: str) -> None:
    response = sim_http.request(method, path)

    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


@pytest.mark.parametrize("path", [f"{ON_FIGURE}/onfigure_op-unknown", f"{FLAT_LAY}/flatlay_op-unknown"])
def test_an_unknown_operation_is_200_with_null(sim_http: requests.Session, path: str) -> None:
    response = sim_http.get(path)

    assert response.status_code == 200
    assert response.json() is None


def test_an_operation_asked_on_the_other_kinds_endpoint_is_null(sim_http: requests.Session) -> None:
    image = upload(sim_http)
    on_figure = create(sim_http, ON_FIGURE, on_figure_body(image["id"]))
    flat_lay = create(sim_http, FLAT_LAY, flat_lay_body(image["id"]))

    assert on_figure.startswith("onfigure_op-")
    assert flat_lay.startswith("flatlay_op-")
    assert sim_http.get(f"{FLAT_LAY}/{on_figure}").json() is None
    assert sim_http.get(f"{ON_FIGURE}/{flat_lay}").json() is None


def test_an_operation_echoes_the_request_with_internal_image_urls(
    sim_http: requests.Session, studio_sim: Any
) -> None:
    image = upload(sim_http)
    operation_id = create(sim_http, ON_FIGURE, on_figure_body(image["id"]))

    operation = sim_http.get(f"{ON_FIGURE}/{operation_id}").json()

    assert operation["id"] == operation_id
    assert operation["status"] in ("CREATED", "IN_PROGRESS")
    assert operation["error"] is None
    assert operation["generation_result"] is None
    assert "uploaded_image_ids" not in operation["product_info"]
    [internal] = operation["product_info"]["image_urls"]
    assert internal.startswith(studio_sim.root_url + "/files/")
    assert requests.get(internal, timeout=10).status_code == 200
    assert operation["product_info"]["title"] == "Shirt"
    assert operation["number_of_generations"] == 2
    assert operation["on_figure_model_settings"] == {"gender": "female", "age_group": "young_adult"}
    assert operation["background_settings"]["background_type"] == "arbitrary"
    assert operation["output_image_size"] == {"width": 120, "height": 160}


def test_model_presets_are_listed_and_usable(sim_http: requests.Session, studio_sim: Any) -> None:
    presets = sim_http.get("/on_figure_model_presets").json()
    image = upload(sim_http)

    assert len(presets) >= 3
    assert all(preset["settings"]["gender"] in ("male", "female") for preset in presets)
    assert requests.get(presets[0]["sample_image"], timeout=10).headers["content-type"] == "image/png"
    body = on_figure_body(image["id"], on_figure_model_preset_id=presets[0]["preset_id"])
    del body["on_figure_model_settings"]
    operation_id = create(sim_http, ON_FIGURE, body)
    studio_sim.admin.advance(3600)
    operation = sim_http.get(f"{ON_FIGURE}/{operation_id}").json()
    assert operation["on_figure_model_preset_id"] == presets[0]["preset_id"]
    assert operation["status"] == "SUCCESS"


class TestAuth:
    def test_a_missing_key_is_401(self, studio_sim: Any) -> None:
        response = requests.get(studio_sim.base_url + "/on_figure_model_presets", timeout=10)

        assert response.status_code == 401
        assert "x-api-key" in response.json()["detail"]

    def test_a_wrong_key_is_403_and_never_echoed(self, studio_sim: Any) -> None:
        headers = {"x-api-key": "sk-wrong-and-secret"}
        response = requests.get(studio_sim.base_url + "/on_figure_model_presets", headers=headers, timeout=10)

        assert response.status_code == 403
        assert "sk-wrong-and-secret" not in response.text
        assert isinstance(response.json()["detail"], str)

    def test_auth_is_checked_before_the_body(self, studio_sim: Any) -> None:
        response = requests.post(studio_sim.base_url + ON_FIGURE, json={}, timeout=10)

        assert response.status_code == 401

    def test_admin_and_file_routes_need_no_key(self, studio_sim: Any) -> None:
        assert requests.get(studio_sim.root_url + "/_sim/calls", timeout=10).status_code == 200


class TestValidation:
    def test_too_many_input_images(self, sim_http: requests.Session) -> None:
        urls = [f"https://shop.example/{n}.jpg" for n in range(21)]
        body = on_figure_body("x", product_info={"image_urls": urls})

        messages = detail_messages(sim_http.post(ON_FIGURE, json=body))

        assert "image_urls" in messages
        assert "at most 20" in messages

    def test_too_many_flat_lay_types(self, sim_http: requests.Session) -> None:
        types = [
            {"flat_lay_type": t, "viewpoint": v}
            for t in ("flat", "ghost_mannequin", "detail")
            for v in ("front", "back")
        ]
        body = flat_lay_body("x", image_types=[*types, types[0]])

        assert "at most 6" in detail_messages(sim_http.post(FLAT_LAY, json=body))

    def test_duplicate_image_types(self, sim_http: requests.Session) -> None:
        front = {"viewpoint": "front", "pose": "standing"}
        body = on_figure_body("x", image_types=[front, front])

        assert "front/standing is listed twice" in detail_messages(sim_http.post(ON_FIGURE, json=body))

    def test_a_bad_enum_value_names_the_field_and_the_choices(self, sim_http: requests.Session) -> None:
        body = on_figure_body("x", image_types=[{"viewpoint": "upside_down", "pose": "standing"}])

        response = sim_http.post(ON_FIGURE, json=body)

        assert "'front'" in detail_messages(response)
        assert response.json()["detail"][0]["loc"] == ["body", "image_types", 0, "viewpoint"]

    def test_a_preset_and_settings_together(self, sim_http: requests.Session) -> None:
        body = on_figure_body("x", on_figure_model_preset_id="sim_preset-male-teen-latino")

        assert "both were given" in detail_messages(sim_http.post(ON_FIGURE, json=body))

    def test_neither_preset_nor_settings(self, sim_http: requests.Session) -> None:
        body = on_figure_body("x")
        del body["on_figure_model_settings"]

        assert "neither was given" in detail_messages(sim_http.post(ON_FIGURE, json=body))

    def test_a_reference_colour_background_without_the_colour(self, sim_http: requests.Session) -> None:
        body = flat_lay_body("x", background_settings={"background_type": "reference_color"})

        assert "needs a reference_color" in detail_messages(sim_http.post(FLAT_LAY, json=body))

    def test_generations_out_of_range(self, sim_http: requests.Session) -> None:
        assert "less than or equal to 4" in detail_messages(
            sim_http.post(FLAT_LAY, json=flat_lay_body("x", number_of_generations=5))
        )

    def test_an_unknown_uploaded_image_id_is_named(self, sim_http: requests.Session) -> None:
        response = sim_http.post(FLAT_LAY, json=flat_lay_body("user_image-missing"))

        assert "no uploaded image" in detail_messages(response)
        assert response.json()["detail"][0]["loc"] == ["body", "product_info", "uploaded_image_ids", 0]

    def test_an_unknown_preset_is_named(self, sim_http: requests.Session) -> None:
        image = upload(sim_http)
        body = on_figure_body(image["id"], on_figure_model_preset_id="nobody")
        del body["on_figure_model_settings"]

        assert "unknown preset" in detail_messages(sim_http.post(ON_FIGURE, json=body))

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/json", "multipart/form-data; boundary=x"]
    )
    def test_a_body_that_is_not_even_json_is_a_422(
        self, sim_http: requests.Session, content_type: str
    ) -> None:
        response = sim_http.post(FLAT_LAY, data=b"\xff\xfe\x00", headers={"content-type": content_type})

        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][0] == "body"

    def test_a_rejected_request_creates_no_operation(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        sim_http.post(FLAT_LAY, json=flat_lay_body("x", number_of_generations=0))

        assert studio_sim.admin.calls()["operation_ids"] == []


class TestRegeneration:
    def test_it_reuses_the_original_and_takes_new_types(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        image = upload(sim_http)
        body = on_figure_body(
            image["id"],
            background_settings={"background_type": "reference_color", "reference_color": "#e8e4dc"},
            output_image_paddings={"top": 4, "bottom": 4, "left": 6, "right": 6},
        )
        original_id = create(sim_http, ON_FIGURE, body)
        studio_sim.admin.advance(3600)
        original = sim_http.get(f"{ON_FIGURE}/{original_id}").json()

        regenerated_id = create(
            sim_http,
            f"{ON_FIGURE}/regenerate",
            {"original_operation_id": original_id, "image_types": [{"viewpoint": "side", "pose": "leaning"}]},
        )
        studio_sim.admin.advance(3600)
        regenerated = sim_http.get(f"{ON_FIGURE}/{regenerated_id}").json()

        assert regenerated["status"] == "SUCCESS"
        for field in (
            "product_info",
            "on_figure_model_settings",
            "background_settings",
            "output_image_size",
            "output_image_paddings",
            "number_of_generations",
        ):
            assert regenerated[field] == original[field], field
        assert [item["image_type"] for item in regenerated["generation_result"]] == [
            {"viewpoint": "side", "pose": "leaning"}
        ]
        assert len(regenerated["generation_result"][0]["generated_images"]) == 2

    def test_the_number_of_generations_can_be_overridden_and_chained(
        self, sim_http: requests.Session, studio_sim: Any
    ) -> None:
        original_id = create(sim_http, ON_FIGURE, on_figure_body(upload(sim_http)["id"]))
        first = create(
            sim_http,
            f"{ON_FIGURE}/regenerate",
            {
                "original_operation_id": original_id,
                "image_types": [{"viewpoint": "front", "pose": "sitting"}],
            },
        )
        second = create(
            sim_http,
            f"{ON_FIGURE}/regenerate",
            {
                "original_operation_id": first,
                "image_types": [{"viewpoint": "back", "pose": "close_up"}],
                "number_of_generations": 4,
            },
        )
        studio_sim.admin.advance(3600)

        result = sim_http.get(f"{ON_FIGURE}/{second}").json()
        assert result["number_of_generations"] == 4
        assert len(result["generation_result"][0]["generated_images"]) == 4

    def test_an_unknown_original_is_404(self, sim_http: requests.Session) -> None:
        response = sim_http.post(
            f"{ON_FIGURE}/regenerate",
            json={
                "original_operation_id": "onfigure_op-gone",
                "image_types": [{"viewpoint": "front", "pose": "standing"}],
            },
        )

        assert response.status_code == 404
        assert "onfigure_op-gone" in response.json()["detail"]

    def test_a_flat_lay_original_is_refused_as_on_figure_only(self, sim_http: requests.Session) -> None:
        flat_lay = create(sim_http, FLAT_LAY, flat_lay_body(upload(sim_http)["id"]))

        response = sim_http.post(
            f"{ON_FIGURE}/regenerate",
            json={
                "original_operation_id": flat_lay,
                "image_types": [{"viewpoint": "front", "pose": "standing"}],
            },
        )

        assert "regeneration is on-figure only" in detail_messages(response)
        assert response.json()["detail"][0]["loc"] == ["body", "original_operation_id"]

    def test_duplicate_types_are_refused_too(self, sim_http: requests.Session) -> None:
        front = {"viewpoint": "front", "pose": "standing"}
        response = sim_http.post(
            f"{ON_FIGURE}/regenerate", json={"original_operation_id": "x", "image_types": [front, front]}
        )

        assert "listed twice" in detail_messages(response)
