"""One Logger, Tracer and Metrics for the whole service (Powertools shares their state per process).

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, which the template sets for every function.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from studio_core.domain.errors import AiutaError

# A status check that finds the operation still running has nothing to count; that is normal.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# The layer's modules that the CLI shares log through plain ``logging`` (``studio_core.*``); in a
# Lambda they write with the service's handler and level, or their warnings would go nowhere.
logging.getLogger("studio_core")
copy_config_to_registered_loggers(source_logger=logger, include={"studio_core"})


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Adds a count metric; with dimensions (e.g. ``kind``) it is flushed as a metric of its own."""
    # Disabled, Powertools neither prints nor clears the set at a flush, and prints it anyway once
    # a metric holds 100 values (and ``single_metric`` prints at once): so nothing is added.
    if is_metrics_disabled():
        return
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension_value)


def seconds(name: str, value: float) -> None:
    if not is_metrics_disabled():  # see ``count``
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def counting_aiuta_errors(handler: Handler) -> Handler:
    """Counts every Aiuta error a handler lets out: ``AiutaErrors`` in total and by ``error`` kind."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except AiutaError as exc:
            count("AiutaErrors")
            count("AiutaErrors", error=type(exc).__name__)
            raise

    return wrapper  # type: ignore[return-value]
