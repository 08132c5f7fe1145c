"""Which URLs and addresses the pipeline may send a key to, hand to Aiuta, or fetch from.

Pure rules, no DNS: ``image_url_problem`` judges a job's ``image_urls`` by what the URL itself
says (scheme, credentials, a literal address, an obviously internal host name); the copy of
Aiuta's results (``aws.downloads``) resolves each host and judges every address it would connect
to with ``address_problem``. ``api_url_problem`` keeps the Aiuta key on https (or on this
machine, for the local stack's simulator).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: the credentials of the machine that fetches them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
# Names that only ever mean something inside a private network or this machine.
INTERNAL_NAMES = frozenset({"localhost", "metadata", "instance-data"})
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".lan", ".intranet")
SCHEMES = ("http", "https")


def literal_address(host: str) -> IpAddress | None:
    """``host`` as the address a resolver would read it as, when it is one (``127.1``, ``0x7f000001``,
    ``2130706433`` and ``[::ffff:127.0.0.1]`` included), else None. No DNS."""
    host = host.strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            # The resolver's own reading of short, hex and octal IPv4 forms; it accepts no names.
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_problem(
    address: IpAddress, *, allow_loopback: bool = False, allow_private: bool = False
) -> str | None:
    """Why connecting to ``address`` is refused, or None for a public address.

    Metadata services and link-local addresses are refused whatever is allowed; ``allow_loopback``
    lets in this machine (the local stack's simulator), ``allow_private`` also private networks.
    """
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata service (it hands out the machine's credentials)"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_loopback:
        return None if allow_loopback or allow_private else f"{address} is this machine (loopback)"
    if address.is_unspecified:
        return f"{address} is the unspecified address (this machine)"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if not address.is_global:
        return None if allow_private else f"{address} is a private or reserved address, not the internet"
    return None


def host_problem(host: str, *, allow_private: bool = False) -> str | None:
    """Why ``host`` is refused judging by its spelling alone (no DNS), or None."""
    if not host:
        return "it names no host"
    address = literal_address(host)
    if address is not None:
        return address_problem(address, allow_private=allow_private)
    name = host.rstrip(".").lower()
    if name in ("metadata.google.internal", "metadata.goog"):
        return f"{host} is a cloud metadata service (it hands out the machine's credentials)"
    if allow_private:
        return None
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
        return f"{host} is a name inside a private network or this machine, not on the internet"
    if "." not in name:
        return f"{host} has no domain (like 'cdn.example.com'), so it names a machine on a private network"
    return None


def image_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why a job's image URL is refused, or None: Aiuta fetches it and the gallery shows it to
    every viewer, so it must be a plain http(s) link to a public host, without credentials.

    ``allow_private`` (template parameter ``AllowPrivateImageUrls``, for a test's local image
    host) lets in loopback and private networks; metadata and link-local addresses never.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme.lower() not in SCHEMES:
        scheme = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        return f"it has {scheme}; only http:// and https:// links can be fetched"
    if parts.username is not None or parts.password is not None:
        return (
            "it carries a user name or password (user:pass@host), which Aiuta and every viewer of "
            "the gallery would see: use a link that needs none, such as a presigned URL"
        )
    del port  # read only to refuse a malformed port
    return host_problem(_host(parts), allow_private=allow_private)


def shown_url(url: str, limit: int = 100) -> str:
    """``url`` as a message may show it: no user name, password or query (a signature)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url.split("?", 1)[0].rpartition("@")[2][:limit]
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    text = f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url.split("?", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def api_url_problem(url: str, *, allow_loopback_http: bool = False) -> str | None:
    """Why the Aiuta key may not be sent to ``url``, or None: https only, or http on this
    machine's loopback when ``allow_loopback_http`` (the local stack's simulator)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.username is not None or parts.password is not None:
        return "the Aiuta API URL must not carry a user name or password"
    host = _host(parts)
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host:
        address = literal_address(host)
        loopback = host.lower().rstrip(".") == "localhost" or (address is not None and address.is_loopback)
        if loopback and allow_loopback_http:
            return None
        if loopback:
            return (
                f"{url} is plain http on this machine: only the local stack may use it "
                "(its AllowLoopbackUrls parameter)"
            )
    return f"{url} is not an https URL: the API key must never travel unencrypted"


def _host(parts: SplitResult) -> str:
    # ``hostname`` lower-cases and drops the brackets of an IPv6 literal.
    return parts.hostname or ""
