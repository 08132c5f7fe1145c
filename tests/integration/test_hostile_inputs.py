"""Hostile and careless inputs (issue #16): each case against the shipped code path.

The servers here are small local HTTP servers that answer what an attacker's (or a broken) host
would, and record what reached them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from studio_core.aiuta.client import AiutaStudioClient, RetryPolicy
from studio_core.domain.errors import AiutaError
from studio_core.settings import AiutaSettings, from_env

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
        threading.Thread(target=server.serve_forever, daemon=True).start()
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
