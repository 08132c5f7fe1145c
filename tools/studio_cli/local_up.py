"""``studio local up``: the local stack in the foreground, its noise in a log file.

What a person needs goes to the terminal: where things are, the env file to source, ``ready``
and, at the end, ``stopped``. Everything the stack's parts print (the functions' JSON logs and
metrics, moto's and the simulator's request logs, warnings) goes to the log file, by file
descriptor, so the execution environments (processes of their own) write there too. The env
file is removed on exit, so a stale one never points a shell at a stack that is gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from studio_cli.errors import CliError

DEFAULT_DIRECTORY = Path(".local-stack")
DEFAULT_ENV_FILE = DEFAULT_DIRECTORY / "env"
DEFAULT_LOG_FILE = DEFAULT_DIRECTORY / "local.log"
TO_TERMINAL = "-"


@dataclass
class UpOptions:
    env_file: Path
    log_file: Path | None  # None: everything on the terminal
    port: int = 0
    sim_port: int = 0
    parameters: dict[str, str] | None = None
    operation_seconds: float = 4.0
    batching_window_seconds: float | None = None


@contextlib.contextmanager
def output_to_log(log_file: Path | None) -> Iterator[IO[str]]:
    """Sends this process's stdout and stderr (fds 1 and 2, inherited by child processes) to
    ``log_file``; yields a stream to the terminal for what the person should read."""
    if log_file is None:
        yield sys.stdout
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    with log_file.open("w", encoding="utf-8", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


@dataclass(frozen=True)
class EnvFileState:
    """What an existing env file says: the stack's endpoint and process, and whether both live."""

    endpoint: str | None
    pid: int | None
    process_alive: bool
    port_open: bool

    @property
    def live(self) -> bool:
        # An older env file names no process: its open port is all there is to go by.
        return self.port_open and (self.pid is None or self.process_alive)

    def why_stale(self) -> str:
        if self.pid is not None and not self.process_alive:
            return f"its stack (process {self.pid}) has stopped"
        return f"nothing answers at {self.endpoint}" if self.endpoint else "it names no endpoint"


def env_file_state(env_file: Path) -> EnvFileState | None:
    """The state of the stack an existing env file names; None when there is no env file."""
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            values[name.strip()] = value.strip().strip("'\"")
    pid = int(values["STUDIO_LOCAL_PID"]) if values.get("STUDIO_LOCAL_PID", "").isdigit() else None
    endpoint = values.get("AWS_ENDPOINT_URL") or None
    return EnvFileState(endpoint, pid, pid is not None and process_alive(pid), port_open(endpoint))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def port_open(url: str | None) -> bool:
    if not url:
        return False
    where = urlparse(url)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def stack_answers(env_file: Path) -> str | None:
    """The endpoint of a local stack that an existing env file names and that still runs."""
    state = env_file_state(env_file)
    return state.endpoint if state is not None and state.live else None


def run(options: UpOptions) -> int:
    from studio_local.env_file import render_env_file
    from studio_local.stack import LocalStudio
    from studio_sim.settings import SimSettings

    existing = env_file_state(options.env_file)
    if existing is not None and existing.live:
        raise CliError(
            f"a local stack already runs at {existing.endpoint} (its env file is {options.env_file})",
            hint="stop it first (Ctrl-C where it runs), or give this one another --env-file",
        )
    options.env_file.parent.mkdir(parents=True, exist_ok=True)
    if existing is not None:
        # Stale (its stack was killed): gone at once, so nothing waits on it or sources it.
        with contextlib.suppress(FileNotFoundError):
            options.env_file.unlink()
    with output_to_log(options.log_file) as terminal:

        def say(line: str = "") -> None:
            terminal.write(line + "\n")
            terminal.flush()

        if existing is not None:
            say(f"removed the stale {options.env_file}: {existing.why_stale()}")
        say("starting the local stack (moto server, Studio simulator, template.yaml)...")
        studio = LocalStudio(
            parameter_overrides=options.parameters or {},
            sim_settings=SimSettings(operation_seconds=options.operation_seconds),
            moto_port=options.port,
            sim_port=options.sim_port,
            batching_window_seconds=options.batching_window_seconds,
        )
        try:
            studio.start()
        except KeyboardInterrupt:
            say("stopped before the stack was ready")
            return 130
        except Exception as exc:
            traceback.print_exc()  # into the log
            where = f" (the details are in {options.log_file})" if options.log_file else ""
            say(f"studio local up: the local stack did not start: {exc}{where}")
            return 1
        started = time.monotonic()

        def ready() -> None:
            environment = {
                **studio.environment(),
                "STUDIO_STACK": studio.stack_name,
                "STUDIO_EVENT_BUS": studio.output("EventBusName"),
                "STUDIO_DEAD_LETTER_QUEUE_URL": studio.dead_letter_queue_url or "",
            }
            if "CatalogueStateMachineArn" in studio.stack.outputs:
                environment["STUDIO_CATALOGUE_STATE_MACHINE_ARN"] = studio.output("CatalogueStateMachineArn")
            if options.log_file is not None:
                environment["STUDIO_LOCAL_LOG"] = str(options.log_file.resolve())
            # Whoever reads the env file can tell a live stack from a stale file by this process.
            environment["STUDIO_LOCAL_PID"] = str(os.getpid())
            print(studio.summary(), flush=True)  # the whole summary, into the log
            # Last: whoever waits for the env file finds everything else ready.
            partial = options.env_file.with_name(options.env_file.name + ".partial")
            partial.write_text(render_env_file(environment), encoding="utf-8")
            partial.replace(options.env_file)  # whole or not at all, for whoever polls for it
            say(f"Studio local stack {studio.stack_name!r} is up ({studio.timings.get('total', 0):.1f} s)")
            say(f"  AWS (moto)       {studio.endpoint_url}")
            say(f"  Aiuta simulator  {studio.simulator_url}   (a simulator, not the real API)")
            say(f"  bucket           {studio.bucket}")
            say(f"  jobs table       {studio.jobs_table}")
            say(f"  event bus        {environment['STUDIO_EVENT_BUS']}")
            say(f"  environment      . {options.env_file}   (then: studio submit DIR, studio watch)")
            if options.log_file is not None:
                say(f"  logs             {options.log_file}   (with the full summary of what runs locally)")
            say("ready; Ctrl-C stops everything")

        def stopping() -> None:
            # First, so whoever waits on the env file stops using the stack now.
            with contextlib.suppress(FileNotFoundError):
                options.env_file.unlink()
            say("stopping… (a second Ctrl-C stops at once)")

        def stopped(how: str) -> str:
            where = f"; logs kept in {options.log_file}" if options.log_file else ""
            return (
                f"stopped{how}: the local stack is down after {time.monotonic() - started:.0f} s, its data "
                f"gone, {options.env_file} removed{where}"
            )

        def forced() -> None:
            # A second signal mid-stop: the functions' processes are killed already; what is left
            # runs in this process, so ending it ends everything.
            with contextlib.suppress(FileNotFoundError):
                options.env_file.unlink()
            os.write(terminal.fileno(), (stopped(" at once") + "\n").encode())
            os._exit(130)

        try:
            studio.serve_forever(on_serving=ready, on_stopping=stopping, on_forced_stop=forced)
        finally:
            with contextlib.suppress(FileNotFoundError):
                options.env_file.unlink()
            say(stopped(""))
    return 0
