"""Which URLs the key may go to, which image URLs a job may name, which addresses a copy may reach."""

from __future__ import annotations

import ipaddress

import pytest

from studio_core.domain.urls import (
    address_problem,
    api_url_problem,
    image_url_problem,
    literal_address,
    shown_url,
)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.aiuta.com/studio/v1", True),
        ("http://api.aiuta.com/studio/v1", False),
        ("http://127.0.0.1:8787/studio/v1", True),
        ("http://localhost:8787/studio/v1", True),
        ("http://[::1]:8787/studio/v1", True),
        ("http://127.0.0.1.nip.io/studio/v1", False),
        ("https://user:secret@api.aiuta.com/studio/v1", False),
        ("api.aiuta.com/studio/v1", False),
    ],
)
def test_the_key_goes_over_https_or_to_loopback_when_allowed(url: str, allowed: bool) -> None:
    assert (api_url_problem(url, allow_loopback_http=True) is None) is allowed


def test_loopback_http_needs_the_local_stacks_setting() -> None:
    problem = api_url_problem("http://127.0.0.1:8787/studio/v1")
    assert problem is not None and "AllowLoopbackUrls" in problem
    assert api_url_problem("https://127.0.0.1:8787/studio/v1") is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("[::ffff:169.254.169.254]", "169.254.169.254"),
        ("::1", "::1"),
        ("cdn.example.com", None),
        ("cafe.be", None),
    ],
)
def test_literal_addresses_are_read_as_a_resolver_reads_them(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    ("address", "loopback", "expected"),
    [
        ("93.184.215.14", False, None),
        ("2606:4700::6810:85e5", False, None),
        ("127.0.0.1", False, "loopback"),
        ("127.0.0.1", True, None),
        ("169.254.169.254", True, "metadata"),
        ("fd00:ec2::254", True, "metadata"),
        ("169.254.1.1", True, "link-local"),
        ("fe80::1", True, "link-local"),
        ("10.0.0.5", True, "private"),
        ("172.16.3.4", True, "private"),
        ("192.168.1.1", True, "private"),
        ("fc00::1", True, "private"),
        ("100.64.0.1", True, "private"),
        ("0.0.0.0", True, "unspecified"),  # noqa: S104
    ],
)
def test_a_copy_reaches_only_public_addresses_or_loopback_when_allowed(
    address: str, loopback: bool, expected: str | None
) -> None:
    problem = address_problem(ipaddress.ip_address(address), allow_loopback=loopback)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("url", "refused", "refused_with_private_allowed"),
    [
        ("https://cdn.example.com/a.jpg", False, False),
        ("http://cdn.example.com:8080/a.jpg", False, False),
        ("http://127.0.0.1:9000/a.jpg", True, False),
        ("http://localhost/a.jpg", True, False),
        ("http://10.1.2.3/a.jpg", True, False),
        ("http://169.254.169.254/latest/", True, True),
        ("http://metadata.google.internal/", True, True),
        ("http://169.254.3.3/a.jpg", True, True),
        ("https://u:p@cdn.example.com/a.jpg", True, True),
        ("file:///etc/passwd", True, True),
        ("http://cdn.example.com:99999/a.jpg", True, True),
    ],
)
def test_image_urls_are_judged_by_what_they_say_without_dns(
    url: str, refused: bool, refused_with_private_allowed: bool
) -> None:
    assert (image_url_problem(url) is not None) is refused
    assert (image_url_problem(url, allow_private=True) is not None) is refused_with_private_allowed


def test_a_shown_url_keeps_credentials_and_signatures_out() -> None:
    shown = shown_url("https://shop:hunter2@cdn.example.com:8443/p/a.jpg?X-Amz-Signature=abc")
    assert shown == "https://cdn.example.com:8443/p/a.jpg"
