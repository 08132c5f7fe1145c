"""Bucket keys: what a new object means for ingest, where reports and results go, and the ids
(job id, execution name) that make a repeated event find the job it already started."""

from __future__ import annotations

import pytest

from studio_core.domain.keys import (
    KeyKind,
    classify_key,
    error_report_key,
    is_valid_product_id,
    manifest_key,
    output_key,
    product_id_problem,
    result_key,
)

# Step Functions: an execution name is 1-80 characters of letters, digits, '-' and '_'.


@pytest.mark.parametrize(
    "key",
    [
        "inbox/sku-1/front.jpg",
        "inbox/sku-1/FRONT.JPG",
        "inbox/sku-1/back.jpeg",
        "inbox/sku-1/detail.Png",
        "inbox/sku-1/side.webp",
    ],
)
def test_a_photo_in_a_product_folder_is_an_image_of_that_product(key: str) -> None:
    # Given a photo dropped into inbox/sku-1/, whatever the case of its suffix
    # When its key is classified
    found = classify_key(key)

    # Then it is an image of sku-1
    assert found.kind is KeyKind.IMAGE
    assert found.product_id == "sku-1"
    assert found.key == key


def test_product_json_is_the_job_file_of_its_folder() -> None:
    # Given a job file in a product folder
    # When its key is classified
    found = classify_key("inbox/sku-1/product.json")

    # Then it is that product's manifest
    assert found.kind is KeyKind.MANIFEST
    assert found.product_id == "sku-1"
    assert manifest_key("sku-1") == "inbox/sku-1/product.json"


@pytest.mark.parametrize("key", ["inbox/feed.csv", "inbox/spring.jsonl", "inbox/FEED.CSV"])
def test_a_csv_or_jsonl_directly_in_inbox_is_a_catalogue(key: str) -> None:
    # Given a feed file dropped directly into inbox/
    # When its key is classified
    found = classify_key(key)

    # Then it is a catalogue, of no single product
    assert found.kind is KeyKind.CATALOGUE
    assert found.product_id is None


def test_a_json_file_in_regenerate_is_a_regeneration_request_for_that_product() -> None:
    # Given regenerate/sku-1.json
    # When its key is classified
    found = classify_key("regenerate/sku-1.json")

    # Then it asks to regenerate sku-1
    assert found.kind is KeyKind.REGENERATION
    assert found.product_id == "sku-1"


@pytest.mark.parametrize(
    "key",
    [
        "inbox/sku-1/_error.json",
        "inbox/feed.csv.error.json",
        "inbox/sku-1/product.json.error.json",
        "regenerate/sku-1.json.error.json",
    ],
)
def test_an_error_report_never_starts_a_job(key: str) -> None:
    # Given an error report the pipeline wrote next to a bad input
    # When the event of that write is classified
    found = classify_key(key)

    # Then it is ignored, as a report
    assert found.kind is KeyKind.IGNORED
    assert found.reason == "an error report written by the pipeline"


@pytest.mark.parametrize(
    ("source", "product_id"),
    [
        ("inbox/sku-1/product.json", "sku-1"),
        ("inbox/sku-1/front.jpg", "sku-1"),
        ("inbox/feed.csv", None),
        ("regenerate/sku-1.json", "sku-1"),
    ],
)
def test_the_report_of_any_input_is_itself_ignored_by_ingest(source: str, product_id: str | None) -> None:
    # Given the key where the error report of an input is written
    report = error_report_key(source, product_id)

    # When a new object at that key is classified
    found = classify_key(report)

    # Then ingest ignores it, so writing a report cannot trigger a job or a loop
    assert found.kind is KeyKind.IGNORED


def test_a_product_folders_report_is_one_file_in_the_folder() -> None:
    # Given two inputs of product sku-1
    # When their report keys are computed
    # Then both go to the folder's _error.json; a catalogue's goes beside it
    assert error_report_key("inbox/sku-1/product.json", "sku-1") == "inbox/sku-1/_error.json"
    assert error_report_key("inbox/sku-1/front.jpg", "sku-1") == "inbox/sku-1/_error.json"
    assert error_report_key("inbox/feed.csv") == "inbox/feed.csv.error.json"
    assert error_report_key("regenerate/sku-1.json", "sku-1") == "regenerate/sku-1.json.error.json"


REGENERATE_FILES_ONLY = "regenerate/ takes <product-id>/<request>.json (or <product-id>.json) files only"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("inbox/sku-1/views/front.jpg", "put files directly in inbox/<product-id>/"),
        ("inbox/sku-1/notes.txt", "not an image (.heic, .heif, .jpeg, .jpg, .png, .webp) nor product.json"),
        ("inbox/sku-1/front.gif", "not an image (.heic, .heif, .jpeg, .jpg, .png, .webp) nor product.json"),
        ("inbox/photo.jpg", "files directly in inbox/ must be a .csv or .jsonl catalogue"),
        ("inbox/feed.xlsx", "files directly in inbox/ must be a .csv or .jsonl catalogue"),
        ("regenerate/sku-1.txt", REGENERATE_FILES_ONLY),
        ("regenerate/sku-1/a/extra.json", REGENERATE_FILES_ONLY),
        (
            "outbox/sku-1/job/on_figure/front-standing-v1.png",
            "outside inbox/, regenerate/, cancel/ and review/",
        ),
        ("photos/front.jpg", "outside inbox/, regenerate/, cancel/ and review/"),
    ],
)
def test_other_objects_are_ignored_with_a_reason(key: str, reason: str) -> None:
    # Given an object that is not an input of the pipeline
    # When its key is classified
    found = classify_key(key)

    # Then it is ignored, with a reason a person can act on
    assert found.kind is KeyKind.IGNORED
    assert found.reason == reason


def test_generated_images_in_the_outbox_never_start_a_job() -> None:
    # Given the key of a generated image
    key = output_key("sku-1", "sku-1-abc", "on_figure", "front/standing", 1, 0)

    # When it is classified
    # Then it is ignored
    assert classify_key(key).kind is KeyKind.IGNORED


@pytest.mark.parametrize("product_id", ["sku-1", "A", "9", "shirt_white.L", "x" * 100])
def test_a_product_id_of_letters_digits_dot_dash_underscore_is_valid(product_id: str) -> None:
    # Given a folder name within the rules
    # When it is checked
    # Then it is valid, with no problem to report
    assert is_valid_product_id(product_id)
    assert product_id_problem(product_id) is None


@pytest.mark.parametrize(
    "product_id", ["", "-sku", ".hidden", "_x", "sku 1", "sku/1", "sku#1", "é", "x" * 101]
)
def test_an_invalid_product_id_is_explained(product_id: str) -> None:
    # Given a folder name outside the rules
    # When it is checked
    problem = product_id_problem(product_id)

    # Then the problem names the id and the rule (and, for a folder, says it is the folder's name)
    assert not is_valid_product_id(product_id)
    assert problem is not None
    assert problem.startswith(
        f"{product_id!r} is not a valid product id: use 1-100 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit"
    )
    assert (product_id_problem(product_id, folder=True) or "").startswith(f"the folder name {product_id!r}")


@pytest.mark.parametrize(
    ("product_id", "suggestion"),
    [("linen shirt", "linen-shirt"), ("sku+1", "sku-1"), ("Hemd größe", "Hemd-gr-e")],
)
def test_an_invalid_product_id_comes_with_a_name_that_would_do(product_id: str, suggestion: str) -> None:
    assert f"(rename it, e.g. to {suggestion!r})" in (product_id_problem(product_id, folder=True) or "")


def test_a_generated_image_is_named_by_kind_shot_and_variant() -> None:
    # Given the first variant of the first round of an on-figure shot
    # When its key is computed
    key = output_key("sku-1", "sku-1-abc", "on_figure", "front/standing", 1, 0)

    # Then it sits in the job's folder, by kind, named viewpoint-pose-v<variant>
    assert key == "outbox/sku-1/sku-1-abc/on_figure/front-standing-v1.png"


def test_a_regeneration_round_adds_its_number_to_the_name() -> None:
    # Given the second variant of regeneration round 2 of a shot, and a flat-lay image
    # When their keys are computed
    # Then the round shows as -r2, so it never overwrites an earlier round's image
    assert (
        output_key("sku-1", "sku-1-abc", "on_figure", "back/walking", 2, 2)
        == "outbox/sku-1/sku-1-abc/on_figure/back-walking-v2-r2.png"
    )
    assert (
        output_key("sku-1", "sku-1-abc", "flat_lay", "ghost_mannequin/front", 1, 0)
        == "outbox/sku-1/sku-1-abc/flat_lay/ghost_mannequin-front-v1.png"
    )


def test_the_result_file_is_in_the_jobs_folder() -> None:
    # Given a job
    # When its result key is computed
    # Then it is result.json beside the images
    assert result_key("sku-1", "sku-1-abc") == "outbox/sku-1/sku-1-abc/result.json"


@pytest.mark.parametrize(
    ("key", "product_id"),
    [("regenerate/sku-1.json", "sku-1"), ("regenerate/sku-1/2026-12-01T10-00-00-ab12.json", "sku-1")],
)
def test_regeneration_requests_have_a_key_each_or_the_older_form(key: str, product_id: str) -> None:
    found = classify_key(key)

    assert found.kind is KeyKind.REGENERATION
    assert found.product_id == product_id


@pytest.mark.parametrize(
    ("key", "product_id"),
    [("inbox/../secret.jpg", ".."), ("inbox//sku-1/a.jpg", ""), ("inbox/../../etc/a.jpg", "..")],
)
def test_dot_dot_and_empty_segments_name_a_product_that_ingest_rejects(key: str, product_id: str) -> None:
    # Given a key with "..", or an empty segment (an absolute-looking path after inbox/)
    found = classify_key(key)

    # Then it is not normalised into another folder: it names a product id, which is invalid
    assert found.product_id == product_id
    assert found.kind is KeyKind.IMAGE
    assert product_id_problem(product_id) is not None
