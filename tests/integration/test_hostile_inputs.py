"""Hostile and careless inputs (issue #16): each case against the shipped code path.

The servers here are small local HTTP servers that answer what an attacker's (or a broken) host
would, and record what reached them.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from studio_cli.errors import Refused
from studio_cli.printable import printable
from studio_cli.results import local_path
from studio_cli.submitting import plan_catalogue, plan_folder
from studio_core.aiuta.answers import AiutaImage
from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy
from studio_core.aws.downloads import MIB, DownloadLimits
from studio_core.aws.jobs_table import JobsTable
from studio_core.aws.storage import Storage
from studio_core.domain.catalogue import parse_catalogue
from studio_core.domain.errors import AiutaError
from studio_core.domain.image_check import PNG_SIGNATURE
from studio_core.domain.jobs import JobDefaults, build_job
from studio_core.domain.outcome import Ending
from studio_core.domain.record import ImageRecord, RequestKind
from studio_core.domain.state import OperationRef, StepStatus
from studio_core.domain.vocabulary import Kind, on_figure_type
from studio_core.settings import AiutaSettings, from_env
from studio_core.steps.finalize import CopyOrder, copy_one
from tests.support.aws import BUCKET, JOBS_TABLE, REGION, job_record, product_records, queued_job
from tests.support.ingest import executions, finished_job, ingest, put, s3_message
from tests.support.lambdas import FakeLambdaContext, load_handler

FAST_RETRIES = RetryPolicy(attempts=0, backoff_factor=0.0, jitter=0.0, max_retry_after=0.0)
API_KEY = "sk-secret-aiuta-key"


@dataclass
class Seen:
    """One request that reached a local server."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class LocalHost:
    """A local HTTP server whose answers a test chooses (``route``), and what reached it."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)

    def route(self, path: str, answer: Callable[[BaseHTTPRequestHandler], None]) -> str:
        self.routes[path] = answer
        return self.url + path


def _handler(host: LocalHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            host.seen.append(Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}))
            answer = host.routes.get(path)
            if answer is None:
                self.send_error(404)
                return
            answer(self)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def local_host() -> Iterator[Callable[[], LocalHost]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> LocalHost:
        host = LocalHost(url="")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host))
        server.daemon_threads = True
        host.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return host

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def redirect_to(location: str, status: int = 302) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def json_answer(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


# ---------------------------------------------------------------- the Aiuta key stays home


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_from_the_api_is_an_error_and_the_key_never_reaches_the_other_host(
    local_host: Callable[[], LocalHost], status: int
) -> None:
    # Given an "Aiuta" that redirects every call to another host, which records what it receives
    api, elsewhere = local_host(), local_host()
    catcher = elsewhere.route("/steal", json_answer(b"[]"))
    api.route("/studio/v1/on_figure_model_presets", redirect_to(catcher, status))
    client = AiutaStudioClient(API_KEY, f"{api.url}/studio/v1", retry=FAST_RETRIES)

    # When the client calls it
    with pytest.raises(AiutaError) as failed:
        client.list_model_presets()

    # Then the call fails, saying in words that it was a redirect and was not followed
    message = str(failed.value)
    assert f"Aiuta answered {status}, a redirect to http://127.0.0.1" in message
    assert "not followed" in message and "AiutaApiUrl" in message
    # And the other host never saw a request, let alone the key
    assert elsewhere.seen == []
    assert [s.headers.get("x-api-key") for s in api.seen] == [API_KEY]


@pytest.mark.parametrize(
    "url",
    ["http://api.aiuta.com/studio/v1", "ftp://api.aiuta.com/studio/v1", "https://user:pw@api.aiuta.com/v1"],
)
def test_the_client_sends_the_key_only_over_https_or_to_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match=r"https|user name or password"):
        AiutaStudioClient(API_KEY, url)


def test_a_deployed_function_refuses_a_plain_http_api_url_even_on_loopback() -> None:
    # Given the settings of a function on AWS (no AllowLoopbackUrls)
    environ = {"AIUTA_API_KEY_SECRET": "s", "AIUTA_API_URL": "http://127.0.0.1:8787/studio/v1"}

    # Then loopback http is refused with the parameter that allows it; https and the local stack pass
    with pytest.raises(RuntimeError, match=r"AIUTA_API_URL: .*only the local stack.*AllowLoopbackUrls"):
        from_env(AiutaSettings, environ)
    with pytest.raises(RuntimeError, match=r"AIUTA_API_URL: http://api\.example\.com/v1 is not an https URL"):
        from_env(AiutaSettings, {**environ, "AIUTA_API_URL": "http://api.example.com/v1"})
    assert from_env(AiutaSettings, {**environ, "ALLOW_LOOPBACK_URLS": "true"}).allow_loopback_urls
    https = from_env(AiutaSettings, {**environ, "AIUTA_API_URL": "https://api.aiuta.com/studio/v1"})
    assert https.aiuta_api_url == "https://api.aiuta.com/studio/v1"


# ---------------------------------------------------------------- copying Aiuta's result links

LOCAL = DownloadLimits(allow_loopback=True)  # the local hosts here are on 127.0.0.1, like the simulator
RESULT_KEY = "outbox/p/j/on_figure/front-standing-v1.png"


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/steal?c="+document.cookie)</script></svg>'


def png_stream_head(width: int, height: int) -> bytes:
    """A valid PNG of a grey picture up to the first bytes of its image data: an IDAT chunk that
    claims 2 GiB, the zlib header, and the start of an uncompressed ("stored") block of 65535
    bytes. Zero bytes continue it validly (each scanline's filter type 0, its pixels black)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = struct.pack(">I", 2**31 - 1) + b"IDAT"
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + idat + b"\x78\x01" + stored_block_header()


def stored_block_header(length: int = 65535) -> bytes:
    return b"\x00" + struct.pack("<HH", length, length ^ 0xFFFF)


# One more stored block of black pixels: a stream of them is valid image data that never ends.
STORED_BLOCK = b"\0" * 65535 + stored_block_header()


def body(data: bytes, content_type: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


@dataclass
class Stream:
    """An answer without Content-Length that sends ``head``, then ``piece`` after piece, until
    the client goes away (or ``limit`` bytes), every ``pause`` seconds; counts what it sent."""

    head: bytes
    piece: bytes
    pause: float = 0.0
    limit: int = 2**40
    sent: int = 0

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        stop = threading.Event()
        try:
            handler.wfile.write(self.head)
            self.sent += len(self.head)
            while self.sent < self.limit:
                handler.wfile.write(self.piece)
                handler.wfile.flush()
                self.sent += len(self.piece)
                if self.pause:
                    stop.wait(self.pause)
        except OSError:
            pass  # the copy hung up: what the test wants


def copy(
    url: str, limits: DownloadLimits = LOCAL, present: frozenset[str] = frozenset(), image_id: str = "gen-1"
) -> ImageRecord:
    image = AiutaImage(id=image_id, url=url + "?X-Amz-Signature=secret")
    order = CopyOrder(Kind.ON_FIGURE, on_figure_type("front/standing"), 1, image, RESULT_KEY, 0)
    return copy_one(order, Storage(BUCKET), limits=limits, present=present)


def stored() -> dict[str, Any] | None:
    s3 = boto3.client("s3", region_name=REGION)
    try:
        head = s3.head_object(Bucket=BUCKET, Key=RESULT_KEY)
    except s3.exceptions.ClientError:
        return None
    return {"content_type": head["ContentType"], "size": head["ContentLength"]}


@pytest.mark.usefixtures("pipeline_aws")
class TestCopyingResultLinks:
    def test_an_image_is_stored_with_the_type_its_bytes_show_not_the_servers_claim(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        host = local_host()
        picture = jpeg()
        record = copy(host.route("/a.png", body(picture, "image/svg+xml")))

        assert (record.key, record.error, record.width) == (RESULT_KEY, None, 64)
        assert stored() == {"content_type": "image/jpeg", "size": len(picture)}

    def test_an_svg_with_a_script_is_refused_and_nothing_is_stored(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        # Given a link that serves an SVG with a script, claiming to be a PNG
        host = local_host()
        record = copy(host.route("/a.png", body(SVG, "image/png")))

        # Then nothing is stored next to the gallery, and the reason says what the file was
        assert stored() is None
        assert record.key is None
        assert record.error == (
            "not a decodable image: the file is not a JPEG, PNG or WebP image "
            "(it is SVG or XML text, which can carry scripts); nothing was stored"
        )

    def test_a_large_body_that_is_no_image_stops_at_its_first_bytes(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        # Given a link that would send 64 MiB of bytes that are no image
        host = local_host()
        noise = Stream(head=b"\0" * 1024, piece=b"\0" * 65536, limit=64 * MIB)
        record = copy(host.route("/noise.png", noise))

        # Then the copy refuses it at once, stores nothing, and hung up long before 64 MiB
        assert (record.error or "").startswith("not a decodable image: the file is not a JPEG, PNG or WebP")
        assert stored() is None
        wait_for(lambda: noise.sent > 0)
        assert noise.sent < 64 * MIB

    def test_an_image_larger_than_the_cap_stops_at_the_cap(self, local_host: Callable[[], LocalHost]) -> None:
        # Given a valid PNG stream of a large picture (no Content-Length), and a 1 MiB cap
        host = local_host()
        stream = Stream(head=png_stream_head(8000, 8000), piece=STORED_BLOCK, limit=64 * MIB)
        record = copy(host.route("/big.png", stream), replace(LOCAL, max_bytes=MIB))

        assert record.error == (
            f"could not download: {host.url}/big.png sent more than the 1 MiB an image may have; "
            "the copy stopped there"
        )
        assert stored() is None
        assert stream.sent < 64 * MIB

    def test_a_declared_length_above_the_cap_is_refused_before_reading(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        host = local_host()
        picture = png((800, 800))
        record = copy(host.route("/declared.png", body(picture, "image/png")), replace(LOCAL, max_bytes=1000))

        assert f"announces {len(picture) / MIB:.1f} MiB, more than the" in (record.error or "")
        assert stored() is None

    def test_an_endless_slow_body_stops_at_the_time_limit(self, local_host: Callable[[], LocalHost]) -> None:
        # Given a valid PNG that trickles a few bytes at a time forever (each read well within
        # the read timeout), and one second for the whole image
        host = local_host()
        trickle = Stream(head=png_stream_head(4000, 4000), piece=b"\0" * 16, pause=0.05)
        record = copy(host.route("/slow.png", trickle), replace(LOCAL, max_seconds=1))

        assert "was still sending after 1 s" in (record.error or "")
        assert "an image must arrive within that time" in (record.error or "")
        assert stored() is None

    @pytest.mark.parametrize(
        ("target", "reason"),
        [
            ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata service"),
            ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata service"),
            ("http://10.0.0.7/x.png", "private or reserved address"),
            ("http://0x7f000001:{port}/x.png", None),  # loopback, allowed here: the local stack's setting
            ("http://192.168.1.1/x.png", "private or reserved address"),
            ("file:///etc/passwd", "not a plain http(s) URL"),
        ],
    )
    def test_a_redirect_to_an_internal_address_is_refused_before_connecting(
        self, local_host: Callable[[], LocalHost], target: str, reason: str | None
    ) -> None:
        host = local_host()
        host.route("/x.png", body(png(), "image/png"))
        port = host.url.rsplit(":", 1)[1]
        record = copy(host.route("/r.png", redirect_to(target.format(port=port))))

        if reason is None:
            assert record.error is None and record.key == RESULT_KEY
        else:
            assert reason in (record.error or ""), record.error
            assert "secret" not in (record.error or "")
            assert stored() is None

    def test_a_name_that_resolves_to_a_private_address_is_refused(
        self, local_host: Callable[[], LocalHost], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a public-looking name whose DNS answer is a private address (hand-made: neither
        # moto nor the simulator serves DNS)
        real = socket.getaddrinfo

        def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
            if host == "images.cdn-attacker.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        host = local_host()
        record = copy(host.route("/r.png", redirect_to("http://images.cdn-attacker.example/x.png")))

        assert "refused to connect to images.cdn-attacker.example (10.1.2.3)" in (record.error or "")
        assert stored() is None

    def test_a_name_that_resolves_again_to_loopback_is_caught_at_the_connection(
        self, local_host: Callable[[], LocalHost], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a name that resolves to a public address when checked, then to this machine when
        # connected to (DNS rebinding), and the default limits (loopback not allowed)
        host = local_host()
        target = host.route("/x.png", body(png(), "image/png"))
        port = int(host.url.rsplit(":", 1)[1])
        real = socket.getaddrinfo
        answers = iter(["93.184.215.14"])

        def resolver(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "rebind.example":
                address = next(answers, "127.0.0.1")
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
            return real(name, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        record = copy(target.replace("127.0.0.1", "rebind.example"), DownloadLimits())

        assert "refused to connect to rebind.example (127.0.0.1)" in (record.error or "")
        assert host.seen == []
        assert stored() is None

    def test_an_image_already_copied_from_the_same_aiuta_image_is_not_fetched_again(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        # Given an image copied once (a Lambda that timed out after copying part of a round)
        host = local_host()
        url = host.route("/a.png", body(png(), "image/png"))
        first = copy(url)
        fetched = len(host.seen)

        # When the retried copy finds it at its key, from the same Aiuta image, it records it as is
        again = copy(url, present=frozenset({RESULT_KEY}))
        assert again == first and len(host.seen) == fetched

        # But an object at the key from another Aiuta image is copied over
        other = copy(url, present=frozenset({RESULT_KEY}), image_id="gen-2")
        assert other.key == RESULT_KEY and len(host.seen) == fetched + 1

    def test_without_the_local_stacks_setting_loopback_links_are_refused(
        self, local_host: Callable[[], LocalHost]
    ) -> None:
        host = local_host()
        record = copy(host.route("/x.png", body(png(), "image/png")), DownloadLimits())

        assert "refused to connect to 127.0.0.1: 127.0.0.1 is this machine (loopback)" in (record.error or "")
        assert host.seen == []


# ---------------------------------------------------------------- image_urls a job may name

DANGEROUS_URLS = {
    "cloud metadata": ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata service"),
    "metadata by name": ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata service"),
    "metadata, IPv4 in IPv6": ("http://[::ffff:169.254.169.254]/latest/", "cloud metadata service"),
    "loopback": ("http://127.0.0.1:8080/a.jpg", "this machine (loopback)"),
    "loopback, decimal": ("http://2130706433/a.jpg", "this machine (loopback)"),
    "loopback, IPv6": ("http://[::1]/a.jpg", "this machine (loopback)"),
    "localhost": ("http://localhost/a.jpg", "a name inside a private network or this machine"),
    "private 10/8": ("http://10.0.0.5/a.jpg", "private or reserved address"),
    "private 172.16/12": ("http://172.20.1.1/a.jpg", "private or reserved address"),
    "private 192.168/16": ("https://192.168.1.20/a.jpg", "private or reserved address"),
    "private fc00::/7": ("http://[fd12:3456::1]/a.jpg", "private or reserved address"),
    "link-local": ("http://169.254.10.10/a.jpg", "link-local"),
    "*.internal": ("http://build.corp.internal/a.jpg", "a name inside a private network"),
    "no domain": ("http://fileserver/a.jpg", "has no domain"),
    "credentials": ("https://shop:hunter2@cdn.example.com/a.jpg", "carries a user name or password"),
    "gopher": ("gopher://cdn.example.com/a.jpg", "not an http(s) URL"),
}  # fmt: skip


@pytest.mark.usefixtures("pipeline_aws")
class TestImageUrls:
    @pytest.mark.parametrize(("url", "reason"), list(DANGEROUS_URLS.values()), ids=list(DANGEROUS_URLS))
    def test_ingest_refuses_a_dangerous_image_url_with_the_reason(
        self, studio_sim: Any, url: str, reason: str
    ) -> None:
        # Given a product.json whose image_urls names an internal or dangerous link
        key = "inbox/sku-url/product.json"
        put(key, {"image_urls": ["https://cdn.example.com/front.jpg", url]})

        # When ingest handles its event
        assert ingest(s3_message(key)) == {"batchItemFailures": []}

        # Then the job is FAILED with the reason, nothing started, Aiuta never called
        [record] = product_records("sku-url")
        assert record["status"] == "FAILED"
        assert reason in record["error"], record["error"]
        assert "hunter2" not in record["error"]
        assert executions() == []
        assert studio_sim.admin.calls()["total"] == 0

    def test_a_local_image_host_needs_the_explicit_parameter_and_metadata_never_passes(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given ingest on a stack with AllowPrivateImageUrls (a test's local image host)
        monkeypatch.setenv("ALLOW_PRIVATE_IMAGE_URLS", "true")
        load_handler("ingest", cold_start=True)
        try:
            put("inbox/sku-local/product.json", {"image_urls": ["http://127.0.0.1:8080/front.jpg"]})
            put("inbox/sku-meta/product.json", {"image_urls": ["http://169.254.169.254/latest/"]})

            ingest(s3_message("inbox/sku-local/product.json"), s3_message("inbox/sku-meta/product.json"))
        finally:
            monkeypatch.delenv("ALLOW_PRIVATE_IMAGE_URLS")
            load_handler("ingest", cold_start=True)

        # Then the loopback link starts its job, and the metadata one is still refused
        assert [r["status"] for r in product_records("sku-local")] == ["QUEUED"]
        [meta] = product_records("sku-meta")
        assert meta["status"] == "FAILED" and "cloud metadata service" in meta["error"]
        assert len(executions()) == 1


@pytest.mark.parametrize(("url", "reason"), list(DANGEROUS_URLS.values()), ids=list(DANGEROUS_URLS))
def test_studio_submit_refuses_a_dangerous_image_url_before_uploading(
    tmp_path: Path, url: str, reason: str
) -> None:
    folder = tmp_path / "sku-url"
    folder.mkdir()
    (folder / "product.json").write_text(json.dumps({"image_urls": [url]}))

    with pytest.raises(Refused) as refused:
        plan_folder(folder, None, JobDefaults())

    assert reason in str(refused.value) and "nothing was uploaded" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_studio_submit_refuses_a_catalogue_row_with_a_dangerous_url(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("id,image_urls\nsku-1,https://cdn.example.com/a.jpg\nsku-2,http://169.254.169.254/x\n")

    plan = plan_catalogue(feed, JobDefaults())

    assert list(plan.problems) == [3]
    assert "cloud metadata service" in plan.problems[3]


# ---------------------------------------------------------------- JSON nested 100,000 deep

NESTED = "[" * 100_000


@pytest.mark.usefixtures("pipeline_aws")
@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("inbox/sku-deep/product.json", NESTED),
        ("inbox/sku-deep/product.json", '{"product": ' * 40 + "{}" + "}" * 40),
        # 60,000 [ (a request is read up to 64 KiB: the 100,000 is refused for its size)
        ("regenerate/sku-deep/r1.json", "[" * 60_000),
    ],
    ids=["product.json of 100,000 [", "product.json 41 objects deep", "regeneration request"],
)
def test_json_nested_too_deeply_is_bad_input_not_a_bug(studio_sim: Any, key: str, body: str) -> None:
    if key.startswith("regenerate/"):
        finished_job("sku-deep")
    put(key, body)

    assert ingest(s3_message(key)) == {"batchItemFailures": []}

    [record] = [r for r in product_records("sku-deep") if r["job_id"] != "sku-deep-done"]
    assert record["status"] == "FAILED"
    assert f"{key.removeprefix('inbox/')} is nested too deeply (more than 32 levels" in record["error"]
    assert "bug" not in record["error"]
    assert executions() == []


def test_a_catalogue_line_nested_too_deeply_fails_alone() -> None:
    rows = parse_catalogue(
        (
            NESTED + "\n" + '{"product": {"id": "sku-1"}, "image_urls": ["https://cdn.example.com/a.jpg"]}\n'
        ).encode(),
        "feed.jsonl",
    )

    assert [(row.line, row.product_id, row.problem) for row in rows] == [
        (1, None, "line 1: the JSON is nested too deeply (more than 32 levels of [ or {)"),
        (2, "sku-1", None),
    ]


# ---------------------------------------------------------------- a replayed "Copy results"


def run_step(function: str, state: dict[str, Any]) -> dict[str, Any]:
    handler = load_handler(function).lambda_handler
    return handler(json.loads(json.dumps(state)), FakeLambdaContext(function))


@pytest.mark.usefixtures("pipeline_aws")
def test_a_replayed_copy_after_deleting_at_aiuta_leaves_the_job_as_it_ended(studio_sim: Any) -> None:
    # Given a job that deletes its images at Aiuta once they are copied, copied once
    state = run_step("submit", queued_job(number_of_generations=2, delete_at_aiuta_after_copy=True))
    studio_sim.admin.advance(120)
    ready = run_step("check_status", state)
    first = run_step("finalize", ready)
    ended = job_record(ready["job_id"])
    assert first["status"] == "SUCCEEDED" and ended["deleted_at_aiuta"] is True
    calls_before = studio_sim.admin.calls()["calls"]

    # When Step Functions replays "Copy results" with the same input (the images are gone at Aiuta)
    again = run_step("finalize", ready)

    # Then the job is still SUCCEEDED with the same images, keys and sizes, and no error
    assert again["status"] == "SUCCEEDED"
    replayed = job_record(ready["job_id"])
    assert replayed["status"] == "SUCCEEDED" and replayed.get("error") is None
    assert replayed["images"] == ended["images"]
    assert all(image["key"] for image in replayed["images"])
    assert replayed["finished_at"] == ended["finished_at"]
    # And nothing was fetched or deleted again: the images were found in the bucket
    calls_after = studio_sim.admin.calls()["calls"]
    again_calls = {route: n - calls_before.get(route, 0) for route, n in calls_after.items()}
    assert {route for route, n in again_calls.items() if n and "DELETE" in route} == set()
    assert {route for route, n in again_calls.items() if n and "/files/" in route} == set()


# ---------------------------------------------------------------- the operator's machine

HOSTILE_TEXT = "Shirt\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b2J\u202eevil[link=https://evil.example]x[/link]"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., tuple[int, str]]:
    """``studio ...`` run in this process against the moto stack; returns (exit code, output)."""
    from studio_cli.main import main

    monkeypatch.setenv("STUDIO_BUCKET", BUCKET)
    monkeypatch.setenv("STUDIO_TABLE", JOBS_TABLE)
    monkeypatch.setenv("STUDIO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STUDIO_STACK", raising=False)

    def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def hostile_job() -> str:
    """A SUCCEEDED job whose title, error texts and ids from Aiuta carry terminal escapes, with
    planted keys in its outbox folder that point outside any download directory."""
    job_id = "sku-hostile-1"
    spec = build_job(
        "sku-hostile",
        {"product": {"title": HOSTILE_TEXT}, "image_urls": ["https://cdn.example.com/x.jpg"]},
        image_count=0,
        defaults=JobDefaults(),
    )
    jobs = JobsTable(JOBS_TABLE)
    jobs.create_queued(
        job_id=job_id,
        product_id="sku-hostile",
        spec=spec,
        request_kind=RequestKind.FOLDER,
        source_key="inbox/sku-hostile/product.json",
        execution_name=job_id,
    )
    operation = OperationRef(
        kind=Kind.ON_FIGURE, operation_id="op\x1b[2J-1", status="FAILED", error=f"Aiuta says {HOSTILE_TEXT}"
    )
    jobs.record_ending(
        job_id,
        Ending(StepStatus.PARTIAL, f"the operation failed: {HOSTILE_TEXT}"),
        finished_at="2026-12-01T10:00:00+00:00",
        operations=[operation],
        result_key=f"outbox/sku-hostile/{job_id}/result.json",
    )
    s3 = boto3.client("s3", region_name=REGION)
    prefix = f"outbox/sku-hostile/{job_id}/"
    for key in (
        f"{prefix}result.json",
        f"{prefix}on_figure/front-standing-v1.png",
        f"{prefix}../../x",
        f"{prefix}..//escaped.txt",
        f"{prefix}//tmp/studio-hostile-absolute.txt",
        f"{prefix}inputs/../../../y",
        f"{prefix}a\x1b[2Jb.png",
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    return job_id


def assert_printable(output: str) -> None:
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "]8;", "pwned\x07"):
        assert bad not in output, f"{bad!r} reached the terminal: {output!r}"


@pytest.mark.usefixtures("pipeline_aws")
class TestOperatorsMachine:
    def test_status_watch_and_results_print_no_terminal_escapes(
        self, cli: Callable[..., tuple[int, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        job_id = hostile_job()

        for args in (
            ("status", job_id),
            ("status",),
            ("status", "--product", "sku-hostile"),
            ("watch", job_id, "--timeout", "5"),
            ("results", job_id, "--download", str(tmp_path / "out")),
        ):
            code, output = cli(capsys, *args)
            assert code in (0, 1), (args, output)
            assert_printable(output)
            assert "Shirt" in output or args[0] != "status" or len(args) > 2

    def test_a_download_never_writes_outside_its_directory(
        self, cli: Callable[..., tuple[int, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        job_id = hostile_job()
        target = tmp_path / "deep" / "out"
        target.mkdir(parents=True)
        before = {p for p in tmp_path.rglob("*")}

        _, output = cli(capsys, "results", job_id, "--download", str(target))

        # Then only the two honest files are written, under DIR/<job-id>/, and each other key is named
        written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
        assert written <= set((target / job_id).rglob("*")) | {target / job_id / "index.html"}
        assert (target / job_id / "on_figure" / "front-standing-v1.png").is_file()
        assert not Path("/tmp/studio-hostile-absolute.txt").exists()
        assert not (tmp_path / "deep" / "x").exists() and not (tmp_path / "y").exists()
        assert output.count("skipped") == 5
        assert "not a plain path inside" in output
        assert_printable(output)

    def test_keys_that_leave_the_directory_are_refused_however_spelled(self, tmp_path: Path) -> None:
        directory = tmp_path / "job"
        assert (
            local_path(directory, "on_figure/front-standing-v1.png")
            == directory / "on_figure/front-standing-v1.png"
        )
        for key in (
            "../x",
            "a/../../x",
            "/etc/passwd",
            "/",
            "a//b",
            "./a",
            "a\\..\\x",
            "a\x00b",
            "a/\x1b[2J",
        ):
            assert local_path(directory, key) is None, key


def test_printable_removes_escape_sequences_and_control_characters() -> None:
    assert printable("Linen shirt, 100 % (white)") == "Linen shirt, 100 % (white)"
    assert printable("a\x1b]0;title\x07b\x1b]8;;https://evil\x1b\\c") == "abc"
    assert printable("a\x1b[2Jb\x1b[31mc\x9b2Kd") == "abcd"
    assert printable("line 1\nline 2\ttab") == "line 1 line 2 tab"
    assert printable("a\x00b\x7fc\u202ed") == "a\ufffdb\ufffdc\ufffdd"
