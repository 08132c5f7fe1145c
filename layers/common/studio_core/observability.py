"""One Logger, Tracer and Metrics for the whole service (Powertools shares their state per process).

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, which the template sets for every function.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from studio_core.domain.errors import AiutaError

# A status check that finds the operation still running has nothing to count; that is normal.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Adds a count metric; with dimensions (e.g. ``kind``) it is flushed as a metric of its own."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    if is_metrics_disabled():  # single_metric prints at once, without asking
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension_value)


def seconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def counting_aiuta_errors(handler: Handler) -> Handler:
    """Counts every Aiuta error a handler lets out: ``AiutaErrors`` in total and by ``error`` kind."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except AiutaError as exc:
            metrics.add_metric(name="AiutaErrors", unit=MetricUnit.Count, value=1)
            count("AiutaErrors", error=type(exc).__name__)
            raise

    return wrapper  # type: ignore[return-value]
