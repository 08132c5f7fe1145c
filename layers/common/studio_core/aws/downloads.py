"""Fetching Aiuta's result links, bounded: where a copy may connect, how much and how long it reads.

A link comes from an answer over the internet, so the fetch trusts none of it:

- every connection (the link's host and every redirect's) is checked twice, once on the resolved
  addresses before connecting and once on the address actually connected to (a name that
  resolves differently the second time changes nothing): metadata services, link-local, private
  and reserved addresses are refused, loopback too unless ``DownloadLimits.allow_loopback`` (the
  local stack's simulator serves its images from 127.0.0.1);
- a few redirects at most, no proxy or ``.netrc`` from the environment, no compressed transfer
  (an image is already compressed; inflating a stream is a way to exhaust memory);
- at most ``max_bytes`` are read (a declared ``Content-Length`` above it is refused at once),
  and the whole image, from the first connection to the last byte, within ``max_seconds``: a
  body that trickles forever stops there, not at the Lambda's timeout.

What the bytes are is the caller's check (``domain.image_check``); a failed fetch raises
``DownloadFailed`` with a sentence, the link's query string (a signature) left out.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio_core.domain.urls import address_problem, literal_address

if TYPE_CHECKING:  # only finalize downloads: ingest and record failure never load requests
    import requests

MIB = 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 256 * 1024
CONNECT_TIMEOUT_SECONDS = 3.05
READ_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DownloadLimits:
    """How far one image's fetch may go (template parameters ``ResultImageMaxMegabytes``,
    ``ResultImageCopySeconds``, ``AllowLoopbackUrls``)."""

    max_bytes: int = 40 * MIB
    max_seconds: float = 120.0
    max_redirects: int = 3
    allow_loopback: bool = False


class DownloadFailed(Exception):
    """A generated image could not be fetched from its link, or was refused on the way."""


class AddressRefused(DownloadFailed):
    """The link (or a redirect) leads to an address the copy may not reach."""


@dataclass
class Download:
    """An answered download: its bytes as they arrive, bounded (read them once)."""

    chunks: Iterator[bytes]
    declared_bytes: int | None


def download_session(connections: int, limits: DownloadLimits | None = None) -> requests.Session:
    """A session for ``connections`` downloads at once, each keeping its connection between
    images, that connects only where ``limits`` allow."""
    import requests

    limits = limits or DownloadLimits()
    session = requests.Session()
    session.trust_env = False  # no proxy, no .netrc credentials from the environment
    session.max_redirects = limits.max_redirects
    session.headers["Accept-Encoding"] = "identity"
    adapter = _guarded_adapter(limits.allow_loopback)(pool_connections=connections, pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@contextlib.contextmanager
def open_download(
    url: str, session: requests.Session | None = None, limits: DownloadLimits | None = None
) -> Iterator[Download]:
    """Starts downloading ``url``; raises ``DownloadFailed`` (here or from ``chunks``) if it cannot."""
    import requests

    limits = limits or DownloadLimits()
    deadline = time.monotonic() + limits.max_seconds
    where = _without_query(url)
    own = session is None
    http = session if session is not None else download_session(1, limits)
    read_timeout = min(READ_TIMEOUT_SECONDS, limits.max_seconds)
    try:
        try:
            response = http.get(url, stream=True, timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout))
        except AddressRefused as exc:
            raise AddressRefused(f"{exc} (fetching {where})") from None
        except requests.TooManyRedirects:
            raise DownloadFailed(f"more than {limits.max_redirects} redirects from {where}") from None
        except requests.RequestException as exc:
            raise DownloadFailed(f"{_transport_problem(exc)} while fetching {where}") from None
        with response:
            if response.status_code != 200:
                raise DownloadFailed(f"HTTP {response.status_code} from {where}")
            declared = _declared_length(response)
            if declared is not None and declared > limits.max_bytes:
                raise DownloadFailed(
                    f"{where} announces {declared / MIB:.1f} MiB, more than the "
                    f"{limits.max_bytes / MIB:g} MiB an image may have"
                )
            yield Download(_bounded_chunks(response, where, limits, deadline), declared)
    finally:
        if own:
            http.close()


def _bounded_chunks(
    response: requests.Response, where: str, limits: DownloadLimits, deadline: float
) -> Iterator[bytes]:
    """The body as it arrives, stopped at ``max_bytes`` and at the deadline.

    ``read1`` returns whatever has arrived (up to a chunk), so a slow body is checked against the
    deadline between its pieces; a body that sends nothing stops at the read timeout.
    """
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    received = 0
    while True:
        if time.monotonic() > deadline:
            raise DownloadFailed(
                f"{where} was still sending after {limits.max_seconds:g} s "
                f"({received / MIB:.1f} MiB in); an image must arrive within that time"
            )
        try:
            chunk = response.raw.read1(DOWNLOAD_CHUNK_BYTES, decode_content=False)
        except (Urllib3Error, requests.RequestException, OSError) as exc:
            raise DownloadFailed(f"{_transport_problem(exc)} while fetching {where}") from None
        if not chunk:
            return
        received += len(chunk)
        if received > limits.max_bytes:
            raise DownloadFailed(
                f"{where} sent more than the {limits.max_bytes / MIB:g} MiB an image may have; "
                "the copy stopped there"
            )
        yield chunk


def _declared_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _transport_problem(exc: BaseException) -> str:
    """What went wrong on the wire, in words."""
    import requests
    from urllib3.exceptions import IncompleteRead, ProtocolError

    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return "the connection timed out"
    if isinstance(exc, IncompleteRead | ProtocolError) or "IncompleteRead" in text:
        return "the connection closed before the whole file had arrived"
    if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.InvalidURL):
        return "a link or redirect that is not a plain http(s) URL"
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed"
    return f"the transfer failed ({type(exc).__name__})"


def _without_query(url: str) -> str:
    # Presigned or signed URLs carry credentials in the query string: keep them out of messages.
    return url.split("?", 1)[0]


# ---------------------------------------------------------------- where a copy may connect


def refused_address(host: str, port: int, *, allow_loopback: bool) -> str | None:
    """Why ``host`` may not be connected to (every address it resolves to is judged), or None."""
    literal = literal_address(host)
    if literal is not None:
        addresses = {literal}
    else:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return None  # the connection itself then fails, and says so
        addresses = {_address(str(info[4][0])) for info in found}
    for address in sorted(addresses, key=str):
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            shown = host if literal is not None else f"{host} ({address})"
            return f"refused to connect to {shown}: {problem}"
    return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.cache
def _guarded_adapter(allow_loopback: bool) -> Any:
    """An ``HTTPAdapter`` whose connections check their addresses (built on first use: only
    finalize loads requests)."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class _Checked:
        host: str
        port: int

        def _new_conn(self) -> socket.socket:
            problem = refused_address(self.host, self.port, allow_loopback=allow_loopback)
            if problem:
                raise AddressRefused(problem)
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            peer = _address(sock.getpeername()[0])
            problem = address_problem(peer, allow_loopback=allow_loopback)
            if problem:
                sock.close()
                raise AddressRefused(f"refused to connect to {self.host} ({peer}): {problem}")
            return sock

    class CheckedHTTPConnection(_Checked, HTTPConnection):
        pass

    class CheckedHTTPSConnection(_Checked, HTTPSConnection):
        pass

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    class CheckedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}

    return CheckedAdapter
