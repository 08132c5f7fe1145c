"""The feed-sync bench (bench/feed_sync.py) at a size CI can afford: a daily feed uploaded three
times pays only for what changed, and its quotes agree with what was paid.

The full run (2,000 rows; 20 changed, 10 added, 5 removed) is ``make bench``, with its figures in
``bench/README.md``.
"""

from __future__ import annotations

import pytest

from tests.support.benches import load_bench

pytestmark = pytest.mark.slow


def test_a_feed_uploaded_again_pays_only_for_its_changed_and_added_rows() -> None:
    bench = load_bench("feed_sync")
    args = bench.parse_args(["--rows=40", "--changed=3", "--added=2", "--removed=1", "--timeout=600"])

    result = bench.run(args)

    # 40 creates, then exactly the 3 changed and 2 added rows, then nothing; each quote is what was paid
    assert [u["creates"] for u in result["uploads"]] == [40, 5, 0], bench.render(result, "test")
    assert result["quote_matches_paid"], bench.render(result, "test")
    second = result["uploads"][1]
    assert second["outcomes"] == {
        "new": 2,
        "changed": 3,
        "forced": 0,
        "retry": 0,
        "unchanged": 36,
        "rejected": 0,
        "over_budget": 0,
    }
    assert [u["unpaid_failures"] for u in result["uploads"]] == [0, 0, 0]
    assert second["quoted_images"] == 3 * 2 + 2  # the changed rows ask for 2 generations each
    assert bench.last_line(result).startswith(
        "feed_sync: rows=40 creates_first=40 creates_second=5 creates_third=0"
    )
