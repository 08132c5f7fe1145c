"""Waiting for something to happen, with a deadline, instead of sleeping and hoping it did."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, what: str, timeout: float = 10.0, interval: float = 0.02) -> T:
    """``condition()``'s first truthy answer; fails the test if none comes within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; it did not happen")
        time.sleep(interval)


def next_line(stream: IO[str], *, what: str, timeout: float = 60.0) -> str:
    """The next line a process writes to ``stream``; fails the test if none comes within ``timeout``.

    Read in a thread, so a line already buffered by an earlier ``readline`` is found too.
    """
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"waited {timeout:g} s for {what}; nothing came") from None
    assert line, f"the stream closed before {what}"
    return line
