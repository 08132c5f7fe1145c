"""A catalogue's rows decided and quoted in file order, before anything is paid (pure rules)."""

from __future__ import annotations

from studio_core.domain.budget import fit_in_order
from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.catalogue_check import RowOutcome, decide_rows, quote, validate_rows
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.quote import job_quote
from studio_core.domain.record import JobRecord, JobStatus

KEY, VERSION = "inbox/feed.csv", "v1"


def rows(*lines: str) -> list:  # type: ignore[type-arg]
    return parse_catalogue(("id,image_urls,number_of_generations\n" + "\n".join(lines) + "\n").encode(), KEY)


def plans(*lines: str):  # type: ignore[no-untyped-def]
    return validate_rows(rows(*lines), JobDefaults(), key=KEY, version=VERSION)


def done(job_id: str) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        product_id="p",
        status=JobStatus.SUCCEEDED,
        created_at="t",
        updated_at="t",
        source_version="v0",
    )


def test_a_product_listed_again_belongs_to_its_first_row_whatever_its_case() -> None:
    checked = plans(
        "Shirt-1,https://cdn.example.com/a.jpg,",
        "shirt-1,https://cdn.example.com/b.jpg,",
        "other,https://cdn.example.com/c.jpg,",
    )
    assert [p.outcome for p in checked] == [RowOutcome.NEW, RowOutcome.REJECTED, RowOutcome.NEW]
    assert checked[1].reason == (
        "line 3: product shirt-1 is listed again (first at line 2 as 'Shirt-1'); "
        "a catalogue runs one job per product"
    )


def test_each_row_is_decided_against_the_work_already_done() -> None:
    checked = plans(
        "a,https://cdn.example.com/a.jpg,",
        "b,https://cdn.example.com/b.jpg,",
        "c,https://cdn.example.com/c.jpg,",
    )
    a, b, _ = checked
    assert a.identity is not None and b.identity is not None
    decided = decide_rows(
        checked,
        key=KEY,
        version=VERSION,
        spellings={"a": "a", "b": "b"},
        priors={a.identity.job_id: done(a.identity.job_id)},
        images_per_catalogue=0,
    )
    assert [p.outcome for p in decided] == [RowOutcome.UNCHANGED, RowOutcome.CHANGED, RowOutcome.NEW]
    assert decided[0].job_id == a.identity.job_id  # the job that made its images
    summary = quote(decided)
    assert (summary["unchanged"], summary["changed"], summary["new"], summary["operations"]) == (1, 1, 1, 2)


def test_a_known_product_in_another_spelling_is_refused_with_the_product_spelling() -> None:
    decided = decide_rows(
        plans("SHIRT-1,https://cdn.example.com/a.jpg,"),
        key=KEY,
        version=VERSION,
        spellings={"shirt-1": "Shirt-1"},
        priors={},
        images_per_catalogue=0,
    )
    assert decided[0].outcome is RowOutcome.REJECTED
    assert "already known as 'Shirt-1'" in (decided[0].reason or "")


def test_the_catalogue_limit_refuses_rows_in_file_order_and_lets_a_smaller_later_row_fit() -> None:
    decided = decide_rows(
        plans(
            "a,https://cdn.example.com/a.jpg,2",
            "b,https://cdn.example.com/b.jpg,4",
            "c,https://cdn.example.com/c.jpg,1",
        ),
        key=KEY,
        version=VERSION,
        spellings={},
        priors={},
        images_per_catalogue=3,
    )
    assert [p.outcome for p in decided] == [RowOutcome.NEW, RowOutcome.OVER_BUDGET, RowOutcome.NEW]
    assert "ImagesPerCatalogueLimit" in (decided[1].reason or "")
    assert quote(decided)["images"] == 3


def test_force_all_makes_every_done_row_a_new_generation() -> None:
    checked = plans("a,https://cdn.example.com/a.jpg,")
    identity = checked[0].identity
    assert identity is not None
    decided = decide_rows(
        checked,
        key=KEY,
        version=VERSION,
        spellings={"a": "a"},
        priors={identity.job_id: done(identity.job_id)},
        images_per_catalogue=0,
        force_all=True,
    )
    assert decided[0].outcome is RowOutcome.FORCED and decided[0].job_id != identity.job_id


def test_a_job_is_quoted_per_kind_and_planned_round() -> None:
    spec = build_job(
        "p",
        {
            "kind": "both",
            "number_of_generations": 2,
            "image_types": {"on_figure": ["front/standing", "back/walking"], "flat_lay": ["flat/front"]},
            "regeneration": {
                "rounds": [{"image_types": ["side/sitting"], "number_of_generations": 1}],
                "auto_regenerate_failed_checks": True,
                "max_rounds": 2,
            },
            "image_urls": ["https://cdn.example.com/a.jpg"],
        },
        image_count=0,
        defaults=JobDefaults(),
    )
    quoted = job_quote(spec)
    # 2 kinds + 1 planned round; (2 + 1) types x 2 + 1; one spare round of 2 on-figure types x 2
    assert (quoted.operations, quoted.images, quoted.may_add_images) == (3, 7, 4)


def test_a_budget_takes_requests_in_order_while_they_fit() -> None:
    fit = fit_in_order([2, 5, 1, 1], 4)
    assert (fit.accepted, fit.refused, fit.images) == ([0, 2, 3], [1], 4)
    assert fit_in_order([3, 3], None).refused == []


def test_the_report_counts_rows_by_outcome_and_jobs_by_status_with_what_was_paid() -> None:
    from studio_core.domain.catalogue_report import summarise
    from studio_core.domain.state import OperationRef
    from studio_core.domain.vocabulary import Kind, image_type_from_label

    def job(job_id: str, status: JobStatus, paid: int) -> JobRecord:
        ops = [
            OperationRef(
                kind=Kind.ON_FIGURE,
                operation_id=f"op-{n}",
                image_types=[image_type_from_label("front/standing")],
            )
            for n in range(paid)
        ]
        return JobRecord(
            job_id=job_id, product_id="p", status=status, created_at="t", updated_at="t", operations=ops
        )

    rows = [
        {"row": 2, "product_id": "a", "outcome": "new", "job_id": "a-1", "operations": 1, "images": 1},
        {"row": 3, "product_id": "b", "outcome": "changed", "job_id": "b-1", "operations": 1, "images": 1},
        {"row": 4, "product_id": "c", "outcome": "unchanged", "job_id": "c-0"},
        {"row": 5, "product_id": "d", "outcome": "rejected", "reason": "line 5: bad"},
    ]
    records = {
        "a-1": job("a-1", JobStatus.SUCCEEDED, 1),
        "b-1": job("b-1", JobStatus.CANCELLED, 0),
        "c-0": job("c-0", JobStatus.SUCCEEDED, 1),
    }

    report = summarise(rows, records, {"operations": 2, "images": 2})

    assert {k: report[k] for k in ("rows", "new", "changed", "unchanged", "rejected")} == {
        "rows": 4,
        "new": 1,
        "changed": 1,
        "unchanged": 1,
        "rejected": 1,
    }
    assert (report["succeeded"], report["cancelled"], report["unfinished"]) == (1, 1, 0)
    # What the unchanged row's old job paid is not this upload's
    assert (report["quoted_operations"], report["paid_operations"], report["paid_images"]) == (2, 1, 1)
    assert report["rows_detail"][2]["status"] == "SUCCEEDED" and "paid_images" not in report["rows_detail"][2]
