"""Handlers run in-process the way Lambda's Python runtime runs them: environment, context, errors."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_local.lambda_runtime import InProcessLambdas, LocalFunction

HANDLER = """
import os

from runtime_test_sibling import greeting
from runtime_test_layer_lib import LAYER


class AiutaRetryableError(Exception):
    pass


def lambda_handler(event, context):
    if event.get("raise"):
        raise AiutaRetryableError("Aiuta answered 503")
    if event.get("unserialisable"):
        return {"value": object()}
    return {
        "greeting": greeting(),
        "layer": LAYER,
        "bucket": os.environ.get("STUDIO_BUCKET"),
        "poll": os.environ.get("POLL_MIN_WAIT_SECONDS"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "function_env": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "profile": os.environ.get("AWS_PROFILE"),
        "host_only": os.environ.get("STUDIO_HOST_ONLY"),
        "context": [context.function_name, context.memory_limit_in_mb, context.invoked_function_arn],
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


@pytest.fixture
def function(tmp_path: Path) -> Iterator[LocalFunction]:
    code = tmp_path / "functions" / "ingest"
    code.mkdir(parents=True)
    (code / "app.py").write_text(textwrap.dedent(HANDLER))
    (code / "runtime_test_sibling.py").write_text(
        "def greeting():\n    return 'hello from a sibling module'\n"
    )
    layer = tmp_path / "layers" / "common"
    layer.mkdir(parents=True)
    (layer / "runtime_test_layer_lib.py").write_text("LAYER = 'from the layer'\n")
    yield LocalFunction(
        logical_id="IngestFunction",
        name="studio-local-IngestFunction-ABC",
        arn="arn:aws:lambda:us-east-1:123456789012:function:studio-local-IngestFunction-ABC",
        code_dir=code,
        handler="app.lambda_handler",
        runtime="python3.13",
        timeout_seconds=60,
        memory_mb=512,
        environment={"STUDIO_BUCKET": "studio-bucket", "POLL_MIN_WAIT_SECONDS": "2"},
        layer_dirs=[layer],
    )
    for name in ("runtime_test_sibling", "runtime_test_layer_lib", "_studio_local_IngestFunction_app"):
        sys.modules.pop(name, None)


@pytest.fixture
def lambdas(function: LocalFunction) -> Iterator[InProcessLambdas]:
    runtime = InProcessLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(function)
    yield runtime
    runtime.uninstall()


def test_handler_sees_its_environment_and_context(
    lambdas: InProcessLambdas, function: LocalFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a developer shell with its own AWS profile and Studio settings
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("STUDIO_HOST_ONLY", "leak")
    path_before = list(sys.path)
    # When the function is invoked by its ARN
    result = lambdas.invoke(function.arn + ":$LATEST", {"key": "inbox/a.jpg"})
    # Then the handler saw the function's variables, the runtime's, and none of the shell's
    answer = result.json()
    assert result.ok
    assert answer["greeting"] == "hello from a sibling module"
    assert answer["layer"] == "from the layer"
    assert answer["bucket"] == "studio-bucket"
    assert answer["poll"] == "2"
    assert answer["endpoint"] == "http://127.0.0.1:5999"
    assert answer["function_env"] == function.name
    assert answer["profile"] is None
    assert answer["host_only"] is None
    assert answer["context"] == [function.name, 512, function.arn]
    assert 0 < answer["remaining_ms"] <= 60_000
    # And the process got its own environment and import path back
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["STUDIO_HOST_ONLY"] == "leak"
    assert "STUDIO_BUCKET" not in os.environ
    assert sys.path == path_before


def test_an_exception_answers_like_lambda(lambdas: InProcessLambdas) -> None:
    # When the handler raises a domain error
    result = lambdas.invoke("studio-local-IngestFunction-ABC", {"raise": True})
    # Then the error type is the class name (what Retry/Catch match) and the payload is Lambda's
    assert result.error_type == "AiutaRetryableError"
    payload = json.loads(result.payload)
    assert payload["errorType"] == "AiutaRetryableError"
    assert payload["errorMessage"] == "Aiuta answered 503"
    assert any("in lambda_handler" in line for line in payload["stackTrace"])
    assert not any("lambda_runtime.py" in line for line in payload["stackTrace"])


def test_an_unserialisable_answer_is_a_marshal_error(lambdas: InProcessLambdas) -> None:
    result = lambdas.invoke("studio-local-IngestFunction-ABC", {"unserialisable": True})
    assert result.error_type == "Runtime.MarshalError"


def test_an_import_error_is_reported_and_retried(lambdas: InProcessLambdas, function: LocalFunction) -> None:
    # Given a handler module that cannot import
    good = (function.code_dir / "app.py").read_text()
    (function.code_dir / "app.py").write_text("import not_installed_anywhere\n")
    failed = lambdas.invoke(function.name, {})
    assert failed.error_type == "Runtime.ImportModuleError"
    assert "not_installed_anywhere" in json.loads(failed.payload)["errorMessage"]
    # When the code is fixed, the next invocation imports it again (a failed init is not cached)
    (function.code_dir / "app.py").write_text(good)
    assert lambdas.invoke(function.name, {}).ok


def test_invocations_are_counted_and_recorded(lambdas: InProcessLambdas, function: LocalFunction) -> None:
    lambdas.invoke(function.name, {"n": 1})
    lambdas.invoke(function.name, {"raise": True})
    assert lambdas.invocation_counts() == {"IngestFunction": 2}
    assert [(r.event, r.error_type) for r in lambdas.history] == [
        ({"n": 1}, None),
        ({"raise": True}, "AiutaRetryableError"),
    ]


def test_before_invoke_runs_inside_the_function_environment(function: LocalFunction) -> None:
    seen = []
    runtime = InProcessLambdas(
        "http://127.0.0.1:5999", "us-east-1", before_invoke=lambda: seen.append(os.environ["STUDIO_BUCKET"])
    )
    runtime.register(function)
    try:
        runtime.invoke(function.name, {})
    finally:
        runtime.uninstall()
    assert seen == ["studio-bucket"]


def test_other_threads_neither_see_nor_disturb_a_running_function(
    function: LocalFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a handler that pauses midway, then reports what it sees (itself and a worker thread)
    (function.code_dir / "app.py").write_text(
        textwrap.dedent(
            """
            import os
            import threading
            from concurrent.futures import ThreadPoolExecutor

            paused = threading.Event()
            resume = threading.Event()

            def lambda_handler(event, context):
                paused.set()
                resume.wait(10)
                with ThreadPoolExecutor(1) as pool:
                    in_worker = pool.submit(os.environ.get, "AWS_ENDPOINT_URL").result()
                return {"endpoint": os.environ.get("AWS_ENDPOINT_URL"), "in_worker": in_worker}
            """
        )
    )
    runtime = InProcessLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(function)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://host-setting")
    answers = []
    worker = threading.Thread(target=lambda: answers.append(runtime.invoke(function.name, {}).json()))
    try:
        worker.start()
        module = wait_for_module("_studio_local_IngestFunction_app")
        assert module.paused.wait(10)
        # When the caller's thread reads and changes its environment while the function runs
        assert os.environ["AWS_ENDPOINT_URL"] == "http://host-setting"
        assert "STUDIO_BUCKET" not in os.environ
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        module.resume.set()
        worker.join(10)
    finally:
        runtime.uninstall()
    # Then the function kept its own view, in its worker threads too
    assert answers == [{"endpoint": "http://127.0.0.1:5999", "in_worker": "http://127.0.0.1:5999"}]


def wait_for_module(name: str) -> Any:
    for _ in range(100):
        if name in sys.modules and hasattr(sys.modules[name], "paused"):
            return sys.modules[name]
        time.sleep(0.05)
    raise AssertionError(f"{name} was never imported")


def test_an_unknown_function_is_a_key_error(lambdas: InProcessLambdas) -> None:
    with pytest.raises(KeyError, match="no local function"):
        lambdas.invoke("somebody-else", {})
