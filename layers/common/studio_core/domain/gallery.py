"""A job's gallery page (``outbox/<product>/<job>/index.html``), rendered from its ``JobRecord``.

The page shows the input photos beside every generated image, grouped by kind, image type and
round, with the request's settings, the operation ids and the job's status. Every link is
relative to the job's folder (``on_figure/front-standing-v1.png``, ``inputs/photo-1.jpg``), so
the same page works served from the bucket and from a folder ``studio results --download``
wrote. Inputs hosted elsewhere (``image_urls``) are linked where they are.

A small script marks each ``<img>`` with ``data-loaded="yes"`` or ``"no"`` once the page has
loaded, and the ``<body>`` with how many loaded: a headless browser's ``--dump-dom`` shows it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from studio_core.domain.keys import job_prefix
from studio_core.domain.record import ImageRecord, JobRecord, JobStatus
from studio_core.domain.vocabulary import Kind

GALLERY_NAME = "index.html"
INPUTS_FOLDER = "inputs/"
KIND_TITLES = {Kind.ON_FIGURE: "On-figure", Kind.FLAT_LAY: "Flat-lay"}
STATUS_COLOURS = {
    JobStatus.SUCCEEDED: "#1b7f3b",
    JobStatus.PARTIAL: "#a86400",
    JobStatus.FAILED: "#b3261e",
    JobStatus.TIMED_OUT: "#b3261e",
}
RUNNING_COLOUR = "#1f5fa8"


@dataclass(frozen=True)
class GalleryInput:
    """One input photo: its name, and where the page links it (relative, or a URL elsewhere)."""

    name: str
    href: str


def gallery_key(product_id: str, job_id: str) -> str:
    return f"{job_prefix(product_id, job_id)}{GALLERY_NAME}"


def input_copy_key(product_id: str, job_id: str, input_key: str) -> str:
    """Where a job keeps a copy of one of its input photos, beside its outputs."""
    return f"{job_prefix(product_id, job_id)}{INPUTS_FOLDER}{PurePosixPath(input_key).name}"


def relative_href(record: JobRecord, key: str) -> str:
    """``key`` as a link from the job's gallery page (both live under the job's folder)."""
    prefix = job_prefix(record.product_id, record.job_id)
    return quote(key.removeprefix(prefix))


def gallery_inputs(record: JobRecord, input_keys: Sequence[str]) -> list[GalleryInput]:
    """The page's inputs: copies of ``input_keys`` in the job's folder, or the job's ``image_urls``."""
    inputs = [
        GalleryInput(
            PurePosixPath(key).name,
            relative_href(record, input_copy_key(record.product_id, record.job_id, key)),
        )
        for key in input_keys
    ]
    if not inputs and record.job is not None and record.job.image_urls:
        inputs = [
            GalleryInput(PurePosixPath(url.split("?", 1)[0]).name or f"image {n}", url)
            for n, url in enumerate(record.job.image_urls, start=1)
        ]
    return inputs


def render_gallery(record: JobRecord, inputs: Sequence[GalleryInput] = ()) -> str:
    """The whole page, as HTML text."""
    title = _title(record)
    body = [
        _header(record, title),
        '<div class="layout">',
        _inputs_section(inputs),
        '<main class="outputs">',
        *(_kind_section(record, kind) for kind in _kinds(record)),
        _missing_section(record),
        _rounds_section(record),
        _operations_section(record),
        _settings_section(record),
        "</main>",
        "</div>",
    ]
    return (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}: {_e(record.status.value)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f'<body data-job-id="{_e(record.job_id)}" data-status="{_e(record.status.value)}">\n'
        + "\n".join(part for part in body if part)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


# --- sections ---------------------------------------------------------------------------------


def _title(record: JobRecord) -> str:
    product_title = record.job.product.title if record.job is not None else None
    return f"{product_title} ({record.product_id})" if product_title else record.product_id


def _header(record: JobRecord, title: str) -> str:
    colour = STATUS_COLOURS.get(record.status, RUNNING_COLOUR)
    facts = [
        ("job", record.job_id),
        ("created", record.created_at),
        ("finished", record.finished_at or "not yet"),
    ]
    if record.base_job_id:
        facts.append(("regenerates", record.base_job_id))
    if record.source_key:
        facts.append(("from", record.source_key))
    copied = sum(1 for image in record.images if image.key)
    facts.append(
        (
            "images",
            f"{copied} copied"
            + (f", {len(record.images) - copied} missing" if copied < len(record.images) else ""),
        )
    )
    reason = f'<p class="reason">{_e(record.error)}</p>' if record.error else ""
    return (
        f'<header><h1>{_e(title)} <span class="status" style="background:{colour}">'
        f"{_e(record.status.value)}</span></h1>"
        f'<p class="facts">{" · ".join(f"{_e(k)} <code>{_e(v)}</code>" for k, v in facts)}</p>'
        f"{reason}</header>"
    )


def _inputs_section(inputs: Sequence[GalleryInput]) -> str:
    if not inputs:
        return '<aside class="inputs"><h2>Input photos</h2><p class="note">none recorded</p></aside>'
    figures = "".join(
        f'<figure><a href="{_e(i.href)}"><img src="{_e(i.href)}" alt="input {_e(i.name)}"></a>'
        f"<figcaption>{_e(i.name)}</figcaption></figure>"
        for i in inputs
    )
    return f'<aside class="inputs"><h2>Input photos</h2>{figures}</aside>'


def _kinds(record: JobRecord) -> list[Kind]:
    wanted = list(record.job.kind) if record.job is not None else []
    seen = [image.kind for image in record.images] + [op.kind for op in record.operations]
    return [kind for kind in Kind if kind in wanted or kind in seen]


def _kind_section(record: JobRecord, kind: Kind) -> str:
    images = [image for image in record.images if image.kind is kind]
    labels = _ordered_labels(record, kind, images)
    rows = []
    for label in labels:
        of_type = sorted(
            (i for i in images if i.image_type.label == label), key=lambda i: (i.round, i.variant)
        )
        cells = "".join(_figure(record, image) for image in of_type if image.key)
        if not cells:
            cells = '<p class="note">no image copied</p>'
        rows.append(f'<div class="type"><h3>{_e(label)}</h3><div class="row">{cells}</div></div>')
    body = "".join(rows) or '<p class="note">no images yet</p>'
    return f'<section class="kind" id="{kind.value}"><h2>{KIND_TITLES[kind]}</h2>{body}</section>'


def _ordered_labels(record: JobRecord, kind: Kind, images: Iterable[ImageRecord]) -> list[str]:
    labels: list[str] = []
    requested = record.job.types_for(kind) if record.job is not None else []
    for op in sorted(record.operations, key=lambda op: op.round):
        if op.kind is kind:
            requested += op.image_types
    for label in [t.label for t in requested] + [i.image_type.label for i in images]:
        if label not in labels:
            labels.append(label)
    return labels


def _figure(record: JobRecord, image: ImageRecord) -> str:
    assert image.key is not None
    href = relative_href(record, image.key)
    caption = [f"v{image.variant}", f"round {image.round}" if image.round else "first round"]
    if image.width and image.height:
        caption.append(f"{image.width} x {image.height}")
    problem = f'<span class="problem">{_e(image.error)}</span>' if image.error else ""
    return (
        f'<figure class="round-{image.round}"><a href="{_e(href)}"><img src="{_e(href)}" '
        f'alt="{_e(image.kind.value)} {_e(image.image_type.label)} v{image.variant} round {image.round}"></a>'
        f"<figcaption>{_e(' · '.join(caption))}{problem}</figcaption></figure>"
    )


def _missing_section(record: JobRecord) -> str:
    missing = [image for image in record.images if not image.key]
    if not missing:
        return ""
    items = "".join(
        f"<li>{_e(i.kind.value)} {_e(i.image_type.label)} v{i.variant} (round {i.round}): "
        f"{_e(i.error or 'not copied')}</li>"
        for i in missing
    )
    return f'<section class="missing"><h2>Not copied</h2><ul>{items}</ul></section>'


def _rounds_section(record: JobRecord) -> str:
    if not record.rounds:
        return ""
    items = []
    for entry in record.rounds:
        found = "".join(f"<li>{_e(f)}</li>" for f in entry.findings)
        summary = f"<ul>{found}</ul>" if found else " every image arrived as asked"
        items.append(f"<li>round {entry.round}:{summary}</li>")
    return f'<section class="rounds"><h2>Rounds and checks</h2><ul>{"".join(items)}</ul></section>'


def _operations_section(record: JobRecord) -> str:
    if not record.operations:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{_e(op.kind.value)}</td><td>{op.round}</td><td><code>{_e(op.operation_id or '-')}</code></td>"
        f"<td>{_e(str(op.status))}</td><td>{_e(', '.join(t.label for t in op.image_types))}</td>"
        f"<td>{op.number_of_generations}</td><td>{_e(op.error or '')}</td>"
        "</tr>"
        for op in record.operations
    )
    return (
        '<section class="operations"><h2>Aiuta operations</h2><table><thead><tr><th>kind</th><th>round</th>'
        "<th>operation id</th><th>status</th><th>image types</th><th>generations</th><th>error</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def _settings_section(record: JobRecord) -> str:
    if record.job is None:
        note = '<p class="note">the job never had a valid request</p>'
        return f'<section class="settings"><h2>Request</h2>{note}</section>'
    spec = record.job.to_state()
    spec.pop("image_urls", None)  # shown as the inputs
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{_e(_value(value))}</dd>" for name, value in spec.items())
    return f'<section class="settings"><h2>Request</h2><dl>{rows}</dl></section>'


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafaf8}
header{padding:16px 24px;border-bottom:1px solid #ddd;background:#fff}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:18px 0 8px}h3{font-size:14px;margin:10px 0 6px}
.status{color:#fff;border-radius:4px;padding:2px 8px;font-size:14px;vertical-align:middle}
.facts{margin:0;color:#555;font-size:13px}.reason{color:#b3261e;margin:8px 0 0}
.layout{display:flex;gap:24px;padding:0 24px 24px;align-items:flex-start}
.inputs{flex:0 0 200px;position:sticky;top:0}.outputs{flex:1;min-width:0}
figure{display:inline-block;margin:0 10px 10px 0;vertical-align:top}
img{max-width:220px;max-height:300px;border:1px solid #ccc;background:#fff;display:block}
.inputs img{max-width:180px}
figcaption{font-size:12px;color:#555;margin-top:3px;max-width:220px}
.problem{display:block;color:#b3261e}.note{color:#777;font-size:13px}
.round-1 img,.round-2 img,.round-3 img,.round-4 img,.round-5 img{border-color:#1f5fa8}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px}dt{color:#555}dd{margin:0}
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images), loaded = 0;
  images.forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", ok ? "yes" : "no");
    if (ok) { loaded += 1; }
  });
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-total", String(images.length));
});
"""
