"""Fixture task: answers with what it saw, or raises WorkRejected when asked to."""

import os

from fixture_common import LAYER_MARK


class WorkRejected(Exception):
    pass


def lambda_handler(event, context):
    if event.get("reject"):
        raise WorkRejected(f"rejected {event['key']}")
    return {
        "key": event.get("key"),
        "layer": LAYER_MARK,
        "bucket": os.environ["STUDIO_BUCKET"],
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
