"""``studio-sim``: run the Aiuta Studio API simulator in the foreground.

Every setting has a flag (``--operation-seconds 2``, ``--rate-429 0.1``, ``--forced-outcome FAILED``)
and an environment variable (``STUDIO_SIM_OPERATION_SECONDS``); flags win.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from pydantic import ValidationError

from studio_sim.api import API_PREFIX
from studio_sim.server import create_app
from studio_sim.settings import DurationDistribution, SimSettings, key_source, settings_from_env

# Spellings people reach for first, kept as aliases of the setting names.
ALIASES = {
    "rate_429": ["--fail-rate-429"],
    "rate_500": ["--fail-rate-500"],
    "rate_drop": ["--fail-rate-drop", "--drop-rate"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-sim",
        description="A local simulator of the Aiuta Studio API (not the real service).",
        epilog="Each setting can also come from STUDIO_SIM_<NAME>, e.g. STUDIO_SIM_RATE_429=0.2.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787; 0 = any)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    for name, field in SimSettings.model_fields.items():
        flags = [f"--{name.replace('_', '-')}", *ALIASES.get(name, [])]
        help_text = field.description or name.replace("_", " ")
        if field.annotation is bool:
            parser.add_argument(*flags, dest=name, action="store_const", const=True, help=help_text)
        else:
            parser.add_argument(*flags, dest=name, metavar=name.upper(), help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {name: getattr(args, name) for name in SimSettings.model_fields}
    try:
        settings = settings_from_env(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"studio-sim: invalid settings: {problems}", file=sys.stderr)
        return 2
    print_banner(settings, args.host, args.port, key_source(args.api_key, os.environ))
    uvicorn.run(create_app(settings), host=args.host, port=args.port, http="h11", log_level=args.log_level)
    return 0


def print_banner(settings: SimSettings, host: str, port: int, source: str) -> None:
    root = f"http://{host}:{port}"
    lines = [
        "Aiuta Studio API SIMULATOR - not the real Aiuta service; images are simulated.",
        f"  base URL:  {root}{API_PREFIX}",
        f"  admin:     {root}/_sim/info  (config, reset, clock/advance, calls, stats)",
        f"  API key:   from {source}",
        f"  timing:    operations take {_durations(settings)}, image links live "
        f"{settings.image_ttl_seconds:g} s",
    ]
    limits = _limits(settings)
    if limits:
        lines.append(f"  limits:    {limits}")
    faults = {
        name: value
        for name, value in settings.public_view().items()
        if name in ("rate_429", "rate_500", "rate_drop", "latency_seconds", "operation_fail_rate") and value
    }
    if faults or settings.forced_outcome:
        lines.append(f"  faults:    {faults or ''} forced outcome: {settings.forced_outcome}")
    print("\n".join(lines), flush=True)


def _durations(settings: SimSettings) -> str:
    if settings.duration_distribution is DurationDistribution.FIXED:
        return f"{settings.operation_seconds:g} s"
    return (
        f"lognormal, median {settings.online_median_seconds:g} s online / "
        f"{settings.offline_median_seconds:g} s offline, sigma {settings.duration_sigma:g}"
    )


def _limits(settings: SimSettings) -> str:
    """The per-key limits in force, for the banner ("" when there are none)."""
    parts = []
    if settings.rate_limit_per_second is not None:
        rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
        parts.append(f"{rate:g} requests/s per key (burst {burst})")
    if settings.max_unfinished_operations is not None:
        parts.append(f"at most {settings.max_unfinished_operations} unfinished operations per key")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
