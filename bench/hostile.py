"""Hostile and careless inputs (issue #16), each against the shipped code on the local stack.

```sh
.venv/bin/python bench/hostile.py            # about 40 s; figures in bench/results/hostile.json
```

One local stack (``studio_local``: moto, the simulator, the template's Lambdas) and a few small
HTTP servers that answer what an attacker's or a broken host would. Each case runs the code path
a user's input takes (the Aiuta client, finalize's copy into the stack's bucket, ingest through
the inbox and its queue, the "Copy results" Lambda, the ``studio`` CLI) and is reported as

- ``refused``: the input was turned away with a reason, nothing stored or sent on;
- ``bounded``: a copy started and stopped at its limit (size, time), nothing stored;
- ``recovered``: the pipeline met the input and ended as it should (a replayed copy);
- ``FAILED``: the case went through (a bug): the bench exits 1.

with the operations it cost at Aiuta (the simulator's creates; a refused input costs 0). Last
line: ``hostile: cases=<n> refused=<n> bounded=<n> recovered=<n> failed=<n> creates=<n> seconds=<s>``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT / "tools")]

from PIL import Image  # noqa: E402

from studio_core.aiuta.answers import AiutaImage  # noqa: E402
from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy  # noqa: E402
from studio_core.aws.downloads import MIB, DownloadLimits  # noqa: E402
from studio_core.aws.jobs_table import JobsTable  # noqa: E402
from studio_core.aws.storage import Storage  # noqa: E402
from studio_core.domain.errors import AiutaError  # noqa: E402
from studio_core.domain.image_check import PNG_SIGNATURE  # noqa: E402
from studio_core.domain.outcome import Ending  # noqa: E402
from studio_core.domain.state import StepStatus  # noqa: E402
from studio_core.domain.vocabulary import Kind, on_figure_type  # noqa: E402
from studio_core.steps.finalize import CopyOrder, copy_one  # noqa: E402
from studio_local import LocalStudio  # noqa: E402
from studio_sim.settings import SimSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "hostile.json"
API_KEY = "sk-hostile-bench-key"
METADATA = "169.254.169.254"
# Where a planted key with a doubled slash would land if the download trusted it.
ABSOLUTE = Path(tempfile.gettempdir()) / "hostile-bench-absolute"


@dataclass
class Outcome:
    case: str
    outcome: str  # refused | bounded | recovered | FAILED
    creates: int
    detail: str


# ---------------------------------------------------------------- small hostile hosts


class Host:
    """A local HTTP server answering per path with a function; records what reached it."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.seen: list[dict[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host.seen.append({k.lower(): v for k, v in self.headers.items()})
                answer = host.routes.get(self.path.split("?", 1)[0])
                if answer is None:
                    self.send_error(404)
                else:
                    answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def route(self, path: str, answer: Callable[[BaseHTTPRequestHandler], None]) -> str:
        self.routes[path] = answer
        return self.url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


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
    """``head``, then ``piece`` after piece (every ``pause`` s) until the client hangs up or
    ``limit`` bytes are out; no Content-Length. ``sent`` counts the bytes written."""

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
        wait = threading.Event()
        with contextlib.suppress(OSError):
            handler.wfile.write(self.head)
            self.sent += len(self.head)
            while self.sent < self.limit:
                handler.wfile.write(self.piece)
                self.sent += len(self.piece)
                if self.pause:
                    wait.wait(self.pause)


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def endless_png_head(width: int, height: int) -> bytes:
    """A valid grey PNG up to its image data, which continues validly with zero bytes forever
    (an IDAT that claims 2 GiB, uncompressed deflate blocks)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return PNG_SIGNATURE + chunk + struct.pack(">I", 2**31 - 1) + b"IDAT" + b"\x78\x01" + STORED


STORED = b"\x00" + struct.pack("<HH", 65535, 0)  # a stored deflate block of 65,535 bytes follows
BLOCK = b"\0" * 65535 + STORED
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/steal?c="+document.cookie)</script></svg>'


def short(error: str, limit: int = 100) -> str:
    """The part of an error that says what happened."""
    error = error.removeprefix("could not download: ")
    if "the job is invalid: " in error:
        error = error.split("the job is invalid: ", 1)[1]
    return error if len(error) <= limit else error[: limit - 1] + "…"


# ---------------------------------------------------------------- the cases


class Bench:
    def __init__(self, studio: LocalStudio) -> None:
        self.studio = studio
        self.storage = Storage(studio.bucket, studio.client("s3"))
        self.jobs = JobsTable(studio.jobs_table, _dynamodb(studio))
        self.hosts: list[Host] = []
        self.results: list[Outcome] = []

    def host(self) -> Host:
        created = Host()
        self.hosts.append(created)
        return created

    def creates(self) -> int:
        calls = self.studio.simulator_admin.calls()["calls"]
        return sum(n for route, n in calls.items() if route.startswith("POST") and "operations" in route)

    def case(self, name: str, run: Callable[[], tuple[str, str]]) -> None:
        before = self.creates()
        started = time.monotonic()
        try:
            outcome, detail = run()
        except Exception as exc:
            outcome, detail = "FAILED", f"{type(exc).__name__}: {exc}"
        spent = self.creates() - before
        self.results.append(Outcome(name, outcome, spent, f"{detail} ({time.monotonic() - started:.1f} s)"))
        print(f"  {name:<28} {outcome:<9} creates={spent}  {detail}", flush=True)

    # The Aiuta key

    def api_redirect(self) -> tuple[str, str]:
        api, elsewhere = self.host(), self.host()
        catcher = elsewhere.route("/steal", body(b"[]", "application/json"))
        api.route("/studio/v1/on_figure_model_presets", redirect(catcher))
        client = AiutaStudioClient(API_KEY, f"{api.url}/studio/v1", retry=RetryPolicy(attempts=0))
        try:
            client.list_model_presets()
        except AiutaError as exc:
            leaked = any(API_KEY in json.dumps(seen) for seen in elsewhere.seen)
            return ("FAILED" if leaked else "refused"), short(str(exc))
        return "FAILED", "the redirect was followed"

    def api_over_http(self) -> tuple[str, str]:
        from studio_core.settings import AiutaSettings, from_env

        environ = {"AIUTA_API_KEY_SECRET": "s", "AIUTA_API_URL": "http://api.aiuta.com/studio/v1"}
        try:
            from_env(AiutaSettings, environ)
        except RuntimeError as exc:
            return "refused", short(str(exc).removeprefix("invalid settings in the environment: "))
        return "FAILED", "a function would send the key over plain http"

    # Copying result links (finalize's copy into the stack's bucket)

    def copy(self, url: str, limits: DownloadLimits, key: str) -> tuple[str | None, str | None]:
        image = AiutaImage(id="gen-hostile", url=url)
        order = CopyOrder(Kind.ON_FIGURE, on_figure_type("front/standing"), 1, image, key, 0)
        record = copy_one(order, self.storage, limits=limits)
        stored = key if self.storage.exists(key) else None
        return stored, record.error

    def copy_case(
        self,
        name: str,
        answer: Callable[[BaseHTTPRequestHandler], None],
        limits: DownloadLimits,
        expected: str,
    ) -> Callable[[], tuple[str, str]]:
        def run() -> tuple[str, str]:
            url = self.host().route("/image.png", answer)
            stored, error = self.copy(url, limits, f"outbox/hostile/{name}/image.png")
            sent = f"; the host sent {answer.sent / MIB:.1f} MiB" if isinstance(answer, Stream) else ""
            if stored or not error:
                return "FAILED", f"stored {stored}"
            return expected, short(error) + sent

        return run

    def rebinding(self) -> tuple[str, str]:
        host = self.host()
        port = int(host.url.rsplit(":", 1)[1])
        host.route("/x.png", body(png(), "image/png"))
        real, answers = socket.getaddrinfo, iter(["93.184.215.14"])

        def resolver(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "rebind.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "127.0.0.1"), port))]
            return real(name, *args, **kwargs)

        socket.getaddrinfo = resolver  # type: ignore[assignment]  # a hostile DNS: nothing else can
        try:
            url = f"http://rebind.example:{port}/x.png"
            stored, error = self.copy(url, DownloadLimits(), "outbox/hostile/rebind/image.png")
        finally:
            socket.getaddrinfo = real  # type: ignore[assignment]
        if stored or host.seen:
            return "FAILED", "the request reached the loopback host"
        return "refused", short(error or "")

    # Ingest through the inbox

    def ingest_refuses(self, product_id: str, document: str, expected: str) -> Callable[[], tuple[str, str]]:
        def run() -> tuple[str, str]:
            self.studio.client("s3").put_object(
                Bucket=self.studio.bucket, Key=f"inbox/{product_id}/product.json", Body=document.encode()
            )
            record = self.wait_for_record(product_id)
            if record is None or record.status.value != "FAILED" or expected not in (record.error or ""):
                return "FAILED", f"{record and record.status.value}: {record and record.error}"
            return "refused", short(record.error)

        return run

    def wait_for_record(self, product_id: str, terminal: bool = True, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = self.jobs.for_product(product_id)
            if records and (not terminal or records[-1].status.is_terminal):
                return records[-1]
            time.sleep(0.2)
        return None

    def put(self, key: str, body: bytes) -> None:
        self.studio.client("s3").put_object(Bucket=self.studio.bucket, Key=key, Body=body)

    def padded_photo(self) -> tuple[str, str]:
        product_id = "hostile-padded"
        self.put(f"inbox/{product_id}/front.png", png((320, 400)) + b"\0" * (26 * MIB))
        self.put(f"inbox/{product_id}/product.json", b"{}")
        record = self.wait_for_record(product_id)
        if record is None or "more than the 25 MiB accepted" not in (record.error or ""):
            return "FAILED", f"{record and record.status.value}: {record and record.error}"
        return "refused", short(record.error)

    def many_files(self, files: int) -> tuple[str, str]:
        """``files`` photos in one folder, their events all delivered; meanwhile another product's
        product.json must start at once, not behind the folder's checks."""
        photo = png((320, 400))
        started = time.monotonic()
        with contextlib.suppress(Exception):
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: self.put(f"inbox/hostile-flood/p{i:05d}.png", photo), range(files)))
        self.put("inbox/hostile-calm/front.png", png((320, 400)))
        calm_dropped = time.monotonic()
        self.put("inbox/hostile-calm/product.json", b"{}")
        calm = self.wait_for_record("hostile-calm", terminal=False)
        calm_seconds = time.monotonic() - calm_dropped
        flood = self.wait_for_record("hostile-flood", timeout=60)
        if calm is None or flood is None or "more than 100 files" not in (flood.error or ""):
            return "FAILED", f"calm: {calm and calm.status.value}; flood: {flood and flood.error}"
        return (
            "refused",
            f"{files} files uploaded in {calm_dropped - started:.0f} s; the folder refused "
            f"({short(flood.error, 60)}); another product recorded {calm_seconds:.1f} s after its drop",
        )

    def jsonl_line(self) -> tuple[str, str]:
        good = json.dumps(
            {"product": {"id": "hostile-jsonl-ok"}, "image_urls": ["https://cdn.example.com/a.jpg"]}
        )
        self.put("inbox/hostile-lines.jsonl", (good + "\n{oops\n").encode())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                report = json.loads(
                    self.studio.client("s3")
                    .get_object(
                        Bucket=self.studio.bucket, Key="inbox/hostile-lines.jsonl.report/checked.json"
                    )["Body"]
                    .read()
                )
                outcomes = {row["row"]: row for row in report["rows"]}
                if (
                    outcomes.get(1, {}).get("outcome") == "new"
                    and outcomes.get(2, {}).get("outcome") == "rejected"
                ):
                    return "refused", f"line 1 runs; {short(outcomes[2]['reason'], 60)}"
                return "FAILED", json.dumps(report["quote"])
            time.sleep(0.5)
        return "FAILED", "the catalogue was not checked"

    # A replayed "Copy results"

    def replayed_copy(self) -> tuple[str, str]:
        product_id = "hostile-replay"
        s3 = self.studio.client("s3")
        manifest = {"delete_at_aiuta_after_copy": True, "number_of_generations": 2}
        s3.put_object(Bucket=self.studio.bucket, Key=f"inbox/{product_id}/front.png", Body=png((320, 400)))
        s3.put_object(
            Bucket=self.studio.bucket,
            Key=f"inbox/{product_id}/product.json",
            Body=json.dumps(manifest).encode(),
        )
        listed = self.wait_for_record(product_id, timeout=60)
        # The product's list of jobs leaves their images out: read the job itself, images and all.
        record = self.jobs.get(listed.job_id) if listed is not None else None
        if record is None or record.status.value != "SUCCEEDED" or not record.deleted_at_aiuta:
            return "FAILED", f"the job did not succeed: {record and record.status}"
        keys = sorted(i.key or "" for i in record.images)
        sfn = self.studio.client("stepfunctions")
        executions = self.studio.state_machine_arn.replace(":stateMachine:", ":execution:")
        arn = f"{executions}:{record.execution_name}"
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [
            e["stateEnteredEventDetails"]
            for e in history
            if e.get("stateEnteredEventDetails", {}).get("name") == "Copy results to S3"
        ]
        payload = entered[-1]["input"]
        answer = self.studio.client("lambda").invoke(
            FunctionName=self.studio.stack.physical_id("FinalizeFunction"), Payload=payload.encode()
        )
        replay = json.loads(answer["Payload"].read())
        after = self.jobs.get(record.job_id)
        same = after is not None and sorted(i.key or "" for i in after.images) == keys
        if (
            after is None
            or after.status.value != "SUCCEEDED"
            or not same
            or replay.get("status") != "SUCCEEDED"
        ):
            now = sorted(i.key or "" for i in after.images) if after is not None else []
            return "FAILED", (
                f"after the replay: {after and after.status.value}, {after and after.error}; the replay "
                f"answered {replay.get('status')}; keys before {keys}, after {now}"
            )
        return "recovered", f"replayed after deleting at Aiuta: still SUCCEEDED, the same {len(keys)} keys"

    # The operator's machine

    def cli(self, *args: str) -> tuple[int, str]:
        from studio_cli.main import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue() + err.getvalue()

    def planted_job(self) -> str:
        """A PARTIAL job whose title and errors carry terminal escapes, with planted keys."""
        from studio_core.domain.jobs import JobDefaults, build_job
        from studio_core.domain.record import RequestKind

        hostile = "Shirt\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202e[link=https://evil.example]x[/link]"
        job_id, product_id = "hostile-cli-1", "hostile-cli"
        document = {"product": {"title": hostile}, "image_urls": ["https://cdn.example.com/x.jpg"]}
        spec = build_job(product_id, document, image_count=0, defaults=JobDefaults())
        self.jobs.create_queued(
            job_id=job_id,
            product_id=product_id,
            spec=spec,
            request_kind=RequestKind.FOLDER,
            source_key=f"inbox/{product_id}/product.json",
            execution_name=job_id,
        )
        self.jobs.record_ending(
            job_id,
            Ending(StepStatus.PARTIAL, f"Aiuta says {hostile}"),
            finished_at="2026-12-01T10:00:00+00:00",
            operations=[],
            result_key=f"outbox/{product_id}/{job_id}/result.json",
        )
        prefix = f"outbox/{product_id}/{job_id}/"
        for rest in (
            "result.json",
            "../../x",
            "/" + str(ABSOLUTE),
            "inputs/../../../y",
            "a\x1b[2J.png",
        ):
            self.storage.put_bytes(prefix + rest, b"{}", "application/json")
        return job_id

    def download_outside(self, job_id: str) -> tuple[str, str]:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "a" / "b"
            target.mkdir(parents=True)
            _, output = self.cli("results", job_id, "--download", str(target))
            outside = [p for p in Path(scratch).rglob("*") if p.is_file() and target not in p.parents]
            escaped = outside or ABSOLUTE.exists()
        if escaped:
            return "FAILED", f"written outside: {outside}"
        return "refused", f"{output.count('skipped')} planted keys skipped, nothing written outside DIR"

    def terminal_escapes(self, job_id: str) -> tuple[str, str]:
        reached = []
        for args in (("status", job_id), ("status",), ("watch", job_id, "--timeout", "5")):
            _, output = self.cli(*args)
            reached += [args[0] for bad in ("\x1b", "\x07", "\u202e", "]8;") if bad in output]
        if reached:
            return "FAILED", f"escapes reached the terminal in {sorted(set(reached))}"
        return "refused", "OSC, CSI and bidi controls in title and errors: none printed by status, watch"


def _dynamodb(studio: LocalStudio) -> Any:
    import boto3

    from studio_local.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    return boto3.resource(
        "dynamodb",
        endpoint_url=studio.endpoint_url,
        region_name=studio.region,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )


def run(say: Callable[[str], None] = print, files: int = 2000) -> dict[str, Any]:
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    started = time.monotonic()
    parameters = {
        "PollFirstWaitOnlineSeconds": "1",
        "PollMinWaitSeconds": "1",
        "PollMaxWaitSeconds": "2",
        "InboxQuietSeconds": "1",
    }
    studio = LocalStudio(
        stack_name="studio-hostile",
        parameter_overrides=parameters,
        sim_settings=SimSettings(operation_seconds=1),
        function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"},
        batching_window_seconds=0,
    )
    with studio:
        say(f"local stack up in {time.monotonic() - started:.0f} s")
        saved = dict(os.environ)
        state = tempfile.TemporaryDirectory()
        os.environ.update({**studio.environment(), "STUDIO_STATE_DIR": state.name})
        bench = Bench(studio)
        local = DownloadLimits(allow_loopback=True)  # the hosts here are on 127.0.0.1, like the simulator
        try:
            bench.case("api redirect to other host", bench.api_redirect)
            bench.case("api url over plain http", bench.api_over_http)
            bench.case(
                "result: svg with a script",
                bench.copy_case("svg", body(SVG, "image/png"), local, "refused"),
            )
            bench.case(
                "result: 64 MiB of noise",
                bench.copy_case(
                    "noise", Stream(b"\0" * 1024, b"\0" * 65536, limit=64 * MIB), local, "refused"
                ),
            )
            bench.case(
                "result: 64 MiB valid PNG",
                bench.copy_case(
                    "big", Stream(endless_png_head(8000, 8000), BLOCK, limit=64 * MIB), local, "bounded"
                ),
            )
            bench.case(
                "result: endless trickle",
                bench.copy_case(
                    "trickle",
                    Stream(endless_png_head(4000, 4000), b"\0" * 16, pause=0.05),
                    replace(local, max_seconds=2),
                    "bounded",
                ),
            )
            bench.case(
                "result: redirect to metadata",
                bench.copy_case("meta", redirect(f"http://{METADATA}/latest/meta-data/"), local, "refused"),
            )
            bench.case("result: DNS rebinding", bench.rebinding)
            for name, url, reason in (
                ("metadata", f"http://{METADATA}/latest/meta-data/", "cloud metadata"),
                ("loopback", "http://127.0.0.1:8080/a.jpg", "loopback"),
                ("private", "http://10.0.0.5/a.jpg", "private"),
                ("credentials", "https://shop:hunter2@cdn.example.com/a.jpg", "user name or password"),
            ):
                document = json.dumps({"image_urls": [url]})
                bench.case(
                    f"image_urls: {name}", bench.ingest_refuses(f"hostile-url-{name}", document, reason)
                )
            bench.case(
                "product.json 100,000 [",
                bench.ingest_refuses("hostile-nested", "[" * 100_000, "nested too deeply"),
            )
            # 390 KB: the job file's byte limit refuses it before its text is read; 6,000
            # characters fit that limit and meet the description's own.
            description = json.dumps({"product": {"description": "d" * 390_000}})
            bench.case(
                "description of 390 KB",
                bench.ingest_refuses("hostile-long-text", description, "more than the 256 KiB accepted"),
            )
            description = json.dumps({"product": {"description": "d" * 6_000}})
            bench.case(
                "description of 6,000 characters",
                bench.ingest_refuses("hostile-long-description", description, "at most 5000 characters"),
            )
            bench.case("photo padded past 25 MiB", bench.padded_photo)
            bench.case(f"{files:,} files in one folder", lambda: bench.many_files(files))
            bench.case("a JSONL line that is not JSON", bench.jsonl_line)
            bench.case("replayed Copy results", bench.replayed_copy)
            job_id = bench.planted_job()
            bench.case("download outside DIR", lambda: bench.download_outside(job_id))
            bench.case("terminal escapes", lambda: bench.terminal_escapes(job_id))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            state.cleanup()
            for host in bench.hosts:
                host.close()
    outcomes = [asdict(result) for result in bench.results]
    counts = {
        name: sum(1 for r in bench.results if r.outcome == name)
        for name in ("refused", "bounded", "recovered")
    }
    return {
        "cases": outcomes,
        **counts,
        "failed": sum(1 for r in bench.results if r.outcome == "FAILED"),
        "creates": sum(r.creates for r in bench.results),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="photos dropped into one folder")
    figures = run(files=parser.parse_args().files)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    summary = " ".join(
        f"{name}={figures[name]}"
        for name in ("refused", "bounded", "recovered", "failed", "creates", "seconds")
    )
    print(f"hostile: cases={len(figures['cases'])} {summary}")
    return 1 if figures["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
