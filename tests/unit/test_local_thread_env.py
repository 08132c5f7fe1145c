"""Per-thread environment overlays: what a thread sees, what it changes, what it passes on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from studio_local import thread_env


@pytest.fixture
def installed() -> Iterator[None]:
    thread_env.install()
    yield
    thread_env.uninstall()


def test_overlay_values_and_hidden_prefixes(installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("KEEP_ME", "kept")
    with thread_env.overlay({"AWS_REGION": "us-east-1"}, ("AWS_",)):
        assert os.environ.get("AWS_REGION") == "us-east-1"
        assert "AWS_PROFILE" not in os.environ
        assert os.getenv("KEEP_ME") == "kept"
        assert "AWS_PROFILE" not in dict(os.environ)
        assert dict(os.environ)["AWS_REGION"] == "us-east-1"
    assert os.environ["AWS_PROFILE"] == "production"
    assert "AWS_REGION" not in os.environ or os.environ["AWS_REGION"] != "us-east-1"


def test_writes_inside_an_overlay_stay_in_it(installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED", "host")
    with thread_env.overlay({}, ()):
        os.environ["SANDBOXED"] = "1"
        del os.environ["SHARED"]
        assert os.environ.get("SANDBOXED") == "1"
        assert "SHARED" not in os.environ
    assert "SANDBOXED" not in os.environ
    assert os.environ["SHARED"] == "host"


def test_threads_started_inside_inherit_and_others_do_not(installed: None) -> None:
    seen: dict[str, str | None] = {}
    inside = threading.Thread(target=lambda: seen.update(child=os.environ.get("ONLY_HERE")))
    with thread_env.overlay({"ONLY_HERE": "yes"}, ()):
        inside.start()
        inside.join()
        outside = threading.Thread(target=lambda: seen.update(other=os.environ.get("ONLY_HERE")))
    outside.start()
    outside.join()
    assert seen == {"child": "yes", "other": None}


def test_install_is_counted_and_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    original = type(os.environ)
    thread_env.install()
    thread_env.install()
    thread_env.uninstall()
    assert type(os.environ) is thread_env.ThreadAwareEnviron
    thread_env.uninstall()
    assert type(os.environ) is original
    monkeypatch.setenv("STILL_WORKS", "1")
    assert os.environ["STILL_WORKS"] == "1"


def test_an_overlay_needs_install() -> None:
    with pytest.raises(RuntimeError, match="install"), thread_env.overlay({}, ()):
        pass
