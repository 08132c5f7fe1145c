"""One identity: what makes two requests the same work, and the ids derived from it.

A store uploads the same photos again, re-exports its feed, fixes one row, clicks twice: each of
these must find the job that already did the work instead of paying Aiuta again.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from studio_core.domain.identity import (
    Novelty,
    decide,
    execution_name,
    folder_version,
    job_identity,
    photo_checksum,
    product_key,
    regeneration_identity,
    resume_execution_name,
)
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.state import OperationRef
from studio_core.domain.vocabulary import Kind

ROOT = Path(__file__).resolve().parents[2]
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
PHOTOS = [photo_checksum(b"front photo"), photo_checksum(b"back photo")]


def job(document: dict | None = None, product_id: str = "sku-1", images: int = 2):  # type: ignore[no-untyped-def]
    return build_job(product_id, document, image_count=images, defaults=JobDefaults())


def record(job_id: str, status: JobStatus, *, version: str = "v1", operations: int = 1) -> JobRecord:
    ops = [OperationRef(kind=Kind.ON_FIGURE, operation_id=f"op-{i}") for i in range(operations)]
    return JobRecord(
        job_id=job_id,
        product_id="sku-1",
        status=status,
        created_at="2026-12-07T00:00:00+00:00",
        updated_at="2026-12-07T00:00:00+00:00",
        source_version=version,
        operations=ops,
    )


# ---------------------------------------------------------------- what is the same work


def test_the_same_photos_and_settings_are_the_same_work_whatever_the_files_are_called() -> None:
    # Given a folder uploaded twice, the second time with renamed files (same bytes, same order)
    first = job_identity("sku-1", job(), PHOTOS)
    again = job_identity("sku-1", job(), list(PHOTOS))

    # Then it is one piece of work, with one job id
    assert first == again
    assert first.job_id == again.job_id
    assert first.job_id.startswith("sku-1-")


def test_a_changed_photo_is_new_work() -> None:
    changed = [PHOTOS[0], photo_checksum(b"back photo, retouched")]
    assert job_identity("sku-1", job(), changed).job_id != job_identity("sku-1", job(), PHOTOS).job_id


@pytest.mark.parametrize(
    "document",
    [
        {"number_of_generations": 2},
        {"operation_priority": "offline"},
        {"background_settings": {"background_type": "reference_color", "reference_color": "#e8e4dc"}},
        {"output_image_size": {"width": 1200, "height": 1600}},
        {"output_image_paddings": {"top": 40, "bottom": 40, "left": 40, "right": 40}},
        {"on_figure_model_settings": {"gender": "male"}},
        {"image_types": ["back/walking"], "kind": "on_figure"},
        {"kind": "both"},
        {"regeneration": {"rounds": [{"image_types": ["back/walking"]}]}},
    ],
)
def test_each_setting_that_changes_what_aiuta_makes_is_new_work(document: dict) -> None:  # type: ignore[type-arg]
    assert job_identity("sku-1", job(document), PHOTOS).digest != job_identity("sku-1", job(), PHOTOS).digest


def test_what_does_not_change_the_images_is_not_new_work() -> None:
    # Given the same job with another title and description, input mode and clean-up choice
    other = job(
        {
            "product": {"title": "Linen shirt, now 20% off", "description": "new text"},
            "input_mode": "upload",
            "delete_at_aiuta_after_copy": True,
        }
    )
    # Then it is the same work: a daily feed's changing texts do not pay again
    assert job_identity("sku-1", other, PHOTOS) == job_identity("sku-1", job(), PHOTOS)


def test_settings_are_compared_in_canonical_form() -> None:
    # Given the same job written two ways: types in another order, defaults spelled out
    written = job(
        {
            "kind": ["flat_lay", "on_figure"],
            "image_types": {
                "on_figure": ["back/walking", "front/standing"],
                "flat_lay": ["ghost_mannequin/front"],
            },
        }
    )
    other = job(
        {
            "kind": "both",
            "number_of_generations": 1,
            "image_types": {
                "flat_lay": ["ghost_mannequin/front"],
                "on_figure": ["front/standing", "back/walking"],
            },
        }
    )
    # Then they are the same work
    assert job_identity("sku-1", written, PHOTOS) == job_identity("sku-1", other, PHOTOS)


def test_image_urls_are_the_content_of_a_job_without_photos() -> None:
    a = job({"image_urls": ["https://cdn.example.com/a.jpg"]}, images=0)
    b = job({"image_urls": ["https://cdn.example.com/b.jpg"]}, images=0)
    assert job_identity("sku-1", a).job_id == job_identity("sku-1", a).job_id
    assert job_identity("sku-1", a).job_id != job_identity("sku-1", b).job_id


def test_product_ids_that_differ_only_in_case_are_one_product() -> None:
    # The rule: ids compare without case, so Shirt-1 and shirt-1 are the same product (the
    # second spelling is refused with the reason by ingest and the catalogue check).
    assert product_key("Shirt-1") == product_key("shirt-1")
    assert (
        job_identity("Shirt-1", job(product_id="Shirt-1"), PHOTOS).digest
        == job_identity("shirt-1", job(product_id="shirt-1"), PHOTOS).digest
    )


def test_identical_regeneration_requests_are_one_round() -> None:
    first = regeneration_identity("sku-1", "sku-1-aaaa", ["back/walking", "side/sitting"], None)
    again = regeneration_identity("sku-1", "sku-1-aaaa", ["side/sitting", "back/walking"], None)
    assert first == again
    assert first != regeneration_identity("sku-1", "sku-1-aaaa", ["back/walking"], None)
    assert first != regeneration_identity("sku-1", "sku-1-aaaa", ["back/walking", "side/sitting"], 2)
    assert first != regeneration_identity("sku-1", "sku-1-bbbb", ["back/walking", "side/sitting"], None)


def test_a_folder_version_is_its_files_and_their_versions() -> None:
    listing = [("inbox/sku-1/a.jpg", "v1"), ("inbox/sku-1/product.json", "v7")]
    assert folder_version(listing) == folder_version(reversed(listing))
    assert folder_version(listing) != folder_version([("inbox/sku-1/a.jpg", "v2"), listing[1]])


# ---------------------------------------------------------------- what a request becomes


def test_work_nobody_did_starts_its_first_job() -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    assert decide(work, None, asked_by="v1", product_known=False).novelty is Novelty.NEW
    changed = decide(work, None, asked_by="v1", product_known=True)
    assert (changed.novelty, changed.job_id) == (Novelty.CHANGED, work.job_id)


@pytest.mark.parametrize(
    "status", [JobStatus.QUEUED, JobStatus.GENERATING, JobStatus.SUCCEEDED, JobStatus.PARTIAL]
)
def test_work_a_job_did_or_does_starts_nothing(status: JobStatus) -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    decision = decide(work, record(work.job_id, status), asked_by="v2", product_known=True)
    assert (decision.novelty, decision.job_id, decision.starts_work) == (
        Novelty.UNCHANGED,
        work.job_id,
        False,
    )


def test_forcing_work_already_done_is_a_new_job_named_by_the_version_that_asked() -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    done = record(work.job_id, JobStatus.SUCCEEDED)
    forced = decide(work, done, asked_by="v2", product_known=True, force=True)
    assert forced.novelty is Novelty.FORCED and forced.starts_work
    assert forced.job_id.startswith(work.job_id + "-") and forced.prior_job_id == work.job_id
    # The same forcing upload delivered twice is one job; another one is another
    assert decide(work, done, asked_by="v2", product_known=True, force=True).job_id == forced.job_id
    assert decide(work, done, asked_by="v3", product_known=True, force=True).job_id != forced.job_id


@pytest.mark.parametrize(
    ("status", "operations"), [(JobStatus.FAILED, 1), (JobStatus.CANCELLED, 0), (JobStatus.TIMED_OUT, 0)]
)
def test_work_whose_last_job_ended_without_images_runs_again(status: JobStatus, operations: int) -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    retry = decide(
        work, record(work.job_id, status, operations=operations), asked_by="v2", product_known=True
    )
    assert retry.novelty is Novelty.RETRY and retry.job_id != work.job_id


def test_a_timed_out_job_with_paid_operations_is_resumed_not_paid_again() -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    decision = decide(work, record(work.job_id, JobStatus.TIMED_OUT), asked_by="v2", product_known=True)
    assert decision.novelty is Novelty.UNCHANGED


def test_the_same_version_again_is_a_duplicate_delivery_even_after_a_failure() -> None:
    work = job_identity("sku-1", job(), PHOTOS)
    failed = record(work.job_id, JobStatus.FAILED, version="v1")
    assert decide(work, failed, asked_by="v1", product_known=True).novelty is Novelty.DUPLICATE


# ---------------------------------------------------------------- execution names


@pytest.mark.parametrize(
    "job_id",
    [
        "sku-1-0123456789abcdef",
        "shirt.white.L-0123456789abcdef",
        "x" * 80,
        "x" * 81,
        "y" * 100 + "-0123456789abcdef-01234567",
        "odd id/with#chars-é",
    ],
)
def test_an_execution_name_is_always_valid_for_step_functions(job_id: str) -> None:
    name = execution_name(job_id)
    assert EXECUTION_NAME.fullmatch(name)
    assert execution_name(job_id) == name
    assert EXECUTION_NAME.fullmatch(resume_execution_name(job_id, 3))


def test_a_short_valid_job_id_is_its_own_execution_name() -> None:
    assert execution_name("sku-1-0123456789abcdef") == "sku-1-0123456789abcdef"


def test_the_job_ids_of_the_longest_product_ids_give_distinct_execution_names() -> None:
    ids = [job_identity("s" * 99 + last, job(product_id="s" * 99 + last), PHOTOS).job_id for last in "ab"]
    names = [execution_name(job_id) for job_id in ids]
    assert all(EXECUTION_NAME.fullmatch(name) for name in names)
    assert names[0] != names[1]


# ---------------------------------------------------------------- one home


# Modules allowed to hash, and why: identity.py derives every id; keys.py names the error report
# of a folder whose name is no product id (a key, never a job id).
HASHING_ALLOWED = {"layers/common/studio_core/domain/identity.py", "layers/common/studio_core/domain/keys.py"}


def _python_files() -> list[Path]:
    roots = [ROOT / "layers" / "common" / "studio_core", ROOT / "tools" / "studio_cli", ROOT / "functions"]
    return [path for root in roots for path in root.rglob("*.py")]


def test_no_entry_path_builds_an_id_of_its_own() -> None:
    # Given every module a request passes through (the layer, the handlers, the CLI)
    offenders = []
    for path in _python_files():
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "hashlib" in names and relative not in HASHING_ALLOWED:
                offenders.append(f"{relative} imports hashlib")
            # The recipes identity.py replaced must not come back under another module
            if isinstance(node, ast.FunctionDef) and node.name in ("job_id_for", "catalogue_job_id"):
                offenders.append(f"{relative} defines {node.name}")
    # Then only domain/identity.py derives ids
    assert offenders == []


def test_keys_hashes_only_to_name_a_report() -> None:
    keys = (ROOT / "layers/common/studio_core/domain/keys.py").read_text()
    functions = [
        node.name
        for node in ast.walk(ast.parse(keys))
        if isinstance(node, ast.FunctionDef) and "hashlib" in ast.unparse(node)
    ]
    assert functions == ["error_report_key"]
