"""Per-thread environment variables, so an in-process Lambda sees its own ``os.environ``.

A real Lambda has its own process environment. Here handlers share this process with moto's
server, the simulator, the SQS poller and the caller (a test that ``monkeypatch``-es variables
while a Lambda runs in a background thread). Swapping ``os.environ`` for the whole process
would let those threads see the function's variables, and let them change the function's
variables mid-invocation (measured: a test fixture deleting ``AWS_ENDPOINT_URL`` while the
ingest function built its boto3 clients sent them to real AWS).

So ``install()`` gives the existing ``os.environ`` object a subclass (every module holding a
reference keeps working) whose reads and writes go to a thread's *overlay* when it has one:
``overlay(values, hidden_prefixes)`` makes the current thread see ``values`` on top of the
process environment with every variable matching ``hidden_prefixes`` removed. Threads started
by that thread while the overlay is active (a handler's ``ThreadPoolExecutor``) inherit it.
Writes inside an overlay stay in it, as they stay in a Lambda sandbox. Only Python-level reads
are covered: a C library calling ``getenv`` sees the process environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_local = threading.local()
_install_lock = threading.Lock()
_installs = 0
_original_class = type(os.environ)
_original_thread_start = threading.Thread.start
_THREAD_ATTRIBUTE = "_studio_local_overlay"


class Overlay:
    """A thread's view: ``values`` over the process environment minus the hidden variables."""

    def __init__(self, values: Mapping[str, str], hidden_prefixes: tuple[str, ...]) -> None:
        self.values = dict(values)
        self.hidden_prefixes = hidden_prefixes
        self.deleted: set[str] = set()

    def hides(self, key: str) -> bool:
        return key in self.deleted or (key not in self.values and key.startswith(self.hidden_prefixes))


def current_overlay() -> Overlay | None:
    overlay = getattr(_local, "overlay", None)
    if overlay is None:
        overlay = getattr(threading.current_thread(), _THREAD_ATTRIBUTE, None)
    return overlay


class ThreadAwareEnviron(_original_class):  # type: ignore[misc, valid-type]
    """``os.environ`` that answers from the current thread's overlay when it has one."""

    def __getitem__(self, key: str) -> str:
        overlay = current_overlay()
        if overlay is None:
            return super().__getitem__(key)
        if key in overlay.values:
            return overlay.values[key]
        if overlay.hides(key):
            raise KeyError(key)
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        overlay = current_overlay()
        if overlay is None:
            super().__setitem__(key, value)
            return
        if not isinstance(value, str):
            raise TypeError(f"str expected, not {type(value).__name__}")
        overlay.values[key] = value
        overlay.deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        overlay = current_overlay()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay.values.pop(key, None)
        overlay.deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        overlay = current_overlay()
        if overlay is None:
            yield from super().__iter__()
            return
        for key in list(super().__iter__()):
            if key not in overlay.values and not overlay.hides(key):
                yield key
        yield from list(overlay.values)

    def __len__(self) -> int:
        if current_overlay() is None:
            return super().__len__()
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def _start_inheriting(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
    overlay = current_overlay()
    if overlay is not None and getattr(self, _THREAD_ATTRIBUTE, None) is None:
        setattr(self, _THREAD_ATTRIBUTE, overlay)
    _original_thread_start(self, *args, **kwargs)


def install() -> None:
    """Make ``os.environ`` per-thread aware (counted: each ``install`` needs one ``uninstall``)."""
    global _installs
    with _install_lock:
        _installs += 1
        if _installs == 1:
            os.environ.__class__ = ThreadAwareEnviron
            threading.Thread.start = _start_inheriting  # type: ignore[method-assign]


def uninstall() -> None:
    global _installs
    with _install_lock:
        if _installs == 0:
            return
        _installs -= 1
        if _installs == 0:
            os.environ.__class__ = _original_class
            threading.Thread.start = _original_thread_start  # type: ignore[method-assign]


@contextmanager
def overlay(values: Mapping[str, str], hidden_prefixes: tuple[str, ...] = ()) -> Iterator[Overlay]:
    """Within the block, this thread sees ``values`` over the environment minus ``hidden_prefixes``."""
    if type(os.environ) is not ThreadAwareEnviron:
        raise RuntimeError("studio_local.thread_env.install() must be called first")
    previous = getattr(_local, "overlay", None)
    layer = Overlay(values, hidden_prefixes)
    _local.overlay = layer
    try:
        yield layer
    finally:
        _local.overlay = previous
