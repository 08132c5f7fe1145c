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


def stack_answers(env_file: Path) -> str | None:
    """The endpoint of a local stack that an existing env file names and that still answers."""
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("export AWS_ENDPOINT_URL="):
            url = line.split("=", 1)[1].strip("'\"")
            where = urlparse(url)
            with (
                contextlib.suppress(OSError, ValueError),
                socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=0.5),
            ):
                return url
    return None


def run(options: UpOptions) -> int:
    from studio_local.env_file import render_env_file
    from studio_local.stack import LocalStudio
    from studio_sim.settings import SimSettings

    running = stack_answers(options.env_file)
    if running:
        raise CliError(
            f"a local stack already runs at {running} (its env file is {options.env_file})",
            hint="stop it first (Ctrl-C where it runs), or give this one another --env-file",
        )
    options.env_file.parent.mkdir(parents=True, exist_ok=True)
    with output_to_log(options.log_file) as terminal:

        def say(line: str = "") -> None:
            terminal.write(line + "\n")
            terminal.flush()

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
            print(studio.summary(), flush=True)  # the whole summary, into the log
            # Last: whoever waits for the env file finds everything else ready.
            options.env_file.write_text(render_env_file(environment), encoding="utf-8")
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

        try:
            studio.serve_forever(on_serving=ready)
        finally:
            with contextlib.suppress(FileNotFoundError):
                options.env_file.unlink()
            where = f"; logs kept in {options.log_file}" if options.log_file else ""
            say(
                f"stopped: the local stack is down after {time.monotonic() - started:.0f} s, its data gone, "
                f"{options.env_file} removed{where}"
            )
    return 0
