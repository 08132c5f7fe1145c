# ruff: noqa: E501 - the catalogue of cases is a table, one case per line

"""Bad input, one clear answer each: a catalogue of malformed inputs through the ingest Lambda.

Every case is uploaded the way a person (or ``studio submit``) uploads it, each file's S3 event
is delivered (some twice), and the folder's settle check runs after the quiet period. Each case
must end as exactly one FAILED record for its folder (or catalogue row, or request), with a
message a person understands (no Python repr, no traceback), an error report object in the
bucket, every SQS message consumed, and nothing started at Aiuta or in Step Functions.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from PIL import Image

from studio_cli.samples import product_photo
from studio_core.domain.keys import error_report_key
from studio_core.steps.ingest import Ingest, SettleCheck, handle_body
from tests.support.aws import BUCKET, REGION, product_records
from tests.support.ingest import executions, finished_job, ingest, put, s3_message
from tests.support.lambdas import load_handler

pytestmark = pytest.mark.usefixtures("pipeline_aws")

PHOTO = product_photo("dress", (40, 90, 160))


def picture(fmt: str, size: tuple[int, int] = (300, 360), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 200 if mode == "1" else (200, 120, 60)).save(buffer, format=fmt)
    return buffer.getvalue()


def corrupted(data: bytes, at: int, length: int = 16) -> bytes:
    broken = bytearray(data)
    broken[at : at + length] = bytes(length)
    return bytes(broken)


def flipped(data: bytes) -> bytes:
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    return bytes(broken)


PNG, WEBP = picture("PNG"), picture("WEBP")
BOMB = picture("PNG", (20_000, 20_000), mode="1")  # a few KB claiming 400 megapixels
ALL_ON_FIGURE = [
    f"{v}/{p}"
    for v in ("front", "front_angled", "back", "back_angled", "side")
    for p in ("standing", "walking", "sitting", "leaning", "crouching_or_kneeling", "in_action", "close_up")
]


@dataclass(frozen=True)
class Case:
    """One malformed input: the files of a folder, a catalogue, or a regeneration request."""

    product_id: str
    expected: str  # part of the message the person reads
    files: dict[str, bytes | dict[str, Any] | str] = field(default_factory=dict)
    manifest: bytes | dict[str, Any] | str | None = field(default_factory=dict)
    catalogue: tuple[str, str] | None = None  # (name, content)
    regeneration: tuple[str, dict[str, Any] | str] | None = None  # (key, body)
    base_job_kind: str | None = None  # a finished job the regeneration would build on
    events_without_objects: tuple[str, ...] = ()  # keys whose events arrive (S3 never normalises them)


def photos(count: int = 2) -> dict[str, bytes | dict[str, Any] | str]:
    return {f"photo-{i + 1}.jpg": product_photo("dress", (40, 90, 160), angle=i) for i in range(count)}


CASES = {
    # the photos
    "zero-byte photo": Case("bad-empty", "front.jpg is empty (0 bytes)", {**photos(1), "front.jpg": b""}),
    "truncated JPEG": Case("bad-trunc-jpg", "front.jpg could not be read to the end", {"front.jpg": PHOTO[:900]}),
    "truncated PNG": Case("bad-trunc-png", "front.png could not be read to the end", {"front.png": PNG[: len(PNG) // 2]}),
    "truncated WebP": Case("bad-trunc-webp", "front.webp could not be read to the end", {"front.webp": WEBP[:60]}),
    "corrupt JPEG": Case("bad-corrupt-jpg", "front.jpg is not a JPEG, PNG or WebP", {"front.jpg": corrupted(PHOTO, 2)}),
    "corrupt PNG": Case("bad-corrupt-png", "front.png could not be read to the end", {"front.png": flipped(PNG)}),
    "corrupt WebP": Case("bad-corrupt-webp", "front.webp could not be read", {"front.webp": corrupted(WEBP, 20)}),
    "text named .jpg": Case("bad-text", "notes.jpg is not a JPEG, PNG or WebP image (it is text)", {"notes.jpg": "shopping list\n"}),
    "a 12 x 12 photo": Case("bad-tiny", "tiny.png is only 12x12 pixels", {"tiny.png": picture("PNG", (12, 12))}),
    "decompression bomb": Case("bad-bomb", "bomb.png is far too large (400 megapixels)", {"bomb.png": BOMB}),
    "huge dimensions": Case("bad-huge", "wide.png is 17000x100 pixels", {"wide.png": picture("PNG", (17_000, 100), "1")}),
    "21 images": Case("bad-many", "21 images, but Aiuta takes at most 20", photos(21)),
    # product.json
    "product.json not UTF-8": Case("bad-latin1", "product.json is not UTF-8 text", photos(), "{\"product\": {\"title\": \"Gr\xf6\xdfe\"}}".encode("latin-1")),
    "product.json not JSON": Case("bad-syntax", "is not valid JSON: Expecting ',' delimiter at line 1", photos(), '{"kind": "on_figure" "x": 1}'),
    "product.json a list": Case("bad-list", "the job file must be a JSON object", photos(), "[1, 2]"),
    "a number as text": Case("bad-type-gen", "number_of_generations: Input should be a valid integer", photos(), {"number_of_generations": "two"}),
    "kind a number": Case("bad-type-kind", "kind: must be a list ([...]), not the number 5", photos(), {"kind": 5}),
    "product a string": Case("bad-type-product", "product: must be a JSON object ({...}), not the text 'shirt'", photos(), {"product": "shirt"}),
    "unknown pose": Case("bad-enum-pose", "pose: 'dancing' is not one of", photos(), {"image_types": ["front/dancing"]}),
    "unknown hair colour": Case("bad-enum-hair", "hair_color: 'sim_teal' is not one of", photos(), {"on_figure_model_settings": {"gender": "female", "hair_color": "sim_teal"}}),
    "bad colour": Case("bad-colour", "reference_color must be '#rrggbb', got '#zzz'", photos(), {"background_settings": {"background_type": "reference_color", "reference_color": "#zzz"}}),
    "preset and settings": Case("bad-preset", "give exactly one of on_figure_model_preset_id or on_figure_model_settings (both were given)", photos(), {"on_figure_model_preset_id": "p-1", "on_figure_model_settings": {"gender": "male"}}),
    "duplicate types": Case("bad-dupes", "front/standing is listed twice", photos(), {"image_types": ["front/standing", "front/standing"]}),
    "too many types": Case("bad-36-types", "List should have at most 35 items", photos(), {"image_types": [*ALL_ON_FIGURE, "front/standing"]}),
    "too many flat-lay types": Case("bad-7-flat", "at most 6 items", photos(), {"kind": "flat_lay", "image_types": ["flat/front", "flat/back", "detail/front", "detail/back", "ghost_mannequin/front", "ghost_mannequin/back", "flat/front"]}),
    "unknown key": Case("bad-typo", "unknown key 'numbr_of_generations'", photos(), {"numbr_of_generations": 2}),
    "product.id of another folder": Case("bad-id-mismatch", "product.id 'other' does not match the folder name 'bad-id-mismatch'", photos(), {"product": {"id": "other"}}),
    "ftp image URL": Case("bad-url", "image_urls.0: not an http(s) URL: 'ftp://cdn.example.com/a.jpg'", {}, {"image_urls": ["ftp://cdn.example.com/a.jpg"]}),
    "photos and image_urls": Case("bad-both-inputs", "give either image files (2 in the folder) or image_urls", photos(), {"image_urls": ["https://cdn.example.com/a.jpg"]}),
    # folder names and keys
    "id with a space": Case("linen shirt", "the folder name 'linen shirt' is not a valid product id", photos()),
    "id with unicode": Case("hemd-größe", "(rename it, e.g. to 'hemd-gr-e')", photos()),
    "id with a plus": Case("sku+1", "the folder name 'sku+1' is not a valid product id", photos()),
    "../ key": Case("..", "the folder name '..' is not a valid product id", manifest=None, events_without_objects=("inbox/../../etc/passwd.jpg", "inbox/../x.jpg")),
    "absolute-looking key": Case("", "the folder name '' is not a valid product id", manifest=None, events_without_objects=("inbox//etc/shadow.jpg",)),
    # regeneration requests
    "regeneration of an unknown product": Case("ghost-product", "product 'ghost-product' has no jobs yet", manifest=None, regeneration=("regenerate/ghost-product/r1.json", {"image_types": ["back/walking"]})),
    "regeneration of a flat-lay job": Case("flat-only", "regeneration is on-figure only, and product 'flat-only' made flat-lay shots only", manifest=None, regeneration=("regenerate/flat-only/r1.json", {"image_types": ["back/walking"]}), base_job_kind="flat_lay"),
    "regeneration of flat-lay types": Case("regen-flat-types", "regeneration is on-figure only: 'ghost_mannequin/front' is a flat-lay type", manifest=None, regeneration=("regenerate/regen-flat-types/r1.json", {"image_types": ["ghost_mannequin/front"]}), base_job_kind="on_figure"),
    "regeneration not JSON": Case("regen-syntax", "regenerate/regen-syntax.json is not valid JSON", manifest=None, regeneration=("regenerate/regen-syntax.json", "{image_types: back/walking}"), base_job_kind="on_figure"),
}  # fmt: skip


def deliver(case: Case) -> tuple[list[str], list[str]]:
    """Uploads the case and delivers its events (the manifest's twice); returns the event keys and
    the keys whose error report should exist."""
    keys: list[str] = []
    for name, body in case.files.items():
        key = f"inbox/{case.product_id}/{name}"
        put(key, body)
        keys.append(key)
    if case.manifest is not None:
        key = f"inbox/{case.product_id}/product.json"
        put(key, case.manifest)
        keys += [key, key]  # S3 delivers at least once
    if case.catalogue:
        key = f"inbox/{case.catalogue[0]}"
        put(key, case.catalogue[1])
        keys.append(key)
    if case.regeneration:
        if case.base_job_kind:
            finished_job(case.product_id, kind=case.base_job_kind)
        key = case.regeneration[0]
        put(key, case.regeneration[1])
        keys += [key, key]
    keys += list(case.events_without_objects)
    return keys, keys


def settle_later(product_id: str) -> None:
    """The folder's settle check, run once the quiet period is over (as the delayed message would)."""
    later = Ingest(
        **{**vars(load_handler("ingest").INGEST), "clock": lambda: datetime.now(UTC) + timedelta(minutes=5)}
    )
    handle_body(later, json.dumps({"settle_check": SettleCheck(product_id=product_id).model_dump()}))


def report_keys() -> list[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("error.json")]


def read_json(key: str) -> dict[str, Any]:
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return json.loads(body)


def readable(message: str) -> None:
    for tell in (" object at 0x", "Traceback", "<_io.", "pydantic", "ValidationError", "errors.pydantic.dev"):
        assert tell not in message, f"{tell!r} in {message!r}"


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_bad_input_is_one_clear_rejection(studio_sim: Any, case: Case) -> None:
    # Given a malformed input uploaded with its events (some delivered twice)
    keys, _ = deliver(case)

    # When ingest handles every event, and the folder's settle check runs after the quiet period
    answer = ingest(*(s3_message(key) for key in keys))
    if case.files or case.manifest is not None:
        settle_later(case.product_id)

    # Then every message was consumed, nothing started, and Aiuta was never called
    assert answer == {"batchItemFailures": []}
    assert executions() == []
    assert studio_sim.admin.calls()["total"] == 0

    # And there is exactly one FAILED record for the folder (row, request), with a readable message
    records = [r for r in product_records(case.product_id) if r["job_id"] != f"{case.product_id}-done"]
    assert [r["status"] for r in records] == ["FAILED"], records
    [record] = records
    assert case.expected in record["error"], record["error"]
    readable(record["error"])

    # And an error report object says the same
    reports = report_keys()
    assert reports, "no error report"
    documents = [read_json(key) for key in reports]
    assert any(
        case.expected in d["error"] or any(case.expected in x for x in d["details"]) for d in documents
    )
    for document in documents:
        readable(json.dumps(document))


def test_a_csv_with_a_wrong_header_is_reported_and_studio_submit_refuses_it(tmp_path: Any) -> None:
    from studio_cli.jobs_view import Stack, submit_folder

    # Given a CSV whose header misses the image_urls column
    content = "sku,urls\nsku-1,https://cdn.example.com/a.jpg\n"
    put("inbox/wrong-header.csv", content)

    # When ingest reads it
    assert ingest(s3_message("inbox/wrong-header.csv")) == {"batchItemFailures": []}

    # Then a report names the missing columns, and no job started
    report = read_json(error_report_key("inbox/wrong-header.csv"))
    assert "lacks the column(s) id, image_urls; it has sku, urls" in report["error"]
    assert executions() == []

    # And `studio submit` says so before uploading anything
    path = tmp_path / "wrong-header-2.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="lacks the column"):
        submit_folder(Stack(BUCKET, "unused"), path)
    assert "inbox/wrong-header-2.csv" not in [k.removesuffix(".error.json") for k in report_keys()]


@pytest.mark.parametrize("name", ["linen shirt", "hemd-größe", "sku+1"])
def test_studio_submit_refuses_a_folder_whose_name_is_not_a_product_id(tmp_path: Any, name: str) -> None:
    from studio_cli.jobs_view import Stack, submit_folder

    folder = tmp_path / name
    folder.mkdir()
    (folder / "front.jpg").write_bytes(PHOTO)

    with pytest.raises(ValueError, match=r"is not a valid product id.*nothing was uploaded"):
        submit_folder(Stack(BUCKET, "unused"), folder)
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix="inbox/")
    assert listed.get("KeyCount", 0) == 0


def test_a_bad_folder_disturbs_nothing_else(studio_sim: Any) -> None:
    # Given one broken folder and one good folder in the same batch of messages
    put("inbox/bad-neighbour/front.jpg", b"")
    put("inbox/bad-neighbour/product.json", {})
    for name, body in photos().items():
        put(f"inbox/good-neighbour/{name}", body)
    put("inbox/good-neighbour/product.json", {})

    # When ingest handles the batch
    answer = ingest(
        s3_message("inbox/bad-neighbour/product.json"), s3_message("inbox/good-neighbour/product.json")
    )

    # Then the good one started, the bad one is one rejection
    assert answer == {"batchItemFailures": []}
    assert [e["input"]["product_id"] for e in executions()] == ["good-neighbour"]
    assert [r["status"] for r in product_records("bad-neighbour")] == ["FAILED"]


def test_studio_regenerate_refuses_flat_lay_types_before_writing_anything(studio_sim: Any) -> None:
    from studio_cli.jobs_view import Stack, request_regeneration
    from tests.support.aws import JOBS_TABLE

    base = finished_job("regen-cli-flat")
    with pytest.raises(ValueError, match="regeneration is on-figure only: 'ghost_mannequin/front'"):
        request_regeneration(Stack(BUCKET, JOBS_TABLE), base, ["ghost_mannequin/front"])


def test_an_input_nobody_foresaw_is_rejected_not_looped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bug that makes reading any job file raise something unexpected
    import studio_core.steps.ingest.folders as folders

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(folders, "build_job", broken)
    for name, body in photos().items():
        put(f"inbox/sku-bug/{name}", body)
    put("inbox/sku-bug/product.json", {})

    # When its event arrives
    result = ingest(s3_message("inbox/sku-bug/product.json"))

    # Then the message is consumed, and the folder is one FAILED record saying it is a pipeline bug
    assert result == {"batchItemFailures": []}
    [record] = product_records("sku-bug")
    assert record["status"] == "FAILED"
    assert "this is a bug in the pipeline, not in your input" in record["error"]


@pytest.mark.parametrize(
    ("row", "expected", "recorded"),
    [
        ("row 7,https://cdn.example.com/a.jpg,", "line 2: 'row 7' is not a valid product id", False),
        (
            "row-8,https://cdn.example.com/a.jpg,7",
            "line 2 (row-8): product 'row-8': the job is invalid: number_of_generations",
            True,
        ),
        ("row-9,ftp://cdn.example.com/a.jpg,", "not an http(s) URL", True),
    ],
)
def test_a_bad_catalogue_row_fails_alone_with_a_readable_reason(
    row: str, expected: str, recorded: bool
) -> None:
    from studio_core import clients
    from studio_core.domain.jobs import JobDefaults
    from studio_core.steps.catalogue_run import CatalogueRef, CatalogueRun, check_catalogue

    # Given a CSV catalogue of a good row and a bad one
    put(
        "inbox/feed.csv",
        f"id,image_urls,number_of_generations\n{row}\ngood-1,https://cdn.example.com/g.jpg,\n",
    )
    run = CatalogueRun(storage=clients.storage(), jobs=clients.jobs_table(), defaults=JobDefaults())
    catalogue = CatalogueRef(
        bucket=BUCKET, key="inbox/feed.csv", etag="e1", format="csv", report_prefix="inbox/feed.csv.report/"
    )

    # When the catalogue is checked
    answer = check_catalogue(run, catalogue)

    # Then the bad row fails alone, saying why in words, and the good one is to run
    assert (answer["rows"], answer["to_run"]) == (2, 1)
    errors = read_json("inbox/feed.csv.error.json")
    [reason] = errors["details"]
    assert expected in reason
    readable(reason)

    # And a row with a product id is one FAILED record (a row without a usable id is in the report)
    product = row.split(",", 1)[0]
    assert [r["status"] for r in product_records(product)] == (["FAILED"] if recorded else [])
