"""Handlers run the way Lambda runs them: an execution environment (process) each, environment, context,
errors, concurrency limits and throttles, timeouts."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_local.lambda_runtime import LocalFunction, LocalLambdas, Throttled
from tests.support.waiting import wait_until

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
    return LocalFunction(
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


@pytest.fixture
def lambdas(function: LocalFunction) -> Iterator[LocalLambdas]:
    runtime = LocalLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(function)
    yield runtime
    runtime.uninstall()


def test_handler_sees_its_environment_and_context(
    lambdas: LocalLambdas, function: LocalFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a developer shell with its own AWS profile and Studio settings
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("STUDIO_HOST_ONLY", "leak")
    path_before = list(sys.path)
    # When the function is invoked by its ARN
    result = lambdas.invoke(function.arn + ":$LATEST", {"key": "inbox/a.jpg"})
    # Then the handler (in its own process) saw the function's variables, the runtime's, and none
    # of the shell's
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
    # And this process's environment and import path were never touched
    assert os.environ["AWS_PROFILE"] == "production"
    assert os.environ["STUDIO_HOST_ONLY"] == "leak"
    assert "STUDIO_BUCKET" not in os.environ
    assert sys.path == path_before


def test_an_exception_answers_like_lambda(lambdas: LocalLambdas) -> None:
    # When the handler raises a domain error
    result = lambdas.invoke("studio-local-IngestFunction-ABC", {"raise": True})
    # Then the error type is the class name (what Retry/Catch match) and the payload is Lambda's
    assert result.error_type == "AiutaRetryableError"
    payload = json.loads(result.payload)
    assert payload["errorType"] == "AiutaRetryableError"
    assert payload["errorMessage"] == "Aiuta answered 503"
    assert any("in lambda_handler" in line for line in payload["stackTrace"])
    assert not any("lambda_runtime.py" in line for line in payload["stackTrace"])


def test_an_unserialisable_answer_is_a_marshal_error(lambdas: LocalLambdas) -> None:
    result = lambdas.invoke("studio-local-IngestFunction-ABC", {"unserialisable": True})
    assert result.error_type == "Runtime.MarshalError"


def test_an_import_error_is_reported_and_retried(lambdas: LocalLambdas, function: LocalFunction) -> None:
    # Given a handler module that cannot import
    good = (function.code_dir / "app.py").read_text()
    (function.code_dir / "app.py").write_text("import not_installed_anywhere\n")
    failed = lambdas.invoke(function.name, {})
    assert failed.error_type == "Runtime.ImportModuleError"
    assert "not_installed_anywhere" in json.loads(failed.payload)["errorMessage"]
    # When the code is fixed, the next invocation imports it again (a failed init is not cached)
    (function.code_dir / "app.py").write_text(good)
    assert lambdas.invoke(function.name, {}).ok


def test_invocations_are_counted_and_recorded(lambdas: LocalLambdas, function: LocalFunction) -> None:
    lambdas.invoke(function.name, {"n": 1})
    lambdas.invoke(function.name, {"raise": True})
    assert lambdas.invocation_counts() == {"IngestFunction": 2}
    assert [(r.event, r.error_type) for r in lambdas.history] == [
        ({"n": 1}, None),
        ({"raise": True}, "AiutaRetryableError"),
    ]


SLOW_HANDLER = """
import os
import time

STARTED = time.time()


def lambda_handler(event, context):
    if event.get("started_file"):
        open(event["started_file"], "w").close()
    if event.get("set"):
        os.environ["LEFT_BEHIND"] = event["set"]
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "left_behind": os.environ.get("LEFT_BEHIND"), "started": STARTED}
"""


def slow_function(function: LocalFunction, reserved: int | None) -> LocalFunction:
    (function.code_dir / "app.py").write_text(textwrap.dedent(SLOW_HANDLER))
    function.reserved_concurrency = reserved
    function.timeout_seconds = 5
    return function


def test_concurrent_invocations_run_in_separate_environments(function: LocalFunction) -> None:
    # Given a function with two reserved environments
    runtime = LocalLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(slow_function(function, reserved=2))
    answers: list[Any] = []
    try:
        # When two invocations run at the same time, one of them changing its environment
        calls = [
            threading.Thread(target=lambda e=e: answers.append(runtime.invoke(function.name, e).json()))
            for e in ({"sleep": 0.5, "set": "by the first"}, {"sleep": 0.5})
        ]
        for call in calls:
            call.start()
        for call in calls:
            call.join(20)
        # Then they ran in two processes, and neither saw the other's change
        assert len({answer["pid"] for answer in answers}) == 2
        assert sorted(str(answer["left_behind"]) for answer in answers) == ["None", "by the first"]
        # And a later call reuses a warm environment (its module was imported once)
        again = runtime.invoke(function.name, {}).json()
        assert again["pid"] in {answer["pid"] for answer in answers}
        assert runtime.concurrency()["IngestFunction"]["cold_starts"] == 2
    finally:
        runtime.uninstall()


def test_a_call_beyond_reserved_concurrency_is_throttled(function: LocalFunction, tmp_path: Path) -> None:
    # Given a function with one reserved environment, busy with a slow invocation
    runtime = LocalLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(slow_function(function, reserved=1))
    started = tmp_path / "busy-handler-started"
    busy = threading.Thread(
        target=runtime.invoke, args=(function.name, {"sleep": 1.5, "started_file": str(started)})
    )
    try:
        runtime.invoke(function.name, {})  # warm
        busy.start()
        wait_until(started.exists, what="the slow invocation to be running in the one environment")
        # When a second call arrives, it is throttled, as Lambda throttles
        with pytest.raises(Throttled, match="reserved concurrency"):
            runtime.invoke(function.name, {})
        busy.join(10)
        # Then once the environment is free again, calls go through
        assert runtime.invoke(function.name, {}).ok
        assert runtime.concurrency()["IngestFunction"]["throttled"] == 1
    finally:
        runtime.uninstall()


def test_without_a_reservation_a_call_waits_for_a_free_environment(function: LocalFunction) -> None:
    # Given a function without reserved concurrency, and one local environment for it
    runtime = LocalLambdas("http://127.0.0.1:5999", "us-east-1", unreserved_environments=1)
    runtime.register(slow_function(function, reserved=None))
    results: list[Any] = []
    try:
        calls = [
            threading.Thread(target=lambda: results.append(runtime.invoke(function.name, {"sleep": 0.3})))
            for _ in range(3)
        ]
        for call in calls:
            call.start()
        for call in calls:
            call.join(20)
        # Then nothing was throttled: the calls took turns in the one environment
        assert [r.ok for r in results] == [True, True, True]
        assert len({r.json()["pid"] for r in results}) == 1
    finally:
        runtime.uninstall()


def test_a_handler_past_its_timeout_is_stopped(function: LocalFunction) -> None:
    runtime = LocalLambdas("http://127.0.0.1:5999", "us-east-1")
    runtime.register(slow_function(function, reserved=None))
    function.timeout_seconds = 1
    try:
        result = runtime.invoke(function.name, {"sleep": 10})
        assert result.error_type == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in json.loads(result.payload)["errorMessage"]
        # And the next call gets a fresh environment
        assert runtime.invoke(function.name, {}).ok
    finally:
        runtime.uninstall()


def test_an_unknown_function_is_a_key_error(lambdas: LocalLambdas) -> None:
    with pytest.raises(KeyError, match="no local function"):
        lambdas.invoke("somebody-else", {})
