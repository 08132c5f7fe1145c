"""`studio local up` as a user starts it, for the CLI's end-to-end tests.

The stack runs in a process of its own, started in a fresh directory with the README's command
line (`studio local up &`, default paths: `.local-stack/env` and `.local-stack/local.log`),
and every `studio` command runs as a process of its own with the env file's variables, as a
shell that sourced it would.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

STUDIO = [sys.executable, "-m", "studio_cli.main"]
QUICK = {
    "PollFirstWaitOnlineSeconds": "1",
    "PollFirstWaitOfflineSeconds": "1",
    "PollMinWaitSeconds": "1",
    "PollMaxWaitSeconds": "2",
    "InboxQuietSeconds": "2",
}


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that names AWS or a stack."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STUDIO_", "AIUTA_"))}


@dataclass
class RunningStack:
    directory: Path
    process: subprocess.Popen[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def env_file(self) -> Path:
        return self.directory / ".local-stack" / "env"

    @property
    def log_file(self) -> Path:
        return self.directory / ".local-stack" / "local.log"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def studio(self, *args: str, expect: int | None = 0, timeout: float = 120, **env: str) -> Done:
        return run_studio({**self.env, **env}, *args, cwd=self.directory, expect=expect, timeout=timeout)


@dataclass
class Done:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_studio(
    env: Mapping[str, str], *args: str, cwd: Path | None = None, expect: int | None = 0, timeout: float = 120
) -> Done:
    done = subprocess.run(  # noqa: S603 - our own command line
        [*STUDIO, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    result = Done(args, done.returncode, done.stdout, done.stderr)
    if expect is not None:
        assert done.returncode == expect, (
            f"studio {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    assert "Traceback" not in result.text, result.text
    return result


@contextmanager
def local_stack(
    directory: Path,
    parameters: Mapping[str, str] = QUICK,
    operation_seconds: float = 1,
    args: tuple[str, ...] = (),
) -> Iterator[RunningStack]:
    """`studio local up [args] &` in ``directory`` (no .local-stack/ there yet), until it is ready."""
    command = [
        *STUDIO,
        "local",
        "up",
        *args,
        "--operation-seconds",
        str(operation_seconds),
        "--batching-window",
        "0",
    ]
    for name, value in parameters.items():
        command += ["--parameter", f"{name}={value}"]
    environment = {
        **clean_environment(),
        "STUDIO_STATE_DIR": str(directory / "state"),
        "COLUMNS": "200",
    }
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    stack = RunningStack(directory, process)
    deadline = time.monotonic() + 90
    # Its own env file (an earlier, stale one names another process)
    while f"STUDIO_LOCAL_PID={process.pid}\n" not in (
        stack.env_file.read_text() if stack.env_file.exists() else ""
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"studio local up did not get ready: {output}")
        time.sleep(0.2)
    stack.env = {**environment, **read_env_file(stack.env_file)}
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def stop(stack: RunningStack) -> str:
    """SIGTERM, as Ctrl-C would; returns what `studio local up` printed to its terminal."""
    stack.process.send_signal(signal.SIGTERM)
    output, _ = stack.process.communicate(timeout=60)
    return output
