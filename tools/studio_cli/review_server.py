"""`studio review`: the review page, served on 127.0.0.1 with the operator's own AWS credentials.

Nothing runs in AWS for it: the page reads the jobs table and the bucket as the CLI does and
writes a decision file under review/ (the pipeline does the rest). It listens on the loopback
address only, answers only requests addressed to it (the Host header: no DNS rebinding), and a
decision must carry the page's own token (no other site can post one through the browser).
"""

from __future__ import annotations

import io
import json
import mimetypes
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from botocore.exceptions import ClientError

from studio_cli.errors import CliError
from studio_cli.review_page import asset, job_data, job_href, render_catalogue, render_home, render_job
from studio_cli.reviewing import decision_document, write_decision
from studio_cli.stack import Stack
from studio_core.domain.gallery import gallery_key
from studio_core.domain.keys import CATALOGUE_CHECK_NAME, INBOX, OUTBOX, PUBLISHED, catalogue_report_prefix
from studio_core.domain.overview import overview_rows
from studio_core.domain.record import JobRecord, JobStatus

# Only what the pages show may be read through the server.
READABLE_PREFIXES = (OUTBOX, INBOX, PUBLISHED)
THUMB_CACHE_ITEMS = 512


@dataclass
class ReviewSite:
    """The review pages of one stack."""

    stack: Stack
    reviewer: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _thumbs: dict[tuple[str, int], tuple[bytes, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def waiting(self) -> list[JobRecord]:
        records = self.stack.jobs().with_status(JobStatus.AWAITING_REVIEW)
        return sorted(records, key=lambda r: (r.source_key or "", r.catalogue_line or 0, r.created_at))

    def home(self) -> str:
        waiting = self.waiting()
        catalogues: dict[str, list[JobRecord]] = {}
        for record in waiting:
            if record.catalogue_line is not None and record.source_key:
                catalogues.setdefault(record.source_key, []).append(record)
        listed = [(key, len(rows), len(rows)) for key, rows in sorted(catalogues.items())]
        return render_home(waiting, listed, self.stack.name or self.stack.bucket)

    def job(self, job_id: str) -> str | None:
        record = self.stack.jobs().get(job_id)
        if record is None:
            return None
        return render_job(
            record,
            job_data(record, csrf=self.csrf, next_job=self._next(job_id), input_keys=self._inputs(record)),
        )

    def _inputs(self, record: JobRecord) -> list[str]:
        if record.input_keys:
            return list(record.input_keys)
        if record.base_job_id:
            base = self.stack.jobs().get(record.base_job_id)
            return list(base.input_keys) if base else []
        return []

    def _next(self, job_id: str) -> str | None:
        others = [r.job_id for r in self.waiting() if r.job_id != job_id]
        return job_href(others[0]) if others else None

    def state(self, job_id: str) -> dict[str, Any] | None:
        record = self.stack.jobs().get(job_id)
        if record is None:
            return None
        return {
            "job_id": record.job_id,
            "status": record.status.value,
            "ended": record.status.is_terminal,
            "review_round": record.review_round if record.review_round is not None else record.round,
            "review_state": record.review_state,
            "published": [p.key for p in record.published_images],
            "published_at": record.published_at,
        }

    def catalogue(self, key: str) -> str | None:
        storage = self.stack.storage()
        checked_key = f"{catalogue_report_prefix(key)}{CATALOGUE_CHECK_NAME}"
        if not storage.exists(checked_key):
            return None
        rows = json.loads(storage.read_bytes(checked_key))["rows"]
        records = self.stack.jobs().get_many([row["job_id"] for row in rows if row.get("job_id")])
        return render_catalogue(
            key,
            overview_rows(
                rows, records, href=lambda k: f"/image?key={k}&w=160", job_href=lambda r: job_href(r.job_id)
            ),
        )

    def decide(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        record = self.stack.jobs().get(job_id)
        if record is None:
            raise CliError(f"there is no job {job_id!r}")
        if body.get("round") is not None and record.status is JobStatus.AWAITING_REVIEW:
            waiting_on = record.review_round if record.review_round is not None else record.round
            if int(body["round"]) != waiting_on:
                raise CliError(
                    "the job has new images since this page was loaded: reload it and decide again"
                )
        document = decision_document(
            record,
            approve={str(k): [int(n) for n in v] for k, v in (body.get("approve") or {}).items()},
            reject={str(k): str(v) for k, v in (body.get("reject") or {}).items()},
            retry=[str(k) for k in body.get("retry") or []],
            by=self.reviewer,
            note=body.get("note"),
        )
        written = write_decision(self.stack.storage(), record, document)
        return {"key": written.key, "what": written.what, "quote": written.quote}

    def image(self, key: str, width: int | None) -> tuple[bytes, str] | None:
        if not key.startswith(READABLE_PREFIXES) or ".." in key.split("/"):
            return None
        if width:
            with self._lock:
                cached = self._thumbs.get((key, width))
            if cached:
                return cached
        try:
            answer = self.stack.s3().get_object(Bucket=self.stack.bucket, Key=key)
        except ClientError:
            return None
        data, content_type = answer["Body"].read(), answer.get("ContentType") or "application/octet-stream"
        if not content_type.startswith(("image/", "text/html")):
            # An image uploaded without its type: named from its bytes (or its name).
            content_type = mimetypes.guess_type(key)[0] or content_type
        if width:
            data, content_type = _thumbnail(data, width) or (data, content_type)
            with self._lock:
                if len(self._thumbs) > THUMB_CACHE_ITEMS:
                    self._thumbs.clear()
                self._thumbs[(key, width)] = (data, content_type)
        return data, content_type


def _thumbnail(data: bytes, width: int) -> tuple[bytes, str] | None:
    """A smaller copy for the page (the full image is one click away); None if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((width, width * 2))
            out = io.BytesIO()
            if image.mode in ("RGBA", "LA", "P"):
                image.save(out, "PNG", optimize=False)
                return out.getvalue(), "image/png"
            image.convert("RGB").save(out, "JPEG", quality=85)
            return out.getvalue(), "image/jpeg"
    except Exception:  # a damaged image is shown as it is
        return None


def make_handler(site: ReviewSite, port_of: Callable[[], int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "studio-review"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
            return

        def _allowed_host(self) -> bool:
            host = self.headers.get("Host", "")
            return host in (f"127.0.0.1:{port_of()}", f"localhost:{port_of()}")

        def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _html(self, page: str | None) -> None:
            if page is None:
                return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

        def _json(self, status: int, document: Any) -> None:
            self._send(status, json.dumps(document).encode(), "application/json")

        def do_GET(self) -> None:
            if not self._allowed_host():
                return self._send(HTTPStatus.FORBIDDEN, b"wrong host", "text/plain")
            url = urlparse(self.path)
            query = parse_qs(url.query)
            path = unquote(url.path)
            try:
                if path == "/":
                    return self._html(site.home())
                if path.startswith("/job/"):
                    return self._html(site.job(path[len("/job/") :]))
                if path.startswith("/api/job/"):
                    state = site.state(path[len("/api/job/") :])
                    return self._json(
                        HTTPStatus.OK if state else HTTPStatus.NOT_FOUND, state or {"error": "no such job"}
                    )
                if path == "/catalogue":
                    return self._html(site.catalogue(query.get("key", [""])[0]))
                if path == "/image":
                    width = query.get("w", [""])[0]
                    found = site.image(query.get("key", [""])[0], int(width) if width.isdigit() else None)
                    if found is None:
                        return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return self._send(HTTPStatus.OK, found[0], found[1], cache="private, max-age=300")
                if path == "/assets/review.css":
                    return self._send(
                        HTTPStatus.OK, asset("review.css"), "text/css; charset=utf-8", cache="max-age=60"
                    )
                if path == "/assets/review.js":
                    return self._send(
                        HTTPStatus.OK,
                        asset("review.js"),
                        "text/javascript; charset=utf-8",
                        cache="max-age=60",
                    )
                if path.startswith("/gallery/"):
                    record = site.stack.jobs().get(path[len("/gallery/") :])
                    found = (
                        site.image(gallery_key(record.product_id, record.job_id), None) if record else None
                    )
                    return self._html(found[0].decode() if found else None)
            except CliError as exc:
                return self._json(HTTPStatus.CONFLICT, {"error": exc.message})
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        def do_POST(self) -> None:
            if not self._allowed_host() or not secrets.compare_digest(
                self.headers.get("X-Review-Token", ""), site.csrf
            ):
                return self._json(HTTPStatus.FORBIDDEN, {"error": "not this page's request"})
            path = unquote(urlparse(self.path).path)
            if not (path.startswith("/api/job/") and path.endswith("/decision")):
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            job_id = path[len("/api/job/") : -len("/decision")]
            length = min(int(self.headers.get("Content-Length", "0") or 0), 64 * 1024)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                self._json(HTTPStatus.OK, site.decide(job_id, body))
            except CliError as exc:
                self._json(HTTPStatus.CONFLICT, {"error": exc.message})
            except (ValueError, TypeError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": f"not a decision: {exc}"})

    return Handler


def start_server(site: ReviewSite, port: int) -> ThreadingHTTPServer:
    """The review server, bound to 127.0.0.1:``port`` (0: any free port), not serving yet."""
    holder: dict[str, int] = {}
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(site, lambda: holder["port"]))
    holder["port"] = server.server_address[1]
    server.daemon_threads = True
    return server


def serve(site: ReviewSite, port: int, on_ready: Callable[[str], None]) -> None:
    """Serves until interrupted (Ctrl-C)."""
    server = start_server(site, port)
    on_ready(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
