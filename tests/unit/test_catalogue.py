"""Catalogue files: a whole feed as one CSV or JSONL in inbox/, one job per row. A broken file is
refused as a whole; a bad row fails alone, with its line number."""

from __future__ import annotations

import json
import re

import pytest

from studio_core.domain.catalogue import (
    CatalogueRow,
    check_catalogue_head,
    parse_catalogue,
)
from studio_core.domain.errors import InvalidJob
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.vocabulary import Kind

ALL_COLUMNS = (
    "id,image_urls,title,category,description,kind,operation_priority,number_of_generations,"
    "on_figure_image_types,flat_lay_image_types"
)


def csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def jsonl(*lines: object) -> bytes:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()


def refusal(raw: bytes, name: str) -> str:
    with pytest.raises(InvalidJob) as exc:
        parse_catalogue(raw, name)
    return str(exc.value)


def test_a_csv_row_with_every_column_becomes_a_job_file() -> None:
    # Given a feed row that fills every column
    raw = csv(
        ALL_COLUMNS,
        "sku-1,https://cdn.example.com/a.jpg https://cdn.example.com/b.jpg,Linen shirt,Shirts,"
        "Relaxed fit,both,offline,2,front/standing;back/walking,ghost_mannequin/front",
    )

    # When the catalogue is read
    [row] = parse_catalogue(raw, "feed.csv")

    # Then the row is the job file a person would have written for that product
    assert row == CatalogueRow(
        line=2,
        product_id="sku-1",
        document={
            "product": {"title": "Linen shirt", "category": "Shirts", "description": "Relaxed fit"},
            "image_urls": ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"],
            "kind": "both",
            "operation_priority": "offline",
            "number_of_generations": 2,
            "image_types": {
                "on_figure": ["front/standing", "back/walking"],
                "flat_lay": ["ghost_mannequin/front"],
            },
        },
    )


def test_a_csv_row_builds_a_valid_job() -> None:
    # Given a feed row with types in the "a/b;c/d" form
    raw = csv(
        ALL_COLUMNS, "sku-1,https://cdn.example.com/a.jpg,,,,both,,,front/standing;back/walking,flat/back"
    )
    [row] = parse_catalogue(raw, "feed.csv")

    # When its job is built
    assert row.product_id is not None and row.document is not None
    spec = build_job(row.product_id, row.document, image_count=0, defaults=JobDefaults())

    # Then the job has the row's types per kind and its URL
    assert [t.label for t in spec.types_for(Kind.ON_FIGURE)] == ["front/standing", "back/walking"]
    assert [t.label for t in spec.types_for(Kind.FLAT_LAY)] == ["flat/back"]
    assert spec.image_urls == ["https://cdn.example.com/a.jpg"]


@pytest.mark.parametrize(
    "urls",
    [
        "https://cdn.example.com/a.jpg https://cdn.example.com/b.jpg",
        "https://cdn.example.com/a.jpg|https://cdn.example.com/b.jpg",
        "https://cdn.example.com/a.jpg | https://cdn.example.com/b.jpg",
        " https://cdn.example.com/a.jpg   https://cdn.example.com/b.jpg ",
    ],
)
def test_image_urls_may_be_separated_by_spaces_or_bars(urls: str) -> None:
    # Given two image URLs in one cell, separated one of the accepted ways
    raw = csv("id,image_urls", f"sku-1,{urls}")

    # When the catalogue is read
    [row] = parse_catalogue(raw, "feed.csv")

    # Then the row has both URLs
    assert row.document is not None
    assert row.document["image_urls"] == ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"]


def test_only_the_filled_optional_columns_reach_the_job() -> None:
    # Given a row that leaves the optional columns empty
    raw = csv(ALL_COLUMNS, "sku-1,https://cdn.example.com/a.jpg,,,,,,,,")

    # When the catalogue is read
    [row] = parse_catalogue(raw, "feed.csv")

    # Then the job file has no empty settings (the defaults apply to them)
    assert row.document == {"product": {}, "image_urls": ["https://cdn.example.com/a.jpg"]}


def test_a_non_numeric_generation_count_is_left_for_the_job_check_to_report() -> None:
    # Given a row with "two" generations
    raw = csv("id,image_urls,number_of_generations", "sku-1,https://cdn.example.com/a.jpg,two")
    [row] = parse_catalogue(raw, "feed.csv")
    assert row.product_id is not None and row.document is not None

    # When its job is built
    with pytest.raises(InvalidJob) as exc:
        build_job(row.product_id, row.document, image_count=0, defaults=JobDefaults())

    # Then the job check names the field
    assert "number_of_generations: Input should be a valid integer" in str(exc.value)


def test_a_csv_without_the_required_columns_is_refused_naming_them() -> None:
    # Given a feed without the image_urls column
    raw = csv("id,title", "sku-1,Shirt")

    # When it is read
    message = refusal(raw, "feed.csv")

    # Then the missing column and the columns it has are named
    assert message == "catalogue feed.csv lacks the column(s) image_urls; it has id, title"


def test_a_csv_with_an_unknown_column_is_refused_naming_it() -> None:
    # Given a feed with a misspelt column (it would silently be a default otherwise)
    raw = csv("id,image_urls,colour", "sku-1,https://cdn.example.com/a.jpg,red")

    # When it is read
    # Then the column is named
    assert refusal(raw, "feed.csv") == "catalogue feed.csv has unknown column(s) colour"


def test_column_names_may_have_spaces_around_them() -> None:
    # Given a header written with spaces after the commas
    raw = csv("id, image_urls, title", "sku-1, https://cdn.example.com/a.jpg, Shirt")

    # When the catalogue is read
    [row] = parse_catalogue(raw, "feed.csv")

    # Then the columns are recognised and the values trimmed
    assert row.product_id == "sku-1"
    assert row.document == {"product": {"title": "Shirt"}, "image_urls": ["https://cdn.example.com/a.jpg"]}


def test_a_row_with_an_empty_id_fails_alone_with_its_line() -> None:
    # Given three rows, the second without an id
    raw = csv(
        "id,image_urls",
        "sku-1,https://cdn.example.com/a.jpg",
        ",https://cdn.example.com/b.jpg",
        "sku-3,https://cdn.example.com/c.jpg",
    )

    # When the catalogue is read
    rows = parse_catalogue(raw, "feed.csv")

    # Then the good rows are jobs and the bad one carries its problem and line
    assert [row.product_id for row in rows] == ["sku-1", None, "sku-3"]
    assert rows[1] == CatalogueRow(3, None, None, "line 3: the id column is empty")


def test_line_numbers_are_the_files_lines_even_after_blank_lines() -> None:
    # Given a feed with blank lines between its rows
    raw = csv(
        "id,image_urls", "", "sku-1,https://cdn.example.com/a.jpg", "", "", ",https://cdn.example.com/b.jpg"
    )

    # When the catalogue is read
    rows = parse_catalogue(raw, "feed.csv")

    # Then blank lines are skipped, and each row's line is where an editor shows it
    assert [row.line for row in rows] == [3, 6]
    assert rows[1].problem == "line 6: the id column is empty"


def test_a_csv_with_a_byte_order_mark_is_read() -> None:
    # Given a feed saved by a spreadsheet with a UTF-8 byte order mark
    raw = "id,image_urls\nsku-1,https://cdn.example.com/a.jpg\n".encode("utf-8-sig")

    # When the catalogue is read
    [row] = parse_catalogue(raw, "feed.csv")

    # Then the first column is still "id"
    assert row.product_id == "sku-1"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"", "feed.csv"),
        (b"id,image_urls\n", "feed.csv"),
        (b"id,image_urls\n,\n\n", "feed.csv"),
        (b"", "feed.jsonl"),
        (b"\n\n", "feed.jsonl"),
    ],
    ids=["empty-csv", "header-only", "blank-rows", "empty-jsonl", "blank-jsonl"],
)
def test_a_catalogue_without_products_is_refused(raw: bytes, name: str) -> None:
    # Given a catalogue with no product in it
    # When it is read
    # Then the user is told it has no products
    assert refusal(raw, name) == f"catalogue {name} has no products"


@pytest.mark.parametrize("name", ["feed.csv", "feed.jsonl"])
def test_a_catalogue_that_is_not_utf8_is_refused(name: str) -> None:
    # Given a catalogue saved in Latin-1 with an accented title
    raw = "id,image_urls,title\nsku-1,https://cdn.example.com/a.jpg,Chemise à lin\n".encode("latin-1")

    # When it is read
    # Then the user is told to save it as UTF-8
    assert refusal(raw, name) == f"catalogue {name} is not UTF-8 text"


def test_each_jsonl_line_is_a_job_file() -> None:
    # Given two job files, one per line
    first = {"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"], "kind": "flat_lay"}
    second = {"product": {"id": "sku-2", "title": "Dress"}, "image_urls": ["https://cdn.example.com/b.jpg"]}

    # When the catalogue is read
    rows = parse_catalogue(jsonl(first, second), "feed.jsonl")

    # Then each line is a row with its product id, as written
    assert rows == [CatalogueRow(1, "sku-1", first), CatalogueRow(2, "sku-2", second)]


def test_a_broken_jsonl_line_fails_alone() -> None:
    # Given a good line, a broken one and another good one
    good = {"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"]}
    raw = jsonl(good, '{"product": {"id": "sku-2"}', {**good, "product": {"id": "sku-3"}})

    # When the catalogue is read
    rows = parse_catalogue(raw, "feed.jsonl")

    # Then the broken line is a problem with its line number, and the others are jobs
    assert [row.product_id for row in rows] == ["sku-1", None, "sku-3"]
    assert rows[1].line == 2
    assert rows[1].problem is not None and rows[1].problem.startswith("line 2: not valid JSON (")


@pytest.mark.parametrize(
    "line",
    [
        {"image_urls": ["https://cdn.example.com/a.jpg"]},
        {"product": {"title": "Shirt"}},
        {"product": "sku-2"},
    ],
    ids=["no-product", "no-id", "product-not-object"],
)
def test_a_jsonl_line_without_a_product_id_fails_alone(line: object) -> None:
    # Given a good line followed by one without product.id
    good = {"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"]}

    # When the catalogue is read
    rows = parse_catalogue(jsonl(good, line), "feed.jsonl")

    # Then the good line is a job and the other fails with its line
    assert rows[0].product_id == "sku-1"
    assert rows[1] == CatalogueRow(2, None, None, "line 2: product.id is missing")


def test_blank_jsonl_lines_are_skipped_but_counted() -> None:
    # Given a JSONL feed with a blank line between two products
    good = {"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"]}
    raw = jsonl(good, "", {**good, "product": {"id": "sku-2"}})

    # When it is read
    rows = parse_catalogue(raw, "feed.jsonl")

    # Then there are two rows, on lines 1 and 3
    assert [(row.line, row.product_id) for row in rows] == [(1, "sku-1"), (3, "sku-2")]


def test_the_format_is_chosen_by_the_suffix_whatever_its_case() -> None:
    # Given a JSONL feed named in upper case
    raw = jsonl({"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"]})

    # When it is read
    [row] = parse_catalogue(raw, "FEED.JSONL")

    # Then it is read as JSON lines
    assert row.product_id == "sku-1"


def test_a_jsonl_line_that_is_not_an_object_fails_alone() -> None:
    # Given a feed whose second line is a JSON list, not a job file
    raw = jsonl({"product": {"id": "sku-1"}, "image_urls": ["https://x/a.jpg"]}, [1])

    # When it is read
    first, second = parse_catalogue(raw, "feed.jsonl")

    # Then only that line fails, with its number
    assert first.product_id == "sku-1"
    assert second == CatalogueRow(2, None, None, "line 2: not a job file (a JSON object)")


@pytest.mark.parametrize(("value", "forced"), [("true", True), ("Yes", True), ("", False), ("no", False)])
def test_the_force_column_asks_for_a_new_generation(value: str, forced: bool) -> None:
    [row] = parse_catalogue(csv("id,image_urls,force", f"sku-1,https://x/a.jpg,{value}"), "feed.csv")
    assert row.document is not None and bool(row.document.get("force")) is forced


def test_a_force_column_that_is_not_yes_or_no_fails_the_row() -> None:
    [row] = parse_catalogue(csv("id,image_urls,force", "sku-1,https://x/a.jpg,maybe"), "feed.csv")
    assert row.problem == "line 2: force must be true or false, not 'maybe'"


@pytest.mark.parametrize(
    ("head", "whole_file", "refusal_text"),
    [
        (b"id,colour\nsku-1,red\n", True, "lacks the column(s) image_urls"),
        (b"id,image_urls\n", True, "has no products"),
        (b"id,image_urls,size\nsku-1,https://x/a.jpg,M\n", False, "unknown column(s) size"),
        ("id,image_urls,title\nsku-1,https://x/a.jpg,Chemise à lin\n".encode("latin-1"), True, "not UTF-8"),
    ],
)
def test_ingest_refuses_a_catalogue_from_its_head(head: bytes, whole_file: bool, refusal_text: str) -> None:
    with pytest.raises(InvalidJob, match=re.escape(refusal_text)):
        check_catalogue_head(head, "inbox/feed.csv", whole_file=whole_file)


def test_a_head_cut_in_a_multibyte_character_is_still_read() -> None:
    # Given the first 64 KB of a long feed, cut in the middle of an accented title
    head = "id,image_urls,title\nsku-1,https://x/a.jpg,Chemise à lin\n".encode()[:-8]
    # Then only the complete lines are checked
    check_catalogue_head(head, "inbox/feed.csv", whole_file=False)
