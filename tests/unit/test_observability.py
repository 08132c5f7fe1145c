"""What the shared observability module writes: the layer's plain loggers reach the Lambda's log
as JSON, and metrics switched off print nothing however many are counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studio_core import observability

LOG_A_WARNING = """
import logging
import studio_core.observability
logging.getLogger("studio_core.aws.request_budget").warning(
    "a request turn was missed; taking another", extra={"late_seconds": 0.4}
)
logging.getLogger("studio_core.aws.request_budget").info("below the level")
"""


def test_a_warning_of_a_layer_module_is_written_as_the_service_s_json() -> None:
    # A process of its own: the handler writes to the stdout it found at import, as in a Lambda.
    environment = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_SERVICE_NAME": "studio"}
    written = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", LOG_A_WARNING], env=environment, capture_output=True, text=True, check=True
    )

    lines = [json.loads(line) for line in written.stdout.splitlines()]
    assert [(line["level"], line["message"], line["late_seconds"]) for line in lines] == [
        ("WARNING", "a request turn was missed; taking another", 0.4)
    ]
    assert (lines[0]["service"], lines[0]["name"]) == ("studio", "studio_core.aws.request_budget")


def test_metrics_switched_off_print_nothing_even_past_a_hundred_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.metrics.clear_metrics()

    for _ in range(150):
        observability.count("CapacityWaits")
        observability.seconds("CapacityWaitSeconds", 3)
        observability.count("OperationsCreated", kind="on_figure")

    assert capsys.readouterr().out == ""
    assert observability.metrics.metric_set == {}


def test_metrics_switched_on_are_kept_for_the_invocation_s_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    observability.metrics.clear_metrics()

    observability.count("CapacityWaits")
    observability.seconds("CapacityWaitSeconds", 3)

    kept = observability.metrics.metric_set
    assert (kept["CapacityWaits"]["Value"], kept["CapacityWaitSeconds"]["Value"]) == ([1.0], [3.0])
    observability.metrics.clear_metrics()
