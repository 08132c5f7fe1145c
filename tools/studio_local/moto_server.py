"""moto's server, started in this process on a free port, with Step Functions executing ASL.

In-process (``ThreadedMotoServer``) rather than a ``moto_server`` subprocess because the local
stack runs Lambda handlers here, by patching moto's Lambda backend, and closes moto's gaps
through its internals (``moto_internals``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.client import BaseClient
from botocore.config import Config
from moto.server import ThreadedMotoServer

from studio_local.moto_internals import (
    cache_request_dispatch,
    name_object_versions_in_s3_events,
    set_step_functions_config,
    speed_up_hot_paths,
    step_functions_config,
)

# Not secrets: moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_ACCESS_KEY_ID = "studio-local"
FAKE_SECRET_ACCESS_KEY = "studio-local-not-a-secret"  # noqa: S105


@dataclass
class MotoServer:
    """A running moto server; ``client(service)`` gives a boto3 client bound to it."""

    server: ThreadedMotoServer
    host: str
    port: int
    region: str
    _previous_moto_port: str | None = field(default=None, repr=False)
    _previous_sfn_config: dict[str, Any] = field(default_factory=dict, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _session: boto3.session.Session = field(default_factory=boto3.session.Session, repr=False)
    _clients: dict[str, BaseClient] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, service: str, **config: Any) -> BaseClient:
        """A client for ``service``, cached when there is no ``config`` (a model takes ~0.1 s to load)."""
        with self._lock:
            if config:
                return self._new_client(service, config)
            if service not in self._clients:
                self._clients[service] = self._new_client(service, {})
            return self._clients[service]

    def _new_client(self, service: str, config: dict[str, Any]) -> BaseClient:
        # One session for all clients: a boto3 session is not thread-safe, hence the lock.
        return self._session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, **config),
        )

    def reset(self) -> None:
        """Forget every resource in moto (its backends are global to this process)."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=30).raise_for_status()

    def stop(self) -> None:
        """Shut the server down and join its thread; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            # moto's config is global to the process: leave Step Functions as it was found.
            requests.post(
                f"{self.endpoint_url}/moto-api/config",
                json={"stepfunctions": self._previous_sfn_config},
                timeout=10,
            )
        except requests.RequestException:
            set_step_functions_config(self._previous_sfn_config)
        self.server.stop()
        _join_request_threads()
        if self._previous_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._previous_moto_port


def _join_request_threads(timeout: float = 5.0) -> None:
    """Waits for the server's request threads still finishing an answer already sent (the config
    request just above is one): werkzeug runs each request in a daemon thread it never joins, so
    a stop could otherwise return while one is still closing its connection."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


def start_moto_server(region: str, host: str = "127.0.0.1", port: int = 0) -> MotoServer:
    """Start moto on ``host:port`` (0 picks a free port), with Step Functions executing state machines."""
    # One werkzeug access-log line per AWS call would drown the Lambda logs.
    werkzeug_logger = logging.getLogger("werkzeug")
    if werkzeug_logger.level == logging.NOTSET:
        werkzeug_logger.setLevel(logging.WARNING)
    cache_request_dispatch()
    speed_up_hot_paths()
    name_object_versions_in_s3_events()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    running = MotoServer(
        server,
        bound_host,
        int(bound_port),
        region,
        _previous_moto_port=os.environ.get("MOTO_PORT"),
        _previous_sfn_config=step_functions_config(),
    )
    # moto's Step Functions interpreter calls Lambda at localhost:$MOTO_PORT (default 5000).
    os.environ["MOTO_PORT"] = str(running.port)
    try:
        _wait_until_answering(running)
        response = requests.post(
            f"{running.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=30,
        )
        response.raise_for_status()
        if not step_functions_config().get("execute_state_machine"):
            raise RuntimeError("moto did not switch Step Functions to executing state machines")
    except Exception:
        running.stop()
        raise
    return running


def _wait_until_answering(running: MotoServer, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            # The config, not data.json: that one serialises every backend (slow with thousands of
            # executions, and it fails on Lambda functions left by an earlier moto mock).
            requests.get(f"{running.endpoint_url}/moto-api/config", timeout=5).raise_for_status()
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
