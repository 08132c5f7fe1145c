"""Building the simulator app and running it in a background thread (for tests and tools).

with run_in_thread(SimSettings(operation_seconds=2)) as sim:
    requests.get(sim.base_url + "/on_figure_model_presets", headers={"x-api-key": sim.api_key})
    sim.admin.advance(60)
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from types import TracebackType
from typing import Any

import requests
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio_sim.admin import admin_router, files_router, info
from studio_sim.api import API_PREFIX, router
from studio_sim.faults import SimulatorMiddleware
from studio_sim.settings import DEFAULT_API_KEY, SimSettings
from studio_sim.state import SimState

__all__ = ["DEFAULT_API_KEY", "AdminClient", "RunningSimulator", "SimSettings", "create_app", "run_in_thread"]

logger = logging.getLogger("studio_sim")
START_TIMEOUT_SECONDS = 15.0

# FastAPI names a body parameter with an alias that pydantic (2.12) then reports as unused when it
# builds a model deferred until first use, as the layer's are; the alias works. A known false
# positive (pydantic issue 12356), silenced for the simulator's own body parameter only.
warnings.filterwarnings(
    "ignore", message=r"The 'alias' attribute with value 'body' was provided to the `Field\(\)` function"
)


def create_app(settings: SimSettings | None = None) -> FastAPI:
    """The simulator as an ASGI app; its state lives in ``app.state.sim``."""
    app = FastAPI(
        title="Aiuta Studio API simulator",
        description="A local stand-in for the Aiuta Studio API, for development and tests. Not the real API.",
        version="1.0.0",
    )
    app.state.sim = SimState(settings or SimSettings())
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(files_router)

    @app.get("/", tags=["simulator"])
    def root(request: Request) -> dict[str, Any]:
        return info(request)

    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_readable(error) for error in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 to a body it cannot parse at all; the Studio contract documents 422 only.
        if exc.status_code == 400 and request.url.path.startswith(API_PREFIX + "/"):
            problem = {
                "type": "body_unparsable",
                "loc": ["body"],
                "msg": "the request body could not be parsed",
            }
            return JSONResponse({"detail": [problem]}, status_code=422)
        return await http_exception_handler(request, exc)

    app.add_middleware(SimulatorMiddleware, state=app.state.sim, router=router)
    return app


def _readable(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's error entry, with the exception inside ``ctx`` as text instead of ``{}``."""
    entry = {key: error[key] for key in ("type", "loc", "msg", "input") if key in error}
    if isinstance(entry.get("input"), bytes):
        # A raw body that is not UTF-8 would otherwise break the JSON encoder (and answer 500).
        entry["input"] = entry["input"].decode("utf-8", errors="replace")
    if "ctx" in error:
        entry["ctx"] = {
            name: str(value) if isinstance(value, Exception) else value
            for name, value in error["ctx"].items()
        }
    return jsonable_encoder(entry)


class AdminClient:
    """Calls to ``/_sim/`` from Python: configure faults and timing, reset, move the clock, read counters."""

    def __init__(self, root_url: str, timeout: float = 10.0) -> None:
        self.root_url = root_url
        self._session = requests.Session()
        self._timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(
            method, f"{self.root_url}/_sim{path}", json=body, timeout=self._timeout
        )
        response.raise_for_status()
        return response.json()

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/info")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "/config", changes)

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def calls(self) -> dict[str, Any]:
        return self._call("GET", "/calls")

    def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats``: requests per wall-clock second, 429s answered, creates per kind."""
        return self._call("GET", "/stats")

    def close(self) -> None:
        self._session.close()


class RunningSimulator:
    """A simulator serving in a daemon thread; ``stop()`` (or leaving the ``with``) shuts it down."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, app: FastAPI
    ) -> None:
        self._server = server
        self._thread = thread
        self.app = app
        self.root_url = f"http://{host}:{port}"
        self.base_url = self.root_url + API_PREFIX
        self.admin = AdminClient(self.root_url)

    @property
    def state(self) -> SimState:
        return self.app.state.sim

    @property
    def api_key(self) -> str:
        return self.state.settings.api_key.get_secret_value()

    def stop(self) -> None:
        self.admin.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSimulator(base_url={self.base_url!r})"


def run_in_thread(
    settings: SimSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Start the simulator on ``host:port`` (0 picks a free port) and return once it answers."""
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, http="h11", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="studio-sim", daemon=True)
    thread.start()
    bound_port = _wait_for_port(server, thread)
    running = RunningSimulator(server, thread, host, bound_port, app)
    _wait_until_answering(running)
    logger.info("Aiuta Studio simulator (not the real API) serving at %s", running.base_url)
    return running


def _wait_for_port(server: uvicorn.Server, thread: threading.Thread) -> int:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the simulator's server thread stopped during start-up (port in use?)")
        if server.started and server.servers and server.servers[0].sockets:
            return int(server.servers[0].sockets[0].getsockname()[1])
        time.sleep(0.01)
    raise RuntimeError(f"the simulator did not start within {START_TIMEOUT_SECONDS:g} s")


def _wait_until_answering(running: RunningSimulator) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            running.admin.info()
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                running.stop()
                raise
            time.sleep(0.02)
