"""The load bench (bench/load.py) at a size CI can afford: products dropped at once, Aiuta limited.

The full run (1,000 product folders, and a 10,000-row catalogue) is ``make bench`` /
``bench/load.py``, with its figures in ``bench/README.md``. Here LOAD_PRODUCTS folders go through
the local stack at once while the simulator allows R requests/s (429 with ``Retry-After`` above
it, as Aiuta does): every job must succeed with exactly one create, and the pipeline must keep
under R plus its configured burst so that Aiuta never has to refuse a request for the rate.
"""

from __future__ import annotations

from tests.support.benches import load_bench

LOAD_PRODUCTS = 100
RATE = 3


def test_products_dropped_at_once_all_succeed_within_aiutas_rate() -> None:
    load = load_bench("load")
    args = load.parse_args(
        [
            f"--products={LOAD_PRODUCTS}",
            f"--rate={RATE}",
            "--median-seconds=4",
            "--in-flight=20",
            "--aiuta-in-flight=30",
            "--timeout=600",
        ]
    )

    result = load.run(args)

    # Every product succeeded, each with one create; never more than R + burst in a second and no
    # request refused for the rate; the work waited for its turn rather than failing
    assert load.problems(result) == [], load.render(result)
    assert result["jobs"] == {"SUCCEEDED": LOAD_PRODUCTS}
    assert result["creates_per_job"] == 1.0
    assert result["requests"]["peak_per_second"] <= RATE + args.burst
    assert result["first_result_seconds"] < result["last_result_seconds"]
    # What each product cost the emulated AWS is counted by operation: one execution each, and
    # the Lambda invocations of its steps
    calls = result["aws_calls_per_product"]
    assert 1.0 <= calls["StartExecution"] <= 1.05  # a start retried after a lost answer is safe
    assert calls["Lambda Invoke"] >= 3  # submit, a check and the copy at least
    # The parseable last line carries the same figures
    line = load.last_line(result)
    assert line.startswith("load: ") and f"succeeded={LOAD_PRODUCTS}" in line
