"""The project's Lambda handlers, imported and called as Lambda imports and calls them."""

from __future__ import annotations

from typing import Any

from tests.support import REPO_ROOT
from tests.support.aws import REGION

_HANDLERS: dict[str, Any] = {}


def load_handler(function: str, *, cold_start: bool = False) -> Any:
    """``functions/<function>/app.py`` imported as Lambda does (once per 'cold start' of the session).

    Import inside a test, after the environment is set: the module validates it at import.
    ``cold_start=True`` imports it again, for a test that changes the settings it reads at start-up.
    """
    if cold_start or function not in _HANDLERS:
        import importlib.util

        path = REPO_ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"studio_function_{function}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _HANDLERS[function] = module
    return _HANDLERS[function]


class FakeLambdaContext:
    """The parts of a Lambda context Powertools reads."""

    def __init__(self, function_name: str = "studio-test-function") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.aws_request_id = "00000000-0000-4000-8000-000000000000"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
