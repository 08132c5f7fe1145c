"""The pages `studio review` serves: what awaits review, one job's review, a catalogue's overview.

Rendered here from the job records (the same ``domain.review`` rules the pipeline applies);
every asset is served by the same local server (``/assets/review.css``, ``/assets/review.js``),
so the pages work with no network. The job page carries its data as JSON for its script, which
keeps the person's choices and posts them as one decision.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from studio_core.domain.gallery import input_copy_key
from studio_core.domain.overview import OverviewRow, render_overview, review_text, thumbnail_key
from studio_core.domain.record import JobRecord, JobStatus
from studio_core.domain.review import (
    REJECTION_REASONS,
    job_image_types,
    labels_without_images,
    numbered_images,
)

THUMB_WIDTH = 360


def image_href(key: str, width: int | None = None) -> str:
    return f"/image?key={quote(key)}" + (f"&w={width}" if width else "")


def job_href(job_id: str) -> str:
    return f"/job/{quote(job_id)}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str, *, data: dict[str, Any] | None = None, attributes: str = "") -> str:
    script = ""
    if data is not None:
        # </script> inside the JSON would end the element: escape the slash.
        text = json.dumps(data).replace("</", "<\\/")
        script = (
            f'<script type="application/json" id="review-data">{text}</script>\n'
            '<script src="/assets/review.js"></script>\n'
        )
    return (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f'<title>{_e(title)}</title>\n<link rel="stylesheet" href="/assets/review.css">\n</head>\n'
        f"<body {attributes}>\n{body}\n{script}</body>\n</html>\n"
    )


# --- what awaits review --------------------------------------------------------------------------


def render_home(
    waiting: Sequence[JobRecord], catalogues: Sequence[tuple[str, int, int]], stack_name: str
) -> str:
    """``catalogues``: (key, rows awaiting review, jobs) for each catalogue with a job here."""
    cards = []
    for record in waiting:
        thumb = thumbnail_key(record)
        types = job_image_types(record)
        images = record.image_counts()[0]
        pending = [
            label for label in types if label not in {a.image_type.label for a in record.approved_images}
        ]
        title = (record.job.product.title if record.job else None) or record.product_id
        img = (
            f'<img src="{_e(image_href(thumb, 240))}" alt="">'
            if thumb
            else '<div class="noimg">no image</div>'
        )
        cards.append(
            f'<a class="card" href="{_e(job_href(record.job_id))}" data-job-id="{_e(record.job_id)}">{img}'
            f"<strong>{_e(title)}</strong><span>{_e(record.product_id)}</span>"
            f"<span>{len(types)} types · {images} images · {len(pending)} to decide</span>"
            f"<span>round {record.review_round or 0}{_from_catalogue(record)}</span></a>"
        )
    jobs = (
        "".join(cards)
        or '<p class="note">Nothing awaits review. Jobs with <code>review: required</code> appear '
        "here once their images are copied.</p>"
    )
    rows = "".join(
        f'<li><a href="/catalogue?key={_e(quote(key))}">{_e(key)}</a> · {jobs_count} jobs'
        f"{f' · <strong>{awaiting} awaiting review</strong>' if awaiting else ''}</li>"
        for key, awaiting, jobs_count in catalogues
    )
    catalogue_list = f"<section><h2>Catalogues</h2><ul class=catalogues>{rows}</ul></section>" if rows else ""
    body = (
        f'<header><h1>Review <span class="muted">{_e(stack_name)}</span></h1>'
        f'<p class="facts">{len(waiting)} job(s) awaiting review · press <kbd>n</kbd> for the first</p>'
        "</header><main><section><h2>Awaiting review</h2>"
        f'<div class="cards">{jobs}</div></section>{catalogue_list}</main>'
    )
    first = job_href(waiting[0].job_id) if waiting else ""
    return _page(
        "Review", body, data={"page": "home", "next": first}, attributes=f'data-awaiting="{len(waiting)}"'
    )


# --- one job ---------------------------------------------------------------------------------------


def job_data(
    record: JobRecord, *, csrf: str, next_job: str | None, input_keys: Sequence[str]
) -> dict[str, Any]:
    """What the job page's script works with: the types, their numbered images, what is decided."""
    approved: dict[str, list[int]] = {}
    for label in job_image_types(record):
        numbers = dict((image.key, n) for n, image in numbered_images(record, label))
        approved[label] = [
            numbers[a.key] for a in record.approved_images if a.image_type.label == label and a.key in numbers
        ]
    rejected: dict[str, str] = {}
    for decision in record.review_decisions:
        rejected.update(decision.reject)
        for label in decision.approve:
            rejected.pop(label, None)
    failed = {
        label
        for kind in {k for k in job_image_types(record).values()}
        for label in labels_without_images(record, kind)
    }
    latest_round = max((image.round for image in record.images), default=0)
    types = []
    for label, kind in job_image_types(record).items():
        images = [
            {
                "n": n,
                "round": image.round,
                "variant": image.variant,
                "src": image_href(image.key) if image.key else None,
                "thumb": image_href(image.key, THUMB_WIDTH) if image.key else None,
                "error": image.error,
                "new": image.round == latest_round and latest_round > 0,
                "size": f"{image.width}x{image.height}" if image.width and image.height else None,
            }
            for n, image in numbered_images(record, label)
        ]
        state = "approved" if approved.get(label) else "failed" if label in failed else "pending"
        types.append(
            {
                "label": label,
                "kind": kind.value,
                "state": state,
                "approved": approved.get(label, []),
                "rejected_because": rejected.get(label) if not approved.get(label) else None,
                "images": images,
            }
        )
    inputs = [
        {
            "name": PurePosixPath(key).name,
            "src": image_href(input_copy_key(record.product_id, record.job_id, key), 300),
        }
        for key in input_keys
    ]
    if not inputs and record.job is not None and record.job.image_urls:
        inputs = [{"name": f"input {n}", "src": str(url)} for n, url in enumerate(record.job.image_urls, 1)]
    return {
        "page": "job",
        "job_id": record.job_id,
        "product_id": record.product_id,
        "status": record.status.value,
        "awaiting": record.status is JobStatus.AWAITING_REVIEW,
        "ended": record.status.is_terminal,
        "round": record.review_round if record.review_round is not None else record.round,
        "types": types,
        "inputs": inputs,
        "reasons": list(REJECTION_REASONS),
        "csrf": csrf,
        "next": next_job,
        "published": [p.key for p in record.published_images],
    }


def render_job(record: JobRecord, data: dict[str, Any]) -> str:
    title = (record.job.product.title if record.job else None) or record.product_id
    facts = [
        ("job", record.job_id),
        ("status", record.status.value),
        ("review", review_text(record)),
        ("round", str(data["round"])),
    ]
    if record.review_deadline_at and record.status is JobStatus.AWAITING_REVIEW:
        facts.append(("decide by", record.review_deadline_at))
    paid = record.paid()
    facts.append(("paid", f"{paid.operations} operation(s), {paid.images} image(s)"))
    body = (
        '<header><a class="back" href="/">← all jobs</a>'
        f'<h1>{_e(title)} <span class="muted">{_e(record.product_id)}</span></h1>'
        f'<p class="facts">{" · ".join(f"{_e(k)} <code>{_e(v)}</code>" for k, v in facts)}</p>'
        f'<p class="reason">{_e(record.error) if record.error and record.status.is_terminal else ""}</p>'
        "</header>"
        '<div class="bar" id="bar"><span id="summary">Choose images: click to pick, <kbd>a</kbd> approve, '
        "<kbd>r</kbd> reject, <kbd>t</kbd> retry, <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> send, "
        '<kbd>n</kbd> next job, <kbd>?</kbd> help</span><span class="actions">'
        '<button id="send" type="button" disabled>Send decision <kbd>Enter</kbd></button>'
        '<a id="next" class="button" href="#">Next job <kbd>n</kbd></a></span></div>'
        '<div id="notice" class="notice" hidden></div>'
        '<div class="layout"><aside class="inputs" id="inputs"><h2>Input photos</h2></aside>'
        '<main id="types"></main></div>'
        '<div id="reasons" class="reasons" hidden><h3>Why reject <span id="reason-type"></span>?</h3>'
        '<ol id="reason-list"></ol>'
        '<input id="reason-text" placeholder="or write a reason, then Enter" maxlength="200"></div>'
        '<div id="help" class="help" hidden><h3>Keys</h3><ul>'
        "<li><kbd>1</kbd>…<kbd>9</kbd> pick image #n of the focused type (again: unpick)</li>"
        "<li><kbd>a</kbd> approve the picked images (or the newest)</li>"
        "<li><kbd>r</kbd> reject, then a reason</li>"
        "<li><kbd>t</kbd> retry a type whose operation failed</li>"
        "<li><kbd>u</kbd> undo the type's choice</li>"
        "<li><kbd>j</kbd>/<kbd>k</kbd> next / previous type</li><li><kbd>Enter</kbd> send the decision</li>"
        "<li><kbd>n</kbd> next job</li><li><kbd>Esc</kbd> close</li></ul></div>"
    )
    return _page(
        f"Review {title}",
        body,
        data=data,
        attributes=(
            f'data-job-id="{_e(record.job_id)}" data-status="{_e(record.status.value)}" '
            f'data-round="{data["round"]}"'
        ),
    )


def _from_catalogue(record: JobRecord) -> str:
    if record.source_key and record.catalogue_line is not None:
        return f" · {_e(record.source_key)} row {record.catalogue_line}"
    return ""


def render_catalogue(key: str, rows: list[OverviewRow]) -> str:
    page = render_overview(f"{key}", rows, note="live from the job records; click a product to review it")
    return page.replace("<header>", '<header><a class="back" href="/">← all jobs</a>', 1)


ASSETS = Path(__file__).with_name("assets")


def asset(name: str) -> bytes:
    """``review.css`` or ``review.js``: shipped with the CLI, served by its own server."""
    return (ASSETS / name).read_bytes()
