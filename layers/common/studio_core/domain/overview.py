"""A catalogue's overview page: every row with its thumbnail, status, review state and a link to
its job's page (pure rendering from the catalogue's check and the jobs' records).

The catalogue run writes it beside its report (``<report_prefix><run>/index.html``, links
relative, like the gallery's); ``studio review`` shows the same page with its own links.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from studio_core.domain.record import JobRecord, JobStatus

REVIEW_TEXT = {
    "waiting": "waiting for a decision",
    "regenerating": "making rejected types again",
    "published": "published",
    "expired": "deadline passed: nothing published",
}
STATUS_COLOURS = {"SUCCEEDED": "#1b7f3b", "PARTIAL": "#a86400", "FAILED": "#b3261e", "TIMED_OUT": "#b3261e"}


@dataclass(frozen=True)
class OverviewRow:
    line: int | None
    product_id: str | None
    job_id: str | None
    outcome: str  # what the catalogue's check made of the row (new, unchanged, rejected...)
    status: str
    review: str
    images: int
    thumbnail: str | None = None  # href
    job_href: str | None = None
    reason: str | None = None

    @property
    def awaiting_review(self) -> bool:
        return self.status == JobStatus.AWAITING_REVIEW.value


def review_text(record: JobRecord | None) -> str:
    """How a person reads a job's review: ``waiting for a decision``, ``published``, ``no review``."""
    if record is None or record.job is None:
        return "-"
    if record.review_state:
        return REVIEW_TEXT.get(record.review_state, record.review_state)
    mode = record.job.review_mode.value
    return "no review" if mode == "none" else f"{mode}: not yet"


def thumbnail_key(record: JobRecord | None) -> str | None:
    """The image that stands for a job: its first approved one, else its first copied one."""
    if record is None:
        return None
    for image in record.approved_images:
        return image.key
    return record.thumbnail()


def overview_rows(
    rows: Iterable[dict[str, Any]],
    records: dict[str, JobRecord],
    *,
    href: Callable[[str], str],
    job_href: Callable[[JobRecord], str],
) -> list[OverviewRow]:
    """The check's rows (``checked.json``) joined with their jobs' records."""
    found = []
    for row in rows:
        record = records.get(row.get("job_id") or "")
        thumb = thumbnail_key(record)
        found.append(
            OverviewRow(
                line=row.get("row"),
                product_id=row.get("product_id"),
                job_id=row.get("job_id"),
                outcome=str(row.get("outcome", "")),
                status=record.status.value if record is not None else str(row.get("outcome", "")).upper(),
                review=review_text(record),
                images=record.image_counts()[0] if record is not None else 0,
                thumbnail=href(thumb) if thumb else None,
                job_href=job_href(record) if record is not None and record.job is not None else None,
                reason=(record.error if record is not None else None) or row.get("reason"),
            )
        )
    return found


def render_overview(title: str, rows: list[OverviewRow], *, note: str = "") -> str:
    waiting = sum(1 for row in rows if row.awaiting_review)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    body = "".join(_row(row) for row in rows) or '<tr><td colspan="6">no rows</td></tr>'
    return (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f'<body data-rows="{len(rows)}" data-awaiting-review="{waiting}">\n'
        f"<header><h1>{_e(title)}</h1><p class=facts>{len(rows)} rows: {_e(summary)}"
        f"{f' · {waiting} awaiting review' if waiting else ''}</p>"
        f"{f'<p class=note>{_e(note)}</p>' if note else ''}</header>\n"
        "<main><table class=overview><thead><tr><th>row</th><th></th><th>product</th><th>status</th>"
        f"<th>review</th><th>images</th></tr></thead><tbody>{body}</tbody></table></main>\n"
        "</body>\n</html>\n"
    )


def _row(row: OverviewRow) -> str:
    thumb = (
        f'<img src="{_e(row.thumbnail)}" alt="{_e(row.product_id or "")}" loading=lazy>'
        if row.thumbnail
        else ""
    )
    product = _e(row.product_id or "(no id)")
    if row.job_href:
        product = f'<a href="{_e(row.job_href)}">{product}</a>'
    colour = STATUS_COLOURS.get(row.status, "#1f5fa8")
    reason = f'<div class="reason">{_e(row.reason)}</div>' if row.reason and row.status != "SUCCEEDED" else ""
    return (
        f'<tr data-job-id="{_e(row.job_id or "")}" data-status="{_e(row.status)}">'
        f"<td>{row.line if row.line is not None else ''}</td><td class=thumb>{thumb}</td>"
        f"<td>{product}<div class=job>{_e(row.job_id or '')}</div>{reason}</td>"
        f'<td><span class=status style="background:{colour}">{_e(row.status)}</span></td>'
        f"<td>{_e(row.review)}</td><td>{row.images}</td></tr>"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafaf8}
header{padding:16px 24px;border-bottom:1px solid #ddd;background:#fff}h1{font-size:22px;margin:0 0 6px}
.facts,.note{margin:0;color:#555;font-size:13px}main{padding:16px 24px}
table.overview{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
.overview td,.overview th{border-bottom:1px solid #eee;padding:6px 10px;text-align:left;vertical-align:middle}
.thumb img{width:64px;height:84px;object-fit:cover;border:1px solid #ddd;border-radius:4px;display:block}
.status{color:#fff;border-radius:4px;padding:2px 8px;font-size:12px}.job{color:#888;font-size:11px}
.reason{color:#b3261e;font-size:12px;max-width:520px}a{color:#1f5fa8}
"""
