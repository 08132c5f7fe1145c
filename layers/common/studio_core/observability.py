"""One Logger, Tracer and Metrics for the whole service (Powertools shares their state per process).

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, which the template sets for every function.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

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
