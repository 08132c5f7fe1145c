"""The job file: defaults fill what it leaves out, and every rule Aiuta enforces is refused at ingest
with a message that names the field and says what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from studio_core.aiuta.requests import OperationPriority, ProductInfo
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import (
    JobDefaults,
    JobSpec,
    build_job,
    parse_json_document,
    parse_regeneration_request,
)
from studio_core.domain.vocabulary import InputMode, Kind

URL = "https://cdn.example.com/sku-1/front.jpg"
ON_FIGURE_VIEWPOINTS = ["front", "front_angled", "back", "back_angled", "side"]
ON_FIGURE_POSES = [
    "standing",
    "walking",
    "sitting",
    "leaning",
    "crouching_or_kneeling",
    "in_action",
    "close_up",
]
ALL_ON_FIGURE_LABELS = [f"{v}/{p}" for v in ON_FIGURE_VIEWPOINTS for p in ON_FIGURE_POSES]
ALL_FLAT_LAY_LABELS = [f"{t}/{v}" for t in ("flat", "ghost_mannequin", "detail") for v in ("front", "back")]


def job(document: Any, *, images: int = 1, product_id: str = "sku-1", **defaults: Any) -> JobSpec:
    return build_job(product_id, document, image_count=images, defaults=JobDefaults(**defaults))


def refusal(document: Any, *, images: int = 1, product_id: str = "sku-1") -> str:
    with pytest.raises(InvalidJob) as exc:
        job(document, images=images, product_id=product_id)
    return str(exc.value)


def labels(spec: JobSpec, kind: Kind) -> list[str]:
    return [t.label for t in spec.types_for(kind)]


# Defaults


def test_a_folder_of_images_without_a_job_file_gets_every_default() -> None:
    # Given a folder with two photos and no product.json
    # When the job is built with the stock defaults
    spec = job(None, images=2)

    # Then it is one online on-figure shot, front/standing, one generation, female model, by URL
    assert spec.kind == [Kind.ON_FIGURE]
    assert labels(spec, Kind.ON_FIGURE) == ["front/standing"]
    assert spec.types_for(Kind.FLAT_LAY) == []
    assert spec.operation_priority is OperationPriority.ONLINE
    assert spec.number_of_generations == 1
    assert spec.input_mode is InputMode.URLS
    assert spec.on_figure_model_settings is not None
    assert spec.on_figure_model_settings.gender.value == "female"
    assert spec.on_figure_model_preset_id is None
    assert spec.delete_at_aiuta_after_copy is False
    assert spec.product.id == "sku-1"


def test_the_template_defaults_are_what_a_job_without_those_fields_gets() -> None:
    # Given defaults set by the template: both kinds, offline, 3 generations, upload, male model
    defaults = {
        "kind": "both",
        "on_figure_image_types": "back/walking,side/leaning",
        "flat_lay_image_types": "flat/back",
        "operation_priority": "offline",
        "number_of_generations": 3,
        "input_mode": "upload",
        "model_gender": "male",
        "delete_at_aiuta_after_copy": True,
    }

    # When a job file says nothing about them
    spec = job({}, **defaults)

    # Then each one comes from the defaults, per kind
    assert spec.kind == [Kind.ON_FIGURE, Kind.FLAT_LAY]
    assert labels(spec, Kind.ON_FIGURE) == ["back/walking", "side/leaning"]
    assert labels(spec, Kind.FLAT_LAY) == ["flat/back"]
    assert spec.operation_priority is OperationPriority.OFFLINE
    assert spec.number_of_generations == 3
    assert spec.input_mode is InputMode.UPLOAD
    assert spec.on_figure_model_settings is not None
    assert spec.on_figure_model_settings.gender.value == "male"
    assert spec.delete_at_aiuta_after_copy is True


def test_a_flat_lay_job_gets_the_flat_lay_default_types_and_no_model() -> None:
    # Given a job that asks for flat-lay only
    # When it is built
    spec = job({"kind": "flat_lay"})

    # Then it gets the default flat-lay type, no on-figure types and no model settings
    assert labels(spec, Kind.FLAT_LAY) == ["ghost_mannequin/front"]
    assert spec.types_for(Kind.ON_FIGURE) == []
    assert spec.on_figure_model_settings is None


def test_values_in_the_job_file_win_over_the_defaults() -> None:
    # Given a job file that sets priority, generations and its own model
    document = {
        "operation_priority": "offline",
        "number_of_generations": 4,
        "on_figure_model_settings": {"gender": "male", "age_group": "senior_adult"},
    }

    # When it is built on defaults that say otherwise
    spec = job(document, operation_priority="online", number_of_generations=1, model_gender="female")

    # Then the file's values are kept
    assert spec.operation_priority is OperationPriority.OFFLINE
    assert spec.number_of_generations == 4
    assert spec.on_figure_model_settings is not None
    assert spec.on_figure_model_settings.model_dump(mode="json", exclude_none=True) == {
        "gender": "male",
        "age_group": "senior_adult",
    }


def test_a_model_preset_is_used_instead_of_the_default_model_settings() -> None:
    # Given a job file that names a model preset
    # When it is built
    spec = job({"on_figure_model_preset_id": "preset-7"})

    # Then no default model settings are added (Aiuta takes one or the other)
    assert spec.on_figure_model_preset_id == "preset-7"
    assert spec.on_figure_model_settings is None


# kind and image types


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("on_figure", [Kind.ON_FIGURE]),
        ("flat_lay", [Kind.FLAT_LAY]),
        ("both", [Kind.ON_FIGURE, Kind.FLAT_LAY]),
        (["flat_lay"], [Kind.FLAT_LAY]),
        (["on_figure", "flat_lay"], [Kind.ON_FIGURE, Kind.FLAT_LAY]),
        (["on_figure", "on_figure"], [Kind.ON_FIGURE]),
    ],
)
def test_kind_may_be_a_string_or_a_list(kind: Any, expected: list[Kind]) -> None:
    # Given a job file with kind written one of the accepted ways
    # When it is built
    spec = job({"kind": kind})

    # Then the job asks for exactly those kinds, each once, each with its types
    assert spec.kind == expected
    for each in expected:
        assert spec.types_for(each)


def test_image_types_may_be_a_plain_list_of_labels_for_a_single_kind() -> None:
    # Given an on-figure job whose image_types is a plain list of "viewpoint/pose" labels
    # When it is built
    spec = job({"kind": "on_figure", "image_types": ["front/standing", "back/walking"]})

    # Then those are the on-figure types, in order
    assert labels(spec, Kind.ON_FIGURE) == ["front/standing", "back/walking"]


def test_image_types_may_be_a_plain_list_for_the_default_kind() -> None:
    # Given a job file without kind (so the default, on-figure) and a plain list of types
    # When it is built
    spec = job({"image_types": [{"viewpoint": "side", "pose": "sitting"}]})

    # Then the list is the on-figure types
    assert labels(spec, Kind.ON_FIGURE) == ["side/sitting"]


def test_flat_lay_labels_name_the_layout_then_the_viewpoint() -> None:
    # Given a flat-lay job with labels
    # When it is built
    spec = job({"kind": "flat_lay", "image_types": ["detail/back", "flat/front"]})

    # Then each label is read as flat_lay_type/viewpoint
    assert [t.model_dump(mode="json") for t in spec.types_for(Kind.FLAT_LAY)] == [
        {"flat_lay_type": "detail", "viewpoint": "back"},
        {"flat_lay_type": "flat", "viewpoint": "front"},
    ]


def test_a_job_for_both_kinds_takes_image_types_per_kind_and_defaults_the_other() -> None:
    # Given a job for both kinds that only lists flat-lay types
    # When it is built
    spec = job({"kind": "both", "image_types": {"flat_lay": ["flat/front", "flat/back"]}})

    # Then flat-lay has the listed types and on-figure the default
    assert labels(spec, Kind.FLAT_LAY) == ["flat/front", "flat/back"]
    assert labels(spec, Kind.ON_FIGURE) == ["front/standing"]


def test_a_plain_list_of_image_types_with_two_kinds_is_refused() -> None:
    # Given a job for both kinds with a plain list (which kind would it be?)
    # When it is built
    message = refusal({"kind": "both", "image_types": ["front/standing"]})

    # Then the user is told the plain list needs a single kind
    assert "plain list only when kind names a single kind" in message


def test_the_most_image_types_aiuta_allows_are_accepted() -> None:
    # Given all 35 on-figure types and all 6 flat-lay types
    document = {
        "kind": "both",
        "image_types": {"on_figure": ALL_ON_FIGURE_LABELS, "flat_lay": ALL_FLAT_LAY_LABELS},
    }

    # When the job is built
    spec = job(document)

    # Then every one of them is kept
    assert len(spec.types_for(Kind.ON_FIGURE)) == 35
    assert len(spec.types_for(Kind.FLAT_LAY)) == 6


# Every rule, with the words a user reads


def test_an_unknown_key_is_named_so_a_typo_is_not_a_silent_default() -> None:
    # Given a job file with a misspelt key
    # When it is built
    message = refusal({"numbr_of_generations": 2})

    # Then the message names the key and the product
    assert "unknown key 'numbr_of_generations'" in message
    assert "'sku-1'" in message


def test_an_unknown_nested_key_is_named_with_its_path() -> None:
    # Given a typo inside the background settings
    # When it is built
    message = refusal({"background_settings": {"background_type": "transparent", "colour": "#ffffff"}})

    # Then the message gives the full path of the key
    assert "unknown key 'background_settings.colour'" in message


def test_an_unknown_kind_lists_the_kinds_there_are() -> None:
    # Given a job file with a misspelt kind
    # When it is built
    message = refusal({"kind": "onfigure"})

    # Then the message names the value and the allowed ones
    assert "'onfigure' is not one of 'on_figure', 'flat_lay' or 'both'" in message


def test_a_viewpoint_flat_lay_does_not_have_lists_the_allowed_ones() -> None:
    # Given a flat-lay type seen from the side, which Aiuta does not make
    # When it is built
    message = refusal({"kind": "flat_lay", "image_types": [{"flat_lay_type": "flat", "viewpoint": "side"}]})

    # Then the message points at the field and lists front and back
    assert "image_types.flat_lay.0.viewpoint: 'side' is not one of 'front' or 'back'" in message


@pytest.mark.parametrize(
    "image_types", [[{"viewpoint": "front", "pose": "dancing"}], ["front/dancing"]], ids=["dict", "label"]
)
def test_an_unknown_pose_lists_every_pose(image_types: list[Any]) -> None:
    # Given an on-figure type with a pose Aiuta does not have
    # When it is built
    message = refusal({"image_types": image_types})

    # Then the message names the pose and lists all seven
    assert "image_types.on_figure.0.pose: 'dancing' is not one of" in message
    for pose in ON_FIGURE_POSES:
        assert f"'{pose}'" in message


def test_a_label_without_a_slash_shows_the_expected_shape() -> None:
    # Given a label that is not "viewpoint/pose"
    # When it is built
    message = refusal({"image_types": ["front"]})

    # Then the message shows an example of the right shape
    assert "image type 'front' must look like 'front/standing'" in message


@pytest.mark.parametrize(
    ("generations", "words"),
    [(0, "greater than or equal to 1"), (5, "less than or equal to 4")],
)
def test_number_of_generations_is_one_to_four(generations: int, words: str) -> None:
    # Given a job asking for too few or too many generations
    # When it is built
    message = refusal({"number_of_generations": generations})

    # Then the message names the field and the bound
    assert f"number_of_generations: Input should be {words}" in message


def test_a_folder_without_images_is_refused() -> None:
    # Given a product.json without image_urls in a folder with no photos
    # When the job is built
    message = refusal({}, images=0)

    # Then the user is told to add photos or image_urls
    assert "no images: add 1-20 photos" in message
    assert "or image_urls to the job file" in message


def test_more_than_twenty_images_in_the_folder_are_refused() -> None:
    # Given a folder of 21 photos
    # When the job is built
    message = refusal(None, images=21)

    # Then the message gives the count and Aiuta's limit
    assert "21 images, but Aiuta takes at most 20 per product" in message


def test_twenty_images_in_the_folder_are_accepted() -> None:
    # Given a folder of exactly 20 photos
    # When the job is built
    spec = job(None, images=20)

    # Then it is a valid job
    assert spec.product.id == "sku-1"


def test_an_empty_image_urls_list_is_refused() -> None:
    # Given a job file with image_urls: [] and no photos
    # When it is built
    message = refusal({"image_urls": []}, images=0)

    # Then the message names image_urls and the minimum
    assert "image_urls: List should have at least 1 item" in message


def test_more_than_twenty_image_urls_are_refused() -> None:
    # Given 21 image URLs
    # When the job is built
    message = refusal({"image_urls": [f"https://cdn.example.com/{i}.jpg" for i in range(21)]}, images=0)

    # Then the message names image_urls and the maximum
    assert "image_urls: List should have at most 20 items" in message


def test_image_urls_and_image_files_together_are_refused() -> None:
    # Given a job file with image_urls in a folder that also holds two photos
    # When it is built
    message = refusal({"image_urls": [URL]}, images=2)

    # Then the user is told to choose one
    assert "give either image files (2 in the folder) or image_urls in the job file, not both" in message


def test_image_urls_without_files_are_the_input() -> None:
    # Given a job file with image_urls and no photos in the folder
    # When it is built
    spec = job({"image_urls": [URL]}, images=0)

    # Then those URLs are the job's input
    assert spec.image_urls == [URL]


@pytest.mark.parametrize("url", ["ftp://cdn.example.com/a.jpg", "cdn.example.com/a.jpg", "https://"])
def test_an_image_url_that_is_not_http_is_refused(url: str) -> None:
    # Given an image URL Aiuta could not fetch
    # When the job is built
    message = refusal({"image_urls": [url]}, images=0)

    # Then the message points at the URL
    assert "image_urls.0: not an http(s) URL" in message


@pytest.mark.parametrize(
    ("document", "label"),
    [
        ({"image_types": ["front/standing", "back/walking", "front/standing"]}, "front/standing"),
        ({"kind": "flat_lay", "image_types": ["flat/front", "flat/front"]}, "flat/front"),
    ],
)
def test_a_repeated_image_type_is_refused(document: dict[str, Any], label: str) -> None:
    # Given a job listing the same image type twice
    # When it is built
    message = refusal(document)

    # Then the repeated type is named
    assert f"image type {label} is listed twice; image types must be unique" in message


def test_more_than_35_on_figure_types_are_refused() -> None:
    # Given 36 on-figure types (Aiuta has 35, so one of them repeats)
    # When the job is built
    message = refusal({"image_types": [*ALL_ON_FIGURE_LABELS, "front/standing"]})

    # Then the on-figure request's limit is reported
    assert "on_figure: image_types: List should have at most 35 items" in message


def test_more_than_6_flat_lay_types_are_refused() -> None:
    # Given 7 flat-lay types
    # When the job is built
    message = refusal({"kind": "flat_lay", "image_types": [*ALL_FLAT_LAY_LABELS, "flat/front"]})

    # Then the flat-lay request's limit is reported
    assert "flat_lay: image_types: List should have at most 6 items" in message


@pytest.mark.parametrize(
    ("background", "words"),
    [
        (
            {"background_type": "reference_color"},
            "background_type 'reference_color' needs a reference_color like '#e8e4dc'",
        ),
        (
            {"background_type": "reference_color", "reference_color": "#e8e4d"},
            "reference_color must be '#rrggbb', got '#e8e4d'",
        ),
        (
            {"background_type": "reference_color", "reference_color": "red"},
            "reference_color must be '#rrggbb', got 'red'",
        ),
        (
            {"background_type": "transparent", "reference_color": "#e8e4dc"},
            "reference_color is only allowed with background_type 'reference_color', not 'transparent'",
        ),
    ],
    ids=["missing", "five-digits", "a-name", "with-transparent"],
)
def test_the_reference_colour_must_be_a_hex_colour_with_a_reference_background(
    background: dict[str, Any], words: str
) -> None:
    # Given background settings Aiuta would refuse
    # When the job is built
    message = refusal({"background_settings": background})

    # Then the message names the background settings and what is wrong
    assert f"background_settings: {words}" in message


def test_a_hex_reference_colour_is_accepted() -> None:
    # Given a reference colour in #rrggbb form
    background = {"background_type": "reference_color", "reference_color": "#E8E4DC"}

    # When the job is built
    spec = job({"background_settings": background})

    # Then it is kept as given
    assert spec.background_settings is not None
    assert spec.background_settings.reference_color == "#E8E4DC"


def test_a_preset_and_model_settings_together_are_refused() -> None:
    # Given a job that names a preset and describes a model as well
    # When it is built
    message = refusal(
        {"on_figure_model_preset_id": "preset-7", "on_figure_model_settings": {"gender": "male"}}
    )

    # Then the user is told to give one of them
    assert "give exactly one of on_figure_model_preset_id or on_figure_model_settings (both were given)" in (
        message
    )


def test_image_types_for_a_kind_not_requested_are_refused() -> None:
    # Given an on-figure job that lists flat-lay types (they would be silently dropped)
    # When it is built
    message = refusal({"kind": "on_figure", "image_types": {"flat_lay": ["flat/front"]}})

    # Then the message says kind does not include flat_lay
    assert "image_types.flat_lay is given but kind does not include 'flat_lay'" in message


def test_regeneration_rounds_on_a_flat_lay_only_job_are_refused() -> None:
    # Given a flat-lay job that plans a regeneration round (Aiuta regenerates on-figure only)
    document = {"kind": "flat_lay", "regeneration": {"rounds": [{"image_types": ["back/walking"]}]}}

    # When it is built
    message = refusal(document)

    # Then the user is told regeneration is on-figure only
    assert "regeneration is on-figure only, and this job has no on_figure kind" in message


def test_more_planned_rounds_than_max_rounds_are_refused() -> None:
    # Given three planned rounds and max_rounds 2
    rounds = [
        {"image_types": ["back/walking"]},
        {"image_types": ["side/standing"]},
        {"image_types": ["back/sitting"]},
    ]

    # When the job is built
    message = refusal({"regeneration": {"rounds": rounds, "max_rounds": 2}})

    # Then both numbers are in the message
    assert "regeneration lists 3 rounds but max_rounds is 2" in message


def test_a_planned_round_repeating_an_image_type_is_refused_at_ingest() -> None:
    # Given a planned round that lists back/walking twice (Aiuta's regenerate call refuses it)
    document = {"regeneration": {"rounds": [{"image_types": ["back/walking", "back/walking"]}]}}

    # When the job is built
    message = refusal(document)

    # Then the job fails now, naming the repeated type, not after the first round was paid for
    assert "image types must be unique; listed twice: back/walking" in message


def test_a_planned_round_with_an_unknown_pose_is_refused() -> None:
    # Given a planned round with a pose Aiuta does not have
    document = {"regeneration": {"rounds": [{"image_types": ["back/dancing"]}]}}

    # When the job is built
    message = refusal(document)

    # Then the message points into the round
    assert "regeneration.rounds.0.image_types.0.pose: 'dancing' is not one of" in message


def test_a_product_id_that_does_not_match_the_folder_is_refused() -> None:
    # Given inbox/sku-1/product.json that says it is sku-2
    # When it is built
    message = refusal({"product": {"id": "sku-2"}})

    # Then both ids are in the message
    assert "product.id 'sku-2' does not match the folder name 'sku-1'" in message


def test_the_folder_name_is_the_product_id() -> None:
    # Given a job file with product details but no id
    # When it is built for folder sku-1
    spec = job({"product": {"title": "Linen shirt"}})

    # Then the job's product id is the folder's
    assert spec.product.id == "sku-1"
    assert spec.product.title == "Linen shirt"


def test_a_json_list_instead_of_an_object_is_refused() -> None:
    # Given a job file that is a JSON list
    # When it is built
    with pytest.raises(InvalidJob, match=r"the job file must be a JSON object"):
        job([{"kind": "on_figure"}])


def test_several_problems_are_reported_together() -> None:
    # Given a job with a typo, a bad pose, too many generations and a wrong product id
    document = {
        "product": {"id": "sku-2"},
        "numbr_of_generations": 2,
        "number_of_generations": 7,
        "image_types": ["front/dancing"],
    }

    # When it is built
    message = refusal(document)

    # Then one message lists all of them
    assert "product.id 'sku-2' does not match" in message
    assert "unknown key 'numbr_of_generations'" in message
    assert "number_of_generations: Input should be less than or equal to 4" in message
    assert "'dancing' is not one of" in message


def test_a_missing_image_is_reported_with_the_other_problems() -> None:
    # Given an empty folder whose job file also has a typo
    # When it is built
    message = refusal({"numbr_of_generations": 2}, images=0)

    # Then both are in one message, so one fix round is enough
    assert "unknown key 'numbr_of_generations'" in message
    assert "no images" in message


def test_request_rule_problems_of_both_kinds_are_reported_together() -> None:
    # Given a job for both kinds with a repeated on-figure type and seven flat-lay types
    document = {
        "kind": "both",
        "image_types": {
            "on_figure": ["front/standing", "front/standing"],
            "flat_lay": [*ALL_FLAT_LAY_LABELS, "flat/front"],
        },
    }

    # When it is built
    message = refusal(document)

    # Then each kind's problem is listed, prefixed with its kind
    assert "on_figure: image type front/standing is listed twice" in message
    assert "flat_lay: image_types: List should have at most 6 items" in message


# The job file's bytes


def test_broken_json_is_reported_with_its_line_and_column() -> None:
    # Given a job file with a missing value on line 2
    raw = b'{"kind": "on_figure",\n  "number_of_generations": }\n'

    # When it is parsed
    with pytest.raises(InvalidJob) as exc:
        parse_json_document(raw, "inbox/sku-1/product.json")

    # Then the message names the file and where the error is
    assert str(exc.value) == (
        "inbox/sku-1/product.json is not valid JSON: Expecting value at line 2, column 28"
    )


def test_a_job_file_that_is_not_utf8_is_reported_as_such() -> None:
    # Given a job file saved as UTF-16
    raw = '{"kind": "on_figure"}'.encode("utf-16")

    # When it is parsed
    with pytest.raises(InvalidJob) as exc:
        parse_json_document(raw, "inbox/sku-1/product.json")

    # Then the message says it is not UTF-8
    assert str(exc.value) == "inbox/sku-1/product.json is not UTF-8 text"


def test_a_job_file_with_a_byte_order_mark_is_read() -> None:
    # Given a job file saved by an editor that writes a UTF-8 byte order mark
    raw = '{"kind": "flat_lay"}'.encode("utf-8-sig")

    # When it is parsed
    document = parse_json_document(raw, "inbox/sku-1/product.json")

    # Then it reads like any other
    assert document == {"kind": "flat_lay"}


# The job in the execution state and in Aiuta's requests


FULL_JOB = {
    "product": {
        "id": "sku-123",
        "title": "Linen shirt",
        "category": "Apparel & Accessories > Clothing > Shirts & Tops",
        "description": "Relaxed fit, white",
    },
    "kind": ["on_figure", "flat_lay"],
    "input_mode": "urls",
    "image_urls": None,
    "operation_priority": "offline",
    "number_of_generations": 2,
    "image_types": {
        "on_figure": [{"viewpoint": "front", "pose": "standing"}],
        "flat_lay": [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}],
    },
    "background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"},
    "output_image_size": {"width": 1200, "height": 1600},
    "output_image_paddings": {"top": 40, "bottom": 40, "left": 40, "right": 40},
    "on_figure_model_preset_id": None,
    "on_figure_model_settings": {"gender": "female", "age_group": "young_adult"},
    "regeneration": {
        "rounds": [{"image_types": [{"viewpoint": "back", "pose": "walking"}], "number_of_generations": 1}],
        "auto_regenerate_failed_checks": True,
        "max_rounds": 2,
    },
    "delete_at_aiuta_after_copy": False,
}


def test_the_design_example_job_file_is_valid() -> None:
    # Given the example job file of the design
    # When it is built for its folder with three photos
    spec = job(FULL_JOB, images=3, product_id="sku-123")

    # Then the job keeps what it says
    assert spec.kind == [Kind.ON_FIGURE, Kind.FLAT_LAY]
    assert labels(spec, Kind.FLAT_LAY) == ["ghost_mannequin/front"]
    assert [t.label for t in spec.regeneration.rounds[0].image_types] == ["back/walking"]
    assert spec.regeneration.auto_regenerate_failed_checks is True


def test_the_job_survives_the_trip_through_the_execution_state() -> None:
    # Given a job with every field set
    spec = job(FULL_JOB, images=3, product_id="sku-123")

    # When it is written to the execution state and read back in the next task
    state = spec.to_state()
    again = JobSpec.from_state(state)

    # Then nothing is lost or changed, and the state holds plain JSON values
    assert again == spec
    assert again.to_state() == state
    assert state["kind"] == ["on_figure", "flat_lay"]
    assert state["image_types"]["on_figure"] == [{"viewpoint": "front", "pose": "standing"}]


def test_the_on_figure_request_is_the_body_aiuta_expects() -> None:
    # Given the example job and the product's images as URLs
    spec = job(FULL_JOB, images=3, product_id="sku-123")
    info = ProductInfo(image_urls=[URL], title="Linen shirt")

    # When the on-figure request is made
    body = spec.on_figure_request(info).to_api()

    # Then it carries the job's settings under Aiuta's names, and nothing of ours
    assert body == {
        "product_info": {"image_urls": [URL], "title": "Linen shirt"},
        "operation_priority": "offline",
        "number_of_generations": 2,
        "background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"},
        "output_image_size": {"width": 1200, "height": 1600},
        "output_image_paddings": {"top": 40, "bottom": 40, "left": 40, "right": 40},
        "image_types": [{"viewpoint": "front", "pose": "standing"}],
        "on_figure_model_settings": {"gender": "female", "age_group": "young_adult"},
    }


def test_the_flat_lay_request_has_no_model_and_flat_lay_types() -> None:
    # Given the example job and uploaded images
    spec = job(FULL_JOB, images=3, product_id="sku-123")
    info = ProductInfo(uploaded_image_ids=["user_image-1"])

    # When the flat-lay request is made
    body = spec.flat_lay_request(info).to_api()

    # Then it has flat-lay types and no model fields
    assert set(body) == {
        "product_info",
        "operation_priority",
        "number_of_generations",
        "background_settings",
        "output_image_size",
        "output_image_paddings",
        "image_types",
    }
    assert body["product_info"] == {"uploaded_image_ids": ["user_image-1"]}
    assert body["image_types"] == [{"flat_lay_type": "ghost_mannequin", "viewpoint": "front"}]


def test_a_default_job_request_leaves_unset_options_out() -> None:
    # Given a job with only defaults
    spec = job(None)

    # When its on-figure request is made
    body = spec.on_figure_request(ProductInfo(image_urls=[URL])).to_api()

    # Then Aiuta gets no null fields, only what is set
    assert body == {
        "product_info": {"image_urls": [URL]},
        "operation_priority": "online",
        "number_of_generations": 1,
        "image_types": [{"viewpoint": "front", "pose": "standing"}],
        "on_figure_model_settings": {"gender": "female"},
    }


# regenerate/<product-id>.json


def test_a_regeneration_request_takes_labels() -> None:
    # Given a regeneration request with labels and a generation count
    raw = b'{"image_types": ["back/walking", "side/standing"], "number_of_generations": 2}'

    # When it is parsed
    request = parse_regeneration_request(raw, "sku-1")

    # Then it asks for those types and that count
    assert [t.label for t in request.image_types] == ["back/walking", "side/standing"]
    assert request.number_of_generations == 2
    assert request.job_id is None


def test_a_regeneration_request_takes_dicts_and_a_job_id() -> None:
    # Given a regeneration request written with Aiuta's dicts, for a named job
    raw = b'{"image_types": [{"viewpoint": "back", "pose": "walking"}], "job_id": "sku-1-abc"}'

    # When it is parsed
    request = parse_regeneration_request(raw, "sku-1")

    # Then the type is read and the job is the one named
    assert [t.label for t in request.image_types] == ["back/walking"]
    assert request.number_of_generations is None
    assert request.job_id == "sku-1-abc"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (
            b'{"image_types": ["back/walking", "back/walking"]}',
            "image types must be unique; listed twice: back/walking",
        ),
        (b'{"image_types": ["back/walking"], "colour": "red"}', "unknown key 'colour'"),
        (b'{"image_types": []}', "image_types: List should have at least 1 item"),
        (b'{"image_types": ["back/dancing"]}', "image_types.0.pose: 'dancing' is not one of"),
        (b'{"image_types": ["back/walking"], "number_of_generations": 5}', "less than or equal to 4"),
        (b'["back/walking"]', "must be a JSON object"),
    ],
    ids=["duplicate", "unknown-key", "empty", "bad-pose", "generations", "list"],
)
def test_an_invalid_regeneration_request_says_what_is_wrong(raw: bytes, words: str) -> None:
    # Given a regeneration request with one mistake
    # When it is parsed
    with pytest.raises(InvalidJob) as exc:
        parse_regeneration_request(raw, "sku-1")

    # Then the message names the product and the mistake
    assert str(exc.value).startswith("regeneration request for 'sku-1' ")
    assert words in str(exc.value)


def test_a_regeneration_request_with_broken_json_gives_the_place() -> None:
    # Given a regeneration request cut short
    # When it is parsed
    with pytest.raises(InvalidJob) as exc:
        parse_regeneration_request(b'{"image_types": [', "sku-1")

    # Then the message names the file, the line and the column
    assert str(exc.value) == "regenerate/sku-1.json is not valid JSON: Expecting value at line 1, column 18"
